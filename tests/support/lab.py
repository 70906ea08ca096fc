"""A router in network namespaces for end-to-end tests: real kernel senders and receivers.

Topology (names unique per test; everything deleted afterwards, also on failure):

    S eth0 10.0.0.5 --- eth0 10.0.0.1 [R: rawfwd] eth1 10.1.0.1 --- eth0 10.1.0.2 A
                                                  eth2 10.2.0.1 --- eth0 10.2.0.2 B
                                                  eth3 10.3.0.1 --- eth0 10.3.0.2 C

Receivers are plain UDP sockets joined to the group (the kernel's own IGMP host stack);
senders are plain UDP sockets. A raw capture socket on a host's eth0 shows the exact
frames rawfwd sent (to check TTL and the UDP checksum, which veth would not verify).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rawfwd.core.wire import complete_l4_checksum, internet_checksum
from rawfwd.lab.netns import Built, Lab, ip, rawfwd_in, socket_in, stop

HOSTS = {"A": ("eth1", "10.1.0"), "B": ("eth2", "10.2.0"), "C": ("eth3", "10.3.0")}
PORT = 5000
_SOL_PACKET = 263
_PACKET_AUXDATA = 8  # linux/if_packet.h
_TP_STATUS_CSUMNOTREADY = 8


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` (bounded) until it returns something true; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RouterLab(Built):
    """The topology above with rawfwd running in R on `config_text`."""

    def __init__(self, tmp_path: Path, config_text: str) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "rawfwd.toml"
        self.config.write_text(config_text)
        self.lab = Lab("rfe2e")
        self.proc: subprocess.Popen[str] | None = None
        self.stderr = ""
        self.sockets: list[socket.socket] = []

    def ns(self, host: str) -> str:
        return self.lab.ns(host)

    def _build(self) -> None:
        for host in ("S", "R", *HOSTS):
            self.lab.host(host)
        self.lab.link("S", "eth0", "10.0.0.5/24", "R", "eth0", "10.0.0.1/24")
        ip("route", "add", "default", "via", "10.0.0.1", netns=self.ns("S"))
        for host in HOSTS:
            self.connect(host)

    def connect(self, host: str) -> None:
        """(Re)create the veth pair between `host` and the router."""
        rif, net = HOSTS[host]
        self.lab.link(host, "eth0", f"{net}.2/24", "R", rif, f"{net}.1/24")
        ip("route", "add", "default", "via", f"{net}.1", netns=self.ns(host))

    def start(self, *extra: str) -> None:
        """Start rawfwd in R and wait until it answers with every interface up."""
        cmd = rawfwd_in(
            self.ns("R"), "run", "-c", str(self.config), "--no-ui",
            "--stats-interval", "1", "--log-level", "DEBUG", *extra,
        )  # fmt: skip
        # a file, not a pipe: a chatty rawfwd must never block on a pipe nobody reads
        self._log = (self.tmp / "rawfwd.log").open("w")
        self.proc = subprocess.Popen(cmd, stderr=self._log, text=True)
        wait_for(self._all_up, what="rawfwd to answer with all interfaces up")

    def _all_up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"rawfwd exited: {(self.tmp / 'rawfwd.log').read_text()}")
        try:
            view = self.show()
        except AssertionError:
            return False
        return all(i["state"] == "up" for i in view["interfaces"])

    def show(self) -> dict[str, Any]:
        """`rawfwd show all --json` in R."""
        done = subprocess.run(
            rawfwd_in(self.ns("R"), "show", "--json"),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def flow(self, iif: str, source: str, group: str) -> dict[str, Any] | None:
        for f in self.show()["flows"]:
            if (f["iif"], f["source"], f["group"]) == (iif, source, group):
                return f  # type: ignore[no-any-return]
        return None

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        # `ip netns exec` runs rawfwd in place (exec), so the pid is rawfwd's
        os.kill(self.proc.pid, signum)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status and keeps stderr for assertions."""
        if self.proc is None:
            return 0
        stop([self.proc])
        code = self.proc.returncode
        self.proc = None
        self._log.close()
        self.stderr = (self.tmp / "rawfwd.log").read_text()
        return code

    def close(self) -> None:
        self.stop()
        for s in self.sockets:
            s.close()
        self.lab.close()

    # -- traffic -----------------------------------------------------------------------------

    def receiver(self, host: str, group: str) -> socket.socket:
        """A UDP socket in `host` joined to `group` on its eth0 (IP_ADD_MEMBERSHIP)."""
        s = socket_in(self.ns(host), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((group, PORT))
        local = HOSTS[host][1] + ".2"
        s.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(group) + socket.inet_aton(local),
        )
        s.settimeout(0.0)
        return s

    def sender(self, host: str, ttl: int = 8, via: str | None = None) -> socket.socket:
        """A UDP socket in `host` sending multicast with `ttl` (out of `via` address)."""
        s = socket_in(self.ns(host), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        if via is not None:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(via))
        return s

    def capture(self, host: str) -> socket.socket:
        """A raw socket on `host`'s eth0 seeing every IPv4 frame that arrives there."""
        s = socket_in(self.ns(host), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sockets.append(s)
        s.bind(("eth0", 0x0800))  # CPython applies htons to the bind protocol itself
        # a forwarded copy of a locally sent packet may still carry its UDP checksum
        # unfinished for offload (the kernel's own multicast routing does the same): the
        # auxiliary data says so, and `drain` completes such frames as the wire would
        s.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
        s.settimeout(0.0)
        return s


def show_pim(ns: str) -> dict[str, Any]:
    """`rawfwd show pim --json` of the rawfwd running in namespace `ns`: its PIM part."""
    done = subprocess.run(
        rawfwd_in(ns, "show", "pim", "--json"), capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout)["pim"]
    return found


def drain(sock: socket.socket, timeout: float = 1.0, want: int | None = None) -> list[bytes]:
    """Everything `sock` receives within `timeout` (or until `want` datagrams arrived)."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (want is None or len(got) < want):
        try:
            if sock.family != socket.AF_PACKET:
                got.append(sock.recv(65535))
                continue
            data, anc, _, _ = sock.recvmsg(65535, socket.CMSG_SPACE(32))
        except BlockingIOError:
            time.sleep(0.01)
            continue
        unfinished = any(
            level == _SOL_PACKET
            and kind == _PACKET_AUXDATA
            and struct.unpack_from("I", aux)[0] & _TP_STATUS_CSUMNOTREADY
            for level, kind, aux in anc
        )
        got.append(complete_l4_checksum(data) if unfinished else data)
    return got


def udp_to(frames: list[bytes], group: str) -> list[bytes]:
    """The Ethernet frames among `frames` that carry UDP to `group` port PORT."""
    dst = socket.inet_aton(group)
    out = []
    for f in frames:
        ihl = (f[14] & 15) * 4
        if f[23] == 17 and f[30:34] == dst and struct.unpack_from("!H", f, 14 + ihl + 2)[0] == PORT:
            out.append(f)
    return out


def udp_checksum_ok(frame: bytes) -> bool:
    """Verify the UDP checksum of an Ethernet/IPv4/UDP frame (RFC 768)."""
    ihl = (frame[14] & 15) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    seg = frame[14 + ihl : 14 + total]
    if struct.unpack_from("!H", seg, 6)[0] == 0:
        return True  # no checksum (allowed for UDP over IPv4)
    pseudo = frame[26:34] + bytes((0, 17)) + struct.pack("!H", len(seg))
    return internet_checksum(pseudo + seg) == 0


def bridge(lab: Lab, host: str, name: str, ports: list[str]) -> None:
    """A bridge `name` in `host` over its interfaces `ports` (their addresses flushed): a
    shared LAN. Multicast snooping off, so that every frame reaches every port."""
    ns = lab.ns(host)
    ip("link", "add", name, "type", "bridge", "mcast_snooping", "0", netns=ns)
    for port in ports:
        ip("addr", "flush", "dev", port, netns=ns)
        ip("link", "set", port, "master", name, netns=ns)
    ip("link", "set", name, "up", netns=ns)


def mac_of(ns: str, ifname: str) -> bytes:
    """The MAC address of `ifname` in namespace `ns`."""
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{ifname}/address"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return bytes.fromhex(done.stdout.strip().replace(":", ""))
