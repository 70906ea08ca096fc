"""Wire formats: RFC 1071/1624 checksums, RFC 1112 group MACs, MAC text (examples, properties)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.core.wire import (
    checksum_update,
    ethernet_header,
    format_mac,
    group_mac,
    header_sums_ok,
    internet_checksum,
    ipv4_header,
    parse_mac,
    ttl_decrement_checksum,
)

from ..support.frames import addr, ones_complement_checksum
from ..support.strategies import headers, multicast_int

FAST = settings(max_examples=150, deadline=None)

# The IPv4 header used as the worked example in many texts (and Wikipedia's "IPv4 header
# checksum" article): 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, checksum 0xb861.
EXAMPLE_HEADER = bytes.fromhex("450000730000400040 11 b861 c0a80001 c0a800c7".replace(" ", ""))


def words(data: bytes) -> list[int]:
    return list(struct.unpack(f"!{len(data) // 2}H", data))


def with_word(header: bytes, index: int, value: int) -> bytes:
    return header[: 2 * index] + value.to_bytes(2, "big") + header[2 * index + 2 :]


def recompute(header: bytes) -> int:
    """Full RFC 1071 recompute of an IPv4 header's checksum field (word 5)."""
    return ones_complement_checksum(with_word(header, 5, 0))


# -- RFC 1071 checksum ----------------------------------------------------------------------------


def test_checksum_rfc1071_numerical_example() -> None:
    # RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2; the checksum is ~ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert internet_checksum(data) == ~0xDDF2 & 0xFFFF == 0x220D


def test_checksum_known_ipv4_header() -> None:
    zeroed = with_word(EXAMPLE_HEADER, 5, 0)
    assert internet_checksum(zeroed) == 0xB861
    # A header carrying its correct checksum sums to 0xffff, so its checksum is 0.
    assert internet_checksum(EXAMPLE_HEADER) == 0


def test_checksum_odd_length_pads_with_zero() -> None:
    # RFC 1071: an odd byte count is padded with a zero octet at the end.
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00") == 0xFEFF
    assert internet_checksum(b"\xab\xcd\xef") == ones_complement_checksum(b"\xab\xcd\xef\x00")


def test_checksum_end_around_carry() -> None:
    # 0xffff + 0x0001 = 0x10000 -> folds to 0x0001 -> checksum 0xfffe.
    assert internet_checksum(b"\xff\xff\x00\x01") == 0xFFFE


def test_ipv4_header_fields_and_checksum() -> None:
    hdr = ipv4_header(
        addr("10.0.0.5"), addr("239.1.2.3"), ttl=7, proto=17, payload_len=12, ident=0x1234
    )
    assert len(hdr) == 20
    assert hdr[0] == 0x45
    assert int.from_bytes(hdr[2:4], "big") == 32
    assert int.from_bytes(hdr[4:6], "big") == 0x1234
    assert hdr[8] == 7
    assert hdr[9] == 17
    assert hdr[12:16] == addr("10.0.0.5")
    assert hdr[16:20] == addr("239.1.2.3")
    assert ones_complement_checksum(hdr) == 0
    assert int.from_bytes(hdr[10:12], "big") == recompute(hdr)


def test_ipv4_header_options_set_ihl() -> None:
    options = bytes([0x94, 0x04, 0x00, 0x00])  # Router Alert (RFC 2113)
    hdr = ipv4_header(addr("10.0.0.5"), addr("224.0.0.22"), options=options, payload_len=8)
    assert hdr[0] == 0x46
    assert hdr[20:] == options
    assert int.from_bytes(hdr[2:4], "big") == 24 + 8
    assert ones_complement_checksum(hdr) == 0


def test_ipv4_header_rejects_unpadded_options() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        ipv4_header(addr("10.0.0.5"), addr("239.1.2.3"), options=b"\x01\x01\x01")


# -- RFC 1624 incremental update ------------------------------------------------------------------


def test_checksum_update_rfc1624_example() -> None:
    # RFC 1624 section 4: other header octets sum to 0xCD7A, m = 0x5555 becomes 0x3285.
    # HC = ~(0xCD7A + 0x5555) = 0xDD2F; the correct new checksum is ~(0xCD7A + 0x3285) = 0x0000
    # (eqn. 2 would give the -0 value 0xFFFF; eqn. 3 must give 0x0000).
    assert checksum_update(0xDD2F, 0x5555, 0x3285) == 0x0000


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 6, 7, 8, 9])
@pytest.mark.parametrize("new", [0x0000, 0x0001, 0x7FFF, 0xFFFF, 0x1234])
def test_checksum_update_matches_recompute(index: int, new: int) -> None:
    old_word = words(EXAMPLE_HEADER)[index]
    hc = words(EXAMPLE_HEADER)[5]
    changed = with_word(EXAMPLE_HEADER, index, new)
    assert checksum_update(hc, old_word, new) == recompute(changed)


def test_checksum_update_no_change_is_identity() -> None:
    hc = words(EXAMPLE_HEADER)[5]
    assert checksum_update(hc, 0x4011, 0x4011) == hc


@pytest.mark.parametrize("ttl", [2, 3, 64, 128, 255, 1])
@pytest.mark.parametrize("proto", [0, 1, 2, 17, 255])
def test_ttl_decrement_checksum_matches_recompute(ttl: int, proto: int) -> None:
    hdr = ipv4_header(addr("10.1.2.3"), addr("239.255.255.250"), ttl=ttl, proto=proto)
    old = int.from_bytes(hdr[10:12], "big")
    decremented = hdr[:8] + bytes([ttl - 1]) + hdr[9:]
    assert ttl_decrement_checksum(old) == recompute(decremented)


