"""Forwarder.handle_frame end to end on bytes: drops by reason, output frames, TTL, dedup."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from rawfwd.config.values import DedupMode, DedupSpec, FlowSpec
from rawfwd.core import DropReason, FlowSnapshot, Forwarder, InterfaceSnapshot, Snapshot, Transmit
from rawfwd.core.table import Lookup, RouteTable, RpfFunc

from ..support.frames import (
    HOST_MAC,
    addr,
    expected_forward,
    if_mac,
    ihl_bytes,
    ip_of,
    make_config,
    ones_complement_checksum,
    patch,
    rfc1112_mac,
    route,
    udp_frame,
)

R = DropReason
SRC = "10.0.0.5"
GROUP = "239.1.2.3"


def basic(thresholds: dict[str, int] | None = None) -> Forwarder:
    """(*, 239.1.2.3) from eth0 to eth1, eth2."""
    return Forwarder(make_config(route("eth0", GROUP, ["eth1", "eth2"]), thresholds=thresholds))


def iface(snap: Snapshot, name: str) -> InterfaceSnapshot:
    (found,) = [i for i in snap.interfaces if i.name == name]
    return found


def flow(snap: Snapshot, iif: str, source: str = SRC, group: str = GROUP) -> FlowSnapshot:
    found = [f for f in snap.flows if (f.iif, f.source, f.group) == (iif, source, group)]
    assert len(found) == 1, snap.flows
    return found[0]


def egresses(out: Sequence[Transmit]) -> list[str]:
    return [t.egress for t in out]


# -- drops before any flow exists: counted on the ingress interface -------------------------------


def assert_port_drop(fwd: Forwarder, frame: bytes, reason: DropReason) -> None:
    assert fwd.handle_frame("eth0", frame, 1.0) == ()
    snap = fwd.snapshot(1.0)
    eth0 = iface(snap, "eth0")
    assert dict(eth0.drops) == {reason: 1}
    assert eth0.rx_frames == 1
    assert eth0.rx_bytes == len(frame)
    assert dict(snap.drops) == {reason: 1}
    assert snap.flows == ()
    for other in ("eth1", "eth2", "eth3"):
        assert dict(iface(snap, other).drops) == {}
        assert iface(snap, other).tx_frames == 0


def good() -> bytes:
    return udp_frame(SRC, GROUP, ttl=8, ident=7)


def test_good_frame_is_forwarded() -> None:
    # The baseline every drop test below mutates: it must be forwarded.
    fwd = basic()
    assert egresses(fwd.handle_frame("eth0", good(), 1.0)) == ["eth1", "eth2"]


@pytest.mark.parametrize("ethertype", [0x0806, 0x86DD, 0x8100, 0x88CC, 0x0000])
def test_drop_not_ipv4(ethertype: int) -> None:
    assert_port_drop(basic(), udp_frame(SRC, GROUP, ethertype=ethertype), R.NOT_IPV4)


@pytest.mark.parametrize("length", [0, 1, 13])
def test_drop_truncated_ethernet(length: int) -> None:
    assert_port_drop(basic(), good()[:length], R.TRUNCATED)


@pytest.mark.parametrize("length", [14, 15, 33])
def test_drop_truncated_ipv4_header(length: int) -> None:
    assert_port_drop(basic(), good()[:length], R.TRUNCATED)


def test_drop_truncated_total_length_beyond_frame() -> None:
    frame = good()
    assert_port_drop(basic(), frame[:-1], R.TRUNCATED)


def test_drop_truncated_options_beyond_frame() -> None:
    # IHL 15 (60 bytes) and a total length to match, but only the base header present.
    frame = patch(good()[:34], 14, b"\x4f\x00\x00\x3c")
    assert_port_drop(basic(), frame, R.TRUNCATED)


@pytest.mark.parametrize("version", [0, 6, 5, 15])
def test_drop_bad_version(version: int) -> None:
    frame = patch(good(), 14, bytes([(version << 4) | 5]))
    assert_port_drop(basic(), frame, R.BAD_VERSION)


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_drop_bad_ihl(ihl: int) -> None:
    frame = patch(good(), 14, bytes([0x40 | ihl]), fix_checksum=False)
    assert_port_drop(basic(), frame, R.BAD_IHL)


@pytest.mark.parametrize("total", [0, 1, 19])
def test_drop_bad_length(total: int) -> None:
    frame = patch(good(), 16, total.to_bytes(2, "big"))
    assert_port_drop(basic(), frame, R.BAD_LENGTH)


def test_drop_bad_length_shorter_than_options() -> None:
    options = b"\x94\x04\x00\x00"
    frame = udp_frame(SRC, GROUP, options=options)
    frame = patch(frame, 16, (20).to_bytes(2, "big"))  # IHL says 24 bytes of header
    assert_port_drop(basic(), frame, R.BAD_LENGTH)


@pytest.mark.parametrize("flip", [0x0001, 0x8000, 0xFFFF])
def test_drop_bad_checksum(flip: int) -> None:
    frame = good()
    csum = int.from_bytes(frame[24:26], "big") ^ flip
    assert_port_drop(
        basic(), patch(frame, 24, csum.to_bytes(2, "big"), fix_checksum=False), R.BAD_CHECKSUM
    )


def test_drop_bad_checksum_other_header_byte() -> None:
    frame = good()
    corrupted = patch(frame, 22, bytes([frame[22] + 1]), fix_checksum=False)  # TTL, not patched
    assert_port_drop(basic(), corrupted, R.BAD_CHECKSUM)


def test_drop_bad_checksum_in_options() -> None:
    frame = udp_frame(SRC, GROUP, options=b"\x94\x04\x00\x00")
    assert_port_drop(basic(), patch(frame, 36, b"\x01", fix_checksum=False), R.BAD_CHECKSUM)


@pytest.mark.parametrize("source", ["224.0.0.1", "239.1.2.3", "240.0.0.1", "255.255.255.255"])
def test_drop_bad_source(source: str) -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    assert_port_drop(fwd, udp_frame(source, GROUP), R.BAD_SOURCE)


@pytest.mark.parametrize("source", ["127.0.0.1", "0.1.2.3"])
def test_drop_martian_source(source: str) -> None:
    # RFC 1122 3.2.1.3 (g): 127/8 MUST NOT appear outside a host; (a)/(b): 0/8 only as a
    # source while a host initialises. RFC 1812 5.3.7: a router SHOULD NOT forward packets
    # with a source on network 0 or 127 (rawfwd.config already refuses 0/8 route sources).
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    assert_port_drop(fwd, udp_frame(source, GROUP), R.BAD_SOURCE)


@pytest.mark.parametrize(
    "dst", ["10.0.0.255", "192.168.1.1", "223.255.255.255", "240.0.0.1", "255.255.255.255"]
)
def test_drop_not_multicast(dst: str) -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.0/4", "eth1")))
    assert_port_drop(fwd, udp_frame(SRC, dst, dst_mac=b"\xff" * 6), R.NOT_MULTICAST)


def test_drop_unknown_interface() -> None:
    fwd = basic()
    assert fwd.handle_frame("wlan7", good(), 1.0) == ()
    assert fwd.handle_frame("wlan7", good(), 2.0) == ()
    snap = fwd.snapshot(2.0)
    assert dict(snap.drops) == {R.UNKNOWN_IF: 2}
    assert "wlan7" not in {i.name for i in snap.interfaces}
    assert all(i.rx_frames == 0 for i in snap.interfaces)
    assert snap.flows == ()


# -- drops decided per flow: counted on the flow and its ingress interface ------------------------


def assert_flow_drop(
    fwd: Forwarder,
    iif: str,
    frame: bytes,
    reason: DropReason,
    *,
    group: str = GROUP,
    source: str = SRC,
    count: int = 1,
    now: float = 1.0,
) -> FlowSnapshot:
    assert fwd.handle_frame(iif, frame, now) == ()
    snap = fwd.snapshot(now)
    f = flow(snap, iif, source, group)
    assert f.drops.get(reason) == count, f.drops
    assert iface(snap, iif).drops.get(reason) == count
    assert snap.drops.get(reason) == count
    return f


def test_drop_link_local_without_opt_in() -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.0/4", ["eth1"])))
    frame = udp_frame(SRC, "224.0.0.251", ttl=255)
    f = assert_flow_drop(fwd, "eth0", frame, R.LINK_LOCAL, group="224.0.0.251")
    assert f.route is None
    assert f.oifs == ()
    assert f.forwarded == 0
    # The same route forwards 224.0.1.x (outside the link-local block).
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, "224.0.1.251"), 2.0)) == ["eth1"]


def test_link_local_forwarded_with_opt_in() -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.251", ["eth1"])))
    frame = udp_frame(SRC, "224.0.0.251", ttl=255)
    (out,) = fwd.handle_frame("eth0", frame, 1.0)
    assert out == Transmit("eth1", expected_forward(frame, "eth1", "224.0.0.251"))
    assert out.frame[:6] == bytes.fromhex("01005e0000fb")


def test_drop_no_route() -> None:
    fwd = basic()
    f = assert_flow_drop(fwd, "eth0", udp_frame(SRC, "239.9.9.9"), R.NO_ROUTE, group="239.9.9.9")
    assert f.route is None
    assert f.packets == 1


def test_drop_wrong_if() -> None:
    fwd = basic()
    f = assert_flow_drop(fwd, "eth1", good(), R.WRONG_IF)
    assert f.iif == "eth1"
    assert dict(iface(fwd.snapshot(1.0), "eth0").drops) == {}


def test_drop_no_egress_when_links_down() -> None:
    fwd = basic()
    fwd.set_link("eth1", up=False)
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)) == ["eth2"]
    fwd.set_link("eth2", up=False)
    snap = fwd.snapshot(1.0)
    assert not iface(snap, "eth1").up
    assert flow(snap, "eth0").oifs == ()
    assert_flow_drop(fwd, "eth0", udp_frame(SRC, GROUP, ident=2), R.NO_EGRESS, now=2.0)
    fwd.set_link("eth1", up=True)
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=3), 3.0)) == ["eth1"]


def test_drop_no_egress_for_new_flow_when_links_down() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    fwd.set_link("eth1", up=False)
    assert_flow_drop(fwd, "eth0", good(), R.NO_EGRESS)


def test_set_link_unknown_interface_is_ignored() -> None:
    fwd = basic()
    fwd.set_link("eth9", up=False)
    assert egresses(fwd.handle_frame("eth0", good(), 1.0)) == ["eth1", "eth2"]


def test_set_link_mac_changes_source_mac_of_existing_flow() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    (first,) = fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    assert first.frame[6:12] == if_mac("eth1")
    new_mac = bytes.fromhex("0a0b0c0d0e0f")
    fwd.set_link("eth1", mac=new_mac)
    (second,) = fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=2), 2.0)
    assert second.frame[6:12] == new_mac
    assert iface(fwd.snapshot(2.0), "eth1").mac == "0a:0b:0c:0d:0e:0f"


def test_drop_duplicate() -> None:
    fwd = basic()
    assert len(fwd.handle_frame("eth0", good(), 1.0)) == 2
    f = assert_flow_drop(fwd, "eth0", good(), R.DUPLICATE, now=1.5)
    assert f.packets == 2
    assert f.forwarded == 1
    assert f.copies == 2


@pytest.mark.parametrize("ttl", [0, 1])
def test_drop_ttl(ttl: int) -> None:
    fwd = basic()
    assert_flow_drop(fwd, "eth0", udp_frame(SRC, GROUP, ttl=ttl), R.TTL)
    snap = fwd.snapshot(1.0)
    assert iface(snap, "eth1").tx_frames == 0


def test_drop_threshold() -> None:
    fwd = basic(thresholds={"eth1": 32, "eth2": 64})
    assert_flow_drop(fwd, "eth0", udp_frame(SRC, GROUP, ttl=32), R.THRESHOLD)


def test_drop_reasons_are_counted_separately() -> None:
    fwd = basic(thresholds={"eth1": 10, "eth2": 10})
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1, ident=1), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=20, ident=2), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=20, ident=2), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=5, ident=3), 1.0)
    fwd.handle_frame("eth0", good()[:20], 1.0)
    snap = fwd.snapshot(1.0)
    assert dict(flow(snap, "eth0").drops) == {R.DUPLICATE: 1, R.TTL: 1, R.THRESHOLD: 1}
    assert dict(iface(snap, "eth0").drops) == {
        R.TRUNCATED: 1,
        R.DUPLICATE: 1,
        R.TTL: 1,
        R.THRESHOLD: 1,
    }
    assert flow(snap, "eth0").packets == 4


# -- the frames that leave ------------------------------------------------------------------------


def test_output_frame_bytes() -> None:
    frame = udp_frame(SRC, GROUP, ttl=64, ident=0xBEEF, payload=b"\x00\x01payload\xff")
    out = basic().handle_frame("eth0", frame, 1.0)
    assert out == [
        Transmit("eth1", expected_forward(frame, "eth1", GROUP)),
        Transmit("eth2", expected_forward(frame, "eth2", GROUP)),
    ]


def test_output_frame_fields() -> None:
    group = "238.200.100.50"  # high bit of the second octet set: not part of the MAC
    frame = udp_frame(SRC, group, ttl=17, ident=99, src_mac=HOST_MAC)
    fwd = Forwarder(make_config(route("eth0", group, ["eth1", "eth3"])))
    out = fwd.handle_frame("eth0", frame, 1.0)
    assert egresses(out) == ["eth1", "eth3"]
    for t in out:
        data = t.frame
        assert data[:6] == bytes([0x01, 0x00, 0x5E, 200 & 0x7F, 100, 50])
        assert data[6:12] == if_mac(t.egress)
        assert data[12:14] == b"\x08\x00"
        assert data[14 + 8] == 16
        assert ones_complement_checksum(data[14:34]) == 0
        assert data[14:22] == frame[14:22]
        assert data[23] == frame[23]
        assert data[26:] == frame[26:]
        assert len(data) == len(frame)


def test_output_keeps_ip_options() -> None:
    options = b"\x94\x04\x00\x00" + b"\x07\x07\x04\x00\x00\x00\x00\x00"  # router alert + RR
    frame = udp_frame(SRC, GROUP, ttl=3, options=options)
    assert ihl_bytes(frame) == 32
    (out,) = Forwarder(make_config(route("eth0", GROUP, "eth1"))).handle_frame("eth0", frame, 1.0)
    assert out.frame == expected_forward(frame, "eth1", GROUP)
    assert out.frame[34:46] == options
    assert out.frame[14] == 0x48
    assert ones_complement_checksum(out.frame[14:46]) == 0


def test_output_strips_ethernet_padding() -> None:
    frame = udp_frame(SRC, GROUP, payload=b"x", padding=bytes(60 - 14 - 29))
    assert len(frame) == 60
    ip_len = int.from_bytes(frame[16:18], "big")
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    (out,) = fwd.handle_frame("eth0", frame, 1.0)
    assert len(out.frame) == 14 + ip_len
    assert out.frame == expected_forward(frame, "eth1", GROUP)
    snap = fwd.snapshot(1.0)
    assert flow(snap, "eth0").bytes == ip_len
    assert iface(snap, "eth0").rx_bytes == 60
    assert iface(snap, "eth1").tx_bytes == 14 + ip_len


def test_output_payload_unchanged_non_udp() -> None:
    payload = bytes(range(256)) * 4
    frame = udp_frame(SRC, GROUP, proto=103, payload=payload)  # PIM, not wrapped in UDP
    (out,) = Forwarder(make_config(route("eth0", GROUP, "eth1"))).handle_frame("eth0", frame, 1.0)
    assert out.frame[34:] == payload
    assert out.frame[14 + 9] == 103


def test_counters_after_forwarding() -> None:
    fwd = basic()
    frames = [udp_frame(SRC, GROUP, ident=i, payload=b"p" * i) for i in range(3)]
    sent: list[Transmit] = []
    for i, frame in enumerate(frames):
        sent += fwd.handle_frame("eth0", frame, 10.0 + i)
    snap = fwd.snapshot(20.0)
    f = flow(snap, "eth0")
    assert f.packets == 3
    assert f.forwarded == 3
    assert f.copies == 6
    assert f.bytes == sum(len(ip_of(x)) for x in frames)
    assert f.first_seen == 10.0
    assert f.last_seen == 12.0
    assert f.route == "(*, 239.1.2.3) from eth0 to eth1, eth2"
    assert f.oifs == ("eth1", "eth2")
    assert f.drops == {}
    eth0, eth1, eth2 = (iface(snap, n) for n in ("eth0", "eth1", "eth2"))
    assert (eth0.rx_frames, eth0.rx_bytes) == (3, sum(map(len, frames)))
    assert eth0.tx_frames == 0
    for port in (eth1, eth2):
        mine = [t.frame for t in sent if t.egress == port.name]
        assert (port.tx_frames, port.tx_bytes) == (3, sum(map(len, mine)))
        assert port.rx_frames == 0
    assert eth1.mac == "02:00:00:00:00:02"
    assert snap.now == 20.0
    assert snap.drops == {}


def test_flows_are_per_ingress_source_group() -> None:
    fwd = Forwarder(
        make_config(
            route("eth0", "239.0.0.0/8", ["eth2"]),
            route("eth1", "239.0.0.0/8", ["eth2"]),
        )
    )
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.1"), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.2", "239.1.1.1"), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.2"), 1.0)
    fwd.handle_frame("eth1", udp_frame("10.0.0.1", "239.1.1.1", ident=5), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.1", ident=6), 2.0)
    snap = fwd.snapshot(2.0)
    keys = [(f.iif, f.source, f.group, f.packets) for f in snap.flows]
    assert keys == [
        ("eth0", "10.0.0.1", "239.1.1.1", 2),
        ("eth0", "10.0.0.2", "239.1.1.1", 1),
        ("eth0", "10.0.0.1", "239.1.1.2", 1),
        ("eth1", "10.0.0.1", "239.1.1.1", 1),
    ]


def test_s_g_route_beats_star_g_end_to_end() -> None:
    fwd = Forwarder(
        make_config(
            route("eth0", GROUP, "eth1"),
            route("eth0", GROUP, "eth2", source="10.0.0.5"),
        )
    )
    assert egresses(fwd.handle_frame("eth0", udp_frame("10.0.0.5", GROUP), 1.0)) == ["eth2"]
    assert egresses(fwd.handle_frame("eth0", udp_frame("10.0.0.6", GROUP), 1.0)) == ["eth1"]


def test_bidirectional_relay_end_to_end() -> None:
    fwd = Forwarder(
        make_config(
            route("eth0", "239.255.255.250", "eth1"),
            route("eth1", "239.255.255.250", "eth0"),
            dedup=DedupMode.OFF,
        )
    )
    frame = udp_frame("192.168.1.9", "239.255.255.250", ttl=4)
    (a,) = fwd.handle_frame("eth0", frame, 1.0)
    (b,) = fwd.handle_frame("eth1", frame, 1.0)
    assert a == Transmit("eth1", expected_forward(frame, "eth1", "239.255.255.250"))
    assert b == Transmit("eth0", expected_forward(frame, "eth0", "239.255.255.250"))


# -- TTL and per-interface thresholds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (2, ["eth1"]),
        (32, ["eth1"]),
        (33, ["eth1", "eth2"]),
        (128, ["eth1", "eth2"]),
        (129, ["eth1", "eth2", "eth3"]),
        (255, ["eth1", "eth2", "eth3"]),
    ],
)
def test_ttl_threshold_per_interface(ttl: int, expected: list[str]) -> None:
    # A copy leaves on an interface only if the arriving TTL > that interface's threshold.
    fwd = Forwarder(
        make_config(
            route("eth0", GROUP, ["eth1", "eth2", "eth3"]),
            thresholds={"eth1": 1, "eth2": 32, "eth3": 128},
        )
    )
    frame = udp_frame(SRC, GROUP, ttl=ttl)
    out = fwd.handle_frame("eth0", frame, 1.0)
    assert egresses(out) == expected
    for t in out:
        assert t.frame == expected_forward(frame, t.egress, GROUP)
    f = flow(fwd.snapshot(1.0), "eth0")
    assert (f.forwarded, f.copies, f.drops) == (1, len(expected), {})


def test_ttl_threshold_default_is_one() -> None:
    fwd = basic()
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=2), 1.0)) == ["eth1", "eth2"]
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1, ident=1), 1.0) == ()


def test_threshold_applies_to_up_interfaces_only() -> None:
    fwd = Forwarder(
        make_config(route("eth0", GROUP, ["eth1", "eth2"]), thresholds={"eth1": 1, "eth2": 100})
    )
    fwd.set_link("eth1", up=False)
    assert_flow_drop(fwd, "eth0", udp_frame(SRC, GROUP, ttl=50), R.THRESHOLD)
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=101, ident=1), 2.0)) == [
        "eth2"
    ]


# -- duplicate detection --------------------------------------------------------------------------


def dup_pair_config(window: float = 5.0) -> Forwarder:
    """Two ingresses for the same group, so a packet can arrive twice by different paths."""
    return Forwarder(
        make_config(route("eth0", GROUP, "eth2"), route("eth1", GROUP, "eth2"), window=window)
    )


def test_dedup_hash_same_packet_different_ttl() -> None:
    fwd = basic()
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=64), 1.0)
    for ttl in (63, 10, 64, 2):
        assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=ttl), 1.5) == ()
    assert flow(fwd.snapshot(1.5), "eth0").drops == {R.DUPLICATE: 4}


def test_dedup_hash_same_packet_different_interface() -> None:
    fwd = dup_pair_config()
    frame = udp_frame(SRC, GROUP, ttl=10)
    assert egresses(fwd.handle_frame("eth0", frame, 1.0)) == ["eth2"]
    again = udp_frame(SRC, GROUP, ttl=9, src_mac=bytes.fromhex("020000bbbbbb"))
    assert_flow_drop(fwd, "eth1", again, R.DUPLICATE, now=1.2)
    assert flow(fwd.snapshot(1.2), "eth0").drops == {}


def test_dedup_hash_own_copy_coming_back() -> None:
    # What we sent on eth2 arrives back (TTL one lower, other MACs) on eth1: a duplicate.
    fwd = dup_pair_config()
    (sent,) = fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=10), 1.0)
    assert fwd.handle_frame("eth1", sent.frame, 1.1) == ()
    assert flow(fwd.snapshot(1.1), "eth1").drops == {R.DUPLICATE: 1}


def test_dedup_window_expiry() -> None:
    fwd = dup_pair_config(window=2.0)
    frame = udp_frame(SRC, GROUP)
    assert fwd.handle_frame("eth0", frame, 100.0)
    assert fwd.handle_frame("eth0", frame, 101.0) == ()
    assert fwd.handle_frame("eth1", frame, 101.9) == ()
    assert fwd.handle_frame("eth0", frame, 102.1)  # 2.1 s after the first sighting
    assert fwd.handle_frame("eth1", frame, 103.0) == ()  # remembered again from 102.1
    assert fwd.handle_frame("eth1", frame, 104.2)
    snap = fwd.snapshot(104.2)
    assert flow(snap, "eth0").forwarded == 2
    assert flow(snap, "eth1").forwarded == 1
    assert snap.drops == {R.DUPLICATE: 3}


def test_dedup_default_window_is_five_seconds() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=DedupSpec()))
    frame = udp_frame(SRC, GROUP)
    assert fwd.handle_frame("eth0", frame, 0.0)
    assert fwd.handle_frame("eth0", frame, 4.9) == ()
    assert fwd.handle_frame("eth0", frame, 5.1)


def test_dedup_duplicate_does_not_extend_window() -> None:
    fwd = dup_pair_config(window=2.0)
    frame = udp_frame(SRC, GROUP)
    assert fwd.handle_frame("eth0", frame, 0.0)
    assert fwd.handle_frame("eth0", frame, 1.5) == ()
    assert fwd.handle_frame("eth0", frame, 2.5)


def test_dedup_hash_distinct_packets_not_duplicates() -> None:
    variants = [
        udp_frame(SRC, GROUP),
        udp_frame(SRC, GROUP, payload=b"other payload"),
        udp_frame(SRC, GROUP, ident=1),  # same payload, other IP ID
        udp_frame("10.0.0.6", GROUP),
        udp_frame(SRC, "239.1.2.4"),
        udp_frame(SRC, GROUP, proto=6, payload=b"\x00" * 8),
        udp_frame(SRC, GROUP, options=b"\x01\x01\x01\x00"),
    ]
    fwd = Forwarder(make_config(route("eth0", "239.0.0.0/8", "eth1")))
    for i, frame in enumerate(variants):
        assert fwd.handle_frame("eth0", frame, 1.0 + i / 100), i
    assert fwd.snapshot(2.0).drops == {}


def test_dedup_fragments_are_distinct() -> None:
    for mode in (DedupMode.HASH, DedupMode.ID):
        fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=mode))
        more_fragments = 0x2000
        first = udp_frame(SRC, GROUP, ident=42, frag=more_fragments | 0, payload=b"A" * 16)
        middle = udp_frame(SRC, GROUP, ident=42, frag=more_fragments | 3, payload=b"A" * 24)
        last = udp_frame(SRC, GROUP, ident=42, frag=6, payload=b"A" * 24)
        for i, frame in enumerate((first, middle, last)):
            assert fwd.handle_frame("eth0", frame, 1.0), (mode, i)
        # ... but each fragment seen again is a duplicate.
        assert fwd.handle_frame("eth0", middle, 1.5) == ()
        assert flow(fwd.snapshot(1.5), "eth0").drops == {R.DUPLICATE: 1}


def test_dedup_id_mode_keys_on_id_not_payload() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=DedupMode.ID))
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7, payload=b"one"), 1.0)
    # Same (src, dst, proto, ID, offset), different payload and TTL: a duplicate.
    assert (
        fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7, payload=b"two", ttl=9), 1.1) == ()
    )
    # Any key field different: a new packet.
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=8, payload=b"one"), 1.2)
    assert fwd.handle_frame("eth0", udp_frame("10.0.0.9", GROUP, ident=7, payload=b"one"), 1.3)
    fwd2 = Forwarder(make_config(route("eth0", "239.0.0.0/8", "eth1"), dedup=DedupMode.ID))
    assert fwd2.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7), 1.0)
    assert fwd2.handle_frame("eth0", udp_frame(SRC, "239.1.2.4", ident=7), 1.0)
    assert fwd2.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7, proto=6), 1.0)
    assert flow(fwd.snapshot(1.3), "eth0").drops == {R.DUPLICATE: 1}


def test_dedup_hash_mode_same_id_different_payload_is_new() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=DedupMode.HASH))
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7, payload=b"one"), 1.0)
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=7, payload=b"two"), 1.1)


def test_dedup_off() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=DedupMode.OFF))
    frame = udp_frame(SRC, GROUP)
    for i in range(3):
        assert egresses(fwd.handle_frame("eth0", frame, 1.0 + i / 10)) == ["eth1"]
    snap = fwd.snapshot(2.0)
    assert snap.dedup_entries == 0
    assert flow(snap, "eth0").forwarded == 3


def test_dedup_only_after_rpf() -> None:
    # A packet that fails RPF is not remembered, so the right-interface copy still goes out.
    fwd = basic()
    frame = good()
    assert fwd.handle_frame("eth1", frame, 1.0) == ()
    assert egresses(fwd.handle_frame("eth0", frame, 1.1)) == ["eth1", "eth2"]
    assert fwd.snapshot(1.1).drops == {R.WRONG_IF: 1}


def test_dedup_entries_bounded() -> None:
    spec = DedupSpec(mode=DedupMode.HASH, window=60.0, max_entries=4)
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1"), dedup=spec))
    frames = [udp_frame(SRC, GROUP, ident=i) for i in range(10)]
    for i, frame in enumerate(frames):
        assert fwd.handle_frame("eth0", frame, 1.0 + i / 100)
    assert fwd.snapshot(1.2).dedup_entries == 4
    # The newest are remembered, the oldest evicted.
    assert fwd.handle_frame("eth0", frames[-1], 1.3) == ()
    assert fwd.handle_frame("eth0", frames[0], 1.3)


# -- MANET: same-interface retransmission ---------------------------------------------------------


def test_manet_retransmits_on_arrival_interface() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth0", "eth1"]), manet=["eth0"]))
    frame = udp_frame(SRC, GROUP, ttl=8)
    out = fwd.handle_frame("eth0", frame, 1.0)
    assert out == [
        Transmit("eth0", expected_forward(frame, "eth0", GROUP)),
        Transmit("eth1", expected_forward(frame, "eth1", GROUP)),
    ]
    # Our own copy heard back (our MAC as its source): an own echo, never relayed.
    assert fwd.handle_frame("eth0", out[0].frame, 1.01) == ()
    # A neighbour's relay of the original with a lower TTL and its own MAC: same answer.
    relayed = udp_frame(SRC, GROUP, ttl=6, src_mac=bytes.fromhex("020000cccccc"))
    assert fwd.handle_frame("eth0", relayed, 1.02) == ()
    snap = fwd.snapshot(1.02)
    assert flow(snap, "eth0").drops == {R.OWN_ECHO: 1, R.DUPLICATE: 1}
    assert iface(snap, "eth0").tx_frames == 1
    assert iface(snap, "eth0").rx_frames == 3


# -- flow state bounds ----------------------------------------------------------------------------


def test_flow_eviction_at_max_flows() -> None:
    fwd = Forwarder(make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(max_flows=2)))
    for i, src in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.3")):
        fwd.handle_frame("eth0", udp_frame(src, GROUP), 1.0 + i)
    snap = fwd.snapshot(4.0)
    assert [f.source for f in snap.flows] == ["10.0.0.2", "10.0.0.3"]
    assert snap.flows_evicted == 1
    # The evicted flow comes back as a new flow, with fresh counters, evicting the oldest.
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", GROUP, ident=1), 5.0)
    snap = fwd.snapshot(5.0)
    assert [(f.source, f.packets, f.first_seen) for f in snap.flows] == [
        ("10.0.0.3", 1, 3.0),
        ("10.0.0.1", 1, 5.0),
    ]
    assert snap.flows_evicted == 2
    # Interface counters are not affected by forgetting flows.
    assert iface(snap, "eth0").rx_frames == 4
    assert iface(snap, "eth1").tx_frames == 4


def test_flow_idle_expiry() -> None:
    fwd = Forwarder(
        make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(idle_timeout=10.0))
    )
    quiet = udp_frame("10.0.0.1", GROUP)
    fwd.handle_frame("eth0", quiet, 0.0)
    for i, now in enumerate((0.0, 8.0, 16.0, 24.0, 32.0)):
        fwd.handle_frame("eth0", udp_frame("10.0.0.2", GROUP, ident=i), now)
        if now <= 8.0:
            assert len(fwd.snapshot(now).flows) == 2  # silent < idle_timeout: kept
    snap = fwd.snapshot(32.0)
    assert [(f.source, f.packets) for f in snap.flows] == [("10.0.0.2", 5)]
    assert snap.flows_expired == 1
    assert snap.flows_evicted == 0


def test_flow_idle_expiry_all() -> None:
    fwd = Forwarder(
        make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(idle_timeout=5.0))
    )
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", GROUP), 0.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.2", GROUP), 0.0)
    fwd.handle_frame("eth3", b"\x00" * 10, 1000.0)  # any frame drives the clock
    snap = fwd.snapshot(1000.0)
    assert snap.flows == ()
    assert snap.flows_expired == 2


# -- reconfiguration ------------------------------------------------------------------------------


def test_reconfigure_keeps_counters_and_applies_new_routes() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, "239.5.5.5", ident=2), 1.0)
    before = fwd.snapshot(1.0)
    assert flow(before, "eth0", group="239.5.5.5").drops == {R.NO_ROUTE: 1}

    fwd.reconfigure(make_config(route("eth0", GROUP, "eth2"), route("eth0", "239.5.5.5", "eth1")))
    mid = fwd.snapshot(1.5)
    assert iface(mid, "eth0") == iface(before, "eth0")
    assert iface(mid, "eth1") == iface(before, "eth1")
    assert flow(mid, "eth0").packets == 1
    assert flow(mid, "eth0").oifs == ("eth2",)

    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=3), 2.0)) == ["eth2"]
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, "239.5.5.5", ident=4), 2.0)) == ["eth1"]
    after = fwd.snapshot(2.0)
    old_flow = flow(after, "eth0")
    assert (old_flow.packets, old_flow.forwarded, old_flow.first_seen) == (2, 2, 1.0)
    new_route = flow(after, "eth0", group="239.5.5.5")
    assert (new_route.packets, new_route.forwarded) == (2, 1)
    assert new_route.drops == {R.NO_ROUTE: 1}
    assert iface(after, "eth0").rx_frames == 4
    assert iface(after, "eth1").tx_frames == 2
    assert iface(after, "eth2").tx_frames == 1


def test_reconfigure_drops_removed_interfaces() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    fwd.handle_frame("eth0", good(), 1.0)
    fwd.reconfigure(make_config(route("eth1", GROUP, "eth2"), interfaces=("eth1", "eth2")))
    snap = fwd.snapshot(2.0)
    assert [i.name for i in snap.interfaces] == ["eth1", "eth2"]
    assert snap.flows == ()
    assert iface(snap, "eth1").tx_frames == 1
    assert fwd.handle_frame("eth0", good(), 2.0) == ()
    assert fwd.snapshot(2.0).drops == {R.UNKNOWN_IF: 1}


# -- snapshots ------------------------------------------------------------------------------------


def test_snapshots_are_immutable() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", good(), 1.0)
    fwd.handle_frame("eth0", good(), 1.0)
    snap = fwd.snapshot(1.0)
    f = flow(snap, "eth0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.packets = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.flows = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        iface(snap, "eth0").rx_frames = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.drops[R.DUPLICATE] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        iface(snap, "eth0").drops[R.TTL] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.drops[R.TTL] = 1  # type: ignore[index]
    assert isinstance(snap.flows, tuple)
    assert isinstance(snap.interfaces, tuple)


def test_snapshot_is_a_copy() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    first = fwd.snapshot(1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 2.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=2), 2.0)
    fwd.handle_frame("eth0", udp_frame(SRC, "239.9.9.9"), 2.0)
    assert len(first.flows) == 1
    assert flow(first, "eth0").packets == 2
    assert flow(first, "eth0").drops == {R.DUPLICATE: 1}
    assert iface(first, "eth0").rx_frames == 2
    assert first.drops == {R.DUPLICATE: 1}
    later = fwd.snapshot(2.0)
    assert flow(later, "eth0").packets == 4
    assert later.drops == {R.DUPLICATE: 2, R.NO_ROUTE: 1}


def test_snapshot_to_json_uses_reason_names() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1), 1.0)
    data = fwd.snapshot(1.0).to_json()
    assert data["drops"] == {"ttl": 1}
    assert data["flows"][0]["drops"] == {"ttl": 1}
    assert data["flows"][0]["source"] == SRC
    assert data["interfaces"][0]["name"] == "eth0"


def test_handle_frame_reports_group_mac_from_packet_not_input_mac() -> None:
    # A sender using a wrong destination MAC does not change what we send.
    frame = udp_frame(SRC, GROUP, dst_mac=b"\xff" * 6)
    (out,) = Forwarder(make_config(route("eth0", GROUP, "eth1"))).handle_frame("eth0", frame, 1.0)
    assert out.frame[:6] == rfc1112_mac(GROUP) == bytes.fromhex("01005e010203")


def test_source_address_in_key_not_mac() -> None:
    f1 = udp_frame(SRC, GROUP, src_mac=bytes.fromhex("020000000099"))
    fwd = basic()
    fwd.handle_frame("eth0", f1, 1.0)
    assert [f.source for f in fwd.snapshot(1.0).flows] == [SRC]
    assert addr(SRC) == f1[26:30]


def test_lookup_once_per_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    # Per-flow work (route lookup, egress list, MAC headers) is done once, not per packet.
    calls: list[tuple[str, int, int]] = []
    real = RouteTable.lookup

    def counting(self: RouteTable, iif: str, source: int, group: int, rpf: RpfFunc) -> Lookup:
        calls.append((iif, source, group))
        return real(self, iif, source, group, rpf)

    monkeypatch.setattr(RouteTable, "lookup", counting)
    fwd = basic()
    for i in range(20):
        assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=i), 1.0 + i)) == 2
    fwd.handle_frame("eth0", udp_frame("10.0.0.6", GROUP), 30.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.6", GROUP, ident=1), 31.0)
    src, src2, grp = addr(SRC), addr("10.0.0.6"), addr(GROUP)
    as_int = int.from_bytes
    assert calls == [
        ("eth0", as_int(src, "big"), as_int(grp, "big")),
        ("eth0", as_int(src2, "big"), as_int(grp, "big")),
    ]
