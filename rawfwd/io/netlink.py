"""Netlink in trio's nursery: link/route change events, and FIB lookups for RPF.

Trio owns every task here, so shutdown cancels them like any other and nothing outlives
the daemon; only the blocking pyroute2 lookups go to trio worker threads. Both are
rare-event paths; the packet path never waits on them.

Change events come from a plain non-blocking NETLINK_ROUTE socket subscribed to link, IPv4
address and IPv4 and IPv6 route changes: only the kind of change matters (the callbacks re-read
everything), so every message queued is read at once and a burst becomes one callback. A
burst bigger than the socket's receive buffer makes the kernel drop messages and report
ENOBUFS; then, and on any other error, the socket is reopened and both callbacks run, since
anything may have changed meanwhile. `on_links` also runs every `_RESYNC_INTERVAL` seconds
in any case.

FIB lookups use pyroute2, whose synchronous IPRoute must be used from the thread that
created it; trio's worker threads are not pinned, so each chunk of lookups opens, uses and
closes its own IPRoute in one worker-thread call (opening costs about half a millisecond,
a lookup about as much). Sources asked for are queued once however often they are asked
for meanwhile; answers go out in chunks, sources not looked up before ahead of sources
looked up again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import NamedTuple

import trio

from ..core.addr import is_v6, text

log = logging.getLogger("rawfwd")

#: rtnetlink multicast groups (linux/rtnetlink.h): link changes and IPv4 and IPv6 route changes
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10  #: address changes: which sources are this host's own
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100  #: a link-local address appearing: MLD's querier can start
RTMGRP_IPV6_ROUTE = 0x400  #: IPv6 sources are looked up in the FIB too
#: rtnetlink message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
#: route types (rtm_type)
RTN_UNICAST = 1
RTN_LOCAL = 2

#: receive buffer of the event socket (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN; without
#: it SO_RCVBUF, which net.core.rmem_max caps)
_EVENT_RCVBUF = 8 << 20
_SO_RCVBUFFORCE: int = getattr(socket, "SO_RCVBUFFORCE", 33)
#: datagrams read in one go before the callbacks run
_MAX_DRAIN = 4096
#: on_links runs at least this often, whatever netlink says (seconds)
_RESYNC_INTERVAL = 10.0
#: waits between attempts to reopen a netlink socket that keeps failing (seconds)
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 5.0
#: FIB answers are handed over this many sources at a time
_FIB_CHUNK = 256
_MAX_GATEWAYS = 100_000  #: next hops remembered (as many as RPF answers the core keeps)
#: sources remembered as looked up before (forgotten all at once beyond this)
_FIB_MEMORY = 1 << 20
#: a recurring problem is logged as a warning at most this often (seconds)
_WARN_EVERY = 60.0

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port


def _call(fn: Callable[..., object], *args: object) -> None:
    """`fn(*args)`, an exception from it logged: a bug in a callback does not stop a task."""
    try:
        fn(*args)
    except Exception as exc:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        log.error("%s failed: %s", name, _describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _backoff(failures: int) -> float:
    """How long to wait before reopening after `failures` failures in a row: the first
    retry at once, then 0.5 s, doubling up to 5 s."""
    if failures < 2:
        return 0.0
    return min(_BACKOFF_FIRST * (1 << min(failures - 2, 16)), _BACKOFF_MAX)


class _Complaint:
    """A recurring problem: a warning at most every `_WARN_EVERY` seconds, debug otherwise."""

    def __init__(self) -> None:
        self._next = 0.0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _WARN_EVERY
            log.warning(message, *args)
        else:
            log.debug(message, *args)


class _EventSocket:
    """A non-blocking NETLINK_ROUTE socket subscribed to link, address and IP route
    changes (from the moment it is made)."""

    def __init__(self) -> None:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _EVENT_RCVBUF)
            except OSError:  # not privileged: as much as net.core.rmem_max allows
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _EVENT_RCVBUF)
            groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE
            sock.bind((0, groups | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._buffer = bytearray(1 << 16)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    async def read(self, deadline: float) -> tuple[bool, bool]:
        """Wait until `deadline` (trio time) at most, read what is queued: (links changed,
        routes changed).

        OSError when the socket fails; ENOBUFS means messages were lost.
        """
        links = routes = False
        with trio.move_on_at(deadline) as waited:
            await trio.lowlevel.wait_readable(self._sock)
        if waited.cancelled_caught:
            return links, routes
        view = memoryview(self._buffer)
        for _ in range(_MAX_DRAIN):
            try:
                size = self._sock.recv_into(view)
            except BlockingIOError:
                break
            more_links, more_routes = _changes(view[:size])
            links |= more_links
            routes |= more_routes
        return links, routes


def _changes(data: memoryview | bytes) -> tuple[bool, bool]:
    """Whether the netlink messages in one datagram are link changes, route changes."""
    links = routes = False
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if kind in (RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR):
            links = True  # an address change is looked at with the links
        elif kind in (RTM_NEWROUTE, RTM_DELROUTE):
            routes = True
        if length < _NLMSGHDR.size:
            break
        offset += (length + 3) & ~3
    return links, routes


async def watch_netlink(
    on_links: Callable[[], None],
    on_routes: Callable[[], None],
    *,
    task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Call `on_links()` after link or address changes and `on_routes()` after IP route
    changes, until cancelled; start it with `nursery.start`.

    Started with None once subscribed (no change after that is missed), or with a one-line
    reason when netlink events are unavailable: then it returns at once.
    """
    try:
        events = _EventSocket()
    except Exception as exc:  # netlink unavailable: run without events, say so
        task_status.started(f"netlink events unavailable: {_describe(exc)}")
        return
    task_status.started(None)
    await _watch(events, on_links, on_routes)


