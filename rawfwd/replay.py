"""`rawfwd replay`: pcaps in -> the forwarding core -> one pcap per egress interface out.

Each input capture is the traffic arriving on one interface. Inputs are merged by capture
timestamp (ties: command-line order, then file order), and the timestamps are the core's
clock, so duplicate windows and flow timeouts behave as they would have live. Scapy is used
only to read and write the capture files; the frames themselves go to the core as bytes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .core import Forwarder, Snapshot
from .core.wire import format_mac
from .errors import InputError
from .model import Config, InterfaceSpec

DLT_EN10MB = 1  #: Ethernet link type in pcap/pcapng headers
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One captured frame: when (ns since the epoch), where it arrived, its bytes."""

    time_ns: int
    iface: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay produced: final counters and, per egress interface, frames written."""

    snapshot: Snapshot
    outputs: dict[str, int]  #: interface -> frames written to DIR/IFACE.pcap
    notes: tuple[str, ...]  #: things the user should know (e.g. MACs made up for replay)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (output files named relative to the output directory)."""
        doc = self.snapshot.to_json()
        doc["outputs"] = {
            name: {"file": f"{name}.pcap", "frames": n} for name, n in self.outputs.items()
        }
        doc["notes"] = list(self.notes)
        return doc


def read_capture(iface: str, path: Path) -> tuple[Iterator[CaptureFrame], bool]:
    """Open a pcap or pcapng of Ethernet frames; returns (frames, has sub-microsecond stamps)."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except FileNotFoundError:
        raise InputError(f"{iface}={path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{iface}={path}: cannot read: {exc.strerror or exc}") from None
    except Scapy_Exception as exc:
        raise InputError(f"{iface}={path}: not a pcap or pcapng file ({exc})") from None
    if isinstance(reader, RawPcapNgReader):
        return _pcapng_frames(iface, path, reader), True
    if reader.linktype != DLT_EN10MB:
        reader.close()
        raise InputError(f"{iface}={path}: link type {reader.linktype} is not Ethernet (1)")
    return _pcap_frames(iface, reader), bool(reader.nano)


def _pcap_frames(iface: str, reader: Any) -> Iterator[CaptureFrame]:
    scale = 1 if reader.nano else 1000
    with reader:
        for data, meta in reader:
            yield CaptureFrame(meta.sec * _NS + meta.usec * scale, iface, bytes(data))


def _pcapng_frames(iface: str, path: Path, reader: Any) -> Iterator[CaptureFrame]:
    with reader:
        for data, meta in reader:
            if meta.linktype != DLT_EN10MB:
                raise InputError(f"{iface}={path}: link type {meta.linktype} is not Ethernet (1)")
            ticks = (meta.tshigh << 32) | meta.tslow
            yield CaptureFrame(ticks * _NS // meta.tsresol, iface, bytes(data))


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
            interfaces[name] = InterfaceSpec(
                name=spec.name,
                mac=mac,
                address=spec.address,
                ttl_threshold=spec.ttl_threshold,
                manet=spec.manet,
                origin=spec.origin,
            )
    if not notes:
        return config, ()
    return replace(config, interfaces=interfaces), tuple(notes)


def replay(config: Config, inputs: Sequence[tuple[str, Path]], out_dir: Path) -> ReplayResult:
    """Run the captures through a fresh Forwarder and write DIR/IFACE.pcap per egress."""
    from scapy.utils import RawPcapWriter

    for iface, _ in inputs:
        if iface not in config.interfaces:
            known = ", ".join(config.interfaces) or "none"
            raise InputError(
                f"--in {iface}=...: {iface} is not an interface of {config.path} (it has: {known})"
            )
    config, notes = with_replay_macs(config)
    streams = []
    nano = False
    for iface, path in inputs:
        frames, fine = read_capture(iface, path)
        streams.append(frames)
        nano = nano or fine
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out-dir {out_dir}: {exc.strerror or exc}") from None

    forwarder = Forwarder(config)
    writers: dict[str, Any] = {}
    counts: dict[str, int] = {}
    last_ns = 0
    merged = heapq.merge(
        *(
            (((f.time_ns, i, seq), f) for seq, f in enumerate(stream))
            for i, stream in enumerate(streams)
        ),
        key=lambda item: item[0],
    )
    try:
        for _, frame in merged:
            last_ns = frame.time_ns
            sent = forwarder.handle_frame(frame.iface, frame.data, frame.time_ns / _NS)
            for egress, data in sent:
                writer = writers.get(egress)
                if writer is None:
                    writer = RawPcapWriter(
                        str(out_dir / f"{egress}.pcap"), linktype=DLT_EN10MB, nano=nano
                    )
                    writer.write_header(None)
                    writers[egress] = writer
                    counts[egress] = 0
                sec, frac = divmod(frame.time_ns, _NS)
                writer.write_packet(data, sec=sec, usec=frac if nano else frac // 1000)
                counts[egress] += 1
    except OSError as exc:
        raise InputError(f"writing to {out_dir}: {exc.strerror or exc}") from None
    finally:
        for writer in writers.values():
            writer.close()
    return ReplayResult(forwarder.snapshot(last_ns / _NS), counts, notes)


def _drops_text(drops: Any) -> str:
    return ", ".join(f"{reason.value} {n}" for reason, n in drops.items()) or "-"


def format_summary(result: ReplayResult) -> str:
    """The per-flow and per-interface summary `rawfwd replay` prints, as plain text."""
    snap = result.snapshot
    lines = [f"flows: {len(snap.flows)}"]
    for f in snap.flows:
        out = ", ".join(f.oifs) if f.oifs else "-"
        lines.append(
            f"  ({f.source}, {f.group}) in {f.iif} -> {out}: packets {f.packets} bytes {f.bytes} "
            f"forwarded {f.forwarded} copies {f.copies} drops: {_drops_text(f.drops)}"
        )
    lines.append("interfaces:")
    for i in snap.interfaces:
        lines.append(
            f"  {i.name}: rx {i.rx_frames} frames {i.rx_bytes} bytes, tx {i.tx_frames} frames "
            f"{i.tx_bytes} bytes, drops: {_drops_text(i.drops)}"
        )
    lines.append(f"drops: {_drops_text(snap.drops)}")
    written = ", ".join(f"{name}.pcap ({n} frames)" for name, n in result.outputs.items())
    lines.append(f"wrote: {written or 'nothing (no frame was forwarded)'}")
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)
