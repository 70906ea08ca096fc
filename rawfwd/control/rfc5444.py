"""RFC 5444 packets (the MANET packet/message format NHDP and OLSRv2 use): decode, encode.

Theory of operation:

- Pure: bytes in, values out, and back. `decode` never raises: a packet that breaks the
  format comes back as a `Malformed` naming the first rule it broke, and the caller counts
  it. The whole packet is refused on any error (RFC 5444 section 6 discards a malformed
  message, and a message that cannot be parsed leaves the rest of the packet unreadable:
  olsrd2 stops there too).
- Layout (RFC 5444 section 5): packet header (version 0 in the high nibble; phasseqnum
  0x08, phastlv 0x04), then messages: type, flags (mhasorig 0x80, mhashoplimit 0x40,
  mhashopcount 0x20, mhasseqnum 0x10) sharing an octet with the address length - 1, a
  size counting the whole message, the optional fields in that order, a message TLV
  block, then address blocks each followed by its TLV block.
- TLVs (section 5.4.1): flags thastypeext 0x80, thassingleindex 0x40, thasmultiindex
  0x20, thasvalue 0x10, thasextlen 0x08, tismultivalue 0x04. Index flags only in address
  block TLVs; both index flags, a 16-bit length without a value, an index past the block,
  a multivalue length not divisible by the addresses it covers: malformed.
- Address blocks (section 5.3): num-addr (at least 1), flags ahashead 0x80, ahasfulltail
  0x40, ahaszerotail 0x20, ahassingleprelen 0x10, ahasmultiprelen 0x08; addresses as a
  shared head, per-address mids and a shared (or all-zero) tail.
- The encoder writes what every reader takes: at least one mid octet per address (the
  packetbb dissector of Wireshark warns when head and tail cover the whole address), at
  most 127 addresses per block (it keeps the count in a signed octet), index flags only
  where needed, multivalue only with both indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

VERSION: Final = 0
PKT_HAS_SEQNUM: Final = 0x08
PKT_HAS_TLV: Final = 0x04
MSG_HAS_ORIG: Final = 0x80
MSG_HAS_HOP_LIMIT: Final = 0x40
MSG_HAS_HOP_COUNT: Final = 0x20
MSG_HAS_SEQNUM: Final = 0x10
TLV_HAS_EXT: Final = 0x80
TLV_SINGLE_INDEX: Final = 0x40
TLV_MULTI_INDEX: Final = 0x20
TLV_HAS_VALUE: Final = 0x10
TLV_EXT_LEN: Final = 0x08
TLV_MULTIVALUE: Final = 0x04
ADDR_HAS_HEAD: Final = 0x80
ADDR_FULL_TAIL: Final = 0x40
ADDR_ZERO_TAIL: Final = 0x20
ADDR_SINGLE_PRELEN: Final = 0x10
ADDR_MULTI_PRELEN: Final = 0x08
MAX_BLOCK_ADDRESSES: Final = 127  # Wireshark's packetbb keeps num-addr in an int8_t


class Tlv(NamedTuple):
    """One TLV. In an address block, `start`..`stop` are the addresses it covers (None:
    all of them) and a `multivalue` value holds one equal-length value per address."""

    type: int
    ext: int = 0
    value: bytes | None = None
    start: int | None = None
    stop: int | None = None
    multivalue: bool = False


class AddressBlock(NamedTuple):
    """Addresses (each `addr_len` bytes) with their prefix lengths (None: full length)
    and the TLVs that describe them."""

    addresses: tuple[bytes, ...]
    tlvs: tuple[Tlv, ...] = ()
    prefixes: tuple[int, ...] | None = None

    def values(self, type_: int, ext: int = 0) -> list[bytes | None]:
        """Per address, the value of the first TLV of this type and extension covering it
        (None where none does; b"" for a TLV without a value)."""
        out: list[bytes | None] = [None] * len(self.addresses)
        for tlv in self.tlvs:
            if tlv.type != type_ or tlv.ext != ext:
                continue
            start = 0 if tlv.start is None else tlv.start
            stop = len(self.addresses) - 1 if tlv.stop is None else tlv.stop
            value = tlv.value if tlv.value is not None else b""
            size = len(value) // (stop - start + 1) if tlv.multivalue else 0
            for i in range(start, stop + 1):
                if out[i] is None:
                    out[i] = value[(i - start) * size : (i - start + 1) * size] if size else value
        return out


class Message(NamedTuple):
    """One message: its header fields (None where absent), TLVs and address blocks."""

    type: int
    addr_len: int
    tlvs: tuple[Tlv, ...] = ()
    blocks: tuple[AddressBlock, ...] = ()
    originator: bytes | None = None
    hop_limit: int | None = None
    hop_count: int | None = None
    seqnum: int | None = None

    def tlv(self, type_: int, ext: int = 0) -> bytes | None:
        """The value of the first message TLV of this type (b"" if it has none), or None."""
        for tlv in self.tlvs:
            if tlv.type == type_ and tlv.ext == ext:
                return tlv.value if tlv.value is not None else b""
        return None

    def count(self, type_: int, ext: int = 0) -> int:
        """How many message TLVs of this type and extension there are."""
        return sum(1 for t in self.tlvs if t.type == type_ and t.ext == ext)


class Packet(NamedTuple):
    """A packet: its sequence number (None if absent), packet TLVs and messages."""

    messages: tuple[Message, ...]
    seqnum: int | None = None
    tlvs: tuple[Tlv, ...] = ()


class Malformed(NamedTuple):
    """Why a packet was refused: `reason` is one short phrase, fit to count by."""

    reason: str


class _Bad(Exception):
    """Raised inside the decoder only; `decode` turns it into a Malformed."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            raise _Bad(f"{what} runs past its end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise _Bad(f"{what} runs past its end")
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self, what: str) -> int:
        two = self.take(2, what)
        return (two[0] << 8) | two[1]


