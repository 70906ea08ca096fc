"""The forwarding core: one Ethernet frame, its ingress interface and the time in; frames out.

Theory of operation, in the order of Linux's ipmr (net/ipv4/ipmr.c):

1. Parse Ethernet II + IPv4 straight from the bytes (RFC 791 section 3.1): anything that is
   not well-formed IPv4 multicast is counted by reason and dropped, never raised.
2. Find the flow (source, group) on this ingress in a dict; a new flow is resolved once
   against the route table (scope rule, (S,G) before (*,G), RPF on the route's `from`) and
   its egress list (each interface's Ethernet source and type, shared by every flow going
   the same way) and group MAC (RFC 1112 section 6.4) are kept with it; a flow that lasts
   (OWN_HEADERS packets) gets whole headers of its own.
3. TTL: nothing with TTL <= 1 leaves; a copy goes out where TTL > the interface's threshold
   (ipmr / mrouted semantics; egress kept sorted by threshold: the copies are a prefix).
4. Duplicate detection (RFC 6621 section 6) on packets that would leave. TTL is then
   decremented once and the header checksum patched incrementally (RFC 1624); options and
   payload are copied unchanged, link padding dropped.
5. One frame per egress: its Ethernet header + the patched IP packet; counters.

Nothing here opens a socket or reads a clock. Work that is not per packet lives beside
this module: the flow table (`flows`), RPF answers and held frames (`rpf`), snapshots
(`snapshots`), the route table (`table`), duplicate detection (`dedup`), the MANET relay
decision (`mesh`). The engine
(`rawfwd.control.engine`) is what the shells drive; it runs this forwarder's timer
(`next_timer`/`handle_timer`: the idle sweep and held frames) with every other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

from ..config.values import Config, DedupMode, InterfaceSpec, Route
from .dedup import DedupTable
from .flows import FlowTable
from .mesh import FloodGroups, RelayPolicy
from .reasons import DropReason
from .rpf import UNRESOLVED_HOLD, UNRESOLVED_TIMEOUT, Held, RpfAnswers
from .snapshots import flow_snapshot, interface_snapshot, total_drops
from .state import Egress, Flow, Port
from .stats import FlowDecision, FlowSnapshot, Snapshot
from .table import RPF_PENDING, RouteTable, RpfAnswer, RpfFunc, is_link_local
from .wire import (
    ETHERTYPE_IPV4,
    frame_problem,
    group_mac,
    header_sums_ok,
    ttl_decrement_checksum,
)
from .wire6 import ETHERTYPE_IPV6, ICMPV6, Ipv6Packet, frame_problem6

__all__ = ["UNRESOLVED_HOLD", "UNRESOLVED_TIMEOUT", "Forwarder", "Frames", "MemberFunc", "Transmit"]

_NOTHING: Final[tuple[()]] = ()
_NEVER: Final = float("inf")
_FIRST: Final = (0,)  # handle_frame's `outgoing` for its one frame
#: bound once: compiled code would look `int.from_bytes` up (and bind it) at every call
#: First source octets a router must not forward from (RFC 1812 section 5.3.7): network 0,
#: loopback 127, multicast 224/4 and reserved 240/4. Indexed by the octet: one lookup.
_MARTIAN_SOURCE: Final = tuple(o == 0 or o == 127 or o >= 224 for o in range(256))
#: IGMP frames held for the control plane between two calls (beyond: counted, not kept)
MAX_CONTROL: Final = 1024
_IGMP: Final = 2  # IP protocol number (RFC 1112 appendix I)
_PIM: Final = 103  # IP protocol number of PIM (RFC 7761 section 4.9)
_ALL_PIM_ROUTERS: Final = bytes((224, 0, 0, 13))  # where PIM's link messages go
#: PIM-SM's register tunnel (RFC 7761 4.4), a pseudo-interface as on Linux: copies sent
#: there become Registers to the RP; what an RP decapsulates arrives from it
_REGISTER_SPEC: Final = InterfaceSpec(name="pimreg", mac=bytes(6))
_UDP: Final = 17
_NHDP_GROUP: Final = 0xE000006D  # 224.0.0.109, LL-MANET-Routers (RFC 5498): NHDP's HELLOs
_IPV4_TYPE: Final = ETHERTYPE_IPV4.to_bytes(2, "big")
_IPV6_TYPE: Final = ETHERTYPE_IPV6.to_bytes(2, "big")
#: ICMPv6 types of link control: MLD query, v1 report and done, v2 report (RFC 2710, RFC
#: 3810), and neighbour discovery's RS, RA, NS, NA, redirect (RFC 4861): never forwarded
_LINK_CONTROL6: Final = frozenset({130, 131, 132, 143, 133, 134, 135, 136, 137})
_MLD: Final = frozenset({130, 131, 132, 143})
#: IPv6 sources in ::/96 (unspecified, loopback, IPv4-compatible: RFC 4291 2.5) or
#: link-local fe80::/10 are never a routed flow's (the latter only for link-scoped groups)
_V6_LOW_SOURCE: Final = bytes(12)
#: packets after which a flow gets Ethernet headers of its own (group MAC included) instead
#: of the egress it shares: a flood of short-lived (source, group)s costs no header per
#: flow and interface, a flow that lasts no concatenation per copy
OWN_HEADERS: Final = 16
#: verdicts of the route table that membership may replace (others stand: ours, martian)
_MEMBERS_DECIDE: Final = frozenset(
    {None, DropReason.NO_ROUTE, DropReason.WRONG_IF, DropReason.NO_RPF}
)
#: verdicts that, for a frame a local application sent, mean only "nowhere else to go"
_NOWHERE_ELSE: Final = frozenset(
    {DropReason.NO_EGRESS, DropReason.NO_ROUTE, DropReason.NO_MEMBERS, DropReason.LINK_LOCAL}
)


def _transmits(groups: list[tuple[str, list[bytes]]]) -> list[Transmit]:
    """Copies grouped by egress (the shell's form) as one Transmit each (the API's)."""
    return [Transmit(name, data) for name, copies in groups for data in copies]


#: (ingress, source, group) -> (interfaces whose members want it, whether the ingress must
#: be the RPF interface toward the source): how the IGMP control plane adds to a flow's egress
MemberFunc = Callable[[str, int, int], tuple[tuple[str, ...], bool]]


#: frames per egress interface, each list in sending order (how `handle_batch` returns its
#: copies, and the engine every frame it sends)
Frames = list[tuple[str, list[bytes]]]


class Transmit(NamedTuple):
    """A frame to send on interface `egress`."""

    egress: str
    frame: bytes


class Forwarder:
    """Pure multicast forwarding state machine; see the module docstring for the rules."""

    def __init__(
        self,
        config: Config,
        *,
        live: bool = False,
        keep_retired: bool = False,
        decisions: bool = False,
    ) -> None:
        """`live`: the host tells the forwarder its interfaces' MACs (`set_link`), its own
        addresses (`set_local_addresses`) and RPF answers from the kernel FIB
        (`take_rpf_requests`/`set_rpf`). Otherwise (replay) all of it comes from the config:
        a source's RPF interface is the one whose `address` network holds it.
        `keep_retired`: keep the final snapshot of every flow forgotten (idle or evicted)
        for `take_retired`, e.g. for a replay summary. `decisions`: note every flow decided
        or forgotten, for `take_decisions` (a data path that forwards decided flows itself).
        """
        self._live = live
        self._keep_retired = keep_retired
        self._retired: list[FlowSnapshot] = []
        self._decisions = decisions
        #: flows decided (the flow) or forgotten (None) since `take_decisions`, by identity
        self._changed: dict[tuple[str, bytes, bool], Flow | None] = {}
        self._clock = 0.0  # time of the latest input: when a lookup was asked for
        self._rpf = RpfAnswers(from_fib=live)
        self._held = Held()
        self._released: list[tuple[Flow, bytes, int]] = []  # held frames now decided
        self._dedup = DedupTable(config.dedup)
        self._egress_cache: dict[
            tuple[int, str | None, tuple[str, ...], tuple[str, ...], bool],
            tuple[tuple[Egress, ...], tuple[int, ...], tuple[str, ...]],
        ] = {}
        self._route_text: dict[int, str] = {}
        #: egress thresholds and names, one object per distinct value (memory: per flow)
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._ports: dict[str, Port] = {}
        self._flows = FlowTable()
        self._relay = RelayPolicy()
        self._live_addresses: frozenset[int] | None = None  # set by the live shell
        self._local: frozenset[int] = frozenset()  # this host's addresses
        self._unknown_if: Counter[str] = Counter()
        self._touched: list[Port] = []  # ports with copies in their box
        self._members: MemberFunc | None = None
        #: IGMP frames (ingress, frame, end of IP packet) for the control plane to take
        self._control: list[tuple[str, bytes, int]] = []
        self.control_lost = 0  #: IGMP frames beyond MAX_CONTROL in one call
        self.reconfigure(config)

    # -- configuration and link state (slow path) -------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """Apply a new config; flows and counters of interfaces that remain are kept."""
        self.config = config
        old = self._ports
        self._ports = {}
        specs = list(config.interfaces.values())
        if not config.pim.dense and any(spec.pim is not None for spec in specs):
            specs.append(_REGISTER_SPEC)  # PIM-SM's register tunnel: a port like any other
        for spec in specs:
            name = spec.name
            port = old.get(name)
            if port is None:
                port = Port(spec)
            else:
                port.spec = spec
                if spec.mac is not None and (not self._live or spec is _REGISTER_SPEC):
                    port.mac = spec.mac  # live: the link's own MAC
            self._ports[name] = port
        for flow in list(self._flows):
            if flow.port.name not in self._ports:  # its interface is gone: so is the flow
                self._flows.remove(flow)
                self._held.forget(flow)
                self._detach_dedup(flow)
                self._note(flow, gone=True)
        self._flooding = [
            (port, FloodGroups(port.spec.groups))
            for port in self._ports.values()
            if port.spec.manet
        ]
        self._table = RouteTable(config.routes)
        self._rpf.configure(config)
        self._route_text = {id(r): r.describe() for r in config.routes}
        if config.dedup != self._dedup.spec:  # a new kind of cache: start afresh
            for flow in self._flows:
                flow.dedup = None
            self._dedup = DedupTable(config.dedup)
        self._dedup_on = config.dedup.mode is not DedupMode.OFF
        for flow in self._flows:
            if flow.dedup is None:
                self._attach_dedup(flow)
        self._relay = self._relay_policy()
        self._local = (
            self._live_addresses
            if self._live_addresses is not None
            else frozenset(
                int(spec.address.ip)
                for spec in config.interfaces.values()
                if spec.address is not None
            )
        )
        self._flows.configure(config.flows)
        self._resolve_all()
        self._drop_released()

    def _relay_policy(self) -> RelayPolicy:
        return RelayPolicy(p.mac for p in self._ports.values() if p.mac is not None)

    def set_link(self, name: str, *, up: bool | None = None, mac: bytes | None = None) -> None:
        """Tell the core an interface went up/down or what its MAC is (live mode)."""
        port = self._ports.get(name)
        if port is None:
            return
        new_up = port.up if up is None else up
        new_mac = port.mac if mac is None else mac
        if (new_up, new_mac) == (port.up, port.mac):
            return  # nothing changed: no flow needs deciding again
        port.up, port.mac = new_up, new_mac
        self._relay = self._relay_policy()
        self._resolve_all()
        self._drop_released()

    def set_local_addresses(self, addresses: Iterable[int]) -> None:
        """Tell the core this host's IPv4 addresses (live mode; replay takes the configured
        `address`es): a MANET frame from one of them is our own packet heard back."""
        new = frozenset(addresses)
        if new != self._local:
            self._live_addresses = self._local = new
            self._resolve_all()
            self._drop_released()

    def set_members(self, members: MemberFunc | None) -> None:
        """Let group membership (the IGMP control plane) add egress interfaces to flows
        beside the static routes; every flow is decided again."""
        self._members = members
        self._flows.index_by_group(members is not None)
        self._resolve_all()
        self._drop_released()

    @property
    def members(self) -> MemberFunc | None:
        """The membership hook in use (`set_members`)."""
        return self._members

    def members_changed(self, groups: Collection[int] | None = None, now: float = 0.0) -> Frames:
        """Membership of `groups` (None: of any group) changed: decide their flows again.
        Frames held for a flow that is now decided are forwarded: returned, grouped by
        egress like `handle_batch`'s."""
        self._clock = now  # a lookup this asks for is asked now
        if groups is None:
            self._resolve_all()
        else:  # the egress cache stays: its keys name the member interfaces they serve
            for group in groups:
                for flow in self._flows.in_group(group):
                    self._resolve(flow)
        released, self._released = self._released, []
        for flow, frame, end in released:
            self._forward_any(flow, frame, end, now)
        return self._collect() if self._touched else []

    def set_relay(
        self,
        name: str,
        relay_for: frozenset[bytes] | None,
        heard: frozenset[bytes] | None = None,
    ) -> None:
        """A MANET interface's relay set, as NHDP chose it: the previous hops (MACs) whose
        packets this node relays on the mesh, None for all (RFC 6621 section 8); with
        S-MPR, `heard`: the only previous hops whose packets count at all (B.2). Read per
        packet: a change applies to the next packet, no flow is decided again."""
        port = self._ports.get(name)
        if port is not None:
            port.relay_for = relay_for
            port.relay_heard = heard

    def take_control(self) -> Sequence[tuple[str, bytes, int]]:
        """The IGMP and NHDP frames received since the last call, as (ingress, frame, end of
        the IP packet): they are the control plane's and are never forwarded (RFC 3376
        section 4; RFC 6130 HELLOs go one hop, to 224.0.0.109)."""
        if not self._control:
            return _NOTHING
        taken, self._control = self._control, []
        return taken

    def port_mac(self, name: str) -> bytes | None:
        """The MAC of interface `name` while it is up, else None: what the control plane
        sends from."""
        port = self._ports.get(name)
        return port.mac if port is not None and port.up else None

    def _attach_dedup(self, flow: Flow) -> None:
        """Give `flow` its (source, group)'s duplicate cache: the one a flow of the same
        (source, group) on any interface has (a few dict probes, once per flow), or a new
        one."""
        if not self._dedup_on:
            return
        key = flow.key
        sibling = None
        for port in self._ports.values():
            for flows in (port.flows, port.local_flows):
                other = flows.get(key)
                if other is not None and other is not flow and other.dedup is not None:
                    sibling = other.dedup
                    break
            if sibling is not None:
                break
        flow.dedup = self._dedup.attach(sibling)

    def _detach_dedup(self, flow: Flow) -> None:
        if flow.dedup is not None:
            self._dedup.detach(flow.dedup)
            flow.dedup = None

    def _resolve_all(self) -> None:
        self._egress_cache.clear()
        for flow in self._flows:
            self._resolve(flow)

    # -- RPF (routes without `from`) ----------------------------------------------------------

    def _toward(self, source: int) -> RpfAnswer:
        return self._rpf.toward(source, self._clock)

    def rpf_toward(self, address: int) -> RpfAnswer:
        """The interface toward `address` (config, [[rpf]], FIB): a name, None for no route,
        or RPF_PENDING while the FIB is asked (the PIM router's RPF, RFC 7761 4.5)."""
        return self._rpf.toward(address, self._clock)

    def take_rpf_requests(self) -> Sequence[int]:
        """Sources (as ints) whose RPF interface the caller should look up in the FIB."""
        return self._rpf.take_requests()

    def rpf_sources(self) -> list[int]:
        """Sources of current flows with a FIB answer: to look up again after the unicast
        routes changed (answers for sources no flow uses any more are not worth a lookup)."""
        return self._rpf.known_sources(f.source for f in self._flows)

    def set_rpf(self, answers: Mapping[int, str | None], now: float) -> list[Transmit]:
        """Record FIB answers (interface toward each source, None for no route back).

        Flows waiting on them are decided and their held frames forwarded now; if a known
        source's answer changed (a unicast route moved), every flow is decided again.
        Returns the frames to send.
        """
        return _transmits(self.answer_rpf(answers, now))

    def answer_rpf(self, answers: Mapping[int, str | None], now: float) -> Frames:
        """`set_rpf`, with the frames grouped per egress as `handle_batch` returns them."""
        self._clock = now
        newly, moved = self._rpf.record(answers)
        if moved:
            self._resolve_all()
        else:
            for flow in self._held.waiting():
                if flow.source in newly:
                    self._resolve(flow)
        self._ask_waiting()
        released, self._released = self._released, []
        for flow, frame, end in released:
            self._forward_any(flow, frame, end, now)
        return self._collect() if self._touched else []

    def _ask_waiting(self) -> None:
        """Ask for sources that found no room among the lookups outstanding."""
        rpf = self._rpf
        for flow in self._held.waiting():
            if not rpf.room:
                return
            if not rpf.knows(flow.source):
                self._toward(flow.source)

    def _resolve(self, flow: Flow) -> None:
        """Decide where the packets of `flow` go (`_decide`), and note it for
        `take_decisions`."""
        self._decide(flow)
        self._note(flow)

    def _note(self, flow: Flow, gone: bool = False) -> None:
        if self._decisions and not flow.v6:  # the kernel fast path forwards IPv4 only
            self._changed[(flow.port.name, flow.key, flow.local)] = None if gone else flow

    def take_decisions(self) -> Sequence[FlowDecision]:
        """How each flow decided or forgotten since the last call is forwarded now, in the
        order they changed (`decisions` on; a flow that changed twice is listed once)."""
        if not self._changed:
            return _NOTHING  # the common case costs no list
        out = []
        for (ingress, key, local), flow in self._changed.items():
            source, group = int.from_bytes(key[:4], "big"), int.from_bytes(key[4:], "big")
            if flow is None:
                out.append(FlowDecision(ingress, source, group, local, gone=True))
                continue
            egress: tuple[tuple[str, int], ...] = ()
            if flow.verdict is None:
                egress = tuple(
                    (e.port.name, threshold)
                    for e, threshold in zip(flow.egress, flow.thresholds, strict=True)
                )
            out.append(FlowDecision(ingress, source, group, local, egress, flow.mesh))
        self._changed.clear()
        return out

    def _decide(self, flow: Flow) -> None:
        """Decide, once per flow, where its packets go (or why they don't).

        On a MANET interface RPF does not apply, duplicate detection is what ends a flood
        (RFC 6621 section 5): a route without `from` serves it as if RPF said yes, and the
        MANET interfaces that flood the group are added. A local flow (its frames were
        sent by an application here) never goes back out of its own interface: the kernel
        has sent it there already, exactly once.
        """
        port = flow.port
        self._held.member_wait.pop(flow, None)
        manet = port.spec.manet
        rpf: RpfFunc = self._toward if not manet else lambda _source: port.name
        found = self._table.lookup(port.name, flow.source, flow.group, rpf)
        flow.route, flow.verdict = found.route, found.reason
        flow.egress, flow.thresholds, flow.oifs = (), (), ()
        flow.mesh = manet and not flow.local
        flow.flood = manet and any(groups.floods(flow.group) for _, groups in self._flooding)
        if self._martian(flow) and (found.reason is not DropReason.LINK_LOCAL or flow.flood):
            flow.route, flow.verdict, flow.flood = None, DropReason.BAD_SOURCE, False
        elif flow.mesh and flow.source in self._local:  # ours, relayed back by a neighbour
            flow.route, flow.verdict, flow.flood = None, DropReason.OWN_ECHO, False
        elif manet and flow.group == _NHDP_GROUP:  # NHDP's, whatever `groups` floods
            flow.route, flow.verdict, flow.flood = None, DropReason.LINK_LOCAL, False
        members: tuple[str, ...] = ()
        if self._members is not None and flow.verdict is not DropReason.BAD_SOURCE:
            members = self._member_egress(flow, rpf)
        if flow.verdict is DropReason.UNRESOLVED:
            if flow.queue is None:
                flow.queue = []
            self._held.flows[flow] = None
            return
        if flow.queue is not None:  # it was waiting for RPF: its held frames go on now
            self._held.flows.pop(flow, None)
            self._released.extend((flow, frame, end) for frame, end, _ in flow.queue)
            flow.queue = None
        route = flow.route if flow.verdict is None else None
        if route is None and not flow.flood and not members:
            return
        # a route without `from` serves every ingress RPF allows: the arrival interface is
        # left out of its copies unless it is a MANET interface (same-interface relay)
        rpf_route = route is not None and route.iif is None
        skip = port.name if flow.local or (rpf_route and not manet) else None
        flooding = (
            tuple(p.name for p, groups in self._flooding if groups.floods(flow.group))
            if flow.flood
            else ()
        )
        # not keyed by group: every flow going the same way shares one egress (a flood of
        # groups would otherwise cost one per flow); the group MAC is the flow's own
        cache_key = (id(route) if route is not None else 0, skip, flooding, members, flow.v6)
        shared = self._egress_cache.get(cache_key)
        if shared is None:
            if len(self._egress_cache) >= max(1024, self.config.flows.max_flows // 4):
                # bounded: flows keep theirs, only sharing is lost
                self._egress_cache.clear()
                self._shared.clear()
            ethertype = _IPV6_TYPE if flow.v6 else _IPV4_TYPE
            shared = self._egress_for(route, skip, flooding, members, ethertype)
            self._egress_cache[cache_key] = shared
        # RFC 2464 section 7: 33:33 and the group's low 32 bits; RFC 1112 section 6.4
        flow.dst = b"\x33\x33" + flow.key[28:32] if flow.v6 else group_mac(flow.group)
        flow.egress, flow.thresholds, flow.oifs = shared
        flow.route = route
        flow.members = bool(members)
        flow.verdict = None if flow.egress else DropReason.NO_EGRESS

    def _member_egress(self, flow: Flow, rpf: RpfFunc) -> tuple[str, ...]:
        """Interfaces whose members want `flow` (RFC 3376 section 6.3), if RPF allows it.

        A route's verdict is overridden only where membership gives the flow somewhere to
        go: no route, or a route whose `from` is another interface, still lets members on
        the RPF interface's side have it. Link-local groups are never routed (RFC 5771).
        """
        assert self._members is not None
        if is_link_local(flow.group) or flow.verdict not in _MEMBERS_DECIDE:
            return ()
        port = flow.port
        oifs, need_rpf = self._members(port.name, flow.source, flow.group)
        oifs = tuple(o for o in oifs if o != port.name)
        if not oifs:
            if flow.verdict is DropReason.NO_ROUTE:
                flow.verdict = DropReason.NO_MEMBERS
            return ()
        if need_rpf and not flow.local and not port.spec.manet:
            toward = rpf(flow.source)
            if toward is RPF_PENDING:
                if flow.verdict is None:  # the route forwards now, members once RPF says
                    self._held.member_wait[flow] = None
                else:
                    flow.route, flow.verdict = None, DropReason.UNRESOLVED
                return ()
            if toward != port.name:
                if flow.verdict is DropReason.NO_ROUTE:
                    flow.verdict = DropReason.WRONG_IF if toward is not None else DropReason.NO_RPF
                return ()
        if flow.verdict is not None:  # no usable route: membership alone decides
            flow.route, flow.verdict = None, None
        return oifs

    def _egress_for(
        self,
        route: Route | None,
        skip: str | None,
        flooding: tuple[str, ...],
        members: tuple[str, ...],
        ethertype: bytes,
    ) -> tuple[tuple[Egress, ...], tuple[int, ...], tuple[str, ...]]:
        """Egress list (each with its prebuilt Ethernet source and type), thresholds and
        names for `route`, plus the MANET interfaces `flooding` the group, plus `members`.

        Shared by every flow that goes the same way (many groups and sources cost one).
        """
        names = list(route.oifs) if route is not None else []
        names += [name for name in flooding if name not in names]
        names += [name for name in members if name not in names]
        usable = [
            self._ports[name]
            for name in names
            if name != skip and self._ports[name].up and self._ports[name].mac is not None
        ]
        # lowest threshold first: the copies a TTL allows are a prefix, counted in one short loop
        usable.sort(key=lambda port: port.spec.ttl_threshold)
        egress = tuple(Egress((p.mac or b"") + ethertype, p) for p in usable)
        shared = self._shared  # few distinct threshold and name lists: one object each
        thresholds = tuple(p.spec.ttl_threshold for p in usable)
        kept = {p.name for p in usable}
        oifs = tuple(name for name in names if name in kept)
        return egress, shared.setdefault(thresholds, thresholds), shared.setdefault(oifs, oifs)

    @staticmethod
    def _martian(flow: Flow) -> bool:
        """A source no router forwards from: IPv4 network 0, loopback, multicast and
        reserved (RFC 1812 5.3.7); IPv6 ::/96 (RFC 4291 2.5.2, 2.5.3, 2.5.5.1) and,
        to a group wider than its link, link-local fe80::/10 (RFC 4291 2.5.6)."""
        key = flow.key
        if len(key) == 8:
            return _MARTIAN_SOURCE[key[0]]
        if key[:12] == _V6_LOW_SOURCE:
            return True
        # a link-local source is fine for a link-scoped group (relayed by opt-in: mDNS)
        return key[0] == 0xFE and key[1] & 0xC0 == 0x80 and not is_link_local(flow.group)

    def _drop_released(self) -> None:
        """Held frames whose flow was decided by a config or link change: dropped, counted."""
        for flow, _, _ in self._released:
            self._drop_flow(flow, DropReason.UNRESOLVED)
        self._released.clear()

    # -- the per-packet path ----------------------------------------------------------------

    def handle_frame(
        self, ingress: str, frame: bytes, now: float, outgoing: bool = False
    ) -> Sequence[Transmit]:
        """Forward one Ethernet frame that arrived on `ingress` at time `now`.

        `outgoing` marks a frame sent by an application on this host (PACKET_OUTGOING):
        the kernel has sent it on `ingress` already, so it goes everywhere else it should,
        and is remembered so that neighbours relaying it back are recognised. `frame` must
        be `bytes` (its slices key the flow table). Never raises on any `frame` content.
        """
        out = self.handle_batch(ingress, (frame,), now, _FIRST if outgoing else ())
        return _transmits(out) if out else _NOTHING

    def handle_batch(
        self,
        ingress: str,
        frames: Sequence[bytes],
        now: float,
        outgoing: Collection[int] = (),
    ) -> list[tuple[str, list[bytes]]]:
        """Forward frames that arrived together on `ingress` at `now`, in order: what
        `handle_frame` does for each, with the per-call work (interface, clock, sweep)
        done once. `outgoing`: the indices of frames sent by applications on this host.
        Returns the copies grouped by egress interface, each group in order: the live
        shell writes a group into that interface's TX ring in one go."""
        if now >= self._flows.next_sweep or now >= self._held.due:
            self._run_timers(now)  # as the timer would: a busy caller may call it late
        port = self._ports.get(ingress)
        if port is None:
            self._unknown_if[ingress] += len(frames)
            return []
        if self._control:
            self._control.clear()  # not taken since the last call: nobody wants them
        if not outgoing:
            self._receive(port, frames, now, False)
        else:  # runs of received and of local frames, in their order
            marks = set(outgoing)
            start = 0
            for i in range(1, len(frames) + 1):
                if i == len(frames) or (i in marks) != (start in marks):
                    self._receive(port, frames[start:i], now, start in marks)
                    start = i
        self._dedup.keep_bound()
        return self._collect() if self._touched else []

    def _receive(self, port: Port, frames: Sequence[bytes], now: float, local: bool) -> None:
        """Steps 1-2 for each frame; `local`: sent by this host's applications."""
        flows = port.local_flows if local else port.flows
        count = size = 0
        for frame in frames:
            n = len(frame)
            count += 1
            size += n
            # the common case first: IPv4 without options to 224/4; everything else is
            # examined by frame_problem, which names what is wrong (or allows options)
            if n >= 34 and frame[12] == 8 and frame[13] == 0 and frame[14] == 0x45:
                end = 14 + ((frame[16] << 8) | frame[17])
                if end < 34 or end > n or frame[30] & 0xF0 != 0xE0 or not header_sums_ok(frame):
                    reason = frame_problem(frame, n)  # the fast path's tests are its own
                    assert isinstance(reason, DropReason)
                    port.drops[reason] += 1
                    continue
            elif n >= 14 and frame[12] == 0x86 and frame[13] == 0xDD:
                self._receive6(port, flows, frame, n, now, local)
                continue
            else:
                found = frame_problem(frame, n)
                if isinstance(found, DropReason):
                    port.drops[found] += 1
                    continue
                end = found
            if frame[23] == _IGMP or (frame[23] == _PIM and frame[30:34] == _ALL_PIM_ROUTERS):
                # the control plane's, never a flow (PIM to a routed group stays data)
                if frame[23] == _IGMP:
                    port.igmp += 1
                else:
                    port.pim += 1
                if local:
                    pass  # this host's own reports: the kernel sent them, not a member
                elif len(self._control) < MAX_CONTROL:
                    self._control.append((port.name, frame, end))
                else:
                    self.control_lost += 1
                continue
            if _MARTIAN_SOURCE[frame[26]] and (frame[30] != 224 or frame[31] or frame[32]):
                # link-local groups are let through to be counted as link_local: IGMP
                # reports may come from 0.0.0.0 (RFC 3376 section 4.2.13)
                port.drops[DropReason.BAD_SOURCE] += 1
                continue
            key = frame[26:34]
            flow = flows.get(key)
            if flow is None:
                flow = self._new_flow(port, key, now, local)
            flow.last = now
            flow.packets += 1
            flow.bytes += end - 14
            self._forward(flow, frame, end, now)
        port.rx_frames += count
        port.rx_bytes += size

    def _receive6(
        self, port: Port, flows: dict[bytes, Flow], frame: bytes, n: int, now: float, local: bool
    ) -> None:
        """Steps 1-2 for an IPv6 frame (see wire6: checks, extension headers)."""
        found = frame_problem6(frame, n)
        if not isinstance(found, Ipv6Packet):
            port.drops[found] += 1
            return
        at = found.upper_at
        if found.upper == ICMPV6 and at < found.end and frame[at] in _LINK_CONTROL6:
            port.icmp6 += 1
            if frame[at] in _MLD and not local:  # the MLD router's (ours: the kernel's)
                if len(self._control) < MAX_CONTROL:
                    self._control.append((port.name, frame, found.end))
                else:
                    self.control_lost += 1
            return
        key = frame[22:54]
        flow = flows.get(key)
        if flow is None:
            flow = self._new_flow(port, key, now, local)
        flow.last = now
        flow.packets += 1
        flow.bytes += found.end - 14
        self._forward6(flow, frame, found.end, now)

    def _forward_any(self, flow: Flow, frame: bytes, end: int, now: float) -> None:
        """A held frame of either family, released."""
        if flow.v6:
            self._forward6(flow, frame, end, now)
        else:
            self._forward(flow, frame, end, now)

    def _forward6(self, flow: Flow, frame: bytes, end: int, now: float) -> None:
        """Steps 3-5 for an IPv6 packet: as `_forward`, with the hop limit (byte 7 of the
        header, no checksum to patch: RFC 8200 section 3) in place of TTL, and duplicate
        detection by hash over the header without hop limit plus the rest (RFC 6621
        section 6.1.3: I-DPD needs the SMF_DPD option, which rawfwd does not add)."""
        verdict = flow.verdict
        if verdict is not None:
            if verdict is DropReason.UNRESOLVED and self._held.hold(flow, frame, end, now):
                return
            if flow.local and verdict in _NOWHERE_ELSE:
                dedup = flow.dedup
                if dedup is not None:
                    dedup.seen6(frame, frame[22:end], now)
                return
            self._drop_flow(flow, verdict)
            return
        previous_hop = b""
        if flow.mesh:
            previous_hop = frame[6:12]
            verdict = self._relay.verdict(previous_hop)
            if verdict is not None:
                self._drop_flow(flow, verdict)
                return
        hops = frame[21]
        count = 0
        for threshold in flow.thresholds:
            if threshold >= hops:
                break
            count += 1
        if count == 0:
            self._drop_flow(flow, DropReason.TTL if hops <= 1 else DropReason.THRESHOLD)
            return
        body = frame[22:end]
        relay = True
        if flow.mesh:  # as `_forward` does: RFC 6621 section 8, B.2 rule 3
            heard, relay_for = flow.port.relay_heard, flow.port.relay_for
            stranger = heard is not None and previous_hop not in heard
            relay = not stranger and (relay_for is None or previous_hop in relay_for)
            dedup = None if stranger else flow.dedup
        else:
            dedup = flow.dedup
        if dedup is not None and dedup.seen6(frame, body, now):
            self._drop_flow(flow, DropReason.DUPLICATE)
            return
        egress = flow.egress[:count] if count < len(flow.egress) else flow.egress
        if not relay:
            egress = tuple(e for e in egress if e.port is not flow.port)
            if not egress:
                self._drop_flow(flow, DropReason.NOT_RELAY)
                return
        packet = frame[14:21] + bytes((hops - 1,)) + body
        dst = flow.dst
        for eth, out in egress:
            if not out.box:
                self._touched.append(out)
            out.box.append(dst + eth + packet if dst else eth + packet)
            out.tx_bytes += end
        flow.forwarded += 1
        flow.copies += len(egress)
        flow.port.relayed += 1

    def _collect(self) -> list[tuple[str, list[bytes]]]:
        """Hand out the copies made since the last call, per interface, and count them."""
        out = []
        for p in self._touched:
            box = p.box
            p.tx_frames += len(box)
            out.append((p.name, box))
            p.box = []  # handed over whole: no copy of the list
        self._touched.clear()
        return out

    def _forward(self, flow: Flow, frame: bytes, end: int, now: float) -> None:
        """Steps 3-5 for a counted, well-formed packet of `flow` ending at `frame[end]`:
        its copies go into the egress ports' boxes."""
        verdict = flow.verdict
        if verdict is not None:
            if verdict is DropReason.UNRESOLVED and self._held.hold(flow, frame, end, now):
                return
            if flow.group == _NHDP_GROUP and frame[23] == _UDP and flow.port.spec.manet:
                # a HELLO (RFC 6130): NHDP's, never a flow's; set aside as IGMP is (ours,
                # sent by this host, are not: the kernel sent them)
                if flow.local:
                    return
                if len(self._control) < MAX_CONTROL:
                    self._control.append((flow.port.name, frame, end))
                else:
                    self.control_lost += 1
                return
            if flow.local and verdict in _NOWHERE_ELSE:
                # the kernel sent it where it was going: nothing was dropped, but it is
                # remembered, so that a neighbour relaying it back is not relayed again
                dedup = flow.dedup
                if dedup is not None:
                    dedup.seen(frame, frame[26:end], now)
                return
            self._drop_flow(flow, verdict)
            return
        previous_hop = b""
        if flow.mesh:  # RFC 6621: relay only what a neighbour sent, as the policy says
            previous_hop = frame[6:12]
            verdict = self._relay.verdict(previous_hop)
            if verdict is not None:
                self._drop_flow(flow, verdict)
                return
        ttl = frame[22]
        # thresholds are >= 1, so TTL <= 1 allows no copy: RFC 1812 5.3.1, ipmr
        count = 0  # copies allowed: the thresholds below TTL (a prefix: they ascend)
        for threshold in flow.thresholds:
            if threshold >= ttl:
                break
            count += 1
        if count == 0:
            self._drop_flow(flow, DropReason.TTL if ttl <= 1 else DropReason.THRESHOLD)
            return
        body = frame[26:end]
        if flow.mesh:
            heard = flow.port.relay_heard
            if heard is not None and previous_hop not in heard:
                # RFC 6621 B.2 rule 3: not relayed and not recorded, so the copy a real
                # selector relays later is no duplicate; copies off the mesh still go
                self._not_relayed(flow, frame, body, ttl, count)
                return
        dedup = flow.dedup
        if dedup is not None and dedup.seen(frame, body, now):
            self._drop_flow(flow, DropReason.DUPLICATE)
            return

        if flow.mesh:  # RFC 6621 section 8: relay only as this node's relay set says
            relay_for = flow.port.relay_for
            if relay_for is not None and previous_hop not in relay_for:
                self._not_relayed(flow, frame, body, ttl, count)
                return
        # RFC 1624 eqn. 3 for TTL - 1: HC' = ~(~HC + 0xFEFF) (see wire.ttl_decrement_checksum)
        csum = (~((frame[24] << 8) | frame[25]) & 0xFFFF) + 0xFEFF
        csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
        patch = ((ttl - 1) << 24 | frame[23] << 16 | csum).to_bytes(4, "big")  # bytes 8-11
        packet = frame[14:22] + patch + body
        egress = flow.egress
        dst = flow.dst
        if dst and flow.packets >= OWN_HEADERS:  # it lasts: whole headers of its own, once
            egress = flow.egress = tuple(Egress(dst + tail, out) for tail, out in egress)
            dst = flow.dst = b""
        for eth, out in egress[:count] if count < len(egress) else egress:
            box = out.box
            if not box:
                self._touched.append(out)
            box.append(eth + packet if not dst else dst + eth + packet)
            out.tx_bytes += end  # the copy's length: 14 bytes of Ethernet and the packet
        flow.forwarded += 1
        flow.copies += count
        flow.port.relayed += 1

    def _not_relayed(self, flow: Flow, frame: bytes, body: bytes, ttl: int, count: int) -> None:
        """A mesh packet this node does not relay back into the mesh it came from: recorded
        as seen already by the caller (a copy heard later is a duplicate) unless S-MPR
        says to ignore its sender, and delivered locally by the kernel anyway; its copies
        to other interfaces (a gateway's LAN, another radio whose own relay set is not
        this one's) still go."""
        egress = flow.egress
        allowed = egress[:count] if count < len(egress) else egress
        others = [e for e in allowed if e.port is not flow.port]
        if not others:  # the common case on a radio-only node: nothing to build
            self._drop_flow(flow, DropReason.NOT_RELAY)
            return
        csum = ttl_decrement_checksum((frame[24] << 8) | frame[25])  # off the hot path
        patch = ((ttl - 1) << 24 | frame[23] << 16 | csum).to_bytes(4, "big")
        packet = frame[14:22] + patch + body
        end = 14 + len(packet)
        dst = flow.dst
        for eth, out in others:
            if not out.box:
                self._touched.append(out)
            out.box.append(eth + packet if not dst else dst + eth + packet)
            out.tx_bytes += end
        flow.forwarded += 1
        flow.copies += len(others)
        flow.port.relayed += 1

    def _drop_flow(self, flow: Flow, reason: DropReason) -> None:
        drops = flow.drops
        if drops is None:
            drops = flow.drops = Counter()
        drops[reason] += 1
        flow.port.drops[reason] += 1

    def _new_flow(self, port: Port, key: bytes, now: float, local: bool) -> Flow:
        flow = Flow(port, key, now, local)
        self._attach_dedup(flow)  # first: an evicted flow of the same (S,G) keeps it alive
        self._clock = now
        self._resolve(flow)
        evicted = self._flows.add(flow)
        if evicted is not None:
            self._retire(evicted)
        return flow

    # -- timers -----------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """When `handle_timer` has work: the next idle sweep while there are flows, the
        expiry of the oldest held frame, the retry of an unanswered RPF lookup."""
        due = self._held.due
        if self._rpf.retry < due:
            due = self._rpf.retry
        if self._flows.due < due:
            due = self._flows.due
        return None if due == _NEVER else due

    def handle_timer(self, now: float) -> list[tuple[str, list[bytes]]]:
        """Run what is due at `now` (see `next_timer`). Returns copies to send, grouped as
        `handle_batch`'s (none today: held frames that expire are dropped, not sent)."""
        self._run_timers(now)
        return self._collect() if self._touched else []

    def _run_timers(self, now: float) -> None:
        self._clock = now
        if now >= self._held.due:
            self._expire_held(now)
        if now >= self._rpf.retry:
            self._rpf.ask_again(now)
        if now >= self._flows.next_sweep:
            self._sweep(now)

    def _expire_held(self, now: float) -> None:
        """ipmr's 10 s limit: drop frames held that long, counted as unresolved."""
        for flow, count in self._held.expire(now):
            for _ in range(count):
                self._drop_flow(flow, DropReason.UNRESOLVED)
        self._ask_waiting()

    def _sweep(self, now: float) -> None:
        """Forget flows idle for longer than `[flows] idle_timeout` (amortised, not per packet)."""
        for flow in self._flows.sweep(now):
            self._retire(flow)

    def _retire(self, flow: Flow) -> None:
        """What a flow the table forgot leaves behind: held frames, its dedup share."""
        self._held.forget(flow)
        self._detach_dedup(flow)
        self._note(flow, gone=True)
        if self._keep_retired:
            self._retired.append(flow_snapshot(flow, self._route_text))

    def flow_last(self, ingress: str, source: int, group: int) -> float | None:
        """When the flow (ingress, S, G) last carried a packet (None: no such flow). Control
        planes read it for timers that data restarts, such as PIM's Keepalive Timer, instead
        of being told of every packet."""
        port = self._ports.get(ingress)
        if port is None:
            return None
        flow = port.flows.get(source.to_bytes(4, "big") + group.to_bytes(4, "big"))
        return flow.last if flow is not None else None

    def take_retired(self) -> Sequence[FlowSnapshot]:
        """Final snapshots of the flows forgotten since the last call (`keep_retired`)."""
        if not self._retired:
            return _NOTHING  # the common case costs no list
        retired, self._retired = self._retired, []
        return retired

    def add_kernel_counts(
        self,
        ingress: str,
        source: int,
        group: int,
        counts: tuple[int, int, int, int],
        drops: Mapping[DropReason, int],
        now: float,
    ) -> bool:
        """What the kernel fast path counted, since it last said, for a flow it forwards
        (packets, IP bytes, forwarded, copies; drops by reason): it joins the flow's own
        counters, so the table, `show` and `--json` count every packet whichever path
        took it, and a flow the kernel still forwards is not idle. False if the flow is
        gone. Copies go to the egress counters lowest threshold first: a copy on one
        interface means one on every interface of a lower threshold."""
        port = self._ports.get(ingress)
        flow = (
            port.flows.get(source.to_bytes(4, "big") + group.to_bytes(4, "big")) if port else None
        )
        if port is None or flow is None:
            return False
        packets, size, forwarded, copies = counts
        flow.kernel += packets
        flow.packets += packets
        flow.bytes += size
        flow.forwarded += forwarded
        flow.copies += copies
        port.rx_frames += packets
        port.rx_bytes += size + 14 * packets
        port.relayed += forwarded
        if packets:
            flow.last = max(flow.last, now)
        average = size // packets + 14 if packets else 0
        left = copies
        for egress in flow.egress:
            sent = min(forwarded, left)
            egress.port.tx_frames += sent
            egress.port.tx_bytes += sent * average
            left -= sent
        for reason, n in drops.items():
            if n:
                flow_drops = flow.drops
                if flow_drops is None:
                    flow_drops = flow.drops = Counter()
                flow_drops[reason] += n
                port.drops[reason] += n
        return True

    # -- observation ------------------------------------------------------------------------

    @property
    def flow_count(self) -> int:
        """How many flows there are now (without building their snapshots)."""
        return len(self._flows)

    def flow_snapshots(self, part: int = 2000) -> Iterator[tuple[FlowSnapshot, ...]]:
        """Every flow's snapshot, `part` at a time, in first-seen order.

        For a caller that must not stop for long (the live shell yields between parts; at
        100,000 flows the whole takes about half a second). Flows that come or go while it
        runs may be missed or included: each part is exact for its own flows.
        """
        flows = list(self._flows)
        for start in range(0, len(flows), part):
            yield tuple(flow_snapshot(f, self._route_text) for f in flows[start : start + part])

    def snapshot(self, now: float, flows: tuple[FlowSnapshot, ...] | None = None) -> Snapshot:
        """Immutable copy of all counters, flows in first-seen order (or the `flows` given,
        gathered with `flow_snapshots`)."""
        if flows is None:
            flows = tuple(flow_snapshot(f, self._route_text) for f in self._flows)
        ifaces = tuple(interface_snapshot(p) for p in self._ports.values())
        return Snapshot(
            now=now,
            flows=flows,
            interfaces=ifaces,
            drops=total_drops(self._ports.values(), sum(self._unknown_if.values())),
            dedup_entries=self._dedup.pool.count,
            flows_evicted=self._flows.evicted,
            flows_expired=self._flows.expired,
        )
