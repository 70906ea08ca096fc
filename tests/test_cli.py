"""The command line (check, replay, show, run): its contracts, one-line errors, no tracebacks."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd import runner
from rawfwd.cli import main
from rawfwd.errors import RawfwdError

from .support.goldens import DATA
from .support.servers import one_shot_server
from .support.views import busy_view

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


# -- show: what a reply may put on the terminal ------------------------------------------------

ESC = "\x1b[2J\x1b]0;owned\x07\x9b1m"  #: clear screen, set the title, C1 CSI
SHOWN = "?[2J?]0;owned??1m"  #: what of it reaches the terminal
IGMP: dict[str, Any] = {
    "interfaces": [
        {
            "interface": "eth1",
            "version": 3,
            "address": "10.1.0.1",
            "querier": "10.1.0.1",
            "is_querier": True,
            "listen_only": False,
            "next_query": 10.0,
            "other_querier_expires": None,
            "groups": [
                {
                    "group": "239.1.2.3",
                    "mode": "include",
                    "sources": {"10.0.0.5": 200.0},
                    "excluded": [],
                    "expires": None,
                    "compat": 3,
                    "last_reporter": "10.1.0.2",
                }
            ],
            "counters": {},
        }
    ],
    "proxy": {
        "upstream": "eth0",
        "version": 3,
        "querier": None,
        "groups": [{"group": "239.1.2.3", "mode": "include", "sources": ["10.0.0.5"]}],
        "counters": {},
    },
    "ignored": {},
    "lost": 0,
}


def _reply() -> dict[str, Any]:
    """A good answer: the busy view (flows, interfaces, drops) with IGMP and a proxy."""
    return busy_view().to_json() | {"igmp": copy.deepcopy(IGMP)}


def _fake_rawfwd(reply: dict[str, Any] | bytes) -> contextlib.AbstractContextManager[str]:
    """A control socket (ours, so trusted) on a fresh abstract name answering `reply` once."""
    data = reply if isinstance(reply, bytes) else json.dumps(reply).encode() + b"\n"
    return one_shot_server(data)


def _show(address: str, *args: str, columns: str = "300") -> subprocess.CompletedProcess[str]:
    """`rawfwd show ARGS` against `address`, not on a terminal, no colours forced."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run(
        [sys.executable, "-m", "rawfwd", "show", *args, "--control-socket", address],
        capture_output=True,
        text=True,
        check=False,
        env=env | {"COLUMNS": columns},
    )


def _with_escapes(reply: dict[str, Any]) -> dict[str, Any]:
    """`reply` with escape sequences in names that every table shows."""
    snap = reply["snapshot"]
    snap["interfaces"][0]["name"] = reply["links"][0]["name"] = "eth0" + ESC
    snap["flows"][0]["iif"] = "eth0" + ESC
    snap["flows"][0]["source"] = "10.0.0.5" + ESC
    group = reply["igmp"]["interfaces"][0]["groups"][0]
    group["sources"] = {"10.0.0.5" + ESC: 200.0}
    group["last_reporter"] = "10.1.0.2" + ESC
    reply["igmp"]["proxy"]["upstream"] = "up0" + ESC
    return reply


def _control_characters(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) == "Cc" and c != "\n"}


def test_show_never_prints_control_characters_from_the_reply() -> None:
    with _fake_rawfwd(_with_escapes(_reply())) as address:
        result = _show(address, "all")
    assert result.returncode == 0, result.stderr
    assert _control_characters(result.stdout) == set()
    for shown in ("eth0" + SHOWN, "10.0.0.5" + SHOWN, "10.1.0.2" + SHOWN, "up0" + SHOWN):
        assert shown in result.stdout


def test_show_json_escapes_control_characters_and_keeps_the_strings() -> None:
    with _fake_rawfwd(_with_escapes(_reply())) as address:
        result = _show(address, "all", "--json")
    assert result.returncode == 0, result.stderr
    assert _control_characters(result.stdout) == set()
    doc = json.loads(result.stdout)
    assert doc["interfaces"][0]["name"] == "eth0" + ESC
    assert doc["proxy"]["upstream"] == "up0" + ESC


