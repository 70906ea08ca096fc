"""Netlink threads: FIB answers, coalescing, and recovery from errors and failing callbacks.

The unit parts run unprivileged in this namespace (127.0.0.1 is local, on 'lo';
255.255.255.255 is broadcast, not a route back). The namespaced parts need root.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from ipaddress import IPv4Address
from typing import Any, TypeVar

import pytest
import trio

from rawfwd.io import netlink
from rawfwd.io.netlink import FibResolver, NetlinkWatcher, _Work
from rawfwd.lab.netns import Lab, in_netns

T = TypeVar("T")
LOCAL = int(IPv4Address("127.0.0.1"))
BROADCAST = int(IPv4Address("255.255.255.255"))
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


async def wait_until(check: Callable[[], object]) -> None:
    """Poll `check` (it looks at what other threads do) until true, at most 5 s."""
    with trio.fail_after(5):
        while not check():  # noqa: ASYNC110
            await trio.sleep(0.01)


class Answers:
    """Collects what a FibResolver posts (in the trio thread)."""

    def __init__(self) -> None:
        self.posts: list[dict[int, str | None]] = []
        self.all: dict[int, str | None] = {}

    def __call__(self, answers: Mapping[int, str | None]) -> None:
        self.posts.append(dict(answers))
        self.all.update(answers)


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


# -- FibResolver in this namespace --------------------------------------------------------


def test_fib_answers_local_and_no_route() -> None:
    async def main() -> None:
        answers = Answers()
        fib = FibResolver(trio.lowlevel.current_trio_token(), answers)
        fib.lookup([LOCAL, BROADCAST])
        await wait_until(lambda: len(answers.all) == 2)
        assert answers.all == {LOCAL: "lo", BROADCAST: None}

    trio.run(main)


def test_fib_coalesces_and_answers_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "_FIB_CHUNK", 4)
    gate = threading.Event()
    looked_up: list[int] = []

    def toward(self: Any, source: int) -> str | None:
        gate.wait(10)  # the thread is busy while more lookups arrive
        looked_up.append(source)
        return "lo"

    monkeypatch.setattr(netlink._Fib, "toward", toward)

    async def main() -> None:
        answers = Answers()
        fib = FibResolver(trio.lowlevel.current_trio_token(), answers)
        fib.lookup([100])
        await wait_until(lambda: fib._wake.is_set() is False)  # taken: the thread waits
        for _ in range(50):
            fib.lookup(list(range(10)) + list(range(10)))
        gate.set()
        await wait_until(lambda: len(answers.all) == 11)
        assert sorted(looked_up) == [*range(10), 100]  # each source once
        assert [len(post) for post in answers.posts] == [1, 4, 4, 2]

    trio.run(main)


def test_fib_failures_answer_none_and_the_thread_goes_on(
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
    answers = Answers()

    def on_answers(posted: Mapping[int, str | None]) -> None:
        answers(posted)
        if len(answers.posts) == 1:
            raise RuntimeError("a bug in the callback")

    async def main() -> None:
        fib = FibResolver(trio.lowlevel.current_trio_token(), on_answers)
        fib.lookup([7, LOCAL])
        await wait_until(lambda: len(answers.all) == 2)
        assert answers.all == {7: None, LOCAL: "lo"}
        posts = len(answers.posts)
        fib.lookup([LOCAL])
        await wait_until(lambda: len(answers.posts) > posts)  # still there after the errors
        assert answers.posts[-1] == {LOCAL: "lo"}

    trio.run(main)
    assert opens == []
    said = [(r.levelname, r.getMessage()) for r in records]
    assert ("WARNING", "FIB lookups: cannot open netlink: Too many open files") in said
    assert ("WARNING", "FIB lookup of 0.0.0.7 failed: Bad file descriptor") in said
    assert any(
        level == "ERROR" and "failed: RuntimeError: a bug in the callback" in message
        for level, message in said
    )


# -- NetlinkWatcher in this namespace ------------------------------------------------------


class Calls:
    def __init__(self, fail_first: bool = False) -> None:
        self.count = 0
        self.fail_first = fail_first

    def __call__(self) -> None:
        self.count += 1
        if self.fail_first and self.count == 1:
            raise RuntimeError("a bug in the callback")


def _fail_once(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOBUFS) -> list[int]:
    """Make the event socket's next get() fail with `code`; returns the failures left."""
    real_get = netlink._EventSocket.get
    left = [code]

    def get(self: Any, timeout: float) -> tuple[bool, bool]:
        if left:
            failure = left.pop()
            raise OSError(failure, os.strerror(failure))
        return real_get(self, timeout)

    monkeypatch.setattr(netlink._EventSocket, "get", get)
    return left


