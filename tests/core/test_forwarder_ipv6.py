"""IPv6 forwarding by static routes (the IPv6 issue): hop limit, the 33:33 group MAC,
scopes (RFC 4291, RFC 7346), sources no router forwards from, extension headers, RPF from
[[rpf]], duplicates by hash (RFC 6621 6.1.3), and IPv4 and IPv6 never crossing."""

from __future__ import annotations

import random
from ipaddress import ip_address

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, RouterAlert
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from rawfwd.core import DropReason, Forwarder, Transmit
from rawfwd.core.addr import from_packed

from ..support.forwarding import egresses, flow, iface
from ..support.frames import if_mac, make_config, route

R = DropReason
SRC = "2001:db8:1::5"
GROUP = "ff0e::1:1"


def v6(
    src: str = SRC,
    dst: str = GROUP,
    hlim: int = 8,
    payload: bytes = b"data",
    headers: Packet | None = None,
) -> bytes:
    ip = IPv6(src=src, dst=dst, hlim=hlim)
    if headers is not None:
        ip = ip / headers
    return bytes(
        Ether(src="02:00:00:00:00:99", dst="33:33:00:01:00:01") / ip / UDP() / Raw(payload)
    )


def fwd(*routes: object, **kwargs: object) -> Forwarder:
    return Forwarder(make_config(*routes, **kwargs))  # type: ignore[arg-type]


def only(out: list[Transmit] | tuple[Transmit, ...]) -> dict[str, bytes]:
    copies = {t.egress: t.frame for t in out}
    assert len(copies) == len(out)  # one copy per interface
    return copies


def test_a_static_route_copies_with_hop_limit_less_one_and_the_group_mac() -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1", "eth2"], source=SRC))
    frame = v6(hlim=8)
    copies = only(forwarder.handle_frame("eth0", frame, 1.0))
    assert sorted(copies) == ["eth1", "eth2"]
    for name, copy in copies.items():
        assert copy[:6] == bytes.fromhex("333300010001")  # RFC 2464: 33:33 + low 32 bits
        assert copy[6:12] == if_mac(name)
        assert copy[12:14] == b"\x86\xdd"
        assert copy[21] == 7
        assert copy[14:21] == frame[14:21]
        assert copy[22:] == frame[22:]
    snap = forwarder.snapshot(1.0)
    seen = flow(snap, "eth0", SRC, GROUP)
    assert (seen.packets, seen.forwarded) == (1, 1)


def test_hop_limit_one_and_thresholds_as_for_ttl() -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1", "eth2"]), thresholds={"eth2": 7})
    assert forwarder.handle_frame("eth0", v6(hlim=1), 1.0) == ()
    assert egresses(forwarder.handle_frame("eth0", v6(hlim=7, payload=b"b"), 1.0)) == ["eth1"]
    assert dict(flow(forwarder.snapshot(1.0), "eth0", SRC, GROUP).drops) == {R.TTL: 1}


@pytest.mark.parametrize("group", ["ff02::fb", "ff12::1:3", "ff01::2", "ff32:40:2001:db8::1"])
def test_link_scoped_groups_need_a_route_inside_their_scope(group: str) -> None:
    wide = fwd(route("eth0", "ff00::/8", ["eth1"]))
    wide.handle_frame("eth0", v6(dst=group), 1.0)
    assert dict(flow(wide.snapshot(1.0), "eth0", SRC, group).drops) == {R.LINK_LOCAL: 1}
    prefix = group.split(":")[0] + "::/16"
    opted_in = fwd(route("eth0", prefix, ["eth1"]))
    assert egresses(opted_in.handle_frame("eth0", v6(dst=group), 1.0)) == ["eth1"]


def test_realm_and_wider_scopes_are_routed() -> None:
    forwarder = fwd(route("eth0", "ff00::/8", ["eth1"]))
    for group in ("ff03::fc", "ff05::1:3", "ff3e::8000:1"):
        assert egresses(forwarder.handle_frame("eth0", v6(dst=group), 1.0)) == ["eth1"]


def test_the_wrong_interface_is_an_rpf_failure() -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1"]))
    forwarder.handle_frame("eth2", v6(), 1.0)
    assert dict(flow(forwarder.snapshot(1.0), "eth2", SRC, GROUP).drops) == {R.WRONG_IF: 1}


@pytest.mark.parametrize("source", ["fe80::1", "::", "::ffff:10.0.0.5"])
def test_sources_no_router_forwards_from(source: str) -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1"]))
    forwarder.handle_frame("eth0", v6(src=source), 1.0)
    if source == "::ffff:10.0.0.5":  # IPv4-mapped is not in ::/96: an ordinary source
        assert dict(flow(forwarder.snapshot(1.0), "eth0", "::ffff:a00:5", GROUP).drops) == {}
        return
    assert dict(flow(forwarder.snapshot(1.0), "eth0", source, GROUP).drops) == {R.BAD_SOURCE: 1}


def test_a_link_local_source_may_be_relayed_to_a_link_scoped_group_by_opt_in() -> None:
    """mDNS over IPv6 comes from fe80:: addresses to ff02::fb: a relay must take it."""
    forwarder = fwd(route("eth0", "ff02::fb", ["eth1"]))
    got = forwarder.handle_frame("eth0", v6(src="fe80::1", dst="ff02::fb", hlim=255), 1.0)
    assert egresses(got) == ["eth1"]


