"""The PIM-DM state machines as tables (RFC 3973 4.4.1 upstream, 4.4.2 downstream): each
row puts the router in a state, applies one event and names the state it must reach and
what it must send. Topology and helpers as in test_pim_dense."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rawfwd.control.pim import Assert, Graft, Hello, JoinPrune, StateRefresh

from .test_pim_dense import GROUP, P2P, UP, Router, S, a, frame_of, sg

LAN_A, LAN_B = "10.1.0.7", "10.1.0.8"


def _prune_from(r: Router, name: str, sender: str, us: str, hold: int = 0xFFFF) -> None:
    r.hear(name, frame_of(sender, JoinPrune(a(us), hold, (sg(join=False),))))


def forwarding(r: Router) -> None:
    r.data()


def pruned(r: Router) -> None:
    """Nothing downstream wants S: Pruned upstream (4.4.1), PLT running."""
    r.data()
    _prune_from(r, "eth2", P2P, "10.2.0.1")
    _prune_from(r, "eth1", LAN_A, "10.1.0.1")
    r.tick(r.now + 3.1)


def ack_pending(r: Router) -> None:
    """Pruned, then the point-to-point neighbour grafts: AckPending, our Graft out."""
    pruned(r)
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.1"), (sg(),)))


def refresh(prune: bool, sender: str = UP) -> Callable[[Router], None]:
    def event(r: Router) -> None:
        message = StateRefresh(a(GROUP), a(S), a("10.9.0.1"), 101, 0, 24, 9, prune, False, True, 60)
        r.hear("eth0", frame_of(sender, message))

    return event


def olist_empties(r: Router) -> None:
    _prune_from(r, "eth2", P2P, "10.2.0.1")
    _prune_from(r, "eth1", LAN_A, "10.1.0.1")
    r.tick(r.now + 3.1)


def graft_from_p2p(r: Router) -> None:
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.1"), (sg(),)))


def graft_ack(sender: str) -> Callable[[Router], None]:
    def event(r: Router) -> None:
        r.hear_unicast(sender, "10.0.0.1", Graft(a(sender), (sg(),), ack=True))

    return event


def other_upstream_router(r: Router) -> None:
    r.hear("eth0", frame_of("10.0.0.3", Hello(0xFFFF, 1, 4)))


def see_prune(r: Router) -> None:
    other_upstream_router(r)
    r.clear()
    r.hear("eth0", frame_of("10.0.0.3", JoinPrune(a(UP), 210, (sg(join=False),))))


def see_prune_then_join(r: Router) -> None:
    see_prune(r)
    r.hear("eth0", frame_of("10.0.0.3", JoinPrune(a(UP), 210, (sg(),))))


def assert_winner_upstream(r: Router) -> None:
    """An assert on the RPF interface names another RPF'(S) (4.6): 10.0.0.3 beats U."""
    other_upstream_router(r)
    r.clear()
    r.hear("eth0", frame_of("10.0.0.3", Assert(a(GROUP), a(S), False, 0, 0)))


def grt_expires(r: Router) -> None:
    r.clear()
    r.tick(r.now + 3.1)


def sent(r: Router) -> set[str]:
    """What the router sent, as short names: Prune/Join to X, Graft to X, GraftAck to X."""
    out = set()
    for _, m in r.messages(JoinPrune):
        assert isinstance(m, JoinPrune)
        kind = "Join" if m.groups[0].joins else "Prune"
        out.add(f"{kind} to {a_str(m.upstream)}")
    for destination, m in r.unicast:
        assert isinstance(m, Graft)
        out.add(f"{'GraftAck' if m.ack else 'Graft'} to {destination}")
    r.clear()
    return out


def a_str(value: int) -> str:
    return ".".join(map(str, value.to_bytes(4, "big")))


