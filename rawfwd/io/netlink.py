"""pyroute2 on its own threads: link/route change events, and FIB lookups for RPF.

pyroute2's synchronous IPRoute must be used from the thread that created it, so each job
here owns one IPRoute on a daemon thread and hands results to trio through its token.
Both are rare-event paths; the packet path never waits on them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from ipaddress import IPv4Address
from typing import Any

import trio

log = logging.getLogger("rawfwd")

#: rtnetlink multicast groups (linux/rtnetlink.h): link changes and IPv4 route changes
RTMGRP_LINK = 0x1
RTMGRP_IPV4_ROUTE = 0x40
#: route types (rtm_type)
RTN_UNICAST = 1
RTN_LOCAL = 2


def _post(token: trio.lowlevel.TrioToken, fn: Callable[..., None], *args: Any) -> bool:
    """Run `fn(*args)` in the trio thread; False once trio has finished (thread should end)."""
    try:
        trio.from_thread.run_sync(fn, *args, trio_token=token)
    except trio.RunFinishedError:
        return False
    return True


class NetlinkWatcher:
    """Calls `on_links()` after link changes and `on_routes()` after IPv4 route changes."""

    def __init__(
        self,
        token: trio.lowlevel.TrioToken,
        on_links: Callable[[], None],
        on_routes: Callable[[], None],
    ) -> None:
        self._token = token
        self._on_links = on_links
        self._on_routes = on_routes
        self._ready = threading.Event()
        self.error: str | None = None
        threading.Thread(target=self._run, name="rawfwd-netlink", daemon=True).start()

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once subscribed (so no change after this call is missed)."""
        return self._ready.wait(timeout)

    def _run(self) -> None:
        from pyroute2 import IPRoute

        try:
            ipr = IPRoute()
            ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_ROUTE)
        except Exception as exc:  # netlink unavailable: run without events, say so
            self.error = f"netlink events unavailable: {exc}"
            self._ready.set()
            return
        self._ready.set()
        with contextlib.closing(ipr):
            while True:
                try:
                    messages = ipr.get()
                except Exception as exc:
                    _post(self._token, log.warning, "netlink: %s; link events stopped", exc)
                    return
                events = {str(m.get("event", "")) for m in messages}
                if any(e.endswith("LINK") for e in events) and not _post(
                    self._token, self._on_links
                ):
                    return
                if any(e.endswith("ROUTE") for e in events) and not _post(
                    self._token, self._on_routes
                ):
                    return


class FibResolver:
    """Looks up the interface toward sources in the kernel FIB (`ip route get`), in batches.

    Policy routing is honoured because the kernel answers the lookup itself. The answer is
    an interface name, or None when there is no route back (unreachable, blackhole).
    """

    def __init__(
        self, token: trio.lowlevel.TrioToken, on_answers: Callable[[Mapping[int, str | None]], None]
    ) -> None:
        self._token = token
        self._on_answers = on_answers
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="rawfwd-fib", daemon=True).start()

    def lookup(self, sources: list[int]) -> None:
        """Ask for these sources; answers arrive later through `on_answers`."""
        if sources:
            self._queue.put(sources)

    def _run(self) -> None:
        from pyroute2 import IPRoute

        ipr = IPRoute()
        with contextlib.closing(ipr):
            while True:
                sources = self._queue.get()
                with contextlib.suppress(queue.Empty):
                    while True:  # coalesce whatever else is waiting
                        sources = sources + self._queue.get_nowait()
                answers = {s: self._toward(ipr, s) for s in dict.fromkeys(sources)}
                if not _post(self._token, self._on_answers, answers):
                    return

    @staticmethod
    def _toward(ipr: Any, source: int) -> str | None:
        try:
            routes = ipr.route("get", dst=str(IPv4Address(source)))
        except Exception:  # NetlinkError: unreachable, no route
            return None
        for route in routes:
            oif = route.get_attr("RTA_OIF")
            if route["type"] == RTN_LOCAL:
                # our own address: local applications send from it on the interface that
                # holds it, so that is where their traffic enters the forwarder
                owners = ipr.get_addr(address=str(IPv4Address(source)))
                oif = owners[0]["index"] if owners else None
            elif route["type"] != RTN_UNICAST:  # blackhole, unreachable, prohibit
                return None
            if oif is not None:
                try:
                    return socket.if_indextoname(oif)
                except OSError:
                    return None
        return None
