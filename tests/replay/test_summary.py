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


def test_evicted_flows_are_listed_in_first_seen_order(tmp_path: Path) -> None:
    result = _forgetting_replay(tmp_path, FlowSpec(max_flows=1))
    snap = result.snapshot
    assert snap.flows_evicted == 2
    assert [f.source for f in snap.flows] == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert result.forgotten == {0, 1}
    assert sum(f.packets for f in snap.flows) == 4
