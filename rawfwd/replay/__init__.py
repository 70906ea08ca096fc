"""`rawfwd replay`: pcaps in -> the forwarding core -> one pcap per egress interface out.

Each input capture is the traffic arriving on one interface. Inputs are merged by capture
timestamp (ties: command-line order, then file order), and the timestamps are the core's
clock, so duplicate windows and flow timeouts behave as they would have live. A capture whose
timestamps go back is replayed in file order with the clock held (it never runs backwards);
each output frame keeps the capture time of the frame that caused it.

What a replay writes and keeps is bounded by its input and config, not by the time its
captures span (see `_Bounds`): a gap between frames runs at most MAX_TIMER_RUNS_PER_GAP timers
at their due times, and the summary lists at most `[flows] max_flows` forgotten flows. A note
says when either bound was reached.

Scapy opens the capture files (pcap, pcapng, gzipped or not) and writes the outputs; the
records are read here, so that a damaged file is reported with its record number instead of
ending early in silence. The frames themselves go to the core as bytes. Outputs are written
to temporary files in the output directory and renamed into place only when the whole replay
succeeded.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config.values import Config
from ..control.engine import Engine, Output
from ..control.pim import PIM_PROTO
from ..control.pim_router import REGISTER_VIF
from ..core import FlowSnapshot, Snapshot
from ..core.wire import ipv4_header
from ..errors import InputError
from .captures import NS_PER_S, Capture, CaptureFrame, error_text, read_capture
from .outputs import Outputs, refuse_overwriting_inputs, with_replay_macs
from .summary import ReplayResult, format_summary

__all__ = [
    "MAX_TIMER_RUNS_PER_GAP",
    "ReplayResult",
    "format_summary",
    "read_capture",
    "replay",
    "with_replay_macs",
]

#: timer runs replayed at their due times in one gap between frames (see `_Bounds`)
MAX_TIMER_RUNS_PER_GAP = 1000


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
    """Run the captures through a fresh engine and write DIR/IFACE.pcap per egress.

    On any error nothing is written to DIR/IFACE.pcap (files already there stay as they were).
    """
    for iface, _ in inputs:
        if iface not in config.interfaces:
            known = ", ".join(config.interfaces) or "none"
            raise InputError(
                f"--in {iface}=...: {iface} is not an interface of {config.path} (it has: {known})"
            )
    refuse_overwriting_inputs(config, inputs, out_dir)
    config, notes = with_replay_macs(config)
    captures: list[Capture] = []
    try:
        for iface, path in inputs:
            captures.append(read_capture(iface, path))
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out-dir {out_dir}: {error_text(exc)}") from None
        outputs = Outputs(out_dir, nano=any(c.nano for c in captures))
        try:
            snapshot, forgotten, engine, bounds = _run(config, captures, outputs)
            outputs.commit()
        except OSError as exc:
            raise InputError(f"writing to {out_dir}: {error_text(exc)}") from None
        finally:
            outputs.discard()
    finally:
        for capture in captures:
            capture.close()
    for c in captures:
        notes += tuple(f"{c.name}: scapy warned while opening it: {w}" for w in c.warnings)
        if c.untimed:
            notes += (
                f"{c.name}: {_plural(c.untimed, 'Simple Packet Block')} without a timestamp "
                "took the previous frame's time (or, before any, the first in the file)",
            )
        if c.disorder:
            notes += (f"{c.name}: {_plural(c.disorder, 'frame')} out of time order",)
    notes += bounds.notes()
    end = snapshot.now
    return ReplayResult(
        snapshot,
        dict(outputs.counts),
        notes,
        forgotten,
        engine.igmp_views(end),
        engine.proxy_view(),
        bounds.unlisted,
        engine.pim_json(end),
    )


@dataclass
class _Bounds:
    """What replay leaves out so that its outputs and summary stay bounded, for the notes.

    A gap between frames runs at most MAX_TIMER_RUNS_PER_GAP timers at their due times (a
    2-frame capture 2^32 s long would otherwise write tens of millions of queries); the rest
    run once at the next frame's time, as if the router had been stopped meanwhile: after a
    long silence IGMP state has expired anyway. Forgotten flows beyond `[flows] max_flows`
    are counted, not kept for the summary."""

    max_retired: int
    retired: list[FlowSnapshot] = field(default_factory=list)
    unlisted: int = 0  #: forgotten flows past `max_retired`
    gaps: int = 0  #: gaps cut short
    skipped: float = 0.0  #: seconds of timers skipped, all gaps together
    first_gap: tuple[float, float, str] | None = None  #: (from, to, before which frame)

    def retire(self, flows: Sequence[FlowSnapshot]) -> None:
        room = self.max_retired - len(self.retired)
        if room >= len(flows):
            self.retired.extend(flows)
            return
        if room > 0:
            self.retired.extend(flows[:room])
        self.unlisted += len(flows) - max(room, 0)

    def skip(self, start: float, end: float, where: str) -> None:
        self.gaps += 1
        self.skipped += end - start
        if self.first_gap is None:
            self.first_gap = (start, end, where)

    def notes(self) -> tuple[str, ...]:
        notes: tuple[str, ...] = ()
        if self.first_gap is not None:
            start, end, where = self.first_gap
            notes += (
                f"timers: {_plural(self.gaps, 'gap')} between frames held more than "
                f"{MAX_TIMER_RUNS_PER_GAP} timer runs; after that many, the timers due in the "
                "rest of the gap were skipped and ran once at the next frame's time "
                f"({_seconds(self.skipped)} skipped in all; the first from {_seconds(start)} "
                f"to {_seconds(end)}, before {where})",
            )
        if self.unlisted:
            notes += (
                f"{_plural(self.unlisted, 'forgotten flow')} not listed: the summary keeps the "
                f"first {self.max_retired} forgotten ([flows] max_flows); the interface and "
                "drop counters count them all",
            )
        return notes


def _ns(t: float) -> int:
    """`t` seconds in whole nanoseconds, from the float's exact value: `round(t * 1e9)`
    is off by up to 128 ns at today's epoch times (a 53-bit mantissa for 61 bits)."""
    whole = math.floor(t)
    return whole * NS_PER_S + round((t - whole) * NS_PER_S)


