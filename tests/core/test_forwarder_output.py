"""Forwarded frames (RFC 1112 MAC, TTL - 1, RFC 1624 checksum), TTL thresholds, link state."""

from __future__ import annotations

import pytest

from rawfwd.config.values import DedupMode
from rawfwd.core import Forwarder, Transmit

from ..support.forwarding import GROUP, SRC, R, assert_flow_drop, basic, egresses, flow, good, iface
from ..support.frames import (
    HOST_MAC,
    expected_forward,
    if_mac,
    ihl_bytes,
    ip_of,
    make_config,
    ones_complement_checksum,
    rfc1112_mac,
    route,
    udp_frame,
)

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
    # PIM's protocol, not wrapped in UDP: to a routed group it is data (PIM's own messages
    # go to 224.0.0.13 and are the control plane's)
    frame = udp_frame(SRC, GROUP, proto=103, payload=payload)
    (out,) = Forwarder(make_config(route("eth0", GROUP, "eth1"))).handle_frame("eth0", frame, 1.0)
    assert out.frame[34:] == payload
    assert out.frame[14 + 9] == 103


def test_handle_frame_reports_group_mac_from_packet_not_input_mac() -> None:
    # A sender using a wrong destination MAC does not change what we send.
    frame = udp_frame(SRC, GROUP, dst_mac=b"\xff" * 6)
    (out,) = Forwarder(make_config(route("eth0", GROUP, "eth1"))).handle_frame("eth0", frame, 1.0)
    assert out.frame[:6] == rfc1112_mac(GROUP) == bytes.fromhex("01005e010203")


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


# -- link state -----------------------------------------------------------------------------------


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
