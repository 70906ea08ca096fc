"""PIM-DM (RFC 3973): flood and prune, graft, state refresh; the state of `[pim] mode =
"dense"`, driven by the PIM router, which keeps the neighbours, Hellos and asserts.

Theory of operation:

- An (S,G) packet arriving on the RPF interface toward S makes (S,G) state (section 4.1.2)
  and goes out on olist(S,G): every interface with a PIM neighbour or local members,
  less those pruned, lost to an assert, and the arrival interface (section 4.1.3). When
  olist is empty, a Prune goes upstream to RPF'(S) (the neighbour toward S, or the winner
  of an assert there); it comes back non-empty (a member joined, a prune ran out): a Graft,
  unicast, repeated every Graft_Retry_Period until the Graft-Ack (section 4.4.1).
- Downstream, a Prune addressed to us on a LAN waits J/P_Override_Interval for another
  router's Join to override it (at once on a link with one neighbour), then prunes the
  interface for its holdtime; a Graft undoes it and is acknowledged (section 4.4.2). A Prune
  addressed to our upstream neighbour that we still need is overridden by our Join within
  t_override.
- The router on S's own link originates a State Refresh every state_refresh_interval while
  S sends (section 4.5.2); each router passes one that comes from RPF'(S) on, hop by hop,
  with the P bit where the interface is pruned. It keeps pruned branches pruned (the
  Prune Timer restarts as the refresh goes out) instead of letting them flood again when
  their holdtime ends, and tells an upstream router which branches are pruned.
- Data events reach this pure module without a per-packet call: the forwarder decides a
  flow once, and that decision (`PimRouter.oifs`) is where a new (S,G) is seen. What later
  packets would tell (the source is still active; traffic arrives again on a pruned
  branch, or on a non-RPF point-to-point link) is read from the flow's last-packet time
  (`Forwarder.flow_last`) when a timer runs, and, for data a pruned router is waiting
  for, every WATCH_INTERVAL.
- A packet that fails RPF on an interface with one PIM neighbour (a point-to-point link)
  prunes that neighbour's copy (the issue's rule; RFC 3973 itself leaves it to asserts),
  at most once per t_limit while it keeps coming; on a LAN, asserts choose one forwarder.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from . import pim
from .membership import Mode
from .pim import Assert, Graft, GroupSet, JoinPrune, Source, StateRefresh

if TYPE_CHECKING:
    from .pim_router import PimPort, PimRouter

INF: Final = float("inf")
SOURCE_LIFETIME: Final = 210.0  #: (S,G) state lasts this long after S's last packet
T_LIMIT: Final = 210.0  #: Prune Limit Timer: one upstream Prune per this long at most
GRAFT_RETRY_PERIOD: Final = 3.0  #: a Graft without a Graft-Ack is sent again after this
PRUNE_HOLDTIME: Final = 210  #: the hold time of our Prunes, seconds
STATE_REFRESH_TTL: Final = 255  #: TTL field of originated State Refreshes (hops)
WATCH_INTERVAL: Final = 0.1  #: how often waiting entries look for data again
ASSERT_TIME_S: Final = 180  #: Assert_Time (section 4.8), as a Prune's hold time
MAX_DENSE_ENTRIES: Final = 16384


class Up(Enum):
    """The upstream (S,G) state (section 4.4.1)."""

    FORWARDING = "Forwarding"
    PRUNED = "Pruned"
    ACK_PENDING = "AckPending"


class Down(Enum):
    """The downstream (S,G,I) prune state (section 4.4.2)."""

    NO_INFO = "NoInfo"
    PRUNE_PENDING = "PrunePending"
    PRUNED = "Pruned"


@dataclass(eq=False)
class DenseDownstream:
    """One interface's prune state: `timer` is the Prune-Pending Timer in PrunePending,
    the Prune Timer in Pruned; `holdtime`, the accepted Prune's (a State Refresh sent out
    a pruned interface restarts the Prune Timer with it)."""

    state: Down = Down.NO_INFO
    timer: float = INF
    holdtime: float = 0.0


@dataclass(eq=False)
class DenseEntry:
    """(S,G) state of a dense-mode router (section 4.1.2)."""

    source: int
    group: int
    ingress: str  #: RPF_interface(S)
    sat: float  #: Source Active Timer: checked against the flow's last packet
    up: Up = Up.FORWARDING
    #: RPF'(S): (interface, neighbour); None where S is on our link (no one upstream)
    rpf: tuple[str, int] | None = None
    grt: float = INF  #: Graft Retry Timer (AckPending)
    ot: float = INF  #: Override Timer: our Join against another router's Prune
    plt: float = INF  #: Prune Limit Timer (Pruned)
    #: data arriving on `ingress` after this time is an event: Pruned without a running
    #: PLT, the upstream floods again and is pruned again (section 4.4.1); a silent
    #: source on our link sends again, and we originate State Refresh again (4.5.2)
    watch_from: float = INF
    originator: bool = False  #: S is on our link: we originate State Refresh (4.5.2)
    srt: float = INF  #: State Refresh Timer (originator)
    refreshes: int = 0  #: State Refreshes originated (N bit on every third)
    refresh_heard: float = float("-inf")  #: the last State Refresh taken from RPF'(S)
    down: dict[str, DenseDownstream] = field(default_factory=dict)
    olist: tuple[str, ...] = ()  #: as last computed (a change re-decides the flows)
    grafts: int = 0  #: Grafts sent in the current (or last) AckPending spell

    def pruned(self) -> set[str]:
        """prunes(S,G): interfaces in Pruned (PrunePending still forwards)."""
        return {n for n, d in self.down.items() if d.state is Down.PRUNED}

    def next_timer(self) -> float:
        due = min(self.sat, self.grt, self.ot, self.plt, self.srt)
        for d in self.down.values():
            due = min(due, d.timer)
        return due


class DenseMode:
    """The (S,G) entries of a dense-mode router and what moves them; `router` is the
    PimRouter that owns the ports, neighbours, asserts and the frames to send."""

    def __init__(self, router: PimRouter) -> None:
        self.r = router
        self.entries: dict[tuple[int, int], DenseEntry] = {}
        #: (interface, S, G) -> when we last pruned a non-RPF point-to-point neighbour
        self.p2p_pruned: dict[tuple[str, int, int], float] = {}
        self.next_watch = INF  #: the next look for data (while an entry waits for some)
        self.counters: Counter[str] = Counter()
        #: groups of flows decided while the FIB was asked toward S: decided again on answer
        self.waiting_groups: set[int] = set()

    # -- data (a flow decided) ---------------------------------------------------------------

    def oifs(self, ingress: str, source: int, group: int) -> tuple[tuple[str, ...], bool]:
        """Where (S,G) arriving on `ingress` goes (section 4.2); the forwarder still checks
        RPF where the answer is pending."""
        r = self.r
        now = r._last
        toward = r.rpf_interface(source)
        if not isinstance(toward, str):
            if toward is None:
                return (), True  # no route back to S: the forwarder says why it drops
            # the FIB is asked: every interface that could want it, RPF checked on answer
            self.waiting_groups.add(group)
            flood = self._candidates(group, source) - {ingress}
            return tuple(sorted(flood)) or (ingress,), True
        entry = self.entries.get((source, group))
        if ingress != toward:
            self._non_rpf(ingress, source, group, entry, now)
            # somewhere to go, so that the forwarder's RPF check names the drop (wrong_if)
            return (toward,), True
        if entry is None:
            if len(self.entries) >= MAX_DENSE_ENTRIES:  # no state: flooded, never pruned
                self.counters["too_many_entries"] += 1
                return tuple(sorted(self._candidates(group, source) - {ingress})), True
            entry = DenseEntry(source, group, toward, now + SOURCE_LIFETIME)
            self._originate(entry, now)
            self.entries[(source, group)] = entry
            entry.rpf = self._rpf_prime(entry)
            entry.olist = self._olist(entry)
            self._update(entry, now)
        elif entry.ingress != toward:  # the route toward S moved here
            self._update(entry, now)
        if entry.up is Up.PRUNED:
            return (), True
        return entry.olist, True

    def _non_rpf(
        self, ingress: str, source: int, group: int, entry: DenseEntry | None, now: float
    ) -> None:
        """(S,G) on an interface that is not the RPF interface: a point-to-point link's
        neighbour is pruned; on a LAN we forward onto, an assert (section 4.6)."""
        r = self.r
        port = r.ports.get(ingress)
        if port is None:
            return
        if len(port.neighbors) == 1 and not self._members_on(ingress, group, source):
            (neighbor,) = port.neighbors
            self._prune_p2p(port.name, neighbor, source, group, now)
        elif entry is not None and ingress in entry.olist:
            r._assert_triggers.add((source, group, ingress))

    def _originate(self, entry: DenseEntry, now: float) -> None:
        """Section 4.5.2: S on our link (a PIM interface), state refresh on: Originator,
        the first State Refresh one interval from now; otherwise NotOriginator."""
        r = self.r
        port = r.ports.get(entry.ingress)
        wanted = port is not None and port.on_link(entry.source) and r.config.pim.state_refresh
        if wanted and not entry.originator:
            entry.srt = now + r.config.pim.state_refresh_interval
        elif not wanted:
            entry.srt = INF
        entry.originator = wanted

    def reconfigured(self, now: float) -> None:
        """A reload: state refresh may be on or off now, interfaces gone or new."""
        for entry in self.entries.values():
            self._originate(entry, now)

    def _prune_p2p(self, name: str, neighbor: int, source: int, group: int, now: float) -> None:
        key = (name, source, group)
        sent = self.p2p_pruned.get(key)
        if sent is not None and sent + T_LIMIT > now:
            return
        if sent is None and len(self.p2p_pruned) >= MAX_DENSE_ENTRIES:
            self.counters["too_many_p2p_prunes"] += 1
            return
        self.p2p_pruned[key] = now
        self._send_prune(name, neighbor, source, group, PRUNE_HOLDTIME)
        self.counters["non_rpf_prunes"] += 1
        self._arm(now + PRUNE_HOLDTIME - WATCH_INTERVAL)  # it floods again after that

    # -- what an entry forwards --------------------------------------------------------------

    def _members_on(self, name: str, group: int, source: int) -> bool:
        """local_receiver_include(S,G,I) from IGMP's members (section 4.1.3)."""
        wish = self.r._wishes.get((name, group))
        if wish is None:
            return False
        mode, sources = wish
        return (source not in sources) if mode is Mode.EXCLUDE else (source in sources)

    def _candidates(self, group: int, source: int, pruned: set[str] | None = None) -> set[str]:
        """pim_nbrs (-) prunes (+) pim_include: interfaces with a PIM neighbour that did
        not prune, or with members (section 4.1.3)."""
        r = self.r
        out = {name for name, port in r.ports.items() if port.neighbors}
        if pruned:
            out -= pruned
        for name, g in r._wishes:
            if g == group and self._members_on(name, group, source):
                out.add(name)
        return out

    def candidates(self, entry: DenseEntry) -> set[str]:
        """olist(S,G) before asserts: where CouldAssert(S,G,I) is true (section 4.6)."""
        out = self._candidates(entry.group, entry.source, entry.pruned())
        out.discard(entry.ingress)
        return out

    def prune_winner(self, port: PimPort, winner: int, source: int, group: int) -> None:
        """An assert lost on a downstream interface: Prune(S,G) to the winner, held for the
        Assert Timer, so that a LAN nobody needs S on goes quiet (section 4.6.1)."""
        if source in (0,) or (source, group) not in self.entries:
            return
        self._send_prune(port.name, winner, source, group, ASSERT_TIME_S)

    def _olist(self, entry: DenseEntry) -> tuple[str, ...]:
        """olist(S,G) = immediate_olist(S,G) (-) RPF_interface(S) (section 4.1.3)."""
        out = self._candidates(entry.group, entry.source, entry.pruned())
        out -= self.r._lost(entry.source, entry.group)
        out.discard(entry.ingress)
        return tuple(sorted(out))

    def _rpf_prime(self, entry: DenseEntry) -> tuple[str, int] | None:
        """RPF'(S): the assert winner on the RPF interface, else the neighbour toward S;
        None for a source on our link (nothing upstream) or no neighbour known."""
        r = self.r
        port = r.ports.get(entry.ingress)
        if port is None:
            return None
        state = r.asserts.get((entry.source, entry.group, port.name))
        if state is not None and not state.winner_us and state.winner in port.neighbors:
            return (port.name, state.winner)
        return r._neighbor_toward(port, entry.source, entry.rpf, source=True)

    # -- the upstream machine (section 4.4.1) ------------------------------------------------

    def _update(self, entry: DenseEntry, now: float) -> None:
        """olist or RPF' may have changed: Prune, Graft, or nothing, as section 4.4.1 says."""
        r = self.r
        toward = r.rpf_interface(entry.source)
        if isinstance(toward, str) and toward != entry.ingress:
            # RPF_interface(S) becomes another one (4.4.1, 4.4.2): no prune state there,
            # the data's new way in; the upstream machine sees RPF'(S) change below
            entry.down.pop(toward, None)
            entry.ingress = toward
            entry.watch_from, entry.plt = INF, INF
            self._originate(entry, now)
        olist = self._olist(entry)
        if olist != entry.olist:
            entry.olist = olist
            r.changed.add(entry.group)
        rpf = self._rpf_prime(entry)
        moved = rpf != entry.rpf
        entry.rpf = rpf
        if rpf is None:  # S on our link (or no way upstream): nothing to prune or graft
            entry.up, entry.grt, entry.plt, entry.ot = Up.FORWARDING, INF, INF, INF
            return
        if entry.up is Up.FORWARDING:
            if not olist:
                self._prune_upstream(entry, now)
            elif moved:
                self._graft(entry, now)
        elif entry.up is Up.PRUNED:
            if olist:
                entry.plt, entry.watch_from = INF, INF
                self._graft(entry, now)
            elif moved:  # pruned toward the new RPF' on its next packet
                entry.plt = INF
                entry.watch_from = now
                self._arm(now + WATCH_INTERVAL)
        elif not olist:  # AckPending
            entry.grt = INF
            self._prune_upstream(entry, now)
        elif moved:
            self._graft(entry, now)

    def _prune_upstream(self, entry: DenseEntry, now: float) -> None:
        assert entry.rpf is not None
        self._send_prune(entry.rpf[0], entry.rpf[1], entry.source, entry.group, PRUNE_HOLDTIME)
        entry.up, entry.plt, entry.ot, entry.watch_from = Up.PRUNED, now + T_LIMIT, INF, INF
        self.counters["prunes_upstream"] += 1

    def _graft(self, entry: DenseEntry, now: float) -> None:
        """Unicast Graft(S,G) to RPF'(S), again every Graft_Retry_Period until acknowledged."""
        assert entry.rpf is not None
        if entry.up is not Up.ACK_PENDING:
            entry.grafts = 0
        entry.up, entry.grt, entry.ot = Up.ACK_PENDING, now + GRAFT_RETRY_PERIOD, INF
        entry.grafts += 1
        graft = Graft(entry.rpf[1], (_set(entry.group, entry.source, join=True),))
        self.r.unicast.append((entry.rpf[1], pim.build(graft)))
        port = self.r.ports.get(entry.rpf[0])
        if port is not None:
            port.counters["graft_out"] += 1

    def _send_prune(self, name: str, neighbor: int, source: int, group: int, hold: int) -> None:
        r = self.r
        port = r.ports.get(name)
        if port is None:
            return
        message = JoinPrune(neighbor, hold, (_set(group, source, join=False),))
        self._send_jp(port, neighbor, message, "prune_out")

    def _send_join(self, entry: DenseEntry) -> None:
        r = self.r
        if entry.rpf is None:
            return
        port = r.ports.get(entry.rpf[0])
        if port is None:
            return
        message = JoinPrune(entry.rpf[1], PRUNE_HOLDTIME, (_set(entry.group, entry.source),))
        self._send_jp(port, entry.rpf[1], message, "join_out")

    def _send_jp(self, port: PimPort, neighbor: int, message: JoinPrune, counter: str) -> None:
        """A Join/Prune on `port`, our Hello first if `neighbor` has not heard one since it
        came (section 4.3.1, as in sparse mode: it may not know us yet)."""
        r = self.r
        known = port.neighbors.get(neighbor)
        if known is not None and port.last_hello < known.since:
            r._pending.extend(r._hello_now(port, r._last))
        frames = r._send(port, message)
        if frames:
            port.counters[counter] += 1
        r._pending.extend(frames)

    def update_all(self, now: float) -> None:
        """Members, neighbours or asserts changed: every entry's olist and RPF'."""
        for entry in list(self.entries.values()):
            self._update(entry, now)

    # -- messages ----------------------------------------------------------------------------

    def on_join_prune(self, port: PimPort, sender: int, message: JoinPrune, now: float) -> None:
        """Ours (the upstream neighbour field is us): the downstream machine of the
        interface (4.4.2); another router's on our RPF interface: the upstream machine's
        override (4.4.1). (*,G) and wildcard entries are sparse mode's: counted, ignored."""
        ours = message.upstream == port.address
        for g in message.groups:
            for joined, sources in ((True, g.joins), (False, g.prunes)):
                for s in sources:
                    if s.wildcard or s.rpt or s.mask_len != 32:
                        port.counters["unsupported_source"] += 1
                        continue
                    entry = self.entries.get((s.address, g.group))
                    if ours:
                        self._downstream(port, sender, entry, joined, message.holdtime, now)
                    elif entry is not None and entry.rpf == (port.name, message.upstream):
                        self._seen(entry, joined, port, now)

    def _downstream(
        self,
        port: PimPort,
        sender: int,
        entry: DenseEntry | None,
        joined: bool,
        holdtime: int,
        now: float,
    ) -> None:
        r = self.r
        if entry is None or port.name == entry.ingress:
            port.counters["join_prune_no_state"] += 1
            return
        if r._lost_on(entry.source, entry.group, port.name):
            r._reassert(port, entry.source, entry.group)  # the sender should know
        d = entry.down.get(port.name)
        if joined:  # an override: the interface stays (or becomes) forwarding
            if d is not None and d.state is not Down.NO_INFO:
                d.state, d.timer = Down.NO_INFO, INF
                self._update(entry, now)
            return
        hold = INF if holdtime == 0xFFFF else float(holdtime)
        if d is None:
            d = entry.down[port.name] = DenseDownstream()
        if d.state is Down.NO_INFO:
            d.holdtime = hold
            if len(port.neighbors) > 1:  # a LAN: others may override (section 4.4.2)
                d.state, d.timer = Down.PRUNE_PENDING, now + port.jp_override_interval()
            else:
                d.state, d.timer = Down.PRUNED, now + hold
                self._update(entry, now)
        elif d.state is Down.PRUNED:
            d.holdtime = max(d.holdtime, hold)
            d.timer = max(d.timer, now + hold)

    def _seen(self, entry: DenseEntry, joined: bool, port: PimPort, now: float) -> None:
        """Another router's Join or Prune to our RPF'(S): a Prune we would lose traffic by is
        overridden within t_override; a Join does it for us (section 4.4.1)."""
        if joined:
            entry.ot = INF
        elif entry.up is not Up.PRUNED and entry.olist and entry.ot == INF:
            entry.ot = now + self.r._random() * port.effective_override()

    def on_graft(self, port: PimPort, sender: int, message: Graft, now: float) -> None:
        """A Graft: the interface forwards again, and the grafter hears a Graft-Ack (4.4.2);
        a Graft-Ack from RPF'(S) ends AckPending (4.4.1)."""
        r = self.r
        if message.ack:
            port.counters["graft_ack_in"] += 1
            for g in message.groups:
                for s in g.joins:
                    entry = self.entries.get((s.address, g.group))
                    if (
                        entry is not None
                        and entry.up is Up.ACK_PENDING
                        and entry.rpf == (port.name, sender)
                    ):
                        entry.up, entry.grt = Up.FORWARDING, INF
            return
        if message.upstream != port.address:
            port.counters["graft_not_for_us"] += 1  # 4.7.8: to RPF'(S), which is not us
            return
        port.counters["graft_in"] += 1
        for g in message.groups:
            for s in g.joins:
                entry = self.entries.get((s.address, g.group))
                if entry is None or port.name == entry.ingress:
                    continue
                if r._lost_on(entry.source, entry.group, port.name):
                    r._reassert(port, entry.source, entry.group)
                d = entry.down.get(port.name)
                if d is not None and d.state is not Down.NO_INFO:
                    d.state, d.timer = Down.NO_INFO, INF
                    self._update(entry, now)
        # acknowledged whatever our state (section 4.4.2): the Graft echoed, type 7
        ack = Graft(sender, message.groups, ack=True)
        r.unicast.append((sender, pim.build(ack)))
        port.counters["graft_ack_out"] += 1

    def on_state_refresh(
        self, port: PimPort, sender: int, message: StateRefresh, now: float
    ) -> None:
        """A State Refresh (section 4.5.1): from RPF'(S) on the RPF interface it drives the
        upstream machine and goes on downstream; it also counts as an assert where it
        arrives (section 4.6.1)."""
        r = self.r
        port.counters["state_refresh_in"] += 1
        entry = self.entries.get((message.source, message.group))
        if entry is None or entry.ingress != port.name:
            if entry is not None:  # on a downstream interface: an assert of sorts
                r._on_assert(
                    port,
                    sender,
                    Assert(
                        message.group, message.source, False, message.preference, message.metric
                    ),
                    now,
                )
            else:
                port.counters["state_refresh_no_state"] += 1
            return
        # a State Refresh is an assert too (4.6.1): on the RPF interface it names RPF'(S)
        as_assert = Assert(message.group, message.source, False, message.preference, message.metric)
        r._on_assert(port, sender, as_assert, now)
        if entry.rpf != (port.name, sender):
            port.counters["state_refresh_not_rpf"] += 1
            return
        entry.sat = max(entry.sat, now + SOURCE_LIFETIME)  # S is alive upstream
        if message.prune:
            if entry.up is Up.PRUNED:
                entry.plt = now + T_LIMIT  # stay pruned, quietly
                entry.watch_from = INF
            elif entry.ot == INF:  # upstream thinks our link pruned: we want it
                entry.ot = now + r._random() * port.effective_override()
        elif entry.up is Up.PRUNED and entry.plt == INF:
            self._prune_upstream(entry, now)
        elif entry.up is Up.ACK_PENDING:
            entry.up, entry.grt = Up.FORWARDING, INF
        rate_limited = now - entry.refresh_heard < message.interval / 2
        entry.refresh_heard = now
        if rate_limited or message.ttl <= 1:
            return
        self._refresh_out(entry, message, now)

    def _refresh_out(self, entry: DenseEntry, heard: StateRefresh | None, now: float) -> None:
        """State Refresh out of every other interface whose neighbours all take them; P set
        where the interface is pruned (its Prune Timer restarts), O where no assert runs."""
        r = self.r
        home = r.ports.get(entry.ingress)
        if home is None:
            return
        preference, metric = r._metric_toward(entry.source)
        interval = heard.interval if heard is not None else r.config.pim.state_refresh_interval
        ttl = heard.ttl - 1 if heard is not None else STATE_REFRESH_TTL
        originator = heard.originator if heard is not None else home.address
        prune_now = heard is None and entry.refreshes % 3 == 2
        lost = r._lost(entry.source, entry.group)
        for name, port in r.ports.items():
            if name == entry.ingress or not port.neighbors or not port.address or name in lost:
                continue
            if any(n.state_refresh is None for n in port.neighbors.values()):
                continue  # StateRefreshCapable(I) is false
            d = entry.down.get(name)
            pruned = d is not None and d.state is Down.PRUNED
            if pruned and d is not None:
                d.timer = max(d.timer, now + d.holdtime)
            message = StateRefresh(
                entry.group,
                entry.source,
                originator,
                preference,
                metric,
                home.prefix_len,
                ttl,
                prune=pruned,
                prune_now=prune_now,
                assert_override=(entry.source, entry.group, name) not in r.asserts,
                interval=interval,
            )
            frames = r._send(port, message)
            if frames:
                port.counters["state_refresh_out"] += 1
            r._pending.extend(frames)

    # -- timers ------------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        self.next_watch = min(self.next_watch, when)

    def next_timer(self) -> float:
        due = self.next_watch
        for entry in self.entries.values():
            due = min(due, entry.next_timer())
        return due

    def poll(self, now: float) -> None:
        """Every dense timer due at `now` (sections 4.4.1, 4.4.2, 4.5.2)."""
        r = self.r
        if self.next_watch <= now:
            self._watch(now)
        for key, entry in list(self.entries.items()):
            if entry.next_timer() > now:
                continue
            for name, d in entry.down.items():
                if d.timer > now:
                    continue
                port = r.ports.get(name)
                if d.state is Down.PRUNE_PENDING:  # not overridden: pruned
                    override = port.jp_override_interval() if port is not None else 0.0
                    d.state, d.timer = Down.PRUNED, now + max(0.0, d.holdtime - override)
                    if port is not None and len(port.neighbors) > 1:  # PruneEcho
                        hold = 0xFFFF if d.holdtime == INF else int(min(d.holdtime, 0xFFFE))
                        self._send_prune(name, port.address, entry.source, entry.group, hold)
                else:  # the Prune Timer ran out: flood there again
                    d.state, d.timer = Down.NO_INFO, INF
                self._update(entry, now)
            if entry.ot <= now:
                entry.ot = INF
                self._send_join(entry)
            if entry.grt <= now:
                if entry.up is Up.ACK_PENDING and entry.rpf is not None:
                    self._graft(entry, now)
                else:
                    entry.grt = INF
            if entry.plt <= now:  # pruned, and free to prune again on the next packet
                entry.plt = INF
                if entry.up is Up.PRUNED:
                    entry.watch_from = now
                    self._arm(now + WATCH_INTERVAL)
            if entry.srt <= now:
                entry.srt = now + r.config.pim.state_refresh_interval
                self._refresh_out(entry, None, now)
                entry.refreshes += 1
            if entry.sat <= now and self._expired(key, entry, now):
                continue

    def _expired(self, key: tuple[int, int], entry: DenseEntry, now: float) -> bool:
        """The Source Active Timer: restarted by S's last packet on the RPF interface; the
        entry goes once S is silent and the forwarder no longer has its flow."""
        last = self.r.forwarder.flow_last(entry.ingress, entry.source, entry.group)
        if last is not None and last + SOURCE_LIFETIME > now:
            entry.sat = last + SOURCE_LIFETIME
            self._originate(entry, now)  # S sends (again): Originator if on our link
            return False
        if entry.originator:  # silent: no more State Refresh until S sends again
            entry.originator, entry.srt = False, INF
            entry.watch_from = now
            self._arm(now + WATCH_INTERVAL)
        if last is not None:
            entry.sat = now + SOURCE_LIFETIME  # kept while the forwarder keeps its flow
            return False
        del self.entries[key]
        self.r.changed.add(entry.group)
        return True

    def _watch(self, now: float) -> None:
        """Data arrived where a pruned router waits for it: prune again (section 4.4.1's
        "data arrives on RPF_interface(S) and PLT(S,G) not running"; a point-to-point
        neighbour that floods again after our Prune's holdtime)."""
        r = self.r
        self.next_watch = INF
        for entry in self.entries.values():
            if entry.watch_from == INF:
                continue
            last = r.forwarder.flow_last(entry.ingress, entry.source, entry.group)
            if last is None or last <= entry.watch_from:
                self._arm(now + WATCH_INTERVAL)
                continue
            entry.watch_from = INF
            if entry.up is Up.PRUNED and entry.rpf is not None and entry.plt == INF:
                self._prune_upstream(entry, now)
            self._originate(entry, now)  # S on our link sends again: Originator (4.5.2)
        for key, sent in list(self.p2p_pruned.items()):
            name, source, group = key
            port = r.ports.get(name)
            if port is None or len(port.neighbors) != 1:
                del self.p2p_pruned[key]
                continue
            if sent + PRUNE_HOLDTIME - WATCH_INTERVAL > now:
                self._arm(sent + PRUNE_HOLDTIME - WATCH_INTERVAL)
                continue
            last = r.forwarder.flow_last(name, source, group)
            if last is None:
                del self.p2p_pruned[key]  # the flow is gone: nothing floods us
            elif last > sent + 1.0:  # it floods again: prune again
                del self.p2p_pruned[key]
                self._prune_p2p(name, next(iter(port.neighbors)), source, group, now)
            else:
                self._arm(now + WATCH_INTERVAL)

    # -- observation -------------------------------------------------------------------------

    def _source_active(self, entry: DenseEntry) -> float:
        """When the Source Active Timer runs out, S's latest packet counted."""
        last = self.r.forwarder.flow_last(entry.ingress, entry.source, entry.group)
        return entry.sat if last is None else max(entry.sat, last + SOURCE_LIFETIME)

    def json(self, now: float) -> list[dict[str, Any]]:
        def left(t: float) -> float | None:
            return None if t == INF else round(max(0.0, t - now), 1)

        return [
            {
                "source": _ip(source),
                "group": _ip(group),
                "interface": e.ingress,
                "upstream": {
                    "state": e.up.value,
                    "neighbor": _ip(e.rpf[1]) if e.rpf is not None else None,
                    "graft_retry": left(e.grt),
                    "override": left(e.ot),
                    "prune_limit": left(e.plt),
                    "grafts": e.grafts,  #: sent in the current AckPending spell
                },
                "source_active": left(self._source_active(e)),
                "state_refresh": {"originator": e.originator, "timer": left(e.srt)},
                "downstream": {
                    name: {"state": d.state.value, "timer": left(d.timer)}
                    for name, d in sorted(e.down.items())
                    if d.state is not Down.NO_INFO
                },
                "oifs": [] if e.up is Up.PRUNED else list(e.olist),
            }
            for (source, group), e in sorted(self.entries.items())
        ]


def _set(group: int, source: int, *, join: bool = True) -> GroupSet:
    """One (S,G) for a Join, Prune or Graft: a plain source, no S, W or R bit (4.7.4)."""
    s = (Source(source, sparse=False),)
    return GroupSet(group, joins=s) if join else GroupSet(group, prunes=s)


def _ip(value: int) -> str:
    return ".".join(map(str, value.to_bytes(4, "big")))
