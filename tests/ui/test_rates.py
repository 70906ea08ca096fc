"""Packet and bit rates from two snapshots (RateTracker): new, reset and too-soon snapshots."""

from __future__ import annotations

import pytest

from rawfwd import ui
from rawfwd.view import RateTracker

from ..support.views import (
    GROUP,
    flow,
    flow_rows,
    iface,
    interface_rows,
    rates_between,
    render,
    snapshot,
    view_of,
)


def test_rates_come_from_two_snapshots() -> None:
    t1, t2 = 10.0, 12.0
    p1, p2 = 100, 200  # packets of the flow
    b1, b2 = 130_000, 330_000  # its IP bytes
    rx1, rx2, tx1, tx2 = 1000, 1300, 500, 900
    first = snapshot(t1, (flow(packets=p1, nbytes=b1),), (iface("eth0", rx=rx1, tx=tx1),))
    second = snapshot(t2, (flow(packets=p2, nbytes=b2),), (iface("eth0", rx=rx2, tx=tx2),))
    rates = rates_between(first, second)

    pps, bps = (p2 - p1) / (t2 - t1), (b2 - b1) * 8 / (t2 - t1)
    rx_rate, tx_rate = (rx2 - rx1) / (t2 - t1), (tx2 - tx1) / (t2 - t1)
    assert rates.flows == {("eth0", "10.0.0.5", GROUP): (pps, bps)}
    assert rates.interfaces == {"eth0": (rx_rate, tx_rate)}
    assert (pps, bps, rx_rate, tx_rate) == (50.0, 800_000.0, 150.0, 200.0)

    view = view_of(second, rates=rates)
    row = flow_rows(render(ui.flows_table(view)))["10.0.0.5"]
    assert (row["pkt/s"], row["bit/s"]) == (ui.human(pps), ui.human_bits(bps))
    assert (row["pkt/s"], row["bit/s"]) == ("50", "800 kb/s")
    eth0 = interface_rows(render(ui.interfaces_table(view)))["eth0"]
    assert (eth0["rx/s"], eth0["tx/s"]) == ("150", "200")


def test_first_update_gives_zero_rates() -> None:
    snap = snapshot(5.0, (flow(packets=1000),), (iface("eth0", rx=1000),))
    rates = RateTracker().update(snap)
    assert rates.flows == {("eth0", "10.0.0.5", GROUP): (0.0, 0.0)}
    assert rates.interfaces == {"eth0": (0.0, 0.0)}


def test_new_and_reset_flows_count_from_zero() -> None:
    old = flow("10.0.0.1", packets=500)
    first = snapshot(1.0, (old,), (iface("eth0", rx=500),))
    # 10.0.0.1 was evicted and came back with fewer packets; 10.0.0.2 is new.
    second = snapshot(
        5.0,
        (flow("10.0.0.1", packets=40), flow("10.0.0.2", packets=20)),
        (iface("eth0", rx=560), iface("eth1", tx=8)),
    )
    rates = rates_between(first, second)
    dt = 5.0 - 1.0
    assert rates.flows[("eth0", "10.0.0.1", GROUP)] == (40 / dt, 40_000 * 8 / dt)
    assert rates.flows[("eth0", "10.0.0.2", GROUP)] == (20 / dt, 20_000 * 8 / dt)
    assert rates.interfaces == {"eth0": (60 / dt, 0.0), "eth1": (0.0, 8 / dt)}


@pytest.mark.parametrize("too_soon", [3.0, 2.9, 3.4])
def test_a_snapshot_too_soon_after_the_last_keeps_the_rates(too_soon: float) -> None:
    tracker = RateTracker(min_interval=0.5)
    tracker.update(snapshot(1.0, (flow(packets=10),)))
    rates = tracker.update(snapshot(3.0, (flow(packets=30),)))
    assert tracker.update(snapshot(too_soon, (flow(packets=99),))) is rates
    # and the baseline did not move: the next rate is still measured from t=3.
    later = tracker.update(snapshot(4.0, (flow(packets=40),)))
    assert later.flows[("eth0", "10.0.0.5", GROUP)][0] == (40 - 30) / (4.0 - 3.0)


def test_min_interval_zero_takes_any_newer_snapshot() -> None:
    tracker = RateTracker(min_interval=0.0)
    tracker.update(snapshot(1.0, (flow(packets=10),)))
    rates = tracker.update(snapshot(1.25, (flow(packets=20),)))
    assert rates.flows[("eth0", "10.0.0.5", GROUP)][0] == (20 - 10) / 0.25
    assert tracker.update(snapshot(1.25, (flow(packets=30),))) is rates
