"""PIM-DM end to end (the PIM-DM issue, RFC 3973): rawfwd routers in dense mode, kernel
hosts, in namespaces. Traffic floods, a branch without members prunes itself off, a late
member grafts it back, a triangle's redundant link goes quiet, a LAN with two routers
asserts to one forwarder.

Chain:     S 10.0.0.5 - R1 - 10.1.0.0/24 - R2 - 10.2.0.0/24 - R3 - H 10.3.0.2
Triangle:  S - R1, R1 - R2, R1 - R3, R2 - R3; hosts H2 behind R2 and H3 behind R3
LAN:       S on a bridge with R1 and R2; R1 and R2 on a second bridge with host B
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop

from ..support.lab import PORT, bridge, drain, mac_of, show_pim, udp_to, wait_for

GROUP = "239.5.5.5"
SOURCE = "10.0.0.5"
ROUTER = """\
[pim]
mode = "dense"
state_refresh_interval = {refresh}
"""
PIM_IF = """
[interface.{name}]
pim = true
hello_interval = 1
"""
MEMBER_IF = """
[interface.{name}]
pim = true
hello_interval = 1
igmp = true
"""


class Net:
    """Namespaces, rawfwd routers and sockets, all gone at the end."""

    def __init__(self, lab: Lab, tmp: Path, io: str = "rings") -> None:
        self.lab, self.tmp, self.io = lab, tmp, io
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sockets: list[socket.socket] = []

    def router(
        self, host: str, pim_ifs: list[str], member_ifs: list[str], refresh: int = 60
    ) -> None:
        text = ROUTER.format(refresh=refresh)
        text += "".join(PIM_IF.format(name=n) for n in pim_ifs)
        text += "".join(MEMBER_IF.format(name=n) for n in member_ifs)
        config = self.tmp / f"{host}.toml"
        config.write_text(text)
        with (self.tmp / f"{host}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    rawfwd_in(
                        self.lab.ns(host), "run", "-c", str(config), "--no-ui", "--io", self.io
                    ),
                    stderr=log,
                )
            )

    def capture(self, host: str, ifname: str) -> socket.socket:
        s = socket_in(self.lab.ns(host), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sockets.append(s)
        s.bind((ifname, 0x0800))
        s.settimeout(0.0)
        return s

    def member(self, host: str, address: str) -> socket.socket:
        s = socket_in(self.lab.ns(host), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((GROUP, PORT))
        s.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(GROUP) + socket.inet_aton(address),
        )
        s.settimeout(0.0)
        return s

    def sender(self) -> socket.socket:
        s = socket_in(self.lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
        return s

    def neighbours(self, host: str) -> int:
        """PIM neighbours `host`'s rawfwd has (-1 while it is not answering yet)."""
        try:
            doc = show_pim(self.lab.ns(host))
        except subprocess.CalledProcessError:
            return -1
        return sum(len(i["neighbors"]) for i in doc["interfaces"])

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        stop(self.procs)


def _net(tmp: Path, io: str) -> Iterator[Net]:
    with Lab("rfdense") as lab:
        n = Net(lab, tmp, io)
        try:
            yield n
        finally:
            n.close()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    yield from _net(tmp_path, "rings")


@pytest.fixture(params=["rings", "ebpf"])
def either(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Net]:
    """The routers forwarding with the engine (`rings`) or with the kernel fast path for
    the flows the engine decided (`ebpf`): the same behaviour either way."""
    yield from _net(tmp_path, request.param)


