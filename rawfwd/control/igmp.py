"""IGMP messages (RFC 2236, RFC 3376): parsed from and built to bytes, nothing else.

Theory of operation:

- Types (RFC 3376 section 4, RFC 2236 section 2): membership query 0x11 (v1, v2 and v3
  share it and are told apart by length and Max Resp Code, RFC 3376 section 7.1), v1
  report 0x12, v2 report 0x16, v2 leave 0x17, v3 report 0x22.
- Max Resp Code and QQIC (RFC 3376 sections 4.1.1 and 4.1.7): below 128 a plain number,
  else a float with a 3-bit exponent and 4-bit mantissa, (mant | 0x10) << (exp + 3).
- Every message carries the Internet checksum over the whole IGMP message (RFC 1071).
- Sent messages go in an IPv4 packet with TTL 1 and the Router Alert option (RFC 2113,
  RFC 3376 section 4): `ip_packet` builds it.

`parse` never raises on bad input: it returns an `BadIgmp` naming what is wrong, which
the caller counts and ignores (RFC 3376 section 4.1.12 and 4.2.14 tolerance rules: extra
bytes after a message are ignored, reserved fields are not checked).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..core.wire import internet_checksum, ipv4_header

IGMP_PROTO: Final = 2
ALL_SYSTEMS: Final = 0xE0000001  #: 224.0.0.1: general queries go here
ALL_ROUTERS: Final = 0xE0000002  #: 224.0.0.2: v2 leaves go here
IGMPV3_ROUTERS: Final = 0xE0000016  #: 224.0.0.22: v3 reports go here
ROUTER_ALERT: Final = bytes((148, 4, 0, 0))  #: RFC 2113: type 148, length 4, value 0


class IgmpType(IntEnum):
    """The IGMP message types a router handles (RFC 3376 section 4, RFC 2236 section 2)."""

    QUERY = 0x11  #: membership query, any version
    V1_REPORT = 0x12  #: IGMPv1 membership report (RFC 1112)
    V2_REPORT = 0x16  #: IGMPv2 membership report (RFC 2236)
    LEAVE = 0x17  #: IGMPv2 leave group (RFC 2236)
    V3_REPORT = 0x22  #: IGMPv3 membership report (RFC 3376 section 4.2)


class RecordType(IntEnum):
    """IGMPv3 group record types (RFC 3376 section 4.2.12)."""

    MODE_IS_INCLUDE = 1  #: current state: INCLUDE these sources
    MODE_IS_EXCLUDE = 2  #: current state: EXCLUDE these sources
    CHANGE_TO_INCLUDE = 3  #: filter mode change to INCLUDE
    CHANGE_TO_EXCLUDE = 4  #: filter mode change to EXCLUDE
    ALLOW_NEW_SOURCES = 5  #: source list change: these are wanted now
    BLOCK_OLD_SOURCES = 6  #: source list change: these are not wanted any more


@dataclass(frozen=True, slots=True)
class Query:
    """A membership query; `group` 0 is a general query (RFC 3376 section 4.1)."""

    version: int  #: 1, 2 or 3, from its shape (RFC 3376 section 7.1)
    group: int
    max_resp: float  #: seconds a host may wait before answering
    sources: tuple[int, ...] = ()  #: v3 group-and-source-specific query
    suppress: bool = False  #: v3 S flag: routers must not lower their timers
    qrv: int = 0  #: v3 querier's robustness variable (0: none given)
    qqi: int = 0  #: v3 querier's query interval, seconds (0: none given)


@dataclass(frozen=True, slots=True)
class Report:
    """A v1 or v2 membership report, or a v2 leave (`leave`)."""

    version: int
    group: int
    leave: bool = False


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """One record of a v3 report (RFC 3376 section 4.2.4)."""

    kind: RecordType
    group: int
    sources: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class V3Report:
    """An IGMPv3 membership report (RFC 3376 section 4.2)."""

    records: tuple[GroupRecord, ...]


Message = Query | Report | V3Report


@dataclass(frozen=True, slots=True)
class BadIgmp:
    """Why bytes are not a usable IGMP message: counted and ignored, never raised."""

    reason: str  #: a counter name: truncated, bad_checksum, unknown_type, bad_group


def decode_code(code: int) -> int:
    """Max Resp Code / QQIC to its value (RFC 3376 sections 4.1.1, 4.1.7)."""
    if code < 128:
        return code
    return ((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3)


def encode_code(value: int) -> int:
    """The code that stands for `value` (RFC 3376 section 4.1.1), rounded down where the
    float cannot say it exactly (a host then answers a little sooner, never later)."""
    if value < 128:
        return max(0, value)
    if value >= 31 << 10:  # the largest the float can say: 31744
        return 0xFF
    exp = 0
    while value >> (exp + 3) > 31:
        exp += 1
    return 0x80 | (exp << 4) | ((value >> (exp + 3)) - 16)


def _multicast(group: int) -> bool:
    return group >> 28 == 0xE


def parse(data: bytes) -> Message | BadIgmp:
    """The IGMP message in `data` (the IP payload), or why there is none."""
    if len(data) < 8:
        return BadIgmp("truncated")
    kind, code = data[0], data[1]
    if kind == IgmpType.V3_REPORT:
        return _parse_v3_report(data)
    if kind not in (IgmpType.QUERY, IgmpType.V1_REPORT, IgmpType.V2_REPORT, IgmpType.LEAVE):
        return BadIgmp("unknown_type")
    if kind == IgmpType.QUERY and len(data) >= 12:
        return _parse_v3_query(data)
    if internet_checksum(data[:8]) != 0:
        return BadIgmp("bad_checksum")
    group = int.from_bytes(data[4:8], "big")
    if kind == IgmpType.QUERY:
        if group and not _multicast(group):
            return BadIgmp("bad_group")
        if code == 0:  # RFC 2236 section 4: a v1 query has Max Resp Time 0 (it means 10 s)
            return Query(version=1, group=0, max_resp=10.0)
        return Query(version=2, group=group, max_resp=code / 10)
    if not _multicast(group):
        return BadIgmp("bad_group")
    if kind == IgmpType.LEAVE:
        return Report(version=2, group=group, leave=True)
    return Report(version=1 if kind == IgmpType.V1_REPORT else 2, group=group)


def _parse_v3_query(data: bytes) -> Query | BadIgmp:
    count = int.from_bytes(data[10:12], "big")
    end = 12 + 4 * count
    if len(data) < end:
        return BadIgmp("truncated")
    if internet_checksum(data) != 0 and internet_checksum(data[:end]) != 0:
        return BadIgmp("bad_checksum")
    group = int.from_bytes(data[4:8], "big")
    if group and not _multicast(group):
        return BadIgmp("bad_group")
    sources = struct.unpack_from(f"!{count}I", data, 12)
    return Query(
        version=3,
        group=group,
        max_resp=decode_code(data[1]) / 10,
        sources=tuple(sources),
        suppress=bool(data[8] & 0x08),
        qrv=data[8] & 0x07,
        qqi=decode_code(data[9]),
    )


def _parse_v3_report(data: bytes) -> V3Report | BadIgmp:
    count = int.from_bytes(data[6:8], "big")
    records = []
    offset = 8
    for _ in range(count):
        if len(data) < offset + 8:
            return BadIgmp("truncated")
        kind, aux = data[offset], data[offset + 1]
        nsrc = int.from_bytes(data[offset + 2 : offset + 4], "big")
        group = int.from_bytes(data[offset + 4 : offset + 8], "big")
        end = offset + 8 + 4 * nsrc + 4 * aux
        if len(data) < end:
            return BadIgmp("truncated")
        if kind not in RecordType._value2member_map_:
            offset = end  # RFC 3376 section 4.2.12: unknown record types are ignored
            continue
        if not _multicast(group):
            return BadIgmp("bad_group")
        sources = struct.unpack_from(f"!{nsrc}I", data, offset + 8)
        records.append(GroupRecord(RecordType(kind), group, tuple(sources)))
        offset = end
    if internet_checksum(data[:offset]) != 0:
        return BadIgmp("bad_checksum")
    return V3Report(tuple(records))


def _with_checksum(message: bytes) -> bytes:
    csum = internet_checksum(message)
    return message[:2] + csum.to_bytes(2, "big") + message[4:]


def build(message: Message) -> bytes:
    """The bytes of `message`, checksum included."""
    if isinstance(message, Query):
        if message.version == 3:
            qrv = message.qrv if message.qrv <= 7 else 0  # RFC 3376 4.1.6: 0 above 7
            flags = (0x08 if message.suppress else 0) | qrv
            body = struct.pack(
                f"!BBHIBBH{len(message.sources)}I",
                IgmpType.QUERY,
                encode_code(round(message.max_resp * 10)),
                0,
                message.group,
                flags,
                encode_code(message.qqi),
                len(message.sources),
                *message.sources,
            )
        else:
            code = 0 if message.version == 1 else min(255, round(message.max_resp * 10))
            body = struct.pack("!BBHI", IgmpType.QUERY, code, 0, message.group)
        return _with_checksum(body)
    if isinstance(message, Report):
        kind = (
            IgmpType.LEAVE
            if message.leave
            else IgmpType.V1_REPORT
            if message.version == 1
            else IgmpType.V2_REPORT
        )
        return _with_checksum(struct.pack("!BBHI", kind, 0, 0, message.group))
    records = b"".join(
        struct.pack(f"!BBHI{len(r.sources)}I", r.kind, 0, len(r.sources), r.group, *r.sources)
        for r in message.records
    )
    head = struct.pack("!BBHHH", IgmpType.V3_REPORT, 0, 0, 0, len(message.records))
    return _with_checksum(head + records)


def ip_packet(source: int, destination: int, message: bytes) -> bytes:
    """`message` in an IPv4 packet as IGMP sends it: TTL 1, Router Alert (RFC 3376 section 4)."""
    header = ipv4_header(
        source.to_bytes(4, "big"),
        destination.to_bytes(4, "big"),
        ttl=1,
        proto=IGMP_PROTO,
        payload_len=len(message),
        options=ROUTER_ALERT,
        tos=0xC0,  # internetwork control, as Linux sends IGMP
    )
    return header + message