UPSTREAM_TABLE = [
    # (start, event, wait after, upstream state, what is sent) -- RFC 3973 4.4.1
    ("Forwarding", forwarding, olist_empties, 0.0, "Pruned", {"Prune to 10.0.0.2"}),
    ("Forwarding", forwarding, refresh(prune=True), 1.3, "Forwarding", {"Join to 10.0.0.2"}),
    ("Forwarding", forwarding, refresh(prune=False), 3.0, "Forwarding", set()),
    ("Forwarding", forwarding, see_prune, 1.3, "Forwarding", {"Join to 10.0.0.2"}),
    ("Forwarding", forwarding, see_prune_then_join, 3.0, "Forwarding", set()),
    ("Forwarding", forwarding, assert_winner_upstream, 0.0, "AckPending", {"Graft to 10.0.0.3"}),
    ("Pruned", pruned, graft_from_p2p, 0.0, "AckPending",
     {"Graft to 10.0.0.2", "GraftAck to 10.2.0.2"}),
    ("Pruned", pruned, refresh(prune=True), 3.0, "Pruned", set()),
    ("Pruned", pruned, refresh(prune=False), 3.0, "Pruned", set()),  # PLT runs: no Prune
    ("Pruned", pruned, see_prune, 3.0, "Pruned", set()),
    ("AckPending", ack_pending, graft_ack(UP), 5.0, "Forwarding", set()),
    ("AckPending", ack_pending, graft_ack("10.0.0.3"), 0.0, "AckPending", set()),
    ("AckPending", ack_pending, grt_expires, 0.0, "AckPending", {"Graft to 10.0.0.2"}),
    ("AckPending", ack_pending, refresh(prune=False), 5.0, "Forwarding", set()),
    ("AckPending", ack_pending, refresh(prune=True), 1.3, "AckPending", {"Join to 10.0.0.2"}),
    ("AckPending", ack_pending, olist_empties, 0.0, "Pruned", {"Prune to 10.0.0.2"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "setup", "event", "wait", "state", "sends"),
    UPSTREAM_TABLE,
    ids=[f"{row[0]}-{row[2].__name__}-{i}" for i, row in enumerate(UPSTREAM_TABLE)],
)
def test_upstream_machine(
    start: str,
    setup: Callable[[Router], None],
    event: Callable[[Router], None],
    wait: float,
    state: str,
    sends: set[str],
) -> None:
    r = Router()
    setup(r)
    assert r.entry()["upstream"]["state"] == start
    r.clear()
    event(r)
    r.tick(r.now + wait)
    assert r.entry()["upstream"]["state"] == state
    # the LAN's PruneEcho (a Prune naming ourselves) is the downstream table's
    assert {x for x in sent(r) if x != "Prune to 10.1.0.1"} == sends


def lan_prune(r: Router) -> None:
    _prune_from(r, "eth1", LAN_A, "10.1.0.1", 210)


def lan_join(r: Router) -> None:
    r.hear("eth1", frame_of(LAN_B, JoinPrune(a("10.1.0.1"), 210, (sg(),))))


def lan_graft(r: Router) -> None:
    r.hear_unicast(LAN_A, "10.1.0.1", Graft(a("10.1.0.1"), (sg(),)))


def lan_prune_longer(r: Router) -> None:
    _prune_from(r, "eth1", LAN_A, "10.1.0.1", 1000)


def lan_pruned(r: Router) -> None:
    r.data()
    lan_prune(r)
    r.tick(r.now + 3.1)


def lan_prune_pending(r: Router) -> None:
    r.data()
    lan_prune(r)


def nothing(r: Router) -> None:
    pass


DOWNSTREAM_TABLE = [
    # (start, setup, event, wait, eth1 state, eth1 forwards?, sends) -- RFC 3973 4.4.2
    ("NoInfo", forwarding, lan_prune, 0.0, "PrunePending", True, set()),
    ("NoInfo", forwarding, lan_prune, 3.1, "Pruned", False, {"Prune to 10.1.0.1"}),  # echo
    ("NoInfo", forwarding, lan_graft, 0.0, "NoInfo", True, {"GraftAck to 10.1.0.7"}),
    ("PrunePending", lan_prune_pending, lan_join, 3.1, "NoInfo", True, set()),
    ("PrunePending", lan_prune_pending, lan_graft, 3.1, "NoInfo", True,
     {"GraftAck to 10.1.0.7"}),
    ("Pruned", lan_pruned, lan_join, 0.0, "NoInfo", True, set()),
    ("Pruned", lan_pruned, lan_graft, 0.0, "NoInfo", True, {"GraftAck to 10.1.0.7"}),
    # PT = holdtime - J/P_Override_Interval from PPT expiry: 210 s from the Prune
    ("Pruned", lan_pruned, nothing, 206.0, "Pruned", False, set()),
    ("Pruned", lan_pruned, nothing, 207.0, "NoInfo", True, set()),
    ("Pruned", lan_pruned, lan_prune_longer, 250.0, "Pruned", False, set()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "setup", "event", "wait", "state", "forwards", "sends"),
    DOWNSTREAM_TABLE,
    ids=[f"{row[0]}-{row[2].__name__}-{i}" for i, row in enumerate(DOWNSTREAM_TABLE)],
)
def test_downstream_machine(
    start: str,
    setup: Callable[[Router], None],
    event: Callable[[Router], None],
    wait: float,
    state: str,
    forwards: bool,
    sends: set[str],
) -> None:
    r = Router()
    setup(r)
    assert r.entry()["downstream"].get("eth1", {"state": "NoInfo"})["state"] == start
    r.clear()
    event(r)
    r.tick(r.now + wait)
    assert r.entry()["downstream"].get("eth1", {"state": "NoInfo"})["state"] == state
    assert ("eth1" in r.data()) is forwards
    assert {x for x in sent(r) if "10.0.0.2" not in x} == sends


def test_a_loser_addressed_by_a_prune_asserts_again() -> None:
    """4.6.1, Loser + Receive Prune(S,G) naming us: an Assert on the interface, so the
    sender hears the winner's answer and fixes its RPF'(S)."""
    r = Router()
    r.data()
    r.hear("eth1", frame_of(LAN_B, Assert(a(GROUP), a(S), False, 100, 0)))  # LAN_B wins
    r.tick(r.now)
    r.clear()
    lan_prune(r)
    r.tick(r.now)
    assert [n for n, _ in r.messages(Assert)] == ["eth1"]
