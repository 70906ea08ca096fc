"""The PIM-SM router (RFC 7761): neighbours by Hello and the DR of each `pim = true`
interface; (*,G) and (S,G) join state, downstream and upstream.

Theory of operation:

- The Forwarder keeps PIM frames (IP protocol 103) out of the data path; the engine hands
  them here (`handle`). Each is parsed (bad ones counted per interface by reason) and goes
  to its interface.
- Hellos (section 4.3): every interface sends one at start after a random delay up to
  Triggered_Hello_Delay, then every Hello_Period; a new neighbour, or a known one with a
  new generation ID (it restarted), brings ours forward to within Triggered_Hello_Delay so
  that it learns of us soon (section 4.3.1). A neighbour is forgotten when its holdtime
  runs out (0xFFFF: never; 0: at once, the "goodbye" a router sends as it stops).
- DR election (section 4.3.2): the highest DR priority wins, then the highest address; if
  any router on the link sends no DR priority option, priorities are ignored and the
  highest address alone decides. This router takes part with its own priority and address.
- Join state (section 4.5, machines in `pim_state`): a Join/Prune addressed to us makes or
  ends downstream state on its interface; one addressed to another router is seen by our
  upstream machines (join suppression, prune override). Local members come from IGMP on
  interfaces where we are the DR (pim_include, section 4.1.6): EXCLUDE-mode groups make
  (*,G) state, INCLUDE sources (S,G) state. An entry whose outgoing list is not empty is
  joined toward RPF': for (*,G) the neighbour toward the group's RP, for (S,G) toward S.
  RPF' is the neighbour itself when it is on the link, else the one PIM neighbour heard on
  the RPF interface (the FIB's next hop is not read yet: with several neighbours there
  the entry stays unjoined and `rpf_neighbor_unknown` counts it).
- Forwarding: a flow (S,G) arriving on the RPF interface toward S (with (S,G) state) or
  toward the RP (with (*,G) state) goes to the entry's outgoing interfaces but its
  arrival interface (`oifs`). SPT switchover, registers and asserts are not built yet.
- Timers: `poll(now)` runs what is due and returns the frames to send (built whole here:
  Ethernet to 01:00:5e:00:00:0d, TTL 1); `next_timer()` says when to call again.

Pure like the Forwarder: no sockets, no clock; the engine passes time and random draws in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..config.values import Config, PimInterfaceSpec
from ..core import Forwarder
from ..core.forwarder import Frames
from ..core.wire import ethernet_header, group_mac
from . import pim
from .membership import Mode
from .pim import (
    ALL_PIM_ROUTERS,
    Assert,
    BadPim,
    Graft,
    GroupSet,
    Hello,
    JoinPrune,
    Register,
    RegisterStop,
    Source,
    StateRefresh,
)
from .pim_dense import DenseMode
from .pim_state import INF, Downstream, DownstreamPort, Send, Upstream

#: (interface, group) -> what IGMP's members want there: (mode, sources)
Wishes = dict[tuple[str, int], tuple[Mode, frozenset[int]]]
_NO_INFO: Final = DownstreamPort()  # what an interface without downstream state reads as

TRIGGERED_HELLO_DELAY: Final = 5.0  #: seconds (RFC 7761 section 4.11)
REGISTER_SUPPRESSION_TIME: Final = 60.0  #: seconds (section 4.11)
REGISTER_PROBE_TIME: Final = 5.0  #: seconds (section 4.11)
KEEPALIVE_PERIOD: Final = 210.0  #: seconds (section 4.11)
#: the register tunnel's pseudo-interface, as Linux names its own: copies the forwarder
#: sends there are encapsulated toward the RP; what an RP decapsulates arrives from it
REGISTER_VIF: Final = "pimreg"
MAX_REGISTER_STATES: Final = 4096  #: (S,G) a first-hop DR keeps register state for
MAX_ENTRIES: Final = 16384  #: (*,G) and (S,G) entries, all interfaces together
MAX_NEIGHBORS: Final = 64  #: PIM neighbours per interface (more are counted, ignored)
ASSERT_TIME: Final = 180.0  #: seconds (section 4.11)
ASSERT_OVERRIDE_INTERVAL: Final = 3.0  #: a winner refreshes this long before Assert_Time
#: the metric preference of a route that is not on our link: the FIB does not say how it
#: was learned (FRR gives a kernel route 0, a static one 1, OSPF 110); on-link routes 0
REMOTE_PREFERENCE: Final = 101
MAX_ASSERTS: Final = 4096
#: what our Hellos say in the LAN prune delay option (section 4.11 defaults, ms), T bit 0
PROPAGATION_DELAY_MS: Final = 500
OVERRIDE_INTERVAL_MS: Final = 2500
_FOREVER: Final = 0xFFFF  #: a holdtime that never runs out (section 4.9.2)
_ALL_PIM_MAC: Final = group_mac(ALL_PIM_ROUTERS)


def _ip(value: int) -> str:
    return ".".join(map(str, value.to_bytes(4, "big")))


def _unicast_source(address: int) -> bool:
    """A source a router forwards from: not network 0, loopback, multicast or reserved
    (RFC 1812 5.3.7), nor the limited broadcast."""
    first = address >> 24
    return first not in (0, 127) and first < 224


@dataclass(eq=False)
class Neighbor:
    """A PIM neighbour on one interface, as its last Hello described it."""

    address: int
    dr_priority: int | None
    generation_id: int | None
    holdtime: int
    expires: float  #: when it is forgotten (inf: holdtime 0xFFFF)
    since: float  #: when it was first heard (this time round)
    lan_prune_delay: tuple[bool, int, int] | None = None
    secondary: tuple[int, ...] = ()
    state_refresh: int | None = None  #: its State Refresh interval: it takes them (dense)


@dataclass(eq=False)
class Entry:
    """(*,G) (source 0) or (S,G) state: per-interface downstream state, local members and
    the upstream machine."""

    source: int
    group: int
    downstream: dict[str, DownstreamPort] = field(default_factory=dict)
    local: set[str] = field(default_factory=set)  #: pim_include: DR with members there
    upstream: Upstream = field(default_factory=Upstream)
    spt: bool = False  #: SPTbit (section 4.1.3): traffic arrived on the RPF interface to S
    rp: int = 0  #: (*,G): the RP our last Join named (a Prune must name it too)
    #: a last-hop DR switching to the source tree (section 4.2.1, spt_switchover)
    spt_join: bool = False
    #: (S,G): interfaces whose downstream routers pruned S off the RP tree, Prune(S,G,rpt)
    #: (section 4.5.4; the port's JOIN state stands for Pruned, with its expiry)
    rpt_pruned: dict[str, DownstreamPort] = field(default_factory=dict)

    def pruned_off_rpt(self) -> set[str]:
        return {n for n, d in self.rpt_pruned.items() if d.state is not Downstream.NO_INFO}

    #: the RP joins toward a registering source (section 4.4.2) while the RP tree wants it
    rp_join: bool = False

    def olist(self) -> set[str]:
        """immediate_olist (section 4.1.6): joined interfaces and local members."""
        joined = {n for n, d in self.downstream.items() if d.state is not Downstream.NO_INFO}
        return joined | self.local

    def olist_for(self, source: int, wishes: Wishes) -> set[str]:
        """The list for traffic from `source`: local members that exclude it are left out
        (section 4.1.6: pim_exclude(S,G))."""
        out = self.olist()
        for name in self.local:
            wish = wishes.get((name, self.group))
            if (
                wish is not None
                and wish[0] is Mode.EXCLUDE
                and source in wish[1]
                and self.downstream.get(name, _NO_INFO).state is Downstream.NO_INFO
            ):
                out.discard(name)
        return out

    def idle(self) -> bool:
        """Nothing left to remember: no interface state, not joined, nothing to send."""
        return (
            not self.local
            and not self.rp_join
            and not self.spt_join
            and not self.pruned_off_rpt()
            and not self.upstream.joined
            and not self.upstream.sent
            and all(d.state is Downstream.NO_INFO for d in self.downstream.values())
        )

    def next_timer(self) -> float:
        due = self.upstream.join_timer if self.upstream.joined else INF
        for d in self.downstream.values():
            due = min(due, d.next_timer())
        for d in self.rpt_pruned.values():
            due = min(due, d.next_timer())
        return due


@dataclass(eq=False)
class RegisterState:
    """A first-hop DR's register state of one (S,G) (section 4.4.1): Join (data goes to
    the RP in Registers), Prune (the RP said stop), JoinPending (probing with a
    Null-Register before registering again). `timer`: the Register-Stop Timer;
    `keepalive`: the (S,G) Keepalive Timer, which S's traffic on `ingress` restarts: the
    state goes when S falls silent (section 4.1.2)."""

    state: str = "Join"
    timer: float = INF
    ingress: str = ""
    keepalive: float = INF


@dataclass(eq=False)
class AssertState:
    """The assert state of one (S,G) or (*,G) on one interface (section 4.6): we won (and
    keep asserting) or lost to `winner` (and do not forward there); `timer`: the Assert
    Timer."""

    winner_us: bool
    winner: int
    metric: tuple[int, int, int]  #: the winner's (rpt bit, preference, metric)
    timer: float


def _better(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Is assert metric `a` preferred to `b` (section 4.6.3)? Lower RPT bit, preference
    and metric win, then the higher address (the last element)."""
    return (a[0], a[1], a[2], -a[3]) < (b[0], b[1], b[2], -b[3])


