"""IGMP end to end: the Linux kernel is the host (its own IGMPv2/v3 stack, forced per
interface), rawfwd the router; membership alone decides where traffic goes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop, wait_running

from ..support.lab import RouterLab, drain, udp_to, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.1.1.1"
SSM_GROUP = "232.1.1.1"
#: <linux/in.h>; Python's socket module does not name it. Its struct ip_mreq_source is
#: (group, interface address, source), three in_addr.
IP_ADD_SOURCE_MEMBERSHIP = 39
#: short timers, so that a leave is over in 2 x 0.2 s and a lost report is re-asked soon
TIMERS = """\
igmp = true
query_interval = 5
query_response_interval = 1
last_member_query_interval = 0.2
"""
CONFIG = f"""\
# no routes at all: membership and RPF (the kernel FIB) decide
[interface.eth0]
[interface.eth1]
{TIMERS}
[interface.eth2]
{TIMERS}
"""


@pytest.fixture(params=["rings", "ebpf"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RouterLab]:
    """The router, with the engine forwarding everything (`rings`) or the kernel fast path
    forwarding what the engine decided (`ebpf`): the same behaviour either way."""
    with RouterLab(tmp_path, CONFIG) as router:
        router.lab.sysctl("A", "net.ipv4.conf.eth0.force_igmp_version=2")
        router.lab.sysctl("B", "net.ipv4.conf.eth0.force_igmp_version=3")
        router.start("--io", request.param)
        yield router


def groups(lab: RouterLab, iface: str) -> dict[str, Any]:
    """What `rawfwd show groups --json` says of `iface`'s groups, by group."""
    done = subprocess.run(
        rawfwd_in(lab.ns("R"), "show", "groups", "--json"),
        capture_output=True,
        text=True,
        check=True,
    )
    for view in json.loads(done.stdout)["igmp"]:
        if view["interface"] == iface:
            return {g["group"]: g for g in view["groups"]}
    raise AssertionError(f"{iface} has no IGMP")


def arrives(lab: RouterLab, host: str, rx: socket.socket, tx: socket.socket, group: str) -> bool:
    """Send one packet from S to `group`; True if `rx` in `host` received it."""
    tx.sendto(b"probe", (group, 5000))
    return bool(drain(rx, timeout=0.2, want=1))


@pytest.mark.parametrize(("host", "iface", "version"), [("A", "eth1", 2), ("B", "eth2", 3)])
def test_traffic_flows_only_after_the_join_and_stops_after_the_leave(
    lab: RouterLab, host: str, iface: str, version: int
) -> None:
    capture = lab.capture(host)
    tx = lab.sender("S", ttl=8)
    for _ in range(3):
        tx.sendto(b"before", (GROUP, 5000))
    flow = wait_for(lambda: lab.flow("eth0", "10.0.0.5", GROUP), what="the flow")
    assert flow["oifs"] == []
    assert flow["drops"].get("no_members", 0) >= 1
    assert udp_to(drain(capture, timeout=0.3), GROUP) == []

    rx = lab.receiver(host, GROUP)  # IP_ADD_MEMBERSHIP: the kernel reports at once
    wait_for(lambda: arrives(lab, host, rx, tx, GROUP), what=f"traffic after the v{version} join")
    group = groups(lab, iface)[GROUP]
    assert group["mode"] == "exclude"
    assert group["last_reporter"] == f"{lab_net(host)}.2"
    assert group["compat"] == version
    flow = lab.flow("eth0", "10.0.0.5", GROUP)
    assert flow is not None
    assert flow["oifs"] == [iface]
    assert flow["route"] == "igmp"

    rx.close()  # the kernel leaves: a v2 leave, or a v3 TO_IN({})
    wait_for(lambda: GROUP not in groups(lab, iface), what="the group to go after the leave")
    drain(capture, timeout=0.1)
    for _ in range(3):
        tx.sendto(b"after", (GROUP, 5000))
    assert udp_to(drain(capture, timeout=0.3), GROUP) == []


def lab_net(host: str) -> str:
    return {"A": "10.1.0", "B": "10.2.0"}[host]


def test_a_source_specific_receiver_gets_only_its_source(lab: RouterLab) -> None:
    ip("addr", "add", "10.0.0.6/24", "dev", "eth0", netns=lab.ns("S"))
    wanted, other = lab.sender("S", ttl=8), lab.sender("S", ttl=8)
    wanted.bind(("10.0.0.5", 0))
    other.bind(("10.0.0.6", 0))
    capture = lab.capture("B")
    rx = socket_in(lab.ns("B"), socket.AF_INET, socket.SOCK_DGRAM)
    lab.sockets.append(rx)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((SSM_GROUP, 5000))
    mreq = socket.inet_aton(SSM_GROUP) + socket.inet_aton("10.2.0.2") + socket.inet_aton("10.0.0.5")
    rx.setsockopt(socket.IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, mreq)
    rx.settimeout(0.0)

    wait_for(lambda: arrives(lab, "B", rx, wanted, SSM_GROUP), what="the SSM source's traffic")
    group = groups(lab, "eth2")[SSM_GROUP]
    assert group["mode"] == "include"
    assert list(group["sources"]) == ["10.0.0.5"]
    drain(capture, timeout=0.1)
    for _ in range(3):
        other.sendto(b"not wanted", (SSM_GROUP, 5000))
        wanted.sendto(b"wanted", (SSM_GROUP, 5000))
    frames = udp_to(drain(capture, timeout=0.5), SSM_GROUP)
    # on the wire, not just at the socket (the kernel would filter by source itself)
    assert {socket.inet_ntoa(f[26:30]) for f in frames} == {"10.0.0.5"}
    assert len(frames) == 3
    flow = lab.flow("eth0", "10.0.0.6", SSM_GROUP)
    assert flow is not None
    assert flow["oifs"] == []
    assert flow["drops"]["no_members"] == 3


