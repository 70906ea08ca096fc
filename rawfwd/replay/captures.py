"""Reading captures: pcap and pcapng (gzipped or not), record by record, Ethernet only.

Scapy opens the files; the records are read here, so that a damaged file is reported with
its record number instead of ending early in silence. What scapy warns about while opening
one becomes the reason in our error, or a note: never a line of its own on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..errors import InputError

DLT_EN10MB = 1  #: Ethernet link type in pcap/pcapng headers
NS_PER_S = 1_000_000_000
_MAX_SECONDS = 0xFFFF_FFFF  #: a pcap record stores seconds in 32 bits
#: libpcap refuses records longer than this (MAXIMUM_SNAPLEN); so do we
MAX_CAPLEN = 262_144
#: libpcap's bound on a pcapng block; a larger length means a corrupt file
MAX_BLOCK = 16 * 1024 * 1024
#: bytes of Simple Packet Blocks held while waiting for a timestamp (see `_pcapng_records`)
MAX_UNTIMED_HELD = 64 * 1024 * 1024

_SHB, _IDB, _PB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_PACKET_BLOCKS = (_PB, _SPB, _EPB)

#: what reading a damaged or unreadable capture can raise, from scapy, gzip or the OS
_READ_ERRORS: tuple[type[BaseException], ...] = (struct.error, EOFError, zlib.error, OSError)


#: where scapy logs; its own handler writes to stderr, past `rawfwd: error:` and the summary
_SCAPY_LOGGERS = ("scapy", "scapy.runtime", "scapy.loading")


def _scapy_exception() -> type[BaseException]:
    from scapy.error import Scapy_Exception

    return Scapy_Exception


@contextlib.contextmanager
def quiet_scapy() -> Iterator[list[str]]:
    """Collect what scapy logs meanwhile instead of letting it reach stderr: a damaged
    capture makes it warn (`WARNING: PcapNg: ...`), and that belongs in our error or notes.

    Our filter goes first, ahead of scapy's rate limiter, so that the same warning is seen
    every time, however soon it repeats."""
    said: list[str] = []

    def grab(record: logging.LogRecord) -> bool:
        said.append(record.getMessage())
        return False  # neither handled nor passed on to the parent logger

    loggers = [logging.getLogger(name) for name in _SCAPY_LOGGERS]
    for logger in loggers:
        logger.filters.insert(0, grab)
    try:
        yield said
    finally:
        for logger in loggers:
            logger.removeFilter(grab)


def _scapy_said(messages: list[str]) -> list[str]:
    """Scapy's warnings, readable: without its `PcapNg: ` prefixes and ` !` endings."""
    out = []
    for message in messages:
        text = message.strip()
        while text.startswith(("PcapNg:", "Pcap:")):
            text = text.split(" ", 1)[1].strip() if " " in text else ""
        text = text.rstrip(" !")
        if text and text not in out:
            out.append(text)
    return out


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One captured frame: when (ns since the epoch), where it arrived, its bytes."""

    time_ns: int
    iface: str
    data: bytes


class _Interface(NamedTuple):
    """A pcapng Interface Description Block: what its packets' headers mean."""

    linktype: int
    snaplen: int
    tsresol: int  #: timestamp units per second
    tsoffset: int  #: seconds to add to every timestamp


@dataclass(eq=False)
class Capture:
    """One `--in IFACE=PATH`: the open file and what was learnt while reading it."""

    iface: str
    path: Path
    reader: Any  #: scapy's RawPcapReader or RawPcapNgReader, past the file header
    pcapng: bool
    nano: bool  #: stamps finer than a microsecond (the outputs must be nanosecond pcaps)
    records: int = 0  #: packet records read completely
    disorder: int = 0  #: frames stamped earlier than a frame before them in this file
    untimed: int = 0  #: Simple Packet Blocks (which carry no timestamp)
    #: what scapy warned about while opening the file (e.g. a malformed section option)
    warnings: tuple[str, ...] = ()
    _closed: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        """How the user named this input: `IFACE=PATH`."""
        return f"{self.iface}={self.path}"

    def error(self, reason: str) -> InputError:
        """An InputError naming this input."""
        return InputError(f"{self.name}: {reason}")

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.reader.close()

    def frames(self) -> Iterator[CaptureFrame]:
        """The frames in file order; a damaged file raises InputError naming the record."""
        records = _pcapng_records(self) if self.pcapng else _pcap_records(self)
        try:
            for time_ns, data in records:
                yield CaptureFrame(time_ns, self.iface, data)
        except (*_READ_ERRORS, _scapy_exception()) as exc:
            where = f"after record {self.records}" if self.records else "before the first record"
            raise self.error(f"read error {where}: {error_text(exc)}") from None
        finally:
            self.close()