@dataclass(eq=False)
class PimPort:
    """One `pim = true` interface: our Hello timer and generation ID, the neighbours, the DR."""

    name: str
    spec: PimInterfaceSpec
    generation_id: int
    address: int = 0  #: our primary IPv4 address here (0: none yet: we send nothing)
    prefix_len: int = 0  #: of our address's subnet
    next_hello: float = float("-inf")
    last_hello: float = float("-inf")  #: when our last Hello went out here
    neighbors: dict[int, Neighbor] = field(default_factory=dict)
    dr: int = 0  #: the DR's address (ours when we are it; 0: no address yet)
    counters: Counter[str] = field(default_factory=Counter)
    #: dense mode with state refresh: the interval our Hellos announce (RFC 3973 4.7.5)
    state_refresh: int | None = None

    def hello(self, holdtime: int | None = None) -> Hello:
        """Our Hello: holdtime, LAN prune delay, DR priority, generation ID (section 4.9.2),
        and in dense mode with state refresh, State Refresh Capable (RFC 3973 4.7.5)."""
        return Hello(
            holdtime=self.spec.holdtime if holdtime is None else holdtime,
            dr_priority=self.spec.dr_priority,
            generation_id=self.generation_id,
            lan_prune_delay=(False, PROPAGATION_DELAY_MS, OVERRIDE_INTERVAL_MS),
            state_refresh=self.state_refresh,
        )

    def elect(self) -> None:
        """Section 4.3.2: the DR among the neighbours and us."""
        candidates = [(n.dr_priority, n.address) for n in self.neighbors.values()]
        if self.address:
            candidates.append((self.spec.dr_priority, self.address))
        if not candidates:
            self.dr = 0
            return
        if all(priority is not None for priority, _ in candidates):
            self.dr = max(candidates, key=lambda c: (c[0], c[1]))[1]
        else:
            self.dr = max(address for _, address in candidates)

    @property
    def is_dr(self) -> bool:
        return bool(self.address) and self.dr == self.address

    def _lan_delays(self) -> tuple[float, float]:
        """(Effective_Propagation_Delay, Effective_Override_Interval), seconds (section
        4.3.3): the largest the link's routers announce, ours included, or the defaults
        where any neighbour sends no LAN prune delay option."""
        delays = [PROPAGATION_DELAY_MS]
        overrides = [OVERRIDE_INTERVAL_MS]
        for n in self.neighbors.values():
            if n.lan_prune_delay is None:
                return PROPAGATION_DELAY_MS / 1000, OVERRIDE_INTERVAL_MS / 1000
            delays.append(n.lan_prune_delay[1])
            overrides.append(n.lan_prune_delay[2])
        return max(delays) / 1000, max(overrides) / 1000

    def override_interval(self) -> float:
        """J/P_Override_Interval (section 4.11): propagation delay plus override interval,
        the effective ones of the link (the Prune-Pending Timer)."""
        delay, override = self._lan_delays()
        return delay + override

    def jp_override_interval(self) -> float:
        """J/P_Override_Interval: how long a Prune waits for another router's Join
        (Effective_Propagation_Delay + Effective_Override_Interval, section 4.3.3)."""
        delay, override = self._lan_delays()
        return delay + override

    def effective_override(self) -> float:
        """Effective_Override_Interval (section 4.3.3): t_override is drawn below it."""
        return self._lan_delays()[1]

    def suppression_enabled(self) -> bool:
        """Join suppression, unless every neighbour sets the T bit (section 4.3.3; ours is
        clear, so it is on while some neighbour leaves it clear or sends no option)."""
        return not self.neighbors or not all(
            n.lan_prune_delay is not None and n.lan_prune_delay[0] for n in self.neighbors.values()
        )

    def on_link(self, address: int) -> bool:
        """Is `address` in this interface's subnet (set with our address)?"""
        return bool(self.prefix_len) and (address ^ self.address) >> (32 - self.prefix_len) == 0


