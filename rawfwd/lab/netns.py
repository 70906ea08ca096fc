"""Network namespaces for the demo and the end-to-end tests: hosts joined by veth pairs.

`Lab` creates uniquely named namespaces (prefix + random suffix) and deletes them all on
exit, even after an error; deleting a namespace deletes its veth ends. `socket_in` makes a
socket inside a namespace from this process: a socket stays in the namespace it was created
in, so one short-lived thread enters the namespace (setns(2) affects only the calling
thread), creates it and ends.

A lab program (the demo, examples/radio_mesh.py) runs inside `ended_by_signals()`, so a
supervisor's SIGTERM or a closed terminal's SIGHUP removes everything as Ctrl-C does; its
cleanup runs inside `cleaning_up()`, so that no signal cuts it short.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self, TypeVar

from ..errors import RawfwdError

_CLONE_NEWNET = 0x40000000
_ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
T = TypeVar("T")


class _Ending:
    """What `ended_by_signals` knows: whether the program was told to end, and whether a
    cleanup is running (a signal then waits for it)."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the signal that ended the program
        self.cleanups = 0  # `cleaning_up` blocks running
        self.deferred: int | None = None  # a signal that came during one

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            return  # already ending: a second signal must not cut the cleanup short
        if self.cleanups:
            self.deferred = signum
            return
        self.signum = signum
        raise KeyboardInterrupt


_ending: list[_Ending] = []  # innermost last


@contextlib.contextmanager
def ended_by_signals() -> Iterator[None]:
    """Within: SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, once; the first
    ends the program, later ones are ignored while it cleans up. The handlers there were
    before come back on exit (main thread only, as for any signal handler)."""
    state = _Ending()
    before = {signum: signal.getsignal(signum) for signum in _ENDING}
    _ending.append(state)
    try:
        for signum in _ENDING:
            signal.signal(signum, state.handle)
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        _ending.remove(state)


@contextlib.contextmanager
def cleaning_up() -> Iterator[None]:
    """Within: an ending signal waits, and interrupts as the outermost such block ends,
    so that a cleanup is never left half done."""
    state = _ending[-1] if _ending else None
    if state is None:
        yield
        return
    state.cleanups += 1
    try:
        yield
    finally:
        state.cleanups -= 1
        if not state.cleanups and state.deferred is not None and state.signum is None:
            state.signum = state.deferred
            raise KeyboardInterrupt


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def in_netns(netns: str, make: Callable[[], T]) -> T:
    """`make()` run inside network namespace `netns`: what it creates (sockets) stays there."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            _setns(f"/run/netns/{netns}")
            result.append(make())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def socket_in(netns: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside network namespace `netns` (usable from any thread)."""
    return in_netns(netns, lambda: socket.socket(family, kind, proto))


def ip(*args: str, netns: str | None = None) -> None:
    """Run `ip ARGS` (in `netns`), raising RawfwdError with ip's message on failure."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RawfwdError(f"{' '.join(cmd)}: {done.stderr.strip() or 'failed'}")


def stop(procs: Sequence[subprocess.Popen[Any]], timeout: float = 10.0) -> None:
    """SIGTERM every process, then wait for each; one still running after `timeout`
    seconds is killed (a test or demo must never leave a rawfwd behind)."""
    with cleaning_up():
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _children_in(namespaces: Sequence[str]) -> list[int]:
    """This process's children inside `namespaces` (zombies have left theirs).

    `ip netns exec` becomes the command it runs, so a child started in a namespace is
    found here whatever it runs.
    """
    ids = set()
    for name in namespaces:
        with contextlib.suppress(OSError):
            st = os.stat(f"/run/netns/{name}")
            ids.add((st.st_dev, st.st_ino))
    if not ids:
        return []
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and (st.st_dev, st.st_ino) in ids:
            found.append(int(entry))
    return found


def _end_children_in(namespaces: Sequence[str], timeout: float = 5.0) -> None:
    """SIGTERM this process's children still in `namespaces`, SIGKILL those there after
    `timeout`: a process left inside keeps a namespace alive after its name is deleted.
    Normally whoever started them has stopped them already; this ends one that a signal
    kept from being recorded (it came as its Popen was being made)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _children_in(namespaces)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            time.sleep(0.02)
            pids = _children_in(namespaces)
        if not pids:
            return


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed on exit even if a signal comes meanwhile."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        with cleaning_up():
            shutil.rmtree(path, ignore_errors=True)


