"""IGMP group membership, the router side (RFC 3376 sections 6-7, RFC 4604), with injected time."""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.config.values import IgmpSpec
from rawfwd.control.igmp import GroupRecord, Query, RecordType, Report, V3Report
from rawfwd.control.membership import Membership, Mode
from rawfwd.control.querier import Querier

R = RecordType


def ip(text: str) -> int:
    return int(IPv4Address(text))


G, SSM = ip("239.1.1.1"), ip("232.1.1.1")
S1, S2, S3 = ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")
HOST, OTHER_ROUTER = ip("10.1.0.5"), ip("10.1.0.1")
ME = ip("10.1.0.2")


def member(spec: IgmpSpec | None = None, querier: bool = True) -> Membership:
    spec = spec or IgmpSpec()
    q = Querier(spec, ME)
    q.start(0.0)
    if not querier:
        q.on_query(OTHER_ROUTER, Query(3, 0, 10.0), 0.0)
    return Membership(spec, q)


def v3(m: Membership, kind: RecordType, *sources: int, group: int = G, at: float = 0.0) -> None:
    m.on_report(HOST, V3Report((GroupRecord(kind, group, sources),)), at)


def run(m: Membership, until: float) -> list[tuple[float, Query]]:
    """Every specific query `m` sends up to `until`, driving it by its own next_timer."""
    sent = []
    for _ in range(1000):  # bounded: a timer that never moves fails the test, not CI
        t = m.next_timer()
        if t is None or t > until:
            m.poll(until)
            return sent
        sent.extend((t, q) for q in m.poll(t))
    raise AssertionError(f"timer stuck at {m.next_timer()}")


def state(m: Membership, group: int = G) -> tuple[Mode, set[int], set[int]] | None:
    g = m.groups.get(group)
    return None if g is None else (g.mode, set(g.sources), set(g.excluded))


def test_v2_join_then_leave_is_queried_and_ends_within_the_last_member_query_time() -> None:
    m = member()
    m.on_report(HOST, Report(2, G), 0.0)
    assert m.wants(S1, G)
    assert m.wants(S2, G)
    assert m.changed == {G}
    m.changed.clear()
    m.on_report(HOST, Report(2, G, leave=True), 100.0)
    sent = run(m, 100.0 + 2.0)
    # last member query count (= robustness 2) group-specific queries, 1 s apart, to G
    assert [(t, q.group, q.sources, q.suppress) for t, q in sent] == [
        (100.0, G, (), False),
        (101.0, G, (), False),
    ]
    assert not m.wants(S1, G)  # silence for LMQT = 2 s: gone
    assert G not in m.groups
    assert m.changed == {G}


def test_a_report_after_the_leave_keeps_the_group_and_sets_the_s_flag() -> None:
    m = member()
    m.on_report(HOST, Report(2, G), 0.0)
    m.on_report(HOST, Report(2, G, leave=True), 10.0)
    assert [q.suppress for q in m.poll(10.0)] == [False]
    m.on_report(ip("10.1.0.6"), Report(2, G), 10.5)  # another member answers
    retransmission = m.poll(11.0)
    assert [q.suppress for q in retransmission] == [True]  # RFC 3376 6.6.3.1
    run(m, 50.0)
    assert m.wants(S1, G)
    assert m.groups[G].reporter == ip("10.1.0.6")


def test_membership_times_out_after_the_group_membership_interval() -> None:
    m = member()
    m.on_report(HOST, Report(2, G), 0.0)
    run(m, 259.0)
    assert m.wants(S1, G)
    run(m, 260.0)  # GMI = 2 * 125 + 10
    assert not m.wants(S1, G)


def test_v3_include_wants_only_its_sources_and_block_asks_about_them() -> None:
    m = member()
    v3(m, R.ALLOW_NEW_SOURCES, S1, S2)
    assert state(m) == (Mode.INCLUDE, {S1, S2}, set())
    assert m.wants(S1, G)
    assert not m.wants(S3, G)
    v3(m, R.BLOCK_OLD_SOURCES, S1, S3, at=5.0)  # only S1 is in A: Q(G, A*B)
    sent = run(m, 5.0 + 2.0)
    assert [(t, q.sources) for t, q in sent] == [(5.0, (S1,)), (6.0, (S1,))]
    assert state(m) == (Mode.INCLUDE, {S2}, set())
    assert m.wants(S2, G)
    assert not m.wants(S1, G)


def test_include_to_exclude_keeps_the_common_sources_and_excludes_the_new() -> None:
    m = member()
    v3(m, R.MODE_IS_INCLUDE, S1, S2)
    v3(m, R.CHANGE_TO_EXCLUDE, S2, S3, at=1.0)  # EXCLUDE(A*B, B-A); Q(G, A*B)
    assert state(m) == (Mode.EXCLUDE, {S2}, {S3})
    assert [q.sources for q in m.poll(1.0)] == [(S2,)]
    assert m.wants(S1, G)
    assert m.wants(S2, G)
    assert not m.wants(S3, G)
    # S2's timer was lowered to LMQT: unanswered, it joins the excluded
    run(m, 1.0 + 2.0)
    assert state(m) == (Mode.EXCLUDE, set(), {S2, S3})


def test_exclude_is_exclude_replaces_the_lists() -> None:
    m = member()
    v3(m, R.MODE_IS_EXCLUDE, S1)  # EXCLUDE({}, {S1})
    v3(m, R.ALLOW_NEW_SOURCES, S2)  # EXCLUDE({S2}, {S1})
    v3(m, R.MODE_IS_EXCLUDE, S1, S3)  # EXCLUDE(A-Y, Y*A) = ({S3}, {S1}); X-A deleted
    assert state(m) == (Mode.EXCLUDE, {S3}, {S1})
    assert m.groups[G].sources[S3] == 260.0  # (A-X-Y) = GMI


