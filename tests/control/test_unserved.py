"""Noticing members a silent querier leaves unserved (issue 12), with injected time."""

from __future__ import annotations

from rawfwd.control.unserved import HOLD, Facts, Unserved, Withheld, log_line, table_hint

OTHER = "10.1.0.254"
STARVED = {"eth1": Facts(OTHER, True)}


def test_reported_once_when_it_held_for_the_hold() -> None:
    u = Unserved()
    start = 12.9  # (12.9 + 10.0) - 12.9 is less than 10.0 in floats
    assert u.update(start, STARVED) == []
    assert u.next_timer() == start + HOLD
    assert u.update(start + HOLD - 0.01, STARVED) == []
    assert not u.unserved("eth1")
    assert u.hint("eth1") is None
    assert u.update(start + HOLD, STARVED) == [log_line("eth1", OTHER)]  # when next_timer said
    assert u.unserved("eth1")
    assert u.hint("eth1") == table_hint("eth1", OTHER)
    assert u.next_timer() is None
    assert u.update(100.0, STARVED) == []  # once


def test_reported_again_only_after_it_cleared_and_held_anew() -> None:
    u = Unserved(hold=10.0)
    u.update(0.0, STARVED)
    assert u.update(10.0, STARVED) == [log_line("eth1", OTHER)]
    assert u.update(11.0, {"eth1": Facts(OTHER, False)}) == []  # members served again
    assert not u.unserved("eth1")
    assert u.update(12.0, STARVED) == []
    assert u.next_timer() == 22.0
    assert u.update(21.9, STARVED) == []
    assert u.update(22.0, STARVED) == [log_line("eth1", OTHER)]


def test_a_break_starts_the_hold_again() -> None:
    u = Unserved(hold=10.0)
    u.update(0.0, STARVED)
    u.update(5.0, {"eth1": Facts(None, True)})  # we are the querier for a while
    u.update(6.0, STARVED)
    assert u.update(10.0, STARVED) == []
    assert u.update(16.0, STARVED) == [log_line("eth1", OTHER)]


def test_never_reported_where_we_forward_or_no_member_is_starved() -> None:
    u = Unserved(hold=10.0)
    facts = {"eth1": Facts(None, True), "eth2": Facts(OTHER, False)}
    assert u.update(0.0, facts) == []
    assert u.next_timer() is None
    assert u.update(100.0, facts) == []
    assert not u.unserved("eth1")
    assert not u.unserved("eth2")


def test_interfaces_are_watched_each_on_its_own_and_forgotten_when_left_out() -> None:
    u = Unserved(hold=10.0)
    u.update(0.0, STARVED)
    both = {"eth1": Facts(OTHER, True), "eth2": Facts("10.2.0.254", True)}
    assert u.update(5.0, both) == []
    assert u.update(10.0, both) == [log_line("eth1", OTHER)]
    assert u.update(15.0, both) == [log_line("eth2", "10.2.0.254")]
    assert u.update(16.0, {"eth2": both["eth2"]}) == []  # eth1 no longer runs IGMP
    assert not u.unserved("eth1")
    assert u.unserved("eth2")


def test_the_log_line_names_the_querier_and_the_setting() -> None:
    line = log_line("eth1", OTHER)
    assert "\n" not in line
    assert line.startswith("eth1: 10.1.0.254 is the IGMP querier here and only the querier ")
    assert line.endswith("set querier = false under [interface.eth1]")
    assert table_hint("eth1", None).startswith("⚠ eth1: members unserved: querier another router")


# -- what the membership hook notes -----------------------------------------------------------

G1, G2 = 0xEF010101, 0xEF010102


def test_members_are_starved_by_a_group_that_arrives_elsewhere_only() -> None:
    w = Withheld()
    assert w.note("eth0", G1, ["eth1"])  # from eth0, wanted on silent eth1: news
    assert w.starved("eth1")
    assert not w.note("eth0", G1, ["eth1"])  # the same again: no news
    assert not w.starved("eth0")
    assert w.note("eth1", G1, [])  # the querier's copies show up on eth1: news
    assert not w.starved("eth1")


def test_a_silent_interface_is_not_starved_by_its_own_arrivals() -> None:
    w = Withheld()
    w.note("eth1", G1, ["eth1"])  # a flow arriving on eth1 itself is no traffic we withhold
    assert not w.starved("eth1")


def test_notes_of_groups_decided_again_are_forgotten() -> None:
    w = Withheld()
    w.note("eth0", G1, ["eth1"])
    w.note("eth0", G2, ["eth1"])
    w.note("eth1", G2, [])
    w.forget([G1])
    assert not w.starved("eth1")  # G1 forgotten, G2 arrives on eth1
    w.note("eth0", G1, ["eth1"])
    w.forget([G2])  # G2's arrival forgotten too: its flows are decided again
    w.note("eth0", G2, ["eth1"])
    w.forget([G1])
    assert w.starved("eth1")  # G2 wanted, its arrival on eth1 not noted again yet
    w.forget()
    assert not w.starved("eth1")
