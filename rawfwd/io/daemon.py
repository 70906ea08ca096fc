"""`rawfwd run`: the trio shell that drives the pure engine on real interfaces.

Theory of operation:
- One AF_PACKET socket per configured interface (rawfwd.io.packet; mmap'd TPACKET rings
  from rawfwd.io.ring unless `--io sockets`), opened when the interface exists and
  reopened when it is recreated. A receiver task per socket waits for readiness, drains up
  to BATCH frames and runs them through the engine right away: trio runs one task at a
  time, so the core has one user at any instant without a channel hop per batch.
  Backpressure is the socket itself: while a batch is processed nothing is read, and the
  kernel ring absorbs, then drops, the excess.
- Every call into the engine returns an `Output`, and `_act_on` is the one place that
  acts on it: frames into the egress interfaces' TX rings (flushed once per call), RPF
  lookups to the FIB task, and the timer task re-armed at `engine.next_timer()`, which
  covers every timer (flow idle sweep, held frames, IGMP).
- The clock is read once per batch; unfinished L4 checksums (TP_STATUS_CSUMNOTREADY) are
  completed before the core sees the frame. A send that fails with ENOBUFS/EAGAIN keeps the
  frame in a bounded per-interface backlog that a flusher retries; ENETDOWN and friends are
  counted, never fatal.
- Netlink (rawfwd.io.netlink) reports link changes, on which every interface is
  reconciled (present? same ifindex? up? MAC?), and route changes, after which the RPF
  answers the core holds are looked up again.
- SIGHUP reloads the config with the loader the caller passed in (a bad file keeps the
  old one), SIGINT/SIGTERM stop cleanly. The shell renders nothing: it builds the pure view
  model (rawfwd.view) that the UI and `rawfwd show` read.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import logging
import math
import random
import socket
import struct
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any, Final

import trio
import trio.lowlevel

from ..config.values import Config
from ..control.engine import Engine, Output
from ..control.pim import PIM_PROTO
from ..control.pim_router import REGISTER_VIF
from ..core import DropReason, FlowSnapshot, Snapshot
from ..core.addr import from_packed
from ..core.wire import parse_mac
from ..errors import NotEthernetError, RawfwdError
from ..view import LinkStatus, RateTracker, View
from . import control_socket, privileges
from .bpf import BpfError
from .fastpath import FastPath, KernelCounts
from .netlink import FibLookups, watch_netlink
from .packet import Batch, PacketSocket
from .ring import RingSocket

log = logging.getLogger("rawfwd")

BATCH: Final = 64  #: frames per engine call (and per TX flush)
#: engine calls per readiness wakeup while the ring stays full: a wakeup goes through trio's
#: scheduler and epoll (tens of us), which `make bench` found costs more per frame than the
#: engine when it bought only 64 frames
DRAIN: Final = 4
KERNEL_COUNTS_EVERY: Final = 1.0  #: seconds between reads of the fast path's counters
VIEW_EVERY: Final = 1.0  #: seconds between rebuilds of what the table and `show` display
BACKLOG: Final = 1024  #: frames kept per interface while its send queue is full
_RETRY_ERRNOS: Final = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.ENOMEM})
_SIOCGIFFLAGS: Final = 0x8913
_IFF_UP: Final = 0x1
_IFF_RUNNING: Final = 0x40


def link_flags(name: str) -> int | None:
    """SIOCGIFFLAGS of `name` in this network namespace, or None if there is no such link."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = array.array("B", name.encode()[:15].ljust(40, b"\0"))
        try:
            fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, ifreq, True)
        except OSError:
            return None
        flags: int = struct.unpack_from("H", ifreq, 16)[0]
        return flags


def local_addresses() -> set[int]:
    """Every IPv4 and IPv6 address of this host (netifaces), as `addr` integers: a MANET
    frame from one is our own."""
    import netifaces

    found: set[int] = set()
    for name in netifaces.interfaces():
        try:
            families = netifaces.ifaddresses(name)
        except ValueError:  # gone since it was listed
            continue
        for family, kind in (
            (netifaces.AF_INET, socket.AF_INET),
            (netifaces.AF_INET6, socket.AF_INET6),
        ):
            for entry in families.get(family, []):
                text = str(entry.get("addr", "")).split("%")[0]  # fe80::1%eth0: no zone
                try:
                    found.add(from_packed(socket.inet_pton(kind, text)))
                except OSError:
                    continue
    return found