def test_two_rawfwd_routers_on_one_link_elect_one_querier(tmp_path: Path) -> None:
    config = tmp_path / "rawfwd.toml"
    config.write_text(f"[interface.eth0]\n{TIMERS}")
    procs: list[subprocess.Popen[str]] = []
    logs: list[IO[str]] = []
    with Lab("rfigmp") as lab:
        for host in ("SW", "R1", "R2", "H"):
            lab.host(host)
        ip("link", "add", "br0", "type", "bridge", netns=lab.ns("SW"))
        ip("link", "set", "br0", "up", netns=lab.ns("SW"))
        for n, (host, address) in enumerate(
            (("R1", "10.5.0.1/24"), ("R2", "10.5.0.2/24"), ("H", "10.5.0.9/24"))
        ):
            port = f"p{n}"
            ip("link", "add", port, "netns", lab.ns("SW"), "type", "veth", "peer", "name",
               "eth0", "netns", lab.ns(host))  # fmt: skip
            ip("link", "set", port, "master", "br0", "up", netns=lab.ns("SW"))
            ip("addr", "add", address, "dev", "eth0", netns=lab.ns(host))
            ip("link", "set", "eth0", "up", netns=lab.ns(host))
            wait_running(lab.ns(host), "eth0")
        try:
            for host in ("R2", "R1"):  # the higher address first: it must give way
                logs.append((tmp_path / f"{host}.log").open("w"))
                cmd = rawfwd_in(lab.ns(host), "run", "-c", str(config), "--no-ui")
                procs.append(subprocess.Popen(cmd, stderr=logs[-1], text=True))

            def querier_of(host: str) -> tuple[str | None, bool] | None:
                done = subprocess.run(
                    rawfwd_in(lab.ns(host), "show", "groups", "--json"),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    return None
                (view,) = json.loads(done.stdout)["igmp"]
                return view["querier"], view["is_querier"]

            def elected() -> bool:
                return querier_of("R1") == ("10.5.0.1", True) and querier_of("R2") == (
                    "10.5.0.1",
                    False,
                )

            wait_for(elected, timeout=15.0, what="one querier, the lower address")
            # the host hears queries from R1 only from now on
            capture = socket_in(
                lab.ns("H"), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)
            )
            capture.bind(("eth0", 0x0800))
            capture.settimeout(0.0)
            try:
                frames = drain(capture, timeout=6.0)  # longer than the 5 s query interval
            finally:
                capture.close()
            queriers = {socket.inet_ntoa(f[26:30]) for f in frames if f[23] == 2 and f[38] == 0x11}
            assert queriers == {"10.5.0.1"}
        finally:
            stop(procs)
            for log in logs:
                log.close()


PROXY_CONFIG = f"""\
# rawfwd as igmpproxy: eth0 toward the provider (S plays its router), members on eth1
[interface.eth0]
upstream = true
[interface.eth1]
{TIMERS}
"""


def igmp_messages(frames: list[bytes]) -> list[tuple[str, str, bytes]]:
    """(source, destination, IGMP message) of the IGMP frames among `frames`."""
    out = []
    for f in frames:
        ihl = (f[14] & 15) * 4
        if f[12:14] == b"\x08\x00" and f[23] == 2:
            total = int.from_bytes(f[16:18], "big")
            message = f[14 + ihl : 14 + total]
            out.append((socket.inet_ntoa(f[26:30]), socket.inet_ntoa(f[30:34]), message))
    return out


def v2_general_query() -> bytes:
    """An IGMPv2 general query from S (RFC 2236 section 2: type 0x11, Max Resp 1 s),
    written out by hand, TTL 1 with Router Alert, as a router sends it."""
    from rawfwd.core.wire import internet_checksum, ipv4_header

    body = bytes((0x11, 10, 0, 0, 0, 0, 0, 0))
    csum = internet_checksum(body)
    message = body[:2] + csum.to_bytes(2, "big") + body[4:]
    header = ipv4_header(
        socket.inet_aton("10.0.0.5"),
        socket.inet_aton("224.0.0.1"),
        ttl=1,
        proto=2,
        payload_len=len(message),
        options=bytes((148, 4, 0, 0)),
        tos=0xC0,
    )
    return bytes.fromhex("01005e000001020000aa0001") + b"\x08\x00" + header + message


