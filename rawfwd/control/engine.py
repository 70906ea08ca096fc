"""The engine: the one pure entry point that `rawfwd replay` and the live shell both drive.

Theory of operation (the shape of aioquic's connection and h11's events):

- Inputs are calls, each with the time where time matters: frames per interface
  (`handle_frames`), what the host reports in live mode (`set_link`, `set_address`,
  `set_local_addresses`, `set_rpf`), a new config (`reconfigure`), and `handle_timer(now)`.
- Every call returns one `Output`: the frames to send per egress interface (forwarded
  copies and IGMP alike), the sources whose RPF interface the shell should look up, and the
  flows forgotten (when asked to keep them). Nothing is left for the caller to drain, no flag
  to clear, no callback into the caller.
- `next_timer()` covers every timer there is: the forwarder's idle sweep, the expiry of
  frames held for an RPF answer and the retry of unanswered lookups, and IGMP's querier,
  membership and proxy timers. The shell calls `handle_timer(now)` when it is due and asks
  `next_timer()` again after every call.

Inside, the Forwarder (rawfwd.core) does the per-packet work and keeps IGMP out of the data
path; the IgmpRouter turns IGMP into membership, which extends the forwarder's egress.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface
from typing import Any, Final, NamedTuple

from ..config.values import Config
from ..core import DropReason, FlowSnapshot, Forwarder, Snapshot, Transmit
from ..core.forwarder import Frames
from ..core.stats import FlowDecision
from .igmp_router import IgmpInterfaceView, IgmpRouter
from .nhdp import NhdpRouter, ports_json
from .pim_router import REGISTER_VIF, PimRouter
from .proxy import ProxyView

_IGMP: Final = 2  # IP protocols of control frames: IGMP, PIM; the rest are NHDP's (UDP)
_PIM: Final = 103


class Output(NamedTuple):
    """Everything one call asks of the shell (a tuple: one is made per received batch)."""

    #: frames to send, per egress interface, in order (the live shell writes each list into
    #: that interface's TX ring in one go)
    frames: Frames
    #: sources (IPv4 as int) whose RPF interface the shell should look up in the kernel FIB
    #: and report with `set_rpf` (live mode only)
    rpf_lookups: Sequence[int] = ()
    #: final snapshots of flows forgotten, idle or evicted (only with `keep_retired`)
    retired: Sequence[FlowSnapshot] = ()
    #: things to say in the log once (e.g. members a silent querier leaves unserved)
    notices: Sequence[str] = ()
    #: flows decided or forgotten, for a data path that forwards decided flows itself
    #: (only with `decisions`)
    decisions: Sequence[FlowDecision] = ()
    #: unicast PIM to send as (destination IPv4 as int, PIM message): Registers and
    #: Register-Stops, which the kernel routes (the live shell's raw PIM socket)
    unicast: Sequence[tuple[int, bytes]] = ()

    def transmits(self) -> Iterator[Transmit]:
        """The frames one at a time, as (egress, frame)."""
        for egress, frames in self.frames:
            for frame in frames:
                yield Transmit(egress, frame)


_new_tuple = tuple.__new__


class Engine:
    """Forwarding, RPF and IGMP behind one facade; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        live: bool = False,
        keep_retired: bool = False,
        decisions: bool = False,
        random: Callable[[], float] = lambda: 0.5,
    ) -> None:
        """`live`: the host reports links, addresses and RPF answers (the live shell);
        otherwise (replay) the config's MACs and addresses stand, and a source's RPF
        interface is the one whose configured network holds it. `keep_retired`: report
        forgotten flows in `Output.retired`. `decisions`: report every flow decided or
        forgotten in `Output.decisions` (the kernel fast path forwards decided flows).
        `random()` in [0, 1) draws IGMP's random delays (RFC 3376 section 5.2); the
        default keeps replays reproducible."""
        self.forwarder = Forwarder(
            config, live=live, keep_retired=keep_retired, decisions=decisions
        )
        self.igmp = IgmpRouter(config, self.forwarder, live=live, random=random)
        self.mld = IgmpRouter(config, self.forwarder, live=live, random=random, family=6)
        self.igmp.partner = self.mld
        self.pim = PimRouter(config, self.forwarder, live=live, random=random)
        self.igmp.pim = self.pim
        self.igmp.attach()
        self.nhdp = NhdpRouter(config, self.forwarder, live=live, random=random)

    # -- inputs ------------------------------------------------------------------------------

    def handle_frames(
        self, ingress: str, frames: Sequence[bytes], now: float, outgoing: Collection[int] = ()
    ) -> Output:
        """Frames that arrived together on `ingress` at `now`, in order; `outgoing`: the
        indices of frames this host's applications sent (PACKET_OUTGOING)."""
        if self.pim.ports:
            self.pim.clock(now)  # flows decided in this batch start PIM timers now
        copies = self.forwarder.handle_batch(ingress, frames, now, outgoing)
        control = self.forwarder.take_control()
        if control:
            v6 = [c for c in control if c[1][12] == 0x86]  # MLD: the rest is IPv4
            igmp = [c for c in control if c[1][12] != 0x86 and c[1][23] == _IGMP]
            if len(igmp) + len(v6) < len(control):  # the rest: PIM, and NHDP's HELLOs
                for name, frame, end in control:
                    if frame[12] == 0x86 or frame[23] == _IGMP:
                        continue
                    if frame[23] == _PIM:
                        copies.extend(self.pim.handle(name, frame, end, now))
                    else:
                        self.nhdp.handle(name, frame, end, now)
            if igmp:
                copies.extend(self.igmp.handle_control(igmp, now))
                if self.pim.ports:
                    copies.extend(self.pim.set_local(self.igmp.wishes(), now))
            if v6:
                copies.extend(self.mld.handle_control(v6, now))
            if self.pim.changed:
                copies.extend(self._pim_changed(now))
        return self._output(copies)

    def _pim_changed(self, now: float) -> Frames:
        """PIM's outgoing lists changed for some groups: their flows are decided again."""
        groups, self.pim.changed = self.pim.changed, set()
        return self.forwarder.members_changed(groups, now)

    def handle_timer(self, now: float) -> Output:
        """Run every timer due at `now` (see `next_timer`)."""
        copies: Frames = []
        due = self.forwarder.next_timer()
        if due is not None and due <= now:
            copies.extend(self.forwarder.handle_timer(now))
        due = self.igmp.next_timer()
        if due is not None and due <= now:
            copies.extend(self.igmp.poll(now))
            if self.pim.ports:  # memberships may have expired
                copies.extend(self.pim.set_local(self.igmp.wishes(), now))
        due = self.mld.next_timer()
        if due is not None and due <= now:
            copies.extend(self.mld.poll(now))
        due = self.nhdp.next_timer()
        if due is not None and due <= now:
            copies.extend(self.nhdp.poll(now))
        due = self.pim.next_timer()
        if due is not None and due <= now:
            copies.extend(self.pim.poll(now))
        if self.pim.changed:
            copies.extend(self._pim_changed(now))
        return self._output(copies)

    def next_timer(self) -> float | None:
        """When `handle_timer` has work next (-inf: at once), or None for no timer."""
        timers = (self.forwarder.next_timer(), self.igmp.next_timer(), self.mld.next_timer())
        due = [t for t in timers if t is not None]
        nhdp = self.nhdp.next_timer() if self.nhdp.ports else None
        if nhdp is not None:
            due.append(nhdp)
        pim = self.pim.next_timer() if self.pim.ports else None
        if pim is not None:
            due.append(pim)
        return min(due) if due else None

    def reconfigure(self, config: Config) -> Output:
        """Apply a new config: flows, counters and group records that remain are kept."""
        self.igmp.reconfigure(config)  # first: the flows are decided by the new members
        self.mld.reconfigure(config)
        self.pim.reconfigure(config)  # its join state, too
        self.forwarder.reconfigure(config)  # every flow decided again, by the new ports
        self.igmp.attach()
        self.nhdp.reconfigure(config)  # after the forwarder: its ports take the relay sets
        self.pim.changed.clear()  # the forwarder decided every flow again
        return self._output([])

    def set_link(self, name: str, *, up: bool, mac: bytes | None) -> Output:
        """Live mode: interface `name` is up or down, with this MAC."""
        was = self.forwarder.port_mac(name) is not None
        self.forwarder.set_link(name, up=up, mac=mac)
        self.igmp.link_changed()
        self.mld.link_changed()
        if was != up and self.pim.ports:
            self.pim.link_changed(name, up)
        return self._output([])

    def set_address(
        self, name: str, address: IPv4Interface | None, networks: Sequence[IPv4Network] = ()
    ) -> Output:
        """Live mode: the interface's first IPv4 address (IGMP's querier election and source)
        and all its subnets (where IGMP reports may come from)."""
        self.igmp.set_address(name, address, networks)
        self.nhdp.set_address(name, address.ip.packed if address is not None else None)
        if address is not None:
            self.pim.set_address(name, int(address.ip), address.network.prefixlen)
        else:
            self.pim.set_address(name, 0)
        return self._output([])

    def set_link_local(self, name: str, address: IPv6Interface | None) -> Output:
        """Live mode: the interface's IPv6 link-local address (MLD's querier election and
        source, RFC 3810 section 7.6.2)."""
        self.mld.set_address(name, address)
        return self._output([])

    def set_local_addresses(self, addresses: Iterable[int]) -> Output:
        """Live mode: every IPv4 address of this host (MANET frames from one are ours)."""
        self.forwarder.set_local_addresses(addresses)
        return self._output([])

    def set_rpf(
        self,
        answers: Mapping[int, str | None],
        now: float,
        gateways: Mapping[int, int] | None = None,
    ) -> Output:
        """Live mode: FIB answers for sources asked for in `Output.rpf_lookups` (the
        interface toward each, None for no route back). Held frames they decide go out.
        `gateways`: the FIB's next hop toward addresses that have one (PIM's RPF
        neighbour); an address answered without one is on a link of ours."""
        if self.pim.ports:
            self.pim.clock(now)  # flows these answers decide start PIM timers now
        if gateways is not None:  # before the flows they decide: RPF' is known then
            self.pim.set_gateways(answers, gateways)
        frames = self.forwarder.answer_rpf(answers, now)
        if self.pim.has_state:  # RPF' of join state may follow from these answers
            frames.extend(self.pim.rpf_answered(now))
            if self.pim.changed:
                frames.extend(self._pim_changed(now))
        return self._output(frames)

    def add_kernel_counts(
        self,
        ingress: str,
        source: int,
        group: int,
        counts: tuple[int, int, int, int],
        drops: Mapping[DropReason, int],
        now: float,
    ) -> bool:
        """Live mode with the kernel fast path: what it counted for a flow it forwards
        (see `Forwarder.add_kernel_counts`)."""
        return self.forwarder.add_kernel_counts(ingress, source, group, counts, drops, now)

    def rpf_sources(self) -> list[int]:
        """Sources to look up again after the unicast routes changed (and PIM's RPs)."""
        return self.forwarder.rpf_sources() + self.pim.rp_addresses()

    def handle_unicast(self, packet: bytes, now: float) -> Output:
        """A unicast PIM packet for this host (IPv4 header and all), as the live shell's raw
        PIM socket reads it: Registers (we may be an RP) and Register-Stops."""
        copies = self.pim.handle_unicast(packet, now)
        decapsulated = self.pim.decapsulated
        if decapsulated:  # down the RP tree, as if they had come out of the tunnel
            self.pim.decapsulated = []
            copies.extend(self.forwarder.handle_batch(REGISTER_VIF, decapsulated, now))
        if self.pim.changed:
            copies.extend(self._pim_changed(now))
        return self._output(copies)

    def _output(self, frames: Frames) -> Output:
        unicast: Sequence[tuple[int, bytes]] = ()
        pim = self.pim
        if pim.ports:
            kept: Frames = []
            for name, batch in frames:
                if name == REGISTER_VIF:  # into the tunnel: Registers to the RP
                    for frame in batch:
                        pim.encapsulate(frame[14:])
                else:
                    kept.append((name, batch))
            frames = kept
            if pim.unicast:
                unicast = pim.take_unicast()
        forwarder = self.forwarder
        # tuple.__new__: a NamedTuple's own __new__ costs more than the rest of this call
        igmp = self.igmp
        notices = igmp.take_notices() if igmp.has_notices else ()
        if self.mld.has_notices:
            notices = [*notices, *self.mld.take_notices()]
        return _new_tuple(
            Output,
            (
                frames,
                forwarder.take_rpf_requests(),
                forwarder.take_retired(),
                notices,
                forwarder.take_decisions(),
                unicast,
            ),
        )

    # -- observation -------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.forwarder.config

    @property
    def flow_count(self) -> int:
        return self.forwarder.flow_count

    def snapshot(self, now: float, flows: tuple[FlowSnapshot, ...] | None = None) -> Snapshot:
        """Every counter, frozen (flows as given, from `flow_snapshots`, or all of them)."""
        return self.forwarder.snapshot(now, flows)

    def flow_snapshots(self, part: int = 2000) -> Iterator[tuple[FlowSnapshot, ...]]:
        """Every flow's snapshot, `part` at a time (for a caller that must not stop long)."""
        return self.forwarder.flow_snapshots(part)

    def igmp_json(self, now: float) -> dict[str, Any] | None:
        """IGMP state, JSON-ready, for the view model; None where IGMP is not configured.
        MLD interfaces are listed among IGMP's (their `protocol` says "mld")."""
        igmp, mld = self.igmp.igmp_json(now), self.mld.igmp_json(now)
        if mld is None:
            return igmp
        if igmp is None:
            return mld
        merged = dict(igmp)
        merged["interfaces"] = [*igmp["interfaces"], *mld["interfaces"]]
        merged["mld_proxy"] = mld["proxy"]
        return merged

    def nhdp_json(self, now: float) -> dict[str, Any] | None:
        """NHDP neighbours and relay sets, JSON-ready (None: no MANET interface runs it)."""
        return ports_json(self.nhdp, now)

    def pim_json(self, now: float) -> dict[str, Any] | None:
        """PIM neighbours and DRs, JSON-ready (None: no interface runs PIM)."""
        return self.pim.to_json(now)

    def shutdown(self) -> Output:
        """Stopping: what neighbours must hear before we go (PIM's goodbye Hellos)."""
        return self._output(self.pim.shutdown())

    def igmp_views(self, now: float) -> tuple[IgmpInterfaceView, ...]:
        """IGMP's interfaces, then MLD's."""
        return self.igmp.igmp_views(now) + self.mld.igmp_views(now)

    def proxy_view(self) -> ProxyView | None:
        return self.igmp.proxy_view()