def test_show_prints_markup_in_the_reply_as_it_is() -> None:
    reply = _reply()
    reply["igmp"]["proxy"]["upstream"] = "[/x][link=http://example.com]up0[/link]"
    with _fake_rawfwd(reply) as address:
        result = _show(address, "groups")
    assert result.returncode == 0, result.stderr
    caption = " ".join(result.stdout.split())  # as one line, however the table wrapped it
    assert "proxy upstream [/x][link=http://example.com]up0[/link] (v3" in caption


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(reply: dict[str, Any]) -> None:
        at: Any = reply
        for key in parents:
            at = at[int(key)] if isinstance(at, list) else at[key]
        del at[last]

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(reply: dict[str, Any]) -> None:
        at: Any = reply
        for key in parents:
            at = at[int(key)] if isinstance(at, list) else at[key]
        if isinstance(at, list):
            at[int(last)] = value
        else:
            at[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_drop("snapshot"), "KeyError: 'snapshot'"),
        (_drop("snapshot.flows.0.packets"), "KeyError: 'packets'"),
        (_set("links", 5), "TypeError: 'int' object is not iterable"),
        (_set("snapshot.interfaces.0", "eth0"), "TypeError: string indices must be integers"),
        (_set("snapshot.drops", {"gremlins": 1}), "ValueError: 'gremlins' is not a"),
        (_set("links.0.state", "sideways"), "ValueError: link state 'sideways' is not one of"),
        (_set("started", [1]), "TypeError: float() argument must be"),
        (_set("igmp", []), "igmp is not an object"),
        (_drop("igmp.interfaces.0.groups"), "igmp.interfaces[0] has no 'groups'"),
        (_set("igmp.interfaces.0.groups.0.expires", "soon"), "igmp.interfaces[0].groups[0]."),
        (
            _set("igmp.interfaces.0.groups.0.sources", {"10.0.0.5": "x"}),
            "igmp.interfaces[0].groups[0].sources['10.0.0.5'] has the wrong type (str)",
        ),
        (_set("igmp.proxy.groups", None), "igmp.proxy.groups is not a list"),
    ],
    ids=[
        "no-snapshot",
        "no-packets",
        "links-a-number",
        "interface-a-string",
        "unknown-drop",
        "bad-state",
        "started-a-list",
        "igmp-a-list",
        "igmp-no-groups",
        "igmp-expires-text",
        "igmp-source-timer-text",
        "proxy-groups-null",
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_show_of_a_malformed_reply_is_one_clear_line(
    change: Callable[[dict[str, Any]], None],
    reason: str,
    as_json: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reply = _reply()
    change(reply)
    with _fake_rawfwd(reply) as address:
        code = main(["show", "all", "--control-socket", address, *(["--json"] * as_json)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith(f"rawfwd: error: control socket {address}: not a rawfwd answer ({reason}")
    assert err.count("\n") == 1


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_show_of_a_malformed_reply_names_the_problem_without_control_characters(
    as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = _reply()
    reply["snapshot"]["drops"] = {ESC: 1}
    with _fake_rawfwd(reply) as address:
        code = main(["show", "all", "--control-socket", address, *(["--json"] * as_json)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert "is not a valid DropReason" in err
    assert _control_characters(err) == set()


@pytest.mark.parametrize("columns", ["abc", "0", "-3", "\uff11\uff12\uff10"])
def test_show_with_a_columns_that_is_not_a_width(
    columns: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    with _fake_rawfwd(_reply()) as address:
        code = main(["show", "interfaces", "--control-socket", address])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "eth0" in out


def _json_values() -> st.SearchStrategy[Any]:
    """Any JSON a reply could carry through the control socket's checks."""
    leaves = st.none() | st.booleans() | st.text(max_size=8)
    leaves |= st.integers(-(2**63), 2**63) | st.floats(-1e18, 1e18, allow_nan=False)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )


def _paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in `value` (JSON) that a mutation can replace or delete."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*path, key)))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_paths(inner, (*path, i)))
    return found


@given(data=st.data(), as_json=st.booleans())
@settings(max_examples=100)
def test_show_of_any_mangled_reply_is_a_table_or_one_clear_error(
    data: st.DataObject, as_json: bool
) -> None:
    """Whatever one part of a good reply is replaced by (or without it): never a bug."""
    reply = _reply()
    path = data.draw(st.sampled_from(_paths(reply)))
    parent: Any = reply
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_json_values())
    out = io.StringIO()
    error: RawfwdError | None = None
    with (
        mock.patch.object(runner.control_socket, "request", return_value=reply),
        contextlib.redirect_stdout(out),
    ):
        try:
            runner.show("all", as_json=as_json, control_address="@x")
        except RawfwdError as exc:
            error = exc
    if error is None:
        assert out.getvalue()  # a table, or JSON
    else:
        assert str(error).startswith("control socket @x: not a rawfwd answer (")
        assert "\n" not in str(error)
