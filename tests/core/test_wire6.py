"""The IPv6 wire layer: the fixed header's checks, the extension-header walk (RFC 8200
section 4) cross-checked against scapy's decoding, scopes (RFC 4291, RFC 7346), the
group MAC (RFC 2464), and no input that raises."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    RouterAlert,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from rawfwd.core.reasons import DropReason
from rawfwd.core.wire import complete_l4_checksum
from rawfwd.core.wire6 import (
    AUTH,
    DEST_OPTIONS,
    ESP,
    ICMPV6,
    MAX_EXT_HEADERS,
    NO_NEXT,
    Ipv6Packet,
    complete_l4_checksum6,
    frame_problem6,
    group_mac6,
    ipv6_header,
    is_link_scoped,
    scope,
)

SRC = "2001:db8:1::5"
GROUP = "ff0e::1:1"


def frame(layers: Packet, src: str = SRC, dst: str = GROUP, hlim: int = 8) -> bytes:
    return bytes(Ether(dst="33:33:00:01:00:01") / IPv6(src=src, dst=dst, hlim=hlim) / layers)


def parse(data: bytes) -> DropReason | Ipv6Packet:
    return frame_problem6(data, len(data))


def upper_offset(data: bytes, layer: type[Packet]) -> int:
    """Where scapy found `layer` in the frame (scapy does not decode past an
    authentication header: there, where the AH's own length says its payload starts)."""
    packet = Ether(data)
    if layer is not AH and AH in packet:
        ah = packet[AH]
        return len(data) - len(bytes(ah)) + (ah.payloadlen + 2) * 4
    return len(data) - len(bytes(packet[layer]))


def test_plain_udp() -> None:
    data = frame(UDP(sport=5000, dport=5001) / Raw(b"x" * 20))
    assert parse(data) == Ipv6Packet(len(data), 17, 54, False, False)


def test_link_padding_is_not_part_of_the_packet() -> None:
    data = frame(UDP() / Raw(b"x"))
    assert parse(data + bytes(30)) == Ipv6Packet(len(data), 17, 54, False, False)


@pytest.mark.parametrize(
    "headers",
    [
        IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)]),
        IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(),
        IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(m=1, id=7),
        AH(nh=17, payloadlen=4, icv=b"\0" * 12),
        IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
        / IPv6ExtHdrFragment()
        / AH(nh=17, payloadlen=1),
    ],
)
def test_the_upper_layer_is_where_scapy_finds_it(headers: Packet) -> None:
    data = frame(headers / UDP(sport=1, dport=2) / Raw(b"payload"))
    found = parse(data)
    assert isinstance(found, Ipv6Packet)
    assert found.upper == 17
    assert found.upper_at == upper_offset(data, UDP)
    assert data[found.upper_at : found.upper_at + 4] == bytes([0, 1, 0, 2])  # the ports
    assert found.fragment == (IPv6ExtHdrFragment in Ether(data))
    assert found.router_alert == (RouterAlert in Ether(data))


def test_esp_and_no_next_header_end_the_walk() -> None:
    esp = bytes(Ether() / IPv6(src=SRC, dst=GROUP, nh=ESP) / Raw(b"\0" * 16))
    assert parse(esp) == Ipv6Packet(len(esp), ESP, 54, False, False)
    none = frame(IPv6ExtHdrDestOpt(nh=NO_NEXT))
    assert parse(none) == Ipv6Packet(len(none), NO_NEXT, 62, False, False)


def test_the_chain_is_followed_up_to_its_bound_and_no_further() -> None:
    chain: Packet = IPv6ExtHdrDestOpt()
    for _ in range(MAX_EXT_HEADERS - 1):
        chain = chain / IPv6ExtHdrDestOpt()
    found = parse(frame(chain / UDP()))
    assert isinstance(found, Ipv6Packet)
    assert found.upper_at == 54 + 8 * MAX_EXT_HEADERS
    assert parse(frame(IPv6ExtHdrDestOpt() / chain / UDP())) == DropReason.BAD_EXT_HEADER


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (frame(UDP())[:53], DropReason.TRUNCATED),
        (frame(UDP())[:-1], DropReason.TRUNCATED),  # the payload length says more
        (bytes(Ether() / IPv6(src=SRC, dst=GROUP, plen=0)), DropReason.BAD_LENGTH),
        (frame(UDP(), dst="2001:db8::1"), DropReason.NOT_MULTICAST),
        (frame(UDP(), src="ff05::1"), DropReason.BAD_SOURCE),
        (frame(UDP(), src="::1"), DropReason.BAD_SOURCE),
        # hop-by-hop anywhere but first
        (frame(IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / UDP()), DropReason.BAD_EXT_HEADER),
    ],
)
def test_what_is_wrong_is_named(data: bytes, reason: DropReason) -> None:
    assert parse(data) == reason


def test_a_bad_version_is_named() -> None:
    data = bytearray(frame(UDP()))
    data[14] = 0x40
    assert parse(bytes(data)) == DropReason.BAD_VERSION


def test_the_unspecified_source_is_let_through_for_mld() -> None:
    assert isinstance(parse(frame(UDP(), src="::")), Ipv6Packet)


