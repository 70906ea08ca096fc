"""A lab stopped by a supervisor (SIGTERM) or a closed terminal (SIGHUP) removes all it
made, as after Ctrl-C: `rawfwd demo` and examples/radio_mesh.py run as subprocesses,
signalled once their namespaces exist and their rawfwd children run.

A process left inside a namespace keeps it alive after `ip netns del` removed its name,
so the tests hold each namespace open (its inode number cannot be reused meanwhile) and
look for any process still inside one, besides the names and the files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from rawfwd.lab.netns import cleaning_up, ended_by_signals

from ..support.lab import wait_for

root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
MESH_SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "radio_mesh.py"
DEMO_ANNOUNCE = r"namespaces (rfdemo-[0-9a-f]+)-\*, config (\S+)/demo\.toml"
MESH_ANNOUNCE = r"namespaces (rfmesh-[0-9a-f]+)-\*, files in (\S+)"
NsId = tuple[int, int]  # (st_dev, st_ino) of a network namespace


def _namespaces(tag: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith(f"{tag}-")}


def _processes() -> Iterator[tuple[int, list[str], NsId | None]]:
    """(pid, argv, network namespace) of every process (None: a zombie's, or gone)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            ns: NsId | None = (st.st_dev, st.st_ino)
        except OSError:
            ns = None
        yield int(entry), argv.split("\0"), ns


class _Lab:
    """A lab program run as a subprocess in a process group of its own (as a shell runs a
    job), with its output in a file; on exit whatever it left (a failing test's) is
    killed and deleted."""

    def __init__(self, argv: list[str], log: Path, announce: str) -> None:
        self.log = log
        self.announce = announce
        self.out = log.open("wb")
        self.proc = subprocess.Popen(
            argv, stdout=self.out, stderr=subprocess.STDOUT, process_group=0
        )
        self.tag = ""
        self.scratch: Path | None = None
        self.held: dict[str, int] = {}  # namespace name -> open fd on it

    def __enter__(self) -> _Lab:
        return self

    def wait_running(self, hosts: set[str], rawfwd_on: set[str], said: str = "") -> None:
        """Bounded poll until the lab said its tag, made `hosts`, runs `rawfwd run` in
        each of `rawfwd_on` and has written `said`; its namespaces are held open."""

        def announced() -> re.Match[str] | None:
            assert self.proc.poll() is None, self.log.read_text()
            return re.search(self.announce, self.log.read_text())

        told = wait_for(announced, timeout=20, what="the lab's namespace tag")
        self.tag, self.scratch = told.group(1), Path(told.group(2))
        names = {f"{self.tag}-{h}" for h in hosts}
        wait_for(lambda: _namespaces(self.tag) == names, timeout=20, what=f"namespaces {names}")
        for name in names:
            self.held[name] = os.open(f"/run/netns/{name}", os.O_RDONLY)
        wanted = {self._id(f"{self.tag}-{h}") for h in rawfwd_on}

        def running() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            return wanted <= {
                ns for _, argv, ns in _processes() if argv[1:4] == ["-m", "rawfwd", "run"]
            }

        wait_for(running, timeout=20, what=f"rawfwd run on {sorted(rawfwd_on)}")
        wait_for(lambda: said in self.log.read_text(), timeout=20, what=repr(said))

    def _id(self, name: str) -> NsId:
        st = os.fstat(self.held[name])
        return st.st_dev, st.st_ino

    def leftovers(self) -> list[list[str]]:
        """Processes inside one of the lab's namespaces, or naming its namespaces or files."""
        ids = {self._id(name) for name in self.held}
        marks = [f"{self.tag}-", str(self.scratch)]
        return [
            argv
            for pid, argv, ns in _processes()
            if pid != os.getpid()
            and (ns in ids or any(mark in arg for arg in argv for mark in marks))
        ]

    def assert_removed_all(self) -> None:
        """The lab exited (bounded wait) and nothing it made remains."""
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after the signal:\n{self.log.read_text()}")
        assert _namespaces(self.tag) == set(), self.log.read_text()
        assert self.leftovers() == [], self.log.read_text()
        assert self.scratch is not None
        assert not self.scratch.exists(), self.log.read_text()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        ids = {self._id(name) for name in self.held}
        for pid, _, ns in _processes():
            if ns in ids and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
        if self.tag:
            for name in _namespaces(self.tag):
                subprocess.run(["ip", "netns", "del", name], check=False)
        for fd in self.held.values():
            os.close(fd)
        scratch = self.scratch
        if scratch is not None and scratch.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(scratch, ignore_errors=True)


def _demo(tmp_path: Path) -> _Lab:
    argv = [sys.executable, "-m", "rawfwd", "demo", "--no-ui"]
    return _Lab(argv, tmp_path / "demo.log", DEMO_ANNOUNCE)


def _mesh(tmp_path: Path) -> _Lab:
    argv = [sys.executable, str(MESH_SCRIPT), "--topology", "line", "--size", "2",
            "--packets", "1"]  # fmt: skip
    return _Lab(argv, tmp_path / "mesh.log", MESH_ANNOUNCE)


@root
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_demo_ended_by_a_signal_removes_everything(tmp_path: Path, signum: int) -> None:
    with _demo(tmp_path) as lab:
        lab.wait_running({"S", "R", "A", "B"}, rawfwd_on={"R"})
        lab.proc.send_signal(signum)
        lab.assert_removed_all()


@root
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_radio_mesh_example_ended_by_a_signal_removes_everything(
    tmp_path: Path, signum: int
) -> None:
    with _mesh(tmp_path) as lab:
        lab.wait_running({"air", "n1", "n2"}, rawfwd_on={"n1", "n2"})
        lab.proc.send_signal(signum)
        lab.assert_removed_all()


@root
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_demo_signalled_with_its_process_group_stops_rawfwd_once(
    tmp_path: Path, signum: int
) -> None:
    """`timeout` signals the whole group, a terminal's Ctrl-C too: rawfwd must not get that
    and then the demo's SIGTERM, which would kill it as it stops (exit status 241)."""
    with _demo(tmp_path) as lab:
        lab.wait_running({"S", "R", "A", "B"}, rawfwd_on={"R"}, said="forwarding:")
        os.killpg(lab.proc.pid, signum)
        lab.assert_removed_all()
        assert lab.proc.returncode == 0, lab.log.read_text()


@root
def test_signals_during_the_cleanup_do_not_cut_it_short(tmp_path: Path) -> None:
    """SIGTERM, then SIGHUP, SIGINT, SIGTERM... every 10 ms until the demo has exited."""
    with _demo(tmp_path) as lab:
        lab.wait_running({"S", "R", "A", "B"}, rawfwd_on={"R"})
        kinds = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
        for n in range(3000):  # 30 s at most
            lab.proc.send_signal(kinds[n % len(kinds)])
            try:
                lab.proc.wait(timeout=0.01)
                break
            except subprocess.TimeoutExpired:
                continue
        lab.assert_removed_all()


# -- the handlers themselves, in this process ----------------------------------------------


def test_the_first_signal_interrupts_later_ones_do_not_and_handlers_come_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with ended_by_signals():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGHUP)  # cleanup is under way: not another interrupt
        signal.raise_signal(signal.SIGINT)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_signal_during_cleanup_waits_until_the_cleanup_is_done() -> None:
    done = []

    def clean() -> None:
        with cleaning_up():
            signal.raise_signal(signal.SIGHUP)
            done.append("cleaned")  # reached: the signal did not cut the cleanup short
        done.append("after")  # not reached: the interrupt comes as the cleanup ends

    with ended_by_signals(), pytest.raises(KeyboardInterrupt):
        clean()
    assert done == ["cleaned"]