def test_watcher_reopens_and_resyncs_after_an_overrun(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    left = _fail_once(monkeypatch)
    links, routes = Calls(), Calls()

    async def main() -> None:
        watcher = NetlinkWatcher(trio.lowlevel.current_trio_token(), links, routes)
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        assert watcher.error is None
        await wait_until(lambda: links.count and routes.count)

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
    links = Calls(fail_first=True)

    async def main() -> None:
        watcher = NetlinkWatcher(trio.lowlevel.current_trio_token(), links, Calls())
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        await wait_until(lambda: links.count >= 3)

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
    links, routes = Calls(), Calls()

    async def main() -> None:
        watcher = NetlinkWatcher(trio.lowlevel.current_trio_token(), links, routes)
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        await wait_until(lambda: links.count and routes.count)

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
    reads: list[int] = []

    def get(self: Any, timeout: float) -> tuple[bool, bool]:
        reads.append(1)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(netlink._EventSocket, "get", get)
    links, routes = Calls(), Calls()

    async def main() -> None:
        watcher = NetlinkWatcher(trio.lowlevel.current_trio_token(), links, routes)
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        await trio.sleep(0.5)

    trio.run(main)
    assert 3 <= len(reads) <= 8  # retried, but 0, 0.05, 0.1, 0.1, ... s apart
    for calls in (links, routes):  # a resync after each reopening
        assert len(reads) - 1 <= calls.count <= len(reads)
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


@root_only
def test_watcher_sees_changes_after_an_overrun(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_once(monkeypatch)
    links, routes = Calls(), Calls()

    async def main(netns: str) -> None:
        token = trio.lowlevel.current_trio_token()
        watcher = in_netns(netns, lambda: NetlinkWatcher(token, links, routes))
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        await wait_until(lambda: links.count and routes.count)  # the resync after the error
        before = links.count, routes.count
        await trio.to_thread.run_sync(
            ip, netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0"
        )
        await wait_until(lambda: links.count > before[0])
        await trio.to_thread.run_sync(ip, netns, "link", "set", "rfd0", "up")
        await trio.to_thread.run_sync(ip, netns, "route", "add", "10.9.0.0/24", "dev", "rfd0")
        await wait_until(lambda: routes.count > before[1])

    with namespace() as netns:
        trio.run(main, netns)


@root_only
def test_watcher_recovers_from_a_real_overrun(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(netlink, "_EVENT_RCVBUF", 4096)  # tiny: a burst overflows it
    links, routes = Calls(), Calls()

    async def main(netns: str) -> None:
        token = trio.lowlevel.current_trio_token()
        watcher = in_netns(netns, lambda: NetlinkWatcher(token, links, routes))
        assert await trio.to_thread.run_sync(watcher.wait_ready)
        ip(netns, "link", "add", "rfd0", "type", "veth", "peer", "name", "rfp0")
        ip(netns, "link", "set", "rfd0", "up")
        ip(netns, "link", "set", "rfp0", "up")
        batch = "".join(f"route add 10.{i // 256}.{i % 256}.0/24 dev rfd0\n" for i in range(2000))
        # from the trio thread on purpose: the watcher, waiting to hand over the first
        # change, reads nothing more and the burst overflows its socket
        subprocess.run(  # noqa: ASYNC221
            ["ip", "-n", netns, "-batch", "-"], input=batch, text=True, check=True
        )
        await wait_until(lambda: any("some were missed" in r.getMessage() for r in records))
        await wait_until(lambda: routes.count)
        before = links.count
        await trio.to_thread.run_sync(
            ip, netns, "link", "add", "rfd1", "type", "veth", "peer", "name", "rfp1"
        )
        await wait_until(lambda: links.count > before)

    with namespace() as netns:
        trio.run(main, netns)


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
        answers = Answers()
        token = trio.lowlevel.current_trio_token()
        fib = in_netns(netns, lambda: FibResolver(token, answers))
        fib.lookup([unrouted, routed, own, LOCAL])
        await wait_until(lambda: len(answers.all) == 4)
        assert answers.all == {unrouted: None, routed: "rfd0", own: "rfd0", LOCAL: "lo"}

    with namespace() as netns:
        trio.run(main, netns)
