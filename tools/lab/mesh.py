"""An emulated radio network in network namespaces, with rawfwd on every node.

Each node is a namespace with one interface, `radio0` (10.100.0.N/24), whose veth peer is
a port of one bridge in a namespace of its own ("air"). Radio range is an adjacency list:
an nftables bridge filter lets a frame from node A's port out to node B's port only if A
and B are neighbours, so a node hears its neighbours and nobody else, and two nodes that
cannot hear each other can both reach a third (the hidden-terminal shapes of radio).
Multicast snooping is off on the bridge (a radio has no such thing), and IPv6 is off on
the radios (no MLD or router solicitations in the counts).

Used by examples/radio_mesh.py (for people) and tests/e2e/test_mesh.py (for CI).
"""

from __future__ import annotations

import json
import math
import random
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from rawfwd.errors import RawfwdError
from rawfwd.lab.netns import (
    Built,
    Lab,
    cleaning_up,
    ip,
    rawfwd_in,
    socket_in,
    stop,
    wait_running,
)

SUBNET = "10.100.0"
PORT = 5000
NODE_CONFIG = "[interface.radio0]\nmanet = true\n"  #: all a mesh node needs
IP_RECVTTL: Final = 12  # linux/in.h: the socket module does not name these two
IP_TTL: Final = 2
Edge = tuple[int, int]


def line(n: int) -> list[Edge]:
    """1 - 2 - ... - n."""
    return [(i, i + 1) for i in range(1, n)]


def diamond() -> list[Edge]:
    """1 hears 2 and 3, which both hear 4; 1 and 4 do not hear each other (nor 2 and 3)."""
    return [(1, 2), (1, 3), (2, 4), (3, 4)]


def grid(side: int) -> list[Edge]:
    """side x side nodes numbered row by row, each hearing its 4 neighbours."""
    edges = []
    for row in range(side):
        for col in range(side):
            n = row * side + col + 1
            if col + 1 < side:
                edges.append((n, n + 1))
            if row + 1 < side:
                edges.append((n, n + side))
    return edges


def grid8(side: int) -> list[Edge]:
    """side x side nodes numbered row by row, each hearing the 8 around it (diagonals in
    range): with only 4, almost every node is a forced relay and no algorithm saves much."""
    edges = grid(side)
    for row in range(side - 1):
        for col in range(side):
            n = row * side + col + 1
            if col + 1 < side:
                edges.append((n, n + side + 1))
            if col > 0:
                edges.append((n, n + side - 1))
    return edges


def random_mesh(n: int, seed: int = 7, reach: float = 0.35) -> list[Edge]:
    """`n` nodes at random places in a unit square, each hearing those within `reach`:
    the first connected layout from `seed` on (the same one every time)."""
    rng = random.Random(seed)
    while True:
        spot = {i: (rng.random(), rng.random()) for i in range(1, n + 1)}
        edges = [
            (a, b) for a in spot for b in spot if a < b and math.dist(spot[a], spot[b]) < reach
        ]
        seen, todo = {1}, [1]
        while todo:
            a = todo.pop()
            for x, y in edges:
                for here, there in ((x, y), (y, x)):
                    if here == a and there not in seen:
                        seen.add(there)
                        todo.append(there)
        if len(seen) == n:
            return edges


TOPOLOGIES = {
    "line": line,
    "diamond": lambda _n: diamond(),
    "grid": grid,
    "grid8": grid8,
    "random": random_mesh,
}


def address(node: int) -> str:
    """The radio0 address of `node`."""
    return f"{SUBNET}.{node}"


def address6(node: int) -> str:
    """Node `node`'s IPv6 address on the air (a mesh built with `ipv6=True`)."""
    return f"2001:db8:99::{node:x}"


