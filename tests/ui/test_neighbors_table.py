"""`rawfwd show neighbors`: the JSON the engine gives for NHDP (from HELLOs exchanged in
memory), as `show --json` prints it and the neighbours table draws it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rawfwd import runner, ui
from rawfwd.control.nhdp import ports_json
from rawfwd.errors import RawfwdError
from rawfwd.view import View

from ..control.test_engine_nhdp import Line, mac
from ..support.views import render, snapshot, view_of


def _view(line: Line, node: int, now: float) -> View:
    neighbors = ports_json(line.engines[node].nhdp, now)
    view = dataclasses.replace(view_of(snapshot(now)), neighbors=neighbors)
    return View.from_json(json.loads(json.dumps(view.to_json())))  # as `show` gets it


def test_the_middle_of_a_line_shows_both_neighbours_and_who_chose_it() -> None:
    line = Line("s-mpr")
    line.run_until(4.0)
    doc = runner._show_json(_view(line, 2, 4.0), "neighbors")
    (iface,) = doc["neighbors"]
    assert (iface["interface"], iface["address"], iface["relay"]) == ("radio0", "10.0.0.2", "s-mpr")
    assert iface["relays"] == "for 2 neighbour(s)"
    rows = {n["address"]: n for n in iface["neighbors"]}
    assert set(rows) == {"10.0.0.1", "10.0.0.3"}
    one = rows["10.0.0.1"]
    assert (one["status"], one["mac"], one["two_hop"]) == ("symmetric", mac(1).hex(":"), [])
    assert (one["mpr"], one["mpr_selector"], one["relay"]) == (False, True, "s-mpr")
    end = runner._show_json(_view(line, 1, 4.0), "neighbors")["neighbors"][0]
    (two,) = end["neighbors"]
    assert (two["mpr"], two["mpr_selector"], two["two_hop"]) == (True, False, ["10.0.0.3"])
    assert end["relays"] == "none"


def test_the_table_draws_each_neighbour_with_its_state() -> None:
    line = Line("s-mpr")
    line.run_until(4.0)
    text = render(ui.neighbors_table(_view(line, 1, 4.0)))
    assert "NHDP neighbours" in text
    assert "10.0.0.2" in text
    assert "symmetric" in text
    assert "s-mpr: none" in text
    assert "10.0.0.3" in text  # the 2-hop neighbour through 10.0.0.2


def test_a_reply_with_a_malformed_neighbours_part_is_one_line_error() -> None:
    line = Line("flood")
    line.run_until(2.0)
    reply = _view(line, 2, 2.0).to_json()
    reply["neighbors"]["interfaces"][0]["neighbors"][0]["two_hop"] = "10.0.0.9"
    with pytest.raises(RawfwdError, match=r"neighbors\.interfaces\[0\]\.neighbors\[0\]\.two_hop"):
        runner._view_of(reply, "@test")