def error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def read_capture(iface: str, path: Path) -> Capture:
    """Open a pcap or pcapng of Ethernet frames (possibly gzipped) for `Capture.frames`.

    Scapy reads the file header (and a pcapng's first section header) here; what it warns
    about becomes the reason of our error, or `Capture.warnings` if it could go on."""
    with quiet_scapy():  # whatever importing it may log is not about this capture
        from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        # opened here, not by scapy: it leaves its own file open when it gives up on one
        stream = open(path, "rb")  # noqa: SIM115 - the reader owns it from here on
    except FileNotFoundError:
        raise InputError(f"{iface}={path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{iface}={path}: cannot read: {error_text(exc)}") from None
    with quiet_scapy() as said:
        try:
            reader = RawPcapReader(stream)  # type: ignore[arg-type]  # (it takes a file too)
        except OSError as exc:
            stream.close()
            raise InputError(f"{iface}={path}: cannot read: {error_text(exc)}") from None
        except (EOFError, zlib.error, struct.error, _scapy_exception()) as exc:
            stream.close()
            # its last warning says why it gave up, better than its exception does
            why = (_scapy_said(said) or [error_text(exc)])[-1]
            raise InputError(f"{iface}={path}: not a pcap or pcapng file ({why})") from None
    warnings = tuple(_scapy_said(said))
    if isinstance(reader, RawPcapNgReader):
        return Capture(iface, path, reader, pcapng=True, nano=True, warnings=warnings)
    if reader.linktype != DLT_EN10MB:
        reader.close()
        raise InputError(f"{iface}={path}: link type {reader.linktype} is not Ethernet (1)")
    return Capture(iface, path, reader, pcapng=False, nano=bool(reader.nano), warnings=warnings)


