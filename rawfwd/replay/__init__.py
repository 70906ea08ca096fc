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

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..config.values import Config
from ..control.engine import Engine
from ..core import FlowSnapshot, Snapshot
from ..errors import InputError
from .captures import NS_PER_S, Capture, CaptureFrame, error_text, read_capture
from .outputs import Outputs, refuse_overwriting_inputs, with_replay_macs
from .summary import ReplayResult, format_summary

__all__ = ["ReplayResult", "format_summary", "read_capture", "replay", "with_replay_macs"]


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
            snapshot, forgotten, engine = _run(config, captures, outputs)
            outputs.commit()
        except OSError as exc:
            raise InputError(f"writing to {out_dir}: {error_text(exc)}") from None
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
        engine.igmp_views(end),
        engine.proxy_view(),
    )


def _timers(engine: Engine, now: float, outputs: Outputs, retired: list[FlowSnapshot]) -> None:
    """Run the timers due by `now`, in order, writing what they send at their time (a long
    gap between frames means many queries: each is written, as it was due)."""
    last, repeats = float("nan"), 0
    while True:
        due = engine.next_timer()
        if due is None or due > now:
            return
        at = max(due, 0.0) if due != float("-inf") else now
        repeats = repeats + 1 if at == last else 0
        if repeats > 1000:  # each run moves its timers past the time it ran: a bug
            raise RuntimeError(f"timers stuck at {at}")
        last = at
        out = engine.handle_timer(at)
        retired.extend(out.retired)
        for egress, frames in out.frames:
            for data in frames:
                outputs.write(egress, data, round(at * NS_PER_S))


def _run(
    config: Config, captures: Sequence[Capture], outputs: Outputs
) -> tuple[Snapshot, frozenset[int], Engine]:
    """Feed the merged captures to the engine (timers run between frames at their due
    times); the final snapshot lists forgotten flows too."""
    retired: list[FlowSnapshot] = []
    engine = Engine(config, keep_retired=True)
    now_ns = 0
    merged = heapq.merge(
        *(_keyed(i, capture) for i, capture in enumerate(captures)), key=lambda item: item[0]
    )
    for _, frame in merged:
        now_ns = max(now_ns, frame.time_ns)
        _timers(engine, now_ns / NS_PER_S, outputs, retired)
        out = engine.handle_frames(frame.iface, (frame.data,), now_ns / NS_PER_S)
        retired.extend(out.retired)
        for egress, frames in out.frames:
            for data in frames:
                outputs.write(egress, data, frame.time_ns)
    _timers(engine, now_ns / NS_PER_S, outputs, retired)
    snapshot = engine.snapshot(now_ns / NS_PER_S)
    if not retired:
        return snapshot, frozenset(), engine
    tagged = [(f, True) for f in retired] + [(f, False) for f in snapshot.flows]
    tagged.sort(key=lambda item: item[0].first_seen)  # stable: ties keep this order
    flows = tuple(f for f, _ in tagged)
    forgotten = frozenset(i for i, (_, gone) in enumerate(tagged) if gone)
    return replace(snapshot, flows=flows), forgotten, engine