async def _watch(
    first: _EventSocket, on_links: Callable[[], None], on_routes: Callable[[], None]
) -> None:
    events: _EventSocket | None = first
    complain_failed, complain_reopen = _Complaint(), _Complaint()
    failures = 0  # in a row: reading, then reopening
    resync_at = trio.current_time() + _RESYNC_INTERVAL
    try:
        while True:
            if events is None:
                await trio.sleep(_backoff(failures))
                try:
                    events = _EventSocket()
                except Exception as exc:
                    failures += 1
                    complain_reopen("netlink: cannot reopen the event socket: %s", _describe(exc))
                    links, routes = False, False
                else:
                    links, routes = True, True  # anything may have changed meanwhile
            else:
                try:
                    links, routes = await events.read(resync_at)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    lost = isinstance(exc, OSError) and exc.errno == errno.ENOBUFS
                    complain_failed(
                        "netlink: %s; reopening and re-reading links and routes",
                        "too many changes at once, some were missed" if lost else _describe(exc),
                    )
                    events.close()
                    events = None
                    continue
            if trio.current_time() >= resync_at:
                links = True
            if links:
                _call(on_links)
                resync_at = trio.current_time() + _RESYNC_INTERVAL
            if routes:
                _call(on_routes)
    finally:
        if events is not None:
            events.close()


class _Work:
    """Sources taken for lookup, in order: those never looked up before come first.

    A source never looked up has packets waiting for its answer; one looked up before
    keeps its answer meanwhile, so a route change re-asking for every source does not
    delay a new one.
    """

    def __init__(self) -> None:
        self._new: deque[int] = deque()
        self._again: deque[int] = deque()
        self._queued: set[int] = set()
        self._known: set[int] = set()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, sources: Iterable[int]) -> None:
        for source in sources:
            if source not in self._queued:
                self._queued.add(source)
                (self._again if source in self._known else self._new).append(source)

    def retry(self, sources: list[int]) -> None:
        """Put sources taken but not looked up back in front."""
        for source in reversed(sources):
            if source not in self._queued:
                self._queued.add(source)
                self._new.appendleft(source)

    def take(self, most: int) -> list[int]:
        taken: list[int] = []
        while len(taken) < most and (self._new or self._again):
            source = (self._new or self._again).popleft()
            self._queued.discard(source)
            taken.append(source)
        if len(self._known) + len(taken) > _FIB_MEMORY:
            self._known.clear()
        self._known.update(taken)
        return taken


