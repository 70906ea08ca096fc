"""The replay summary: flows the forwarder forgot (idle or evicted) are still listed, marked."""

from __future__ import annotations

import json
from pathlib import Path

from rawfwd.config.values import FlowSpec
from rawfwd.replay import ReplayResult, format_summary, replay

from ..support.captures import T0, config, frame, pcap


def _forgetting_replay(tmp_path: Path, flows: FlowSpec) -> ReplayResult:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(
        pcap(
            [
                (T0, frame(1, "10.0.0.5")),
                (T0 + 1, frame(2, "10.0.0.5")),
                (T0 + 100, frame(3, "10.0.0.6")),
                (T0 + 101, frame(4, "10.0.0.7")),
            ]
        )
    )
    return replay(config(flows), [("eth0", capture)], tmp_path / "out")


def test_idle_flows_are_listed_as_forgotten(tmp_path: Path) -> None:
    result = _forgetting_replay(tmp_path, FlowSpec(idle_timeout=10.0))
    snap = result.snapshot
    assert snap.flows_expired == 1
    assert [(f.source, f.packets, f.first_seen) for f in snap.flows] == [
        ("10.0.0.5", 2, T0),
        ("10.0.0.6", 1, T0 + 100),
        ("10.0.0.7", 1, T0 + 101),
    ]
    assert result.forgotten == {0}
    text = format_summary(result)
    assert "flows: 3" in text
    assert "  (10.0.0.5, 239.1.2.3) in eth0 -> eth1: packets 2 bytes" in text
    assert text.splitlines()[1].endswith("(forgotten)")
    assert not text.splitlines()[2].endswith("(forgotten)")
    doc = json.loads(json.dumps(result.to_json()))
    assert [f["source"] for f in doc["flows"]] == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert [f.get("forgotten", False) for f in doc["flows"]] == [True, False, False]


def _one_frame_per_source(tmp_path: Path, count: int, flows: FlowSpec) -> ReplayResult:
    """`count` flows of one frame each, 1 ms apart, from 10.0.x.y in turn."""
    sources = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(count)]
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0 + i / 1000, frame(i, src)) for i, src in enumerate(sources)]))
    return replay(config(flows), [("eth0", capture)], tmp_path / "out")


def test_evicted_flows_are_listed_in_first_seen_order(tmp_path: Path) -> None:
    result = _one_frame_per_source(tmp_path, 4, FlowSpec(max_flows=2))
    snap = result.snapshot
    assert snap.flows_evicted == 2
    assert [f.source for f in snap.flows] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert result.forgotten == {0, 1}
    assert result.unlisted == 0
    assert sum(f.packets for f in snap.flows) == 4


def test_forgotten_flows_beyond_max_flows_are_counted_not_kept(tmp_path: Path) -> None:
    # 1000 flows through a table of 10: 990 forgotten, of which the summary keeps 10
    result = _one_frame_per_source(tmp_path, 1000, FlowSpec(max_flows=10))
    snap = result.snapshot
    assert snap.flows_evicted == 990
    assert len(snap.flows) == 20
    assert [f.source for f in snap.flows[:10]] == [f"10.0.0.{i}" for i in range(1, 11)]
    assert [f.source for f in snap.flows[10:]] == [f"10.0.3.{i}" for i in range(241, 251)]
    assert result.forgotten == set(range(10))
    assert result.unlisted == 980
    assert result.notes[-1] == (
        "980 forgotten flows not listed: the summary keeps the first 10 forgotten "
        "([flows] max_flows); the interface and drop counters count them all"
    )
    assert snap.interfaces[0].rx_frames == 1000
    assert format_summary(result).splitlines()[0] == (
        "flows: 20 (and 980 more forgotten, not listed)"
    )
    doc = json.loads(json.dumps(result.to_json()))
    assert len(doc["flows"]) == 20
    assert doc["forgotten_unlisted"] == 980


def test_a_summary_that_lists_every_flow_has_no_unlisted_count(tmp_path: Path) -> None:
    # 2 forgotten, exactly as many as max_flows: all listed
    result = _one_frame_per_source(tmp_path, 4, FlowSpec(max_flows=2))
    assert len(result.forgotten) == 2
    assert not [n for n in result.notes if "not listed" in n]
    assert "forgotten_unlisted" not in result.to_json()
    assert format_summary(result).splitlines()[0] == "flows: 4"