def decode(data: bytes) -> Packet | Malformed:
    """The packet in `data` (a UDP payload), or why it is not one. Never raises."""
    try:
        return _packet(data)
    except _Bad as exc:
        return Malformed(str(exc))


def _packet(data: bytes) -> Packet:
    r = _Reader(data, 0, len(data))
    first = r.byte("packet header")
    if first >> 4 != VERSION:
        raise _Bad("unknown version")
    seqnum = r.u16("packet sequence number") if first & PKT_HAS_SEQNUM else None
    tlvs = _tlv_block(r, 0, "packet") if first & PKT_HAS_TLV else ()
    messages = []
    while r.pos < r.end:
        messages.append(_message(r))
    return Packet(tuple(messages), seqnum, tlvs)


def _message(outer: _Reader) -> Message:
    start = outer.pos
    kind = outer.byte("message header")
    flags = outer.byte("message header")
    size = outer.u16("message header")
    if size < 6:  # type, flags, size and an (empty) TLV block at least
        raise _Bad("message size too small")
    if start + size > outer.end:
        raise _Bad("message runs past the packet")
    r = _Reader(outer.data, outer.pos, start + size)
    outer.pos = start + size
    addr_len = (flags & 0x0F) + 1
    originator = r.take(addr_len, "originator") if flags & MSG_HAS_ORIG else None
    hop_limit = r.byte("hop limit") if flags & MSG_HAS_HOP_LIMIT else None
    hop_count = r.byte("hop count") if flags & MSG_HAS_HOP_COUNT else None
    seqnum = r.u16("message sequence number") if flags & MSG_HAS_SEQNUM else None
    tlvs = _tlv_block(r, 0, "message")
    blocks = []
    while r.pos < r.end:
        blocks.append(_address_block(r, addr_len))
    return Message(kind, addr_len, tlvs, tuple(blocks), originator, hop_limit, hop_count, seqnum)


