"""Forwarder drops: each frame not forwarded is counted by its one reason, on interface or flow."""

from __future__ import annotations

import pytest

from rawfwd.core import DropReason, Forwarder, Transmit

from ..support.forwarding import (
    GROUP,
    SRC,
    R,
    assert_flow_drop,
    assert_port_drop,
    basic,
    egresses,
    flow,
    good,
    iface,
)
from ..support.frames import expected_forward, make_config, patch, route, udp_frame

# -- drops before any flow exists: counted on the ingress interface -------------------------------


def test_good_frame_is_forwarded() -> None:
    # The baseline every drop test below mutates: it must be forwarded.
    fwd = basic()
    assert egresses(fwd.handle_frame("eth0", good(), 1.0)) == ["eth1", "eth2"]


@pytest.mark.parametrize("ethertype", [0x0806, 0x8100, 0x88CC, 0x0000])
def test_drop_not_ip(ethertype: int) -> None:
    assert_port_drop(basic(), udp_frame(SRC, GROUP, ethertype=ethertype), R.NOT_IP)


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


@pytest.mark.parametrize("source", ["0.0.0.0", "127.0.0.1", "240.0.0.1"])
def test_martian_source_to_link_local_group_counts_as_link_local(source: str) -> None:
    """IGMP reports may come from 0.0.0.0 (RFC 3376 4.2.13): not malformed, just local."""
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    fwd.handle_frame("eth0", udp_frame(source, "224.0.0.22", ttl=1), 1.0)
    assert dict(fwd.snapshot(1.0).drops) == {DropReason.LINK_LOCAL: 1}


def test_martian_source_not_relayed_even_by_link_local_opt_in() -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.251", ["eth1"])))
    assert fwd.handle_frame("eth0", udp_frame("0.0.0.0", "224.0.0.251", ttl=255), 1.0) == ()
    assert dict(fwd.snapshot(1.0).drops) == {DropReason.BAD_SOURCE: 1}


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
