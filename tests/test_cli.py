"""The command line (check, replay, show, run): its contracts, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rawfwd.cli import main

from .support.goldens import DATA

ROUTING = DATA / "routing"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m rawfwd ARGS` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "rawfwd", *args], capture_output=True, text=True, check=False
    )


def test_check_prints_normalised_routes_most_specific_first() -> None:
    result = run("check", "-c", str(ROUTING / "rawfwd.toml"))
    assert result.returncode == 0, result.stderr
    routes = [line.strip() for line in result.stdout.splitlines() if line.startswith("  (")]
    assert routes[0].startswith("(10.0.0.5, 239.1.2.3) from eth0 to eth1, eth2")
    # (*,G) routes follow, longest group prefix first
    starred = [r.split(" from")[0] for r in routes[1:]]
    assert starred == [
        "(*, 224.0.0.251)",
        "(*, 239.5.5.5)",
        "(*, 239.1.0.0/16)",
        "(*, 239.0.0.0/8)",
    ]
    first_route_line = (ROUTING / "rawfwd.toml").read_text().splitlines().index("[[route]]") + 1
    assert routes[0].endswith(f"rawfwd.toml:{first_route_line}")


def test_check_reports_smcroute_warnings() -> None:
    result = run("check", "-c", str(DATA / "smcroute" / "smcroute.conf"))
    assert result.returncode == 0, result.stderr
    assert "smcroute.conf:4: 'mgroup' ignored" in result.stdout


def test_bad_config_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[interface.eth0]\n\n[[route]]\nfrom = "eth0"\ngroup = "239.1.1.1"\nto = ["eth9"]\n'
    )
    result = run("check", "-c", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rawfwd: error: {bad}:3: ")
    assert "'eth9', which is not defined" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = run("check", "-c", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml: cannot read: No such file or directory" in result.stderr


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "no such file"),
        (b"this is not a capture file at all", "not a pcap or pcapng file"),
        # a pcap header with link type 113 (Linux cooked capture), no packets
        (bytes.fromhex("d4c3b2a1020004000000000000000000ffff000071000000"), "link type 113"),
    ],
    ids=["missing", "garbage", "linux-sll"],
)
def test_replay_refuses_unusable_pcap(tmp_path: Path, contents: bytes | None, message: str) -> None:
    pcap = tmp_path / "in.pcap"
    if contents is not None:
        pcap.write_bytes(contents)
    result = run(
        "replay",
        "-c",
        str(ROUTING / "rawfwd.toml"),
        "--in",
        f"eth0={pcap}",
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_replay_refuses_interface_not_in_config(tmp_path: Path) -> None:
    result = run(
        "replay",
        "-c",
        str(ROUTING / "rawfwd.toml"),
        "--in",
        f"eth7={ROUTING / 'in' / 'eth0.pcap'}",
        "--out-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "eth7 is not an interface of" in result.stderr


def test_replay_text_summary_names_flows_and_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "-c",
            str(ROUTING / "rawfwd.toml"),
            "--in",
            f"eth0={ROUTING / 'in' / 'eth0.pcap'}",
            "--out-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "(10.0.0.8, 239.5.5.5) in eth0 -> -:" in out
    assert "wrong_if 1" in out
    assert "wrote: eth1.pcap" in out


def test_replay_merges_inputs_by_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """eth1's frames fall between eth0's: the flows appear in time order, not input order."""
    code = main(
        [
            "replay",
            "-c",
            str(ROUTING / "rawfwd.toml"),
            "--in",
            f"eth0={ROUTING / 'in' / 'eth0.pcap'}",
            "--in",
            f"eth1={ROUTING / 'in' / 'eth1.pcap'}",
            "--out-dir",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    flows = json.loads(capsys.readouterr().out)["flows"]
    firsts = [f["first_seen"] for f in flows]
    assert firsts == sorted(firsts)
    # eth1's one flow starts between eth0's third and fourth
    assert [f["iif"] for f in flows] == ["eth0"] * 3 + ["eth1"] + ["eth0"] * 4


def test_show_without_a_running_instance_is_one_clear_line() -> None:
    result = run("show", "--json", "--control-socket", "@rawfwd-test-nobody-listens")
    assert result.returncode == 2
    assert result.stderr == (
        "rawfwd: error: no rawfwd is running here (nothing at control socket "
        "@rawfwd-test-nobody-listens in this network namespace)\n"
    )


@pytest.mark.parametrize("value", ["-1", "1e9", "nan"])
def test_run_refuses_a_bad_busy_poll(tmp_path: Path, value: str) -> None:
    config = tmp_path / "rawfwd.toml"
    config.write_text("[interface.eth0]\n")
    result = run("run", "-c", str(config), "--no-ui", "--busy-poll", value)
    assert result.returncode == 2
    assert result.stderr == ("rawfwd: error: --busy-poll must be from 0 to 1000000 microseconds\n")


def test_check_shows_igmp_settings_and_the_proxy_upstream() -> None:
    result = run("check", "-c", str(DATA / "proxy" / "rawfwd.toml"))
    assert result.returncode == 0, result.stderr
    lines = {line.split(":")[0].strip(): line for line in result.stdout.splitlines()}
    assert lines["up0"].endswith("igmp proxy upstream")
    assert "igmp v3 querier (robustness 2, query interval 125 s" in lines["eth1"]
