"""IGMP against a hostile host on the link (issue 12): what it can make the router remember
is bounded and counted, timers cost what is due rather than what is remembered, views stay
small, a forged query from elsewhere is ignored, and a retransmitted leave starts no second
series of queries. Time is injected; work is counted, never timed."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.config.values import IgmpSpec
from rawfwd.control.igmp import GroupRecord, Query, RecordType, Report, V3Report
from rawfwd.control.membership import (
    MAX_INTERFACE_SOURCES,
    MAX_VIEW_GROUPS,
    MAX_VIEW_SOURCES,
    Membership,
    Mode,
)
from rawfwd.control.querier import Querier

from ..support.strategies import igmp_steps, run_igmp_step
from .test_engine_igmp import G, data, report, router

R = RecordType


def ip(text: str) -> int:
    return int(IPv4Address(text))


HOST, ME = ip("10.1.0.5"), ip("10.1.0.2")
FIRST_GROUP, FIRST_SOURCE = ip("239.1.0.0"), ip("172.16.0.0")


def member(spec: IgmpSpec | None = None) -> Membership:
    spec = spec or IgmpSpec()
    q = Querier(spec, ME)
    q.start(0.0)
    return Membership(spec, q)


def allow(group: int, sources: range | list[int]) -> V3Report:
    return V3Report((GroupRecord(R.ALLOW_NEW_SOURCES, group, tuple(sources)),))


def fill(m: Membership, sources: int, per_group: int = 1000, at: float = 0.0) -> None:
    """Reports that make `m` remember `sources` sources, `per_group` in each group."""
    for n in range(0, sources, per_group):
        first = FIRST_SOURCE + n
        m.on_report(HOST, allow(FIRST_GROUP + n, range(first, first + per_group)), at)


def remembered(m: Membership) -> int:
    return sum(len(g.sources) + len(g.excluded) for g in m.groups.values())


# -- (1) work and memory bounded ------------------------------------------------------------


def work_of_a_small_report(sources: int) -> int:
    """Timer work of one small report, the poll after it and the next `next_timer`, with
    `sources` remembered (their timers far from due)."""
    m = member()
    fill(m, sources)
    m.poll(0.0)
    m.next_timer()
    before = m.timer_work
    m.on_report(HOST, allow(ip("239.9.9.9"), [ip("10.0.0.1")]), 1.0)
    m.poll(1.0)
    m.next_timer()
    return m.timer_work - before


def test_timer_work_does_not_grow_with_the_sources_remembered() -> None:
    assert work_of_a_small_report(1000) == work_of_a_small_report(MAX_INTERFACE_SOURCES)


def test_poll_looks_only_at_what_is_due() -> None:
    m = member()
    fill(m, 8000)  # due at GMI = 260 s
    m.on_report(HOST, allow(ip("239.9.9.9"), [ip("10.0.0.1"), ip("10.0.0.2")]), 100.0)
    m.on_report(
        HOST,
        V3Report((GroupRecord(R.BLOCK_OLD_SOURCES, ip("239.9.9.9"), (ip("10.0.0.1"),)),)),
        101.0,
    )
    before = m.timer_work
    sent = [q for t in (101.0, 102.0, 103.0) for q in m.poll(t)]
    # two Q(G,S) (last member query count), then the source's timer at LMQT: 3 timers due
    assert [q.sources for q in sent] == [(ip("10.0.0.1"),), (ip("10.0.0.1"),)]
    assert not m.wants(ip("10.0.0.1"), ip("239.9.9.9"))
    assert m.timer_work - before == 3


def test_the_engine_settles_a_report_without_scanning_the_records() -> None:
    r = router()
    membership = r.igmp._ports["eth1"].membership
    fill(membership, MAX_INTERFACE_SOURCES, per_group=1024, at=1.0)
    r.handle_timer(1.0)
    assert r.next_timer() == 31.25  # the next startup query
    before = membership.timer_work
    report(r, "eth1", allow(ip("239.9.9.9"), [ip("10.0.0.1")]), 2.0)
    assert r.next_timer() == 31.25
    assert membership.timer_work - before <= 2  # a look at the heap's top, twice at most


def test_timers_moved_or_gone_leave_a_bounded_heap() -> None:
    m = member()
    sources = range(FIRST_SOURCE, FIRST_SOURCE + 1000)
    for n in range(200):  # 200,000 timers started, each ended by the next report
        kind = R.MODE_IS_INCLUDE if n % 2 == 0 else R.MODE_IS_EXCLUDE
        listed = tuple(sources) if n % 2 == 0 else ()
        m.on_report(HOST, V3Report((GroupRecord(kind, FIRST_GROUP, listed),)), n * 0.1)
        m.poll(n * 0.1)
        assert m.pending_timers <= 2 * (remembered(m) + 3 * len(m.groups)) + 1024
    assert m.next_timer() == earliest(m)


def test_an_interface_remembers_at_most_its_bound_of_sources_and_counts_the_rest() -> None:
    m = member()
    fill(m, 17 * 1000)  # 17 groups of 1,000: the 17th has room for 384
    assert m.source_count == remembered(m) == MAX_INTERFACE_SOURCES
    assert len(m.groups[FIRST_GROUP + 16000].sources) == MAX_INTERFACE_SOURCES - 16000
    assert m.ignored["interface_sources_full"] == 1
    assert m.ignored["sources_refused"] == 17000 - MAX_INTERFACE_SOURCES
    # full: a new group's sources are refused (and counted), known ones still refreshed
    m.on_report(HOST, allow(ip("239.9.9.9"), [ip("10.0.0.1")]), 10.0)
    assert ip("239.9.9.9") not in m.groups
    assert m.ignored["interface_sources_full"] == 2
    m.on_report(HOST, allow(FIRST_GROUP, [FIRST_SOURCE]), 10.0)
    assert m.groups[FIRST_GROUP].sources[FIRST_SOURCE] == 10.0 + 260.0
    # an excluded source counts too, and the count follows the timers down
    m.on_report(HOST, V3Report((GroupRecord(R.CHANGE_TO_EXCLUDE, ip("239.9.9.8"), (1,)),)), 11.0)
    assert m.groups[ip("239.9.9.8")].excluded == set()  # no room: EXCLUDE({}), all wanted
    assert m.source_count == remembered(m) == MAX_INTERFACE_SOURCES
    m.poll(265.0)
    assert m.source_count == remembered(m) == 1  # FIRST_SOURCE, refreshed at 10 s
    m.on_report(HOST, allow(ip("239.9.9.9"), [ip("10.0.0.1")]), 266.0)
    assert m.wants(ip("10.0.0.1"), ip("239.9.9.9"))


def test_views_list_the_lowest_groups_and_sources_and_count_the_rest() -> None:
    m = member()
    m.on_report(HOST, allow(FIRST_GROUP, range(FIRST_SOURCE, FIRST_SOURCE + 100)), 0.0)
    for n in range(1, 300):
        m.on_report(HOST, allow(FIRST_GROUP + n, [FIRST_SOURCE]), 0.0)
    views = m.views(0.0)
    assert [v.group for v in views] == [FIRST_GROUP + n for n in range(MAX_VIEW_GROUPS)]
    first = views[0]
    assert [s for s, _ in first.sources] == list(range(FIRST_SOURCE, FIRST_SOURCE + 64))
    assert first.truncated == 100 - MAX_VIEW_SOURCES
    assert views[1].truncated == 0


def test_the_groups_json_says_what_it_left_out() -> None:
    r = router()
    membership = r.igmp._ports["eth1"].membership
    membership.on_report(HOST, allow(FIRST_GROUP, range(FIRST_SOURCE, FIRST_SOURCE + 70)), 1.0)
    for n in range(1, MAX_VIEW_GROUPS + 5):
        membership.on_report(HOST, allow(FIRST_GROUP + n, [FIRST_SOURCE]), 1.0)
    shown = r.igmp_json(1.0)
    assert shown is not None
    eth1 = next(i for i in shown["interfaces"] if i["interface"] == "eth1")
    assert len(eth1["groups"]) == MAX_VIEW_GROUPS
    assert eth1["groups_truncated"] == 5
    assert eth1["groups"][0]["truncated"] == 70 - MAX_VIEW_SOURCES
    assert "truncated" not in eth1["groups"][1]
    eth2 = next(i for i in shown["interfaces"] if i["interface"] == "eth2")
    assert "groups_truncated" not in eth2  # nothing left out: the JSON as before


# the heap against a brute-force reading of the records, under any sequence of input

SOURCES = [ip(f"10.0.0.{n}") for n in range(1, 5)]
GROUPS = [ip("239.1.1.1"), ip("239.2.2.2")]
steps = igmp_steps(GROUPS, SOURCES)


def earliest(m: Membership) -> float | None:
    """The next time anything in the records is due, read from the records themselves."""
    times = []
    for g in m.groups.values():
        times.extend(g.sources.values())
        if g.mode is Mode.EXCLUDE:
            times.append(g.timer)
        times.extend(t for t in (g.next_group_query, g.next_source_query) if t is not None)
    return min(times, default=None)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40))
def test_next_timer_and_the_source_count_match_the_records(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    m = member()
    now = 0.0
    for step in sequence:
        now = run_igmp_step(m, HOST, step, now)
        assert m.next_timer() == earliest(m)
        assert m.source_count == remembered(m)


# -- (3) forged queries --------------------------------------------------------------------


def test_a_query_from_outside_the_subnets_is_ignored_counted_and_we_stay_querier() -> None:
    r = router()
    report(r, "eth1", Report(2, ip(G)), 1.0)
    forged = Query(3, 0, 10.0, qrv=7, qqi=31744)  # QQIC 255
    report(r, "eth1", forged, 2.0, src="1.1.1.1")
    report(r, "eth1", Query(3, ip(G), 1.0, qrv=7, qqi=31744), 2.0, src="1.1.1.1")
    (view,) = [v for v in r.igmp_views(2.0) if v.name == "eth1"]
    assert (view.querier, view.is_querier) == ("10.1.0.10", True)
    assert view.counters["foreign_query"] == 2
    assert "queries" not in view.counters
    assert data(r, "eth0", "10.0.0.5", now=3.0) == {"eth1"}
    r.handle_timer(10.0)  # the forged Q(G) lowered no timer: the member is still there
    assert data(r, "eth0", "10.0.0.5", now=10.0) == {"eth1"}


def test_a_query_upstream_from_outside_its_subnets_is_ignored_and_counted() -> None:
    r = router(eth0="upstream = true")
    report(r, "eth0", Query(1, 0, 10.0), 1.0, src="192.0.2.1")  # would make us report v1
    proxy = r.proxy_view()
    assert proxy is not None
    assert dict(proxy.counters) == {"foreign_query": 1}
    assert (proxy.querier, proxy.version) == (0, 3)


# -- (13) a retransmitted leave ------------------------------------------------------------


def group_queries(m: Membership, events: dict[float, RecordType], until: float) -> list[float]:
    """Times of the Q(G)s `m` sends while a member sends `events` (record to G at a time)."""
    group = ip(G)
    m.on_report(HOST, V3Report((GroupRecord(R.MODE_IS_EXCLUDE, group, ()),)), 0.0)
    sent: list[float] = []
    times = sorted(events)
    now = 0.0
    while now <= until:
        if times and times[0] <= now:
            at = times.pop(0)
            m.on_report(HOST, V3Report((GroupRecord(events[at], group, ()),)), at)
        sent.extend(now for q in m.poll(now) if q.group == group and not q.sources)
        now = round(now + 0.1, 1)
    return sent


def test_a_retransmitted_to_in_does_not_restart_the_group_queries() -> None:
    m = member()
    to_in = R.CHANGE_TO_INCLUDE
    sent = group_queries(m, {10.0: to_in, 10.5: to_in, 11.5: to_in}, until=20.0)
    assert sent == [10.0, 11.0]  # last member query count (robustness 2), 1 s apart
    assert ip(G) not in m.groups  # LMQT after the first: gone at 12 s


def test_a_retransmitted_to_in_does_not_restart_a_longer_series_either() -> None:
    m = member(IgmpSpec(last_member_count=3))
    sent = group_queries(m, {10.0: R.CHANGE_TO_INCLUDE, 11.2: R.CHANGE_TO_INCLUDE}, until=20.0)
    assert sent == [10.0, 11.0, 12.0]


def test_a_leave_after_a_member_answered_is_a_new_leave() -> None:
    m = member()
    events = {10.0: R.CHANGE_TO_INCLUDE, 10.5: R.MODE_IS_EXCLUDE, 10.7: R.CHANGE_TO_INCLUDE}
    sent = group_queries(m, events, until=20.0)
    assert sent == [10.0, 10.7, 11.7]  # the answer raised the timer: asked again


def test_a_retransmitted_block_does_not_restart_the_source_queries() -> None:
    m = member()
    group, source = ip(G), ip("10.0.0.1")
    m.on_report(HOST, allow(group, [source]), 0.0)
    block = V3Report((GroupRecord(R.BLOCK_OLD_SOURCES, group, (source,)),))
    sent = []
    for now in (10.0, 10.5, 11.0, 11.5, 12.0, 13.0):
        if now in (10.0, 10.5, 11.5):
            m.on_report(HOST, block, now)
        sent.extend((now, q.sources) for q in m.poll(now))
    assert sent == [(10.0, (source,)), (11.0, (source,))]
    assert not m.wants(source, group)
