"""Replay the committed golden inputs and compare with the committed outputs byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rawfwd.cli import main

from ..support.goldens import CASES, DATA, Case, check_expectations, replay_args

CASE_NAMES = [make().name for make in CASES]


@pytest.mark.parametrize("make", CASES, ids=CASE_NAMES)
def test_replay_matches_golden(
    make: Callable[[], Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = make()
    case_dir = DATA / case.name
    expected = case_dir / "expected"
    assert main(replay_args(case_dir, case, tmp_path)) == 0
    summary = json.loads(capsys.readouterr().out)
    check_expectations(case, summary)
    assert summary == json.loads((expected / "summary.json").read_text())
    produced = sorted(p.name for p in tmp_path.glob("*.pcap"))
    wanted = sorted(p.name for p in expected.glob("*.pcap"))
    assert produced == wanted
    for name in wanted:
        assert (tmp_path / name).read_bytes() == (expected / name).read_bytes(), name
