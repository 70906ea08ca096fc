"""The host side of an IGMP proxy on its upstream interface (RFC 4605 section 4.1,
RFC 3376 section 5, RFC 2236 section 3 for older queriers).

Theory of operation:

- The proxy's membership is the merger of its downstream interfaces' memberships, per
  group as RFC 3376 section 3.2 merges sockets: EXCLUDE if any interface excludes, with
  the sources every excluding interface excludes and no including interface includes;
  otherwise INCLUDE of the union. (`merge`.)
- A change of that state is reported at once as state-change records (section 5.1:
  ALLOW/BLOCK for a source list change, TO_IN/TO_EX for a filter mode change) and
  retransmitted robustness - 1 more times as the same records, never as a filter mode
  change that did not happen: an RFC 3376 router answers a TO_IN with specific queries
  (section 6.4.2). Per group the report keeps counts (section 5.1), each run down by every
  report sent: how many more times the filter mode change is to be said (as TO_IN/TO_EX
  of the current state, which says every source too) and each changed source (once no
  mode change is due: ALLOW if it is wanted now, BLOCK if not). A further change
  meanwhile is merged in: it sets the counts of what it changed (a mode change clears the
  sources'), and the merged report goes out at once. A change undone before it was sent
  sends nothing; what was pending before it still goes.
- Queries are answered with current-state records (IS_IN/IS_EX) after a delay drawn
  from the query's Max Resp Time (section 5.2); a general query's answer covers all.
- Older queriers (section 7.2.1): while a v1 or v2 query was heard within the
  older-version-querier-present timeout, reports are v1/v2 (a v2 leave when a group is
  left; v1 has none) and source lists cannot be said. Nor can a source-specific group
  (232/8) be asked for: v1/v2 reports and leaves for it are withheld, and counted as
  `ssm_withheld` (RFC 4604 section 2.2).

The same host side speaks MLD (`family=6`, RFC 4605 covers both, RFC 3810 section 6 is
its host part): reports to ff02::16 and dones to ff02::2, records of 20 bytes plus 16 per
source, and the machine's versions 2 and 3 standing for MLDv1 and MLDv2.

Pure: time and the random draw are passed in; `poll` returns (destination, message) pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..core.addr import from_packed
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
from .membership import Mode, is_ssm
from .mld import ALL_ROUTERS as MLD_ALL_ROUTERS
from .mld import MLDV2_ROUTERS

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


@dataclass(slots=True)
class _Pending:
    """A group's state-change report still to be (re)transmitted (RFC 3376 section 5.1)."""

    sent: State | None  #: the state when it last went out: what upstream was last told
    mode: int = 0  #: filter-mode-change records still to send
    sources: dict[int, int] = field(default_factory=dict)  #: source -> source-list records due
    fresh: bool = False  #: changed since it last went out
    #: the counts as the last transmission left them: what changes since are merged into
    kept_mode: int = 0
    kept_sources: dict[int, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not self.mode and not self.sources

    def merge(self, state: State | None, robustness: int) -> bool:
        """Merge the change from what upstream was last told to `state` into the counts
        the last transmission left (section 5.1); False if there is none (undone)."""
        self.mode, self.sources = self.kept_mode, dict(self.kept_sources)
        delta = changes(self.sent, state)
        for kind, sources in delta:
            if kind in (RecordType.CHANGE_TO_INCLUDE, RecordType.CHANGE_TO_EXCLUDE):
                self.mode = robustness
                self.sources.clear()  # a filter mode change record states every source
            else:
                self.sources.update(dict.fromkeys(sources, robustness))
        self.fresh = bool(delta)
        return self.fresh

    def count_down(self, state: State | None) -> None:
        """One transmission went out (whatever it could say)."""
        self.mode = max(0, self.mode - 1)
        for source in list(self.sources):
            self.sources[source] -= 1
            if self.sources[source] <= 0:
                del self.sources[source]
        self.sent, self.fresh = state, False
        self.kept_mode, self.kept_sources = self.mode, dict(self.sources)


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
        family: int = 4,
    ) -> None:
        self.interface = interface
        self.family = family
        #: where leaves (v2) / dones and current reports go, and a record's size
        if family == 6:
            self._all_routers = from_packed(MLD_ALL_ROUTERS)
            self._reports_to = from_packed(MLDV2_ROUTERS)
            self._record_size = (20, 16)
        else:
            self._all_routers, self._reports_to, self._record_size = (
                ALL_ROUTERS,
                IGMPV3_ROUTERS,
                (8, 4),
            )
        self.robustness = robustness
        self.query_interval = 125.0  # the querier's, once a v3 query said it
        self.unsolicited_interval = unsolicited_interval  # RFC 3376 8.11
        self.random = random  # a draw from [0, 1): the shell's RNG, a constant in tests
        self.reported: dict[int, State] = {}  #: what upstream is told we want
        self.querier = 0
        #: what was heard upstream, by kind, and what was withheld (`ssm_withheld`)
        self.counters: Counter[str] = Counter()
        self._older: dict[int, float] = {}  # querier version 1/2 -> present until
        self._pending: dict[int, _Pending] = {}  # groups with a state-change report due
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
        pending = self._pending.setdefault(group, _Pending(old))
        changed = pending.merge(state, self.robustness)
        if pending.done:  # back to what upstream was told, nothing left to repeat
            del self._pending[group]
        if changed:  # the merged report goes out at once
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
                now + max(self.random(), 0.05) * self.unsolicited_interval
                if self._pending
                else None
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
        """One transmission of every pending state-change report (RFC 3376 section 5.1)."""
        out: list[tuple[int, Message]] = []
        records: list[GroupRecord] = []
        for group, pending in list(self._pending.items()):
            state = self.reported.get(group)
            if self.version == 3:
                records.extend(_change_records(group, pending, state))
            elif state is not None or (self.version == 2 and pending.fresh):
                if is_ssm(group):  # RFC 4604 section 2.2: no v1/v2 report of an SSM group
                    self.counters["ssm_withheld"] += 1
                elif state is not None:
                    out.append((group, Report(self.version, group)))
                else:  # one leave (RFC 2236 section 3)
                    out.append((self._all_routers, Report(2, group, leave=True)))
            pending.count_down(state)
            if pending.done:
                del self._pending[group]
        out.extend(
            (self._reports_to, V3Report(part)) for part in _packed(records, *self._record_size)
        )
        return out

    def _current(self, states: Iterable[tuple[int, State]]) -> list[tuple[int, Message]]:
        """Current-state reports for `states` (IS_IN / IS_EX, or v1/v2 reports)."""
        if self.version < 3:
            out: list[tuple[int, Message]] = []
            for group, _ in states:
                if is_ssm(group):  # RFC 4604 section 2.2: no v1/v2 report of an SSM group
                    self.counters["ssm_withheld"] += 1
                else:
                    out.append((group, Report(self.version, group)))
            return out
        records = [
            GroupRecord(
                RecordType.MODE_IS_EXCLUDE if mode is Mode.EXCLUDE else RecordType.MODE_IS_INCLUDE,
                group,
                tuple(sorted(sources)),
            )
            for group, (mode, sources) in states
            if mode is Mode.EXCLUDE or sources
        ]
        return [(self._reports_to, V3Report(p)) for p in _packed(records, *self._record_size)]

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


