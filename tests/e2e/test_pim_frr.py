"""PIM end to end against FRR's pimd (the PIM-SM issue): rawfwd and FRR, each in its own
namespace on one LAN, become neighbours both ways by Hello, agree on the DR, and FRR
forgets rawfwd at once when rawfwd stops (its goodbye Hello, RFC 7761 section 4.3.1).

FRR runs in a plain namespace: without the kernel's multicast routing it cannot forward,
but it exchanges PIM messages, which is all this test asks of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.lab import RouterLab, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

FRR = Path("/usr/lib/frr")
RAWFWD = "10.1.0.1"  # R's eth1
PEER = "10.1.0.2"  # A's eth0, where FRR runs


def config(priority: int) -> str:
    return f"""\
[interface.eth0]
[interface.eth1]
pim = true
hello_interval = 1
hello_holdtime = 60
dr_priority = {priority}
"""


class Frr:
    """zebra and pimd of FRR in namespace `ns`, their sockets and logs under `home`."""

    def __init__(self, ns: str, home: Path, priority: int) -> None:
        if not (FRR / "pimd").exists():
            pytest.fail("FRR is not installed: `make test` installs it (Debian's frr)")
        self.ns, self.home = ns, home
        shutil.chown(home, "frr", "frr")  # FRR's daemons drop to user frr
        (home / "pimd.conf").write_text(
            "frr defaults traditional\n"
            "interface eth0\n"
            " ip pim\n"
            " ip pim hello 1 4\n"
            f" ip pim drpriority {priority}\n"
        )
        (home / "zebra.conf").write_text("frr defaults traditional\n")
        self.logs: list[Any] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        for daemon in ("zebra", "pimd"):
            self.procs.append(self._start(daemon))

    def _start(self, daemon: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{daemon}.log").open("wb")
        self.logs.append(log)
        cmd = [
            "ip", "netns", "exec", self.ns, str(FRR / daemon),
            "-f", str(self.home / f"{daemon}.conf"),
            "-i", str(self.home / f"{daemon}.pid"),
            "-z", str(self.home / "zserv.api"),
            "--vty_socket", str(self.home),
            "-P", "0",
            "--log", "stdout",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if daemon == "zebra":
            wait_for(lambda: (self.home / "zserv.api").exists(), what="zebra's socket")
        return proc

    def show(self, command: str) -> Any:
        """`vtysh -c COMMAND` against pimd, its JSON."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, "vtysh", "--vty_socket", str(self.home),
             "-d", "pimd", "-c", command],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        if done.returncode != 0 or not done.stdout.strip():
            return None
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return None

    def neighbor(self, address: str) -> dict[str, Any] | None:
        found = self.show("show ip pim neighbor json") or {}
        result: dict[str, Any] | None = found.get("eth0", {}).get(address)
        return result

    def dr(self) -> str | None:
        found = self.show("show ip pim interface json") or {}
        dr: str | None = found.get("eth0", {}).get("pimDesignatedRouter")
        return dr

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


@pytest.fixture(params=[10, 1], ids=["rawfwd-priority-10", "equal-priorities"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[RouterLab, Frr]]:
    # outside tmp_path, whose parents only root may enter: FRR runs as user frr
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-frr-") as scratch,
        RouterLab(tmp_path, config(priority=request.param)) as router,
    ):
        frr = Frr(router.ns("A"), Path(scratch), priority=1)
        try:
            router.start()
            yield router, frr
        finally:
            frr.close()


def rawfwd_interface(router: RouterLab) -> dict[str, Any]:
    (found,) = [i for i in router.show()["pim"]["interfaces"] if i["interface"] == "eth1"]
    return found  # type: ignore[no-any-return]


def test_neighbours_both_ways_and_one_dr(lab: tuple[RouterLab, Frr]) -> None:
    router, frr = lab
    priority = 10 if "dr_priority = 10" in router.config.read_text() else 1
    theirs = wait_for(lambda: frr.neighbor(RAWFWD), 20, "FRR to list rawfwd as a neighbour")
    assert theirs["drPriority"] == priority
    assert theirs["holdTimeMax"] == 60

    def ours() -> dict[str, Any] | None:
        found = rawfwd_interface(router)["neighbors"]
        return found[0] if found else None

    neighbor = wait_for(ours, 20, "rawfwd to list FRR as a neighbour")
    assert neighbor["address"] == PEER
    assert neighbor["dr_priority"] == 1
    assert neighbor["holdtime"] == 4  # `ip pim hello 1 4`
    assert isinstance(neighbor["generation_id"], int)
    # RFC 7761 4.3.2: priority 10 beats 1; equal priorities, the higher address (FRR's)
    dr = RAWFWD if priority == 10 else PEER
    wait_for(lambda: frr.dr() == dr, 10, f"FRR to elect {dr}")
    iface = rawfwd_interface(router)
    assert (iface["dr"], iface["is_dr"]) == (dr, dr == RAWFWD)
    # rawfwd stops: its goodbye (holdtime 0) makes FRR forget it at once, not in 60 s
    router.stop()
    wait_for(lambda: frr.neighbor(RAWFWD) is None, 3, "FRR to forget rawfwd")
    wait_for(lambda: frr.dr() == PEER, 5, "FRR to be the DR alone")
