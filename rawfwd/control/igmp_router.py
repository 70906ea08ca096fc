"""The IGMP router: querier, membership and proxy on every interface that runs IGMP; and,
made with `family=6`, the MLD router on every interface that runs MLD (RFC 3810: the same
machine, MLD's messages, link-local sources, no proxy yet).

Theory of operation:

- The Forwarder keeps IGMP frames out of the data path; the engine hands them here
  (`handle_control`). Each is parsed (bad ones counted by
  reason, RFC 3376 section 4) and goes to its interface: queries to the querier election
  and membership timers, reports to the membership, and on the proxy's upstream
  interface, queries to the upstream host side. Queries and reports from outside the
  interface's subnets are counted and ignored: RFC 3376 section 9 keeps forged messages
  from elsewhere out, so no host off the link becomes our querier or member.
- Membership decides egress through `Forwarder.set_members`: a flow arriving on the RPF
  interface toward its source goes to every `igmp = true` interface where a member wants
  (S,G) and this router forwards, i.e. is the querier, or was told `querier = false`
  (RFC 4605 section 4.2: on a link with two routers only the querier forwards, no
  duplicates). With a proxy: from upstream, down to members without an RPF check; from a
  downstream source, up as well.
- When a group's membership changes, its flows are decided again; a proxy's merged state
  for it is recomputed and reported upstream.
- Timers: `poll(now)` runs what is due and returns the frames to send (queries and
  reports, TTL 1 with Router Alert, built here); `next_timer()` says when to call again,
  remembered between changes. Neither scans the group records: each membership keeps its
  timers in a heap, so a hostile host's reports cost what they say, not what it made us
  remember. A querier starts once its interface is up with an address.

Pure like the Forwarder: no sockets, no clock; the engine passes time and random draws in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface
from typing import Any

from ..config.values import Config, IgmpSpec
from ..core import Forwarder
from ..core.addr import V6, from_packed, of, text
from ..core.forwarder import Frames
from ..core.table import is_link_local
from ..core.wire import ethernet_header, group_mac
from ..core.wire6 import Ipv6Packet, walk
from . import igmp, mld
from .igmp import ALL_SYSTEMS, BadIgmp, Message, Query, Report, V3Report
from .membership import GroupView, Membership
from .pim_router import PimRouter, Wishes
from .proxy import ProxyView, UpstreamHost, merge
from .querier import Querier
from .unserved import Facts, Unserved, Withheld


def _ip(value: int) -> str:
    """Dotted quad: what str(IPv4Address(value)) says, at a third of its cost (the live
    table writes thousands of them a second); an IPv6 `addr` integer as its text."""
    if value >= V6:
        return text(value)
    return ".".join(map(str, value.to_bytes(4, "big")))


Address = IPv4Interface | IPv6Interface
_LOW128 = V6 - 1
_ALL_NODES = from_packed(mld.ALL_NODES)


def link_local_of(mac: bytes | None) -> IPv6Interface | None:
    """The modified EUI-64 link-local address of `mac` (RFC 4291 appendix A): in replay,
    the address an interface would have."""
    if mac is None:
        return None
    eui = bytes((mac[0] ^ 0x02,)) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    return IPv6Interface((b"\xfe\x80" + bytes(6) + eui, 64))


@dataclass(eq=False)
class _Port:
    """One `igmp = true` interface: its querier, its group records, its counters."""

    name: str
    spec: IgmpSpec
    querier: Querier
    membership: Membership
    address: Address | None = None
    started: bool = False
    forwarding: bool = True  # forwards by membership: the querier, or listen-only
    counters: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class IgmpInterfaceView:
    """One IGMP interface as the table and `rawfwd show groups` see it."""

    name: str
    version: int
    address: str | None
    querier: str | None  #: the link's querier as far as we know
    is_querier: bool
    listen_only: bool
    next_query: float | None  #: seconds until our next general query
    other_querier_expires: float | None  #: seconds until we take over from the querier
    groups: tuple[GroupView, ...]  #: the lowest MAX_VIEW_GROUPS of them
    counters: dict[str, int]
    groups_truncated: int = 0  #: group records not listed in `groups`
    #: another querier here leaves members we could serve without traffic (issue 12)
    unserved: bool = False
    protocol: str = "igmp"  #: or "mld" (then `version` is MLD's: 1 or 2)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; what a view leaves out is counted where it is left out ("truncated":
        sources of a group, "groups_truncated": groups), only when something is."""
        out = {
            "interface": self.name,
            "protocol": self.protocol,
            "version": self.version,
            "address": self.address,
            "querier": self.querier,
            "is_querier": self.is_querier,
            "listen_only": self.listen_only,
            "next_query": _secs(self.next_query),
            "other_querier_expires": _secs(self.other_querier_expires),
            "groups": [_group_json(g) for g in self.groups],
            "counters": dict(sorted(self.counters.items())),
        }
        if self.groups_truncated:
            out["groups_truncated"] = self.groups_truncated
        if self.unserved:
            out["unserved"] = True
        return out


