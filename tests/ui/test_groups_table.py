"""The groups table's warning for an interface whose members go unserved (issue 12), from a
hand-made view: the JSON the view carries, as `rawfwd show` receives it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rawfwd import ui
from rawfwd.control.unserved import table_hint
from rawfwd.view import View

from ..support.views import parse_table, render, snapshot, view_of


def interface(name: str, querier: str | None, **extra: Any) -> dict[str, Any]:
    group = {
        "group": "239.1.1.1",
        "mode": "exclude",
        "sources": {},
        "excluded": [],
        "expires": 250.0,
        "compat": 2,
        "last_reporter": "10.1.0.5",
    }
    return {
        "interface": name,
        "version": 3,
        "address": "10.1.0.1",
        "querier": querier,
        "is_querier": querier is None,
        "listen_only": False,
        "next_query": None,
        "other_querier_expires": 200.0,
        "groups": [group],
        "counters": {},
        **extra,
    }


def view_with(*interfaces: dict[str, Any], proxy: dict[str, Any] | None = None) -> View:
    igmp = {"interfaces": list(interfaces), "proxy": proxy, "ignored": {}, "lost": 0}
    view = dataclasses.replace(view_of(snapshot(3.0)), igmp=igmp)
    return View.from_json(json.loads(json.dumps(view.to_json())))  # as `show` gets it


def flat(text: str) -> str:
    """The rendered text with its line breaks and runs of spaces as single spaces."""
    return " ".join(text.split())


def test_an_unserved_interface_gets_a_warning_line() -> None:
    view = view_with(
        interface("eth1", "10.1.0.254", unserved=True),
        interface("eth2", "10.2.0.254", unserved=False),
        interface("eth3", "10.3.0.254"),  # from a rawfwd without the field
    )
    text = render(ui.groups_table(view))
    assert flat(table_hint("eth1", "10.1.0.254")) in flat(text)
    assert flat(text).count("⚠") == 1
    table, _ = text.split("⚠")  # the warning is below the rows, which are as they were
    _, rows = parse_table(table, "IGMP groups")
    assert [r["interface"] for r in rows] == ["eth1", "eth2", "eth3"]
    assert "⚠ eth1: members unserved" in render(ui.dashboard(view))


def test_the_warning_comes_before_the_proxy_line() -> None:
    proxy = {"upstream": "up", "version": 3, "querier": None, "groups": [], "counters": {}}
    view = view_with(interface("eth1", "10.1.0.254", unserved=True), proxy=proxy)
    text = flat(render(ui.groups_table(view)))
    warning = flat(table_hint("eth1", "10.1.0.254"))
    assert text.endswith(f"{warning} proxy upstream up (v3, querier not heard yet): no groups")


def test_no_warning_line_without_an_unserved_interface() -> None:
    view = view_with(interface("eth1", "10.1.0.254", unserved=False))
    assert "⚠" not in render(ui.groups_table(view))


def test_mld_listeners_are_told_from_igmp_members() -> None:
    mld = interface("eth2", None, protocol="mld", version=2)
    mld["address"] = "fe80::1"
    mld["groups"][0] |= {"group": "ff0e::1:1", "compat": 1, "last_reporter": "fe80::5"}
    view = view_with(interface("eth1", None, protocol="igmp"), mld)
    _, rows = parse_table(render(ui.groups_table(view)), "IGMP groups")
    by = {r["interface"]: r for r in rows}
    assert by["eth1"]["compat"] == "v2"
    assert by["eth2 (MLD)"]["compat"] == "MLDv1"
    assert by["eth2 (MLD)"]["group"] == "ff0e::1:1"
