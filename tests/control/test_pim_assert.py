"""PIM asserts through the engine (replay mode, injected time), RFC 7761 section 4.6: data
arriving on an interface we forward onto means another router forwards there too; both
assert, the better metric (then the higher address) keeps forwarding, the other stops
until the winner falls silent.

    RP 10.0.0.2 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- LAN: downstream 10.1.0.7,
                                                         another upstream router 10.1.0.9
"""

from __future__ import annotations

import pytest

from rawfwd.control import pim
from rawfwd.control.pim import Assert, Hello

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
