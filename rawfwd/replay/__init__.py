"""`rawfwd replay`: pcaps in -> the forwarding core -> one pcap per egress interface out.

Each input capture is the traffic arriving on one interface. Inputs are merged by capture
timestamp (ties: command-line order, then file order), and the timestamps are the core's
clock, so duplicate windows and flow timeouts behave as they would have live. A capture whose
timestamps go back is replayed in file order with the clock held (it never runs backwards);
each output frame keeps the capture time of the frame that caused it.

Scapy opens the capture files (pcap, pcapng, gzipped or not) and writes the outputs; the
records are read here, so that a damaged file is reported with its record number instead of
ending early in silence. The frames themselves go to the core as bytes. Outputs are written
to temporary files in the output directory and renamed into place only when the whole replay
succeeded.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..config.values import Config
from ..control.proxy import ProxyView
from ..control.router import IgmpInterfaceView, Router, proxy_json
from ..core import FlowSnapshot, Snapshot
from ..core.wire import format_mac
from ..errors import InputError

DLT_EN10MB = 1  #: Ethernet link type in pcap/pcapng headers
_NS = 1_000_000_000
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


def _scapy_exception() -> type[BaseException]:
    from scapy.error import Scapy_Exception

    return Scapy_Exception


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One captured frame: when (ns since the epoch), where it arrived, its bytes."""

    time_ns: int
    iface: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay produced: final counters and, per egress interface, frames written."""

    snapshot: Snapshot  #: its flows include those the forwarder forgot, in first-seen order
    outputs: dict[str, int]  #: interface -> frames written to DIR/IFACE.pcap
    notes: tuple[str, ...]  #: things the user should know (e.g. MACs made up for replay)
    #: indexes into `snapshot.flows` of flows forgotten during the replay (idle or evicted)
    forgotten: frozenset[int] = frozenset()
    #: the IGMP state at the end: interfaces with `igmp = true`, and the proxy's upstream
    igmp: tuple[IgmpInterfaceView, ...] = ()
    proxy: ProxyView | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (output files named relative to the output directory)."""
        doc = self.snapshot.to_json()
        for index in self.forgotten:
            doc["flows"][index]["forgotten"] = True
        doc["outputs"] = {
            name: {"file": f"{name}.pcap", "frames": n} for name, n in self.outputs.items()
        }
        doc["notes"] = list(self.notes)
        if self.igmp or self.proxy is not None:
            doc["igmp"] = [view.to_json() for view in self.igmp]
            doc["proxy"] = proxy_json(self.proxy) if self.proxy is not None else None
        return doc


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
            raise self.error(f"read error {where}: {_reason(exc)}") from None
        finally:
            self.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def read_capture(iface: str, path: Path) -> Capture:
    """Open a pcap or pcapng of Ethernet frames (possibly gzipped) for `Capture.frames`."""
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except FileNotFoundError:
        raise InputError(f"{iface}={path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{iface}={path}: cannot read: {_reason(exc)}") from None
    except (EOFError, zlib.error, struct.error, _scapy_exception()) as exc:
        raise InputError(f"{iface}={path}: not a pcap or pcapng file ({_reason(exc)})") from None
    if isinstance(reader, RawPcapNgReader):
        return Capture(iface, path, reader, pcapng=True, nano=True)
    if reader.linktype != DLT_EN10MB:
        reader.close()
        raise InputError(f"{iface}={path}: link type {reader.linktype} is not Ethernet (1)")
    return Capture(iface, path, reader, pcapng=False, nano=bool(reader.nano))


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
    limit, scale, unit = (_NS, 1, "nanoseconds") if nano else (1_000_000, 1000, "microseconds")
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
        yield sec * _NS + frac * scale, data


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
        ns = stamp * _NS // desc.tsresol + desc.tsoffset * _NS
        if not 0 <= ns // _NS <= _MAX_SECONDS:
            raise cap.error(
                f"{where} has a timestamp of {ns // _NS} s, which a pcap file cannot store "
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


def with_replay_macs(config: Config) -> tuple[Config, tuple[str, ...]]:
    """Give every interface without a `mac` a stable, locally administered one for replay."""
    notes = []
    interfaces = dict(config.interfaces)
    for index, (name, spec) in enumerate(config.interfaces.items(), start=1):
        if spec.mac is None:
            mac = bytes((0x02, 0x72, 0x66, 0x00, index >> 8 & 0xFF, index & 0xFF))
            notes.append(
                f"interface {name} has no mac in the config; replay uses {format_mac(mac)}"
            )
            interfaces[name] = replace(spec, mac=mac)
    if not notes:
        return config, ()
    return replace(config, interfaces=interfaces), tuple(notes)


def _same_file(a: Path, b: Path) -> bool:
    """True if `a` and `b` are (or, once created, would be) the same file."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _refuse_overwriting_inputs(
    config: Config, inputs: Sequence[tuple[str, Path]], out_dir: Path
) -> None:
    """An input must not be one of the DIR/IFACE.pcap files the replay could write."""
    for iface, path in inputs:
        for name in config.interfaces:
            target = out_dir / f"{name}.pcap"
            if _same_file(path, target):
                raise InputError(
                    f"--in {iface}={path}: it is the output file {target} of interface {name}; "
                    "choose another --out-dir"
                )


class _Outputs:
    """DIR/IFACE.pcap writers that write to temporary files until `commit`."""

    def __init__(self, out_dir: Path, nano: bool) -> None:
        self.out_dir = out_dir
        self.nano = nano
        self.writers: dict[str, Any] = {}
        self.temps: dict[str, Path] = {}
        self.counts: dict[str, int] = {}

    def write(self, egress: str, data: bytes, time_ns: int) -> None:
        writer = self.writers.get(egress)
        if writer is None:
            writer = self._open(egress)
        sec, frac = divmod(time_ns, _NS)
        writer.write_packet(data, sec=sec, usec=frac if self.nano else frac // 1000)
        self.counts[egress] += 1

    def _open(self, egress: str) -> Any:
        from scapy.utils import RawPcapWriter

        for _ in range(100):
            temp = self.out_dir / f".{egress}.pcap.{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(f"no free temporary file name in {self.out_dir}")
        self.temps[egress] = temp
        stream = os.fdopen(fd, "wb")
        writer = RawPcapWriter(stream, linktype=DLT_EN10MB, nano=self.nano)
        self.writers[egress] = writer
        self.counts[egress] = 0
        writer.write_header(None)
        return writer

    def _close_writers(self) -> None:
        writers, self.writers = self.writers, {}
        error: OSError | None = None
        for writer in writers.values():
            try:
                writer.close()
            except OSError as exc:
                error = error or exc
        if error is not None:
            raise error

    def commit(self) -> None:
        """Close the temporary files and rename them to DIR/IFACE.pcap."""
        self._close_writers()
        for egress in self.temps:
            target = self.out_dir / f"{egress}.pcap"
            if target.is_dir() and not target.is_symlink():
                raise IsADirectoryError(0, f"{target} is a directory")
        for egress, temp in list(self.temps.items()):
            os.replace(temp, self.out_dir / f"{egress}.pcap")
            del self.temps[egress]

    def discard(self) -> None:
        """Remove whatever `commit` did not rename into place."""
        with contextlib.suppress(OSError):
            self._close_writers()
        for temp in self.temps.values():
            with contextlib.suppress(OSError):
                temp.unlink()
        self.temps.clear()


def _keyed(index: int, capture: Capture) -> Iterator[tuple[tuple[int, int, int], CaptureFrame]]:
    """Frames with their merge key: (clock, input, position); the clock never goes back."""
    clock = -1
    for seq, frame in enumerate(capture.frames()):
        if frame.time_ns < clock:
            capture.disorder += 1
        else:
            clock = frame.time_ns
        yield (clock, index, seq), frame


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def replay(config: Config, inputs: Sequence[tuple[str, Path]], out_dir: Path) -> ReplayResult:
    """Run the captures through a fresh Forwarder and write DIR/IFACE.pcap per egress.

    On any error nothing is written to DIR/IFACE.pcap (files already there stay as they were).
    """
    for iface, _ in inputs:
        if iface not in config.interfaces:
            known = ", ".join(config.interfaces) or "none"
            raise InputError(
                f"--in {iface}=...: {iface} is not an interface of {config.path} (it has: {known})"
            )
    _refuse_overwriting_inputs(config, inputs, out_dir)
    config, notes = with_replay_macs(config)
    captures: list[Capture] = []
    try:
        for iface, path in inputs:
            captures.append(read_capture(iface, path))
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out-dir {out_dir}: {_reason(exc)}") from None
        outputs = _Outputs(out_dir, nano=any(c.nano for c in captures))
        try:
            snapshot, forgotten, router = _run(config, captures, outputs)
            outputs.commit()
        except OSError as exc:
            raise InputError(f"writing to {out_dir}: {_reason(exc)}") from None
        finally:
            outputs.discard()
    finally:
        for capture in captures:
            capture.close()
    for c in captures:
        if c.untimed:
            notes += (
                f"{c.name}: {_plural(c.untimed, 'Simple Packet Block')} without a timestamp "
                "took the previous frame's time (or, before any, the first in the file)",
            )
        if c.disorder:
            notes += (f"{c.name}: {_plural(c.disorder, 'frame')} out of time order",)
    end = snapshot.now
    return ReplayResult(
        snapshot,
        dict(outputs.counts),
        notes,
        forgotten,
        router.igmp_views(end),
        router.proxy_view(),
    )


def _timers(router: Router, now: float, outputs: _Outputs) -> None:
    """Run the IGMP timers due by `now`, in order, writing what they send at their time
    (a long gap between frames means many queries: each is written, as it was due)."""
    last, repeats = float("nan"), 0
    while True:
        due = router.next_timer()
        if due is None or due > now:
            return
        at = max(due, 0.0) if due != float("-inf") else now
        repeats = repeats + 1 if at == last else 0
        if repeats > 1000:  # each poll moves its timers past the time it ran: a bug
            raise RuntimeError(f"IGMP timers stuck at {at}")
        last = at
        for egress, frames in router.poll(at):
            for data in frames:
                outputs.write(egress, data, round(at * _NS))


def _run(
    config: Config, captures: Sequence[Capture], outputs: _Outputs
) -> tuple[Snapshot, frozenset[int], Router]:
    """Feed the merged captures to a Router (the Forwarder and IGMP, timers run between
    frames at their due times); the final snapshot lists forgotten flows too."""
    retired: list[FlowSnapshot] = []
    router = Router(config, on_retire=retired.append)
    now_ns = 0
    merged = heapq.merge(
        *(_keyed(i, capture) for i, capture in enumerate(captures)), key=lambda item: item[0]
    )
    for _, frame in merged:
        now_ns = max(now_ns, frame.time_ns)
        _timers(router, now_ns / _NS, outputs)
        for egress, frames in router.handle_batch(frame.iface, (frame.data,), now_ns / _NS):
            for data in frames:
                outputs.write(egress, data, frame.time_ns)
    _timers(router, now_ns / _NS, outputs)
    snapshot = router.forwarder.snapshot(now_ns / _NS)
    if not retired:
        return snapshot, frozenset(), router
    tagged = [(f, True) for f in retired] + [(f, False) for f in snapshot.flows]
    tagged.sort(key=lambda item: item[0].first_seen)  # stable: ties keep this order
    flows = tuple(f for f, _ in tagged)
    forgotten = frozenset(i for i, (_, gone) in enumerate(tagged) if gone)
    return replace(snapshot, flows=flows), forgotten, router


def _drops_text(drops: Any) -> str:
    return ", ".join(f"{reason.value} {n}" for reason, n in drops.items()) or "-"


def format_summary(result: ReplayResult) -> str:
    """The per-flow and per-interface summary `rawfwd replay` prints, as plain text."""
    snap = result.snapshot
    lines = [f"flows: {len(snap.flows)}"]
    for index, f in enumerate(snap.flows):
        out = ", ".join(f.oifs) if f.oifs else "-"
        gone = " (forgotten)" if index in result.forgotten else ""
        lines.append(
            f"  ({f.source}, {f.group}) in {f.iif} -> {out}: packets {f.packets} bytes {f.bytes} "
            f"forwarded {f.forwarded} copies {f.copies} drops: {_drops_text(f.drops)}{gone}"
        )
    lines.append("interfaces:")
    for i in snap.interfaces:
        lines.append(
            f"  {i.name}: rx {i.rx_frames} frames {i.rx_bytes} bytes, tx {i.tx_frames} frames "
            f"{i.tx_bytes} bytes, drops: {_drops_text(i.drops)}"
        )
    lines.append(f"drops: {_drops_text(snap.drops)}")
    for view in result.igmp:
        who = "we are querier" if view.is_querier else f"querier {view.querier or '?'}"
        lines.append(f"igmp {view.name} (v{view.version}, {who}): {len(view.groups)} groups")
        for g in view.groups:
            sources = ", ".join(str(IPv4Address(s)) for s, _ in g.sources) or "-"
            excluded = ", ".join(str(IPv4Address(s)) for s in g.excluded) or "-"
            lines.append(
                f"  {IPv4Address(g.group)} {g.mode.value} sources {sources} excluded {excluded}"
            )
    if result.proxy is not None:
        groups = ", ".join(f"{IPv4Address(g)} {m.value}" for g, m, _ in result.proxy.groups)
        lines.append(f"proxy upstream {result.proxy.interface}: {groups or 'no groups'}")
    written = ", ".join(f"{name}.pcap ({n} frames)" for name, n in result.outputs.items())
    lines.append(f"wrote: {written or 'nothing (no frame was forwarded)'}")
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)
