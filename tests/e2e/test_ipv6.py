"""IPv6 static routes end to end (the IPv6 issue): kernel hosts in namespaces send and
receive IPv6 multicast through rawfwd, with either data path (the kernel fast path leaves
IPv6 to the engine)."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawfwd.lab.netns import in_netns, ip, socket_in

from ..support.lab import HOSTS, PORT, RouterLab, drain, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

SOURCE = "2001:db8::5"
GROUP = "ff0e::1:1"
LINK_GROUP = "ff02::1:2"
ANY_SOURCE = "ff05::2:2"
BY_FIB = "ff0e::3:3"  #: a route without `from`: RPF from the kernel's IPv6 FIB
CONFIG = f"""\
[interface.eth0]
[interface.eth1]
[interface.eth2]
[interface.eth3]

[[route]]
from = "eth0"
group = "{GROUP}"
source = "{SOURCE}"
to = ["eth1", "eth2"]

[[route]]
from = "eth0"
group = "{ANY_SOURCE}"
to = ["eth1"]

[[route]]
group = "{BY_FIB}"
to = ["eth2"]
"""
_ETH_P_IPV6 = 0x86DD


@pytest.fixture(params=["rings", "ebpf"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RouterLab]:
    with RouterLab(tmp_path, CONFIG) as router:
        # addresses usable at once (no duplicate address detection to wait for)
        ip("-6", "addr", "add", f"{SOURCE}/64", "dev", "eth0", "nodad", netns=router.ns("S"))
        # R's connected route toward S: where RPF finds the source
        ip("-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad", netns=router.ns("R"))
        for n, host in enumerate(HOSTS, start=1):
            address = f"2001:db8:{n}::2/64"
            ip("-6", "addr", "add", address, "dev", "eth0", "nodad", netns=router.ns(host))
        router.start("--io", request.param)
        yield router


def _index(lab: RouterLab, host: str) -> int:
    return in_netns(lab.ns(host), lambda: socket.if_nametoindex("eth0"))


def receiver(lab: RouterLab, host: str, group: str) -> socket.socket:
    s = socket_in(lab.ns(host), socket.AF_INET6, socket.SOCK_DGRAM)
    lab.sockets.append(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", PORT))
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", _index(lab, host))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    s.settimeout(0.0)
    return s


def sender(lab: RouterLab, host: str, hops: int) -> socket.socket:
    s = socket_in(lab.ns(host), socket.AF_INET6, socket.SOCK_DGRAM)
    lab.sockets.append(s)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _index(lab, host))
    return s


def capture(lab: RouterLab, host: str) -> socket.socket:
    s = socket_in(lab.ns(host), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_IPV6))
    lab.sockets.append(s)
    s.bind(("eth0", _ETH_P_IPV6))
    s.settimeout(0.0)
    return s


def udp_to(frames: list[bytes], group: str) -> list[bytes]:
    dst = socket.inet_pton(socket.AF_INET6, group)
    return [f for f in frames if f[38:54] == dst and f[20] == 17]


def test_an_ipv6_route_reaches_its_interfaces_with_hop_limit_less_one(lab: RouterLab) -> None:
    receivers = {h: receiver(lab, h, GROUP) for h in "ABC"}
    captures = {h: capture(lab, h) for h in "ABC"}
    tx = sender(lab, "S", hops=8)
    payloads = [b"six %d" % i for i in range(5)]
    for p in payloads:
        tx.sendto(p, (GROUP, PORT))
    for h in "AB":
        assert drain(receivers[h], want=5) == payloads, h
        frames = udp_to(drain(captures[h], timeout=0.5), GROUP)
        assert len(frames) == 5, h
        for f in frames:
            assert f[21] == 7  # hop limit 8, decremented once
            assert f[:6] == bytes.fromhex("333300010001")  # RFC 2464
    assert drain(receivers["C"], timeout=0.3) == []
    flow = lab.flow("eth0", SOURCE, GROUP)
    assert flow is not None
    assert (flow["packets"], flow["forwarded"], flow["copies"]) == (5, 5, 10)


def test_hop_limit_one_a_link_scoped_group_and_a_wrong_interface_go_nowhere(
    lab: RouterLab,
) -> None:
    a = receiver(lab, "A", GROUP)
    a_link = receiver(lab, "A", LINK_GROUP)
    sender(lab, "S", hops=1).sendto(b"one hop", (GROUP, PORT))
    sender(lab, "S", hops=8).sendto(b"link", (LINK_GROUP, PORT))
    sender(lab, "C", hops=8).sendto(b"wrong way", (ANY_SOURCE, PORT))

    def counted() -> bool:
        flows = {(f["iif"], f["group"]): f for f in lab.show()["flows"]}
        wanted = [("eth0", GROUP), ("eth0", LINK_GROUP), ("eth3", ANY_SOURCE)]
        return all(k in flows and sum(flows[k]["drops"].values()) for k in wanted)

    wait_for(counted, what="the three packets to be counted")
    flows = {(f["iif"], f["group"]): f["drops"] for f in lab.show()["flows"]}
    assert flows[("eth0", GROUP)] == {"ttl": 1}
    assert flows[("eth0", LINK_GROUP)] == {"link_local": 1}
    assert flows[("eth3", ANY_SOURCE)] == {"wrong_if": 1}
    assert drain(a, timeout=0.3) == []
    assert drain(a_link, timeout=0.1) == []


def test_a_route_without_from_takes_its_interface_from_the_ipv6_fib(lab: RouterLab) -> None:
    b = receiver(lab, "B", BY_FIB)
    tx = sender(lab, "S", hops=8)
    for i in range(3):
        tx.sendto(b"fib %d" % i, (BY_FIB, PORT))
    assert drain(b, want=3) == [b"fib 0", b"fib 1", b"fib 2"]
    sender(lab, "C", hops=8).sendto(b"not from there", (BY_FIB, PORT))

    def dropped() -> dict[str, int] | None:
        flow = lab.flow("eth3", "2001:db8:3::2", BY_FIB)
        return flow["drops"] if flow is not None and flow["drops"] else None

    # C's own subnet has no route in R: RPF finds no way back to it (the frame waited
    # for the FIB's answer, then went nowhere)
    assert wait_for(dropped, what="C's packet to be counted") == {"no_rpf": 1}
