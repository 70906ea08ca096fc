"""`rawfwd demo` builds its network, forwards, shows every drop reason, and cleans up."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _namespaces(tag: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith(tag)}


def test_demo_forwards_and_cleans_up() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rawfwd", "demo", "--duration", "4", "--no-ui"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = re.search(r"receiver A got (\d+), receiver B got (\d+)", done.stderr)
    assert got is not None, done.stderr
    assert int(got.group(1)) > 0
    assert int(got.group(2)) > 0
    learned = re.search(r"B got (\d+) of 239.3.3.3 while a member", done.stderr)
    assert learned is not None, done.stderr
    assert int(learned.group(1)) > 0  # no route names it: IGMP membership alone
    # every drop reason the demo stages shows up in rawfwd's own summary lines
    summaries = [line for line in done.stderr.splitlines() if " drops: " in line]
    assert summaries, done.stderr
    for reason in ("wrong_if", "ttl", "duplicate"):
        assert reason in summaries[-1], summaries[-1]
    tag = re.search(r"namespaces (rfdemo-[0-9a-f]+)-\*", done.stderr)
    assert tag is not None, done.stderr
    assert _namespaces(tag.group(1)) == set()
