"""The proxy's upstream reports as an RFC 3376 router or an older querier sees them:
retransmissions repeat the pending state-change records (RFC 3376 section 5.1), and no
v1/v2 report or leave names a source-specific group (RFC 4604). Time is injected and the
random draw fixed at 0.25, so each retransmission is due 0.25 s (of the 1 s unsolicited
report interval) after the transmission before it."""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.control.igmp import (
    ALL_ROUTERS,
    IGMPV3_ROUTERS,
    GroupRecord,
    Query,
    RecordType,
    Report,
    V3Report,
)
from rawfwd.control.membership import Mode
from rawfwd.control.proxy import UpstreamHost

R = RecordType
INC, EXC = Mode.INCLUDE, Mode.EXCLUDE
G = int(IPv4Address("239.1.1.1"))
SSM = int(IPv4Address("232.1.1.1"))
S1, S2 = int(IPv4Address("10.0.0.1")), int(IPv4Address("10.0.0.2"))
QUERIER = int(IPv4Address("192.168.1.1"))


def host(robustness: int = 2) -> UpstreamHost:
    return UpstreamHost("up", robustness=robustness, random=lambda: 0.25)


def sent(h: UpstreamHost, now: float) -> list[tuple[RecordType, tuple[int, ...]]]:
    """The records of the v3 reports due at `now`, as (type, sources)."""
    out: list[tuple[RecordType, tuple[int, ...]]] = []
    for destination, message in h.poll(now):
        assert destination == IGMPV3_ROUTERS
        assert isinstance(message, V3Report)
        out.extend((r.kind, r.sources) for r in message.records)
    return out


# -- item 10: retransmissions repeat the state-change records ----------------------------------


def test_a_source_list_change_is_retransmitted_as_itself() -> None:
    h = host()
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert h.poll(0.0) == [
        (IGMPV3_ROUTERS, V3Report((GroupRecord(R.ALLOW_NEW_SOURCES, G, (S1,)),)))
    ]
    assert h.next_timer() == 0.25
    assert sent(h, 0.25) == [(R.ALLOW_NEW_SOURCES, (S1,))]  # was TO_IN(S1)
    assert h.next_timer() is None
    h.update(G, (INC, frozenset({S1, S2})), 10.0)
    assert sent(h, 10.0) == [(R.ALLOW_NEW_SOURCES, (S2,))]
    assert sent(h, 10.25) == [(R.ALLOW_NEW_SOURCES, (S2,))]  # was TO_IN(S1, S2)
    h.update(G, (INC, frozenset({S2})), 20.0)
    assert sent(h, 20.0) == [(R.BLOCK_OLD_SOURCES, (S1,))]
    assert sent(h, 20.25) == [(R.BLOCK_OLD_SOURCES, (S1,))]  # was TO_IN(S2)
    assert h.next_timer() is None


def test_an_exclude_source_list_change_is_retransmitted_as_itself() -> None:
    h = host()
    h.update(G, (EXC, frozenset()), 0.0)
    assert sent(h, 0.0) == [(R.CHANGE_TO_EXCLUDE, ())]
    assert sent(h, 0.25) == [(R.CHANGE_TO_EXCLUDE, ())]  # a filter mode change: as itself
    h.update(G, (EXC, frozenset({S1})), 10.0)
    assert sent(h, 10.0) == [(R.BLOCK_OLD_SOURCES, (S1,))]
    assert sent(h, 10.25) == [(R.BLOCK_OLD_SOURCES, (S1,))]  # was TO_EX(S1)
    h.update(G, (EXC, frozenset()), 20.0)
    assert sent(h, 20.0) == [(R.ALLOW_NEW_SOURCES, (S1,))]
    assert sent(h, 20.25) == [(R.ALLOW_NEW_SOURCES, (S1,))]  # was TO_EX()
    assert h.next_timer() is None


def test_robustness_three_sends_a_change_three_times() -> None:
    h = host(robustness=3)
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert [sent(h, t) for t in (0.0, 0.25, 0.5)] == [[(R.ALLOW_NEW_SOURCES, (S1,))]] * 3
    assert h.next_timer() is None


def test_a_change_meanwhile_is_merged_into_the_pending_report() -> None:
    h = host()
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert sent(h, 0.0) == [(R.ALLOW_NEW_SOURCES, (S1,))]
    h.update(G, (INC, frozenset({S1, S2})), 0.1)  # before S1's retransmission
    assert sent(h, 0.1) == [(R.ALLOW_NEW_SOURCES, (S1, S2))]  # S1's last one merged in
    assert sent(h, 0.35) == [(R.ALLOW_NEW_SOURCES, (S2,))]  # S1 was said twice: done
    assert h.next_timer() is None


