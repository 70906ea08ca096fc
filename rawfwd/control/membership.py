"""IGMP group membership on one interface, the router side (RFC 3376 section 6, RFC 2236
section 3, RFC 4604 for source-specific groups).

Theory of operation:

- Per group a record holds a filter mode and sources with timers (RFC 3376 section 6.2).
  INCLUDE(A): traffic from the sources in A is wanted, each until its timer runs out.
  EXCLUDE(X, Y): traffic from every source is wanted except from Y; X are sources some
  member asked for that another excludes, kept with timers. The group timer says how
  long EXCLUDE lasts without a report (section 6.2.2); when it runs out the record falls
  back to INCLUDE of the sources still timed, or goes away.
- Reports change the record by the tables of section 6.4 (current-state records) and
  6.4.2 (state changes). v1/v2 reports are IS_EX({}) and a v2 leave is TO_IN({}).
- When members may have left, the querier asks: a group-specific query Q(G), or a
  group-and-source-specific query Q(G,A), sent last-member-query-count times a
  last-member-query-interval apart, lowering the group or source timers to the last
  member query time so that silence ends forwarding quickly (section 6.6.3). A timer
  already at that time or below had its queries: a retransmitted leave starts no more.
  A router that is not the querier sends nothing and lowers its timers when it hears the
  querier's specific queries (section 6.6.1).
- Compatibility (section 7.3.2): a v1 or v2 report starts that group's older-host-present
  timer. While one runs, the group is in that older mode: BLOCK records and the source
  lists of TO_EX records are ignored, and in v1 mode leaves (v2 leaves, TO_IN records)
  are ignored too: a v1 member may still be there, and it never says when it goes. A router
  configured for version 2 treats every group as at most v2.
- Source-specific groups, 232.0.0.0/8 (RFC 4604 section 2.2.4): only INCLUDE makes sense;
  v1/v2 reports and IS_EX/TO_EX records for them are ignored and counted.
- Anyone on the link may send reports, so what they can make a router remember is
  bounded (groups, sources per group, sources per interface: beyond, counted and left
  out), and nothing a report or a timer does scans what is remembered: every timer sits
  in one heap, so `poll` touches only what is due and `next_timer` looks at its top; a
  report costs what its records name (plus what a filter mode change replaces); the
  views list at most a few hundred groups and sources, the rest counted.

Pure: time is passed in; `poll` returns the specific queries that are due and
`next_timer` says when to call it again; `changed` collects the groups whose forwarding
(what `wants` answers) may be different, for the caller to act on.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import Enum

from ..core.addr import V6
from .igmp import GroupRecord, Query, RecordType, Report, V3Report
from .querier import Querier, QuerierSpec

#: records whose sources are added to what the group wants (RFC 3376 6.4.1, 6.4.2)
_ADDING_SOURCES = frozenset(
    {RecordType.MODE_IS_INCLUDE, RecordType.ALLOW_NEW_SOURCES, RecordType.CHANGE_TO_INCLUDE}
)

#: Bounds on what reports can make a router remember (anyone on the link may send them):
#: beyond them new groups or sources are ignored and counted, existing ones still work.
MAX_GROUPS = 4096  #: group records per interface
MAX_SOURCES = 1024  #: sources (X and Y together) per group record
#: sources of all group records of an interface together: 16 full groups, or 4 for each of
#: MAX_GROUPS; about 150 bytes each (record and timer), 2.5 MB at the bound (measured by
#: tools/bench/igmp_flood.py), where the per-group bound alone allowed 4 million
MAX_INTERFACE_SOURCES = 16384

#: What `views` lists (`rawfwd show groups`, the live table), the rest counted: enough to
#: read, cheap to build and send every second whatever a host made us remember.
MAX_VIEW_GROUPS = 256
MAX_VIEW_SOURCES = 64  #: per list (sources, excluded) of a group

# The kinds of timer, in the order they run when due at the same instant: a record's
# specific queries go out before the timers they lowered run out.
_GROUP_QUERY, _SOURCE_QUERY, _SOURCE, _GROUP_TIMER = 0, 1, 2, 3
#: a timer in the heap: (due, kind, group, source), source 0 but for _SOURCE
_Timer = tuple[float, int, int, int]


class Mode(Enum):
    """A group record's filter mode (RFC 3376 section 6.2.1)."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


