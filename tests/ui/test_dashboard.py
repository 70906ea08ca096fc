"""The dashboard (header, tables, IGMP groups) at any width, and the one-line log summary."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rawfwd import ui
from rawfwd.view import View

from ..support.views import (
    busy_view,
    flow,
    flow_rows,
    iface,
    interface_rows,
    parse_table,
    render,
    snapshot,
    view_of,
)


def test_dashboard_has_header_and_both_tables() -> None:
    view = busy_view()
    text = render(ui.dashboard(view))
    uptime = ui.human_duration(1010.0 - 900.0)
    assert uptime == "1m50s"
    assert f"up {uptime}" in text
    assert "config /etc/rawfwd/rawfwd.toml" in text
    assert "flows 1" in text
    rx_rate = (2100 - 100) / 10
    tx_rate = (1050 - 50) / 10
    assert f"packets in {ui.human(2100)} ({ui.human(rx_rate)}/s)" in text
    assert f"out {ui.human(1050)} ({ui.human(tx_rate)}/s)" in text
    assert "drops bad_ihl 1, wrong_if 4, ttl 2" in text
    assert interface_rows(text)["eth2"]["state"] == "absent"
    assert flow_rows(text)["10.0.0.5"]["pkt/s"] == ui.human((2100 - 100) / 10)


@pytest.mark.parametrize("width", [80, 130])
def test_dashboard_fits_a_narrow_terminal(width: int) -> None:
    text = render(ui.dashboard(busy_view()), width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    lines = [line.split() for line in text.splitlines()]
    assert any({"packets", "pkt/s", "bit/s", "drops", "age", "idle"} <= set(line) for line in lines)
    assert ["eth2", "absent"] in [line[:2] for line in lines]
    flat = text.replace("\u00a0", " ")
    assert "wrong_if 4" in flat
    assert "10.0.0.5 →" in flat


def test_dashboard_with_max_rows() -> None:
    snap = snapshot(1.0, tuple(flow(f"10.0.0.{n}", packets=n) for n in range(1, 6)))
    text = render(ui.dashboard(view_of(snap), max_rows=2))
    assert [r["source"] for r in parse_table(text, "flows")[1]] == ["10.0.0.5", "10.0.0.4"]
    assert "… 3 more flows" in text


def test_summary_line() -> None:
    view = busy_view()
    line = ui.summary_line(view)
    assert "\n" not in line
    assert line == (
        f"up {ui.human_duration(110.0)}; flows 1; "
        f"rx {ui.human(2100)} pkts ({ui.human(200.0)}/s); "
        f"tx {ui.human(1050)} pkts ({ui.human(100.0)}/s); "
        "drops: bad_ihl 1, wrong_if 4, ttl 2; links: eth2 absent; send errors 6"
    )
    assert line.startswith("up 1m50s; flows 1; rx 2.1k pkts (200/s); tx 1.1k pkts (100/s);")


def test_summary_line_when_quiet() -> None:
    snap = snapshot(3.0, interfaces=(iface("eth0"),))
    assert ui.summary_line(view_of(snap, started=1.0)) == (
        "up 2s; flows 0; rx 0 pkts (0/s); tx 0 pkts (0/s); drops: none"
    )


def test_groups_table_shows_each_interfaces_querier_groups_and_the_proxy() -> None:
    from ipaddress import IPv4Address

    from rawfwd.control.engine import Engine
    from rawfwd.control.igmp import GroupRecord, RecordType, Report, V3Report

    from ..support.frames import toml_config

    engine = Engine(
        toml_config(
            '[interface.up]\nupstream = true\naddress = "192.168.1.2/24"\n'
            'mac = "02:00:00:00:00:0a"\n'
            '[interface.eth1]\nigmp = true\naddress = "10.1.0.1/24"\nmac = "02:00:00:00:00:02"\n'
        )
    )
    engine.handle_timer(0.0)
    members = engine.igmp._ports["eth1"].membership
    members.on_report(int(IPv4Address("10.1.0.5")), Report(2, int(IPv4Address("239.1.1.1"))), 1.0)
    record = GroupRecord(
        RecordType.ALLOW_NEW_SOURCES,
        int(IPv4Address("232.1.1.1")),
        (int(IPv4Address("10.0.0.5")),),
    )
    members.on_report(int(IPv4Address("10.1.0.6")), V3Report((record,)), 2.0)
    engine.igmp.poll(2.0)  # the reports went straight to the records: settle them
    snap = snapshot(3.0)
    view = dataclasses.replace(view_of(snap), igmp=engine.igmp_json(3.0))
    assert View.from_json(json.loads(json.dumps(view.to_json()))).igmp == view.igmp
    text = render(ui.groups_table(view))
    table, caption = text.split("proxy upstream")
    _, rows = parse_table(table, "IGMP groups")
    assert [(r["interface"], r["group"], r["mode"]) for r in rows] == [
        ("eth1", "232.1.1.1", "include"),
        ("eth1", "239.1.1.1", "exclude"),
    ]
    assert rows[0]["querier"] == "us (10.1.0.1)"
    assert rows[0]["sources"].startswith("10.0.0.5 (")
    assert rows[1]["last reporter"] == "10.1.0.5"
    assert caption.startswith(" up (v3, querier not heard yet): 232.1.1.1 include {10.0.0.5}, ")
    assert "239.1.1.1 exclude" in caption
    assert "IGMP groups" in render(ui.dashboard(view))
