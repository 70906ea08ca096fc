"""RouteTable: (S,G) before (*,G), longest group prefix, RPF by `from`, the link-local rule."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.config.values import Route
from rawfwd.core.reasons import DropReason
from rawfwd.core.table import RouteTable, is_link_local

from ..support.frames import route


def ip(text: str) -> int:
    return int(IPv4Address(text))


def found(table: RouteTable, iif: str, source: str, group: str) -> Route:
    result = table.lookup(iif, ip(source), ip(group))
    assert result.reason is None, result
    assert result.route is not None
    return result.route


def reason(table: RouteTable, iif: str, source: str, group: str) -> DropReason | None:
    result = table.lookup(iif, ip(source), ip(group))
    if result.reason is not None:
        assert result.route is None
    return result.reason


def test_exact_star_g_route() -> None:
    r = route("eth0", "239.1.2.3", ["eth1", "eth2"])
    table = RouteTable([r])
    assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is r
    assert found(table, "eth0", "192.168.7.9", "239.1.2.3") is r


def test_no_route() -> None:
    table = RouteTable([route("eth0", "239.1.2.3", "eth1")])
    assert reason(table, "eth0", "10.0.0.5", "239.1.2.4") is DropReason.NO_ROUTE
    assert reason(table, "eth0", "10.0.0.5", "238.1.2.3") is DropReason.NO_ROUTE
    assert reason(RouteTable([]), "eth0", "10.0.0.5", "239.1.2.3") is DropReason.NO_ROUTE


def test_s_g_beats_star_g() -> None:
    star = route("eth0", "239.1.2.3", "eth1")
    sg = route("eth0", "239.1.2.3", "eth2", source="10.0.0.5")
    for order in ([star, sg], [sg, star]):
        table = RouteTable(order)
        assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is sg
        assert found(table, "eth0", "10.0.0.6", "239.1.2.3") is star


def test_s_g_beats_star_g_even_with_shorter_group() -> None:
    # Source-specific state is more specific than any (*,G), whatever the group prefixes.
    star = route("eth0", "239.1.2.3", "eth1")
    sg = route("eth0", "239.0.0.0/8", "eth2", source="10.0.0.5")
    table = RouteTable([star, sg])
    assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is sg
    assert found(table, "eth0", "10.0.0.7", "239.1.2.3") is star


def test_source_prefix_longest_wins() -> None:
    wide = route("eth0", "239.1.2.3", "eth1", source="10.0.0.0/8")
    narrow = route("eth0", "239.1.2.3", "eth2", source="10.1.0.0/16")
    host = route("eth0", "239.1.2.3", "eth3", source="10.1.2.3")
    table = RouteTable([wide, narrow, host])
    assert found(table, "eth0", "10.1.2.3", "239.1.2.3") is host
    assert found(table, "eth0", "10.1.9.9", "239.1.2.3") is narrow
    assert found(table, "eth0", "10.9.9.9", "239.1.2.3") is wide
    assert reason(table, "eth0", "11.0.0.1", "239.1.2.3") is DropReason.NO_ROUTE


def test_longest_group_prefix_wins_among_star_g() -> None:
    routes = [
        route("eth0", "224.0.0.0/4", "eth1"),
        route("eth0", "239.0.0.0/8", "eth2"),
        route("eth0", "239.1.0.0/16", "eth3"),
        route("eth0", "239.1.2.3", ["eth1", "eth2"]),
    ]
    for order in (routes, routes[::-1]):
        table = RouteTable(order)
        assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is routes[3]
        assert found(table, "eth0", "10.0.0.5", "239.1.2.4") is routes[2]
        assert found(table, "eth0", "10.0.0.5", "239.2.0.1") is routes[1]
        assert found(table, "eth0", "10.0.0.5", "238.2.0.1") is routes[0]


def test_wrong_if_when_best_match_has_other_from() -> None:
    table = RouteTable([route("eth0", "239.1.2.3", "eth1")])
    assert reason(table, "eth1", "10.0.0.5", "239.1.2.3") is DropReason.WRONG_IF
    assert reason(table, "eth2", "10.0.0.5", "239.1.2.3") is DropReason.WRONG_IF


def test_wrong_if_for_s_g_does_not_fall_back_to_star_g() -> None:
    # ipmr: the (S,G) entry exists, the packet came in on the wrong interface: RPF failure.
    sg = route("eth0", "239.1.2.3", "eth2", source="10.0.0.5")
    star = route("eth1", "239.1.2.3", "eth2")
    table = RouteTable([sg, star])
    assert reason(table, "eth1", "10.0.0.5", "239.1.2.3") is DropReason.WRONG_IF
    assert found(table, "eth1", "10.0.0.6", "239.1.2.3") is star
    assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is sg
    assert reason(table, "eth0", "10.0.0.6", "239.1.2.3") is DropReason.WRONG_IF


def test_wrong_if_on_longest_prefix() -> None:
    specific = route("eth0", "239.1.2.3", "eth2")
    wide = route("eth1", "239.1.0.0/16", "eth2")
    table = RouteTable([specific, wide])
    assert reason(table, "eth1", "10.0.0.5", "239.1.2.3") is DropReason.WRONG_IF
    assert found(table, "eth1", "10.0.0.5", "239.1.2.4") is wide


def test_bidirectional_relay_same_s_g_two_froms() -> None:
    a_to_b = route("eth0", "239.1.2.3", "eth1", source="10.0.0.5")
    b_to_a = route("eth1", "239.1.2.3", "eth0", source="10.0.0.5")
    table = RouteTable([a_to_b, b_to_a])
    assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is a_to_b
    assert found(table, "eth1", "10.0.0.5", "239.1.2.3") is b_to_a
    assert reason(table, "eth2", "10.0.0.5", "239.1.2.3") is DropReason.WRONG_IF


def test_bidirectional_relay_star_g() -> None:
    routes = [
        route(f"eth{i}", "239.255.255.250", [f"eth{j}" for j in range(3) if j != i])
        for i in range(3)
    ]
    table = RouteTable(routes)
    for i, r in enumerate(routes):
        assert found(table, f"eth{i}", "192.168.1.20", "239.255.255.250") is r
    assert reason(table, "eth3", "192.168.1.20", "239.255.255.250") is DropReason.WRONG_IF


@pytest.mark.parametrize("group", ["224.0.0.0", "224.0.0.1", "224.0.0.251", "224.0.0.255"])
def test_is_link_local(group: str) -> None:
    assert is_link_local(ip(group))


@pytest.mark.parametrize("group", ["224.0.1.0", "224.0.1.1", "239.0.0.251", "225.0.0.251"])
def test_is_not_link_local(group: str) -> None:
    assert not is_link_local(ip(group))


@pytest.mark.parametrize("wide", ["224.0.0.0/4", "224.0.0.0/8", "224.0.0.0/16", "224.0.0.0/23"])
def test_link_local_not_forwarded_by_wider_route(wide: str) -> None:
    table = RouteTable([route("eth0", wide, "eth1")])
    assert reason(table, "eth0", "10.0.0.5", "224.0.0.251") is DropReason.LINK_LOCAL
    assert reason(table, "eth0", "10.0.0.5", "224.0.0.1") is DropReason.LINK_LOCAL
    # ... while the same route does forward the groups just outside the block.
    assert found(table, "eth0", "10.0.0.5", "224.0.1.1").oifs == ("eth1",)


def test_link_local_not_forwarded_by_wide_s_g_route() -> None:
    table = RouteTable([route("eth0", "224.0.0.0/4", "eth1", source="10.0.0.5")])
    assert reason(table, "eth0", "10.0.0.5", "224.0.0.251") is DropReason.LINK_LOCAL


@pytest.mark.parametrize("inside", ["224.0.0.251", "224.0.0.0/24", "224.0.0.128/25"])
def test_link_local_opt_in_by_route_inside_block(inside: str) -> None:
    r = route("eth0", inside, "eth1")
    table = RouteTable([r])
    assert found(table, "eth0", "10.0.0.5", "224.0.0.251") is r


def test_link_local_opt_in_beats_wider_s_g() -> None:
    # A wide (S,G) route may not carry 224.0.0.251; the explicit (*, 224.0.0.251) still does.
    sg = route("eth0", "224.0.0.0/4", "eth1", source="10.0.0.5")
    mdns = route("eth0", "224.0.0.251", "eth2")
    table = RouteTable([sg, mdns])
    assert found(table, "eth0", "10.0.0.5", "224.0.0.251") is mdns
    assert found(table, "eth0", "10.0.0.5", "239.1.2.3") is sg


def test_link_local_opt_in_other_group_still_link_local() -> None:
    table = RouteTable([route("eth0", "224.0.0.251", "eth1"), route("eth0", "224.0.0.0/4", "eth1")])
    assert reason(table, "eth0", "10.0.0.5", "224.0.0.252") is DropReason.LINK_LOCAL


def test_link_local_opt_in_respects_rpf() -> None:
    table = RouteTable([route("eth0", "224.0.0.251", "eth1")])
    assert reason(table, "eth1", "10.0.0.5", "224.0.0.251") is DropReason.WRONG_IF
