"""`rawfwd run` gives up every capability but CAP_NET_RAW once started, and still forwards:
on the interfaces it opened as root, through FIB lookups in worker threads started after
the drop, after a SIGHUP that re-reads its root-owned mode-0600 config, and on an interface
created afterwards (a new AF_PACKET socket with its rings).

Until Daemon.run calls rawfwd.io.privileges, rawfwd logs no "privileges:" line and these
tests skip, saying so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawfwd.io.privileges import CAP_NET_RAW, KEPT_ALL, CapSets, parse_status

from ..support.lab import RouterLab, drain, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.1.2.3"
OTHER = "239.9.9.9"
NET_RAW = 1 << CAP_NET_RAW
ONLY_NET_RAW = CapSets(NET_RAW, NET_RAW, NET_RAW, NET_RAW, 0)
#: no `from`: the RPF interface comes from FIB lookups, which run in worker threads
CONFIG = f"""\
[interface.eth0]
[interface.eth1]
[interface.eth2]
[interface.eth3]

[[route]]
group = "{GROUP}"
to = ["eth1", "eth2"]
"""


def privileges_line(lab: RouterLab) -> str | None:
    """The "privileges: ..." message rawfwd logged at start-up, None if it logged none.

    Logged before "forwarding: ...", which ends start-up: once that is in the log, the
    other is there too if it ever will be.
    """

    def log_lines() -> list[str] | None:
        lines = (lab.tmp / "rawfwd.log").read_text().splitlines()  # RouterLab's stderr
        return lines if any("rawfwd INFO: forwarding: " in line for line in lines) else None

    lines: list[str] = wait_for(log_lines, what="rawfwd's start-up log")
    for line in lines:
        _, found, message = line.partition("privileges: ")
        if found:
            return found + message
    return None


def require_drop(lab: RouterLab) -> str:
    line = privileges_line(lab)
    if line is None:
        pytest.skip(
            "rawfwd run logged no 'privileges:' line: Daemon.run does not call "
            "rawfwd.io.privileges.drop_privileges_everywhere yet"
        )
    return line


def thread_caps(pid: int) -> dict[int, CapSets]:
    """The capability sets of every thread of process `pid`."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = parse_status((task / "status").read_text())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return found


def rawfwd_pid(lab: RouterLab) -> int:
    assert lab.proc is not None
    return lab.proc.pid  # `ip netns exec` runs rawfwd in place (exec)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RouterLab]:
    with RouterLab(tmp_path, CONFIG) as router:
        router.config.chmod(0o600)  # root's own, private: still readable without DAC caps
        router.start()
        require_drop(router)
        yield router


def test_rawfwd_logs_that_it_kept_net_raw_only(lab: RouterLab) -> None:
    assert privileges_line(lab) == "privileges: kept CAP_NET_RAW; dropped the rest"


def test_every_thread_holds_net_raw_only_while_forwarding(lab: RouterLab) -> None:
    a = lab.receiver("A", GROUP)
    tx = lab.sender("S")
    tx.sendto(b"first", (GROUP, 5000))  # held until a FIB worker thread answers for RPF
    assert drain(a, want=1) == [b"first"]
    payloads = [b"unprivileged %d" % i for i in range(20)]
    for p in payloads:
        tx.sendto(p, (GROUP, 5000))
    assert drain(a, want=20) == payloads
    caps = thread_caps(rawfwd_pid(lab))
    assert len(caps) >= 2, "the FIB worker thread (trio keeps it 10 s) should be checked too"
    assert {tid: sets for tid, sets in caps.items() if sets != ONLY_NET_RAW} == {}


def test_no_exec_can_win_privileges_back(lab: RouterLab) -> None:
    status = Path(f"/proc/{rawfwd_pid(lab)}/status").read_text()
    assert "NoNewPrivs:\t1" in status


def test_a_private_root_owned_config_reloads_after_the_drop(lab: RouterLab) -> None:
    a = lab.receiver("A", OTHER)
    tx = lab.sender("S")
    lab.config.write_text(CONFIG.replace(GROUP, OTHER))  # mode 0600 stays
    lab.signal(signal.SIGHUP)

    def reloaded() -> bool:
        tx.sendto(b"reloaded", (OTHER, 5000))
        return b"reloaded" in drain(a, timeout=0.2)

    wait_for(reloaded, what="the route from the reloaded config")
    assert lab.stop() == 0
    assert "reload failed" not in lab.stderr


def test_an_interface_created_after_the_drop_is_opened_with_rings(lab: RouterLab) -> None:
    subprocess.run(["ip", "-n", lab.ns("R"), "link", "del", "eth2"], check=True)
    wait_for(lambda: _state(lab, "eth2") == "absent", what="eth2 absent")
    lab.connect("B")
    wait_for(lambda: _state(lab, "eth2") == "up", what="eth2 back up")
    b = lab.receiver("B", GROUP)
    tx = lab.sender("S")

    def arrives() -> bool:
        tx.sendto(b"new socket", (GROUP, 5000))
        return b"new socket" in drain(b, timeout=0.2)

    wait_for(arrives, what="forwarding on the recreated eth2")
    assert lab.stop() == 0
    # a ring that could not be set up without privileges would fall back with a warning
    assert "packet rings unavailable" not in lab.stderr
    assert "cannot open" not in lab.stderr


def _state(lab: RouterLab, name: str) -> str:
    (iface,) = [i for i in lab.show()["interfaces"] if i["name"] == name]
    return str(iface["state"])


def test_keep_privileges_keeps_every_capability(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rawfwd", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    if "--keep-privileges" not in done.stdout:
        pytest.skip("rawfwd run has no --keep-privileges option yet")
    with RouterLab(tmp_path, CONFIG) as router:
        router.start("--keep-privileges")
        assert privileges_line(router) == KEPT_ALL
        mine = parse_status(Path("/proc/self/status").read_text())
        assert thread_caps(rawfwd_pid(router))[rawfwd_pid(router)] == mine