class PimRouter:
    """PIM on the interfaces that run it; see the module docstring."""

    def __init__(
        self,
        config: Config,
        forwarder: Forwarder,
        *,
        live: bool = False,
        random: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.forwarder = forwarder
        self._live = live
        self._random = random
        self._addresses: dict[str, tuple[int, int]] = {}  # (address, prefix length)
        self.ports: dict[str, PimPort] = {}
        self.ignored: Counter[str] = Counter()  #: PIM on interfaces without pim, by interface
        #: frames made between calls that return frames (a reload's goodbyes, Joins)
        self._pending: Frames = []
        self._last = 0.0  # the latest time passed in: a reload acts at that time
        self.entries: dict[tuple[int, int], Entry] = {}
        self.registers: dict[tuple[int, int], RegisterState] = {}
        #: unicast PIM to send, as (destination, message): Registers, Register-Stops (the
        #: shell sends them through a raw socket: the kernel routes them)
        self.unicast: list[tuple[int, bytes]] = []
        #: decapsulated packets (as Ethernet frames) the RP forwards as if they had arrived
        #: on REGISTER_VIF
        self.decapsulated: list[bytes] = []
        self.register_counters: Counter[str] = Counter()
        #: (source or 0, group, interface) -> assert state (section 4.6)
        self.asserts: dict[tuple[int, int, str], AssertState] = {}
        self._assert_triggers: set[tuple[int, int, str]] = set()  # data seen on an oif
        #: the forwarder's decisions changed join state (SPT switchover): act at once
        self._update_wanted = False
        self._gateways: dict[int, int] = {}  # the FIB's next hops (live mode), 0: on-link
        self._wishes: Wishes = {}
        self.changed: set[int] = set()  #: groups whose forwarding changed: flows to decide
        self.dense = DenseMode(self)  #: (S,G) state of `[pim] mode = "dense"` (RFC 3973)
        self.config = config
        self.reconfigure(config)

    # -- configuration -----------------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """Ports for the new config: neighbours of ports that remain are kept; a port that
        goes says goodbye (a Hello with holdtime 0, section 4.3.1)."""
        if config.pim.dense != self.config.pim.dense:  # the other mode's state means nothing
            self.changed.update(g for _, g in self.entries)
            self.changed.update(g for _, g in self.dense.entries)
            self.entries.clear()
            self.registers.clear()
            self.asserts.clear()
            self.dense = DenseMode(self)
        self.config = config
        if not self._live:
            self._addresses = {
                n: (int(s.address.ip), s.address.network.prefixlen)
                for n, s in config.interfaces.items()
                if s.address is not None
            }
        old, self.ports = self.ports, {}
        for name, spec in config.interfaces.items():
            if spec.pim is None:
                continue
            port = old.pop(name, None)
            if port is None:
                port = PimPort(name, spec.pim, self._generation_id())
                port.next_hello = float("-inf")  # scheduled at the first poll
            elif port.spec != spec.pim:
                port.spec = spec.pim
                port.next_hello = float("-inf")  # neighbours hear the new values soon
            port.address, port.prefix_len = self._addresses.get(name, (0, 0))
            refresh = config.pim.state_refresh_interval
            wanted = refresh if config.pim.dense and config.pim.state_refresh else None
            if port.state_refresh != wanted:
                port.state_refresh = wanted
                port.next_hello = float("-inf")
            port.elect()
            self.ports[name] = port
        for port in old.values():
            self._pending.extend(self._send(port, port.hello(holdtime=0)))
        for entry in self.entries.values():  # state on interfaces that went is forgotten
            for name in [n for n in entry.downstream if n not in self.ports]:
                del entry.downstream[name]
                self.changed.add(entry.group)
        if self.ports and not config.pim.dense:  # ask the FIB toward every RP now: a first
            # join need not wait for it
            for rp in config.pim.rps:
                self.rpf_interface(int(rp.address))
        if config.pim.dense:
            self.dense.reconfigured(self._last)
        self._update_all(self._last)
        self._pending.extend(self._take_sends())

    def set_address(self, name: str, address: int, prefix_len: int = 0) -> None:
        """Live mode: the interface's primary IPv4 address (0: none), our Hellos' source.
        A change says goodbye from the old address first (section 4.3.1)."""
        self._addresses[name] = (address, prefix_len)
        port = self.ports.get(name)
        if port is not None:
            port.prefix_len = prefix_len
        if port is not None and port.address != address:
            if port.address:
                self._pending.extend(self._send(port, port.hello(holdtime=0)))
            port.address = address
            port.generation_id = self._generation_id()  # a new identity: neighbours reset
            port.next_hello = float("-inf")
            port.elect()
            self._update_all(self._last)  # the DR may have moved, and RPF' with it
            self.changed.update(key[1] for key in self.entries)
            self._pending.extend(self._take_sends())

    def link_changed(self, name: str, up: bool) -> None:
        """Live mode: a link went down (neighbours there are gone for us) or came up (a
        new generation ID, a Hello soon: section 4.3.1)."""
        port = self.ports.get(name)
        if port is None:
            return
        if not up:
            port.neighbors.clear()
            port.elect()
        else:
            port.generation_id = self._generation_id()
            port.next_hello = float("-inf")
        self._update_all(self._last)
        self.changed.update(key[1] for key in self.entries)
        self._pending.extend(self._take_sends())

    def _generation_id(self) -> int:
        """A random 32-bit generation ID, new each time an interface starts (section 4.3.1)."""
        return int(self._random() * 0x1_0000_0000) & 0xFFFFFFFF

    # -- frames ------------------------------------------------------------------------------

    def handle(self, name: str, frame: bytes, end: int, now: float) -> Frames:
        """A PIM frame the forwarder set aside (IPv4, protocol 103): what it makes us send."""
        self._last = now
        port = self.ports.get(name)
        if port is None:
            self.ignored[name] += 1
            return []
        source = int.from_bytes(frame[26:30], "big")
        message = pim.parse(frame[14 + (frame[14] & 0x0F) * 4 : end])
        if isinstance(message, BadPim):
            port.counters[message.reason] += 1
            return []
        if source == port.address or source >> 28 >= 0xE or source == 0:
            port.counters["bad_source"] += 1  # ours heard back, or not a router's address
            return []
        if isinstance(message, Hello):
            port.counters["hello_in"] += 1
            self._on_hello(port, source, message, now)
            self._update_all(now)  # a new neighbour may be RPF' now; the DR may have moved
            return self._take_sends()
        if source not in port.neighbors:  # section 4.5: only from neighbours
            port.counters["not_neighbor"] += 1
            return []
        if isinstance(message, JoinPrune):
            port.counters["join_prune_in"] += 1
            if self.config.pim.dense:
                self.dense.on_join_prune(port, source, message, now)
            else:
                self._on_join_prune(port, message, now)
            return self._take_sends()
        if self.config.pim.dense and isinstance(message, StateRefresh):
            self.dense.on_state_refresh(port, source, message, now)
            return self._take_sends()
        if self.config.pim.dense and isinstance(message, Graft):  # multicast: allowed too
            self.dense.on_graft(port, source, message, now)
            return self._take_sends()
        if isinstance(message, Assert):
            port.counters["assert_in"] += 1
            self._on_assert(port, source, message, now)
            return self._take_sends()
        port.counters["unhandled"] += 1  # registers come unicast, not here
        return []

    # -- asserts (section 4.6) ------------------------------------------------------------

    def _our_metric(self, source: int, group: int, name: str) -> tuple[int, int, int, int] | None:
        """Our assert metric for (S,G) (source given) or (*,G) on `name`, None where we
        would not forward there (CouldAssert is false)."""
        if self.config.pim.dense:  # RFC 3973 4.6: (S,G) only, where olist(S,G) goes
            found = self.dense.entries.get((source, group))
            port = self.ports.get(name)
            if found is None or port is None or name == found.ingress:
                return None
            if name not in self.dense.candidates(found):
                return None
            return (0, *self._metric_toward(source), port.address)
        entry = self.entries.get((source, group))
        port = self.ports.get(name)
        if entry is None or port is None or name not in entry.olist():
            return None
        if source:
            target, rpt = source, 0
        else:
            rp = self._rp(group)
            if rp is None:
                return None
            target, rpt = rp, 1
        return (rpt, *self._metric_toward(target), port.address)

    def _metric_toward(self, target: int) -> tuple[int, int]:
        """(metric preference, metric) of our route toward `target` (section 4.6.3): on
        our link 0, 0; otherwise REMOTE_PREFERENCE, 0 (the FIB says no more)."""
        toward = self.rpf_interface(target)
        home = self.ports.get(toward) if isinstance(toward, str) else None
        on_link = home is not None and (home.on_link(target) or home.address == target)
        return (0 if on_link or self._gateways.get(target) == 0 else REMOTE_PREFERENCE, 0)

    def _lost_on(self, source: int, group: int, name: str) -> bool:
        state = self.asserts.get((source, group, name))
        return state is not None and not state.winner_us

    def _reassert(self, port: PimPort, source: int, group: int) -> None:
        """A loser addressed by a Join, Prune or Graft asserts, so that the winner answers
        and the sender learns its RPF' (RFC 3973 4.6.1)."""
        ours = self._our_metric(source, group, port.name)
        if ours is not None:
            self._send_assert(port, (source, group, port.name), ours)

    def _on_assert(self, port: PimPort, source: int, message: Assert, now: float) -> None:
        """Section 4.6.1/4.6.2: a better assert makes us lose the interface for the entry;
        a worse one from the winner ends our loss; a worse one while we could assert makes
        us assert (and win)."""
        key_source = 0 if message.rpt else message.source
        if message.group >> 28 != 0xE:
            port.counters["bad_group"] += 1
            return
        key = (key_source, message.group, port.name)
        theirs = (int(message.rpt), message.preference, message.metric, source)
        ours = self._our_metric(key_source, message.group, port.name)
        known = self.asserts.get(key)
        if ours is not None and _better(ours, theirs):
            self._win(key, port, ours, now)  # also when the winner itself got worse
            return
        if ours is None:  # we do not forward there: nothing to lose, maybe RPF' to learn
            self._track_assert(port, key, source, theirs, now)
            return
        if known is None and len(self.asserts) >= MAX_ASSERTS:
            port.counters["too_many_asserts"] += 1
            return
        lost = known is None or known.winner_us or known.winner != source
        self.asserts[key] = AssertState(False, source, theirs[:3], now + ASSERT_TIME)
        if lost:
            port.counters["assert_lost"] += 1
            self.changed.add(message.group)
            if self.config.pim.dense:  # RFC 3973 4.6.1: the loser prunes the winner's copy
                self.dense.prune_winner(port, source, message.source, message.group)
                self._update_all(now)

    def _track_assert(
        self,
        port: PimPort,
        key: tuple[int, int, str],
        source: int,
        theirs: tuple[int, int, int, int],
        now: float,
    ) -> None:
        """Asserts heard where CouldAssert is false (section 4.6.1): on the RPF interface of
        an entry we join upstream, the winner becomes RPF' (section 4.5.7, "RPF' changes due
        to an Assert"), held for Assert_Time; a worse assert from the winner ends that."""
        known = self.asserts.get(key)
        entry = self.entries.get((key[0], key[1]))
        dense = self.dense.entries.get((key[0], key[1]))
        if dense is not None and dense.ingress == port.name:
            pass  # RFC 3973 4.6: every router tracks the winner on its RPF interface
        elif entry is None or not entry.upstream.joined or self._upstream_port(entry) != port.name:
            if known is not None:
                del self.asserts[key]
            return
        if known is not None and known.winner == source:
            if _better((*known.metric, source), theirs):  # the winner got worse, or cancels
                del self.asserts[key]
                self._update_all(now)
            else:
                known.metric, known.timer = theirs[:3], now + ASSERT_TIME
            return
        if known is not None and not _better(theirs, (*known.metric, known.winner)):
            return  # not the winner, and no better: ignored
        if known is None and len(self.asserts) >= MAX_ASSERTS:
            port.counters["too_many_asserts"] += 1
            return
        self.asserts[key] = AssertState(False, source, theirs[:3], now + ASSERT_TIME)
        self._update_all(now)

    def _win(
        self, key: tuple[int, int, str], port: PimPort, ours: tuple[int, int, int, int], now: float
    ) -> None:
        known = self.asserts.get(key)
        if known is not None and not known.winner_us:
            self.changed.add(key[1])  # we forward there again
            if self.config.pim.dense:
                self._update_wanted = True  # olist(S,G) has the interface again
        if known is None and len(self.asserts) >= MAX_ASSERTS:
            port.counters["too_many_asserts"] += 1
            return
        self.asserts[key] = AssertState(
            True, port.address, ours[:3], now + ASSERT_TIME - ASSERT_OVERRIDE_INTERVAL
        )
        self._send_assert(port, key, ours)

    def _send_assert(
        self, port: PimPort, key: tuple[int, int, str], ours: tuple[int, int, int, int]
    ) -> None:
        message = Assert(key[1], key[0], bool(ours[0]), ours[1], ours[2])
        self._pending.extend(self._send(port, message))
        port.counters["assert_out"] += 1

    def _run_asserts(self, now: float) -> None:
        """Data seen on interfaces we forward onto (another router forwards there too:
        assert), and Assert Timers: a winner asserts again, a loss runs out."""
        triggers, self._assert_triggers = self._assert_triggers, set()
        ended = False
        for key in triggers:
            port = self.ports.get(key[2])
            ours = self._our_metric(key[0], key[1], key[2])
            state = self.asserts.get(key)
            if port is not None and ours is not None and (state is None or state.winner_us):
                self._win(key, port, ours, now)
        for key, state in list(self.asserts.items()):
            port = self.ports.get(key[2])
            gone = port is None or (not state.winner_us and state.winner not in port.neighbors)
            if state.timer > now and not gone:
                continue
            ours = self._our_metric(key[0], key[1], key[2])
            if state.winner_us and port is not None and ours is not None and not gone:
                state.timer = now + ASSERT_TIME - ASSERT_OVERRIDE_INTERVAL
                self._send_assert(port, key, ours)
            else:
                del self.asserts[key]
                if not state.winner_us:
                    self.changed.add(key[1])  # lost no longer: we forward there again
                    ended = True  # and RPF' may be the MRIB's again
        if ended:
            self._update_all(now)

    def _forget_winner(self, name: str, winner: int) -> None:
        """A neighbour that won asserts on `name` is gone: we forward there again."""
        for key, state in list(self.asserts.items()):
            if key[2] == name and not state.winner_us and state.winner == winner:
                del self.asserts[key]
                self.changed.add(key[1])

    def _lost(self, source: int, group: int) -> set[str]:
        """lost_assert (section 4.6.5): the interfaces where another router forwards."""
        if not self.asserts:
            return set()
        return {
            name
            for (s, g, name), state in self.asserts.items()
            if g == group and s in (0, source) and not state.winner_us
        }

    # -- join state --------------------------------------------------------------------------

    def _on_join_prune(self, port: PimPort, message: JoinPrune, now: float) -> None:
        """Section 4.5: ours (upstream neighbour is us) drives downstream state; another
        router's is seen by our upstream machines on this interface."""
        for g in message.groups:
            if g.mask_len != 32 or g.group >> 28 != 0xE or g.group >> 8 == 0xE00000:
                port.counters["bad_group"] += 1  # not one routable group
                continue
            for joined, sources in ((True, g.joins), (False, g.prunes)):
                for s in sources:
                    key = self._key_of(s, g.group)
                    if key is None:
                        if not (s.rpt and not s.wildcard):  # (S,G,rpt): _rpt_prunes
                            port.counters["unsupported_source"] += 1
                        continue
                    if not key[0]:  # (*,G): not in the SSM range, and to our RP only
                        rp = self._rp(g.group)
                        if rp is None or (joined and s.address != rp):
                            port.counters["wrong_rp"] += 1  # section 4.5.2
                            continue
                    if message.upstream == port.address:
                        self._downstream(port, key, joined, message.holdtime, now)
                    else:
                        self._overheard(port, message.upstream, key, joined, message, now)
        if message.upstream == port.address:
            self._rpt_prunes(port, message, now)
        else:
            self._override_rpt_prunes(port, message, now)
        self._update_all(now)

    def _override_rpt_prunes(self, port: PimPort, message: JoinPrune, now: float) -> None:
        """Another router prunes S off the RP tree toward our RPF'(*,G) while we still take
        S from it (section 4.5.9): our Join(*,G) comes within t_override, and since it
        carries no Prune(S,G,rpt) for S, the upstream puts S back (4.5.4)."""
        for g in message.groups:
            star = self.entries.get((0, g.group))
            if star is None or star.upstream.rpf != (port.name, message.upstream):
                continue
            for s in g.prunes:
                if not s.rpt or s.wildcard:
                    continue
                sg = self.entries.get((s.address, g.group))
                if sg is None or not sg.spt:  # we want S down the RP tree
                    star.upstream.see_prune(self._random() * port.effective_override(), now)
                    port.counters["rpt_prune_overridden"] += 1
                    break

    def _rpt_prunes(self, port: PimPort, message: JoinPrune, now: float) -> None:
        """Section 4.5.4, addressed to us: Prune(S,G,rpt) takes S off the RP tree on this
        interface (after the override interval on a LAN); a Join(*,G) without it in the
        same message, or a Join(S,G,rpt), puts S back."""
        for g in message.groups:
            pruned = {
                s.address
                for s in g.prunes
                if s.rpt and not s.wildcard and s.mask_len == 32 and _unicast_source(s.address)
            }
            for source in pruned:
                key = (source, g.group)
                entry = self.entries.get(key)
                if entry is None:
                    if len(self.entries) >= MAX_ENTRIES:
                        port.counters["too_many_entries"] += 1
                        continue
                    entry = self.entries[key] = Entry(*key)
                state = entry.rpt_pruned.setdefault(port.name, DownstreamPort())
                if state.state is Downstream.NO_INFO:
                    # PrunePending for the override interval where others may override
                    delay = 0.0 if len(port.neighbors) <= 1 else port.override_interval()
                    state.state = Downstream.PRUNE_PENDING
                    state.prune_pending = now + delay
                    state.expiry = now + message.holdtime
                elif state.state is Downstream.JOIN:
                    state.expiry = max(state.expiry, now + message.holdtime)
                port.counters["rpt_prune_in"] += 1
            star_joined = any(s.wildcard and s.rpt for s in g.joins)
            rejoined = {s.address for s in g.joins if s.rpt and not s.wildcard}
            for (source, group), entry in self.entries.items():
                if group != g.group or port.name not in entry.rpt_pruned:
                    continue
                if source in rejoined or (star_joined and source not in pruned):
                    del entry.rpt_pruned[port.name]
                    self.changed.add(group)

    def _key_of(self, s: Source, group: int) -> tuple[int, int] | None:
        if s.mask_len != 32:
            return None
        if s.wildcard and s.rpt:
            return (0, group)  # (*,G): the source field is the RP's address
        if not s.wildcard and not s.rpt and _unicast_source(s.address):
            return (s.address, group)
        return None  # (S,G,rpt) prunes, sources no router forwards from, other shapes

    def _rp(self, group: int) -> int | None:
        """The RP of `group` as an int; None for none, and always in the SSM range
        232.0.0.0/8, where there is no RP tree (RFC 4607, RFC 7761 4.8.1)."""
        if group >> 24 == 232:
            return None
        rp = self.config.pim.rp_for(group)
        return int(rp.address) if rp is not None else None

    def _downstream(
        self, port: PimPort, key: tuple[int, int], joined: bool, holdtime: int, now: float
    ) -> None:
        entry = self.entries.get(key)
        if entry is None:
            if not joined:
                return  # a Prune with no state: NoInfo stays NoInfo
            if len(self.entries) >= MAX_ENTRIES:
                port.counters["too_many_entries"] += 1
                return
            entry = self.entries[key] = Entry(*key)
        state = entry.downstream.setdefault(port.name, DownstreamPort())
        before = state.state
        if joined:
            state.on_join(float(holdtime), now)
        else:
            state.on_prune(port.override_interval(), len(port.neighbors) <= 1, now)
        if before is not state.state:
            self.changed.add(key[1])

    def _overheard(
        self,
        port: PimPort,
        upstream: int,
        key: tuple[int, int],
        joined: bool,
        message: JoinPrune,
        now: float,
    ) -> None:
        entry = self.entries.get(key)
        if entry is None or entry.upstream.rpf != (port.name, upstream):
            return
        t_periodic = self.config.pim.join_prune_interval
        if joined:  # t_suppressed: rand(1.1, 1.4) x t_periodic (section 4.11)
            if port.suppression_enabled():
                suppressed = (1.1 + 0.3 * self._random()) * t_periodic
                entry.upstream.see_join(float(message.holdtime), suppressed, now)
        else:
            entry.upstream.see_prune(self._random() * port.effective_override(), now)

    def set_local(self, wishes: Wishes, now: float) -> Frames:
        """What IGMP's members want per (interface, group): pim_include where we are the DR
        (section 4.1.6); returns the Joins and Prunes that follows."""
        self._wishes = wishes
        self._last = now
        self._update_all(now)
        return self._take_sends()

    def _update_all(self, now: float) -> None:
        """Local members, JoinDesired and RPF' of every entry, brought up to date."""
        if self.config.pim.dense:
            self.dense.update_all(now)
            return
        local: dict[tuple[int, int], set[str]] = {}
        for (name, group), (mode, sources) in self._wishes.items():
            port = self.ports.get(name)
            if port is None or not port.is_dr:
                continue
            if mode is Mode.EXCLUDE:
                local.setdefault((0, group), set()).add(name)
            else:
                for source in sources:
                    local.setdefault((source, group), set()).add(name)
        for key in local.keys() - self.entries.keys():
            if len(self.entries) >= MAX_ENTRIES:
                self.register_counters["too_many_entries"] += 1
                break
            self.entries[key] = Entry(*key)
        t_periodic = self.config.pim.join_prune_interval
        for key, entry in list(self.entries.items()):
            wanted = local.get(key, set())
            if wanted != entry.local:
                entry.local = wanted
                self.changed.add(key[1])
            desired = bool(entry.olist())
            if entry.rp_join:  # the RP's (S,G) join lasts while its RP tree wants G
                star = self.entries.get((0, entry.group))
                entry.rp_join = star is not None and bool(star.olist())
                desired = desired or entry.rp_join
            if entry.spt_join:  # a last hop's, while it has members of G
                star = self.entries.get((0, entry.group))
                entry.spt_join = star is not None and bool(star.local)
                if not entry.spt_join:
                    entry.spt = False
                desired = desired or entry.spt_join
            rpf = self._rpf_neighbor(entry) if desired else None
            winner = rpf is not None and self._assert_winner(entry, rpf[0]) == rpf[1]
            t_override = 0.0
            if (
                rpf is not None
                and rpf != entry.upstream.rpf
                and (winner or entry.upstream.by_assert)
            ):
                t_override = self._random() * self.ports[rpf[0]].effective_override()
            entry.upstream.update(desired, rpf, now, t_periodic, winner, t_override)
            if entry.idle():
                del self.entries[key]

    def _upstream_target(self, entry: Entry) -> int | None:
        """Whom an entry joins toward: S for (S,G), the RP for (*,G)."""
        return entry.source if entry.source else self._rp(entry.group)

    def _upstream_port(self, entry: Entry) -> str | None:
        """RPF_interface of the entry's upstream target, if it runs PIM."""
        target = self._upstream_target(entry)
        toward = self.rpf_interface(target) if target is not None else None
        return toward if isinstance(toward, str) and toward in self.ports else None

    def _assert_winner(self, entry: Entry, name: str) -> int | None:
        """AssertWinner(S,G,I) (or (*,G)) where we lost or track one on `name`, while it is
        still our neighbour (section 4.6)."""
        state = self.asserts.get((entry.source, entry.group, name))
        port = self.ports.get(name)
        if state is None or state.winner_us or port is None:
            return None
        return state.winner if state.winner in port.neighbors else None

    def _rpf_neighbor(self, entry: Entry) -> tuple[str, int] | None:
        """RPF' of an entry: toward the RP for (*,G), toward S for (S,G); the assert
        winner on the RPF interface where there is one (section 4.5.7, 4.5.6)."""
        target = self._upstream_target(entry)
        if target is None:
            return None
        if self._is_ours(target):
            return None  # we are the RP (or the source is ours): nothing upstream
        toward = self.rpf_interface(target)
        port = self.ports.get(toward) if isinstance(toward, str) else None
        if port is None:
            return None
        winner = self._assert_winner(entry, port.name)
        if winner is not None:
            return (port.name, winner)
        return self._neighbor_toward(port, target, entry.upstream.rpf, source=bool(entry.source))

    def _neighbor_toward(
        self, port: PimPort, target: int, kept: tuple[str, int] | None, *, source: bool
    ) -> tuple[str, int] | None:
        """The MRIB's next hop toward `target` on its RPF interface `port`, as a neighbour:
        the target itself when it is one (an RP on the link); None for a source on the
        link (we are its first hop); the FIB's gateway; in replay, the one router there;
        `kept` (the last answer) when several could be."""
        if target in port.neighbors:
            return (port.name, target)
        gateway = self._gateways.get(target)
        if port.on_link(target) or gateway == 0:
            # on our link: an RP is its own next hop; a source has no router upstream,
            # we are its first hop (RPF'(S,G) is NULL, section 4.5.7)
            return None if source else (port.name, target)
        if gateway is not None:  # the FIB's next hop (live mode)
            return (port.name, gateway)
        if len(port.neighbors) == 1:  # replay: the one router there
            return (port.name, next(iter(port.neighbors)))
        if kept is not None and kept[0] == port.name and kept[1] in port.neighbors:
            return kept  # several routers, none known to be next: keep the last
        port.counters["rpf_neighbor_unknown"] += 1
        return None

    def rp_addresses(self) -> list[int]:
        """The configured RPs (looked up again after the unicast routes changed)."""
        return [int(rp.address) for rp in self.config.pim.rps] if self.ports else []

    def set_gateways(self, answers: Mapping[int, str | None], gateways: Mapping[int, int]) -> None:
        """Live mode: the FIB's next hop toward each address answered (0: on-link)."""
        for address in answers:
            if address >> 32:
                continue  # IPv6: PIM here is IPv4's
            self._gateways[address] = gateways.get(address, 0)
        if len(self._gateways) > 4 * MAX_REGISTER_STATES:  # bounded; asked again if needed
            for address in list(self._gateways)[: len(self._gateways) // 2]:
                del self._gateways[address]

    def rpf_answered(self, now: float) -> Frames:
        """The FIB answered RPF lookups: RPF' of entries may be known now."""
        self._last = now
        self.changed.update(self.dense.waiting_groups)  # decided while the FIB was asked
        self.dense.waiting_groups.clear()
        self._update_all(now)
        self.changed.update(key[1] for key in self.entries)  # the RP tree's arrival, too
        return self._take_sends()

    def source_toward(self, address: int) -> int:
        """Our address on the interface toward `address` (what the kernel would send a
        unicast PIM message from; 0 when no interface of ours leads there)."""
        toward = self.rpf_interface(address)
        port = self.ports.get(toward) if isinstance(toward, str) else None
        if port is not None:
            return port.address
        return next((p.address for p in self.ports.values() if p.address), 0)

    def rpf_interface(self, address: int) -> object:
        """The interface toward `address` (the forwarder's RPF: config, [[rpf]], FIB)."""
        return self.forwarder.rpf_toward(address)

    @property
    def _jp_holdtime(self) -> int:
        """J/P_HoldTime: 3.5 x t_periodic, in the 16-bit field (section 4.11)."""
        return min(0xFFFF, int(3.5 * self.config.pim.join_prune_interval))

    def _is_ours(self, address: int) -> bool:
        """Is `address` one of our interface addresses (are we the RP, or the source)?"""
        return any(p.address == address for p in self.ports.values())

    def _source_of(self, entry: Entry, rp: int | None) -> Source | None:
        """How a Join/Prune names `entry`: S, or for (*,G) the RP with the W and R bits."""
        if entry.source:
            return Source(entry.source)
        return Source(rp, wildcard=True, rpt=True) if rp else None

    def _take_sends(self) -> Frames:
        """The Joins and Prunes the upstream machines asked for, one message each."""
        out: Frames = []
        holdtime = self._jp_holdtime
        for entry in self.entries.values():
            for send in entry.upstream.take():
                port = self.ports.get(send.interface)
                if port is None:
                    continue
                # a Prune(*,G) names the RP its Join named, whatever a reload changed
                rp = self._rp(entry.group) if send.join else entry.rp
                source = self._source_of(entry, rp)
                if source is None:
                    continue
                if not entry.source:
                    entry.rp = rp or 0
                if send.join:
                    prunes = self._rpt_prunes_for(entry) if not entry.source else ()
                    sets = GroupSet(entry.group, joins=(source,), prunes=prunes)
                else:
                    sets = GroupSet(entry.group, prunes=(source,))
                neighbor = port.neighbors.get(send.neighbor)
                if neighbor is not None and port.last_hello < neighbor.since:
                    # a Hello first: the neighbour may not know us yet (section 4.3.1)
                    out.extend(self._hello_now(port, self._last))
                frames = self._send(port, JoinPrune(send.neighbor, holdtime, (sets,)))
                if frames:
                    port.counters["join_out" if send.join else "prune_out"] += 1
                out.extend(frames)
        for key in [k for k, e in self.entries.items() if e.idle()]:
            del self.entries[key]
        return out

    def _prune_echo(self, port: PimPort, entry: Entry) -> None:
        """PruneEcho (sections 4.5.2, 4.5.3): on a LAN, the Prune we acted on, sent to
        ourselves, so that a router whose override was lost may join again."""
        source = self._source_of(entry, self._rp(entry.group))
        if source is None:
            return
        sets = (GroupSet(entry.group, prunes=(source,)),)
        echo = JoinPrune(port.address, self._jp_holdtime, sets)
        self._pending.extend(self._send(port, echo))
        port.counters["prune_echo_out"] += 1

    def _rpt_prunes_for(self, star: Entry) -> tuple[Source, ...]:
        """The Prune(S,G,rpt)s a Join(*,G) carries (section 4.5.9): sources we get on
        their own tree through another neighbour than the RP tree's."""
        return tuple(
            Source(sg.source, rpt=True)
            for (source, group), sg in self.entries.items()
            if group == star.group
            and source
            and sg.spt
            and sg.upstream.joined
            and sg.upstream.rpf != star.upstream.rpf
        )

    @property
    def has_state(self) -> bool:
        """Join state (sparse), (S,G) state or flows waiting on the FIB (dense)."""
        dense = self.dense
        return bool(self.entries or dense.entries or dense.waiting_groups)

    def clock(self, now: float) -> None:
        """The time of the input being handled: flows it decides (`oifs`) are decided now."""
        self._last = now

    def oifs(self, ingress: str, source: int, group: int) -> tuple[tuple[str, ...], bool] | None:
        if self.config.pim.dense:
            return self.dense.oifs(ingress, source, group)
        return self._sparse_oifs(ingress, source, group)

    def _sparse_oifs(
        self, ingress: str, source: int, group: int
    ) -> tuple[tuple[str, ...], bool] | None:
        """Where PIM sends (S,G) arriving on `ingress`, and whether the forwarder must still
        check that `ingress` is the RPF interface toward S (it holds frames while the FIB
        is asked); None when PIM has no state for the group (IGMP alone decides).

        On the RP tree (arriving toward the RP) the (*,G) list applies, checked here; the
        (S,G) list, and the (*,G) list where we are the RP (the tree starts here, for a
        source whose traffic reaches us natively: registers are not built yet), apply to
        traffic arriving toward S."""
        register = self.register_oif(ingress, source, group)
        sg = self.entries.get((source, group))
        star = self.entries.get((0, group))
        rp = self._rp(group)
        if star is not None and rp is None:
            star = None  # no RP: IGMP alone decides where the group goes
        if sg is None and star is None:
            return ((REGISTER_VIF,), True) if register else None
        if ingress in self.ports:  # data on an interface we forward onto: assert there
            if sg is not None and ingress in sg.olist():
                self._assert_triggers.add((source, group, ingress))
            elif star is not None and ingress in star.olist():
                self._assert_triggers.add((0, group, ingress))
        we_rp = rp is not None and self._is_ours(rp)
        rpf_s = self.rpf_interface(source)
        inherited: set[str] = set()
        if star is not None:  # inherited_olist(S,G,rpt) (section 4.1.6)
            inherited = star.olist_for(source, self._wishes)
            if sg is not None:
                inherited -= sg.pruned_off_rpt()
        out: set[str]
        need_rpf = True
        if ingress == REGISTER_VIF:  # decapsulated at the RP: down its tree
            out, need_rpf = inherited, False
        elif we_rp:  # the RP tree starts here, for traffic arriving toward S
            out = inherited | (sg.olist() if sg is not None else set())
            if sg is not None and rpf_s == ingress:
                self._on_spt(sg)  # native now: the next Register gets a Register-Stop
        elif (
            star is not None
            and rp is not None
            and self.rpf_interface(rp) == ingress
            and not (sg is not None and sg.spt and rpf_s != ingress)
        ):  # on the RP tree (once on the source tree, S's copies from it are dropped)
            out, need_rpf = inherited, False
            if sg is not None and rpf_s == ingress:
                out |= sg.olist()
                self._on_spt(sg)
            elif star.local and self.config.pim.spt_switchover == "immediate":
                self._switch_to_spt(source, group, ingress)
        else:  # toward S: the source tree
            out = set()
            if sg is not None:
                out = sg.olist() | (inherited if sg.spt_join or sg.spt else set())
                if rpf_s == ingress:
                    self._on_spt(sg)
        if register:
            out.add(REGISTER_VIF)
        out.discard(ingress)
        out -= self._lost(source, group)
        return tuple(sorted(out)), need_rpf

    def _on_spt(self, sg: Entry) -> None:
        """(S,G) arrived on the RPF interface toward S: the SPT bit (section 4.2.2); the
        RP tree's copies of S stop, and S is pruned off it upstream (4.5.9)."""
        if not sg.spt:
            sg.spt = True
            self.changed.add(sg.group)
            star = self.entries.get((0, sg.group))
            if (
                star is not None
                and star.upstream.joined
                and star.upstream.rpf is not None
                and sg.upstream.rpf != star.upstream.rpf
            ):  # a Join(*,G) carrying the prune, now
                star.upstream.sent.append(Send(*star.upstream.rpf, True))
                self._update_wanted = True

    def _switch_to_spt(self, source: int, group: int, ingress: str) -> None:
        """A last-hop DR's members get S from the RP tree: join S's tree (section 4.2.1,
        spt_switchover = "immediate"); not for a source on our own link."""
        port = self.ports.get(ingress)
        if port is not None and port.on_link(source):
            return
        sg = self.entries.get((source, group))
        if sg is None:
            if len(self.entries) >= MAX_ENTRIES:
                self.register_counters["too_many_entries"] += 1
                return
            sg = self.entries[(source, group)] = Entry(source, group)
        if not sg.spt_join:
            sg.spt_join = True
            self._update_wanted = True

    def register_oif(self, ingress: str, source: int, group: int) -> bool:
        """Does (S,G) arriving on `ingress` go into the register tunnel? CouldRegister
        (section 4.4.1): we are the DR where S is directly connected, the group has an RP
        that is not us, and the RP has not told us to stop."""
        port = self.ports.get(ingress)
        rp = self._rp(group)
        if port is None or rp is None or not port.is_dr or not port.on_link(source):
            return False
        if self._is_ours(rp):
            return False  # we are the RP: the RP tree starts here, natively
        key = (source, group)
        state = self.registers.get(key)
        if state is None:
            if len(self.registers) >= MAX_REGISTER_STATES:
                self.register_counters["register_states_full"] += 1
                return False
            # the Keepalive Timer starts now (the latest time we were given: flows are
            # decided between calls that pass time); the flow's own clock restarts it
            state = self.registers[key] = RegisterState(
                ingress=ingress, keepalive=self._last + KEEPALIVE_PERIOD
            )
        state.ingress = ingress
        return state.state == "Join"

    def encapsulate(self, packet: bytes) -> None:
        """A data packet the forwarder sent into the register tunnel: a Register to the
        RP of its group (section 4.4.1; it is the forwarded copy, TTL decremented)."""
        group = int.from_bytes(packet[16:20], "big")
        rp = self._rp(group)
        if rp is None:
            return
        self.unicast.append((rp, pim.build(Register(packet))))
        self.register_counters["register_out"] += 1

    def handle_unicast(self, packet: bytes, now: float) -> Frames:
        """A unicast PIM packet for us (IPv4 header included): Registers if we are an RP,
        Register-Stops if we register (sections 4.4.1, 4.4.2)."""
        self._last = now
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.register_counters["bad_packet"] += 1
            return []
        ihl = (packet[0] & 0x0F) * 4
        source = int.from_bytes(packet[12:16], "big")
        message = pim.parse(packet[ihl:])
        if isinstance(message, BadPim):
            self.register_counters[message.reason] += 1
            return []
        if isinstance(message, RegisterStop):
            self._on_register_stop(source, message, now)
            return []
        if isinstance(message, Register):
            self._on_register(source, message, now)
            return self._take_sends()
        if isinstance(message, Graft) and self.config.pim.dense:
            port = self._port_of_neighbor(source)
            if port is None and message.ack:  # from RPF'(S) whose Hello has not come yet
                port = next((p for p in self.ports.values() if p.on_link(source)), None)
            if port is None:
                self.register_counters["graft_not_neighbor"] += 1
                return []
            self.dense.on_graft(port, source, message, now)
            return self._take_sends()
        self.register_counters["unhandled"] += 1  # Hellos and J/P come as frames
        return []

    def _port_of_neighbor(self, address: int) -> PimPort | None:
        """The interface a unicast PIM message from `address` came over: where it is our
        neighbour."""
        for port in self.ports.values():
            if address in port.neighbors:
                return port
        return None

    def _on_register_stop(self, rp: int, message: RegisterStop, now: float) -> None:
        """Section 4.4.1: Join or JoinPending -> Prune, the Register-Stop Timer set to
        rand(0.5, 1.5) x Register_Suppression_Time - Register_Probe_Time."""
        self.register_counters["register_stop_in"] += 1
        if self._rp(message.group) != rp:
            self.register_counters["register_stop_not_from_rp"] += 1
            return
        key = (message.source, message.group)
        if message.source and key not in self.registers:
            # state gone with the Keepalive Timer while the flow, still cached, registers
            # again: state anew, so that this stop holds
            toward = self.rpf_interface(message.source)
            if isinstance(toward, str):
                self.register_oif(toward, message.source, message.group)
        keys = [
            k
            for k in self.registers
            if k[1] == message.group and (message.source in (0, k[0]))  # 0: every source
        ]
        for key in keys:
            state = self.registers[key]
            if state.state in ("Join", "JoinPending"):
                if state.state == "Join":
                    self.changed.add(key[1])  # its flows leave the tunnel
                state.state = "Prune"
                delay = (0.5 + self._random()) * REGISTER_SUPPRESSION_TIME
                state.timer = now + delay - REGISTER_PROBE_TIME

    def _on_register(self, dr: int, message: Register, now: float) -> None:
        """Section 4.4.2, as RP: decapsulate and send down the RP tree; ask the DR to stop
        when nobody wants the group, or once the traffic arrives natively (the SPT)."""
        self.register_counters["register_in"] += 1
        inner = message.packet
        if len(inner) < 20 or inner[0] >> 4 != 4:
            self.register_counters["register_bad_inner"] += 1
            return
        source = int.from_bytes(inner[12:16], "big")
        group = int.from_bytes(inner[16:20], "big")
        rp = self._rp(group)
        if rp is None or not self._is_ours(rp):
            self.register_counters["register_not_rp"] += 1
            self._register_stop(dr, source, group)  # section 4.4.2: not the RP for G
            return
        star = self.entries.get((0, group))
        if star is None or not star.olist():
            self._register_stop(dr, source, group)  # nobody downstream wants G
            return
        sg = self.entries.get((source, group))
        if sg is None:
            sg = self.entries[(source, group)] = Entry(source, group)
        if sg.spt:
            self._register_stop(dr, source, group)  # it arrives natively already
        elif not sg.rp_join:
            sg.rp_join = True  # join toward S: the shortest path tree to the RP
            self._update_all(now)
        if not message.null:
            self.decapsulated.append(group_mac(group) + bytes(6) + b"\x08\x00" + inner)

    def _register_stop(self, dr: int, source: int, group: int) -> None:
        self.unicast.append((dr, pim.build(RegisterStop(group, source))))
        self.register_counters["register_stop_out"] += 1

    def take_unicast(self) -> list[tuple[int, bytes]]:
        out, self.unicast = self.unicast, []
        return out

    def _on_hello(self, port: PimPort, source: int, hello: Hello, now: float) -> None:
        holdtime = hello.holdtime if hello.holdtime is not None else int(3.5 * 30)
        known = port.neighbors.get(source)
        if holdtime == 0:  # goodbye: forget it now (section 4.3.1)
            if known is not None:
                del port.neighbors[source]
                port.elect()
                self._forget_winner(port.name, source)
            return
        expires = float("inf") if holdtime == _FOREVER else now + holdtime
        restarted = known is not None and known.generation_id != hello.generation_id
        if known is None and len(port.neighbors) >= MAX_NEIGHBORS:
            port.counters["too_many_neighbors"] += 1  # a spoofing host cannot grow us
            return
        if restarted:  # section 4.5.7: join again soon toward a restarted RPF'
            for entry in self.entries.values():
                if entry.upstream.rpf == (port.name, source):
                    entry.upstream.see_prune(self._random() * port.effective_override(), now)
        if known is None or restarted:
            port.neighbors[source] = Neighbor(
                source,
                hello.dr_priority,
                hello.generation_id,
                holdtime,
                expires,
                now,
                hello.lan_prune_delay,
                hello.secondary,
                hello.state_refresh,
            )
            # section 4.3.1: a new or restarted neighbour hears from us soon
            soon = now + self._random() * TRIGGERED_HELLO_DELAY
            port.next_hello = min(port.next_hello, soon)
            port.counters["restarts" if restarted else "new_neighbors"] += 1
        else:
            known.dr_priority = hello.dr_priority
            known.holdtime = holdtime
            known.expires = expires
            known.lan_prune_delay = hello.lan_prune_delay
            known.secondary = hello.secondary
            known.state_refresh = hello.state_refresh
        port.elect()

    # -- timers ------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """The next Hello or neighbour expiry on any port (-inf: at once)."""
        if self._pending:
            return float("-inf")
        due = float("inf")
        for port in self.ports.values():
            if port.address:
                due = min(due, port.next_hello)
            for n in port.neighbors.values():
                due = min(due, n.expires)
        for entry in self.entries.values():
            due = min(due, entry.next_timer())
        for state in self.registers.values():
            due = min(due, state.timer, state.keepalive)
        if self._assert_triggers or self._update_wanted:
            return float("-inf")
        for a in self.asserts.values():
            due = min(due, a.timer)
        if self.config.pim.dense:
            due = min(due, self.dense.next_timer())
        return None if due == float("inf") else due

    def poll(self, now: float) -> Frames:
        """Hellos due now, neighbours expired, join state timers; the frames to send."""
        self._last = now
        out, self._pending = self._pending, []
        expired = False
        for port in self.ports.values():
            gone = [a for a, n in port.neighbors.items() if n.expires <= now]
            for address in gone:
                del port.neighbors[address]
                port.counters["expired_neighbors"] += 1
                self._forget_winner(port.name, address)
            if gone:
                port.elect()
                expired = True
        t_periodic = self.config.pim.join_prune_interval
        for key, entry in self.entries.items():
            for d in entry.rpt_pruned.values():
                if d.state is Downstream.PRUNE_PENDING and d.prune_pending <= now:
                    d.state, d.prune_pending = Downstream.JOIN, INF  # Pruned (4.5.4)
                    self.changed.add(key[1])
            for name, d in entry.downstream.items():
                echo = d.state is Downstream.PRUNE_PENDING and d.prune_pending <= now
                if d.poll(now):
                    self.changed.add(key[1])
                    expired = True
                    owner = self.ports.get(name)
                    if echo and owner is not None and len(owner.neighbors) > 1:
                        self._prune_echo(owner, entry)
            for d in entry.rpt_pruned.values():
                if d.poll(now):
                    self.changed.add(key[1])
                    expired = True
            entry.upstream.poll(now, t_periodic)
        for key, state in list(self.registers.items()):
            if state.keepalive <= now:  # the Keepalive Timer: has S sent since?
                last = self.forwarder.flow_last(state.ingress, key[0], key[1])
                if last is None or last + KEEPALIVE_PERIOD <= now:
                    # S is silent: the register state goes (the flow, while the forwarder
                    # keeps it, registers S's next packet, NoInfo -> Join)
                    del self.registers[key]
                    self.register_counters["register_states_expired"] += 1
                    continue
                state.keepalive = last + KEEPALIVE_PERIOD
            if state.timer > now:
                continue
            if state.state == "Prune":  # probe: does the RP still not want it?
                state.state = "JoinPending"
                state.timer = now + REGISTER_PROBE_TIME
                rp = self._rp(key[1])
                if rp is not None:
                    probe = pim.ip_packet(key[0], key[1], b"", ttl=0)[:20]
                    null = pim.build(Register(probe, null=True))
                    self.unicast.append((rp, null))
                    self.register_counters["null_register_out"] += 1
            elif state.state == "JoinPending":  # no Register-Stop: register again
                state.state = "Join"
                state.timer = INF
                self.changed.add(key[1])
        if self.config.pim.dense:
            self.dense.poll(now)
        if expired or self._update_wanted:
            self._update_wanted = False
            self._update_all(now)
        if self.asserts or self._assert_triggers:
            self._run_asserts(now)
            out.extend(self._pending)
            self._pending = []
        for port in self.ports.values():
            if not port.address:
                continue
            if port.next_hello == float("-inf"):  # started: first Hello soon (section 4.3.1)
                port.next_hello = now + self._random() * TRIGGERED_HELLO_DELAY
            if port.next_hello <= now:
                out.extend(self._hello_now(port, now))
        out.extend(self._take_sends())
        return out

    def _hello_now(self, port: PimPort, now: float) -> Frames:
        """Our Hello on `port` now; the next one a Hello_Period later."""
        sent = self._send(port, port.hello())
        if sent:
            port.counters["hello_out"] += 1
            port.last_hello = now
        port.next_hello = now + port.spec.hello_interval
        return sent

    def _send(self, port: PimPort, message: pim.Message) -> Frames:
        mac = self.forwarder.port_mac(port.name)
        if mac is None or not port.address:
            return []
        packet = pim.ip_packet(port.address, ALL_PIM_ROUTERS, pim.build(message))
        return [(port.name, [ethernet_header(_ALL_PIM_MAC, mac) + packet])]

    def shutdown(self) -> Frames:
        """Goodbye Hellos (holdtime 0) on every port: neighbours forget us at once."""
        out: Frames = []
        for port in self.ports.values():
            out.extend(self._send(port, port.hello(holdtime=0)))
        return out

    # -- observation -------------------------------------------------------------------------

    def to_json(self, now: float) -> dict[str, Any] | None:
        """`rawfwd show pim`: per interface our address, the DR, the neighbours."""
        if not self.ports:
            return None
        interfaces = []
        for name, port in self.ports.items():
            neighbors = [
                {
                    "address": _ip(n.address),
                    "dr_priority": n.dr_priority,
                    "holdtime": n.holdtime,
                    "expires": None if n.expires == float("inf") else round(n.expires - now, 1),
                    "generation_id": n.generation_id,
                    "uptime": round(now - n.since, 1),
                }
                for n in sorted(port.neighbors.values(), key=lambda n: n.address)
            ]
            next_hello = port.next_hello if port.address else None
            interfaces.append(
                {
                    "interface": name,
                    "address": _ip(port.address) if port.address else None,
                    "dr": _ip(port.dr) if port.dr else None,
                    "is_dr": port.is_dr,
                    "dr_priority": port.spec.dr_priority,
                    "generation_id": port.generation_id,
                    "hello_interval": port.spec.hello_interval,
                    "next_hello": None
                    if next_hello is None or next_hello == float("-inf")
                    else round(max(0.0, next_hello - now), 1),
                    "neighbors": neighbors,
                    "counters": dict(sorted(port.counters.items())),
                }
            )
        joins = []
        for (source, group), entry in sorted(self.entries.items()):
            up = entry.upstream
            joins.append(
                {
                    "source": _ip(source) if source else "*",
                    "group": _ip(group),
                    "rp": self._rp_text(group) if not source else None,
                    "upstream": {
                        "state": "Joined" if up.joined else "NotJoined",
                        "interface": up.rpf[0] if up.rpf else None,
                        "neighbor": _ip(up.rpf[1]) if up.rpf else None,
                        "join_timer": None
                        if not up.joined or up.join_timer == INF
                        else round(max(0.0, up.join_timer - now), 1),
                    },
                    "downstream": {
                        name: {
                            "state": d.state.value,
                            "expires": None if d.expiry == INF else round(d.expiry - now, 1),
                            "prune_pending": None
                            if d.prune_pending == INF
                            else round(d.prune_pending - now, 1),
                        }
                        for name, d in sorted(entry.downstream.items())
                    },
                    "local": sorted(entry.local),
                    "oifs": sorted(entry.olist()),
                    "spt": entry.spt,
                }
            )
        registers = {
            "states": [
                {
                    "source": _ip(source),
                    "group": _ip(group),
                    "state": state.state,
                    "timer": None if state.timer == INF else round(state.timer - now, 1),
                    "keepalive": round(max(0.0, state.keepalive - now), 1),
                }
                for (source, group), state in sorted(self.registers.items())
            ],
            "counters": dict(sorted(self.register_counters.items())),
        }
        asserts = [
            {
                "source": _ip(source) if source else "*",
                "group": _ip(group),
                "interface": name,
                "state": "Winner" if state.winner_us else "Loser",
                "winner": _ip(state.winner),
                "metric": list(state.metric),
                "timer": round(max(0.0, state.timer - now), 1),
            }
            for (source, group, name), state in sorted(self.asserts.items())
        ]
        return {
            "mode": self.config.pim.mode,
            "interfaces": interfaces,
            "joins": joins,
            "dense": self.dense.json(now),
            "dense_counters": dict(sorted(self.dense.counters.items())),
            "asserts": asserts,
            "registers": registers,
            "ignored": dict(self.ignored),
        }

    def _rp_text(self, group: int) -> str | None:
        rp = self._rp(group)
        return _ip(rp) if rp is not None else None
