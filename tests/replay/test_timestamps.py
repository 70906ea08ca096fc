"""Replay time: pcapng timestamp rules, frames out of time order, and timers across long gaps."""

from __future__ import annotations

import re
import struct
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import rawfwd.replay as replay_module
from rawfwd.control.engine import Output
from rawfwd.replay import MAX_TIMER_RUNS_PER_GAP, replay

from ..support.captures import NS, T0, config, epb, frame, idb, option, pcap, read_pcap, shb, spb
from ..support.frames import toml_config

# -- pcapng timestamps: Simple Packet Blocks, if_tsresol, if_tsoffset -----------------------


def test_simple_packet_blocks_borrow_the_previous_timestamp(tmp_path: Path) -> None:
    a, b, c = frame(1), frame(2), frame(3)
    t_b = (T0 + 1) * 1_000_000 + 500_000  # microseconds, the default if_tsresol
    capture = tmp_path / "in.pcapng"
    # a comes before any timestamp: it takes the first one there is (b's)
    capture.write_bytes(shb() + idb() + spb(a) + epb(t_b, b) + spb(c))
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    records = read_pcap(out / "eth1.pcap", nano=True)  # pcapng input: nanosecond output
    assert [t for t, _ in records] == [t_b * 1000] * 3
    assert [data[-len(b"hello, multicast") - 8 :] for _, data in records] == [
        f[-len(b"hello, multicast") - 8 :] for f in (a, b, c)
    ]
    assert [data[18:20] for _, data in records] == [b"\0\x01", b"\0\x02", b"\0\x03"]
    assert result.outputs == {"eth1": 3}
    assert result.notes == (
        f"eth0={capture}: 2 Simple Packet Blocks without a timestamp took the previous frame's "
        "time (or, before any, the first in the file)",
    )


def test_simple_packet_blocks_without_any_timestamp_are_at_time_zero(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb() + idb() + spb(frame(1)) + spb(frame(2)))
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    records = read_pcap(out / "eth1.pcap", nano=True)
    assert [t for t, _ in records] == [0, 0]
    assert result.snapshot.now == 0.0


def test_pcapng_timestamp_resolution_and_offset_are_applied(tmp_path: Path) -> None:
    # if_tsresol 9 (nanoseconds), if_tsoffset 1000 s
    options = option(9, bytes([9])) + option(14, struct.pack("<q", 1000)) + option(0, b"")
    ticks = T0 * NS + 123
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb() + idb(options=options) + epb(ticks, frame(1)))
    out = tmp_path / "out"
    replay(config(), [("eth0", capture)], out)
    records = read_pcap(out / "eth1.pcap", nano=True)
    assert [t for t, _ in records] == [(T0 + 1000) * NS + 123]


# -- frames out of time order ---------------------------------------------------------------


_Engine = replay_module.Engine


class _ClockSpy:
    """The engine replay drives, noting the time it is given for each frame (wrapped, not
    subclassed: a compiled engine takes no interpreted subclass)."""

    nows: ClassVar[list[float]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._engine = _Engine(*args, **kwargs)

    def handle_frames(
        self, ingress: str, frames: Sequence[bytes], now: float, outgoing: Collection[int] = ()
    ) -> Output:
        _ClockSpy.nows.extend(now for _ in frames)
        return self._engine.handle_frames(ingress, frames, now, outgoing)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def test_out_of_order_frames_hold_the_clock_and_keep_their_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "Engine", _ClockSpy)
    monkeypatch.setattr(_ClockSpy, "nows", [])
    capture = tmp_path / "in.pcap"
    capture.write_bytes(
        pcap([(T0 + 10, frame(1)), (T0 + 5, frame(2)), (T0 + 7, frame(3)), (T0 + 12, frame(4))])
    )
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    assert _ClockSpy.nows == [T0 + 10, T0 + 10, T0 + 10, T0 + 12]
    records = read_pcap(out / "eth1.pcap", nano=False)
    assert [t // NS for t, _ in records] == [T0 + 10, T0 + 5, T0 + 7, T0 + 12]
    assert result.notes == (f"eth0={capture}: 2 frames out of time order",)
    (flow,) = result.snapshot.flows
    assert (flow.first_seen, flow.last_seen) == (T0 + 10, T0 + 12)
    assert result.snapshot.now == T0 + 12


def test_in_order_inputs_get_no_time_order_note(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0, frame(2)), (T0 + 1, frame(3))]))
    result = replay(config(), [("eth0", capture)], tmp_path / "out")
    assert not [n for n in result.notes if "time order" in n]