def _address_block(r: _Reader, addr_len: int) -> AddressBlock:
    count = r.byte("address block")
    if count == 0:
        raise _Bad("address block without addresses")
    flags = r.byte("address block")
    head = tail = b""
    if flags & ADDR_HAS_HEAD:
        head = r.take(r.byte("address head"), "address head")
    if flags & ADDR_FULL_TAIL and flags & ADDR_ZERO_TAIL:
        raise _Bad("address block with both tail flags")
    if flags & ADDR_FULL_TAIL:
        tail = r.take(r.byte("address tail"), "address tail")
    elif flags & ADDR_ZERO_TAIL:
        tail = bytes(r.byte("address tail"))
    mid = addr_len - len(head) - len(tail)
    if mid < 0:
        raise _Bad("address head and tail longer than an address")
    mids = r.take(mid * count, "addresses")
    addresses = tuple(head + mids[i * mid : (i + 1) * mid] + tail for i in range(count))
    if flags & ADDR_SINGLE_PRELEN and flags & ADDR_MULTI_PRELEN:
        raise _Bad("address block with both prefix flags")
    prefixes: tuple[int, ...] | None = None
    if flags & ADDR_SINGLE_PRELEN:
        prefixes = (r.byte("prefix length"),) * count
    elif flags & ADDR_MULTI_PRELEN:
        prefixes = tuple(r.take(count, "prefix lengths"))
    if prefixes is not None and max(prefixes) > 8 * addr_len:
        raise _Bad("prefix length longer than an address")
    return AddressBlock(addresses, _tlv_block(r, count, "address"), prefixes)


def _tlv_block(outer: _Reader, addresses: int, where: str) -> tuple[Tlv, ...]:
    """A TLV block; `addresses`: how many the block describes (0: packet or message)."""
    length = outer.u16(f"{where} TLV block")
    if outer.pos + length > outer.end:
        raise _Bad(f"{where} TLV block runs past its end")
    r = _Reader(outer.data, outer.pos, outer.pos + length)
    outer.pos += length
    tlvs = []
    while r.pos < r.end:
        tlvs.append(_tlv(r, addresses, where))
    return tuple(tlvs)


def _tlv(r: _Reader, addresses: int, where: str) -> Tlv:
    kind = r.byte("TLV")
    flags = r.byte("TLV")
    ext = r.byte("TLV type extension") if flags & TLV_HAS_EXT else 0
    single, multi = flags & TLV_SINGLE_INDEX, flags & TLV_MULTI_INDEX
    if single and multi:
        raise _Bad("TLV with both index flags")
    if (single or multi or flags & TLV_MULTIVALUE) and not addresses:
        raise _Bad(f"{where} TLV with address indexes")
    start: int | None = None
    stop: int | None = None
    if single:
        start = stop = r.byte("TLV index")
    elif multi:
        start = r.byte("TLV index")
        stop = r.byte("TLV index")
        if start > stop:
            raise _Bad("TLV index range backwards")
    if stop is not None and stop >= addresses:
        raise _Bad("TLV index past the address block")
    value: bytes | None = None
    if flags & TLV_HAS_VALUE:
        size = r.u16("TLV length") if flags & TLV_EXT_LEN else r.byte("TLV length")
        value = r.take(size, "TLV value")
    elif flags & TLV_EXT_LEN:
        raise _Bad("TLV with an extended length but no value")
    multivalue = bool(flags & TLV_MULTIVALUE)
    if multivalue:
        if value is None:
            raise _Bad("multivalue TLV without a value")
        first = 0 if start is None else start
        last = addresses - 1 if stop is None else stop
        if len(value) % (last - first + 1):
            raise _Bad("multivalue TLV length not a multiple of its addresses")
    return Tlv(kind, ext, value, start, stop, multivalue)


# -- encoding ---------------------------------------------------------------------------------


