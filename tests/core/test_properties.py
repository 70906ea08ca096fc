"""Hypothesis properties: the core never raises on any bytes; checksum and MAC rules hold."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.config.values import DedupMode
from rawfwd.core import DropReason, Forwarder
from rawfwd.core.wire import (
    checksum_update,
    group_mac,
    internet_checksum,
    ipv4_header,
    ttl_decrement_checksum,
)

from ..support.frames import (
    IFACES,
    make_config,
    ones_complement_checksum,
    rfc1112_mac,
    route,
    udp_frame,
)

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

#: sources a router may forward from: not 0/8, 127/8, 224/4 or 240/4 (RFC 1812 5.3.7)
unicast = (
    st.integers(min_value=0x01000000, max_value=0xDFFFFFFF)
    .filter(lambda n: n >> 24 != 127)
    .map(lambda n: IPv4Address(n).packed)
)
multicast_int = st.integers(min_value=0xE0000000, max_value=0xEFFFFFFF)
any_addr = st.binary(min_size=4, max_size=4)
options = st.integers(min_value=0, max_value=10).flatmap(
    lambda n: st.binary(min_size=4 * n, max_size=4 * n)
)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A valid IPv4 header (any field values, options included) with a correct checksum."""
    return ipv4_header(
        draw(any_addr),
        draw(any_addr),
        ttl=draw(st.integers(min_value=1, max_value=255)),
        proto=draw(st.integers(min_value=0, max_value=255)),
        payload_len=draw(st.integers(min_value=0, max_value=1400)),
        ident=draw(st.integers(min_value=0, max_value=0xFFFF)),
        frag=draw(st.integers(min_value=0, max_value=0xFFFF)),
        options=draw(options),
        tos=draw(st.integers(min_value=0, max_value=255)),
    )


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    group = IPv4Address(draw(multicast_int))
    source = IPv4Address(draw(unicast))
    return udp_frame(
        str(source),
        str(group),
        ttl=draw(st.integers(min_value=0, max_value=255)),
        payload=draw(st.binary(max_size=64)),
        ident=draw(st.integers(min_value=0, max_value=0xFFFF)),
        frag=draw(st.integers(min_value=0, max_value=0xFFFF)),
        options=draw(options),
        padding=draw(st.binary(max_size=8)),
    )


def check_output(fwd: Forwarder, ingress: str, frame: bytes) -> None:
    """Whatever comes out is a well-formed copy of what went in (RFC 1112 / 791 / 1624)."""
    out = fwd.handle_frame(ingress, frame, 0.0)
    assert isinstance(out, (list, tuple))
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
    assert sum(snap.drops.values()) + sum(f.forwarded for f in snap.flows) <= 1


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
@given(header=headers())
def test_ttl_decrement_checksum_equals_recompute(header: bytes) -> None:
    old = int.from_bytes(header[10:12], "big")
    ttl = header[8]
    decremented = bytearray(header)
    decremented[8] = ttl - 1
    decremented[10:12] = b"\x00\x00"
    expected = ones_complement_checksum(bytes(decremented))
    assert ttl_decrement_checksum(old) == expected
    decremented[10:12] = expected.to_bytes(2, "big")
    assert ones_complement_checksum(bytes(decremented)) == 0


@FAST
@given(header=headers(), data=st.data())
def test_checksum_update_equals_recompute(header: bytes, data: st.DataObject) -> None:
    words = len(header) // 2
    index = data.draw(st.integers(min_value=0, max_value=words - 1).filter(lambda i: i != 5))
    new = data.draw(st.integers(min_value=0, max_value=0xFFFF))
    old = int.from_bytes(header[2 * index : 2 * index + 2], "big")
    hc = int.from_bytes(header[10:12], "big")
    changed = bytearray(header)
    changed[2 * index : 2 * index + 2] = new.to_bytes(2, "big")
    changed[10:12] = b"\x00\x00"
    assert checksum_update(hc, old, new) == ones_complement_checksum(bytes(changed))


@FAST
@given(data=st.binary(max_size=80))
def test_internet_checksum_equals_reference(data: bytes) -> None:
    assert internet_checksum(data) == ones_complement_checksum(data)


@settings(max_examples=300, deadline=None)
@given(group=multicast_int)
def test_group_mac_rfc1112(group: int) -> None:
    mac = group_mac(group)
    octets = IPv4Address(group).packed
    # 01-00-5E, then a 0 bit, then the low-order 23 bits of the group.
    assert mac == bytes([0x01, 0x00, 0x5E, octets[1] & 0x7F, octets[2], octets[3]])
    assert int.from_bytes(mac, "big") >> 23 == 0x01005E000000 >> 23
    assert mac[0] & 1  # a group (multicast) address
    assert not mac[0] & 2  # globally administered
    # The five dropped bits: any group differing only there maps to the same MAC.
    for high in range(32):
        assert group_mac(0xE0000000 | (high << 23) | (group & 0x7FFFFF)) == mac


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
