"""The control socket cannot be squatted: a user who binds @rawfwd first changes nothing.

In a fresh namespace, a process running as uid 65534 (nobody) holds the abstract name
@rawfwd and answers with a fake view. `rawfwd run` with the default address still starts
(its socket is a file in root's /run/rawfwd), `rawfwd show` finds the real instance, and
asking the squatter by name is refused.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import Lab, rawfwd_in, stop

from ..support.lab import wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3"),
]

#: drops to nobody, binds @rawfwd, says "ready", then answers every request with a view
#: whose strings carry escape sequences
SQUATTER = r"""
import json, os, socket
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0rawfwd"); s.listen(8)
print("ready", flush=True)
fake = {"config_path": "/squatter\x1b[2J", "started": 0.0, "links": [], "igmp": None,
        "rates": {"flows": [], "interfaces": {}},
        "snapshot": {"now": 1.0, "flows": [], "interfaces": [], "drops": {},
                     "dedup_entries": 0, "flows_evicted": 0, "flows_expired": 0}}
while True:
    conn, _ = s.accept()
    with conn:
        conn.settimeout(5)
        try:
            conn.recv(64)
            conn.sendall(json.dumps(fake).encode() + b"\n")
        except OSError:
            pass
"""


class Namespace:
    """Namespace R (eth0, a veth to H), and the processes started in it."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.ns = lab.host("R")
        lab.host("H")
        lab.link("H", "eth0", "10.9.0.2/24", "R", "eth0", "10.9.0.1/24")
        self.tmp = tmp
        self.config = tmp / "rawfwd.toml"
        self.config.write_text("[interface.eth0]\n")
        self.procs: list[subprocess.Popen[str]] = []

    def squat(self) -> subprocess.Popen[str]:
        """Start the squatter and wait (bounded) until it holds @rawfwd."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "/usr/bin/python3", "-c", SQUATTER],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the squatter did not start"
        assert proc.stdout.readline() == "ready\n"
        return proc

    def run(self, name: str) -> subprocess.Popen[str]:
        """`rawfwd run` with the default control socket; stderr goes to TMP/NAME.log."""
        with (self.tmp / f"{name}.log").open("w") as log:
            proc = subprocess.Popen(
                rawfwd_in(self.ns, "run", "-c", str(self.config), "--no-ui"),
                stderr=log,
                text=True,
            )
        self.procs.append(proc)
        return proc

    def show(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            rawfwd_in(self.ns, "show", *args), capture_output=True, text=True, check=False
        )

    def answering(self, proc: subprocess.Popen[str], name: str) -> dict[str, Any] | None:
        """What `show --json` says, once it says something (None until then)."""
        if proc.poll() is not None:
            raise AssertionError(f"rawfwd exited: {(self.tmp / f'{name}.log').read_text()}")
        done = self.show("--json")
        if done.returncode != 0:
            return None
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc

    def close(self) -> None:
        stop(self.procs)
        for proc in self.procs:
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[Namespace]:
    with Lab("rfctl") as lab:
        namespace = Namespace(lab, tmp_path)
        try:
            yield namespace
        finally:
            namespace.close()


def test_a_squatter_on_the_abstract_name_changes_nothing(netns: Namespace) -> None:
    squatter = netns.squat()
    rawfwd = netns.run("first")
    doc = wait_for(lambda: netns.answering(rawfwd, "first"), what="rawfwd to answer show")
    assert doc["config_path"] == str(netns.config)  # the real instance, not the squatter
    assert [i["name"] for i in doc["interfaces"]] == ["eth0"]

    inode = os.stat(f"/run/netns/{netns.ns}").st_ino
    st = os.lstat("/run/rawfwd")
    assert (st.st_uid, oct(st.st_mode & 0o7777)) == (0, "0o700")
    assert Path(f"/run/rawfwd/netns-{inode}.sock").is_socket()

    asked = netns.show("--control-socket", "@rawfwd")
    assert (asked.returncode, asked.stdout) == (2, "")
    assert asked.stderr.startswith("rawfwd: error: control socket @rawfwd is served by uid 65534")
    assert asked.stderr.count("\n") == 1

    assert squatter.poll() is None  # it held the name all along

    stop([rawfwd])
    assert rawfwd.returncode == 0
    assert not Path(f"/run/rawfwd/netns-{inode}.sock").exists()


def test_a_second_instance_in_the_namespace_stops_and_the_first_goes_on(
    netns: Namespace,
) -> None:
    first = netns.run("first")
    wait_for(lambda: netns.answering(first, "first"), what="rawfwd to answer show")
    second = netns.run("second")
    assert second.wait(timeout=30) == 2
    assert (
        (netns.tmp / "second.log")
        .read_text()
        .endswith(
            "is in use: another rawfwd runs in this network namespace (give this one "
            "--control-socket)\n"
        )
    )
    doc = netns.answering(first, "first")  # its socket file is still there
    assert doc is not None
    assert doc["config_path"] == str(netns.config)