def _group_json(g: GroupView) -> dict[str, Any]:
    out = {
        "group": _ip(g.group),
        "mode": g.mode.value,
        "sources": {_ip(s): round(t, 1) for s, t in g.sources},
        "excluded": [_ip(s) for s in g.excluded],
        "expires": _secs(g.expires),
        "compat": g.compat,
        "last_reporter": _ip(g.reporter),
    }
    if g.truncated:
        out["truncated"] = g.truncated
    return out


def _secs(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def proxy_json(view: ProxyView) -> dict[str, Any]:
    return {
        "upstream": view.interface,
        "version": view.version,
        "querier": _ip(view.querier) if view.querier else None,
        "groups": [
            {"group": _ip(g), "mode": mode.value, "sources": [_ip(s) for s in sources]}
            for g, mode, sources in view.groups
        ],
        "counters": dict(view.counters),
    }


class IgmpRouter:
    """IGMP on the interfaces that run it, extending `forwarder`'s egress by membership;
    see the module docstring."""

    def __init__(
        self,
        config: Config,
        forwarder: Forwarder,
        *,
        live: bool = False,
        random: Callable[[], float] = lambda: 0.5,
        family: int = 4,
    ) -> None:
        self.family = family  #: 4: IGMP; 6: MLD
        #: the MLD router, whose answers the forwarder asks this (IGMP) one for
        self.partner: IgmpRouter | None = None
        #: the PIM router, whose join state adds outgoing interfaces (IPv4 only)
        self.pim: PimRouter | None = None
        self._live = live  # live: addresses come from `set_address`, not the config
        self._random = random
        self._ports: dict[str, _Port] = {}
        self._addresses: dict[str, Address | None] = {}
        self.proxy: UpstreamHost | None = None
        self.ignored: Counter[str] = Counter()  # IGMP on interfaces without igmp, by interface
        #: `next_timer`'s answer, kept until something that can move a timer happens
        self._next: float | None = None
        self._timers_moved = True
        #: what the proxy's former upstream must still be told (a reload moved it)
        self._farewell: list[tuple[str, int, Message]] = []
        self._settle_now = True  # `next_timer` says "now" until `poll` has run
        self._networks: dict[str, tuple[IPv4Network, ...]] = {}
        #: a querier elsewhere that does not forward to members we could serve
        self.withheld = Withheld()
        self.unserved = Unserved()
        self._notices: list[str] = []  # log lines for the engine's next Output
        self.forwarder = forwarder
        self._configure(config)
        if family == 4:  # the one hook; an MLD router is asked through its partner's
            self.forwarder.set_members(self._hook())

    # -- configuration -----------------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """Apply a new config; group records of interfaces that keep `igmp = true` stay.
        The forwarder takes the config next, then `attach`."""
        self._configure(config)

    def attach(self) -> None:
        """Let membership decide the forwarder's egress where IGMP is configured."""
        if self.forwarder.members != self._hook():
            self.forwarder.set_members(self._hook())

    def _hook(self) -> Callable[[str, int, int], tuple[tuple[str, ...], bool]] | None:
        """Membership decides only where IGMP or MLD is configured (else no_route stays
        no_route)."""
        partner = self.partner
        if self._ports or self.proxy is not None or (partner is not None and partner._ports):
            return self._members_any
        if self.pim is not None and self.pim.ports:
            return self._members_any
        return None

    def _members_any(self, ingress: str, source: int, group: int) -> tuple[tuple[str, ...], bool]:
        """IPv6 groups are the MLD router's to answer for, IPv4 ones this one's."""
        if group >= V6:
            partner = self.partner
            return partner._members(ingress, source, group) if partner is not None else ((), True)
        return self._members(ingress, source, group)

    def _configure(self, config: Config) -> None:
        self._timers_moved = True
        self.withheld.forget()  # the forwarder decides every flow again with the config
        if not self._live:  # replay: the configured addresses; live: `set_address`'s
            if self.family == 4:
                self._addresses = {n: s.address for n, s in config.interfaces.items()}
            else:  # the link-local address each MAC makes
                self._addresses = {n: link_local_of(s.mac) for n, s in config.interfaces.items()}
        old = self._ports
        self._ports = {}
        for name, spec in config.interfaces.items():
            wanted = spec.igmp if self.family == 4 else spec.mld
            if wanted is None:
                continue
            port = old.get(name)
            if port is None:
                querier = Querier(wanted, 0)
                port = _Port(name, wanted, querier, Membership(wanted, querier))
            else:
                if wanted.querier and not port.spec.querier:
                    port.started = False  # switched on: its startup queries are due now
                port.spec = port.querier.spec = port.membership.spec = wanted
                if port.querier.other_querier_until is None:  # ours are the values in use
                    port.querier.robustness = wanted.robustness
                    port.querier.query_interval = wanted.query_interval
            port.address = self._addresses.get(name)
            port.querier.address = of(port.address.ip) if port.address is not None else 0
            if port.querier.other_querier_until is None:  # no other heard: we are it
                port.querier.querier_address = port.querier.address if wanted.querier else 0
            port.forwarding = port.querier.is_querier or not wanted.querier
            self._ports[name] = port
        upstream = next((s.name for s in config.interfaces.values() if s.upstream), None)
        old_proxy = self.proxy
        if old_proxy is not None and old_proxy.interface != upstream:
            # no longer upstream there: its router hears that we want nothing (RFC 4605)
            for group in list(old_proxy.reported):
                old_proxy.update(group, None, 0.0)
            self._farewell.extend((old_proxy.interface, d, m) for d, m in old_proxy.poll(0.0))
        if upstream is None:
            self.proxy = None
        elif old_proxy is None or old_proxy.interface != upstream:
            self.proxy = UpstreamHost(upstream, random=self._random, family=self.family)
        self._settle_now = True  # whatever the new config changed is acted on at once
        self._refresh_proxy(None, 0.0)

    def set_address(
        self, name: str, address: Address | None, networks: Sequence[IPv4Network] = ()
    ) -> None:
        """Live mode: the interface's (first) IPv4 address, for querier election and as
        the source of what is sent; `networks`: all its subnets, where reports may come
        from (default: the address's)."""
        self._networks[name] = tuple(networks)
        self._addresses[name] = address
        self._timers_moved = True
        port = self._ports.get(name)
        if port is not None and port.address != address:
            port.address = address
            port.querier.address = of(address.ip) if address is not None else 0
            if port.querier.other_querier_until is None and port.spec.querier:
                port.querier.querier_address = port.querier.address

    def link_changed(self) -> None:
        """An interface went up or down or changed MAC: a querier may start or stop."""
        self._timers_moved = True

    # -- frames ------------------------------------------------------------------------------

    def handle_control(self, frames: Sequence[tuple[str, bytes, int]], now: float) -> Frames:
        """IGMP frames the forwarder kept out of the data path, as (ingress, frame, end of
        the IP packet): returns what they make this router send (and frames a membership
        change releases)."""
        self._timers_moved = True
        changed: set[int] = set()
        for name, frame, end in frames:
            if self.family == 6:
                source, message = self._parse_mld(frame, end)
            else:
                source = int.from_bytes(frame[26:30], "big")
                message = igmp.parse(frame[14 + (frame[14] & 0x0F) * 4 : end])
            port = self._ports.get(name)
            if self.proxy is not None and name == self.proxy.interface:
                if isinstance(message, Query) and not self._on_link(name, source):
                    self.proxy.counters["foreign_query"] += 1  # forged from off the link
                elif isinstance(message, Query):
                    self.proxy.on_query(source, message, now)
                    self.proxy.counters["queries"] += 1
                elif isinstance(message, BadIgmp):
                    self.proxy.counters[message.reason] += 1
                else:
                    self.proxy.counters["others_reports"] += 1  # theirs: not ours to act on
                continue
            if port is None:
                self.ignored[name] += 1
                continue
            if isinstance(message, BadIgmp):
                port.counters[message.reason] += 1
            elif isinstance(message, Query):
                self._on_query(port, source, message, now)
            else:
                self._on_report(port, source, message, now)
            changed |= port.membership.changed
            port.membership.changed.clear()
        return self._settle(changed, now)

    @staticmethod
    def _parse_mld(frame: bytes, end: int) -> tuple[int, Message | BadIgmp]:
        """The sender and message of an MLD frame the forwarder set aside, or why it
        must be ignored (RFC 3810 5.1.14, 5.2.13: hop limit 1, Router Alert, link-local)."""
        source = from_packed(frame[22:38])
        found = walk(frame, end)
        if not isinstance(found, Ipv6Packet) or found.upper_at >= end:
            return source, BadIgmp("truncated")
        at = found.upper_at
        problem = mld.check(frame, found, frame[at])
        if problem is not None:
            return source, BadIgmp(problem)
        return source, mld.parse(frame[at:end], frame[22:38], frame[38:54])

    def _on_query(self, port: _Port, source: int, query: Query, now: float) -> None:
        if not self._on_link(port.name, source):
            # forged from off the link (RFC 3376 9.1 keeps such queries out): however low
            # its address, it must not stop us querying (and forwarding) nor set our timers
            port.counters["foreign_query"] += 1
            return
        port.counters["queries"] += 1
        if query.version < port.spec.version:
            port.counters["older_querier"] += 1  # RFC 3376 7.3.1: configure it, or us
        port.querier.on_query(source, query, now)
        if not port.querier.is_querier and source == port.querier.querier_address:
            port.membership.on_query(query, now)

    def _on_report(self, port: _Port, source: int, report: Report | V3Report, now: float) -> None:
        if not self._on_link(port.name, source):
            port.counters["foreign_source"] += 1  # RFC 3376 section 9.2
            return
        prefix = "v" if self.family == 4 else "mldv"  # MLD's own version numbers
        version = report.version if isinstance(report, Report) else 3
        if isinstance(report, Report) and report.leave:
            port.counters["leaves"] += 1
        else:
            port.counters[f"{prefix}{version - (self.family == 6)}_reports"] += 1
        port.membership.on_report(source, report, now)

    def _on_link(self, name: str, source: int) -> bool:
        """Is `source` in one of interface `name`'s subnets? True too for 0.0.0.0 (a host
        without an address may report, RFC 3376 4.2.13; a query from it elects no one) and
        while the interface has no address to tell by."""
        address = self._addresses.get(name)
        if not source or address is None or self.family == 6:
            return True  # MLD: `mld.check` kept all but link-local senders out already
        nets = self._networks.get(name) or (address.network,)
        return any(IPv4Address(source) in net for net in nets)

    # -- timers ------------------------------------------------------------------------------

    def poll(self, now: float) -> Frames:
        """Run every timer due at `now`; returns the frames to send."""
        return self._settle(set(), now)

    def next_timer(self) -> float | None:
        """When `poll` has something to do next, or None."""
        if self._timers_moved:
            self._next = self._find_next_timer()
            self._timers_moved = False
        return self._next

    def _find_next_timer(self) -> float | None:
        if self._settle_now or self._farewell:
            return float("-inf")
        times = []
        for port in self._ports.values():
            if not port.started and self._ready(port):
                return float("-inf")  # it can start now
            for t in (port.querier.next_timer(), port.membership.next_timer()):
                if t is not None:
                    times.append(t)
        if self.proxy is not None:
            t = self.proxy.next_timer()
            if t is not None:
                times.append(t)
        t = self.unserved.next_timer()
        if t is not None:
            times.append(t)
        return min(times, default=None)

    def _ready(self, port: _Port) -> bool:
        return port.address is not None and self.forwarder.port_mac(port.name) is not None

    def _settle(self, changed: set[int], now: float) -> Frames:
        """Run the timers, send what is due, and apply membership changes to forwarding."""
        self._timers_moved = True
        sends, self._farewell = self._farewell, []
        self._settle_now = False
        querier_moved = False
        for port in self._ports.values():
            everyone = ALL_SYSTEMS if self.family == 4 else _ALL_NODES
            if not port.started and self._ready(port):
                port.started = True
                sends.extend((port.name, everyone, q) for q in port.querier.start(now))
            sends.extend((port.name, everyone, q) for q in port.querier.poll(now))
            for q in port.membership.poll(now):
                sends.append((port.name, q.group, q))
            changed |= port.membership.changed
            port.membership.changed.clear()
            forwarding = port.querier.is_querier or not port.spec.querier
            if forwarding != port.forwarding:
                port.forwarding = forwarding
                querier_moved = True
        released: Frames = []
        if querier_moved:
            self.withheld.forget()
            released = self.forwarder.members_changed(None, now)
        elif changed:
            self.withheld.forget(changed)
            released = self.forwarder.members_changed(changed, now)
        facts = {port.name: self._facts(port) for port in self._ports.values()}
        self._notices.extend(self.unserved.update(now, facts))
        if self.proxy is not None:
            self._refresh_proxy(None if querier_moved else changed, now)
            sends.extend((self.proxy.interface, dst, m) for dst, m in self.proxy.poll(now))
        return released + self._frames(sends)

    def _refresh_proxy(self, groups: Collection[int] | None, now: float) -> None:
        """Tell the upstream side the merged downstream state of `groups` (None: all)."""
        proxy = self.proxy
        if proxy is None:
            return
        members = [p.membership for p in self._ports.values()]  # all downstream (config)
        if groups is None:
            groups = set(proxy.reported).union(*(m.groups for m in members))
        for group in groups:
            if is_link_local(group):
                continue  # 224.0.0.0/24 is never proxied (RFC 5771 section 4)
            states = [state for m in members if (state := m.filter(group)) is not None]
            proxy.update(group, merge(states), now)

    def _frames(self, sends: list[tuple[str, int, Message]]) -> Frames:
        out: dict[str, list[bytes]] = {}
        for name, destination, message in sends:
            mac = self.forwarder.port_mac(name)
            if mac is None:
                continue  # down: the timers still run, nothing can be sent
            port = self._ports.get(name)
            if port is not None and port.address is None:
                continue  # lost its address: a query needs a source to be elected by
            address = self._source_address(name)
            if self.family == 6:
                src = (address & _LOW128).to_bytes(16, "big")
                dst = (destination & _LOW128).to_bytes(16, "big")
                packet = mld.ip_packet(src, dst, mld.build(message, src, dst))
                frame = b"\x33\x33" + dst[12:] + mac + b"\x86\xdd" + packet  # RFC 2464
                out.setdefault(name, []).append(frame)
            else:
                packet = igmp.ip_packet(address, destination, igmp.build(message))
                frame = ethernet_header(group_mac(destination), mac) + packet
                out.setdefault(name, []).append(frame)
            if port is not None:
                port.counters["queries_sent"] += 1
        return list(out.items())

    def _source_address(self, name: str) -> int:
        """The address `name` sends from (the querier's too): 0.0.0.0 without one, as a
        host may report (RFC 3376 4.2.13)."""
        address = self._addresses.get(name)
        return of(address.ip) if address is not None else 0

    # -- forwarding by membership ------------------------------------------------------------

    def _facts(self, port: _Port) -> Facts:
        """Is another router querier on `port`'s link (we do not forward there), while its
        members want traffic we have that does not arrive there?"""
        other = port.querier.querier_address
        querier = _ip(other) if not port.forwarding and other else None
        return Facts(querier, self.withheld.starved(port.name))

    @property
    def has_notices(self) -> bool:
        return bool(self._notices)

    def take_notices(self) -> list[str]:
        """Log lines since the last call (members a silent querier leaves unserved)."""
        notices, self._notices = self._notices, []
        return notices

    def _members(self, ingress: str, source: int, group: int) -> tuple[tuple[str, ...], bool]:
        pim = self.pim
        pim_ports: Collection[str] = pim.ports if pim is not None else ()
        # where PIM runs, its DR forwards to members (RFC 7761 4.1.6), not IGMP's querier
        silent = [
            name
            for name, port in self._ports.items()
            if not port.forwarding
            and name not in pim_ports
            and port.membership.wants(source, group)
        ]
        if self.withheld.note(ingress, group, silent):
            self._settle_now = self._timers_moved = True  # `unserved` is fed by `poll`
        oifs = tuple(
            name
            for name, port in self._ports.items()
            if name != ingress
            and port.forwarding
            and name not in pim_ports
            and port.membership.wants(source, group)
        )
        if pim is not None and pim_ports:
            found = pim.oifs(ingress, source, group)
            if found is not None:  # PIM's list; the RP tree's arrival is checked already
                pim_oifs, need_rpf = found
                return tuple(dict.fromkeys((*oifs, *pim_oifs))), need_rpf
        proxy = self.proxy
        if proxy is None:
            return oifs, True
        if ingress == proxy.interface:
            return oifs, False  # RFC 4605 4.2: the upstream is toward every source
        if ingress in self._ports:  # a downstream source: up too (RFC 4605 4.2)
            return (*oifs, proxy.interface), True
        return oifs, True

    def wishes(self) -> Wishes:
        """What members want per (interface, group), as hosts would say it (EXCLUDE or
        INCLUDE and sources): PIM's local membership (RFC 7761 4.1.6)."""
        out: Wishes = {}
        for name, port in self._ports.items():
            for group in port.membership.groups:
                found = port.membership.filter(group)
                if found is not None:
                    out[(name, group)] = found
        return out

    # -- observation -------------------------------------------------------------------------

    def igmp_views(self, now: float) -> tuple[IgmpInterfaceView, ...]:
        out = []
        for port in self._ports.values():
            q = port.querier
            next_query = q.next_timer() if q.is_querier else None
            other = q.other_querier_until
            groups = port.membership.views(now)
            if self.family == 6:  # MLD's own version numbers (RFC 3810 section 8)
                groups = [replace(g, compat=g.compat - 1) for g in groups]
            counters = port.counters + Counter(port.membership.ignored)
            if q.clamped:
                counters["query_values_clamped"] = q.clamped
            out.append(
                IgmpInterfaceView(
                    name=port.name,
                    # MLD's own numbers: the machine's 2 and 3 are MLDv1 and MLDv2
                    version=port.spec.version - (self.family == 6),
                    protocol="igmp" if self.family == 4 else "mld",
                    address=str(port.address.ip) if port.address is not None else None,
                    querier=_ip(q.querier_address) if q.querier_address else None,
                    is_querier=q.is_querier and port.started,
                    listen_only=not port.spec.querier,
                    next_query=max(0.0, next_query - now) if next_query is not None else None,
                    other_querier_expires=max(0.0, other - now) if other is not None else None,
                    groups=tuple(groups),
                    counters=dict(counters),
                    groups_truncated=len(port.membership.groups) - len(groups),
                    unserved=self.unserved.unserved(port.name),
                )
            )
        return tuple(out)

    def igmp_json(self, now: float) -> dict[str, Any] | None:
        """What the table and `rawfwd show groups` show, JSON-ready; None without IGMP."""
        if not self._ports and self.proxy is None:
            return None
        proxy = self.proxy_view()
        return {
            "interfaces": [view.to_json() for view in self.igmp_views(now)],
            "proxy": proxy_json(proxy) if proxy is not None else None,
            #: IGMP heard on interfaces without igmp = true (and not upstream), by interface
            "ignored": dict(sorted(self.ignored.items())),
            "lost": self.forwarder.control_lost,  # beyond MAX_CONTROL in one batch
        }

    def proxy_view(self) -> ProxyView | None:
        return self.proxy.view() if self.proxy is not None else None
