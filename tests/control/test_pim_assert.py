"""PIM asserts through the engine (replay mode, injected time), RFC 7761 section 4.6: data
arriving on an interface we forward onto means another router forwards there too; both
assert, the better metric (then the higher address) keeps forwarding, the other stops
until the winner falls silent.

    RP 10.0.0.2 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- LAN: downstream 10.1.0.7,
                                                         another upstream router 10.1.0.9
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.control import pim
from rawfwd.control.pim import Assert, Hello, JoinPrune

from ..support.frames import udp_frame
from .test_pim_joins import GROUP, RP, Router, a, pim_frame, star_join

OTHER = "10.1.0.9"


@pytest.fixture
def router() -> Router:
    r = Router()
    r.hear("eth0", pim_frame(RP, Hello(0xFFFF, 1, 1)))  # neighbours that never time out
    for n in ("10.1.0.7", OTHER):
        r.hear("eth1", pim_frame(n, Hello(0xFFFF, 1, 5)))
    # holdtime 0xFFFF (infinite): the join lasts through the assert timers below
    r.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", holdtime=0xFFFF)))
    r.tick(10.0)
    r.sent.clear()
    return r


def asserts(r: Router) -> list[tuple[str, Assert]]:
    found = [(n, m) for n, m in r.sent if isinstance(m, Assert)]
    r.sent.clear()
    return found


def test_data_on_a_forwarding_interface_makes_us_assert(router: Router) -> None:
    """Another router's copy of G on eth1, where our (*,G) forwards: Assert(*,G) with the
    RPT bit, our preference and metric toward the RP (on our link: 0, 0)."""
    router.hear("eth1", _data_from(OTHER))
    router.tick(router.now)
    assert asserts(router) == [("eth1", Assert(a(GROUP), 0, True, 0, 0))]


def _data_from(router_address: str) -> bytes:
    return udp_frame("10.9.0.5", GROUP, payload=b"via " + router_address.encode())


def test_a_better_assert_stops_our_forwarding_until_it_times_out(router: Router) -> None:
    assert router.data() == ["eth1"]
    better = Assert(a(GROUP), 0, True, 0, 0)  # equal metric, 10.1.0.9 > 10.1.0.1: it wins
    router.hear("eth1", pim_frame(OTHER, better))
    assert router.data() == []  # the winner forwards onto eth1
    doc = router.engine.pim_json(router.now)
    assert doc is not None
    (eth1,) = [i for i in doc["interfaces"] if i["interface"] == "eth1"]
    assert eth1["counters"]["assert_lost"] == 1
    router.tick(router.now + 179.0)
    router.hear("eth1", pim_frame(OTHER, better))  # the winner refreshes: still lost
    router.tick(router.now + 179.0)
    assert router.data() == []
    router.tick(router.now + 1.1)  # Assert_Time without a refresh: we forward again
    assert router.data() == ["eth1"]


def test_a_worse_assert_is_answered_and_we_keep_forwarding(router: Router) -> None:
    worse = Assert(a(GROUP), 0, True, 110, 20)  # preference 110 > our 0
    router.hear("eth1", pim_frame(OTHER, worse))
    router.tick(router.now)
    assert asserts(router) == [("eth1", Assert(a(GROUP), 0, True, 0, 0))]
    assert router.data() == ["eth1"]
    # the winner refreshes its assert every Assert_Time - Assert_Override_Interval
    router.tick(router.now + 176.9)
    assert asserts(router) == []
    router.tick(router.now + 0.2)
    assert asserts(router) == [("eth1", Assert(a(GROUP), 0, True, 0, 0))]


def test_the_winner_leaving_ends_our_loss(router: Router) -> None:
    router.hear("eth1", pim_frame(OTHER, Assert(a(GROUP), 0, True, 0, 0)))
    assert router.data() == []
    router.hear("eth1", pim_frame(OTHER, Hello(0, 1, 5)))  # goodbye
    router.tick(router.now)
    assert router.data() == ["eth1"]


def test_an_assert_for_what_we_do_not_forward_changes_nothing(router: Router) -> None:
    other_group = Assert(a("239.9.9.9"), 0, True, 0, 0)
    router.hear("eth1", pim_frame(OTHER, other_group))
    router.tick(router.now)
    assert asserts(router) == []
    assert router.data() == ["eth1"]
    assert pim.parse(pim.build(other_group)) == other_group


UPSTREAM_OTHER = "10.0.0.3"  # a second router on our RPF interface toward the RP
CANCEL = Assert(a(GROUP), 0, True, 0x7FFFFFFF, 0xFFFFFFFF)  # AssertCancel (section 4.6.1)


def _upstreams(r: Router) -> list[tuple[str, str, bool]]:
    """(interface, upstream neighbour, join?) of every Join/Prune sent since last asked."""
    found = [
        (name, str(IPv4Address(m.upstream)), bool(m.groups[0].joins))
        for name, m in r.sent
        if isinstance(m, JoinPrune)
    ]
    r.sent.clear()
    return found


@pytest.fixture
def downstream(router: Router) -> Router:
    """`router` with a second PIM router on eth0, its RPF interface toward the RP."""
    router.hear("eth0", pim_frame(UPSTREAM_OTHER, Hello(0xFFFF, 1, 9)))
    router.tick(router.now + 1.0)
    router.sent.clear()
    return router


def test_an_assert_winner_on_the_rpf_interface_becomes_rpf_prime(downstream: Router) -> None:
    """Section 4.5.6/4.6.1: asserts heard on the RPF interface, where we cannot assert,
    name RPF'(*,G): our next Join goes to the winner within t_override (3 s here), and the
    loser gets no Prune: its state times out (RPF' changed due to an Assert)."""
    r = downstream
    r.hear("eth0", pim_frame(UPSTREAM_OTHER, Assert(a(GROUP), 0, True, 0, 0)))
    r.tick(r.now + 3.0)
    assert _upstreams(r) == [("eth0", UPSTREAM_OTHER, True)]
    entry = next(e for e in r.state() if e["source"] == "*")
    assert entry["upstream"]["neighbor"] == UPSTREAM_OTHER
    # a worse assert from someone else changes nothing; periodic Joins keep to the winner
    r.hear("eth0", pim_frame(RP, Assert(a(GROUP), 0, True, 5, 5)))
    r.tick(r.now + 60.0)
    assert _upstreams(r) == [("eth0", UPSTREAM_OTHER, True)]


def test_the_winner_cancelling_gives_rpf_prime_back_to_the_mrib(downstream: Router) -> None:
    r = downstream
    r.hear("eth0", pim_frame(UPSTREAM_OTHER, Assert(a(GROUP), 0, True, 0, 0)))
    r.tick(r.now + 3.0)
    r.sent.clear()
    r.hear("eth0", pim_frame(UPSTREAM_OTHER, CANCEL))  # inferior, from the winner
    r.tick(r.now + 3.0)
    assert _upstreams(r) == [("eth0", RP, True)]


def test_rpf_prime_returns_when_the_winners_assert_times_out(downstream: Router) -> None:
    r = downstream
    r.hear("eth0", pim_frame(UPSTREAM_OTHER, Assert(a(GROUP), 0, True, 0, 0)))
    r.tick(r.now + 3.0)
    r.sent.clear()
    r.tick(r.now + 170.0)  # within Assert_Time (180 s): still the winner's
    assert {u for _, u, _ in _upstreams(r)} == {UPSTREAM_OTHER}
    r.tick(r.now + 10.0)  # expired: the MRIB's next hop, the RP, again
    assert _upstreams(r) == [("eth0", RP, True)]


def test_asserts_on_an_interface_we_neither_forward_onto_nor_join_from_are_ignored(
    router: Router,
) -> None:
    router.hear("eth1", pim_frame("10.1.0.7", Assert(a("239.2.2.2"), 0, True, 0, 0)))
    router.hear("eth0", pim_frame(RP, Assert(a("239.2.2.2"), 0, True, 0, 0)))
    router.tick(router.now + 5.0)
    doc = router.engine.pim_json(router.now)
    assert doc is not None
    assert doc["asserts"] == []
