"""MLD messages (RFC 2710 MLDv1, RFC 3810 MLDv2): parsed from and built to bytes, nothing
else; the IPv6 counterpart of `igmp`, into the very same message types, so that one
membership and querier machine serves both.

Theory of operation:

- ICMPv6 types: query 130 (v1 and v2 told apart by length, RFC 3810 section 8.1), v1
  report 131, v1 done 132, v2 report 143. The machine's versions stand for MLD's as RFC
  3810 section 8 pairs them: version 2 is MLDv1 (reports and leaves, like IGMPv2),
  version 3 is MLDv2 (source lists and filter modes, like IGMPv3).
- Maximum Response Code (RFC 3810 5.1.3) is milliseconds: below 32768 a plain number,
  else a float with a 3-bit exponent and 12-bit mantissa, (mant | 0x1000) << (exp + 3).
  QQIC (5.1.9) is IGMP's 8-bit code, in seconds.
- The checksum covers an IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200 8.1), so
  parsing and building take the packet's addresses.
- Sent messages go in an IPv6 packet from a link-local address with hop limit 1 and a
  hop-by-hop Router Alert (RFC 2711, value 0: MLD), as RFC 3810 section 5 requires;
  `check` says why a received one lacks what RFC 3810 5.1.14 / 5.2.13 demand.

`parse` never raises: a `BadIgmp` names what is wrong, to be counted and ignored.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from ..core.addr import V6, from_packed
from ..core.wire6 import HOP_LIMIT, SRC, Ipv6Packet, ipv6_header
from .igmp import (
    BadIgmp,
    GroupRecord,
    Message,
    Query,
    RecordType,
    Report,
    V3Report,
    decode_code,
    encode_code,
)

ICMPV6: Final = 58
HOP_BY_HOP: Final = 0
ALL_NODES: Final = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS: Final = bytes.fromhex("ff020000000000000000000000000002")
MLDV2_ROUTERS: Final = bytes.fromhex("ff020000000000000000000000000016")
#: hop-by-hop header for sent messages: next header ICMPv6, length 0 (8 bytes), Router
#: Alert with value 0 (MLD, RFC 2711), PadN of 0 bytes
_HBH: Final = bytes((ICMPV6, 0, 5, 2, 0, 0, 1, 0))
_LOW128: Final = V6 - 1


class MldType(IntEnum):
    QUERY = 130
    V1_REPORT = 131
    DONE = 132
    V2_REPORT = 143


def decode_max_resp(code: int) -> int:
    """Maximum Response Code to milliseconds (RFC 3810 section 5.1.3)."""
    if code < 0x8000:
        return code
    return ((code & 0x0FFF) | 0x1000) << (((code >> 12) & 0x07) + 3)


def encode_max_resp(ms: int) -> int:
    """The code for `ms` milliseconds, rounded down where the float cannot say it."""
    if ms < 0x8000:
        return max(0, ms)
    if ms >= 0x1FFF << 10:  # the largest the float says: 8387584 ms
        return 0xFFFF
    exp = 0
    while ms >> (exp + 3) > 0x1FFF:
        exp += 1
    return 0x8000 | (exp << 12) | ((ms >> (exp + 3)) - 0x1000)


def checksum(src: bytes, dst: bytes, message: bytes) -> int:
    """The ICMPv6 checksum of `message` (its own checksum field as it is) from src to dst."""
    data = src + dst + len(message).to_bytes(4, "big") + bytes((0, 0, 0, ICMPV6)) + message
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _group(data: bytes, at: int) -> int:
    return from_packed(data[at : at + 16])


def _multicast(group: int) -> bool:
    return group >= V6 and (group & _LOW128) >> 120 == 0xFF


def parse(data: bytes, src: bytes, dst: bytes) -> Message | BadIgmp:
    """The MLD message in `data` (the ICMPv6 message) sent from `src` to `dst`."""
    if len(data) < 24:
        return BadIgmp("truncated")
    kind = data[0]
    if kind not in MldType._value2member_map_:
        return BadIgmp("unknown_type")
    if kind == MldType.V2_REPORT:
        return _parse_v2_report(data, src, dst)
    if kind == MldType.QUERY and len(data) >= 28:
        return _parse_v2_query(data, src, dst)
    if checksum(src, dst, data[:24]) != 0:
        return BadIgmp("bad_checksum")
    group = _group(data, 8)
    if kind == MldType.QUERY:
        if group != V6 and not _multicast(group):
            return BadIgmp("bad_group")
        max_resp = int.from_bytes(data[4:6], "big") / 1000
        return Query(version=2, group=0 if group == V6 else group, max_resp=max_resp)
    if not _multicast(group):
        return BadIgmp("bad_group")
    return Report(version=2, group=group, leave=kind == MldType.DONE)


def _parse_v2_query(data: bytes, src: bytes, dst: bytes) -> Query | BadIgmp:
    count = int.from_bytes(data[26:28], "big")
    end = 28 + 16 * count
    if len(data) < end:
        return BadIgmp("truncated")
    if checksum(src, dst, data) != 0 and checksum(src, dst, data[:end]) != 0:
        return BadIgmp("bad_checksum")
    group = _group(data, 8)
    if group != V6 and not _multicast(group):
        return BadIgmp("bad_group")
    return Query(
        version=3,
        group=0 if group == V6 else group,
        max_resp=decode_max_resp(int.from_bytes(data[4:6], "big")) / 1000,
        sources=tuple(_group(data, 28 + 16 * i) for i in range(count)),
        suppress=bool(data[24] & 0x08),
        qrv=data[24] & 0x07,
        qqi=decode_code(data[25]),
    )


def _parse_v2_report(data: bytes, src: bytes, dst: bytes) -> V3Report | BadIgmp:
    count = int.from_bytes(data[6:8], "big")
    records = []
    offset = 8
    for _ in range(count):
        if len(data) < offset + 20:
            return BadIgmp("truncated")
        kind, aux = data[offset], data[offset + 1]
        nsrc = int.from_bytes(data[offset + 2 : offset + 4], "big")
        end = offset + 20 + 16 * nsrc + 4 * aux
        if len(data) < end:
            return BadIgmp("truncated")
        group = _group(data, offset + 4)
        if kind in RecordType._value2member_map_:  # others are ignored (RFC 3810 5.2.12)
            if not _multicast(group):
                return BadIgmp("bad_group")
            sources = tuple(_group(data, offset + 20 + 16 * i) for i in range(nsrc))
            records.append(GroupRecord(RecordType(kind), group, sources))
        offset = end
    if checksum(src, dst, data[:offset]) != 0:
        return BadIgmp("bad_checksum")
    return V3Report(tuple(records))


def _packed(value: int) -> bytes:
    return (value & _LOW128).to_bytes(16, "big")


def build(message: Message, src: bytes, dst: bytes) -> bytes:
    """The bytes of `message` (versions as in the module docstring), checksum included."""
    if isinstance(message, Query):
        group = _packed(message.group)
        if message.version == 3:
            qrv = message.qrv if message.qrv <= 7 else 0  # RFC 3810 5.1.8: 0 above 7
            code = encode_max_resp(round(message.max_resp * 1000))
            body = (
                bytes((MldType.QUERY, 0, 0, 0))
                + code.to_bytes(2, "big")
                + bytes(2)
                + group
                + bytes(((0x08 if message.suppress else 0) | qrv, encode_code(message.qqi)))
                + len(message.sources).to_bytes(2, "big")
                + b"".join(_packed(s) for s in message.sources)
            )
        else:
            ms = min(0xFFFF, round(message.max_resp * 1000))
            body = bytes((MldType.QUERY, 0, 0, 0)) + ms.to_bytes(2, "big") + bytes(2) + group
    elif isinstance(message, Report):
        kind = MldType.DONE if message.leave else MldType.V1_REPORT
        body = bytes((kind, 0, 0, 0, 0, 0, 0, 0)) + _packed(message.group)
    else:
        records = b"".join(
            bytes((r.kind, 0))
            + len(r.sources).to_bytes(2, "big")
            + _packed(r.group)
            + b"".join(_packed(s) for s in r.sources)
            for r in message.records
        )
        body = bytes((MldType.V2_REPORT, 0, 0, 0, 0, 0)) + len(message.records).to_bytes(2, "big")
        body += records
    csum = checksum(src, dst, body)
    return body[:2] + csum.to_bytes(2, "big") + body[4:]


def ip_packet(src: bytes, dst: bytes, message: bytes) -> bytes:
    """`message` in an IPv6 packet as MLD sends it: hop limit 1, Router Alert."""
    return ipv6_header(src, dst, len(_HBH) + len(message), next_header=HOP_BY_HOP, hop_limit=1) + (
        _HBH + message
    )


def check(frame: bytes, found: Ipv6Packet, kind: int) -> str | None:
    """Why a received MLD message of type `kind` must be ignored (a counter name), or
    None: hop limit not 1, no Router Alert, or a source that is not link-local (RFC 3810
    5.1.14, 5.2.13; a report may come from :: while its sender has no address yet)."""
    if frame[HOP_LIMIT] != 1:
        return "bad_hop_limit"
    if not found.router_alert:
        return "no_router_alert"
    src = frame[SRC : SRC + 16]
    if src[0] == 0xFE and src[1] & 0xC0 == 0x80:
        return None
    if kind != MldType.QUERY and src == bytes(16):
        return None
    return "not_link_local"