def encode(packet: Packet) -> bytes:
    """The packet on the wire. Raises ValueError for what no reader could take (a block
    without addresses or with more than MAX_BLOCK_ADDRESSES, a value too long): only
    rawfwd's own packets are encoded, so that is a bug here, not bad input."""
    flags = (PKT_HAS_SEQNUM if packet.seqnum is not None else 0) | (
        PKT_HAS_TLV if packet.tlvs else 0
    )
    out = bytearray([VERSION << 4 | flags])
    if packet.seqnum is not None:
        out += (packet.seqnum & 0xFFFF).to_bytes(2, "big")
    if packet.tlvs:
        out += _encode_tlvs(packet.tlvs)
    for message in packet.messages:
        out += _encode_message(message)
    return bytes(out)


def _encode_message(m: Message) -> bytes:
    if not 1 <= m.addr_len <= 16:
        raise ValueError("address length must be 1 to 16")
    flags = (
        (MSG_HAS_ORIG if m.originator is not None else 0)
        | (MSG_HAS_HOP_LIMIT if m.hop_limit is not None else 0)
        | (MSG_HAS_HOP_COUNT if m.hop_count is not None else 0)
        | (MSG_HAS_SEQNUM if m.seqnum is not None else 0)
    )
    body = bytearray()
    if m.originator is not None:
        body += _address(m.originator, m.addr_len)
    if m.hop_limit is not None:
        body.append(m.hop_limit)
    if m.hop_count is not None:
        body.append(m.hop_count)
    if m.seqnum is not None:
        body += (m.seqnum & 0xFFFF).to_bytes(2, "big")
    body += _encode_tlvs(m.tlvs)
    for block in m.blocks:
        body += _encode_block(block, m.addr_len)
    size = 4 + len(body)
    if size > 0xFFFF:
        raise ValueError("message longer than 65535 bytes")
    return bytes([m.type & 0xFF, flags | (m.addr_len - 1)]) + size.to_bytes(2, "big") + body


def _address(address: bytes, addr_len: int) -> bytes:
    if len(address) != addr_len:
        raise ValueError(f"address of {len(address)} bytes in a message of {addr_len}")
    return address


def _encode_block(block: AddressBlock, addr_len: int) -> bytes:
    addresses = [_address(a, addr_len) for a in block.addresses]
    count = len(addresses)
    if not 1 <= count <= MAX_BLOCK_ADDRESSES:
        raise ValueError(f"an address block holds 1 to {MAX_BLOCK_ADDRESSES} addresses")
    # the longest shared head and tail that leave at least one mid octet
    head = 0
    while head < addr_len - 1 and all(a[head] == addresses[0][head] for a in addresses):
        head += 1
    tail = 0
    while head + tail < addr_len - 1 and all(
        a[addr_len - 1 - tail] == addresses[0][addr_len - 1 - tail] for a in addresses
    ):
        tail += 1
    flags = 0
    out = bytearray([count, 0])
    if head:
        flags |= ADDR_HAS_HEAD
        out += bytes([head]) + addresses[0][:head]
    if tail:
        tail_bytes = addresses[0][addr_len - tail :]
        if tail_bytes == bytes(tail):
            flags |= ADDR_ZERO_TAIL
            out.append(tail)
        else:
            flags |= ADDR_FULL_TAIL
            out += bytes([tail]) + tail_bytes
    for a in addresses:
        out += a[head : addr_len - tail]
    prefixes = block.prefixes
    if prefixes is not None:
        if len(prefixes) != count:
            raise ValueError("one prefix length per address")
        if all(p == prefixes[0] for p in prefixes):
            flags |= ADDR_SINGLE_PRELEN
            out.append(prefixes[0])
        else:
            flags |= ADDR_MULTI_PRELEN
            out += bytes(prefixes)
    out[1] = flags
    return bytes(out) + _encode_tlvs(block.tlvs, count)


def _encode_tlvs(tlvs: Sequence[Tlv], addresses: int = 0) -> bytes:
    body = bytearray()
    for tlv in tlvs:
        body += _encode_tlv(tlv, addresses)
    if len(body) > 0xFFFF:
        raise ValueError("TLV block longer than 65535 bytes")
    return len(body).to_bytes(2, "big") + body


