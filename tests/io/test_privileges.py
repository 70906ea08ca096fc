"""Dropping privileges: the pure parts (masks, /proc parsing, the log line), and the real
drop in a child process, since capabilities once dropped never come back to the process
that dropped them (the test runner keeps its own).

A child (this module run with `-c`) drops, then tries what rawfwd still needs (an
AF_PACKET socket, reading its root-owned config) and what it must no longer be able to do
(a network namespace, chown, reading another user's file), and reports as JSON.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from rawfwd.io import privileges
from rawfwd.io.privileges import (
    CAP_NAMES,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_SYS_ADMIN,
    DEFAULT_KEEP,
    CapSets,
    DropResult,
    bounding_to_drop,
    cap_name,
    capabilities,
    capability_mask,
    describe,
    parse_status,
)

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="dropping capabilities needs root")
NET_RAW = 1 << CAP_NET_RAW  # 0x2000, as /proc shows CAP_NET_RAW alone
ONLY_NET_RAW = [NET_RAW, NET_RAW, NET_RAW, NET_RAW, 0]  # effective ... ambient
NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]
_CLONE_NEWNET = 0x40000000

STATUS = """\
Name:\tpython3
Pid:\t4242
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t000001ffffffffff
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
"""


# -- pure --------------------------------------------------------------------------------


def test_the_names_follow_the_kernel_numbering() -> None:
    assert (CAP_NAMES[CAP_NET_RAW], CAP_NAMES[CAP_NET_ADMIN], CAP_NAMES[40]) == (
        "CAP_NET_RAW",
        "CAP_NET_ADMIN",
        "CAP_CHECKPOINT_RESTORE",
    )


def test_a_capability_newer_than_the_table_gets_a_number_for_a_name() -> None:
    assert cap_name(41) == "CAP_41"


def test_net_raw_alone_is_the_mask_proc_shows() -> None:
    assert capability_mask(DEFAULT_KEEP) == NET_RAW


def test_a_negative_capability_is_refused() -> None:
    with pytest.raises(ValueError, match="no capability -1"):
        capability_mask({-1})


@given(st.frozensets(st.integers(0, 63)))
def test_mask_and_set_round_trip(caps: frozenset[int]) -> None:
    assert capabilities(capability_mask(caps)) == caps


def test_the_bounding_set_loses_all_but_the_kept_ones() -> None:
    full = (1 << 41) - 1
    assert bounding_to_drop(DEFAULT_KEEP, full, 40) == tuple(c for c in range(41) if c != 13)


def test_capabilities_not_in_the_bounding_set_are_not_dropped_again() -> None:
    bounding = (1 << 41) - 1 & ~(1 << 24) & ~(1 << CAP_SYS_ADMIN)
    assert 24 not in bounding_to_drop(DEFAULT_KEEP, bounding, 40)
    assert CAP_SYS_ADMIN not in bounding_to_drop(DEFAULT_KEEP, bounding, 40)


def test_nothing_beyond_the_kernels_last_capability_is_dropped() -> None:
    assert bounding_to_drop(set(), (1 << 64) - 1, 37) == tuple(range(38))


def test_status_lines_are_read_as_hex_masks() -> None:
    full = (1 << 41) - 1
    assert parse_status(STATUS) == CapSets(full, full, 0, full, 0)


def test_a_status_without_capabilities_is_an_error() -> None:
    with pytest.raises(ValueError, match="CapAmb"):
        parse_status(STATUS.replace("CapAmb", "Other"))


def test_a_thread_holding_a_capability_the_limit_lacks_exceeds_it() -> None:
    limit = CapSets(NET_RAW, NET_RAW, NET_RAW, NET_RAW, 0)
    assert limit._replace(bounding=NET_RAW | 1).exceeds(limit)


def test_a_thread_holding_less_than_the_limit_does_not_exceed_it() -> None:
    limit = CapSets(NET_RAW, NET_RAW, NET_RAW, NET_RAW, 0)
    assert not CapSets(0, 0, 0, NET_RAW, 0).exceeds(limit)


def test_the_log_line_after_a_clean_drop() -> None:
    result = DropResult(frozenset({CAP_NET_ADMIN, CAP_NET_RAW}), ok=True)
    assert describe(result) == "privileges: kept CAP_NET_ADMIN, CAP_NET_RAW; dropped the rest"


def test_the_log_line_says_why_not_everything_went() -> None:
    result = DropResult(frozenset({CAP_NET_RAW}), ok=False, reason="no CAP_SETPCAP")
    assert (
        describe(result) == "privileges: kept CAP_NET_RAW; could not drop the rest: no CAP_SETPCAP"
    )


def test_the_log_line_names_threads_that_still_hold_more() -> None:
    result = DropResult(frozenset(), ok=True, threads=(11, 12))
    assert describe(result) == (
        "privileges: kept none; dropped the rest; threads started before still hold more: 11, 12"
    )


def test_only_a_complete_drop_in_every_thread_is_clean() -> None:
    assert (
        DropResult(frozenset(), ok=True).clean,
        DropResult(frozenset(), ok=False).clean,
        DropResult(frozenset(), ok=True, threads=(5,)).clean,
    ) == (True, False, False)


# -- the real drop, in a child -------------------------------------------------------------


def _errno_of(action: Callable[[], object]) -> int:
    """0 if `action()` succeeds, else the errno of the OSError it raised."""
    try:
        action()
    except OSError as exc:
        return exc.errno or -1
    return 0


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _thread_sets() -> dict[str, list[int]]:
    found = {}
    for task in Path("/proc/self/task").iterdir():
        found[task.name] = list(parse_status((task / "status").read_text()))
    return found


def child(scenario: str, workdir: str) -> None:
    """Run in the child: drop (`scenario` says how), try things, print what happened."""
    report: dict[str, Any] = {}
    started, stop = threading.Event(), threading.Event()

    def wait() -> None:
        report.setdefault("tids", []).append(threading.get_native_id())
        started.set()
        stop.wait()

    if scenario in ("early-thread", "trio-and-early-thread"):  # started before, not trio's
        threading.Thread(target=wait).start()
        started.wait()
    if scenario == "twice":  # the second drop has no CAP_SETPCAP left
        privileges.drop_privileges(frozenset({CAP_NET_RAW, CAP_NET_ADMIN}))
    if scenario.startswith("trio"):
        result = trio.run(_drop_under_trio, report)
    else:
        result = privileges.drop_privileges()
    report["result"] = [sorted(result.kept), result.ok, result.reason, list(result.threads)]
    report["line"] = describe(result)
    started.clear()
    threading.Thread(target=wait).start()  # after the drop: it inherits the kept set
    started.wait()
    report["threads"] = _thread_sets()
    work = Path(workdir)
    report["packet"] = _errno_of(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())
    report["unshare"] = _errno_of(_unshare_net)
    report["chown"] = _errno_of(lambda: os.chown(work / "mine", NOBODY, -1))
    report["read_own"] = _errno_of((work / "mine").read_bytes)
    report["read_other"] = _errno_of((work / "theirs").read_bytes)
    report["no_new_privs"] = "NoNewPrivs:\t1" in Path("/proc/self/status").read_text()
    stop.set()
    print(json.dumps(report))


async def _drop_under_trio(report: dict[str, Any]) -> DropResult:
    # a worker thread trio keeps for the next job, as after binding the control socket
    report["worker"] = await trio.to_thread.run_sync(threading.get_native_id)
    result = await privileges.drop_privileges_everywhere()
    report["worker_after"] = await trio.to_thread.run_sync(
        lambda: [threading.get_native_id(), *privileges.thread_caps()]
    )
    return result


def _run_child(scenario: str, tmp_path: Path, *prefix: str) -> dict[str, Any]:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.write_text("root's own config\n")
    mine.chmod(0o600)
    theirs.write_text("somebody else's\n")
    theirs.chmod(0o600)
    os.chown(theirs, NOBODY, NOBODY)
    code = f"from tests.io.test_privileges import child; child({scenario!r}, {str(tmp_path)!r})"
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def dropped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run_child("clean", tmp_path_factory.mktemp("drop"))


@root_only
def test_the_drop_keeps_net_raw_only(dropped: dict[str, Any]) -> None:
    assert dropped["result"] == [[CAP_NET_RAW], True, "", []]


@root_only
def test_the_drop_logs_what_it_kept(dropped: dict[str, Any]) -> None:
    assert dropped["line"] == "privileges: kept CAP_NET_RAW; dropped the rest"


@root_only
def test_every_thread_holds_net_raw_only(dropped: dict[str, Any]) -> None:
    assert len(dropped["threads"]) == 2  # the main thread, one started after the drop
    for tid, sets in dropped["threads"].items():
        assert sets == ONLY_NET_RAW, tid


@root_only
def test_after_the_drop_packet_sockets_still_open(dropped: dict[str, Any]) -> None:
    assert dropped["packet"] == 0


@root_only
def test_after_the_drop_no_network_namespace_can_be_made(dropped: dict[str, Any]) -> None:
    assert dropped["unshare"] == 1  # EPERM


@root_only
def test_after_the_drop_no_file_can_be_given_away(dropped: dict[str, Any]) -> None:
    assert dropped["chown"] == 1  # EPERM


@root_only
def test_after_the_drop_a_root_owned_0600_config_still_reads(dropped: dict[str, Any]) -> None:
    assert dropped["read_own"] == 0


@root_only
def test_after_the_drop_another_users_private_file_is_refused(dropped: dict[str, Any]) -> None:
    assert dropped["read_other"] == 13  # EACCES: no CAP_DAC_OVERRIDE/READ_SEARCH


@root_only
def test_after_the_drop_no_exec_gains_privileges(dropped: dict[str, Any]) -> None:
    assert dropped["no_new_privs"] is True


@root_only
def test_a_thread_started_before_the_drop_is_reported(tmp_path: Path) -> None:
    report = _run_child("early-thread", tmp_path)
    early = report["tids"][0]
    assert report["result"][3] == [early]
    assert report["threads"][str(early)][0] & ~NET_RAW  # it really still holds more


@root_only
def test_a_second_drop_without_setpcap_still_lowers_what_is_held(tmp_path: Path) -> None:
    # the first drop kept CAP_NET_ADMIN too and gave up CAP_SETPCAP
    report = _run_child("twice", tmp_path)
    assert report["result"] == [
        [CAP_NET_RAW],
        False,
        "no CAP_SETPCAP (running as root): the bounding set stays",
        [],
    ]
    for tid, sets in report["threads"].items():
        assert sets == [NET_RAW, NET_RAW, NET_RAW, NET_RAW | 1 << CAP_NET_ADMIN, 0], tid


@root_only
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_not_root_with_ambient_capabilities_drops_what_it_can(tmp_path: Path) -> None:
    # as rawfwd was shown to run: uid 65534 with CAP_NET_RAW (and here CAP_NET_ADMIN too)
    report = _run_child(
        "clean",
        tmp_path,
        *("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"),
        *("--inh-caps=+net_raw,+net_admin", "--ambient-caps=+net_raw,+net_admin"),
    )
    kept, ok, reason, _ = report["result"]
    assert (kept, ok) == ([CAP_NET_RAW], False)
    assert reason == "no CAP_SETPCAP (not running as root): the bounding set stays"
    for tid, sets in report["threads"].items():
        assert sets[:3] == [NET_RAW, NET_RAW, NET_RAW], tid
    assert report["packet"] == 0


@root_only
def test_trio_s_cached_worker_thread_drops_too(tmp_path: Path) -> None:
    report = _run_child("trio-worker", tmp_path)
    assert report["result"] == [[CAP_NET_RAW], True, "", []]
    # the next job runs in that same thread, which holds CAP_NET_RAW only by now
    assert report["worker_after"] == [report["worker"], NET_RAW, NET_RAW, NET_RAW, NET_RAW, 0]


@root_only
def test_after_dropping_under_trio_every_thread_holds_net_raw_only(tmp_path: Path) -> None:
    report = _run_child("trio-worker", tmp_path)
    assert {tid for tid, sets in report["threads"].items() if sets != ONLY_NET_RAW} == set()


@root_only
def test_a_thread_trio_cannot_reach_is_still_reported(tmp_path: Path) -> None:
    report = _run_child("trio-and-early-thread", tmp_path)
    assert report["result"][3] == [report["tids"][0]]