class Traffic:
    """S sends numbered packets to GROUP every 20 ms, from a thread of its own."""

    def __init__(self, sock: socket.socket) -> None:
        import threading

        self.sock, self.n = sock, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.n += 1
            self.sock.sendto(b"packet %d" % self.n, (GROUP, PORT))
            self._stop.wait(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _payloads(frames: list[bytes]) -> list[bytes]:
    return [f[42:] for f in udp_to(frames, GROUP)]


def _chain(net: Net) -> None:
    lab = net.lab
    for host in ("S", "R1", "R2", "R3", "H"):
        lab.host(host)
    lab.link("S", "eth0", f"{SOURCE}/24", "R1", "eth0", "10.0.0.1/24")
    lab.link("R1", "eth1", "10.1.0.1/24", "R2", "eth0", "10.1.0.2/24")
    lab.link("R2", "eth1", "10.2.0.1/24", "R3", "eth0", "10.2.0.2/24")
    lab.link("R3", "eth1", "10.3.0.1/24", "H", "eth0", "10.3.0.2/24")
    ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
    ip("route", "add", "10.0.0.0/16", "via", "10.1.0.1", netns=lab.ns("R2"))
    ip("route", "add", "10.0.0.0/16", "via", "10.2.0.1", netns=lab.ns("R3"))
    ip("route", "add", "default", "via", "10.3.0.1", netns=lab.ns("H"))
    net.router("R1", ["eth1"], ["eth0"])
    net.router("R2", ["eth0", "eth1"], [])
    net.router("R3", ["eth0"], ["eth1"])
    for host, count in (("R1", 1), ("R2", 2), ("R3", 1)):
        wait_for(lambda h=host, c=count: net.neighbours(h) == c, 20, f"{host}'s PIM neighbours")


def test_a_chain_floods_prunes_a_branch_without_members_and_grafts_a_late_member(
    either: Net,
) -> None:
    """S's traffic floods R1 -> R2 -> R3; R3 has no member: it prunes, R2 then has
    nothing downstream and prunes, and the link R1 - R2 falls silent (RFC 3973 4.4.1,
    4.4.2). H joins: R3 grafts, R2 grafts, H gets the traffic within 3 s."""
    _chain(either)
    link = either.capture("R2", "eth0")  # what crosses R1 - R2
    far = either.capture("R3", "eth0")
    traffic = Traffic(either.sender())
    try:
        wait_for(lambda: _payloads(drain(far, 0.2)), 10, "the flood to reach R3")

        def silent() -> bool:
            return not _payloads(drain(link, 1.0))

        wait_for(silent, 15, "the branch without members to be pruned")
        r1 = [e for e in show_pim(either.lab.ns("R1"))["dense"] if e["group"] == GROUP]
        assert r1[0]["downstream"]["eth1"]["state"] == "Pruned"
        r2 = [e for e in show_pim(either.lab.ns("R2"))["dense"] if e["group"] == GROUP]
        assert r2[0]["upstream"]["state"] == "Pruned"
        assert not _payloads(drain(link, 3.0))  # still pruned while S sends
        host = either.member("H", "10.3.0.2")
        joined = time.monotonic()

        def arrived() -> bytes | None:
            try:
                return host.recv(2048)
            except BlockingIOError:
                return None

        wait_for(arrived, 3.0, "the graft to bring S's traffic back to H within 3 s")
        latency = time.monotonic() - joined
        print(f"graft latency {latency * 1000:.1f} ms")
        r2 = [e for e in show_pim(either.lab.ns("R2"))["dense"] if e["group"] == GROUP]
        assert r2[0]["upstream"]["state"] == "Forwarding"  # Graft-Ack'ed
    finally:
        traffic.close()


def test_a_triangle_delivers_once_and_quiets_its_redundant_link(net: Net) -> None:
    """R2 and R3 each hear S from R1 and from each other: the copy failing RPF on the
    point-to-point link R2 - R3 prunes it both ways; each host gets each packet once."""
    lab = net.lab
    for host in ("S", "R1", "R2", "R3", "H2", "H3"):
        lab.host(host)
    lab.link("S", "eth0", f"{SOURCE}/24", "R1", "eth0", "10.0.0.1/24")
    lab.link("R1", "eth1", "10.1.0.1/24", "R2", "eth0", "10.1.0.2/24")
    lab.link("R1", "eth2", "10.2.0.1/24", "R3", "eth0", "10.2.0.2/24")
    lab.link("R2", "eth1", "10.4.0.1/24", "R3", "eth1", "10.4.0.2/24")
    lab.link("R2", "eth2", "10.5.0.1/24", "H2", "eth0", "10.5.0.2/24")
    lab.link("R3", "eth2", "10.6.0.1/24", "H3", "eth0", "10.6.0.2/24")
    ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
    ip("route", "add", "10.0.0.0/24", "via", "10.1.0.1", netns=lab.ns("R2"))
    ip("route", "add", "10.0.0.0/24", "via", "10.2.0.1", netns=lab.ns("R3"))
    for host, gw in (("H2", "10.5.0.1"), ("H3", "10.6.0.1")):
        ip("route", "add", "default", "via", gw, netns=lab.ns(host))
    net.router("R1", ["eth1", "eth2"], ["eth0"])
    net.router("R2", ["eth0", "eth1"], ["eth2"])
    net.router("R3", ["eth0", "eth1"], ["eth2"])
    for host, count in (("R1", 2), ("R2", 2), ("R3", 2)):
        wait_for(lambda h=host, c=count: net.neighbours(h) == c, 20, f"{host}'s PIM neighbours")
    members = [net.member("H2", "10.5.0.2"), net.member("H3", "10.6.0.2")]
    cross = net.capture("R2", "eth1")
    traffic = Traffic(net.sender())
    try:
        wait_for(lambda: not _payloads(drain(cross, 1.0)), 15, "the link R2 - R3 to go quiet")
        for m in members:
            drain(m, 0.1)
        time.sleep(2.0)
        for m in members:
            got = Counter(drain(m, 0.5))
            assert len(got) >= 50  # 2 s of S's packets
            assert set(got.values()) == {1}  # each once
        assert not _payloads(drain(cross, 1.0))
        for host in ("R2", "R3"):
            pim = show_pim(lab.ns(host))
            counters = {i["interface"]: i["counters"] for i in pim["interfaces"]}
            assert counters["eth1"].get("prune_out", 0) >= 1, host
    finally:
        traffic.close()


def test_two_routers_on_a_lan_assert_to_one_forwarder(net: Net) -> None:
    """R1 and R2 both have S on their link and both flood S onto LAN X, where B is a
    member: the assert (RFC 3973 4.6) leaves the one with the higher address (metrics
    tie); B then gets each packet once."""
    lab = net.lab
    for host in ("S", "R1", "R2", "L", "B"):
        lab.host(host)
    spare = iter(f"192.0.2.{n}/32" for n in range(1, 40))
    lab.link("S", "eth0", f"{SOURCE}/24", "L", "us", next(spare))
    lab.link("R1", "eth0", "10.0.0.1/24", "L", "u1", next(spare))
    lab.link("R2", "eth0", "10.0.0.2/24", "L", "u2", next(spare))
    lab.link("R1", "eth1", "10.3.0.1/24", "L", "x1", next(spare))
    lab.link("R2", "eth1", "10.3.0.2/24", "L", "x2", next(spare))
    lab.link("B", "eth0", "10.3.0.9/24", "L", "xb", next(spare))
    bridge(lab, "L", "lanu", ["us", "u1", "u2"])
    bridge(lab, "L", "lanx", ["x1", "x2", "xb"])
    ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
    for host in ("R1", "R2"):
        net.router(host, ["eth0"], ["eth1"])
    for host in ("R1", "R2"):
        wait_for(lambda h=host: net.neighbours(h) == 2, 20, f"{host}'s PIM neighbours")
    member = net.member("B", "10.3.0.9")
    watch = net.capture("B", "eth0")
    traffic = Traffic(net.sender())
    try:
        r2_mac = mac_of(lab.ns("R2"), "eth1")

        def settled() -> bool:
            copies = Counter((f[42:], f[6:12]) for f in udp_to(drain(watch, 1.0), GROUP))
            return (
                len(copies) >= 20
                and set(copies.values()) == {1}
                and {mac for _, mac in copies} == {r2_mac}
                and len({p for p, _ in copies}) == len(copies)
            )

        wait_for(settled, 15, "one forwarder, R2, on LAN X")
        drain(member, 0.1)
        time.sleep(1.0)
        got = Counter(drain(member, 0.5))
        assert len(got) >= 25
        assert set(got.values()) == {1}
        asserts: Any = show_pim(lab.ns("R1"))["asserts"]
        assert [(a["interface"], a["state"], a["winner"]) for a in asserts] == [
            ("eth1", "Loser", "10.3.0.2")
        ]
    finally:
        traffic.close()
