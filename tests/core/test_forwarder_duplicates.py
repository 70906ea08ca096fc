"""Duplicate detection in the forwarder (RFC 6621 section 6): identities, window, bound, order."""

from __future__ import annotations

from rawfwd.config.values import DedupMode, DedupSpec
from rawfwd.core import DropReason, Forwarder

from ..support.forwarding import GROUP, SRC, R, assert_flow_drop, basic, egresses, flow, good
from ..support.frames import make_config, route, udp_frame


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


def test_packet_dropped_for_ttl_is_not_remembered_as_seen() -> None:
    """TTL is checked before duplicates (design step 5 before 6): a copy that could not be
    forwarded must not make a later, forwardable copy of the same packet a duplicate."""
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1), 1.0) == ()
    assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=64), 1.1)) == 1
    assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=63), 1.2)) == 0
    drops = dict(fwd.snapshot(2.0).drops)
    assert drops == {DropReason.TTL: 1, DropReason.DUPLICATE: 1}


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