def test_the_proxy_reports_upstream_answers_the_querier_and_forwards_down(
    tmp_path: Path,
) -> None:
    from rawfwd.lab.frames import udp_frame

    with RouterLab(tmp_path, PROXY_CONFIG) as lab:
        lab.lab.sysctl("A", "net.ipv4.conf.eth0.force_igmp_version=2")
        lab.start()
        upstream = lab.capture("S")
        raw = socket_in(lab.ns("S"), socket.AF_PACKET, socket.SOCK_RAW, 0)
        lab.sockets.append(raw)
        raw.bind(("eth0", 0))

        rx = lab.receiver("A", GROUP)  # A joins: the proxy tells upstream, as a host would
        seen: list[tuple[str, str, bytes]] = []

        def reported(kind: int) -> list[tuple[str, str, bytes]]:
            seen.extend(igmp_messages(drain(upstream, timeout=0.2)))
            return [m for m in seen if m[2][0] == kind and m[0] == "10.0.0.1"]

        (_, dst, message), *_ = wait_for(lambda: reported(0x22), what="the v3 report up")
        assert dst == "224.0.0.22"
        # one record: CHANGE_TO_EXCLUDE({}) for the group (RFC 3376 4.2.12)
        assert message[8:16] == bytes((4, 0, 0, 0)) + socket.inet_aton(GROUP)

        seen.clear()
        raw.send(v2_general_query())  # an IGMPv2 querier upstream: answer in v2
        (_, dst, message), *_ = wait_for(lambda: reported(0x16), what="the v2 answer")
        assert (dst, message[4:8]) == (GROUP, socket.inet_aton(GROUP))

        # from upstream, a source the router has no route back to: down to A all the same
        frame = udp_frame(
            socket.inet_aton("198.51.100.7"), socket.inet_aton(GROUP), b"from upstream", ttl=8
        )
        wait_for(lambda: raw.send(frame) and drain(rx, timeout=0.2, want=1), what="the packet")
        flow = lab.flow("eth0", "198.51.100.7", GROUP)
        assert flow is not None
        assert flow["oifs"] == ["eth1"]

        seen.clear()
        rx.close()  # A leaves: the group goes, and a v2 leave goes up (RFC 2236 section 3)
        (_, dst, message), *_ = wait_for(lambda: reported(0x17), what="the v2 leave up")
        assert (dst, message[4:8]) == ("224.0.0.2", socket.inet_aton(GROUP))


def test_the_proxy_keeps_a_kernel_bridge_querier_upstream_informed(tmp_path: Path) -> None:
    """Upstream is a Linux bridge with IGMP snooping and its own querier (the kernel's):
    it sends traffic for a group toward R only while R's reports say R wants it."""
    with RouterLab(tmp_path, PROXY_CONFIG) as lab:
        s = lab.ns("S")
        ip("link", "add", "br0", "type", "bridge", netns=s)
        ip("addr", "flush", "dev", "eth0", netns=s)
        ip("link", "set", "eth0", "master", "br0", netns=s)
        ip("addr", "add", "10.0.0.5/24", "dev", "br0", netns=s)
        ip("link", "set", "br0", "up", netns=s)
        wait_running(s, "br0")
        ip("route", "replace", "default", "via", "10.0.0.1", "dev", "br0", netns=s)
        lab.start()
        # queries from the bridge's address, IGMPv3, every 2 s (set once it is up)
        ip("link", "set", "br0", "type", "bridge", "mcast_snooping", "1",
           "mcast_query_use_ifaddr", "1", "mcast_igmp_version", "3",
           "mcast_startup_query_interval", "100", "mcast_query_interval", "200",
           "mcast_querier", "1", netns=s)  # fmt: skip

        def bridge_groups() -> set[str]:
            done = subprocess.run(
                ["ip", "netns", "exec", s, "bridge", "-j", "mdb", "show"],
                capture_output=True,
                text=True,
                check=True,
            )
            return {e["grp"] for table in json.loads(done.stdout) for e in table.get("mdb", [])}

        def proxy() -> dict[str, Any]:
            done = subprocess.run(
                rawfwd_in(lab.ns("R"), "show", "groups", "--json"),
                capture_output=True,
                text=True,
                check=True,
            )
            result: dict[str, Any] = json.loads(done.stdout)["proxy"]
            return result

        wait_for(lambda: proxy()["querier"] == "10.0.0.5", what="the bridge's queries heard")
        rx = lab.receiver("A", GROUP)
        wait_for(lambda: GROUP in bridge_groups(), what="the bridge to learn R's membership")
        tx = lab.sender("S", ttl=8, via="10.0.0.5")
        wait_for(lambda: arrives(lab, "A", rx, tx, GROUP), what="upstream traffic at A")
        assert proxy()["version"] == 3

        rx.close()  # A leaves: R tells the bridge, which stops sending the group toward R
        wait_for(lambda: GROUP not in bridge_groups(), what="the bridge to forget R's group")
