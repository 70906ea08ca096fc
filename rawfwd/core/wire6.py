"""IPv6 on the wire: the header, its extension-header chain, multicast scopes and the
group-to-MAC map, read straight from a frame's bytes (no objects per packet but the one
result) and never raising on any input.

Theory of operation:

- The fixed header is 40 bytes (RFC 8200 section 3): version 6, payload length (the packet
  ends 40 bytes after the header plus that length: a zero length is a jumbogram, RFC 2675,
  which no Ethernet carries: refused), next header, hop limit at offset 7 (decremented by a
  forwarder; IPv6 has no header checksum), source at 8, destination at 24.
- Extension headers (RFC 8200 section 4) are walked to find the upper layer: hop-by-hop
  options (only right after the header, 4.3), routing (4.4), fragment (4.5, fixed 8
  bytes), destination options (4.6), each (length + 1) x 8 bytes; the authentication
  header (RFC 4302 section 2.2) is (length + 2) x 4 bytes. ESP (RFC 4303) and "no next
  header" (59) end the walk. A chain longer than MAX_EXT_HEADERS, or one that runs past
  the packet, is malformed; an option that runs past its header too (RFC 8200 4.2).
- The hop-by-hop Router Alert option (RFC 2711, value 0: MLD) is noted: MLD messages carry
  it (RFC 3810 section 5).
- Multicast scope is the low nibble of the address's second byte (RFC 4291 section 2.7,
  RFC 7346): 1 interface-local, 2 link-local; flags are the high nibble.
- A group's Ethernet destination is 33:33 followed by its low 32 bits (RFC 2464 section 7).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from .reasons import DropReason

ETHERTYPE_IPV6: Final = 0x86DD
IPV6_HLEN: Final = 40
#: offsets in the frame (after 14 bytes of Ethernet)
HOP_LIMIT: Final = 14 + 7
SRC: Final = 14 + 8
DST: Final = 14 + 24
UPPER: Final = 14 + IPV6_HLEN

HOP_BY_HOP: Final = 0
ROUTING: Final = 43
FRAGMENT: Final = 44
ESP: Final = 50
AUTH: Final = 51
NO_NEXT: Final = 59
DEST_OPTIONS: Final = 60
ICMPV6: Final = 58
UDP: Final = 17
#: extension headers followed before the upper layer is found; more is refused (a chain
#: of many small headers costs a forwarder per packet, RFC 8504 section 5.3 lets a node
#: limit it)
MAX_EXT_HEADERS: Final = 8
_EXTENSIONS: Final = frozenset({HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTIONS, AUTH})

PAD1: Final = 0
ROUTER_ALERT: Final = 5  # RFC 2711
SCOPE_INTERFACE: Final = 1
SCOPE_LINK: Final = 2

_MAC_PREFIX: Final = b"\x33\x33"


class Ipv6Packet(NamedTuple):
    """What the forwarder needs of a well-formed IPv6 multicast frame."""

    end: int  #: where the packet ends in the frame
    upper: int  #: the upper-layer protocol (NO_NEXT when there is none; ESP: opaque)
    upper_at: int  #: its offset in the frame
    fragment: bool  #: a fragment header was on the way (its upper layer may be absent)
    router_alert: bool  #: hop-by-hop Router Alert present (RFC 2711)


def frame_problem6(frame: bytes, n: int) -> DropReason | Ipv6Packet:
    """Why `frame` (of length `n`, ethertype already IPv6) is no forwardable IPv6
    multicast packet, or what it is."""
    if n < UPPER:
        return DropReason.TRUNCATED
    if frame[14] >> 4 != 6:
        return DropReason.BAD_VERSION
    length = (frame[18] << 8) | frame[19]
    if length == 0:
        return DropReason.BAD_LENGTH  # a jumbogram, or nothing at all
    end = UPPER + length
    if end > n:
        return DropReason.TRUNCATED
    if frame[DST] != 0xFF:
        return DropReason.NOT_MULTICAST
    if bad_source(frame):
        return DropReason.BAD_SOURCE
    return walk(frame, end)


def bad_source(frame: bytes) -> bool:
    """A multicast or loopback source (RFC 4291 sections 2.5.3 and 2.7: neither may send).
    The unspecified address is let through: MLD reports may come from it (RFC 3810
    section 5.2.13), and the forwarder refuses it for data itself."""
    if frame[SRC] == 0xFF:
        return True
    return frame[SRC : SRC + 15] == bytes(15) and frame[SRC + 15] == 1


def walk(frame: bytes, end: int) -> DropReason | Ipv6Packet:
    """Follow the extension headers from the fixed header to the upper layer."""
    nxt = frame[14 + 6]
    at = UPPER
    fragment = alert = False
    for i in range(MAX_EXT_HEADERS + 1):
        if nxt not in _EXTENSIONS:
            return Ipv6Packet(end, nxt, at, fragment, alert)
        if i == MAX_EXT_HEADERS:
            break
        if nxt == HOP_BY_HOP and at != UPPER:
            return DropReason.BAD_EXT_HEADER  # RFC 8200 4.1: only right after the header
        if at + 8 > end:
            return DropReason.BAD_EXT_HEADER
        if nxt == FRAGMENT:
            size = 8
            fragment = True
        elif nxt == AUTH:
            size = (frame[at + 1] + 2) * 4
        else:
            size = (frame[at + 1] + 1) * 8
        if at + size > end:
            return DropReason.BAD_EXT_HEADER
        if nxt in (HOP_BY_HOP, DEST_OPTIONS):
            found = _options(frame, at + 2, at + size)
            if found is None:
                return DropReason.BAD_EXT_HEADER
            alert = alert or (nxt == HOP_BY_HOP and found)
        nxt = frame[at]
        at += size
    return DropReason.BAD_EXT_HEADER


def _options(frame: bytes, at: int, stop: int) -> bool | None:
    """Walk the TLV options in frame[at:stop] (RFC 8200 4.2): None if one runs past the
    header, else whether a Router Alert was among them."""
    alert = False
    while at < stop:
        kind = frame[at]
        if kind == PAD1:
            at += 1
            continue
        if at + 2 > stop:
            return None
        size = frame[at + 1]
        if at + 2 + size > stop:
            return None
        if kind == ROUTER_ALERT and size == 2:
            alert = True
        at += 2 + size
    return alert


def scope(group: bytes) -> int:
    """The scope nibble of multicast address `group` (16 bytes)."""
    return group[1] & 0x0F


def is_link_scoped(group: bytes) -> bool:
    """Interface- or link-local (RFC 4291 2.7, any flags; scope 0 is reserved and treated
    alike): never forwarded unless a route names a group inside that scope."""
    return scope(group) <= SCOPE_LINK


def group_mac6(group: bytes) -> bytes:
    """The Ethernet destination for IPv6 group `group` (RFC 2464 section 7)."""
    return _MAC_PREFIX + group[12:16]


def ipv6_header(
    src: bytes, dst: bytes, payload_len: int, *, next_header: int = UDP, hop_limit: int = 64
) -> bytes:
    """A 40-byte IPv6 header (traffic class and flow label zero)."""
    return (
        bytes([0x60, 0, 0, 0])
        + payload_len.to_bytes(2, "big")
        + bytes([next_header, hop_limit])
        + src
        + dst
    )


#: where the checksum sits in each upper layer whose checksum offload may leave unfinished
_L4_CSUM_OFFSET: Final = {UDP: 6, 6: 16, ICMPV6: 2}


def complete_l4_checksum6(frame: bytes) -> bytes:
    """`wire.complete_l4_checksum` for IPv6: the UDP, TCP or ICMPv6 checksum over the IPv6
    pseudo-header (RFC 8200 section 8.1) and the upper-layer packet; a UDP result of 0 is
    sent as 0xFFFF. Anything not whole and well-formed (a fragment too) is returned as is."""
    n = len(frame)
    if n < UPPER:
        return frame
    end = UPPER + ((frame[18] << 8) | frame[19])
    if end > n or end == UPPER:
        return frame
    found = walk(frame, end)
    if not isinstance(found, Ipv6Packet) or found.fragment:
        return frame
    offset = _L4_CSUM_OFFSET.get(found.upper)
    at = found.upper_at
    if offset is None or end - at < offset + 2:
        return frame
    segment = bytearray(frame[at:end])
    segment[offset : offset + 2] = b"\x00\x00"
    pseudo = frame[SRC : DST + 16] + len(segment).to_bytes(4, "big") + bytes((0, 0, 0, found.upper))
    data = pseudo + bytes(segment)
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    csum = ~total & 0xFFFF
    if csum == 0 and found.upper == UDP:
        csum = 0xFFFF
    segment[offset : offset + 2] = csum.to_bytes(2, "big")
    return frame[:at] + bytes(segment) + frame[end:]