def test_a_source_allowed_then_blocked_meanwhile_is_retransmitted_as_blocked() -> None:
    h = host()
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert sent(h, 0.0) == [(R.ALLOW_NEW_SOURCES, (S1,))]
    h.update(G, None, 0.1)
    assert sent(h, 0.1) == [(R.BLOCK_OLD_SOURCES, (S1,))]
    assert sent(h, 0.35) == [(R.BLOCK_OLD_SOURCES, (S1,))]  # was TO_IN()
    assert h.next_timer() is None


def test_a_filter_mode_change_is_said_first_then_source_changes_made_meanwhile() -> None:
    h = host()
    h.update(G, (EXC, frozenset()), 0.0)
    assert sent(h, 0.0) == [(R.CHANGE_TO_EXCLUDE, ())]
    h.update(G, (EXC, frozenset({S1})), 0.1)
    # the mode change's last transmission, stating S1 too; then S1's change as itself:
    # a source's count runs down with every report sent (RFC 3376 section 5.1)
    assert sent(h, 0.1) == [(R.CHANGE_TO_EXCLUDE, (S1,))]
    assert sent(h, 0.35) == [(R.BLOCK_OLD_SOURCES, (S1,))]
    assert h.next_timer() is None


def test_a_change_undone_before_it_was_sent_leaves_the_pending_retransmission() -> None:
    h = host()
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert sent(h, 0.0) == [(R.ALLOW_NEW_SOURCES, (S1,))]
    h.update(G, (INC, frozenset({S1, S2})), 0.1)
    h.update(G, (INC, frozenset({S1})), 0.1)  # undone before anything went out
    assert sent(h, 0.1) == [(R.ALLOW_NEW_SOURCES, (S1,))]  # only S1's retransmission
    assert h.next_timer() is None


def test_changes_between_two_transmissions_are_said_as_their_net_change() -> None:
    h = host()
    h.update(G, (INC, frozenset({S1})), 0.0)
    assert [sent(h, t) for t in (0.0, 0.25)] == [[(R.ALLOW_NEW_SOURCES, (S1,))]] * 2
    h.update(G, (EXC, frozenset()), 10.0)  # a mode change and back, before either went out
    h.update(G, (INC, frozenset({S1, S2})), 10.0)
    assert sent(h, 10.0) == [(R.ALLOW_NEW_SOURCES, (S2,))]
    assert sent(h, 10.25) == [(R.ALLOW_NEW_SOURCES, (S2,))]
    assert h.next_timer() is None


# -- item 11: no v1/v2 report or leave for 232/8 ----------------------------------------------


def test_a_v2_querier_hears_no_report_or_leave_for_an_ssm_group() -> None:
    h = host()
    h.on_query(QUERIER, Query(2, 0, 10.0), 0.0)  # answer due at 0.25 x 10 s
    h.update(SSM, (INC, frozenset({S1})), 1.0)  # a 232.1.1.1 member downstream
    h.update(G, (EXC, frozenset()), 1.0)
    assert h.version == 2
    assert h.poll(1.0) == [(G, Report(2, G))]  # the state change: 239.1.1.1 only
    assert h.poll(1.25) == [(G, Report(2, G))]  # its retransmission
    assert h.poll(2.5) == [(G, Report(2, G))]  # the answer to the general query
    h.on_query(QUERIER, Query(2, SSM, 10.0), 3.0)  # a group-specific query for it
    assert h.poll(5.5) == []
    h.update(SSM, None, 6.0)
    assert h.poll(6.0) == []  # no leave either
    assert h.counters["ssm_withheld"] == 5  # 3 reports, the query's answer, the leave
    h.update(G, None, 7.0)
    assert h.poll(7.0) == [(ALL_ROUTERS, Report(2, G, leave=True))]


def test_a_v1_querier_hears_no_report_for_an_ssm_group() -> None:
    h = host()
    h.on_query(QUERIER, Query(1, 0, 10.0), 0.0)
    h.update(SSM, (INC, frozenset({S1})), 1.0)
    assert h.version == 1
    assert h.poll(1.0) == []
    assert h.counters["ssm_withheld"] == 1


def test_a_v3_querier_still_hears_the_ssm_group() -> None:
    h = host()
    h.on_query(QUERIER, Query(3, 0, 10.0, qrv=2, qqi=125), 0.0)
    h.update(SSM, (INC, frozenset({S1})), 1.0)
    assert sent(h, 1.0) == [(R.ALLOW_NEW_SOURCES, (S1,))]
    assert h.counters["ssm_withheld"] == 0