def link_addresses(name: str) -> list[IPv4Interface]:
    """The interface's IPv4 addresses with their prefixes (netifaces), primary first: the
    IGMP querier is elected by and sends from the first; reports may come from any of
    their subnets."""
    import netifaces

    found = []
    try:
        for entry in netifaces.ifaddresses(name).get(netifaces.AF_INET, []):
            mask = entry.get("netmask", "255.255.255.255")
            found.append(IPv4Interface(f"{entry['addr']}/{mask}"))
    except (ValueError, KeyError):
        pass
    return found


def link_local(name: str) -> IPv6Interface | None:
    """The interface's first IPv6 link-local address (netifaces), None without one: MLD's
    querier is elected by it and sends from it (RFC 3810 section 7.6.2)."""
    import netifaces

    try:
        for entry in netifaces.ifaddresses(name).get(netifaces.AF_INET6, []):
            text = str(entry.get("addr", "")).split("%")[0]
            if text.lower().startswith("fe80:"):
                return IPv6Interface(f"{text}/64")
    except (ValueError, KeyError):
        pass
    return None


def link_mac(name: str) -> bytes | None:
    """The interface's MAC address (netifaces), None if it has none or cannot be read."""
    import netifaces

    try:
        links = netifaces.ifaddresses(name).get(netifaces.AF_LINK, [])
        return parse_mac(links[0]["addr"]) if links else None
    except (ValueError, KeyError, IndexError):
        return None


@dataclass(eq=False)
class _Link:
    """What the shell holds for one configured interface.

    While the interface exists, one task (`Daemon._serve_link`) owns its socket: it runs the
    receiver and the backlog flusher, and closes the socket when its scope is cancelled, so
    no task ever waits on a closed descriptor.
    """

    name: str
    state: str = "absent"
    ifindex: int | None = None
    sock: PacketSocket | None = None
    scope: trio.CancelScope | None = None
    pushed: tuple[bool, bytes | None] | None = None  # (up, mac) last told to the core
    send_errors: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    backlog: deque[bytes] = field(default_factory=deque)
    backlog_ready: trio.Event = field(default_factory=trio.Event)
    warned: bool = False

    def status(self) -> LinkStatus:
        sock = self.sock
        truncated = sock.truncated if sock is not None else 0  # frames longer than a slot
        return LinkStatus(
            self.name,
            self.state,
            self.ifindex,
            self.send_errors,
            self.tx_dropped,
            self.rx_errors + truncated,
        )