def _cut(data: bytes, plen: int) -> bytes:
    """The frame with its payload length set to `plen` (and cut to match)."""
    return data[:18] + plen.to_bytes(2, "big") + data[20 : 54 + plen]


def test_a_header_or_an_option_running_past_its_end_is_malformed() -> None:
    data = frame(IPv6ExtHdrDestOpt(len=1, options=[]) / UDP())  # says 16 bytes
    assert parse(_cut(data, 8)) == DropReason.BAD_EXT_HEADER
    assert parse(_cut(frame(IPv6ExtHdrFragment() / UDP()), 6)) == DropReason.BAD_EXT_HEADER
    # a PadN option claiming 9 bytes inside an 8-byte header
    bad_option = ipv6_header(
        ipaddress.IPv6Address(SRC).packed,
        ipaddress.IPv6Address(GROUP).packed,
        8,
        next_header=DEST_OPTIONS,
    ) + bytes([NO_NEXT, 0, 1, 9, 0, 0, 0, 0])
    assert parse(bytes(14) + bad_option) == DropReason.BAD_EXT_HEADER


def test_an_mld_report_shape_is_seen_with_its_router_alert() -> None:
    data = frame(IPv6ExtHdrHopByHop(nh=ICMPV6, options=[RouterAlert(value=0)]) / Raw(b"\x8f" * 8))
    found = parse(data)
    assert isinstance(found, Ipv6Packet)
    assert (found.upper, found.upper_at, found.router_alert) == (ICMPV6, 62, True)


def test_an_authentication_header_counts_in_four_byte_words() -> None:
    data = frame(AH(nh=17, payloadlen=5, icv=b"\0" * 16) / UDP())
    found = parse(data)
    assert isinstance(found, Ipv6Packet)
    assert found.upper_at == 54 + (5 + 2) * 4
    assert found.upper_at == upper_offset(data, UDP)
    assert AUTH == 51


@pytest.mark.parametrize(
    ("group", "scoped", "nibble"),
    [
        ("ff01::1", True, 1),
        ("ff02::fb", True, 2),
        ("ff12::1:3", True, 2),  # a transient group, link scope
        ("ff32:40:2001:db8::1", True, 2),  # unicast-prefix-based, link scope
        ("ff00::1", True, 0),  # reserved scope: never forwarded either
        ("ff03::fc", False, 3),  # realm-local (RFC 7346)
        ("ff05::1:3", False, 5),
        ("ff0e::1:1", False, 14),
        ("ff3e::8000:1", False, 14),  # SSM
    ],
)
def test_scopes(group: str, scoped: bool, nibble: int) -> None:
    packed = ipaddress.IPv6Address(group).packed
    assert scope(packed) == nibble
    assert is_link_scoped(packed) is scoped


def test_the_group_mac_is_33_33_and_the_low_32_bits() -> None:
    group = ipaddress.IPv6Address("ff02::1:ff00:1234").packed
    assert group_mac6(group) == bytes.fromhex("3333ff001234")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_reason_or_a_packet_inside_them(tail: bytes) -> None:
    head = ipv6_header(bytes(16), bytes([0xFF]) + bytes(15), len(tail), next_header=0)
    for data in (bytes(14) + tail, bytes(14) + head + tail):
        found = parse(data)
        if isinstance(found, Ipv6Packet):
            assert 54 <= found.upper_at <= found.end <= len(data)


@given(st.lists(st.sampled_from([0, 43, 44, 51, 60]), max_size=12), st.binary(max_size=120))
def test_any_chain_of_headers_gives_a_reason_or_a_packet_inside_it(
    kinds: list[int], body: bytes
) -> None:
    """Headers of random kinds with random bodies: lengths and options are whatever the
    bytes say."""
    chain = b""
    for i, _ in enumerate(kinds):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else 17
        chain += bytes([nxt]) + body[i % max(len(body), 1) : i % max(len(body), 1) + 7].ljust(7)
    first = kinds[0] if kinds else 17
    payload = chain + body
    data = (
        bytes(14)
        + ipv6_header(
            ipaddress.IPv6Address(SRC).packed,
            bytes([0xFF, 0x0E]) + bytes(14),
            len(payload),
            next_header=first,
        )
        + payload
    )
    found = parse(data)
    if isinstance(found, Ipv6Packet):
        assert 54 <= found.upper_at <= found.end == len(data)
    else:
        assert found in (DropReason.BAD_EXT_HEADER, DropReason.BAD_LENGTH)


@pytest.mark.parametrize("headers", [None, IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()])
def test_an_unfinished_udp_checksum_is_completed_as_scapy_computes_it(
    headers: Packet | None,
) -> None:
    """What a local sender's frame looks like with offload (TP_STATUS_CSUMNOTREADY): the
    UDP checksum field holds anything but the sum; completing it gives the real one."""
    layers = UDP(sport=4000, dport=5000) / Raw(b"odd length!")
    whole = frame(layers if headers is None else headers / layers)
    at = upper_offset(whole, UDP)
    unfinished = whole[: at + 6] + b"\x12\x34" + whole[at + 8 :]
    assert complete_l4_checksum(unfinished) == whole
    assert complete_l4_checksum6(whole) == whole
    fragment = frame(IPv6ExtHdrFragment() / layers)
    assert complete_l4_checksum6(fragment) is fragment  # a fragment is left as it is