class RadioMesh(Built):
    """The network above for `edges`; `start()` runs rawfwd on every node."""

    def __init__(self, edges: Iterable[Edge], workdir: Path, *, ipv6: bool = False) -> None:
        self.ipv6 = ipv6  #: nodes get IPv6 addresses (`address6`), else IPv6 is off
        self.edges = sorted({(min(a, b), max(a, b)) for a, b in edges})
        self.nodes = sorted({n for edge in self.edges for n in edge})
        self.workdir = workdir
        self.lab = Lab("rfmesh")
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.sockets: list[socket.socket] = []

    def ns(self, node: int | str) -> str:
        """The namespace of `node` (or of "air", the bridge)."""
        return self.lab.ns(f"n{node}" if isinstance(node, int) else node)

    def _build(self) -> None:
        air = self.lab.host("air")
        ip("link", "add", "air0", "type", "bridge", "mcast_snooping", "0", netns=air)
        ip("link", "set", "air0", "up", netns=air)
        for n in self.nodes:
            # without IPv6 unless asked for: no neighbour discovery or MLD on the air; with
            # it, no duplicate address detection to wait for
            sysctls = (
                ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
                if self.ipv6
                else ("net.ipv6.conf.all.disable_ipv6=1",)
            )
            host = self.lab.host(f"n{n}", sysctls=sysctls)
            ip("link", "add", "radio0", "netns", host, "type", "veth",
               "peer", "name", f"r{n}", "netns", air)  # fmt: skip
            ip("link", "set", f"r{n}", "master", "air0", "up", netns=air)
            ip("addr", "add", f"{address(n)}/24", "dev", "radio0", netns=host)
            if self.ipv6:
                ip("-6", "addr", "add", f"{address6(n)}/64", "dev", "radio0", "nodad", netns=host)
            ip("link", "set", "radio0", "up", netns=host)
        for n in self.nodes:
            wait_running(self.ns(n), "radio0")
        rules = "\n".join(
            f'  iifname "r{a}" oifname "r{b}" accept\n  iifname "r{b}" oifname "r{a}" accept'
            for a, b in self.edges
        )
        ruleset = (
            "table bridge radio {\n chain range {\n"
            "  type filter hook forward priority 0; policy drop;\n"
            f"{rules}\n }}\n}}\n"
        )
        done = subprocess.run(
            ["ip", "netns", "exec", air, "nft", "-f", "-"],
            input=ruleset,
            text=True,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RawfwdError(f"nft in {air}: {done.stderr.strip() or 'failed'}")

    def start(self, io: str = "rings", config_text: str = NODE_CONFIG) -> None:
        """Start `rawfwd run --io IO` on every node, configured with `config_text` (by
        default nothing but a MANET radio0), and wait until each answers. Each runs in a
        session of its own: only this process signals it (once, as it stops), not the
        terminal's Ctrl-C as well."""
        config = self.workdir / "node.toml"
        config.write_text(config_text)
        for n in self.nodes:
            cmd = rawfwd_in(self.ns(n), "run", "-c", str(config), "--no-ui", "--io", io)
            with (self.workdir / f"rawfwd-n{n}.log").open("wb") as log:  # the child has a copy
                self.procs[n] = subprocess.Popen(
                    cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
                )
        deadline = time.monotonic() + 30
        waiting = set(self.nodes)
        while waiting:
            for n in list(waiting):
                if self.procs[n].poll() is not None:
                    text = (self.workdir / f"rawfwd-n{n}.log").read_text()
                    raise RawfwdError(f"rawfwd on node {n} exited: {text.strip()}")
                if self._up(n):
                    waiting.discard(n)
            if waiting and time.monotonic() > deadline:
                raise RawfwdError(f"rawfwd did not come up on nodes {sorted(waiting)}")
            time.sleep(0.05)

    def _up(self, n: int) -> bool:
        try:
            view = self.show(n)
        except RawfwdError:
            return False
        return all(i["state"] == "up" for i in view["interfaces"])

    def show(self, n: int) -> dict[str, Any]:
        """`rawfwd show --json` on node `n`."""
        done = subprocess.run(
            rawfwd_in(self.ns(n), "show", "--json"), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RawfwdError(done.stderr.strip() or f"rawfwd show failed on node {n}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def show_all(self, what: str = "all") -> dict[int, dict[str, Any]]:
        """`rawfwd show WHAT --json` of every node, asked of all at once."""
        procs = {
            n: subprocess.Popen(
                rawfwd_in(self.ns(n), "show", what, "--json"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in self.nodes
        }
        out: dict[int, dict[str, Any]] = {}
        for n, proc in procs.items():
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                raise RawfwdError(stderr.strip() or f"rawfwd show failed on node {n}")
            out[n] = json.loads(stdout)
        return out

    def neighbors(self) -> dict[int, dict[str, Any]]:
        """Every node's radio0 entry of `rawfwd show neighbors`: its relay algorithm,
        whether it relays, its neighbours."""
        return {n: doc["neighbors"][0] for n, doc in self.show_all("neighbors").items()}

    def transmissions(self) -> int:
        """Data frames all nodes' rawfwd sent on their radios (HELLOs are not counted)."""
        return sum(
            i["tx_frames"]
            for doc in self.show_all("interfaces").values()
            for i in doc["interfaces"]
            if i["name"] == "radio0"
        )

    def symmetric(self) -> bool:
        """Every node lists exactly the nodes it hears as symmetric neighbours."""
        hears: dict[int, set[str]] = {n: set() for n in self.nodes}
        for a, b in self.edges:
            hears[a].add(address(b))
            hears[b].add(address(a))
        found = self.neighbors()
        return all(
            {x["address"] for x in found[n]["neighbors"] if x["status"] == "symmetric"} == hears[n]
            for n in self.nodes
        )

    def cut(self, a: int, b: int) -> None:
        """Nodes `a` and `b` stop hearing each other (out of range), as of now."""
        edge = (min(a, b), max(a, b))
        self.edges.remove(edge)
        flush = "flush chain bridge radio range\n"
        rules = "".join(
            f'add rule bridge radio range iifname "r{x}" oifname "r{y}" accept\n'
            f'add rule bridge radio range iifname "r{y}" oifname "r{x}" accept\n'
            for x, y in self.edges
        )
        subprocess.run(
            ["ip", "netns", "exec", self.ns("air"), "nft", "-f", "-"],
            input=flush + rules,
            text=True,
            capture_output=True,
            check=True,
        )

    def radio(self, n: int) -> dict[str, Any]:
        """Node `n`'s radio0 counters as rawfwd shows them."""
        for entry in self.show(n)["interfaces"]:
            if entry["name"] == "radio0":
                return entry  # type: ignore[no-any-return]
        raise RawfwdError(f"node {n} shows no radio0")

    # -- applications on the nodes: the kernel's own UDP sockets ----------------------------

    def receiver(self, node: int, group: str, port: int = PORT) -> socket.socket:
        """A non-blocking UDP socket on `node` joined to `group` on radio0, reporting the
        TTL each datagram arrived with (IP_RECVTTL)."""
        s = self._socket(node, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        s.bind((group, port))
        mreq = socket.inet_aton(group) + socket.inet_aton(address(node))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.setblocking(False)
        return s

    def send(
        self, node: int, group: str, payloads: Iterable[bytes], ttl: int = 8, port: int = PORT
    ) -> None:
        """Send `payloads` from an application on `node`, out of radio0 with `ttl`."""
        with self._socket(node, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address(node)))
            for p in payloads:
                s.sendto(p, (group, port))

    def _socket(self, node: int, kind: int, proto: int = 0) -> socket.socket:
        s = socket_in(self.ns(node), socket.AF_INET, kind, proto)
        self.sockets.append(s)
        return s

    def stop(self) -> None:
        """Stop every rawfwd (SIGTERM, then SIGKILL after 10 s)."""
        stop(list(self.procs.values()))
        self.procs.clear()

    def close(self) -> None:
        """Stop rawfwd, close the applications' sockets, delete every namespace; a signal
        meanwhile waits until all is done."""
        with cleaning_up():
            self.stop()
            for s in self.sockets:
                s.close()
            self.sockets.clear()
            self.lab.close()


def take(
    sock: socket.socket,
    timeout: float,
    want: int | None = None,
    ancillary: tuple[int, int] = (0, IP_TTL),
) -> list[tuple[bytes, int]]:
    """(payload, arrival TTL) of what a `receiver` socket gets within `timeout`, or until
    `want` datagrams came; `ancillary`: the (level, type) that carries the TTL (an IPv6
    socket's hop limit: (IPPROTO_IPV6, IPV6_HOPLIMIT))."""
    got: list[tuple[bytes, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (want is None or len(got) < want):
        try:
            data, anc, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(4))
        except BlockingIOError:
            time.sleep(0.01)
            continue
        ttls = [int.from_bytes(d[:4], "little") for lv, k, d in anc if (lv, k) == ancillary]
        got.append((data, ttls[0] if ttls else -1))
    return got