def test_ttl_decrement_checksum_known_header() -> None:
    # EXAMPLE_HEADER: TTL 64 -> 63 lowers the TTL/proto word by 0x100, so the one's complement
    # checksum rises by 0x100: 0xb861 -> 0xb961.
    assert ttl_decrement_checksum(0xB861) == 0xB961


def test_ttl_decrement_checksum_never_negative_zero() -> None:
    # RFC 1624 eqn. 3 never yields 0xFFFF for a real header; HC 0xFEFF -> 0x0000, not 0xFFFF.
    assert ttl_decrement_checksum(0xFEFF) == 0x0000
    assert ttl_decrement_checksum(0xFEFF) == checksum_update(0xFEFF, 0x4011, 0x3F11)


def test_ttl_decrement_equals_generic_update() -> None:
    for hc in (0x0000, 0x0001, 0x00FF, 0x0100, 0x7FFF, 0xB861, 0xFEFE, 0xFFFE):
        for ttl in (2, 64, 255):
            assert ttl_decrement_checksum(hc) == checksum_update(
                hc, (ttl << 8) | 17, ((ttl - 1) << 8) | 17
            )


# -- RFC 1112 group MAC ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "mac"),
    [
        ("239.1.2.3", "01:00:5e:01:02:03"),
        # bit 23 of the group (the high bit of the second octet) is not mapped:
        ("224.129.2.3", "01:00:5e:01:02:03"),
        ("224.0.0.1", "01:00:5e:00:00:01"),
        ("224.0.0.251", "01:00:5e:00:00:fb"),
        ("239.255.255.250", "01:00:5e:7f:ff:fa"),
        ("225.128.0.0", "01:00:5e:00:00:00"),
        ("239.255.255.255", "01:00:5e:7f:ff:ff"),
    ],
)
def test_group_mac(group: str, mac: str) -> None:
    assert group_mac(int.from_bytes(addr(group), "big")) == bytes.fromhex(mac.replace(":", ""))


def test_group_mac_32_groups_share_a_mac() -> None:
    # 5 of the 28 group bits are dropped: 32 groups per MAC (RFC 1112 section 6.4).
    base = int.from_bytes(addr("239.1.2.3"), "big") & 0x7FFFFF
    macs = {group_mac(0xE0000000 | (high << 23) | base) for high in range(32)}
    assert macs == {bytes.fromhex("01005e010203")}


def test_ethernet_header_layout() -> None:
    dst, src = bytes.fromhex("01005e010203"), bytes.fromhex("020000000001")
    assert ethernet_header(dst, src) == dst + src + b"\x08\x00"
    assert ethernet_header(dst, src, 0x86DD)[12:] == b"\x86\xdd"


# -- MAC text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["02:00:00:00:00:0a", "02-00-00-00-00-0A", "02:00:00:00:00:0A"])
def test_parse_mac_valid(text: str) -> None:
    assert parse_mac(text) == bytes([2, 0, 0, 0, 0, 10])


def test_format_mac_roundtrip() -> None:
    mac = bytes([0x02, 0xAB, 0x00, 0x10, 0xFF, 0x01])
    assert format_mac(mac) == "02:ab:00:10:ff:01"
    assert parse_mac(format_mac(mac)) == mac


@pytest.mark.parametrize(
    "text",
    [
        "",
        "02:00:00:00:00",  # five octets
        "02:00:00:00:00:01:02",  # seven
        "02:00:00:00:00:0g",  # not hex
        "2:0:0:0:0:1",  # single digits
        "020:00:00:00:00:1",
        "0200.0000.0001",
        "02:00:00:00:00:01:",
        "+1:00:00:00:00:00",  # int() would accept a sign: still not a MAC
        " 1:00:00:00:00:00",  # nor a space
    ],
)
def test_parse_mac_errors(text: str) -> None:
    with pytest.raises(ValueError, match="is not a MAC address like 02:00:00:00:00:01"):
        parse_mac(text)


# -- properties -----------------------------------------------------------------------------------


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
@given(st.binary(min_size=20, max_size=20), st.integers(0, 19), st.integers(1, 255))
def test_the_forwarders_header_check_is_the_rfc_1071_sum_compiled_or_not(
    header: bytes, at: int, flip: int
) -> None:
    """header_sums_ok adds words natively when compiled and takes a big number modulo
    0xFFFF when interpreted (each test run covers its build): both say what RFC 1071 says,
    for a valid header, for the same header with one byte changed, and for arbitrary bytes
    (a header starting 0x45 is never all zero, where the two would part)."""
    header = b"\x45" + header[1:]
    fixed = header[:10] + b"\0\0" + header[12:]
    valid = fixed[:10] + internet_checksum(fixed).to_bytes(2, "big") + fixed[12:]
    changed = valid[:at] + bytes([valid[at] ^ flip]) + valid[at + 1 :]
    for candidate in (valid, changed, header):
        frame = bytes(14) + candidate + b"payload"
        assert header_sums_ok(frame) == (ones_complement_checksum(candidate) == 0)
    assert header_sums_ok(bytes(14) + valid)
