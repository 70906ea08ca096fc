"""Netlink tasks: FIB answers, coalescing, cancellation, and recovery from errors and
failing callbacks.

The unit parts run unprivileged in this namespace (127.0.0.1 is local, on 'lo';
255.255.255.255 is broadcast, not a route back). The namespaced parts need root.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from ipaddress import IPv4Address
from typing import Any

import pytest
import trio
import trio.testing

from rawfwd.io import netlink
from rawfwd.io.netlink import FibLookups, _Work, watch_netlink
from rawfwd.lab.netns import Lab, in_netns

LOCAL = int(IPv4Address("127.0.0.1"))
BROADCAST = int(IPv4Address("255.255.255.255"))
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


class Progress:
    """Told (in the trio thread) whenever the code under test calls back; tests await a
    condition on what it did, re-checked after every call, at most 5 s."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def until(self, check: Callable[[], object]) -> None:
        with trio.fail_after(5):
            while not check():
                await self._event.wait()


class Answers:
    """Collects what FibLookups hands over."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.posts: list[dict[int, str | None]] = []
        self.all: dict[int, str | None] = {}

    def __call__(self, answers: Mapping[int, str | None]) -> None:
        self.posts.append(dict(answers))
        self.all.update(answers)
        self.progress.notify()


class Calls:
    """Counts the calls of a watch_netlink callback."""

    def __init__(self, progress: Progress, fail_first: bool = False) -> None:
        self.progress = progress
        self.count = 0
        self.fail_first = fail_first

    def __call__(self) -> None:
        self.count += 1
        self.progress.notify()
        if self.fail_first and self.count == 1:
            raise RuntimeError("a bug in the callback")


# -- pure parts ----------------------------------------------------------------------------


def _message(kind: int, payload: int = 16) -> bytes:
    length = 16 + payload
    return struct.pack("=IHHII", length, kind, 0, 0, 0) + bytes(payload)


def test_changes_reads_the_message_kinds() -> None:
    assert netlink._changes(_message(netlink.RTM_NEWLINK)) == (True, False)
    assert netlink._changes(_message(netlink.RTM_DELROUTE, 13)) == (False, True)
    both = _message(netlink.RTM_NEWROUTE, 13) + bytes(3) + _message(netlink.RTM_DELLINK)
    assert netlink._changes(both) == (True, True)
    assert netlink._changes(_message(3)) == (False, False)  # NLMSG_DONE
    assert netlink._changes(b"\x00" * 40) == (False, False)  # a zero length stops the walk


def test_work_puts_sources_never_looked_up_first() -> None:
    work = _Work()
    work.add([1, 2, 3, 2, 1])
    assert len(work) == 3
    assert work.take(2) == [1, 2]
    work.add([1, 4])  # 1 again (answered before), 4 new
    assert work.take(10) == [3, 4, 1]
    work.add([1, 2, 3, 4])  # a route change asks for all of them again
    work.add([9])  # while a new source appears
    assert work.take(1) == [9]
    work.retry([9])
    assert work.take(10) == [9, 1, 2, 3, 4]
    assert not work


def test_backoff_retries_once_at_once_then_waits_longer() -> None:
    waits = [netlink._backoff(failures) for failures in range(8)]
    assert waits == [0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert netlink._backoff(10**6) == 5.0


# -- FibLookups in this namespace ---------------------------------------------------------


def test_fib_answers_local_and_no_route() -> None:
    async def main() -> None:
        progress = Progress()
        answers = Answers(progress)
        fib = FibLookups()
        fib.ask([LOCAL, BROADCAST])  # before run starts: kept until then
        async with trio.open_nursery() as nursery:
            await nursery.start(fib.run, answers)
            await progress.until(lambda: len(answers.all) == 2)
            nursery.cancel_scope.cancel()
        assert answers.all == {LOCAL: "lo", BROADCAST: None}

    trio.run(main)


def _blocking_toward(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make `_Fib.toward` wait for a gate: (entered, gate, sources looked up)."""
    entered, gate = threading.Event(), threading.Event()
    looked_up: list[int] = []

    def toward(self: Any, source: int) -> str | None:
        entered.set()
        gate.wait(10)  # the worker thread is busy meanwhile
        looked_up.append(source)
        return "lo"

    monkeypatch.setattr(netlink._Fib, "toward", toward)
    return entered, gate, looked_up


