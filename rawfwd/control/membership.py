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
  member query time so that silence ends forwarding quickly (section 6.6.3). A router that
  is not the querier sends nothing and lowers its timers when it hears the querier's
  specific queries (section 6.6.1).
- Compatibility (section 7.3.2): a v1 or v2 report starts that group's older-host-present
  timer. While one runs, the group is in that older mode: BLOCK records and the source
  lists of TO_EX records are ignored, and in v1 mode leaves (v2 leaves, TO_IN records)
  are ignored too: a v1 member may still be there, and it never says when it goes. A router
  configured for version 2 treats every group as at most v2.
- Source-specific groups, 232.0.0.0/8 (RFC 4604 section 2.2.4): only INCLUDE makes sense;
  v1/v2 reports and IS_EX/TO_EX records for them are ignored and counted.

Pure: time is passed in; `poll` returns the specific queries that are due and
`next_timer` says when to call it again; `changed` collects the groups whose forwarding
(what `wants` answers) may be different, for the caller to act on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum

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


class Mode(Enum):
    """A group record's filter mode (RFC 3376 section 6.2.1)."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


def is_ssm(group: int) -> bool:
    """True for 232.0.0.0/8, the source-specific multicast block (RFC 4607 section 1)."""
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

    def state(self) -> tuple[Mode, frozenset[int], frozenset[int]]:
        """What forwarding depends on."""
        return self.mode, frozenset(self.sources), frozenset(self.excluded)

    @property
    def idle(self) -> bool:
        """INCLUDE({}) with nothing pending: the same as no record at all."""
        return (
            self.mode is Mode.INCLUDE
            and not self.sources
            and not self.group_queries
            and not self.source_queries
        )


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
            return
        for record in report.records:
            self._on_record(reporter, record, now)

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
        room = MAX_SOURCES - len(g.sources) - len(g.excluded)
        fresh = sources - g.sources.keys() - g.excluded
        if len(fresh) > room:
            self.ignored["too_many_sources"] += 1
            keep = set(sorted(fresh)[: max(room, 0)])
            sources = (sources - fresh) | keep
        g.reporter = reporter
        self._apply(g, kind, sources, now)
        self._settle(g)

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
            return
        for source in query.sources:
            if g.sources.get(source, 0.0) > until:
                g.sources[source] = until

    # -- the tables of RFC 3376 sections 6.4.1 and 6.4.2 ------------------------------------

    def _apply(self, g: _Group, kind: RecordType, b: set[int], now: float) -> None:
        before = g.state()
        gmi = now + self.group_membership_interval
        if kind in _ADDING_SOURCES:
            old = set(g.sources)
            for s in b:  # INCLUDE(A+B) / EXCLUDE(X+A, Y-A); (B) = GMI
                g.sources[s] = gmi
                g.excluded.discard(s)
            if kind is RecordType.CHANGE_TO_INCLUDE:
                self._query_sources(g, old - b, now)  # Q(G,A-B) / Q(G,X-A)
                if g.mode is Mode.EXCLUDE:
                    self._query_group(g, now)  # and Q(G)
        elif kind in (RecordType.MODE_IS_EXCLUDE, RecordType.CHANGE_TO_EXCLUDE):
            if g.mode is Mode.INCLUDE:
                # EXCLUDE(A*B, B-A); (B-A) = 0; Delete(A-B)
                g.sources = {s: t for s, t in g.sources.items() if s in b}
                g.excluded = b - set(g.sources)
                asked = set(g.sources)  # TO_EX: Q(G,A*B)
            else:
                # EXCLUDE(B-Y, Y*B); (B-X-Y) = GMI for IS_EX, the group timer for TO_EX
                fresh = gmi if kind is RecordType.MODE_IS_EXCLUDE else g.timer
                g.sources = {s: g.sources.get(s, fresh) for s in b - g.excluded}
                g.excluded &= b
                asked = set(g.sources)  # TO_EX: Q(G,B-Y)
            g.mode = Mode.EXCLUDE
            if kind is RecordType.CHANGE_TO_EXCLUDE:
                self._query_sources(g, asked, now)
            g.timer = gmi
        elif kind is RecordType.BLOCK_OLD_SOURCES:
            if g.mode is Mode.INCLUDE:
                self._query_sources(g, set(g.sources) & b, now)  # Q(G,A*B)
            else:
                for s in b - g.excluded:  # EXCLUDE(X+(A-Y), Y); (A-X-Y) = group timer
                    g.sources.setdefault(s, g.timer)
                self._query_sources(g, b - g.excluded, now)  # Q(G,A-Y)
        if g.state() != before:
            self.changed.add(g.group)

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

    # -- specific queries (RFC 3376 section 6.6.3) -----------------------------------------

    def _query_group(self, g: _Group, now: float) -> None:
        """Q(G): only the querier sends it; it lowers the group timer to LMQT first."""
        if not self.querier.is_querier:
            return
        until = now + self.last_member_query_time
        if g.timer > until:
            g.timer = until
        g.group_queries = self.last_member_query_count
        g.next_group_query = now

    def _query_sources(self, g: _Group, sources: set[int], now: float) -> None:
        """Q(G,A): lowers the timers of A to LMQT; v2 queries cannot name sources."""
        sources &= set(g.sources)
        if not sources or not self.querier.is_querier or self.spec.version == 2:
            return
        until = now + self.last_member_query_time
        for s in sources:
            if g.sources[s] > until:
                g.sources[s] = until
            g.source_queries[s] = self.last_member_query_count
        g.next_source_query = now

    def _due_queries(self, g: _Group, now: float) -> list[Query]:
        out: list[Query] = []
        lmqi = self.spec.last_member_query_interval
        lmqt = now + self.last_member_query_time
        version = 2 if self.spec.version == 2 else 3
        qrv = self.querier.robustness if version == 3 else 0
        qqi = round(self.querier.query_interval) if version == 3 else 0
        if g.next_group_query is not None and g.next_group_query <= now:
            suppress = version == 3 and g.mode is Mode.EXCLUDE and g.timer > lmqt
            out.append(Query(version, g.group, lmqi, (), suppress, qrv, qqi))
            g.group_queries -= 1
            g.next_group_query = now + lmqi if g.group_queries > 0 else None
        if g.next_source_query is not None and g.next_source_query <= now:
            high = tuple(sorted(s for s in g.source_queries if g.sources.get(s, 0.0) > lmqt))
            low = tuple(sorted(s for s in g.source_queries if g.sources.get(s, 0.0) <= lmqt))
            for part, suppress in ((high, True), (low, False)):
                if part:
                    out.append(Query(3, g.group, lmqi, part, suppress, qrv, qqi))
            for s in list(g.source_queries):
                g.source_queries[s] -= 1
                if g.source_queries[s] <= 0 or s not in g.sources:
                    del g.source_queries[s]
            g.next_source_query = now + lmqi if g.source_queries else None
        return out

    # -- time --------------------------------------------------------------------------------

    def poll(self, now: float) -> list[Query]:
        """Run the timers due at `now`; returns the specific queries to send now."""
        out: list[Query] = []
        querier = self.querier.is_querier
        for g in list(self.groups.values()):
            if not querier:  # a querier that lost the election sends nothing more
                g.group_queries, g.next_group_query = 0, None
                g.source_queries.clear()
                g.next_source_query = None
            else:
                out.extend(self._due_queries(g, now))
            # every expiry changes what is forwarded: no before/after comparison needed
            expired = [s for s, t in g.sources.items() if t <= now]
            for s in expired:  # section 6.3: INCLUDE forgets it, EXCLUDE blocks it
                del g.sources[s]
                if g.mode is Mode.EXCLUDE:
                    g.excluded.add(s)
            if expired:
                self.changed.add(g.group)
            if g.mode is Mode.EXCLUDE and g.timer <= now:
                g.mode = Mode.INCLUDE  # section 6.2.2: back to INCLUDE of the timed sources
                g.excluded.clear()
                self.changed.add(g.group)
            if g.v1_until is not None and g.v1_until <= now:
                g.v1_until = None
            if g.v2_until is not None and g.v2_until <= now:
                g.v2_until = None
            self._settle(g)
        return out

    def next_timer(self) -> float | None:
        """When `poll` has something to do next, or None."""
        best: float | None = None
        for g in self.groups.values():
            times = list(g.sources.values())
            if g.mode is Mode.EXCLUDE:
                times.append(g.timer)
            for t in (g.v1_until, g.v2_until, g.next_group_query, g.next_source_query):
                if t is not None:
                    times.append(t)
            if times:
                low = min(times)
                if best is None or low < best:
                    best = low
        return best

    # -- observation -------------------------------------------------------------------------

    def views(self, now: float) -> list[GroupView]:
        """Every group record, lowest group first."""
        out = []
        for group in sorted(self.groups):
            g = self.groups[group]
            out.append(
                GroupView(
                    group=group,
                    mode=g.mode,
                    sources=tuple((s, max(0.0, t - now)) for s, t in sorted(g.sources.items())),
                    excluded=tuple(sorted(g.excluded)),
                    expires=max(0.0, g.timer - now) if g.mode is Mode.EXCLUDE else None,
                    compat=self.compat(g, now),
                    reporter=g.reporter,
                )
            )
        return out
