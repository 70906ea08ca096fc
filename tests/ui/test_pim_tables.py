"""`rawfwd show pim`: the JSON the engine gives for PIM (from messages in memory), as `show
--json` prints it, the neighbours and join-state tables draw it, and a malformed reply is
refused in one line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rawfwd import runner, ui
from rawfwd.control import igmp, pim
from rawfwd.control.pim import Assert, Hello
from rawfwd.errors import RawfwdError
from rawfwd.view import View

from ..control.test_pim_dense import P2P, frame_of, sg
from ..control.test_pim_dense import Router as DenseRouter
from ..control.test_pim_joins import GROUP, RP, Router, a, igmp_frame, pim_frame
from ..support.views import render, snapshot, view_of


def _view(router: Router | DenseRouter) -> View:
    pim = router.engine.pim_json(router.now)
    view = dataclasses.replace(view_of(snapshot(router.now)), pim=pim)
    return View.from_json(json.loads(json.dumps(view.to_json())))  # as `show` gets it


def _router() -> Router:
    r = Router()
    r.hear("eth0", pim_frame(RP, Hello(105, 7, 0x1234)))
    r.hear("eth1", pim_frame("10.1.0.9", Hello(105, 0, 5)))  # priority 0: we are DR
    r.tick(5.0)
    r.hear("eth1", igmp_frame("10.1.0.20", igmp.Report(2, a(GROUP)), GROUP))
    r.hear("eth1", pim_frame("10.1.0.9", Assert(a(GROUP), 0, True, 0, 0)))
    return r


def test_show_pim_json_has_neighbours_joins_and_asserts() -> None:
    doc = runner._show_json(_view(_router()), "pim")["pim"]
    eth0 = next(i for i in doc["interfaces"] if i["interface"] == "eth0")
    (neighbor,) = eth0["neighbors"]
    assert (neighbor["address"], neighbor["dr_priority"], neighbor["generation_id"]) == (
        RP,
        7,
        0x1234,
    )
    (entry,) = doc["joins"]
    assert (entry["source"], entry["group"], entry["upstream"]["state"]) == ("*", GROUP, "Joined")
    (lost,) = doc["asserts"]
    assert (lost["interface"], lost["state"], lost["winner"]) == ("eth1", "Loser", "10.1.0.9")


def test_the_tables_draw_neighbours_joins_and_asserts() -> None:
    view = _view(_router())
    neighbours = render(ui.pim_table(view))
    assert "PIM neighbours" in neighbours
    assert "0x00001234" in neighbours
    assert "10.0.0.2 (us)" not in neighbours  # the RP is DR on eth0 (priority 7)
    joins = render(ui.pim_joins_table(view))
    assert f"(*, {GROUP})" in joins
    assert f"Joined via {RP} (eth0)" in joins
    assert "assert Loser on eth1" in joins


def test_a_reply_with_a_malformed_pim_part_is_one_line_error() -> None:
    reply = _view(_router()).to_json()
    reply["pim"]["joins"][0]["oifs"] = "eth1"
    with pytest.raises(RawfwdError, match=r"pim\.joins\[0\]\.oifs"):
        runner._view_of(reply, "@test")


def test_the_join_table_draws_dense_state() -> None:
    """PIM-DM entries (RFC 3973): upstream state and neighbour with the prune limit, the
    pruned interfaces with their timers, where it forwards."""
    r = DenseRouter()
    r.data()
    r.hear("eth2", frame_of(P2P, pim.JoinPrune(a("10.2.0.1"), 100, (sg(join=False),))))
    r.hear("eth1", frame_of("10.1.0.7", pim.JoinPrune(a("10.1.0.1"), 100, (sg(join=False),))))
    r.tick(r.now + 3.1)
    view = _view(r)
    doc = runner._show_json(view, "pim")["pim"]
    assert doc["mode"] == "dense"
    joins = render(ui.pim_joins_table(view))
    assert "(10.9.0.5, 239.1.1.1) dense" in joins
    assert "Pruned via 10.0.0.2 (eth0), prune limit" in joins
    assert "eth2: Pruned" in joins
    assert "eth1: Pruned" in joins