def test_fib_coalesces_and_answers_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "_FIB_CHUNK", 4)
    entered, gate, looked_up = _blocking_toward(monkeypatch)

    async def main() -> None:
        progress = Progress()
        answers = Answers(progress)
        fib = FibLookups()
        async with trio.open_nursery() as nursery:
            await nursery.start(fib.run, answers)
            fib.ask([100])
            assert await trio.to_thread.run_sync(entered.wait, 5)  # 100 is being looked up
            for _ in range(50):
                fib.ask(list(range(10)) + list(range(10)))
            gate.set()
            await progress.until(lambda: len(answers.all) == 11)
            nursery.cancel_scope.cancel()
        assert sorted(looked_up) == [*range(10), 100]  # each source once
        assert [len(post) for post in answers.posts] == [1, 4, 4, 2]

    trio.run(main)


def test_fib_cancellation_abandons_the_lookup_and_closes_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, gate, looked_up = _blocking_toward(monkeypatch)
    real_close = netlink._Fib.close
    closed = threading.Event()

    def close(self: Any) -> None:
        real_close(self)
        closed.set()

    monkeypatch.setattr(netlink._Fib, "close", close)
    answers = Answers(Progress())

    async def main() -> None:
        fib = FibLookups()
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                await nursery.start(fib.run, answers)
                fib.ask([1, 2, 3])
                assert await trio.to_thread.run_sync(entered.wait, 5)
                nursery.cancel_scope.cancel()  # while the worker thread is blocked
        assert not closed.is_set()  # abandoned, not waited for

    trio.run(main)
    gate.set()
    assert closed.wait(5)  # the abandoned thread stops at the next source and closes
    assert looked_up == [1]
    assert answers.posts == []


def test_fib_failures_answer_none_and_the_task_goes_on(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_BACKOFF_FIRST", 0.01)
    real_init = netlink._Fib.__init__
    real_toward = netlink._Fib.toward
    opens = [OSError(errno.EMFILE, os.strerror(errno.EMFILE))]

    def init(self: Any) -> None:
        if opens:
            raise opens.pop()
        real_init(self)

    def toward(self: Any, source: int) -> str | None:
        if source == 7:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return real_toward(self, source)

    monkeypatch.setattr(netlink._Fib, "__init__", init)
    monkeypatch.setattr(netlink._Fib, "toward", toward)

    async def main() -> None:
        progress = Progress()
        answers = Answers(progress)

        def on_answers(posted: Mapping[int, str | None]) -> None:
            answers(posted)
            if len(answers.posts) == 1:
                raise RuntimeError("a bug in the callback")

        fib = FibLookups()
        async with trio.open_nursery() as nursery:
            await nursery.start(fib.run, on_answers)
            fib.ask([7, LOCAL])
            await progress.until(lambda: len(answers.all) == 2)
            assert answers.all == {7: None, LOCAL: "lo"}
            posts = len(answers.posts)
            fib.ask([LOCAL])
            await progress.until(lambda: len(answers.posts) > posts)  # still there
            assert answers.posts[-1] == {LOCAL: "lo"}
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert opens == []
    said = [(r.levelname, r.getMessage()) for r in records]
    assert ("WARNING", "FIB lookups: cannot open netlink: Too many open files") in said
    assert ("WARNING", "FIB lookup of 0.0.0.7 failed: Bad file descriptor") in said
    assert any(
        level == "ERROR" and "failed: RuntimeError: a bug in the callback" in message
        for level, message in said
    )


# -- watch_netlink in this namespace -------------------------------------------------------


def _fail_once(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOBUFS) -> list[int]:
    """Make the event socket's next read() fail with `code`; returns the failures left."""
    real_read = netlink._EventSocket.read
    left = [code]

    async def read(self: Any, deadline: float) -> tuple[bool, bool]:
        if left:
            failure = left.pop()
            raise OSError(failure, os.strerror(failure))
        return await real_read(self, deadline)

    monkeypatch.setattr(netlink._EventSocket, "read", read)
    return left


def test_watcher_says_why_when_netlink_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def init(self: Any) -> None:
        raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))

    monkeypatch.setattr(netlink._EventSocket, "__init__", init)

    async def main() -> None:
        calls = Calls(Progress())
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                error = await nursery.start(watch_netlink, calls, calls)
            # the nursery closed by itself: the task returned
        assert error == "netlink events unavailable: Protocol not supported"
        assert calls.count == 0

    trio.run(main)


