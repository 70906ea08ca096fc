"""What `rawfwd show` reads: views, rates, links and snapshots survive a JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from rawfwd.core.stats import FlowSnapshot, InterfaceSnapshot, Snapshot
from rawfwd.view import LinkStatus, Rates, View

from ..support.views import R, busy_view, flow, iface, snapshot


def through_json(doc: object) -> dict[str, Any]:
    """What the other end of the control socket reads."""
    out = json.loads(json.dumps(doc))
    assert isinstance(out, dict)
    return out


def test_view_json_round_trip() -> None:
    view = busy_view()
    # an awkward float, an interface only the shell knows, a flow with no route
    view = dataclasses.replace(
        view,
        links=(*view.links, LinkStatus("wlan0", "down", 9, 0)),
        started=1 / 3,
        snapshot=dataclasses.replace(
            view.snapshot,
            flows=(*view.snapshot.flows, dataclasses.replace(flow("10.9.9.9"), route=None)),
        ),
    )
    doc = through_json(view.to_json())
    assert doc["uptime"] == view.snapshot.now - 1 / 3
    assert View.from_json(doc) == view


def test_rates_json_round_trip() -> None:
    rates = busy_view().rates
    assert rates.flows
    assert Rates.from_json(through_json(rates.to_json())) == rates
    assert Rates.from_json(through_json(Rates.empty().to_json())) == Rates.empty()


def test_link_status_json_round_trip() -> None:
    for link in (LinkStatus("eth0", "up", 2, 5), LinkStatus("eth9", "absent", None, 0)):
        assert LinkStatus.from_json(through_json(link.to_json())) == link


def test_snapshot_json_round_trips() -> None:
    snap = busy_view().snapshot
    assert snap.drops
    assert snap.flows[0].drops
    assert snap.interfaces[0].drops
    assert Snapshot.from_json(through_json(snap.to_json())) == snap
    for f in (*snap.flows, flow(oifs=()), dataclasses.replace(flow(), route=None)):
        assert FlowSnapshot.from_json(through_json(f.to_json())) == f
    for i in (*snap.interfaces, iface("eth5", mac=None, up=False)):
        assert InterfaceSnapshot.from_json(through_json(i.to_json())) == i
    empty = snapshot(0.0)
    assert Snapshot.from_json(through_json(empty.to_json())) == empty


def test_snapshot_from_json_keeps_drop_reason_order() -> None:
    f = flow(drops={R.THRESHOLD: 1, R.WRONG_IF: 2, R.BAD_IHL: 3})
    doc = through_json(f.to_json())
    doc["drops"] = dict(reversed(list(doc["drops"].items())))
    back = FlowSnapshot.from_json(doc)
    assert list(back.drops) == [R.BAD_IHL, R.WRONG_IF, R.THRESHOLD]
    assert back == f


def test_unknown_drop_reason_is_rejected() -> None:
    doc = through_json(iface("eth0").to_json())
    doc["drops"] = {"gremlins": 1}
    with pytest.raises(ValueError, match="gremlins"):
        InterfaceSnapshot.from_json(doc)