def _change_records(group: int, pending: _Pending, state: State | None) -> list[GroupRecord]:
    """The records of `group` in a state-change report (RFC 3376 section 5.1): while a
    filter mode change is to be said, TO_IN/TO_EX of the current state; then ALLOW for
    the changed sources wanted now, BLOCK for those not."""
    mode, current = state or (Mode.INCLUDE, frozenset())
    if pending.mode:
        return [GroupRecord(_change_to(mode), group, tuple(sorted(current)))]
    wanted = [s for s in pending.sources if (s in current) == (mode is Mode.INCLUDE)]
    unwanted = [s for s in pending.sources if (s in current) != (mode is Mode.INCLUDE)]
    out = []
    if wanted:
        out.append(GroupRecord(RecordType.ALLOW_NEW_SOURCES, group, tuple(sorted(wanted))))
    if unwanted:
        out.append(GroupRecord(RecordType.BLOCK_OLD_SOURCES, group, tuple(sorted(unwanted))))
    return out


def _asked(state: State, sources: frozenset[int]) -> State:
    """The answer to a group-and-source-specific query (RFC 3376 section 5.2): which of
    the sources asked about are wanted, as INCLUDE; the whole state for a group query."""
    if not sources:
        return state
    mode, own = state
    return Mode.INCLUDE, (own & sources) if mode is Mode.INCLUDE else (sources - own)


def _split(record: GroupRecord, head: int, per_source: int) -> list[GroupRecord]:
    """A record too long for one report (RFC 3376 section 4.2.16): an INCLUDE-type or
    source-list record goes out as several with parts of the list; an EXCLUDE-type
    record is truncated (excluding fewer sources only asks for more traffic)."""
    n = (_REPORT_BUDGET - 2 * head) // per_source  # sources one record may list
    if len(record.sources) <= n:
        return [record]
    if record.kind in (RecordType.MODE_IS_EXCLUDE, RecordType.CHANGE_TO_EXCLUDE):
        return [GroupRecord(record.kind, record.group, record.sources[:n])]
    return [
        GroupRecord(record.kind, record.group, record.sources[i : i + n])
        for i in range(0, len(record.sources), n)
    ]


def _packed(
    records: list[GroupRecord], head: int = 8, per_source: int = 4
) -> list[tuple[GroupRecord, ...]]:
    """`records` split into reports that fit a 1500-byte MTU (RFC 3376 section 4.2.16):
    each record `head` bytes plus `per_source` per source (IGMP 8 and 4, MLD 20 and 16)."""
    parts: list[tuple[GroupRecord, ...]] = []
    part: list[GroupRecord] = []
    size = 0
    for record in (piece for whole in records for piece in _split(whole, head, per_source)):
        n = head + per_source * len(record.sources)
        if part and size + n > _REPORT_BUDGET:
            parts.append(tuple(part))
            part, size = [], 0
        part.append(record)
        size += n
    if part:
        parts.append(tuple(part))
    return parts
