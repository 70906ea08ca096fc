"""IGMP querier election and general queries (RFC 3376 6.6, 8) with injected time."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.control.igmp import Query, build, parse
from rawfwd.control.querier import Querier, QuerierSpec

LOW, HIGH = int(IPv4Address("10.0.0.1")), int(IPv4Address("10.0.0.2"))


def run(q: Querier, until: float) -> list[float]:
    """Times at which `q` sent a general query, driving it by its own `next_timer`."""
    sent = []
    for _ in range(1000):  # bounded: a timer that never moves fails the test, not CI
        t = q.next_timer()
        if t is None or t > until:
            return sent
        if q.poll(t):
            sent.append(t)
    raise AssertionError(f"timer stuck at {q.next_timer()}")


def test_rfc_3376_defaults() -> None:
    spec = QuerierSpec()
    assert (spec.startup_query_interval, spec.startup_query_count) == (31.25, 2)
    assert spec.group_membership_interval == 260.0
    assert spec.other_querier_present_interval == 255.0


def test_startup_queries_then_the_query_interval() -> None:
    q = Querier(QuerierSpec(), LOW)
    assert q.start(0.0) == [q.general_query()]
    assert run(q, 400.0) == [31.25, 156.25, 281.25]
    assert q.is_querier


def test_the_general_query_says_what_rfc_3376_wants() -> None:
    query = Querier(QuerierSpec(), LOW).general_query()
    assert query == Query(version=3, group=0, max_resp=10.0, qrv=2, qqi=125)
    assert parse(build(query)) == query
    v2 = Querier(QuerierSpec(version=2), LOW).general_query()
    assert parse(build(v2)) == Query(version=2, group=0, max_resp=10.0)


def test_a_lower_address_takes_over_and_we_resume_when_it_goes_quiet() -> None:
    q = Querier(QuerierSpec(), HIGH)
    q.start(0.0)
    q.on_query(LOW, Query(version=3, group=0, max_resp=10.0, qrv=3, qqi=60), 5.0)
    assert not q.is_querier
    assert q.querier_address == LOW
    assert (q.robustness, q.query_interval) == (3, 60.0)  # adopted from the querier
    # the other-querier-present interval with its values (RFC 3376 8.5): 3 x 60 + 10 / 2
    assert run(q, 5.0 + 184.9) == []  # quiet for less than that
    q.on_query(LOW, Query(version=3, group=0, max_resp=10.0, qrv=3, qqi=60), 100.0)
    assert run(q, 100.0 + 184.9) == []  # each query from it restarts the timer
    assert run(q, 285.0) == [285.0]  # 185 s of silence: we query at once
    assert q.is_querier
    assert q.querier_address == HIGH
    assert (q.robustness, q.query_interval) == (2, 125.0)


@pytest.mark.parametrize("source", [HIGH + 1, 0])
def test_a_higher_address_or_none_does_not_win(source: int) -> None:
    q = Querier(QuerierSpec(), HIGH)
    q.start(0.0)
    q.on_query(source, Query(version=2, group=0, max_resp=10.0), 1.0)
    assert q.is_querier
    assert run(q, 40.0) == [31.25]


def test_listen_only_never_queries_but_knows_the_querier() -> None:
    q = Querier(QuerierSpec(querier=False), LOW)
    assert q.start(0.0) == []
    assert run(q, 1000.0) == []
    q.on_query(int(IPv4Address("10.0.0.0")), Query(version=2, group=0, max_resp=10.0), 1.0)
    assert q.querier_address == int(IPv4Address("10.0.0.0"))
    assert run(q, 1000.0) == []
    assert not q.is_querier


def test_two_routers_on_one_link_elect_the_lower() -> None:
    # both start as querier; every query each sends is heard by the other
    routers = {LOW: Querier(QuerierSpec(), LOW), HIGH: Querier(QuerierSpec(), HIGH)}
    sent: list[tuple[float, int]] = []
    for address, q in routers.items():
        for query in q.start(0.0):
            sent.append((0.0, address))
            for other, peer in routers.items():
                if other != address:
                    peer.on_query(address, query, 0.0)
    now, steps = 0.0, 0
    while now < 1000.0:
        steps += 1
        assert steps < 1000, "timers stuck"
        due = min(t for q in routers.values() if (t := q.next_timer()) is not None)
        now = due
        for address, q in routers.items():
            for query in q.poll(now):
                sent.append((now, address))
                for other, peer in routers.items():
                    if other != address:
                        peer.on_query(address, query, now)
    assert routers[LOW].is_querier
    assert not routers[HIGH].is_querier
    assert {a for t, a in sent if t > 0} == {LOW}  # after the start, only the lower queries


def test_values_adopted_from_a_query_are_kept_within_bounds() -> None:
    q = Querier(QuerierSpec(), HIGH)
    q.start(0.0)
    # QRV 7 and QQIC 255 (31,744 s): unbounded, 7 x 31744 s = 61.7 hours without querying
    q.on_query(LOW, Query(version=3, group=0, max_resp=3174.4, qrv=7, qqi=31744), 1.0)
    assert (q.robustness, q.query_interval) == (7, 1024.0)
    # 8.5 with them, the response interval below the query interval (8.3): 2.1 hours
    assert q.other_querier_until == 1.0 + 7 * 1024.0 + 1024.0 / 2
    q.on_query(LOW, Query(version=3, group=0, max_resp=1.0, qrv=1, qqi=1), 2.0)
    assert (q.robustness, q.query_interval) == (2, 10.0)  # 8.1: not 1; 8.3: above QRI
    q.on_query(LOW, Query(version=3, group=0, max_resp=10.0, qrv=3, qqi=600), 3.0)
    assert (q.robustness, q.query_interval) == (3, 600.0)  # within bounds: as said
    assert q.clamped == 2


def test_a_router_configured_beyond_the_bounds_adopts_up_to_its_own_values() -> None:
    q = Querier(QuerierSpec(robustness=1, query_interval=2000.0), HIGH)
    q.start(0.0)
    q.on_query(LOW, Query(version=3, group=0, max_resp=10.0, qrv=1, qqi=2000), 1.0)
    assert (q.robustness, q.query_interval) == (1, 2000.0)
    assert q.clamped == 0
