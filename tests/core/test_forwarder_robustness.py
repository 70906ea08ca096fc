"""The forwarder never raises on any bytes and sends only well-formed copies (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.config.values import DedupMode
from rawfwd.core import DropReason, Forwarder
from rawfwd.core.wire import internet_checksum

from ..support.frames import IFACES, make_config, ones_complement_checksum, rfc1112_mac, route
from ..support.strategies import valid_frames

FAST = settings(max_examples=150, deadline=None)

CONFIG = make_config(
    route("eth0", "239.0.0.0/8", ["eth1", "eth2"]),
    route("eth1", "224.0.0.0/4", ["eth0"]),
    route("eth0", "224.0.0.251", ["eth0", "eth3"]),
    route("eth2", "232.1.1.1", ["eth3"], source="10.0.0.5"),
    thresholds={"eth2": 16},
    manet=["eth0"],
)
INGRESS = st.sampled_from([*IFACES, "eth9"])


def copies_made(fwd: Forwarder) -> int:
    """The copies all flows have sent so far, as the forwarder counts them."""
    return sum(f.copies for f in fwd.snapshot(0.0).flows)


def check_output(fwd: Forwarder, ingress: str, frame: bytes) -> None:
    """Whatever comes out is a well-formed copy of what went in (RFC 1112 / 791 / 1624): a
    list with one Transmit per copy counted, or the empty tuple when no copy was made."""
    before = copies_made(fwd)
    out = fwd.handle_frame(ingress, frame, 0.0)
    made = copies_made(fwd) - before
    if made:
        assert isinstance(out, list)
        assert len(out) == made
    else:
        assert out == ()
    for t in out:
        data = t.frame
        ihl = (data[14] & 0x0F) * 4
        assert data[:6] == rfc1112_mac(int.from_bytes(data[30:34], "big"))
        assert data[6:12] == CONFIG.interfaces[t.egress].mac
        assert data[12:14] == b"\x08\x00"
        assert ones_complement_checksum(data[14 : 14 + ihl]) == 0
        assert data[22] == frame[22] - 1 >= 1
        assert data[23:24] + data[26:] == frame[23:24] + frame[26 : len(data)]
        assert len(data) - 14 == int.from_bytes(data[16:18], "big")


@FAST
@given(ingress=INGRESS, frame=st.binary(max_size=120))
def test_random_bytes_never_raise(ingress: str, frame: bytes) -> None:
    fwd = Forwarder(CONFIG)
    check_output(fwd, ingress, frame)
    snap = fwd.snapshot(0.0)
    # the one frame is accounted for once: dropped for a reason, forwarded, or (IGMP) handed
    # to the control plane, which is neither a drop nor forwarding (RFC 3376 section 4)
    igmp = sum(i.igmp for i in snap.interfaces)
    assert sum(snap.drops.values()) + sum(f.forwarded for f in snap.flows) + igmp == 1


@FAST
@given(
    ingress=INGRESS,
    frame=st.binary(min_size=14, max_size=14)
    .map(lambda eth: eth[:12] + b"\x08\x00")
    .flatmap(lambda eth: st.binary(max_size=100).map(lambda rest: eth + rest)),
)
def test_random_ipv4_ethertype_never_raises(ingress: str, frame: bytes) -> None:
    check_output(Forwarder(CONFIG), ingress, frame)


@FAST
@given(
    ingress=INGRESS,
    frame=valid_frames(),
    mutations=st.lists(
        st.tuples(st.integers(min_value=0, max_value=200), st.integers(0, 255)), max_size=6
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
    fix=st.booleans(),
)
def test_mutated_frames_never_raise(
    ingress: str, frame: bytes, mutations: list[tuple[int, int]], cut: int | None, fix: bool
) -> None:
    data = bytearray(frame)
    for index, value in mutations:
        if index < len(data):
            data[index] = value
    if fix and len(data) >= 34:
        # Re-validate the checksum so mutations reach the checks after it.
        ihl = max(data[14] & 0x0F, 5) * 4
        if len(data) >= 14 + ihl:
            data[24:26] = b"\x00\x00"
            data[24:26] = internet_checksum(bytes(data[14 : 14 + ihl])).to_bytes(2, "big")
    if cut is not None:
        del data[cut:]
    fwd = Forwarder(CONFIG)
    check_output(fwd, ingress, bytes(data))
    check_output(fwd, ingress, bytes(data))  # the second time through the cached flow


@FAST
@given(frame=valid_frames(), mode=st.sampled_from(list(DedupMode)))
def test_valid_frames_forwarded_or_dropped_with_flow_reason(frame: bytes, mode: DedupMode) -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.0/4", ["eth1", "eth2"]), dedup=mode))
    out = fwd.handle_frame("eth0", frame, 0.0)
    snap = fwd.snapshot(0.0)
    group = int.from_bytes(frame[30:34], "big")
    link_local = group >> 8 == 0xE00000
    if frame[22] > 1 and not link_local:
        assert [t.egress for t in out] == ["eth1", "eth2"]
    else:
        assert out == ()
        expected = DropReason.LINK_LOCAL if link_local else DropReason.TTL
        assert dict(snap.drops) == {expected: 1}


@FAST
@given(
    st.lists(
        st.tuples(INGRESS, st.booleans(), st.one_of(st.binary(max_size=80), valid_frames())),
        max_size=12,
    )
)
def test_batches_with_local_frames_never_raise(events: list[tuple[str, bool, bytes]]) -> None:
    # random traffic, some of it sent by this host's applications, through a MANET router:
    # no exception, and a frame the kernel already sent never goes back out where it was
    fwd = Forwarder(CONFIG)
    for n, (ingress, local, frame) in enumerate(events):
        out = fwd.handle_batch(ingress, [frame], float(n), [0] if local else [])
        for egress, copies in out:
            assert copies
            assert not (local and egress == ingress)
    snap = fwd.snapshot(float(len(events)))
    assert snap.dedup_entries <= CONFIG.dedup.max_entries