def _seconds(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") + " s"


def _timers(engine: Engine, now: float, outputs: Outputs, bounds: _Bounds) -> float | None:
    """Run the timers due by `now`, in order, writing what they send at their time; after
    MAX_TIMER_RUNS_PER_GAP runs, whatever is due before `now` runs once at `now` instead.
    Returns when the skipped part of the gap began (None: nothing was skipped)."""
    last, repeats, runs = float("nan"), 0, 0
    skipped_from: float | None = None
    while True:
        due = engine.next_timer()
        if due is None or due > now:
            return skipped_from
        at = max(due, 0.0) if due != float("-inf") else now
        if runs >= MAX_TIMER_RUNS_PER_GAP and at < now:
            if skipped_from is None:
                skipped_from = at
            at = now
        runs += 1
        repeats = repeats + 1 if at == last else 0
        if repeats > 1000:  # each run moves its timers past the time it ran: a bug
            raise RuntimeError(f"timers stuck at {at}")
        last = at
        out = engine.handle_timer(at)
        if out.retired:
            bounds.retire(out.retired)
        _write(engine, out, outputs, _ns(at))


def _write(engine: Engine, out: Output, outputs: Outputs, time_ns: int) -> None:
    """What one call sends: frames into each egress's pcap; unicast PIM (Registers,
    Register-Stops, Grafts, Graft-Acks), which the kernel would route, into pimreg.pcap as
    the IPv4 packets it would send (from our address toward the destination), in Ethernet
    frames with zero MACs (the next hop's is not known here)."""
    for egress, frames in out.frames:
        for data in frames:
            outputs.write(egress, data, time_ns)
    for destination, message in out.unicast:
        source = engine.pim.source_toward(destination)
        packet = ipv4_header(
            source.to_bytes(4, "big"),
            destination.to_bytes(4, "big"),
            proto=PIM_PROTO,
            payload_len=len(message),
        )
        outputs.write(REGISTER_VIF, bytes(12) + b"\x08\x00" + packet + message, time_ns)


def _run(
    config: Config, captures: Sequence[Capture], outputs: Outputs
) -> tuple[Snapshot, frozenset[int], Engine, _Bounds]:
    """Feed the merged captures to the engine (timers run between frames at their due
    times); the final snapshot lists forgotten flows too, up to `[flows] max_flows` of them."""
    bounds = _Bounds(config.flows.max_flows)
    engine = Engine(config, keep_retired=True)
    now_ns = 0
    merged = heapq.merge(
        *(_keyed(i, capture) for i, capture in enumerate(captures)), key=lambda item: item[0]
    )
    for (_, index, seq), frame in merged:
        if frame.time_ns > now_ns:
            now_ns = frame.time_ns
        now = now_ns / NS_PER_S
        skipped_from = _timers(engine, now, outputs, bounds)
        if skipped_from is not None:
            bounds.skip(skipped_from, now, f"frame {seq + 1} of {captures[index].name}")
        out = engine.handle_frames(frame.iface, (frame.data,), now)
        if out.retired:
            bounds.retire(out.retired)
        _write(engine, out, outputs, frame.time_ns)
    now = now_ns / NS_PER_S
    skipped_from = _timers(engine, now, outputs, bounds)
    if skipped_from is not None:
        bounds.skip(skipped_from, now, "the end of the replay")
    snapshot = engine.snapshot(now)
    retired = bounds.retired
    if not retired:
        return snapshot, frozenset(), engine, bounds
    tagged = [(f, True) for f in retired] + [(f, False) for f in snapshot.flows]
    tagged.sort(key=lambda item: item[0].first_seen)  # stable: ties keep this order
    flows = tuple(f for f, _ in tagged)
    forgotten = frozenset(i for i, (_, gone) in enumerate(tagged) if gone)
    return replace(snapshot, flows=flows), forgotten, engine, bounds