# -- timers across a gap ---------------------------------------------------------------------


_QUERIER = toml_config(
    '[interface.eth0]\nmac = "02:00:00:00:00:01"\n'
    '[interface.eth1]\nmac = "02:00:00:00:00:02"\naddress = "10.1.0.1/24"\nigmp = true\n'
    "query_interval = 1\nquery_response_interval = 0.5\n"
)
_GAP_NOTE = re.compile(
    r"timers: (\d+) gaps? between frames held more than 1000 timer runs; after that many, the "
    r"timers due in the rest of the gap were skipped and ran once at the next frame's time "
    r"\(([\d.]+) s skipped in all; the first from ([\d.]+) s to ([\d.]+) s, before (.*)\)"
)


def _gap_note(notes: Sequence[str]) -> re.Match[str]:
    (match,) = [m for m in map(_GAP_NOTE.fullmatch, notes) if m]
    return match


def test_a_short_gap_runs_every_igmp_query_it_spans(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + 500, frame(2))]))
    result = replay(_QUERIER, [("eth0", capture)], tmp_path / "out")
    times = [t for t, _ in read_pcap(tmp_path / "out" / "eth1.pcap", nano=False)]
    # startup: a query at once and one a quarter of query_interval later; then one a second
    assert len(times) == 2 + 499
    assert not [n for n in result.notes if n.startswith("timers:")]


def test_timer_frames_are_stamped_at_their_exact_due_time(tmp_path: Path) -> None:
    # T0 + 0.25 s times 1e9, in floats, is 1700000000249999872: 249999 us in a pcap
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + 3, frame(2))]))
    replay(_QUERIER, [("eth0", capture)], tmp_path / "out")
    times = [t for t, _ in read_pcap(tmp_path / "out" / "eth1.pcap", nano=False)]
    assert times == [T0 * NS, T0 * NS + NS // 4, T0 * NS + NS // 4 + NS, T0 * NS + NS // 4 + 2 * NS]


def test_a_long_gap_writes_a_bounded_number_of_timer_frames_and_says_so(tmp_path: Path) -> None:
    # 100,000 s without traffic, a query every second: 100,001 queries written before
    capture = tmp_path / "in.pcap"
    gap = 100_000
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + gap, frame(2)), (T0 + gap + 3, frame(3))]))
    result = replay(_QUERIER, [("eth0", capture)], tmp_path / "out")
    times = [t for t, _ in read_pcap(tmp_path / "out" / "eth1.pcap", nano=False)]
    assert len(times) <= MAX_TIMER_RUNS_PER_GAP + 1 + 3
    resumed = times.index((T0 + gap) * NS)  # the timers ran once at the next frame's time ...
    # ... after the first runs of the gap, at their due times, near its start
    assert times[resumed - 1] < (T0 + MAX_TIMER_RUNS_PER_GAP + 1) * NS
    # ... and went on at their pace from there: a query each second to the last frame
    assert times[resumed:] == [(T0 + gap + i) * NS for i in range(4)]
    note = _gap_note(result.notes)
    assert note[1] == "1"
    assert note[5] == f"frame 2 of eth0={capture}"
    start, end = float(note[3]), float(note[4])
    assert end == T0 + gap
    assert times[resumed - 1] < start * NS < (T0 + MAX_TIMER_RUNS_PER_GAP + 1) * NS
    assert float(note[2]) == pytest.approx(end - start)


def test_every_long_gap_is_cut_short_and_counted_in_one_note(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + 10**5, frame(2)), (T0 + 10**6, frame(3))]))
    result = replay(_QUERIER, [("eth0", capture)], tmp_path / "out")
    assert result.outputs["eth1"] <= 2 * (MAX_TIMER_RUNS_PER_GAP + 1)
    note = _gap_note(result.notes)
    assert note[1] == "2"
    # the two gaps less the runs done in each: at most 1,000 s of queries each
    assert 10**6 - 2 * (MAX_TIMER_RUNS_PER_GAP + 1) < float(note[2]) < 10**6
