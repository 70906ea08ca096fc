"""The RFC 5444 codec: a packet written out by hand from the RFC's layout decodes as it
should, what the encoder writes decodes back to the same values, every malformed shape is
refused with its reason (never an exception), and the RFC 5497 / RFC 7181 value codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.control.rfc5444 import (
    AddressBlock,
    Malformed,
    Message,
    Packet,
    Tlv,
    address_tlvs,
    decode,
    encode,
    metric_code,
    metric_value,
    time_code,
    time_value,
)

FAST = settings(max_examples=200, deadline=None)

# A HELLO as RFC 5444 lays it out, octet by octet: version 0 with a sequence number; one
# message of type 0, originator 10.0.0.1, size 29; a VALIDITY_TIME message TLV (type 1,
# value 0x64); one address block of two addresses sharing the head 10.0.0 (mids 1 and 2)
# with a LINK_STATUS TLV (type 3) on the second only (single index 1, value 1).
HAND_MADE = bytes.fromhex(
    "08 0102"  # packet: version 0, phasseqnum; seqnum 0x0102
    "00 83 001d"  # message: type 0, mhasorig | address length 4 - 1, size 29
    "0a000001"  # originator 10.0.0.1
    "0004 01 10 01 64"  # message TLVs: 4 bytes, VALIDITY_TIME, thasvalue, length 1, 0x64
    "02 80 03 0a0000 01 02"  # block: 2 addresses, ahashead, head 10.0.0, mids 1 and 2
    "0005 03 50 01 01 01"  # its TLVs: LINK_STATUS, single index | value, index 1, value 1
)


def test_a_packet_written_from_the_rfc_layout_decodes_field_by_field() -> None:
    packet = decode(HAND_MADE)
    assert isinstance(packet, Packet)
    assert packet.seqnum == 0x0102
    (message,) = packet.messages
    assert (message.type, message.addr_len, message.originator) == (0, 4, bytes([10, 0, 0, 1]))
    assert (message.hop_limit, message.hop_count, message.seqnum) == (None, None, None)
    assert message.tlv(1) == b"\x64"
    assert message.tlv(0) is None
    (block,) = message.blocks
    assert block.addresses == (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    assert block.values(3) == [None, b"\x01"]


def test_the_encoder_writes_the_hand_made_packet_byte_for_byte() -> None:
    packet = decode(HAND_MADE)
    assert isinstance(packet, Packet)
    assert encode(packet) == HAND_MADE


addr4 = st.binary(min_size=4, max_size=4)
values = st.one_of(st.none(), st.binary(max_size=3))


@st.composite
def blocks(draw: st.DrawFn, addr_len: int = 4) -> AddressBlock:
    addresses = draw(
        st.lists(st.binary(min_size=addr_len, max_size=addr_len), min_size=1, max_size=12)
    )
    per_address = draw(st.lists(values, min_size=len(addresses), max_size=len(addresses)))
    tlvs = address_tlvs(draw(st.integers(0, 255)), per_address, draw(st.integers(0, 3)))
    prefixes = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.integers(0, 8 * addr_len), min_size=len(addresses), max_size=len(addresses)
            ),
        )
    )
    return AddressBlock(
        tuple(addresses), tuple(tlvs), None if prefixes is None else tuple(prefixes)
    )


@st.composite
def messages(draw: st.DrawFn) -> Message:
    tlvs = draw(
        st.lists(
            st.builds(
                lambda t, e, v: Tlv(t, e, v), st.integers(0, 255), st.integers(0, 255), values
            ),
            max_size=4,
        )
    )
    return Message(
        draw(st.integers(0, 255)),
        4,
        tuple(tlvs),
        tuple(draw(st.lists(blocks(), max_size=3))),
        draw(st.one_of(st.none(), addr4)),
        draw(st.one_of(st.none(), st.integers(0, 255))),
        draw(st.one_of(st.none(), st.integers(0, 255))),
        draw(st.one_of(st.none(), st.integers(0, 0xFFFF))),
    )


@FAST
@given(st.lists(messages(), max_size=3), st.one_of(st.none(), st.integers(0, 0xFFFF)))
def test_what_the_encoder_writes_decodes_to_the_same_values(
    msgs: list[Message], seqnum: int | None
) -> None:
    packet = Packet(tuple(msgs), seqnum)
    got = decode(encode(packet))
    assert isinstance(got, Packet)
    assert got.seqnum == seqnum
    assert len(got.messages) == len(msgs)
    for sent, came in zip(msgs, got.messages, strict=True):
        assert came._replace(blocks=()) == sent._replace(blocks=())
        for a, b in zip(sent.blocks, came.blocks, strict=True):
            assert b.addresses == a.addresses
            assert b.prefixes == a.prefixes
            for kind in {t.type for t in a.tlvs}:
                exts = {t.ext for t in a.tlvs if t.type == kind}
                for ext in exts:
                    assert b.values(kind, ext) == a.values(kind, ext)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "packet header runs past its end"),
        (b"\x10", "unknown version"),
        (b"\x08\x01", "packet sequence number runs past its end"),
        (b"\x04\x00\x05\x01", "packet TLV block runs past its end"),
        (bytes.fromhex("00 00 03 0005"), "message size too small"),
        (bytes.fromhex("00 00 03 0010 0000"), "message runs past the packet"),
        (bytes.fromhex("00 00 83 0006 0000"), "originator runs past its end"),
        (bytes.fromhex("00 00 03 0008 0000 0000"), "address block without addresses"),
        (bytes.fromhex("00 00 03 000a 0000 0160 0100"), "address block with both tail flags"),
        (bytes.fromhex("00 00 03 000c 0000 0180 05 0000000000"), "address head runs past its end"),
        (
            bytes.fromhex("00 00 03 000f 0000 01 c0 03 0a0000 02 0000"),
            "address head and tail longer than an address",
        ),
        (
            bytes.fromhex("00 00 03 000d 0000 01 18 0a000001 20"),
            "address block with both prefix flags",
        ),
        (
            bytes.fromhex("00 00 03 000f 0000 01 10 0a000001 21 0000"),
            "prefix length longer than an address",
        ),
        (bytes.fromhex("00 00 03 000a 0004 0160 0000"), "TLV with both index flags"),
        (bytes.fromhex("00 00 03 0009 0003 0140 00"), "message TLV with address indexes"),
        (bytes.fromhex("00 00 03 0008 0002 0104"), "message TLV with address indexes"),
        (bytes.fromhex("00 00 03 0008 0002 0108"), "TLV with an extended length but no value"),
        (bytes.fromhex("00 00 03 000a 0004 0110 0501"), "TLV value runs past its end"),
        (
            bytes.fromhex("00 00 03 0011 0000 01 00 0a000001 0003 03 40 01"),
            "TLV index past the address block",
        ),
        (
            bytes.fromhex("00 00 03 0014 0000 02 80 03 0a0000 01 02 0004 03 20 01 00"),
            "TLV index range backwards",
        ),
        (
            bytes.fromhex("00 00 03 0018 0000 02 80 03 0a0000 01 02 0008 03 34 00 01 03 010203"),
            "multivalue TLV length not a multiple of its addresses",
        ),
        (bytes.fromhex("00 00 03 0008 0004 01 00"), "message TLV block runs past its end"),
    ],
)
def test_every_malformed_shape_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    assert decode(data) == Malformed(reason)


@FAST
@given(st.binary(max_size=80))
def test_any_bytes_decode_to_a_packet_or_a_reason_never_an_exception(data: bytes) -> None:
    assert isinstance(decode(data), Packet | Malformed)


@FAST
@given(st.lists(messages(), min_size=1, max_size=2), st.data())
def test_a_damaged_packet_never_raises(msgs: list[Message], data: st.DataObject) -> None:
    wire = bytearray(encode(Packet(tuple(msgs), 7)))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    assert isinstance(decode(bytes(wire[:cut])), Packet | Malformed)


def test_address_tlvs_use_runs_and_multivalue_as_fits() -> None:
    assert address_tlvs(3, [b"\x01", b"\x01", None, b"\x02"]) == [
        Tlv(3, 0, b"\x01", 0, 1),
        Tlv(3, 0, b"\x02", 3, 3),
    ]
    assert address_tlvs(3, [b"\x01", b"\x02"]) == [Tlv(3, 0, b"\x01\x02", 0, 1, True)]
    assert address_tlvs(3, [None, None]) == []


def test_the_encoder_keeps_a_mid_octet_and_refuses_what_no_reader_takes() -> None:
    same = bytes([10, 0, 0, 1])
    wire = encode(Packet((Message(0, 4, blocks=(AddressBlock((same, same)),)),)))
    # head 10.0.0 (3 octets), no tail: one mid octet each, as Wireshark wants
    assert wire[7:14] == bytes([2, 0x80, 3, 10, 0, 0, 1])
    with pytest.raises(ValueError, match="1 to 127"):
        encode(Packet((Message(0, 4, blocks=(AddressBlock((same,) * 128),)),)))
    with pytest.raises(ValueError, match="address of 3 bytes"):
        encode(Packet((Message(0, 4, blocks=(AddressBlock((b"abc",)),)),)))


@pytest.mark.parametrize(("seconds", "code"), [(1.0, 0x50), (2.0, 0x58), (6.0, 0x64), (0.5, 0x48)])
def test_rfc_5497_time_codes(seconds: float, code: int) -> None:
    assert time_code(seconds) == code
    assert time_value(code) == seconds


@FAST
@given(st.floats(min_value=0.001, max_value=3600))
def test_a_time_code_never_says_less_than_asked_and_is_the_least_that_does(seconds: float) -> None:
    code = time_code(seconds)
    assert time_value(code) >= seconds
    assert code == 0 or time_value(code - 1) < seconds


@FAST
@given(st.integers(1, 16776960))
def test_a_metric_code_never_says_less_than_asked_and_is_the_least_that_does(metric: int) -> None:
    code = metric_code(metric)
    assert metric_value(code) >= metric
    assert code == 0 or metric_value(code - 1) < metric
    assert metric_value(0) == 1
    assert metric_value(0xFFF) == 16776960