def test_watcher_reopens_and_resyncs_after_an_overrun(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    left = _fail_once(monkeypatch)

    async def main() -> None:
        progress = Progress()
        links, routes = Calls(progress), Calls(progress)
        async with trio.open_nursery() as nursery:
            assert await nursery.start(watch_netlink, links, routes) is None
            await progress.until(lambda: links.count and routes.count)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert left == []
    assert any(
        r.levelname == "WARNING" and "some were missed; reopening" in r.getMessage()
        for r in records
    )


def test_watcher_resyncs_periodically_and_survives_callback_errors(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_RESYNC_INTERVAL", 0.05)

    async def main() -> None:
        progress = Progress()
        links = Calls(progress, fail_first=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_netlink, links, Calls(progress))
            await progress.until(lambda: links.count >= 3)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [r.levelname for r in records if "a bug in the callback" in r.getMessage()] == ["ERROR"]


def test_watcher_backs_off_while_netlink_cannot_be_reopened(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_BACKOFF_FIRST", 0.01)
    _fail_once(monkeypatch, errno.EIO)
    real_init = netlink._EventSocket.__init__
    opens: list[int] = []

    def init(self: Any) -> None:
        opens.append(1)
        if 2 <= len(opens) <= 4:  # the first reopenings fail
            raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
        real_init(self)

    monkeypatch.setattr(netlink._EventSocket, "__init__", init)

    async def main() -> None:
        progress = Progress()
        links, routes = Calls(progress), Calls(progress)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_netlink, links, routes)
            await progress.until(lambda: links.count and routes.count)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(opens) == 5
    said = [r.getMessage() for r in records if r.levelname == "WARNING"]
    assert said == [
        "netlink: Input/output error; reopening and re-reading links and routes",
        "netlink: cannot reopen the event socket: Cannot allocate memory",  # once, not 3 times
    ]


def test_watcher_does_not_spin_when_netlink_keeps_failing(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(netlink, "_BACKOFF_MAX", 0.1)
    reads: list[float] = []

    async def read(self: Any, deadline: float) -> tuple[bool, bool]:
        reads.append(trio.current_time())
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(netlink._EventSocket, "read", read)
    links, routes = Calls(Progress()), Calls(Progress())

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_netlink, links, routes)
            await trio.sleep(0.5)  # virtual time: the clock jumps
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # retried, but 0, 0.05, 0.1, 0.1, ... s apart
    assert [round(at, 2) for at in reads] == [0.0, 0.0, 0.05, 0.15, 0.25, 0.35, 0.45]
    for calls in (links, routes):  # a resync after each reopening
        assert calls.count == len(reads) - 1
    warnings = [r for r in records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # then debug: a recurring problem is not repeated


@root_only
def test_event_socket_gets_a_big_receive_buffer() -> None:
    events = netlink._EventSocket()
    try:
        size = events._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        events.close()
    assert size >= netlink._EVENT_RCVBUF


# -- in a network namespace ----------------------------------------------------------------


@contextmanager
def namespace() -> Iterator[str]:
    with Lab("rfctl") as lab:
        yield lab.host("N")


def ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def entered(netns: str) -> Iterator[None]:
    """This thread (only) in network namespace `netns` meanwhile, then back where it was."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(back)
    finally:
        os.close(back)


def run_in(netns: str, main: Callable[[str], Any]) -> None:
    """trio.run(main, netns) on a thread inside `netns`: watch_netlink's socket is made
    there (it runs in the trio thread, no worker threads)."""
    in_netns(netns, lambda: trio.run(main, netns))


@root_only
def test_watcher_sees_changes_after_an_overrun(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_once(monkeypatch)

    async def main(netns: str) -> None:
        progress = Progress()
        links, routes = Calls(progress), Calls(progress)
        async with trio.open_nursery() as nursery:
            assert await nursery.start(watch_netlink, links, routes) is None
            await progress.until(lambda: links.count and routes.count)  # the resync
            before = links.count, routes.count
            await trio.to_thread.run_sync(
                ip, netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0"
            )
            await progress.until(lambda: links.count > before[0])
            await trio.to_thread.run_sync(ip, netns, "link", "set", "rfd0", "up")
            await trio.to_thread.run_sync(ip, netns, "route", "add", "10.9.0.0/24", "dev", "rfd0")
            await progress.until(lambda: routes.count > before[1])
            nursery.cancel_scope.cancel()

    with namespace() as netns:
        run_in(netns, main)


def _add_routes(netns: str, count: int) -> None:
    batch = "".join(f"route add 10.{i // 256}.{i % 256}.0/24 dev rfd0\n" for i in range(count))
    subprocess.run(["ip", "-n", netns, "-batch", "-"], input=batch, text=True, check=True)


@root_only
def test_watcher_coalesces_a_burst_into_one_call() -> None:
    async def main(netns: str) -> None:
        progress = Progress()
        links, routes = Calls(progress), Calls(progress)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_netlink, links, routes)
            await trio.to_thread.run_sync(
                ip, netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0"
            )
            await trio.to_thread.run_sync(ip, netns, "link", "set", "rfd0", "up")
            await progress.until(lambda: links.count)
            assert routes.count == 0
            # from the trio thread on purpose: the watcher reads nothing until the whole
            # burst is queued
            _add_routes(netns, 300)
            await progress.until(lambda: routes.count)
            await trio.testing.wait_all_tasks_blocked()
            assert routes.count == 1
            nursery.cancel_scope.cancel()

    with namespace() as netns:
        run_in(netns, main)


@root_only
def test_watcher_recovers_from_a_real_overrun(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_EVENT_RCVBUF", 4096)  # tiny: a burst overflows it

    def missed() -> bool:
        return any("some were missed" in r.getMessage() for r in records)

    async def main(netns: str) -> None:
        progress = Progress()
        links, routes = Calls(progress), Calls(progress)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_netlink, links, routes)
            ip(netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0")
            ip(netns, "link", "set", "rfd0", "up")
            ip(netns, "link", "set", "rfp0", "up")
            # from the trio thread on purpose: the watcher reads nothing meanwhile and the
            # burst overflows its socket
            _add_routes(netns, 2000)
            await progress.until(lambda: missed() and routes.count)  # resynced after it
            before = links.count
            await trio.to_thread.run_sync(
                ip, netns, "link", "add", "rfd1", "type", "veth", "peer", "name", "rfp1"
            )
            await progress.until(lambda: links.count > before)
            nursery.cancel_scope.cancel()

    with namespace() as netns:
        run_in(netns, main)


@root_only
def test_fib_in_a_namespace() -> None:
    unrouted = int(IPv4Address("10.200.0.1"))
    routed = int(IPv4Address("10.9.0.5"))
    own = int(IPv4Address("10.9.0.1"))

    async def main(netns: str) -> None:
        ip(netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0")
        ip(netns, "addr", "add", "10.9.0.1/24", "dev", "rfd0")
        ip(netns, "link", "set", "rfd0", "up")
        ip(netns, "link", "set", "rfp0", "up")
        progress = Progress()
        answers = Answers(progress)
        fib = FibLookups(thread_context=functools.partial(entered, netns))
        async with trio.open_nursery() as nursery:
            await nursery.start(fib.run, answers)
            fib.ask([unrouted, routed, own, LOCAL])
            await progress.until(lambda: len(answers.all) == 4)
            nursery.cancel_scope.cancel()
        assert answers.all == {unrouted: None, routed: "rfd0", own: "rfd0", LOCAL: "lo"}

    with namespace() as netns:
        trio.run(main, netns)