def _encode_tlv(tlv: Tlv, addresses: int) -> bytes:
    flags = TLV_HAS_EXT if tlv.ext else 0
    index = b""
    if tlv.start is not None or tlv.stop is not None or tlv.multivalue:
        if not addresses:
            raise ValueError("index flags belong to address block TLVs only")
        start = 0 if tlv.start is None else tlv.start
        stop = addresses - 1 if tlv.stop is None else tlv.stop
        if not 0 <= start <= stop < addresses:
            raise ValueError("TLV index outside its address block")
        if tlv.multivalue and stop > start:
            flags |= TLV_MULTI_INDEX | TLV_MULTIVALUE
            index = bytes([start, stop])
        elif start == 0 and stop == addresses - 1:
            pass  # all of them: no index needed
        elif start == stop:
            flags |= TLV_SINGLE_INDEX
            index = bytes([start])
        else:
            flags |= TLV_MULTI_INDEX
            index = bytes([start, stop])
    out = bytearray([tlv.type & 0xFF, 0])
    if tlv.ext:
        out.append(tlv.ext & 0xFF)
    out += index
    if tlv.value is not None:
        flags |= TLV_HAS_VALUE
        if len(tlv.value) > 0xFFFF:
            raise ValueError("TLV value longer than 65535 bytes")
        if len(tlv.value) > 0xFF:
            flags |= TLV_EXT_LEN
            out += len(tlv.value).to_bytes(2, "big")
        else:
            out.append(len(tlv.value))
        out += tlv.value
    out[1] = flags
    return bytes(out)


def address_tlvs(type_: int, values: Sequence[bytes | None], ext: int = 0) -> list[Tlv]:
    """The TLVs giving address i of a block `values[i]` (None: no TLV for it): one TLV
    per run of equal values, or one multivalue TLV when every address has a value of the
    same length and the values differ."""
    n = len(values)
    if n > 1 and all(v is not None for v in values):
        sizes = {len(v) for v in values if v is not None}
        if len(sizes) == 1 and len(set(values)) > 1 and sizes != {0}:
            joined = b"".join(v for v in values if v is not None)
            return [Tlv(type_, ext, joined, 0, n - 1, True)]
    out: list[Tlv] = []
    i = 0
    while i < n:
        value = values[i]
        j = i
        while j + 1 < n and values[j + 1] == value:
            j += 1
        if value is not None:
            out.append(Tlv(type_, ext, value, i, j))
        i = j + 1
    return out


# -- RFC 5497 time values ------------------------------------------------------------------

_TIME_UNIT: Final = 1.0 / 1024  # C, in seconds


def time_code(seconds: float) -> int:
    """The 8-bit code of a time (RFC 5497 section 5): (1 + a/8) * 2**b * C with
    code = 8b + a, rounded up to the next code that is not shorter."""
    for code in range(256):
        if time_value(code) >= seconds:
            return code
    return 255


def time_value(code: int) -> float:
    """The time, in seconds, an 8-bit RFC 5497 code stands for."""
    b, a = code >> 3, code & 7
    return (1 + a / 8) * (1 << b) * _TIME_UNIT


# -- RFC 7181 link metrics -----------------------------------------------------------------


def metric_code(metric: int) -> int:
    """The 12-bit code of a link metric (RFC 7181 section 6.1): (257 + b) * 2**a - 256
    with code = 256a + b, rounded up to the next code that is not smaller."""
    for a in range(16):
        b = -(-(metric + 256) // (1 << a)) - 257
        if 0 <= b <= 255:
            return a << 8 | b
    return 0xFFF


def metric_value(code: int) -> int:
    """The link metric a 12-bit RFC 7181 code stands for."""
    a, b = (code >> 8) & 0xF, code & 0xFF
    return (257 + b) * (1 << a) - 256