def wait_running(netns: str, ifname: str, timeout: float = 5.0) -> None:
    """Wait (bounded) until `ifname` in `netns` is operationally up.

    A veth is up at once but carries traffic only after the kernel's link watcher has
    seen its carrier (it may take a second): until then what is sent on it is dropped,
    so a test's first packet could vanish.
    """
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            ["ip", "-n", netns, "-j", "link", "show", "dev", ifname],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and json.loads(done.stdout or "[{}]")[0].get("operstate") == "UP":
            return
        if time.monotonic() > deadline:
            raise RawfwdError(f"{ifname} in {netns} did not come up")
        time.sleep(0.02)


class Built:
    """A network that `_build` sets up on entry and `close` removes on exit, also when
    building fails halfway (the demo's, the tests' and the benchmark's topologies)."""

    def _build(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lab:
    """A set of namespaces named PREFIX-XXXX-HOST, removed on exit."""

    def __init__(self, prefix: str = "rawfwd") -> None:
        self.tag = f"{prefix}-{secrets.token_hex(3)}"
        self.hosts: list[str] = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ns(self, host: str) -> str:
        """The namespace name of `host`."""
        return f"{self.tag}-{host}"

    def host(self, host: str, sysctls: Sequence[str] = ()) -> str:
        """Create the namespace for `host` with loopback up; returns its name."""
        name = self.ns(host)
        self.hosts.append(name)  # first: one that a signal interrupts is deleted too
        try:
            ip("netns", "add", name)
        except RawfwdError:
            self.hosts.remove(name)  # not made, or not ours (the name was taken)
            raise
        ip("link", "set", "lo", "up", netns=name)
        for setting in sysctls:
            self.sysctl(host, setting)
        return name

    def sysctl(self, host: str, setting: str) -> None:
        """`sysctl -w KEY=VALUE` inside `host` (net.* settings are per namespace)."""
        key, _, value = setting.partition("=")
        path = "/proc/sys/" + key.replace(".", "/")
        subprocess.run(
            ["ip", "netns", "exec", self.ns(host), "sh", "-c", f"echo {value} > {path}"],
            check=True,
        )

    def link(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
        """A veth pair between hosts `a` and `b`, addressed (CIDR) and up on both ends."""
        tmp = f"rf{secrets.token_hex(4)}"
        ip(
            "link",
            "add",
            tmp,
            "netns",
            self.ns(a),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            self.ns(b),
        )
        ip("link", "set", tmp, "name", a_if, netns=self.ns(a))
        for host, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            ip("addr", "add", addr, "dev", ifname, netns=self.ns(host))
            ip("link", "set", ifname, "up", netns=self.ns(host))
        for host, ifname in ((a, a_if), (b, b_if)):
            wait_running(self.ns(host), ifname)

    def close(self) -> None:
        """End this process's children still inside, then delete every namespace created
        (their interfaces go with them)."""
        with cleaning_up():
            _end_children_in(self.hosts)
            for name in reversed(self.hosts):
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            self.hosts.clear()


def router_topology(lab: Lab) -> None:
    """Sender S, router R and receivers A and B, as the demo and the benchmark use them:

    S eth0 10.0.0.5 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- eth0 10.1.0.2 A
                                          eth2 10.2.0.1 --- eth0 10.2.0.2 B
    """
    for host in ("S", "R", "A", "B"):
        lab.host(host)
    lab.link("S", "eth0", "10.0.0.5/24", "R", "eth0", "10.0.0.1/24")
    lab.link("A", "eth0", "10.1.0.2/24", "R", "eth1", "10.1.0.1/24")
    lab.link("B", "eth0", "10.2.0.2/24", "R", "eth2", "10.2.0.1/24")
    for host, gateway in (("S", "10.0.0.1"), ("A", "10.1.0.1"), ("B", "10.2.0.1")):
        ip("route", "add", "default", "via", gateway, netns=lab.ns(host))


def rawfwd_in(netns: str, *args: str) -> list[str]:
    """The command line running `rawfwd ARGS` (this interpreter's) inside `netns`."""
    return ["ip", "netns", "exec", netns, sys.executable, "-m", "rawfwd", *args]
