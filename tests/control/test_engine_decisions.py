"""Output.decisions: what a data path that forwards decided flows itself (the kernel fast
path) is told, and when: a new flow, a membership change, a link change, a reload, a flow
forgotten. Each decision says where copies go and from which TTL (thresholds)."""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.config.values import FlowSpec
from rawfwd.control.engine import Engine
from rawfwd.control.igmp import Report
from rawfwd.core.reasons import DropReason
from rawfwd.core.stats import FlowDecision
from tests.support.frames import make_config, route, toml_config, udp_frame

from .test_engine_igmp import ROUTER, igmp_frame

G = "239.1.1.1"
S = "10.0.0.5"


def ip(text: str) -> int:
    return int(IPv4Address(text))


def _routed(**kwargs: object) -> Engine:
    config = make_config(
        route("eth0", "239.0.0.0/8", ["eth1", "eth2"]),
        thresholds={"eth1": 1, "eth2": 32},
        **kwargs,  # type: ignore[arg-type]
    )
    return Engine(config, decisions=True)


def _frame(n: int = 0, group: str = G, src: str = S) -> bytes:
    return udp_frame(src, group, ident=n)


def test_a_new_flow_is_decided_once_with_its_egress_and_thresholds() -> None:
    engine = _routed()
    out = engine.handle_frames("eth0", [_frame(1), _frame(2)], 1.0)
    assert list(out.decisions) == [
        FlowDecision("eth0", ip(S), ip(G), False, (("eth1", 1), ("eth2", 32)), relay=False)
    ]
    assert engine.handle_frames("eth0", [_frame(3)], 1.1).decisions == ()  # nothing new


def test_a_dropped_flow_is_decided_with_no_egress() -> None:
    engine = _routed()
    out = engine.handle_frames("eth1", [_frame(1)], 1.0)  # the route is from eth0
    assert list(out.decisions) == [FlowDecision("eth1", ip(S), ip(G), False, ())]


def test_decisions_are_off_unless_asked_for() -> None:
    config = make_config(route("eth0", "239.0.0.0/8", ["eth1"]))
    assert Engine(config).handle_frames("eth0", [_frame(1)], 1.0).decisions == ()


def test_a_link_going_down_decides_again_and_a_forgotten_flow_is_gone() -> None:
    engine = Engine(
        make_config(
            route("eth0", "239.0.0.0/8", ["eth1", "eth2"]), flows=FlowSpec(idle_timeout=10)
        ),
        live=True,
        decisions=True,
    )
    for name in ("eth0", "eth1", "eth2"):
        engine.set_link(name, up=True, mac=bytes((2, 0, 0, 0, 0, len(name))))
    engine.handle_frames("eth0", [_frame(1)], 1.0)
    down = engine.set_link("eth2", up=False, mac=None)
    assert [d.egress for d in down.decisions] == [(("eth1", 1),)]
    forgotten = engine.handle_timer(100.0)
    assert list(forgotten.decisions) == [FlowDecision("eth0", ip(S), ip(G), False, gone=True)]


def test_an_evicted_flow_is_gone_and_the_new_one_decided_in_order() -> None:
    engine = _routed(flows=FlowSpec(max_flows=1))
    engine.handle_frames("eth0", [_frame(1)], 1.0)
    out = engine.handle_frames("eth0", [_frame(2, group="239.2.2.2")], 2.0)
    assert [(d.group, d.gone) for d in out.decisions] == [(ip("239.2.2.2"), False), (ip(G), True)]


def test_membership_changes_reach_the_decision() -> None:
    engine = Engine(toml_config(ROUTER.format(eth0="", eth1="")), decisions=True)
    engine.handle_timer(0.0)
    first = engine.handle_frames("eth0", [_frame(1)], 1.0)
    assert [d.egress for d in first.decisions] == [()]  # no members yet: not forwarded
    join = igmp_frame("10.1.0.5", G, Report(2, ip(G)))
    joined = engine.handle_frames("eth1", [join], 2.0)
    assert [(d.ingress, d.egress) for d in joined.decisions] == [("eth0", (("eth1", 1),))]


def test_a_reload_decides_every_flow_again() -> None:
    engine = _routed()
    engine.handle_frames("eth0", [_frame(1)], 1.0)
    narrower = make_config(route("eth0", "239.0.0.0/8", ["eth2"]), thresholds={"eth2": 32})
    out = engine.reconfigure(narrower)
    assert [d.egress for d in out.decisions] == [(("eth2", 32),)]


def test_a_manet_flow_says_the_relay_policy_decides() -> None:
    engine = Engine(
        make_config(route("eth0", "239.0.0.0/8", ["eth1"]), manet=["eth0"]), decisions=True
    )
    frame = udp_frame("10.9.9.9", G, ident=1)
    (decision,) = engine.handle_frames("eth0", [frame], 1.0).decisions
    assert decision.relay is True
    assert decision.egress[0][0] == "eth1"


def test_kernel_counts_join_the_flows_own() -> None:
    """What the fast path counted reaches the snapshot: packets, copies lowest threshold
    first (a copy on eth2 means one on eth1), drops by reason; the flow is not idle."""
    engine = _routed(flows=FlowSpec(idle_timeout=10))
    engine.handle_frames("eth0", [_frame(1)], 1.0)
    drops = {DropReason.DUPLICATE: 2, DropReason.TTL: 0}
    assert engine.add_kernel_counts("eth0", ip(S), ip(G), (10, 500, 8, 12), drops, 9.0)
    snap = engine.snapshot(9.0)
    (flow,) = snap.flows
    assert (flow.packets, flow.forwarded, flow.copies, flow.kernel_packets) == (11, 9, 14, 10)
    assert dict(flow.drops) == {DropReason.DUPLICATE: 2}
    assert flow.last_seen == 9.0
    assert flow.arrival == "eth0 (kernel)"
    tx = {i.name: i.tx_frames for i in snap.interfaces}
    assert (tx["eth1"], tx["eth2"]) == (1 + 8, 1 + 4)
    engine.handle_timer(15.0)  # 6 s after the kernel's last packet: not idle yet
    assert engine.flow_count == 1
    assert not engine.add_kernel_counts("eth0", ip(S), ip("239.9.9.9"), (1, 1, 1, 1), {}, 9.0)
