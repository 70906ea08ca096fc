"""The engine's one timer covers every timer: idle flows are forgotten and frames held for an
RPF answer are dropped (ipmr's 10 s) with no frame arriving, driven by `next_timer` alone."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from rawfwd.config.values import FlowSpec, Route
from rawfwd.control.engine import Engine, Output
from rawfwd.core import DropReason
from rawfwd.core.rpf import UNRESOLVED_TIMEOUT

from ..support.frames import make_config, route, udp_frame

SOURCE = "10.0.0.5"


def run_timers(engine: Engine, until: float) -> list[tuple[float, Output]]:
    """Run the engine's timers, each at its due time, up to `until`, as a shell would
    (no frame arrives); returns what each run gave, with its time."""
    ran = []
    while (due := engine.next_timer()) is not None and due <= until:
        assert len(ran) < 10_000, "the timer never moves on"
        ran.append((due, engine.handle_timer(due)))
    return ran


def test_a_quiet_router_forgets_an_idle_flow_on_its_timer() -> None:
    idle = 3.0
    config = make_config(route("eth0", "239.1.2.3", "eth1"), flows=FlowSpec(idle_timeout=idle))
    engine = Engine(config, keep_retired=True)
    last = 0.0
    for n in range(30):
        last = n * 0.01
        engine.handle_frames("eth0", [udp_frame(SOURCE, "239.1.2.3", ident=n)], last)
    assert engine.flow_count == 1
    sweep_period = 1.0  # idle_timeout / 4, at least 1 s
    ran = run_timers(engine, last + idle + sweep_period)
    assert engine.flow_count == 0  # nothing arrived; the timer alone forgot it
    (when, retiring) = next((t, out) for t, out in ran if out.retired)
    assert last + idle < when <= last + idle + sweep_period
    assert [(f.source, f.packets) for f in retiring.retired] == [(SOURCE, 30)]


def test_the_flow_is_kept_while_it_is_not_idle_long_enough() -> None:
    config = make_config(route("eth0", "239.1.2.3", "eth1"), flows=FlowSpec(idle_timeout=3.0))
    engine = Engine(config)
    engine.handle_frames("eth0", [udp_frame(SOURCE, "239.1.2.3")], 0.0)
    run_timers(engine, 2.9)
    assert engine.flow_count == 1


@pytest.mark.parametrize("start", [1.0, 0.1, 0.3, 7.7])
def test_frames_held_for_rpf_are_dropped_at_ten_seconds_with_no_frame_arriving(
    start: float,
) -> None:
    # some starts make (t + 10) - 10 < t in floating point: the timer must still move on
    # a route without `from`: RPF decides where the source's packets must come from
    config = make_config(Route(None, IPv4Network("239.1.2.3/32"), None, ("eth1",)))
    engine = Engine(config, live=True)  # RPF from the FIB: the shell must answer
    out = engine.handle_frames("eth0", [udp_frame(SOURCE, "239.1.2.3")], start)
    assert out.frames == []  # held
    assert out.rpf_lookups == [int(IPv4Address(SOURCE))]
    expiry = start + UNRESOLVED_TIMEOUT
    before = run_timers(engine, expiry - 0.001)
    assert engine.snapshot(expiry).drops == {}  # still held just before 10 s
    assert all(out.frames == [] for _, out in before)
    ran = run_timers(engine, expiry)
    assert ran[-1][0] == expiry  # the timer fired at the expiry itself
    assert engine.snapshot(expiry).drops == {DropReason.UNRESOLVED: 1}
    # the lookup that never answered is asked for again
    assert [s for _, o in ran for s in o.rpf_lookups] == [int(IPv4Address(SOURCE))]