def test_ipv4_routes_never_match_ipv6_packets_nor_the_reverse() -> None:
    forwarder = fwd(route("eth0", "224.0.0.0/4", ["eth1"]), route("eth0", "ff00::/8", ["eth2"]))
    assert egresses(forwarder.handle_frame("eth0", v6(), 1.0)) == ["eth2"]
    v4_only = fwd(route("eth0", "224.0.0.0/4", ["eth1"]))
    v4_only.handle_frame("eth0", v6(), 1.0)
    assert dict(flow(v4_only.snapshot(1.0), "eth0", SRC, GROUP).drops) == {R.NO_ROUTE: 1}


def test_extension_headers_are_carried_and_bad_ones_counted() -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1"]))
    frame = v6(headers=IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt())
    (copy,) = only(forwarder.handle_frame("eth0", frame, 1.0)).values()
    assert copy[22:] == frame[22:]
    broken = frame[:18] + (12).to_bytes(2, "big") + frame[20:66]  # cut inside a header
    forwarder.handle_frame("eth0", broken, 1.0)
    assert dict(iface(forwarder.snapshot(1.0), "eth0").drops) == {R.BAD_EXT_HEADER: 1}


def test_duplicates_are_found_whatever_the_hop_limit() -> None:
    forwarder = fwd(route("eth0", GROUP, ["eth1"]), route("eth3", GROUP, ["eth1"]))
    assert egresses(forwarder.handle_frame("eth0", v6(hlim=9), 1.0)) == ["eth1"]
    assert forwarder.handle_frame("eth3", v6(hlim=5), 1.1) == ()
    assert dict(flow(forwarder.snapshot(1.1), "eth3", SRC, GROUP).drops) == {R.DUPLICATE: 1}


def test_rpf_by_static_entry_and_never_across_families() -> None:
    from ipaddress import ip_network

    from rawfwd.config.values import RpfSpec

    config = make_config(route("eth0", GROUP, ["eth1"]))
    any_route = type(config.routes[0])(None, config.routes[0].group, None, ("eth1",))
    rpf = (RpfSpec(ip_network("0.0.0.0/0"), "eth0"), RpfSpec(ip_network("2001:db8:1::/48"), "eth2"))
    forwarder = Forwarder(type(config)(config.interfaces, (any_route,), rpf=rpf))
    assert egresses(forwarder.handle_frame("eth2", v6(), 1.0)) == ["eth1"]
    forwarder.handle_frame("eth0", v6(src="2001:db8:9::1"), 1.0)  # 0.0.0.0/0 is not for it
    snap = forwarder.snapshot(1.0)
    assert dict(flow(snap, "eth0", "2001:db8:9::1", GROUP).drops) == {R.NO_RPF: 1}


def test_mutated_ipv6_frames_never_raise() -> None:
    rng = random.Random(6)
    forwarder = fwd(route("eth0", "ff00::/8", ["eth1", "eth2"]))
    base = v6(headers=IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt())
    for _ in range(3000):
        frame = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            frame[rng.randrange(14, len(frame))] = rng.randrange(256)
        cut = rng.randrange(14, len(frame) + 1)
        forwarder.handle_frame("eth0", bytes(frame[:cut]), 1.0)
    snap = forwarder.snapshot(1.0)
    assert iface(snap, "eth0").rx_frames == 3000


def test_a_manet_interface_floods_ipv6_once_and_keeps_link_scope_home() -> None:
    """RFC 6621 over IPv6: relayed on the arrival radio with hop limit less one, each packet
    once (hash DPD), never a link-scoped group by default, never our own packets."""
    forwarder = fwd(manet=["eth0", "eth1"])
    heard = v6(hlim=8)
    copies = only(forwarder.handle_frame("eth0", heard, 1.0))
    assert sorted(copies) == ["eth0", "eth1"]
    assert copies["eth0"][21] == 7
    assert copies["eth0"][6:12] == if_mac("eth0")
    neighbour = bytes.fromhex("333300010001") + bytes.fromhex("020000000042")
    relayed_back = neighbour + heard[12:21] + b"\x06" + heard[22:]
    assert forwarder.handle_frame("eth1", relayed_back, 1.1) == ()
    assert forwarder.handle_frame("eth0", v6(dst="ff02::1"), 1.2) == ()
    forwarder.set_local_addresses([from_packed(ip_address("2001:db8:7::1").packed)])
    assert forwarder.handle_frame("eth0", v6(src="2001:db8:7::1", payload=b"ours"), 1.3) == ()
    snap = forwarder.snapshot(1.3)
    assert dict(flow(snap, "eth1", SRC, GROUP).drops) == {R.DUPLICATE: 1}
    assert dict(flow(snap, "eth0", SRC, "ff02::1").drops) == {R.LINK_LOCAL: 1}
    assert dict(flow(snap, "eth0", "2001:db8:7::1", GROUP).drops) == {R.OWN_ECHO: 1}


def test_neighbour_discovery_and_mld_are_link_control_never_flows() -> None:
    from scapy.layers.inet6 import ICMPv6MLReport2, ICMPv6ND_NS

    forwarder = fwd(route("eth0", "ff00::/8", ["eth1"]))
    ns = Ether() / IPv6(src="::", dst="ff02::1:ff00:5", hlim=255) / ICMPv6ND_NS(tgt="2001:db8::5")
    report = (
        Ether()
        / IPv6(src="fe80::5", dst="ff02::16", hlim=1)
        / IPv6ExtHdrHopByHop(options=[RouterAlert()])
        / ICMPv6MLReport2()
    )
    for frame in (ns, report):
        assert forwarder.handle_frame("eth0", bytes(frame), 1.0) == ()
    snap = forwarder.snapshot(1.0)
    assert snap.flows == ()
    assert iface(snap, "eth0").icmp6 == 2
