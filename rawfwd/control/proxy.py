"""The host side of an IGMP proxy on its upstream interface (RFC 4605 section 4.1,
RFC 3376 section 5, RFC 2236 section 3 for older queriers).

Theory of operation:

- The proxy's membership is the merger of its downstream interfaces' memberships, per
  group as RFC 3376 section 3.2 merges sockets: EXCLUDE if any interface excludes, with
  the sources every excluding interface excludes and no including interface includes;
  otherwise INCLUDE of the union. (`merge`.)
- A change of that state is reported at once as state-change records (section 5.1:
  ALLOW/BLOCK for a source list change, TO_IN/TO_EX for a filter mode change), computed
  from what the last report told upstream, so a change undone before its retransmissions
  are over is undone upstream too. The retransmissions (robustness - 1 more) say the
  whole current state as a filter mode change record, TO_EX(Y) or TO_IN(A): right
  whichever earlier report upstream missed.
- Queries are answered with current-state records (IS_IN/IS_EX) after a delay drawn
  from the query's Max Resp Time (section 5.2); a general query's answer covers all.
- Older queriers (section 7.2.1): while a v1 or v2 query was heard within the
  older-version-querier-present timeout, reports are v1/v2 (a v2 leave when a group is
  left; v1 has none) and source lists cannot be said.

Pure: time and the random draw are passed in; `poll` returns (destination, message) pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .igmp import (
    ALL_ROUTERS,
    IGMPV3_ROUTERS,
    GroupRecord,
    Message,
    Query,
    RecordType,
    Report,
    V3Report,
)
from .membership import Mode

#: what one v3 report may hold: records of 8 bytes plus 4 per source within a 1500-byte MTU
_REPORT_BUDGET = 1400

#: a group's filter state: INCLUDE(sources) or EXCLUDE(sources)
State = tuple[Mode, frozenset[int]]


def merge(states: Iterable[State]) -> State | None:
    """The merged filter state of several interfaces (RFC 3376 section 3.2); None for
    INCLUDE({}), i.e. no membership at all."""
    included: set[int] = set()
    excluded: set[int] | None = None
    for mode, sources in states:
        if mode is Mode.INCLUDE:
            included |= sources
        elif excluded is None:
            excluded = set(sources)
        else:
            excluded &= sources
    if excluded is not None:
        return Mode.EXCLUDE, frozenset(excluded - included)
    return (Mode.INCLUDE, frozenset(included)) if included else None


def _change_to(mode: Mode) -> RecordType:
    """The filter-mode-change record that moves a router to `mode` (RFC 3376 4.2.12)."""
    return RecordType.CHANGE_TO_EXCLUDE if mode is Mode.EXCLUDE else RecordType.CHANGE_TO_INCLUDE


def changes(old: State | None, new: State | None) -> list[tuple[RecordType, frozenset[int]]]:
    """State-change records from `old` to `new` (RFC 3376 section 5.1)."""
    before = old or (Mode.INCLUDE, frozenset())
    after = new or (Mode.INCLUDE, frozenset())
    if before[0] is not after[0]:
        return [(_change_to(after[0]), after[1])]
    gone, added = before[1] - after[1], after[1] - before[1]
    if after[0] is Mode.EXCLUDE:  # excluding more blocks, excluding fewer allows
        gone, added = added, gone
    out = []
    if added:
        out.append((RecordType.ALLOW_NEW_SOURCES, added))
    if gone:
        out.append((RecordType.BLOCK_OLD_SOURCES, gone))
    return out


@dataclass(frozen=True, slots=True)
class ProxyView:
    """The upstream side as the table and `rawfwd show groups` see it."""

    interface: str
    version: int  #: the IGMP version reports are sent in (the upstream querier's)
    querier: int  #: the upstream querier's address, 0 before one was heard
    groups: tuple[tuple[int, Mode, tuple[int, ...]], ...]  #: (group, mode, sources) reported
    counters: tuple[tuple[str, int], ...] = ()  #: what was heard upstream, by kind


class UpstreamHost:
    """Membership reports for the merged downstream state, on the upstream interface."""

    def __init__(
        self,
        interface: str,
        *,
        robustness: int = 2,
        unsolicited_interval: float = 1.0,
        random: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.interface = interface
        self.robustness = robustness
        self.query_interval = 125.0  # the querier's, once a v3 query said it
        self.unsolicited_interval = unsolicited_interval  # RFC 3376 8.11
        self.random = random  # a draw from [0, 1): the shell's RNG, a constant in tests
        self.reported: dict[int, State] = {}  #: what upstream is told we want
        self.querier = 0
        self.counters: Counter[str] = Counter()  #: what was heard upstream, by kind
        self._older: dict[int, float] = {}  # querier version 1/2 -> present until
        self._told: dict[int, State] = {}  # what our last report of a group said
        self._first: dict[int, list[tuple[RecordType, frozenset[int]]]] = {}  # next to say
        self._left: dict[int, int] = {}  # transmissions left of a group's change
        self._next_change: float | None = None
        self._general_at: float | None = None
        self._group_at: dict[int, tuple[float, frozenset[int]]] = {}

    @property
    def version(self) -> int:
        """The compatibility mode toward the upstream querier (RFC 3376 section 7.2.1)."""
        return min(self._older, default=3)

    # -- input -------------------------------------------------------------------------------

    def update(self, group: int, state: State | None, now: float) -> None:
        """The merged downstream state of `group` is now `state` (None: no members)."""
        old = self.reported.get(group)
        if old == state:
            return
        if state is None:
            del self.reported[group]
        else:
            self.reported[group] = state
        first = changes(self._told.get(group), state)
        if not first and self.version == 3:  # back to what upstream was told: nothing due
            self._first.pop(group, None)
            self._left.pop(group, None)
            return
        self._first[group] = first
        self._left[group] = self.robustness
        self._group_at.pop(group, None)
        self._next_change = now

    def on_query(self, source: int, query: Query, now: float) -> None:
        """A query from the upstream querier: answer it in a while (section 5.2)."""
        self.querier = source
        if query.version < 3:  # section 7.2.1: older version querier present
            timeout = self.robustness * self.query_interval + query.max_resp
            self._older[query.version] = now + timeout
        elif query.qqi:
            self.robustness = query.qrv or self.robustness
            self.query_interval = float(query.qqi)
        delay = self.random() * (query.max_resp or 10.0)
        at = now + delay
        if self._general_at is not None and self._general_at <= at:
            return  # an answer to everything goes out sooner
        if query.group == 0:
            self._general_at = at
            self._group_at.clear()
            return
        if query.group not in self.reported:
            return
        prior = self._group_at.get(query.group)
        sources = frozenset(query.sources)
        if prior is not None:  # one answer for both: the sooner time, all sources asked
            at = min(at, prior[0])
            sources = frozenset() if not prior[1] or not sources else prior[1] | sources
        self._group_at[query.group] = (at, sources)

    # -- output ------------------------------------------------------------------------------

    def poll(self, now: float) -> list[tuple[int, Message]]:
        """What is due at `now`: (destination address, message) pairs."""
        for version, until in list(self._older.items()):
            if until <= now:
                del self._older[version]
        out: list[tuple[int, Message]] = []
        if self._next_change is not None and self._next_change <= now:
            out.extend(self._state_changes())
            self._next_change = (
                now + max(self.random(), 0.05) * self.unsolicited_interval if self._left else None
            )
        if self._general_at is not None and self._general_at <= now:
            self._general_at = None
            out.extend(self._current(self.reported.items()))
        for group, (at, sources) in list(self._group_at.items()):
            if at <= now:
                del self._group_at[group]
                state = self.reported.get(group)
                if state is not None:
                    out.extend(self._current([(group, _asked(state, sources))]))
        return out

    def _state_changes(self) -> list[tuple[int, Message]]:
        out: list[tuple[int, Message]] = []
        records: list[GroupRecord] = []
        for group in list(self._left):
            state = self.reported.get(group)
            first = self._first.pop(group, None)
            if self.version == 3:
                if first is None:  # a retransmission: the whole state (section 5.1)
                    mode, sources = state or (Mode.INCLUDE, frozenset())
                    first = [(_change_to(mode), sources)]
                for kind, sources in first:
                    records.append(GroupRecord(kind, group, tuple(sorted(sources))))
            elif state is not None:
                out.append((group, Report(self.version, group)))
            elif self.version == 2 and first is not None:
                out.append((ALL_ROUTERS, Report(2, group, leave=True)))  # one leave (RFC 2236)
            if state is None:
                self._told.pop(group, None)
            else:
                self._told[group] = state
            self._left[group] -= 1
            if self._left[group] <= 0:
                del self._left[group]
        out.extend((IGMPV3_ROUTERS, V3Report(part)) for part in _packed(records))
        return out

    def _current(self, states: Iterable[tuple[int, State]]) -> list[tuple[int, Message]]:
        """Current-state reports for `states` (IS_IN / IS_EX, or v1/v2 reports)."""
        if self.version < 3:
            return [(group, Report(self.version, group)) for group, _ in states]
        records = [
            GroupRecord(
                RecordType.MODE_IS_EXCLUDE if mode is Mode.EXCLUDE else RecordType.MODE_IS_INCLUDE,
                group,
                tuple(sorted(sources)),
            )
            for group, (mode, sources) in states
            if mode is Mode.EXCLUDE or sources
        ]
        return [(IGMPV3_ROUTERS, V3Report(part)) for part in _packed(records)]

    def next_timer(self) -> float | None:
        """When `poll` has something to do next, or None."""
        times = [t for t in (self._next_change, self._general_at) if t is not None]
        times.extend(at for at, _ in self._group_at.values())
        times.extend(self._older.values())
        return min(times, default=None)

    def view(self) -> ProxyView:
        return ProxyView(
            interface=self.interface,
            version=self.version,
            querier=self.querier,
            groups=tuple(
                (group, mode, tuple(sorted(sources)))
                for group, (mode, sources) in sorted(self.reported.items())
            ),
            counters=tuple(sorted(self.counters.items())),
        )


def _asked(state: State, sources: frozenset[int]) -> State:
    """The answer to a group-and-source-specific query (RFC 3376 section 5.2): which of
    the sources asked about are wanted, as INCLUDE; the whole state for a group query."""
    if not sources:
        return state
    mode, own = state
    return Mode.INCLUDE, (own & sources) if mode is Mode.INCLUDE else (sources - own)


#: sources one record may list within _REPORT_BUDGET
_MAX_RECORD_SOURCES = (_REPORT_BUDGET - 16) // 4


def _split(record: GroupRecord) -> list[GroupRecord]:
    """A record too long for one report (RFC 3376 section 4.2.16): an INCLUDE-type or
    source-list record goes out as several with parts of the list; an EXCLUDE-type
    record is truncated (excluding fewer sources only asks for more traffic)."""
    n = _MAX_RECORD_SOURCES
    if len(record.sources) <= n:
        return [record]
    if record.kind in (RecordType.MODE_IS_EXCLUDE, RecordType.CHANGE_TO_EXCLUDE):
        return [GroupRecord(record.kind, record.group, record.sources[:n])]
    return [
        GroupRecord(record.kind, record.group, record.sources[i : i + n])
        for i in range(0, len(record.sources), n)
    ]


def _packed(records: list[GroupRecord]) -> list[tuple[GroupRecord, ...]]:
    """`records` split into reports that fit a 1500-byte MTU (RFC 3376 section 4.2.16)."""
    parts: list[tuple[GroupRecord, ...]] = []
    part: list[GroupRecord] = []
    size = 0
    for record in (piece for whole in records for piece in _split(whole)):
        n = 8 + 4 * len(record.sources)
        if part and size + n > _REPORT_BUDGET:
            parts.append(tuple(part))
            part, size = [], 0
        part.append(record)
        size += n
    if part:
        parts.append(tuple(part))
    return parts
