"""PIM messages, IPv4: PIM-SM's (RFC 7761 section 4.9) and PIM-DM's Graft, Graft-Ack and
State Refresh (RFC 3973 section 4.7); parsed from and built to bytes, nothing else.

Theory of operation:

- Every message starts with the PIM header: version 2, type, reserved, checksum (section
  4.9). The checksum is the Internet checksum over the whole PIM message, except for a
  Register, whose checksum covers only its first 8 bytes (the header and the flags word,
  section 4.9.3): the data packet it carries is not summed.
- Addresses are encoded with their family and encoding type (section 4.9.1): encoded
  unicast (family 1 = IPv4, type 0, address), encoded group (flags B and Z, mask length)
  and encoded source (flags S, W, R, mask length).
- Hello options are TLVs (section 4.9.2): holdtime (1), LAN prune delay (2), DR priority
  (19), generation ID (20), State Refresh capable (21, RFC 3973 4.7.5), address list
  (24); options this router does not know are skipped, as the RFC asks.
- A Graft and a Graft-Ack have the Join/Prune's layout (RFC 3973 4.7.8, 4.7.9); a State
  Refresh carries the originator's route metrics toward S and the P, N, O bits (4.7.10).
- Sent messages go to ALL-PIM-ROUTERS (224.0.0.13) with TTL 1 (section 4.9), but Register
  and Register-Stop, which are unicast between the DR and the RP, and Graft and Graft-Ack,
  unicast between neighbours.

`parse` never raises on bad input: it returns a `BadPim` naming what is wrong, which the
caller counts per interface and ignores.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from ..core.wire import internet_checksum, ipv4_header

PIM_PROTO: Final = 103  #: IP protocol number of PIM
ALL_PIM_ROUTERS: Final = 0xE000000D  #: 224.0.0.13 (RFC 7761 section 4.9)
_IPV4: Final = 1  #: address family number of IPv4 (IANA), as encoded addresses carry it
_FAMILY_SIZE: Final = {1: 4, 2: 16}  #: address bytes of IPv4 and IPv6 (IANA families)


class PimType(IntEnum):
    """PIM message types (RFC 7761 section 4.9, RFC 3973 section 4.7)."""

    HELLO = 0
    REGISTER = 1
    REGISTER_STOP = 2
    JOIN_PRUNE = 3
    BOOTSTRAP = 4
    ASSERT = 5
    GRAFT = 6  #: dense mode (RFC 3973)
    GRAFT_ACK = 7  #: dense mode (RFC 3973)
    CANDIDATE_RP = 8
    STATE_REFRESH = 9  #: dense mode (RFC 3973 section 4.7.1)


class HelloOption(IntEnum):
    """Hello option types this router reads and writes (RFC 7761 section 4.9.2)."""

    HOLDTIME = 1
    LAN_PRUNE_DELAY = 2
    DR_PRIORITY = 19
    GENERATION_ID = 20
    STATE_REFRESH = 21  #: RFC 3973 section 4.7.5
    ADDRESS_LIST = 24


#: the length each fixed-size Hello option must have (section 4.9.2)
_OPTION_SIZE: Final = {
    HelloOption.HOLDTIME: 2,
    HelloOption.DR_PRIORITY: 4,
    HelloOption.GENERATION_ID: 4,
    HelloOption.LAN_PRUNE_DELAY: 4,
    HelloOption.STATE_REFRESH: 4,
}


@dataclass(frozen=True, slots=True)
class Hello:
    """A Hello (section 4.9.2); None where the option was absent.

    A holdtime of 0xFFFF means "never time out", 0 "forget me now" (section 4.3.1)."""

    holdtime: int | None = None
    dr_priority: int | None = None  #: absent: the neighbour cannot be elected by priority
    generation_id: int | None = None
    #: (T bit, propagation delay ms, override interval ms), section 4.9.2
    lan_prune_delay: tuple[bool, int, int] | None = None
    secondary: tuple[int, ...] = ()  #: the address list option's addresses
    #: State Refresh capable (RFC 3973 4.7.5): the sender's State Refresh interval, s
    state_refresh: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """An encoded source of a Join/Prune (section 4.9.1): S (sparse), W (wildcard: the RP
    tree) and R (RPT: toward the RP) flags."""

    address: int
    wildcard: bool = False
    rpt: bool = False
    sparse: bool = True
    mask_len: int = 32


@dataclass(frozen=True, slots=True)
class GroupSet:
    """One group of a Join/Prune: the sources joined and pruned for it."""

    group: int
    joins: tuple[Source, ...] = ()
    prunes: tuple[Source, ...] = ()
    mask_len: int = 32


@dataclass(frozen=True, slots=True)
class JoinPrune:
    """A Join/Prune (section 4.9.5): meant for `upstream`, seen by every router on the LAN
    (join suppression and prune override, section 4.5.4)."""

    upstream: int
    holdtime: int
    groups: tuple[GroupSet, ...] = ()


@dataclass(frozen=True, slots=True)
class Register:
    """A Register (section 4.9.3): the first-hop DR's copy of a data packet for the RP.

    `null`: a Null-Register (N bit), sent to probe whether the RP still wants the flow; its
    inner packet is an IP header alone. `border` is the B bit (must be 0, section 4.9.3)."""

    packet: bytes
    null: bool = False
    border: bool = False


@dataclass(frozen=True, slots=True)
class RegisterStop:
    """A Register-Stop (section 4.9.4): the RP asks the DR to stop registering (S,G)."""

    group: int
    source: int


@dataclass(frozen=True, slots=True)
class Assert:
    """An Assert (section 4.9.6); `source` 0 with `rpt` set is an (*,G) assert."""

    group: int
    source: int
    rpt: bool
    preference: int  #: metric preference (31 bits), lower wins
    metric: int  #: route metric, lower wins


@dataclass(frozen=True, slots=True)
class Graft:
    """A Graft (RFC 3973 4.7.8), or with `ack` a Graft-Ack (4.7.9): a Join/Prune's layout,
    the sources in the join lists, unicast to the upstream neighbour (and back)."""

    upstream: int
    groups: tuple[GroupSet, ...] = ()
    ack: bool = False
    holdtime: int = 0  #: SHOULD be 0, ignored on receipt


@dataclass(frozen=True, slots=True)
class StateRefresh:
    """A State Refresh (RFC 3973 4.7.10): the first-hop router's word that S still sends,
    passed hop by hop down the tree; `prune` (P) says the interface it went out on is
    pruned, `prune_now` (N) and `assert_override` (O) are advisory."""

    group: int
    source: int
    originator: int
    preference: int  #: the sender's metric preference toward S (31 bits)
    metric: int
    mask_len: int
    ttl: int  #: hops left for the message itself (not the IP TTL)
    prune: bool
    prune_now: bool
    assert_override: bool
    interval: int  #: the originator's State Refresh interval, s


Message = Hello | JoinPrune | Register | RegisterStop | Assert | Graft | StateRefresh


@dataclass(frozen=True, slots=True)
class BadPim:
    """Why bytes are not a usable PIM message: counted and ignored, never raised."""

    #: a counter name: truncated, bad_version, bad_checksum, bad_address, bad_option,
    #: unknown_type (a type this router does not act on)
    reason: str
    kind: int | None = field(default=None)  #: the type, where the header was readable


def _unicast(data: bytes, at: int) -> int | None:
    """The IPv4 address of an encoded unicast address at `data[at]` (6 bytes)."""
    if data[at] != _IPV4 or data[at + 1] != 0:
        return None
    return int.from_bytes(data[at + 2 : at + 6], "big")


def _group(data: bytes, at: int) -> tuple[int, int] | None:
    """(group, mask length) of an encoded group address at `data[at]` (8 bytes)."""
    if data[at] != _IPV4 or data[at + 1] != 0 or data[at + 3] > 32:
        return None
    return int.from_bytes(data[at + 4 : at + 8], "big"), data[at + 3]


def _source(data: bytes, at: int) -> Source | None:
    """The encoded source address at `data[at]` (8 bytes)."""
    if data[at] != _IPV4 or data[at + 1] != 0 or data[at + 3] > 32:
        return None
    flags = data[at + 2]
    return Source(
        address=int.from_bytes(data[at + 4 : at + 8], "big"),
        sparse=bool(flags & 4),
        wildcard=bool(flags & 2),
        rpt=bool(flags & 1),
        mask_len=data[at + 3],
    )


def parse(data: bytes) -> Message | BadPim:
    """The PIM message in `data` (the IP payload), or why there is none."""
    if len(data) < 4:
        return BadPim("truncated")
    if data[0] >> 4 != 2:
        return BadPim("bad_version")
    kind = data[0] & 0x0F
    if kind == PimType.REGISTER:
        if len(data) < 8:
            return BadPim("truncated", kind)
        if internet_checksum(data[:8]) != 0 and internet_checksum(data) != 0:
            # section 4.9.3: over the first 8 bytes; some implementations sum it all
            return BadPim("bad_checksum", kind)
        return Register(bytes(data[8:]), null=bool(data[4] & 0x40), border=bool(data[4] & 0x80))
    if internet_checksum(data) != 0:
        return BadPim("bad_checksum", kind)
    try:
        if kind == PimType.HELLO:
            return _parse_hello(data)
        if kind == PimType.JOIN_PRUNE:
            return _parse_join_prune(data)
        if kind == PimType.ASSERT:
            return _parse_assert(data)
        if kind == PimType.REGISTER_STOP:
            return _parse_register_stop(data)
        if kind in (PimType.GRAFT, PimType.GRAFT_ACK):
            found = _parse_join_prune(data, PimType(kind))
            if isinstance(found, BadPim):
                return found
            return Graft(found.upstream, found.groups, kind == PimType.GRAFT_ACK, found.holdtime)
        if kind == PimType.STATE_REFRESH:
            return _parse_state_refresh(data)
    except IndexError:
        return BadPim("truncated", kind)
    return BadPim("unknown_type", kind)


def _parse_hello(data: bytes) -> Hello | BadPim:
    at = 4
    holdtime = priority = genid = refresh = None
    prune_delay: tuple[bool, int, int] | None = None
    secondary: list[int] = []
    while at + 4 <= len(data):
        option, length = struct.unpack_from("!HH", data, at)
        value = data[at + 4 : at + 4 + length]
        if len(value) < length:
            return BadPim("truncated", PimType.HELLO)
        at += 4 + length
        size = _OPTION_SIZE.get(option)
        if size is not None and length != size:
            return BadPim("bad_option", PimType.HELLO)
        if option == HelloOption.HOLDTIME:
            holdtime = int.from_bytes(value, "big")
        elif option == HelloOption.DR_PRIORITY:
            priority = int.from_bytes(value, "big")
        elif option == HelloOption.GENERATION_ID:
            genid = int.from_bytes(value, "big")
        elif option == HelloOption.LAN_PRUNE_DELAY:
            delay, override = struct.unpack("!HH", value)
            prune_delay = (bool(delay & 0x8000), delay & 0x7FFF, override)
        elif option == HelloOption.ADDRESS_LIST:
            secondary.extend(_address_list(value))
        elif option == HelloOption.STATE_REFRESH:
            refresh = value[1]  # version (1), interval, reserved
        # any other option is skipped (section 4.9.2: unknown options are ignored)
    if at != len(data):
        return BadPim("truncated", PimType.HELLO)
    return Hello(holdtime, priority, genid, prune_delay, tuple(secondary), refresh)


def _address_list(value: bytes) -> list[int]:
    """The IPv4 addresses of an address list option. It may hold other families too (FRR
    lists its IPv6 addresses there): those are skipped by their length; an entry of a
    family whose length is unknown ends the list (the rest cannot be told apart)."""
    found = []
    at = 0
    while at + 2 <= len(value):
        family, encoding = value[at], value[at + 1]
        size = _FAMILY_SIZE.get(family)
        if size is None or encoding != 0 or at + 2 + size > len(value):
            break
        if family == _IPV4:
            found.append(int.from_bytes(value[at + 2 : at + 6], "big"))
        at += 2 + size
    return found


def _parse_join_prune(data: bytes, kind: PimType = PimType.JOIN_PRUNE) -> JoinPrune | BadPim:
    if len(data) < 14:
        return BadPim("truncated", kind)
    upstream = _unicast(data, 4)
    if upstream is None:
        return BadPim("bad_address", kind)
    ngroups = data[11]
    holdtime = int.from_bytes(data[12:14], "big")
    at = 14
    groups = []
    for _ in range(ngroups):
        if len(data) < at + 12:
            return BadPim("truncated", kind)
        found = _group(data, at)
        if found is None:
            return BadPim("bad_address", kind)
        njoin, nprune = struct.unpack_from("!HH", data, at + 8)
        at += 12
        if len(data) < at + 8 * (njoin + nprune):
            return BadPim("truncated", kind)
        lists: list[list[Source]] = [[], []]
        for i in range(njoin + nprune):
            source = _source(data, at)
            if source is None:
                return BadPim("bad_address", kind)
            lists[i >= njoin].append(source)
            at += 8
        groups.append(GroupSet(found[0], tuple(lists[0]), tuple(lists[1]), found[1]))
    return JoinPrune(upstream, holdtime, tuple(groups))


def _parse_assert(data: bytes) -> Assert | BadPim:
    if len(data) < 26:
        return BadPim("truncated", PimType.ASSERT)
    found = _group(data, 4)
    source = _unicast(data, 12)
    if found is None or source is None:
        return BadPim("bad_address", PimType.ASSERT)
    preference, metric = struct.unpack_from("!II", data, 18)
    return Assert(found[0], source, bool(preference >> 31), preference & 0x7FFFFFFF, metric)


def _parse_state_refresh(data: bytes) -> StateRefresh | BadPim:
    kind = PimType.STATE_REFRESH
    if len(data) < 36:
        return BadPim("truncated", kind)
    found = _group(data, 4)
    source, originator = _unicast(data, 12), _unicast(data, 18)
    if found is None or source is None or originator is None:
        return BadPim("bad_address", kind)
    preference, metric = struct.unpack_from("!II", data, 24)
    mask_len, ttl, flags, interval = data[32:36]
    return StateRefresh(
        found[0],
        source,
        originator,
        preference & 0x7FFFFFFF,
        metric,
        mask_len,
        ttl,
        prune=bool(flags & 0x80),
        prune_now=bool(flags & 0x40),
        assert_override=bool(flags & 0x20),
        interval=interval,
    )


def _parse_register_stop(data: bytes) -> RegisterStop | BadPim:
    if len(data) < 18:
        return BadPim("truncated", PimType.REGISTER_STOP)
    found = _group(data, 4)
    source = _unicast(data, 12)
    if found is None or source is None:
        return BadPim("bad_address", PimType.REGISTER_STOP)
    return RegisterStop(found[0], source)


def _encode_unicast(address: int) -> bytes:
    return struct.pack("!BBI", _IPV4, 0, address)


def _encode_group(group: int, mask_len: int = 32) -> bytes:
    return struct.pack("!BBBBI", _IPV4, 0, 0, mask_len, group)


def _encode_source(source: Source) -> bytes:
    flags = (4 if source.sparse else 0) | (2 if source.wildcard else 0) | (1 if source.rpt else 0)
    return struct.pack("!BBBBI", _IPV4, 0, flags, source.mask_len, source.address)


def _with_header(kind: PimType, body: bytes, summed: int | None = None) -> bytes:
    """Header + body, the checksum over the first `summed` bytes (all when None)."""
    message = bytes((0x20 | kind, 0, 0, 0)) + body
    csum = internet_checksum(message if summed is None else message[:summed])
    return message[:2] + csum.to_bytes(2, "big") + message[4:]


def build(message: Message) -> bytes:
    """The bytes of `message`, checksum included."""
    if isinstance(message, Hello):
        options = b""
        if message.holdtime is not None:
            options += struct.pack("!HHH", HelloOption.HOLDTIME, 2, message.holdtime)
        if message.lan_prune_delay is not None:
            t_bit, delay, override = message.lan_prune_delay
            value = (0x8000 if t_bit else 0) | (delay & 0x7FFF)
            options += struct.pack("!HHHH", HelloOption.LAN_PRUNE_DELAY, 4, value, override)
        if message.dr_priority is not None:
            options += struct.pack("!HHI", HelloOption.DR_PRIORITY, 4, message.dr_priority)
        if message.generation_id is not None:
            options += struct.pack("!HHI", HelloOption.GENERATION_ID, 4, message.generation_id)
        if message.state_refresh is not None:
            # version 1, the interval, 16 reserved bits
            refresh = struct.pack(
                "!HHBBH", HelloOption.STATE_REFRESH, 4, 1, message.state_refresh, 0
            )
            options += refresh
        if message.secondary:
            addresses = b"".join(_encode_unicast(a) for a in message.secondary)
            options += struct.pack("!HH", HelloOption.ADDRESS_LIST, len(addresses)) + addresses
        return _with_header(PimType.HELLO, options)
    if isinstance(message, JoinPrune | Graft):
        body = _encode_unicast(message.upstream) + struct.pack(
            "!BBH", 0, len(message.groups), message.holdtime
        )
        for g in message.groups:
            body += _encode_group(g.group, g.mask_len)
            body += struct.pack("!HH", len(g.joins), len(g.prunes))
            body += b"".join(_encode_source(s) for s in g.joins + g.prunes)
        if isinstance(message, JoinPrune):
            return _with_header(PimType.JOIN_PRUNE, body)
        return _with_header(PimType.GRAFT_ACK if message.ack else PimType.GRAFT, body)
    if isinstance(message, StateRefresh):
        flags = (
            (0x80 if message.prune else 0)
            | (0x40 if message.prune_now else 0)
            | (0x20 if message.assert_override else 0)
        )
        body = (
            _encode_group(message.group)
            + _encode_unicast(message.source)
            + _encode_unicast(message.originator)
            + struct.pack("!II", message.preference & 0x7FFFFFFF, message.metric)
            + bytes((message.mask_len, message.ttl, flags, message.interval))
        )
        return _with_header(PimType.STATE_REFRESH, body)
    if isinstance(message, Register):
        flags = (0x80 if message.border else 0) | (0x40 if message.null else 0)
        return _with_header(PimType.REGISTER, bytes((flags, 0, 0, 0)) + message.packet, 8)
    if isinstance(message, RegisterStop):
        body = _encode_group(message.group) + _encode_unicast(message.source)
        return _with_header(PimType.REGISTER_STOP, body)
    preference = (0x80000000 if message.rpt else 0) | (message.preference & 0x7FFFFFFF)
    body = (
        _encode_group(message.group)
        + _encode_unicast(message.source)
        + struct.pack("!II", preference, message.metric)
    )
    return _with_header(PimType.ASSERT, body)


def ip_packet(source: int, destination: int, message: bytes, *, ttl: int = 1) -> bytes:
    """`message` in an IPv4 packet: TTL 1 to ALL-PIM-ROUTERS (section 4.9), a unicast TTL
    for Register and Register-Stop; DSCP CS6 (internetwork control) as routers send it."""
    header = ipv4_header(
        source.to_bytes(4, "big"),
        destination.to_bytes(4, "big"),
        ttl=ttl,
        proto=PIM_PROTO,
        payload_len=len(message),
        tos=0xC0,
    )
    return header + message