def test_exclude_to_include_sends_both_queries_and_falls_back_to_include() -> None:
    m = member()
    v3(m, R.CHANGE_TO_EXCLUDE)
    m.poll(0.0)
    v3(m, R.ALLOW_NEW_SOURCES, S1, at=10.0)
    v3(m, R.CHANGE_TO_INCLUDE, S2, at=20.0)  # EXCLUDE(X+A, Y-A); Q(G, X-A), Q(G)
    sent = m.poll(20.0)
    assert sorted((q.group, q.sources) for q in sent) == [(G, ()), (G, (S1,))]
    run(m, 20.0 + 2.0)  # nobody answers: the group timer (lowered to LMQT) ends EXCLUDE
    assert state(m) == (Mode.INCLUDE, {S2}, set())
    assert m.wants(S2, G)
    assert not m.wants(S1, G)
    assert not m.wants(S3, G)


def test_block_in_exclude_mode_adds_the_sources_with_the_group_timer_then_asks() -> None:
    m = member()
    v3(m, R.MODE_IS_EXCLUDE, S3)
    v3(m, R.BLOCK_OLD_SOURCES, S1, S3, at=100.0)  # EXCLUDE(X+(A-Y), Y); Q(G, A-Y)
    assert state(m) == (Mode.EXCLUDE, {S1}, {S3})
    assert [q.sources for q in m.poll(100.0)] == [(S1,)]
    run(m, 103.0)
    assert not m.wants(S1, G)
    assert m.wants(S2, G)


def test_v2_host_present_ignores_block_and_source_lists_until_it_times_out() -> None:
    m = member()
    m.on_report(HOST, Report(2, G), 0.0)
    v3(m, R.BLOCK_OLD_SOURCES, S1, at=1.0)
    v3(m, R.CHANGE_TO_EXCLUDE, S1, at=2.0)  # as TO_EX({})
    assert m.wants(S1, G)
    assert m.ignored["block_in_old_mode"] == 1
    assert m.views(2.0)[0].compat == 2
    # a v3 host keeps the group; the v2 host's timer (260 s) runs out
    for t in range(100, 400, 100):
        v3(m, R.MODE_IS_EXCLUDE, at=float(t))
        run(m, float(t))
    assert m.views(300.0)[0].compat == 3
    v3(m, R.BLOCK_OLD_SOURCES, S1, at=300.0)
    run(m, 310.0)
    assert not m.wants(S1, G)


def test_v1_host_present_ignores_leaves() -> None:
    m = member()
    m.on_report(HOST, Report(1, G), 0.0)
    m.on_report(HOST, Report(2, G, leave=True), 1.0)
    assert m.poll(1.0) == []
    assert m.ignored["leave_in_v1_mode"] == 1
    run(m, 5.0)
    assert m.wants(S1, G)


def test_source_specific_groups_take_only_include() -> None:
    m = member()
    m.on_report(HOST, Report(2, SSM), 0.0)
    v3(m, R.CHANGE_TO_EXCLUDE, group=SSM)
    assert SSM not in m.groups
    assert (m.ignored["ssm_any_source"], m.ignored["ssm_exclude"]) == (1, 1)
    v3(m, R.ALLOW_NEW_SOURCES, S1, group=SSM)
    assert m.wants(S1, SSM)
    assert not m.wants(S2, SSM)


def test_a_non_querier_sends_nothing_and_lowers_timers_on_the_queriers_query() -> None:
    m = member(querier=False)
    m.on_report(HOST, Report(2, G), 0.0)
    m.on_report(HOST, Report(2, G, leave=True), 10.0)
    assert run(m, 11.0) == []
    assert m.wants(S1, G)
    m.on_query(Query(3, G, 1.0, qrv=2), 11.0)  # the querier's Q(G): LMQT = 2 s
    run(m, 12.9)
    assert m.wants(S1, G)
    run(m, 13.0)
    assert not m.wants(S1, G)


def test_a_version_2_router_sends_v2_group_queries_and_no_source_queries() -> None:
    m = member(IgmpSpec(version=2))
    v3(m, R.ALLOW_NEW_SOURCES, S1)
    v3(m, R.BLOCK_OLD_SOURCES, S1, at=1.0)
    assert m.poll(1.0) == []
    m.on_report(HOST, Report(2, G), 2.0)
    m.on_report(HOST, Report(2, G, leave=True), 3.0)
    assert [(q.version, q.group) for q in m.poll(3.0)] == [(2, G)]


def test_configured_last_member_query_count_and_interval() -> None:
    m = member(IgmpSpec(last_member_query_interval=0.5, last_member_count=3))
    m.on_report(HOST, Report(2, G), 0.0)
    m.on_report(HOST, Report(2, G, leave=True), 10.0)
    sent = run(m, 20.0)
    assert [t for t, _ in sent] == [10.0, 10.5, 11.0]
    assert all(q.max_resp == 0.5 for _, q in sent)
    assert G not in m.groups


def test_v1_host_present_ignores_a_v3_to_include_too() -> None:
    m = member()
    m.on_report(HOST, Report(1, G), 0.0)
    v3(m, R.MODE_IS_EXCLUDE, at=0.0)
    v3(m, R.CHANGE_TO_INCLUDE, at=50.0)  # a v3 host leaves; the v1 member cannot say so
    assert m.poll(50.0) == []
    run(m, 60.0)
    assert m.wants(S1, G)
    assert m.ignored["leave_in_v1_mode"] == 1