def is_ssm(group: int) -> bool:
    """True for 232.0.0.0/8 and ff3x::/32, the source-specific multicast blocks (RFC 4607
    section 1; groups as `addr` integers)."""
    if group >= V6:
        return (group >> 96) & 0xFFF0FFFF == 0xFF300000
    return group >> 24 == 232


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group record as the table and `rawfwd show groups` see it."""

    group: int
    mode: Mode
    sources: tuple[tuple[int, float], ...]  #: (source, seconds left): A, or X in EXCLUDE
    excluded: tuple[int, ...]  #: Y: sources not wanted (EXCLUDE only)
    expires: float | None  #: seconds left on the group timer (EXCLUDE only)
    compat: int  #: 1, 2 or 3: the oldest host version heard lately (RFC 3376 7.3.2)
    reporter: int  #: the address of the last host that reported it (0: none)
    truncated: int = 0  #: sources and excluded not listed (beyond MAX_VIEW_SOURCES each)


class _Group:
    """The record of one group: its mode, sources with expiry times, timers, queries due."""

    __slots__ = (
        "excluded",
        "group",
        "group_queries",
        "mode",
        "next_group_query",
        "next_source_query",
        "reporter",
        "source_queries",
        "sources",
        "timer",
        "v1_until",
        "v2_until",
    )

    def __init__(self, group: int) -> None:
        self.group = group
        self.mode = Mode.INCLUDE
        self.timer = 0.0  # group timer expiry: EXCLUDE mode only
        self.sources: dict[int, float] = {}  # A or X: source -> expiry time
        self.excluded: set[int] = set()  # Y
        self.v1_until: float | None = None
        self.v2_until: float | None = None
        self.reporter = 0
        self.group_queries = 0  # Q(G) transmissions still to send
        self.next_group_query: float | None = None
        self.source_queries: dict[int, int] = {}  # Q(G,A): transmissions left per source
        self.next_source_query: float | None = None

    @property
    def idle(self) -> bool:
        """INCLUDE({}) with nothing pending: the same as no record at all."""
        return (
            self.mode is Mode.INCLUDE
            and not self.sources
            and not self.group_queries
            and not self.source_queries
        )

    def running(self, kind: int, source: int) -> float | None:
        """When the timer of `kind` (and `source`) runs out now, None if it is not running."""
        if kind == _SOURCE:
            return self.sources.get(source)
        if kind == _GROUP_TIMER:
            return self.timer if self.mode is Mode.EXCLUDE else None
        if kind == _GROUP_QUERY:
            return self.next_group_query
        return self.next_source_query


def _lowest(items: Collection[int], n: int) -> list[int]:
    """The `n` lowest of `items` in order, without sorting them all when there are more."""
    return sorted(items) if len(items) <= n else heapq.nsmallest(n, items)


class Membership:
    """The group records of one interface, driven by reports, queries and time."""

    def __init__(self, spec: QuerierSpec, querier: Querier) -> None:
        self.spec = spec
        self.querier = querier  #: whose robustness and query interval are in use
        self.groups: dict[int, _Group] = {}
        #: groups whose forwarding may have changed since the caller last looked
        self.changed: set[int] = set()
        #: reports and records not acted on, by reason
        self.ignored: Counter[str] = Counter()
        #: sources remembered, A or X and Y of every record (at most MAX_INTERFACE_SOURCES)
        self.source_count = 0
        #: timers `poll` and `next_timer` looked at: their work, which follows what is due,
        #: not what is remembered (the tests and tools/bench/igmp_flood.py read it)
        self.timer_work = 0
        self._timers: list[_Timer] = []  # a heap: see `_arm`
        self._querying: set[int] = set()  # groups with specific queries still to send

    @property
    def pending_timers(self) -> int:
        """Entries in the timer heap, leftovers of timers moved or gone included: at most
        about twice the timers running (see `_compact`)."""
        return len(self._timers)

    # -- timer values (RFC 3376 section 8), from the querier's values in use --------------

    @property
    def group_membership_interval(self) -> float:
        q = self.querier
        return q.robustness * q.query_interval + self.spec.query_response_interval

    @property
    def last_member_query_count(self) -> int:
        count = self.spec.last_member_count
        return count if count is not None else self.querier.robustness

    @property
    def last_member_query_time(self) -> float:
        return self.spec.last_member_query_interval * self.last_member_query_count

    # -- what forwarding asks ----------------------------------------------------------------

    def wants(self, source: int, group: int) -> bool:
        """Does some member here want traffic from `source` to `group` (section 6.3)?"""
        g = self.groups.get(group)
        if g is None:
            return False
        if g.mode is Mode.INCLUDE:
            return source in g.sources
        return source not in g.excluded

    def filter(self, group: int) -> tuple[Mode, frozenset[int]] | None:
        """The interface's wish for `group` as a host would state it: EXCLUDE(Y) or
        INCLUDE(A), None for nothing (what an IGMP proxy merges, RFC 4605 4.1)."""
        g = self.groups.get(group)
        if g is None:
            return None
        if g.mode is Mode.EXCLUDE:
            return Mode.EXCLUDE, frozenset(g.excluded)
        return (Mode.INCLUDE, frozenset(g.sources)) if g.sources else None

    def compat(self, g: _Group, now: float) -> int:
        """The group's compatibility mode (RFC 3376 section 7.3.2)."""
        if g.v1_until is not None and g.v1_until > now:
            return 1
        if (g.v2_until is not None and g.v2_until > now) or self.spec.version == 2:
            return 2
        return 3

    # -- input -------------------------------------------------------------------------------

    def on_report(self, reporter: int, report: Report | V3Report, now: float) -> None:
        """A membership report (or v2 leave) from `reporter`."""
        if isinstance(report, Report):
            self._on_old_report(reporter, report, now)
        else:
            for record in report.records:
                self._on_record(reporter, record, now)
        self._compact()

    def _on_old_report(self, reporter: int, report: Report, now: float) -> None:
        group = report.group
        if is_ssm(group):
            self.ignored["ssm_any_source"] += 1  # RFC 4604 2.2.4: no (*,G) in SSM
            return
        if report.leave:
            g = self.groups.get(group)
            if g is None:
                return
            if self.compat(g, now) == 1:
                self.ignored["leave_in_v1_mode"] += 1  # RFC 3376 7.3.2
                return
            self._apply(g, RecordType.CHANGE_TO_INCLUDE, set(), now)
            self._settle(g)
            return
        g = self._record(group)
        if g is None:
            return
        g.reporter = reporter
        until = now + self.group_membership_interval  # Older Host Present Interval (8.13)
        if report.version == 1:
            g.v1_until = until
        else:
            g.v2_until = until
        self._apply(g, RecordType.MODE_IS_EXCLUDE, set(), now)

    def _on_record(self, reporter: int, record: GroupRecord, now: float) -> None:
        kind, sources = record.kind, set(record.sources)
        exclude = kind in (RecordType.MODE_IS_EXCLUDE, RecordType.CHANGE_TO_EXCLUDE)
        if exclude and is_ssm(record.group):
            self.ignored["ssm_exclude"] += 1  # RFC 4604 2.2.4
            return
        g = self.groups.get(record.group)
        if g is None:
            if not exclude and not sources:
                return  # INCLUDE({}) of nothing: nothing to change
            g = self._record(record.group)
            if g is None:
                return
        mode = self.compat(g, now)
        if mode < 3:  # RFC 3376 7.3.2
            if kind is RecordType.BLOCK_OLD_SOURCES:
                self.ignored["block_in_old_mode"] += 1
                self._settle(g)
                return
            if kind is RecordType.CHANGE_TO_EXCLUDE:
                sources = set()
            if mode == 1 and kind is RecordType.CHANGE_TO_INCLUDE:  # a v1 host cannot leave
                self.ignored["leave_in_v1_mode"] += 1
                self._settle(g)
                return
        if kind is not RecordType.BLOCK_OLD_SOURCES or g.mode is Mode.EXCLUDE:
            sources = self._room_for(g, sources)
        g.reporter = reporter
        self._apply(g, kind, sources, now)
        self._settle(g)

    def _room_for(self, g: _Group, sources: set[int]) -> set[int]:
        """`sources` without the new ones beyond the bounds (per group, per interface),
        counted; the lowest addresses are kept, so a repeated report keeps the same."""
        fresh = [s for s in sources if s not in g.sources and s not in g.excluded]
        in_group = MAX_SOURCES - len(g.sources) - len(g.excluded)
        on_interface = MAX_INTERFACE_SOURCES - self.source_count
        if len(fresh) <= min(in_group, on_interface):
            return sources
        if len(fresh) > in_group:
            self.ignored["too_many_sources"] += 1
        if len(fresh) > on_interface:
            self.ignored["interface_sources_full"] += 1
        fresh.sort()
        kept = max(0, min(in_group, on_interface))
        self.ignored["sources_refused"] += len(fresh) - kept
        return sources.difference(fresh[kept:])

    def on_query(self, query: Query, now: float) -> None:
        """A query heard from another router: a specific one without the S flag lowers the
        timers it names to the last member query time (RFC 3376 section 6.6.1)."""
        if query.group == 0 or query.suppress:
            return
        g = self.groups.get(query.group)
        if g is None:
            return
        count = query.qrv or self.querier.robustness
        until = now + query.max_resp * count
        if not query.sources:
            if g.mode is Mode.EXCLUDE and g.timer > until:
                g.timer = until
                self._arm(until, _GROUP_TIMER, g.group)
            return
        for source in query.sources:
            if g.sources.get(source, 0.0) > until:
                g.sources[source] = until
                self._arm(until, _SOURCE, g.group, source)
        self._compact()

    # -- the tables of RFC 3376 sections 6.4.1 and 6.4.2 ------------------------------------

    def _apply(self, g: _Group, kind: RecordType, b: set[int], now: float) -> None:
        """One record's row of the tables, in work proportional to `b` (and to what a
        filter mode change or a TO_IN's query replaces or names)."""
        size = len(g.sources) + len(g.excluded)
        changed = False  # what `wants` answers: A in INCLUDE, Y in EXCLUDE, the mode
        gmi = now + self.group_membership_interval
        if kind in _ADDING_SOURCES:
            # INCLUDE(A+B) / EXCLUDE(X+A, Y-A); (B) = GMI
            to_in = kind is RecordType.CHANGE_TO_INCLUDE
            asked = [s for s in g.sources if s not in b] if to_in else []  # Q(G,A-B), Q(G,X-A)
            for s in b:
                if s in g.excluded:
                    g.excluded.discard(s)
                    changed = True
                elif g.mode is Mode.INCLUDE and s not in g.sources:
                    changed = True
                self._set_source(g, s, gmi)
            if to_in:
                self._query_sources(g, asked, now)
                if g.mode is Mode.EXCLUDE:
                    self._query_group(g, now)  # and Q(G)
        elif kind in (RecordType.MODE_IS_EXCLUDE, RecordType.CHANGE_TO_EXCLUDE):
            if g.mode is Mode.INCLUDE:
                # EXCLUDE(A*B, B-A); (B-A) = 0; Delete(A-B)
                kept = {s: g.sources[s] for s in b if s in g.sources}  # timers: as they are
                g.excluded = {s for s in b if s not in kept}
                g.sources = kept
                g.mode, g.timer = Mode.EXCLUDE, gmi
                self._arm(gmi, _GROUP_TIMER, g.group)
                changed = True
            else:
                # EXCLUDE(B-Y, Y*B); (B-X-Y) = GMI for IS_EX, the group timer for TO_EX
                fresh = gmi if kind is RecordType.MODE_IS_EXCLUDE else g.timer
                old = g.sources
                g.sources = {s: old.get(s, fresh) for s in b if s not in g.excluded}
                for s in g.sources:
                    if s not in old:
                        self._arm(fresh, _SOURCE, g.group, s)
                excluded = {s for s in b if s in g.excluded}
                changed = len(excluded) != len(g.excluded)  # Y can only lose sources here
                g.excluded = excluded
                moved_earlier = gmi < g.timer
                g.timer = gmi
                if moved_earlier:
                    self._arm(gmi, _GROUP_TIMER, g.group)
            if kind is RecordType.CHANGE_TO_EXCLUDE:
                self._query_sources(g, list(g.sources), now)  # Q(G,A*B) / Q(G,A-Y)
        elif kind is RecordType.BLOCK_OLD_SOURCES:
            if g.mode is Mode.INCLUDE:
                self._query_sources(g, [s for s in b if s in g.sources], now)  # Q(G,A*B)
            else:
                for s in b:  # EXCLUDE(X+(A-Y), Y); (A-X-Y) = group timer
                    if s not in g.excluded and s not in g.sources:
                        g.sources[s] = g.timer
                        self._arm(g.timer, _SOURCE, g.group, s)
                self._query_sources(g, [s for s in b if s not in g.excluded], now)  # Q(G,A-Y)
        self.source_count += len(g.sources) + len(g.excluded) - size
        if changed:
            self.changed.add(g.group)

    def _set_source(self, g: _Group, source: int, until: float) -> None:
        before = g.sources.get(source)
        g.sources[source] = until
        if before is None or until < before:  # later: its timer in the heap still leads
            self._arm(until, _SOURCE, g.group, source)

    def _record(self, group: int) -> _Group | None:
        """The group's record, created if there is room (MAX_GROUPS), else None."""
        g = self.groups.get(group)
        if g is None:
            if len(self.groups) >= MAX_GROUPS:
                self.ignored["too_many_groups"] += 1
                return None
            g = self.groups[group] = _Group(group)
        return g

    def _settle(self, g: _Group) -> None:
        """Forget a record that holds nothing any more."""
        if g.idle and self.groups.get(g.group) is g:
            del self.groups[g.group]
            self._querying.discard(g.group)

    # -- specific queries (RFC 3376 section 6.6.3) -----------------------------------------

    def _query_group(self, g: _Group, now: float) -> None:
        """Q(G): only the querier sends it, lowering the group timer to LMQT first (RFC 3376
        6.6.3.1). A timer at LMQT or below already had its series: a retransmitted leave or
        TO_IN({}) does not start another (one leave, last-member-query-count queries); a
        report that raised the timer since makes the next leave a new one."""
        if not self.querier.is_querier:
            return
        until = now + self.last_member_query_time
        if g.timer <= until:
            return
        g.timer = until
        self._arm(until, _GROUP_TIMER, g.group)
        g.group_queries = self.last_member_query_count
        g.next_group_query = now
        self._arm(now, _GROUP_QUERY, g.group)
        self._querying.add(g.group)

    def _query_sources(self, g: _Group, sources: Iterable[int], now: float) -> None:
        """Q(G,A): for each source of A whose timer is above LMQT, lower it to LMQT and send
        last-member-query-count queries (RFC 3376 6.6.3.2): one already at LMQT or below is
        being asked about, its series goes on. v2 queries cannot name sources."""
        if not self.querier.is_querier or self.spec.version == 2:
            return
        until = now + self.last_member_query_time
        count = self.last_member_query_count
        started = False
        for s in sources:
            t = g.sources.get(s)
            if t is None or t <= until:
                continue
            g.sources[s] = until
            self._arm(until, _SOURCE, g.group, s)
            g.source_queries[s] = count
            started = True
        if started:
            g.next_source_query = now
            self._arm(now, _SOURCE_QUERY, g.group)
            self._querying.add(g.group)

    def _query_fields(self) -> tuple[int, int, int]:
        """(version, QRV, QQI) of the specific queries we send."""
        if self.spec.version == 2:
            return 2, 0, 0
        return 3, self.querier.robustness, round(self.querier.query_interval)

    def _send_group_query(self, g: _Group, now: float) -> Query:
        lmqi = self.spec.last_member_query_interval
        version, qrv, qqi = self._query_fields()
        lmqt = now + self.last_member_query_time
        suppress = version == 3 and g.mode is Mode.EXCLUDE and g.timer > lmqt
        g.group_queries -= 1
        if g.group_queries > 0:
            g.next_group_query = now + lmqi
            self._arm(now + lmqi, _GROUP_QUERY, g.group)
        else:
            g.next_group_query = None
            self._done_querying(g)
        return Query(version, g.group, lmqi, (), suppress, qrv, qqi)

    def _send_source_queries(self, g: _Group, now: float) -> list[Query]:
        lmqi = self.spec.last_member_query_interval
        _, qrv, qqi = self._query_fields()
        lmqt = now + self.last_member_query_time
        high = tuple(sorted(s for s in g.source_queries if g.sources.get(s, 0.0) > lmqt))
        low = tuple(sorted(s for s in g.source_queries if g.sources.get(s, 0.0) <= lmqt))
        out = [
            Query(3, g.group, lmqi, part, suppress, qrv, qqi)
            for part, suppress in ((high, True), (low, False))
            if part
        ]
        for s in list(g.source_queries):
            g.source_queries[s] -= 1
            if g.source_queries[s] <= 0 or s not in g.sources:
                del g.source_queries[s]
        if g.source_queries:
            g.next_source_query = now + lmqi
            self._arm(now + lmqi, _SOURCE_QUERY, g.group)
        else:
            g.next_source_query = None
            self._done_querying(g)
        return out

    def _done_querying(self, g: _Group) -> None:
        if not g.group_queries and not g.source_queries:
            self._querying.discard(g.group)

    def _stop_queries(self) -> None:
        """A querier that lost the election sends nothing more (RFC 3376 6.6.2)."""
        querying, self._querying = self._querying, set()
        for group in querying:
            g = self.groups.get(group)
            if g is not None:
                g.group_queries, g.next_group_query = 0, None
                g.source_queries.clear()
                g.next_source_query = None
                self._settle(g)

    # -- time --------------------------------------------------------------------------------

    def _arm(self, due: float, kind: int, group: int, source: int = 0) -> None:
        """Put a timer in the heap. Every running timer has an entry there due no later
        than it runs out: moving one later needs no new entry (the old one comes up early
        and goes back in at the new time), an entry whose timer is gone is dropped when it
        comes up (see `_compact` for how many such leftovers there can be)."""
        heapq.heappush(self._timers, (due, kind, group, source))

    def _compact(self) -> None:
        """After each input: rebuild the heap from the running timers once leftovers
        outnumber them (at most 3 timers a record, and one a source), a cost the pushes
        that left them have paid for."""
        if len(self._timers) <= 2 * (self.source_count + 3 * len(self.groups)) + 1024:
            return
        timers: list[_Timer] = []
        for group, g in self.groups.items():
            timers.extend((t, _SOURCE, group, s) for s, t in g.sources.items())
            for kind in (_GROUP_QUERY, _SOURCE_QUERY, _GROUP_TIMER):
                due = g.running(kind, 0)
                if due is not None:
                    timers.append((due, kind, group, 0))
        heapq.heapify(timers)
        self._timers = timers

    def poll(self, now: float) -> list[Query]:
        """Run the timers due at `now`; returns the specific queries to send now. Only
        what is due is looked at (and leftovers of timers moved or gone)."""
        out: list[Query] = []
        if self._querying and not self.querier.is_querier:
            self._stop_queries()
        heap, groups = self._timers, self.groups
        while heap and heap[0][0] <= now:
            _, kind, group, source = heapq.heappop(heap)
            self.timer_work += 1
            g = groups.get(group)
            due = None if g is None else g.running(kind, source)
            if g is None or due is None:
                continue  # gone
            if due > now:
                self._arm(due, kind, group, source)  # moved later
                continue
            if kind == _GROUP_QUERY:
                out.append(self._send_group_query(g, now))
            elif kind == _SOURCE_QUERY:
                out.extend(self._send_source_queries(g, now))
            elif kind == _SOURCE:  # section 6.3: INCLUDE forgets it, EXCLUDE blocks it
                del g.sources[source]
                if g.mode is Mode.EXCLUDE:
                    g.excluded.add(source)
                else:
                    self.source_count -= 1
                self.changed.add(group)
            else:  # section 6.2.2: back to INCLUDE of the sources still timed
                g.mode = Mode.INCLUDE
                self.source_count -= len(g.excluded)
                g.excluded = set()
                self.changed.add(group)
            self._settle(g)
        self._compact()
        return out

    def next_timer(self) -> float | None:
        """When `poll` has something to do next, or None: the heap's top, once leftovers of
        timers moved or gone are off it."""
        heap, groups = self._timers, self.groups
        while heap:
            due, kind, group, source = heap[0]
            self.timer_work += 1
            g = groups.get(group)
            running = None if g is None else g.running(kind, source)
            if running == due:
                return due
            if running is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (running, kind, group, source))
        return None

    # -- observation -------------------------------------------------------------------------

    def views(
        self, now: float, max_groups: int = MAX_VIEW_GROUPS, max_sources: int = MAX_VIEW_SOURCES
    ) -> list[GroupView]:
        """The lowest `max_groups` group records, each with its lowest `max_sources` sources
        and excluded sources (the rest counted in `truncated`; len(groups) says how many
        records there are): what a person reads, at a cost that does not grow with what a
        host made us remember."""
        out = []
        for group in _lowest(self.groups, max_groups):
            g = self.groups[group]
            sources = _lowest(g.sources, max_sources)
            excluded = _lowest(g.excluded, max_sources)
            shown = len(sources) + len(excluded)
            out.append(
                GroupView(
                    group=group,
                    mode=g.mode,
                    sources=tuple((s, max(0.0, g.sources[s] - now)) for s in sources),
                    excluded=tuple(excluded),
                    expires=max(0.0, g.timer - now) if g.mode is Mode.EXCLUDE else None,
                    compat=self.compat(g, now),
                    reporter=g.reporter,
                    truncated=len(g.sources) + len(g.excluded) - shown,
                )
            )
        return out