class _Fib:
    """One pyroute2 IPRoute, used only by the thread that made it (a worker thread)."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        self._no_route = NetlinkError
        self._ipr = IPRoute()
        self.gateway = ""  #: the gateway of the last route `toward` found ("" for none)

    def close(self) -> None:
        """Close, even when broken: pyroute2's close() then re-raises the error that broke
        it, before closing its socket and event loop."""
        try:
            self._ipr.close()
        except Exception:
            with contextlib.suppress(Exception):
                self._ipr.asyncore._error_event.clear()
                self._ipr.close()

    def toward(self, source: int) -> str | None:
        """The interface toward `source`, None if there is no route back; raises if the
        socket fails. The route's gateway, if it has one, is left in `gateway` (PIM's
        RPF neighbour, RFC 7761 4.5: the next hop toward the RP or the source)."""
        self.gateway = ""
        address = text(source)
        family = socket.AF_INET6 if is_v6(source) else socket.AF_INET
        try:
            routes = self._ipr.route("get", dst=address, family=family)
        except self._no_route:  # unreachable, no route
            return None
        for route in routes:
            oif = route.get_attr("RTA_OIF")
            if route["type"] == RTN_LOCAL:
                # our own address: local applications send from it on the interface that
                # holds it, so that is where their traffic enters the forwarder
                try:
                    owners = self._ipr.get_addr(address=address, family=family)
                except self._no_route:
                    return None
                oif = owners[0]["index"] if owners else None
            elif route["type"] != RTN_UNICAST:  # blackhole, unreachable, prohibit
                return None
            else:
                self.gateway = route.get_attr("RTA_GATEWAY") or ""
            if oif is not None:
                try:
                    return socket.if_indextoname(oif)
                except OSError:
                    return None
        return None


class _Chunk(NamedTuple):
    """What one worker-thread call did with a chunk of sources."""

    #: the sources looked up, in order, up to the first that failed
    answers: dict[int, str | None]
    #: the next hop toward each answered IPv4 source that has one (not on a link of ours)
    gateways: dict[int, int]
    #: why IPRoute could not be opened (then nothing was looked up)
    open_error: Exception | None = None
    #: what broke the socket while looking up the source after the last answered one
    lookup_error: Exception | None = None


def _look_up(sources: list[int], context: Callable[[], AbstractContextManager[object]]) -> _Chunk:
    """Look `sources` up on one IPRoute opened, used and closed in this worker thread.

    Stops at the first failing lookup (the socket may be broken), and at the next source
    once trio has abandoned the call (on cancellation).
    """
    answers: dict[int, str | None] = {}
    gateways: dict[int, int] = {}
    with context():
        try:
            fib = _Fib()
        except Exception as exc:
            return _Chunk(answers, gateways, open_error=exc)
        try:
            for source in sources:
                trio.from_thread.check_cancelled()
                try:
                    answers[source] = fib.toward(source)
                except Exception as exc:
                    return _Chunk(answers, gateways, lookup_error=exc)
                if fib.gateway and "." in fib.gateway:
                    gateways[source] = int.from_bytes(socket.inet_aton(fib.gateway), "big")
        finally:
            fib.close()
    return _Chunk(answers, gateways)


class FibLookups:
    """Looks up the interface toward sources in the kernel FIB (`ip route get`), in chunks.

    Policy routing is honoured because the kernel answers the lookup itself. The answer is
    an interface name, or None when there is no route back (unreachable, blackhole).

    `ask` queues sources from the trio thread; `run`, started in a nursery, looks them up
    and hands the answers to `on_answers`. `thread_context`, entered in the worker thread
    around each chunk's lookups, is for tests (to look up inside a network namespace).
    """

    def __init__(
        self,
        *,
        thread_context: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self._work = _Work()
        self._wake = trio.Event()
        self._context = thread_context
        #: the next hop toward each address answered that has one (PIM's RPF neighbour)
        self.gateways: dict[int, int] = {}

    def ask(self, sources: Iterable[int]) -> None:
        """Ask for these sources; answers arrive later through `on_answers`."""
        self._work.add(sources)
        if self._work:
            self._wake.set()

    async def run(
        self,
        on_answers: Callable[[Mapping[int, str | None]], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Look up what is asked for until cancelled."""
        task_status.started()
        failed_once: set[int] = set()  # sources whose lookup broke a socket once
        complain_open, complain_lookup = _Complaint(), _Complaint()
        failures = 0  # in a row: lookups, then opening
        while True:
            if not self._work:
                self._wake = trio.Event()
                await self._wake.wait()
            if failures:
                await trio.sleep(_backoff(failures))
            chunk = self._work.take(_FIB_CHUNK)
            done = await trio.to_thread.run_sync(
                _look_up, chunk, self._context, abandon_on_cancel=True
            )
            answers = done.answers
            for source in answers:  # the gateway of each answer, none where on-link
                self.gateways.pop(source, None)
            self.gateways.update(done.gateways)
            if len(self.gateways) > _MAX_GATEWAYS:  # bounded: the oldest go (asked again)
                for source in list(self.gateways)[: len(self.gateways) - _MAX_GATEWAYS]:
                    del self.gateways[source]
            if answers:
                failures = 0
                failed_once.difference_update(answers)
            if done.open_error is not None:  # the sources go back, for the next try
                failures += 1
                complain_open("FIB lookups: cannot open netlink: %s", _describe(done.open_error))
                self._work.retry(chunk)
            elif done.lookup_error is not None:  # ask once more on a fresh socket, then None
                failures += 1
                index = len(answers)
                source = chunk[index]
                complain_lookup(
                    "FIB lookup of %s failed: %s",
                    text(source),
                    _describe(done.lookup_error),
                )
                if source in failed_once:
                    failed_once.discard(source)
                    answers[source] = None
                    self._work.retry(chunk[index + 1 :])
                else:
                    failed_once.add(source)
                    self._work.retry(chunk[index:])
            if answers:
                _call(on_answers, answers)