def _read(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes: fewer only at the end of the stream."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    chunks = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b"".join(chunks)


def _pcap_records(cap: Capture) -> Iterator[tuple[int, bytes]]:
    """(time in ns, frame) for each record of a classic pcap, checked as libpcap does."""
    stream, endian, nano = cap.reader.f, cap.reader.endian, bool(cap.reader.nano)
    limit, scale, unit = (NS_PER_S, 1, "nanoseconds") if nano else (1_000_000, 1000, "microseconds")
    while True:
        number = cap.records + 1
        head = _read(stream, 16)
        if not head:
            return
        if len(head) < 16:
            raise cap.error(f"record {number} is truncated ({len(head)} of its 16 header bytes)")
        sec, frac, caplen, _wirelen = struct.unpack(endian + "IIII", head)
        if caplen > MAX_CAPLEN:
            raise cap.error(
                f"record {number} claims {caplen} captured bytes, more than {MAX_CAPLEN} "
                "(corrupt file?)"
            )
        data = _read(stream, caplen)
        if len(data) < caplen:
            raise cap.error(
                f"record {number} is truncated ({len(data)} of its {caplen} captured bytes)"
            )
        if frac >= limit:
            raise cap.error(
                f"record {number} has a timestamp of {sec} s and {frac} {unit}: "
                f"the {unit} must be below {limit}"
            )
        cap.records = number
        yield sec * NS_PER_S + frac * scale, data


def _options(raw: bytes, endian: str) -> list[tuple[int, bytes]] | None:
    """(code, value) of a pcapng options list, or None if an option runs past the end."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack_from(endian + "HH", raw, pos)
        if code == 0:  # opt_endofopt
            break
        end = pos + 4 + length
        if end > len(raw):
            return None
        found.append((code, raw[pos + 4 : end]))
        pos = end + (-length % 4)
    return found


def _pcapng_records(cap: Capture) -> Iterator[tuple[int, bytes]]:
    """(time in ns, frame) for each packet block of a pcapng file.

    Simple Packet Blocks carry no timestamp: each takes the previous frame's, or, before any
    timestamped frame, the first one's (0 if the file has none). Until that first timestamp
    turns up they are held, at most MAX_UNTIMED_HELD bytes of them; beyond that they take 0.
    """
    stream, endian = cap.reader.f, cap.reader.endian
    interfaces: list[_Interface] = []
    held: list[bytes] = []
    held_bytes = 0
    last: int | None = None
    while True:
        number = cap.records + 1
        head = _read(stream, 8)
        if not head:
            break
        btype = struct.unpack(endian + "I", head[:4])[0] if len(head) >= 4 else None
        if btype in _PACKET_BLOCKS:
            where = f"record {number}"
        elif number == 1:
            where = "a block before the first record"
        else:
            where = f"the block after record {number - 1}"
        if len(head) < 8:
            raise cap.error(f"{where} is truncated (the file ends inside its header)")
        magic = b""
        if btype == _SHB:  # a new section, maybe of the other byte order
            magic = _read(stream, 4)
            if magic == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            elif magic == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif len(magic) < 4:
                raise cap.error(f"{where} is truncated (the file ends inside its header)")
            else:
                raise cap.error(f"{where}: section header with a bad byte-order magic")
        blen = struct.unpack(endian + "I", head[4:])[0]
        if blen < (28 if btype == _SHB else 12) or blen % 4:
            raise cap.error(f"{where}: invalid block length {blen} (corrupt file?)")
        if blen > MAX_BLOCK:
            raise cap.error(f"{where}: block length {blen} is over {MAX_BLOCK} (corrupt file?)")
        rest = _read(stream, blen - 8 - len(magic))
        if len(rest) < blen - 8 - len(magic):
            raise cap.error(
                f"{where} is truncated ({8 + len(magic) + len(rest)} of its {blen} bytes)"
            )
        if struct.unpack(endian + "I", rest[-4:])[0] != blen:
            raise cap.error(f"{where}: its two block lengths differ (corrupt file?)")
        body = magic + rest[:-4]

        if btype == _SHB:
            major = struct.unpack(endian + "H", body[4:6])[0]
            if major != 1:
                raise cap.error(f"{where}: pcapng version {major} is not supported")
            interfaces = []
            continue
        if btype == _IDB:
            interfaces.append(_interface(cap, where, body, endian))
            continue
        if btype not in _PACKET_BLOCKS:
            continue  # statistics, name resolution, comments...

        if btype == _SPB:
            intid, stamp = 0, None
            if len(body) < 4:
                raise cap.error(f"{where}: simple packet block too short")
            wirelen = struct.unpack(endian + "I", body[:4])[0]
            start = 4
            if not interfaces:
                raise cap.error(f"{where}: packet before any interface description block")
            snaplen = interfaces[0].snaplen
            caplen = min(wirelen, snaplen) if snaplen else wirelen
        else:
            if len(body) < 20:
                raise cap.error(f"{where}: packet block too short")
            if btype == _EPB:
                intid, high, low, caplen, _ = struct.unpack(endian + "5I", body[:20])
            else:  # the obsolete Packet Block: 16-bit interface id, then a drops count
                intid, _, high, low, caplen, _ = struct.unpack(endian + "HHIIII", body[:20])
            start = 20
            stamp = high << 32 | low
        if intid >= len(interfaces):
            raise cap.error(
                f"{where} names interface {intid}, but the section describes "
                f"{len(interfaces)} interface(s)"
            )
        desc = interfaces[intid]
        if start + caplen > len(body):
            raise cap.error(
                f"{where} is truncated ({len(body) - start} of its {caplen} captured bytes)"
            )
        if desc.linktype != DLT_EN10MB:
            raise cap.error(f"link type {desc.linktype} is not Ethernet (1), at {where}")
        data = body[start : start + caplen]
        cap.records = number
        if stamp is None:
            cap.untimed += 1
            if last is None:
                held.append(data)
                held_bytes += len(data)
                if held_bytes > MAX_UNTIMED_HELD:
                    last = 0
                    yield from ((0, frame) for frame in held)
                    held.clear()
                continue
            yield last, data
            continue
        ns = stamp * NS_PER_S // desc.tsresol + desc.tsoffset * NS_PER_S
        if not 0 <= ns // NS_PER_S <= _MAX_SECONDS:
            raise cap.error(
                f"{where} has a timestamp of {ns // NS_PER_S} s, which a pcap file cannot store "
                f"(0 to {_MAX_SECONDS} s since 1970)"
            )
        if held:
            yield from ((ns, frame) for frame in held)
            held.clear()
        last = ns
        yield ns, data
    yield from ((0, frame) for frame in held)


def _interface(cap: Capture, where: str, body: bytes, endian: str) -> _Interface:
    """Parse an Interface Description Block body (if_tsresol and if_tsoffset options)."""
    if len(body) < 8:
        raise cap.error(f"{where}: interface description block too short")
    linktype, _, snaplen = struct.unpack(endian + "HHI", body[:8])
    tsresol, tsoffset = 1_000_000, 0
    options = _options(body[8:], endian)
    if options is None:
        raise cap.error(f"{where}: interface description block with a malformed option")
    for code, value in options:
        if code == 9 and len(value) == 1:  # if_tsresol
            tsresol = (2 if value[0] & 0x80 else 10) ** (value[0] & 0x7F)
        elif code == 14 and len(value) == 8:  # if_tsoffset
            tsoffset = struct.unpack(endian + "q", value)[0]
    return _Interface(linktype, snaplen, tsresol, tsoffset)
