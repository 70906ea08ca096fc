"""IGMP messages (RFC 2236, RFC 3376 section 4): codes, parsing, building, bad input named."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.control import igmp
from rawfwd.control.igmp import BadIgmp, GroupRecord, Query, RecordType, Report, V3Report

from ..support.frames import ones_complement_checksum

FAST = settings(max_examples=200, deadline=None)
#: every value a Max Resp Code or QQIC can say (RFC 3376 4.1.1: 0-127, then 128-31744 in steps)
CODE_VALUES = sorted({igmp.decode_code(c) for c in range(256)})
G = int(IPv4Address("239.1.2.3"))
S1, S2 = int(IPv4Address("10.0.0.5")), int(IPv4Address("10.0.0.6"))


def with_checksum(message: bytes) -> bytes:
    """RFC 1071 checksum over the message, computed with the tests' own routine."""
    csum = ones_complement_checksum(message[:2] + b"\0\0" + message[4:])
    return message[:2] + csum.to_bytes(2, "big") + message[4:]


def test_codes_below_128_are_plain_numbers_and_above_a_float() -> None:
    # RFC 3376 4.1.1: 1 | exp(3) | mant(4) stands for (mant | 0x10) << (exp + 3)
    assert [igmp.decode_code(c) for c in (0, 100, 127)] == [0, 100, 127]
    assert igmp.decode_code(0x80) == 16 << 3
    assert igmp.decode_code(0x8F) == 31 << 3
    assert igmp.decode_code(0xFF) == 31 << 10
    assert igmp.decode_code(0b1_011_0101) == (0b10101) << 6


def test_every_code_encodes_back_to_itself() -> None:
    assert [igmp.encode_code(igmp.decode_code(c)) for c in range(256)] == list(range(256))


@FAST
@given(st.integers(0, 40000))
def test_encoding_rounds_down_by_less_than_one_step(value: int) -> None:
    back = igmp.decode_code(igmp.encode_code(value))
    # the nearest value a code says at or below `value`: the value itself below 128, 31744
    # (the largest) beyond that, and in between less than one mantissa step (back / 16) lower
    assert back == max(v for v in CODE_VALUES if v <= value)


def test_a_v2_report_from_its_rfc_layout() -> None:
    raw = with_checksum(struct.pack("!BBHI", 0x16, 0, 0, G))
    assert igmp.parse(raw) == Report(version=2, group=G)
    assert igmp.build(Report(version=2, group=G)) == raw


def test_v1_v2_and_v3_queries_are_told_apart_by_shape() -> None:
    # RFC 3376 7.1: 8 bytes with code 0 is v1, 8 bytes otherwise v2, 12 or more v3
    v1 = with_checksum(struct.pack("!BBHI", 0x11, 0, 0, 0))
    v2 = with_checksum(struct.pack("!BBHI", 0x11, 100, 0, G))
    v3 = with_checksum(struct.pack("!BBHIBBHII", 0x11, 0x8F, 0, G, 0x0A, 125, 2, S1, S2))
    assert igmp.parse(v1) == Query(version=1, group=0, max_resp=10.0)
    assert igmp.parse(v2) == Query(version=2, group=G, max_resp=10.0)
    assert igmp.parse(v3) == Query(
        version=3, group=G, max_resp=24.8, sources=(S1, S2), suppress=True, qrv=2, qqi=125
    )


def test_a_v3_report_with_every_record_type() -> None:
    records = tuple(
        GroupRecord(kind, G + i, (S1, S2)[: i % 3]) for i, kind in enumerate(RecordType)
    )
    report = V3Report(records)
    raw = igmp.build(report)
    assert ones_complement_checksum(raw) == 0
    assert raw[0] == 0x22
    assert int.from_bytes(raw[6:8], "big") == len(records)
    assert igmp.parse(raw) == report


def test_unknown_record_types_and_aux_data_are_skipped() -> None:
    unknown = struct.pack("!BBHI", 9, 0, 0, G)
    known = struct.pack("!BBHII", 5, 1, 1, G, S1) + b"AUXD"  # one word of aux data
    raw = with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, 2) + unknown + known)
    assert igmp.parse(raw) == V3Report((GroupRecord(RecordType.ALLOW_NEW_SOURCES, G, (S1,)),))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x16\x00\x00", "truncated"),
        (struct.pack("!BBHI", 0x16, 0, 0x1234, G), "bad_checksum"),
        (with_checksum(struct.pack("!BBHI", 0x42, 0, 0, G)), "unknown_type"),
        (with_checksum(struct.pack("!BBHI", 0x16, 0, 0, S1)), "bad_group"),
        (with_checksum(struct.pack("!BBHI", 0x17, 0, 0, 0)), "bad_group"),
        (with_checksum(struct.pack("!BBHIBBH", 0x11, 100, 0, G, 2, 125, 3)), "truncated"),
        (with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, 1)), "truncated"),
    ],
)
def test_bad_input_is_named_not_raised(raw: bytes, reason: str) -> None:
    assert igmp.parse(raw) == BadIgmp(reason)


addresses = st.integers(0xE0000100, 0xEFFFFFFF)
sources = st.lists(st.integers(0x01000000, 0xDFFFFFFF), max_size=5).map(tuple)
messages = st.one_of(
    st.builds(Report, version=st.sampled_from([1, 2]), group=addresses),
    st.builds(Report, version=st.just(2), group=addresses, leave=st.just(True)),
    st.builds(
        Query,
        version=st.just(3),
        group=st.one_of(st.just(0), addresses),
        max_resp=st.integers(0, 127).map(lambda t: t / 10),
        sources=sources,
        suppress=st.booleans(),
        qrv=st.integers(0, 7),
        qqi=st.integers(0, 127),
    ),
    st.builds(
        V3Report,
        st.lists(
            st.builds(GroupRecord, st.sampled_from(RecordType), addresses, sources), max_size=4
        ).map(tuple),
    ),
)


@FAST
@given(messages)
def test_what_is_built_parses_back(message: igmp.Message) -> None:
    raw = igmp.build(message)
    assert ones_complement_checksum(raw) == 0
    assert igmp.parse(raw) == message


@FAST
@given(st.binary(max_size=64))
def test_random_bytes_never_raise(raw: bytes) -> None:
    """Any bytes give an answer, never an exception: why they are no message, or a message
    that builds to bytes parsing back to that same message."""
    parsed = igmp.parse(raw)
    if not isinstance(parsed, BadIgmp):
        assert igmp.parse(igmp.build(parsed)) == parsed


def test_sent_packets_have_ttl_1_and_router_alert() -> None:
    message = igmp.build(Query(version=3, group=0, max_resp=10.0, qrv=2, qqi=125))
    packet = igmp.ip_packet(int(IPv4Address("10.0.0.1")), igmp.ALL_SYSTEMS, message)
    assert packet[0] == 0x46  # version 4, 24-byte header: the option is there
    assert (packet[8], packet[9]) == (1, igmp.IGMP_PROTO)
    assert packet[20:24] == bytes((148, 4, 0, 0))
    assert ones_complement_checksum(packet[:24]) == 0
    assert packet[16:20] == IPv4Address("224.0.0.1").packed
    assert packet[24:] == message