class Daemon:
    """The live forwarder: owns the engine, the sockets and the tasks around them."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        *,
        load: Callable[[Path], Config],
        control_address: str = control_socket.DEFAULT_ADDRESS,
        clock: Callable[[], float] = time.monotonic,
        rings: bool = True,
        live_view: bool = False,
        busy_poll: float = 0.0,
        drop_privileges: bool = False,
        fast_path: bool = False,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self._load = load  # reads and validates the config file (SIGHUP)
        self.control_address = control_address
        self.rings = rings  # mmap'd TPACKET rings; plain sockets where they are unavailable
        #: seconds a receiver keeps polling after its last frame before it sleeps
        self.busy_poll = busy_poll
        #: give up all but CAP_NET_RAW once started (rawfwd.io.privileges); off in tests
        self.drop_privileges = drop_privileges
        self._touched: set[_Link] = set()  # links sent on in this batch: flush them once
        self.clock = clock
        #: every decision: forwarding, RPF, IGMP
        self.engine = Engine(config, live=True, random=random.random, decisions=fast_path)
        #: `--io ebpf`: the kernel forwards the flows the engine decided (started by `run`)
        self.fast_path = fast_path
        self._fastpath: FastPath | None = None
        self._timer_due = math.inf  # when the timer task wakes next
        self._timers_wake = trio.Event()
        self.links: dict[str, _Link] = {name: _Link(name) for name in config.interfaces}
        self.started = clock()
        self._rates = RateTracker()
        self._summary_rates = RateTracker()
        self._view: View | None = None
        self.live_view = live_view  # a live table refreshes the full view every second
        self._nursery: trio.Nursery | None = None
        self._fib: FibLookups | None = None
        self._routes_changed = trio.Event()
        self._reload_wanted = trio.Event()
        #: PIM's unicast messages (Registers, Register-Stops): a raw IP socket, the kernel
        #: routes what is sent; opened while some interface has pim = true
        self._pim_sock: socket.socket | None = None
        self._pim_errors = 0  #: unicast PIM that could not be sent

    # -- what the UI and `rawfwd show` see ---------------------------------------------------

    def view(self) -> View:
        """The latest View (at most VIEW_EVERY old): what the table and `show` display."""
        if self._view is None:
            self._kernel_counts()
            self._view = self._make_view(self.engine.snapshot(self.clock()))
        return self._view

    def summary_view(self) -> tuple[View, int]:
        """What the one-line summary reads, from interface counters only (cheap at any table
        size), and the number of flows."""
        snap = self.engine.snapshot(self.clock(), flows=())
        rates = self._summary_rates.update(snap)
        links = self._link_statuses()
        view = View(snap, links, self.started, str(self.config_path), rates)
        return view, self.engine.flow_count

    def _link_statuses(self) -> tuple[LinkStatus, ...]:
        links = tuple(link.status() for link in self.links.values())
        pim = any(spec.pim is not None for spec in self.config.interfaces.values())
        if pim and not self.config.pim.dense:
            # PIM-SM's register tunnel: a pseudo-interface, up while the raw socket is open
            state = "up" if self._pim_sock is not None else "down"
            links += (LinkStatus(REGISTER_VIF, state, None, self._pim_errors),)
        return links

    def _make_view(self, snap: Snapshot) -> View:
        rates = self._rates.update(snap)
        links = self._link_statuses()
        igmp = self.engine.igmp_json(snap.now)
        nhdp = self.engine.nhdp_json(snap.now)
        pim = self.engine.pim_json(snap.now)
        return View(snap, links, self.started, str(self.config_path), rates, igmp, nhdp, pim)

    async def _refresh_view(self) -> None:
        """Rebuild the View every VIEW_EVERY seconds, a part of the flows at a time with
        checkpoints between, so that a large table never stops forwarding for long."""
        while True:
            flows: list[FlowSnapshot] = []
            for part in self.engine.flow_snapshots():
                flows.extend(part)
                await trio.lowlevel.checkpoint()
            self._view = self._make_view(self.engine.snapshot(self.clock(), tuple(flows)))
            await trio.sleep(VIEW_EVERY)

    def _control(self, request: str) -> dict[str, Any]:
        if request == "view":  # asked for: exact now, whatever it costs at this moment
            self._kernel_counts()
            self._view = self._make_view(self.engine.snapshot(self.clock()))
            return self._view.to_json()
        return {"error": f"unknown request {request!r} (known: view)"}

    # -- the tasks -------------------------------------------------------------------------

    async def run(
        self,
        ui: Callable[[Daemon], Awaitable[None]] | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Forward until SIGINT/SIGTERM or cancellation; started() once listening.

        `ui(self)` runs beside the forwarder: the live table, or the periodic log line.
        """
        stack = contextlib.ExitStack()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                # the control socket first: a second instance stops before touching links
                await nursery.start(control_socket.serve, self.control_address, self._control)
                error = await nursery.start(watch_netlink, self._reconcile_all, self._on_routes)
                if error is not None:
                    log.warning("%s: interfaces that appear later will not be noticed", error)
                self._fib = FibLookups()
                await nursery.start(self._fib.run, self._on_rpf)
                nursery.start_soon(self._rpf_refresher)
                nursery.start_soon(self._timers)
                if self.fast_path:
                    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="rawfwd-"))
                    self._fastpath = FastPath(self.config, Path(scratch))
                    log.info("kernel fast path: eBPF at tc ingress, decided flows")
                    nursery.start_soon(self._kernel_counts_task)
                if self.live_view:
                    nursery.start_soon(self._refresh_view)
                self._reconcile_all(starting=True)
                self._want_pim_socket()
                if self.drop_privileges and self._fastpath is not None:
                    log.info(
                        "privileges kept: --io ebpf attaches its program to links as they come"
                    )
                elif self.drop_privileges:  # what needs more than CAP_NET_RAW is open by now
                    dropped = await privileges.drop_privileges_everywhere()
                    level = logging.INFO if dropped.clean else logging.WARNING
                    log.log(level, "%s", privileges.describe(dropped))
                else:
                    log.info("%s", privileges.KEPT_ALL)
                nursery.start_soon(self._reloader)
                nursery.start_soon(self._signals, nursery.cancel_scope)
                log.info(
                    "forwarding: %d interfaces, %d routes, control socket %s",
                    len(self.links),
                    len(self.config.routes),
                    self.control_address,
                )
                task_status.started()
                if ui is not None:
                    nursery.start_soon(ui, self)
        finally:
            for link in self.links.values():
                self._close(link)
            if self._fastpath is not None:
                self._fastpath.close()
                self._fastpath = None
            stack.close()
            log.info("stopped")

    async def _signals(self, scope: trio.CancelScope) -> None:
        import signal

        with trio.open_signal_receiver(signal.SIGHUP, signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    self._reload_wanted.set()  # the reloader reads it, off the packet path
                else:
                    log.info("stopping on %s", signal.Signals(signum).name)
                    # while the sockets are open: PIM's goodbye Hellos (RFC 7761 4.3.1)
                    self._act_on(self.engine.shutdown())
                    scope.cancel()
                    return

    def _forward(self, name: str, batch: Batch) -> None:
        """Run one batch through the engine and act on what it returns.

        Called by each receiver between its awaits: trio runs one task at a time, so the
        engine still has a single user at any instant, and no channel hop (about 15 us per
        wakeup in `make bench`) stands between a frame and its copies.
        """
        self._act_on(self.engine.handle_frames(name, batch.frames, self.clock(), batch.outgoing))

    def _act_on(self, out: Output) -> None:
        """The one place that acts on an engine `Output`: send its frames (one TX flush per
        link), log its notices, hand its RPF lookups to the FIB task, re-arm the timer task."""
        links, touched = self.links, self._touched
        for egress, copies in out.frames:
            link = links.get(egress)
            sock = link.sock if link is not None else None
            if link is None or sock is None:
                continue  # gone or not open: the engine sends nothing there once told
            if link.backlog:  # frames already waiting: these queue behind them
                for frame in copies:
                    self._defer(link, frame)
                continue
            touched.add(link)
            sent, exc = sock.send_many(copies)  # the common case: all into the ring at once
            while exc is not None:
                self._send_failed(link, copies[sent], exc)
                rest = copies[sent + 1 :]
                if link.backlog:  # the queue is full: the rest wait behind that frame
                    for frame in rest:
                        self._defer(link, frame)
                    break
                if exc.errno != errno.EMSGSIZE:  # the link refuses all (down, gone)
                    link.tx_dropped += len(rest)
                    break
                more, exc = sock.send_many(rest)  # only that frame was too big
                sent += 1 + more
        if touched:
            self._flush_touched()
        if out.decisions and self._fastpath is not None:
            full = self._fastpath.full
            final = self._fastpath.apply(
                out.decisions, self._ifindex, self.engine.forwarder.port_mac
            )
            if final:
                self._fold(final)
            if full == 0 and self._fastpath.full:  # said once: the engine keeps the rest
                log.warning("kernel fast path: its flow map is full; more flows stay in user space")
        if out.unicast:
            self._send_unicast(out.unicast)
        for notice in out.notices:
            log.warning("%s", notice)
        if out.rpf_lookups and self._fib is not None:
            self._fib.ask(out.rpf_lookups)
        due = self.engine.next_timer()
        if due is not None and due < self._timer_due:
            self._timers_wake.set()

    def _send_unicast(self, messages: Sequence[tuple[int, bytes]]) -> None:
        """Registers and Register-Stops, through the raw PIM socket (the kernel picks the
        route and our source address)."""
        sock = self._pim_sock
        for destination, message in messages:
            if sock is None:
                self._pim_errors += 1
                continue
            try:
                sock.sendto(message, (socket.inet_ntoa(destination.to_bytes(4, "big")), 0))
            except OSError as exc:
                self._pim_errors += 1
                log.debug("unicast PIM to %x not sent: %s", destination, exc)

    def _want_pim_socket(self) -> None:
        """Open the raw PIM socket (and start reading it) while PIM runs somewhere."""
        wanted = any(spec.pim is not None for spec in self.config.interfaces.values())
        if wanted and self._pim_sock is None and self._nursery is not None:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, PIM_PROTO)
            except OSError as exc:
                log.warning(
                    "PIM: no raw socket for registers (%s): first-hop and RP roles are off",
                    exc.strerror or exc,
                )
                return
            sock.setblocking(False)
            self._pim_sock = sock
            self._nursery.start_soon(self._receive_unicast, sock)

    async def _receive_unicast(self, sock: socket.socket) -> None:
        """Unicast PIM for this host (IPv4 header included) into the engine."""
        try:
            while True:
                await trio.lowlevel.wait_readable(sock)
                for _ in range(64):
                    try:
                        packet = sock.recv(65535)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        log.debug("PIM socket: %s", exc)
                        break
                    self._act_on(self.engine.handle_unicast(packet, self.clock()))
        finally:
            sock.close()
            if self._pim_sock is sock:
                self._pim_sock = None

    async def _serve_link(self, link: _Link, sock: PacketSocket, scope: trio.CancelScope) -> None:
        """Own `sock` while the link exists: receive, retry sends, close it at the end."""
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._receive, link, sock)
                    nursery.start_soon(self._flush, link, sock)
        finally:
            if link.sock is sock:
                link.sock = None
            sock.close()

    async def _receive(self, link: _Link, sock: PacketSocket) -> None:
        """Wait for frames, forward them a batch at a time.

        With `busy_poll`, a receiver that just had frames looks again at every scheduler
        pass (other tasks still run) until nothing came for that long: the next frame is
        then found without waking a sleeping CPU, which is most of the added latency at
        moderate rates (at the cost of that CPU).
        """
        spin, clock = self.busy_poll, time.perf_counter
        last = float("-inf")
        while link.sock is sock:
            if spin and clock() - last < spin:
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.wait_readable(sock.sock)
            for _ in range(DRAIN):
                try:
                    batch = sock.receive(BATCH)
                except OSError as exc:  # ENETDOWN when the link goes down: netlink follows
                    link.rx_errors += 1
                    log.debug("%s: receive: %s", link.name, exc.strerror)
                    break
                if batch.frames:
                    self._forward(link.name, batch)
                    if spin:
                        last = clock()
                if len(batch.frames) < BATCH or link.sock is not sock:
                    break  # drained (or closed by what the batch caused): wait again

    async def _flush(self, link: _Link, sock: PacketSocket) -> None:
        """Retry what could not go out at once: frames kept while the interface's queue was
        full (ENOBUFS/EAGAIN), and frames left in the TX ring by a failed flush."""
        ready = link.backlog_ready
        while link.sock is sock:
            await ready.wait()
            ready = link.backlog_ready = trio.Event()
            backlog = link.backlog
            while link.sock is sock:
                try:
                    while backlog:
                        sock.send(backlog[0])
                        backlog.popleft()
                    sock.flush()
                    break
                except OSError as exc:
                    if exc.errno not in _RETRY_ERRNOS:
                        if backlog:
                            backlog.popleft()  # too big, link down: this frame is lost
                            link.tx_dropped += 1
                            continue
                        break  # the ring keeps its frames until the link is back
                    with contextlib.suppress(OSError):
                        sock.flush()
                    await trio.sleep(0.001)  # the queue is full: give it time to drain

    def _flush_touched(self) -> None:
        """One system call per interface for everything a batch queued in its TX ring."""
        for link in self._touched:
            sock = link.sock
            if sock is None:
                continue
            try:
                sock.flush()
            except OSError as exc:  # the ring keeps what it could not send: retry soon
                link.send_errors += 1
                link.backlog_ready.set()
                log.debug("%s: flush: %s", link.name, exc.strerror)
        self._touched.clear()

    def _send_failed(self, link: _Link, frame: bytes, exc: OSError) -> None:
        """Count a failed send; keep the frame for the flusher if the error is temporary."""
        link.send_errors += 1
        if exc.errno in _RETRY_ERRNOS:
            self._defer(link, frame)
            link.backlog_ready.set()
        else:
            link.tx_dropped += 1

    @staticmethod
    def _defer(link: _Link, frame: bytes) -> None:
        if len(link.backlog) >= BACKLOG:
            link.tx_dropped += 1  # bounded: under sustained overload, drop the newest
        else:
            link.backlog.append(frame)

    # -- timers ------------------------------------------------------------------------------

    async def _timers(self) -> None:
        """Run the engine's timers when due (flow idle sweep, frames held for RPF, IGMP
        queries, reports and membership expiry); woken early by `_act_on` when an input
        brought the next one forward."""
        engine = self.engine
        while True:
            self._timers_wake = trio.Event()
            due = engine.next_timer()
            now = self.clock()
            if due is not None and due <= now:
                self._timer_due = -math.inf  # what this run returns must not wake us again
                self._kernel_counts()  # first: the sweep must see what the kernel forwarded
                self._act_on(engine.handle_timer(now))
                await trio.lowlevel.checkpoint()
                continue
            self._timer_due = math.inf if due is None else due
            with trio.move_on_after(self._timer_due - now):
                await self._timers_wake.wait()

    # -- interfaces --------------------------------------------------------------------------

    def _reconcile_all(self, starting: bool = False) -> None:
        for link in self.links.values():
            self._reconcile(link, starting)
            addresses = link_addresses(link.name)
            self._act_on(
                self.engine.set_address(
                    link.name, addresses[0] if addresses else None, [a.network for a in addresses]
                )
            )
            self._act_on(self.engine.set_link_local(link.name, link_local(link.name)))
        self._act_on(self.engine.set_local_addresses(local_addresses()))

    def _reconcile(self, link: _Link, starting: bool = False) -> None:
        """Bring our socket and the core's view of `link` in line with the system."""
        flags = link_flags(link.name)
        try:
            ifindex = socket.if_nametoindex(link.name) if flags is not None else None
        except OSError:
            ifindex = None
        if link.sock is not None and ifindex != link.ifindex:
            log.warning("%s: interface went away", link.name)
            self._close(link)
        if ifindex is None:
            if starting or link.state != "absent":
                log.warning("%s: no such interface (yet): routes through it wait for it", link.name)
            link.state, link.ifindex = "absent", None
            self._push(link, False, None)
            return
        if link.sock is None and not self._open(link):
            link.ifindex = ifindex
            self._push(link, False, None)
            return
        if link.sock is not None:
            link.sock.refresh_mtu()
        up = flags is not None and flags & _IFF_UP != 0 and flags & _IFF_RUNNING != 0
        state = "up" if up else "down"
        if state != link.state:
            log.info("%s: %s", link.name, state)
            if up and link.sock is not None:
                # back up: drop the ENETDOWN the kernel left pending, send what waited
                link.sock.clear_error()
                link.backlog_ready.set()
        link.state, link.ifindex = state, ifindex
        self._push(link, up, link_mac(link.name))

    def _push(self, link: _Link, up: bool, mac: bytes | None) -> None:
        """Tell the core about a change (only a change: it decides flows again for it)."""
        if link.pushed != (up, mac):
            link.pushed = (up, mac)
            self._act_on(self.engine.set_link(link.name, up=up, mac=mac))

    def _open(self, link: _Link) -> bool:
        try:
            sock = self._socket(link.name)
        except NotEthernetError as exc:
            if link.state != "unusable":
                log.warning("%s: %s; it is not used", link.name, exc)
            link.state = "unusable"
            return False
        except OSError as exc:
            if not link.warned:
                log.warning("%s: cannot open: %s", link.name, exc.strerror or exc)
                link.warned = True
            return False
        if self._fastpath is not None:
            try:
                self._fastpath.attach(link.name, sock.ifindex, sock.sock)
            except (BpfError, OSError) as exc:  # nothing of it stays attached, nothing lost
                log.error("%s: %s: flows arriving there go through user space", link.name, exc)
        scope = trio.CancelScope()
        link.sock, link.scope, link.ifindex, link.warned = sock, scope, sock.ifindex, False
        link.backlog = deque()
        link.backlog_ready = trio.Event()
        assert self._nursery is not None
        self._nursery.start_soon(self._serve_link, link, sock, scope)
        log.info("%s: listening (ifindex %d)", link.name, sock.ifindex)
        return True

    def _socket(self, name: str) -> PacketSocket:
        if self.rings:
            try:
                return RingSocket(name)
            except NotEthernetError:
                raise
            except OSError as exc:
                log.warning(
                    "%s: packet rings unavailable (%s): plain socket", name, exc.strerror or exc
                )
        return PacketSocket(name)

    def _close(self, link: _Link) -> None:
        """Stop using `link`'s socket; its owner task closes it."""
        if self._fastpath is not None:  # its flows, arriving or leaving there, come back
            self._fold(self._fastpath.detach(link.name))
        link.pushed = None  # reopened, it is told to the engine again: flows decided anew
        link.sock = None
        if link.scope is not None:
            link.scope.cancel()
            link.scope = None
        link.tx_dropped += len(link.backlog)
        link.backlog = deque()

    def _ifindex(self, name: str) -> int | None:
        link = self.links.get(name)
        return link.ifindex if link is not None and link.sock is not None else None

    # -- the kernel fast path ----------------------------------------------------------------

    def _kernel_counts(self) -> None:
        """Fold what the kernel counted for the flows it forwards into the engine's."""
        if self._fastpath is not None:
            self._fold(self._fastpath.counts())

    def _fold(self, counted: list[tuple[str, int, int, KernelCounts]]) -> None:
        now = self.clock()
        for ingress, source, group, d in counted:
            drops = {
                DropReason.TTL: d.ttl,
                DropReason.THRESHOLD: d.threshold,
                DropReason.DUPLICATE: d.duplicate,
            }
            counts = (d.packets, d.bytes, d.forwarded, d.copies)
            self.engine.add_kernel_counts(ingress, source, group, counts, drops, now)

    async def _kernel_counts_task(self) -> None:
        while True:
            await trio.sleep(KERNEL_COUNTS_EVERY)
            self._kernel_counts()

    # -- RPF ---------------------------------------------------------------------------------

    def _on_rpf(self, answers: Mapping[int, str | None]) -> None:
        gateways = self._fib.gateways if self._fib is not None else {}
        self._act_on(self.engine.set_rpf(answers, self.clock(), gateways))

    def _on_routes(self) -> None:
        self._routes_changed.set()  # the current event: the refresher replaces it each time

    async def _rpf_refresher(self) -> None:
        """After unicast routes change, look every known source up again (debounced)."""
        while True:
            await self._routes_changed.wait()
            await trio.sleep(0.2)  # a route change comes as a burst of messages
            self._routes_changed = trio.Event()
            if self._fib is not None:
                self._fib.ask(self.engine.rpf_sources())

    # -- reload ------------------------------------------------------------------------------

    async def _reloader(self) -> None:
        """Reload on SIGHUP: signals that come during a reload make one more afterwards."""
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted = trio.Event()
            await self.reload()

    async def reload(self) -> bool:
        """Re-read the config; on any error keep the running one. True if applied.

        The file is read and validated in a worker thread: forwarding goes on meanwhile
        (a big file takes a while to parse); the new config then replaces the old one in
        one step between two batches, so no frame sees half of each.
        """
        try:
            config = await trio.to_thread.run_sync(self._load, self.config_path)
        except RawfwdError as exc:
            log.error("reload failed, keeping the running config: %s", exc)
            return False
        except Exception as exc:  # a bug in reading it: keep forwarding, say what happened
            log.error("reload failed, keeping the running config: %s: %s", type(exc).__name__, exc)
            return False
        self.apply(config)
        return True

    def apply(self, config: Config) -> None:
        """Forward by `config` from now on (flows, counters and group records stay)."""
        for warning in config.warnings:
            log.warning("%s", warning)
        if self._fastpath is not None:  # before the decisions the new config brings
            self._fastpath.reconfigure(config)
        out = self.engine.reconfigure(config)
        for name in list(self.links):
            if name not in config.interfaces:
                self._close(self.links.pop(name))
        for name in config.interfaces:
            self.links.setdefault(name, _Link(name))
        self.config = config
        self._reconcile_all()
        self._want_pim_socket()
        self._act_on(out)
        log.info(
            "reloaded %s: %d interfaces, %d routes",
            self.config_path,
            len(self.links),
            len(config.routes),
        )


def check_privileges() -> None:
    """Fail early, in one line, when raw sockets are not allowed (not root / no CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        raise RawfwdError("rawfwd run needs CAP_NET_RAW: run it as root") from None
