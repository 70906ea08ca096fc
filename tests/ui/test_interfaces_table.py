"""The interfaces table: link state, counters, MANET relaying, drops and send errors."""

from __future__ import annotations

import pytest

from rawfwd import ui
from rawfwd.view import LinkStatus

from ..support.views import R, iface, interface_rows, parse_table, render, snapshot, view_of


def test_interfaces_table_states_counters_and_send_errors() -> None:
    snap = snapshot(
        1.0,
        interfaces=(
            iface("eth0", rx=1234, drops={R.NOT_IP: 5, R.BAD_CHECKSUM: 2, R.WRONG_IF: 1}),
            iface("eth1", tx=999, mac="02:00:00:00:00:02"),
            iface("eth2", up=False, mac=None),
            iface("eth3", up=False, mac=None),
        ),
    )
    links = (
        LinkStatus("eth0", "up", 2, 0),
        LinkStatus("eth1", "up", 3, 17),
        LinkStatus("eth2", "down", 4, 0),
        LinkStatus("eth3", "absent", None, 0),
        LinkStatus("wlan9", "absent", None, 0),  # known to the shell only
    )
    text = render(ui.interfaces_table(view_of(snap, links=links)))
    header, _ = parse_table(text, "interfaces")
    assert header == [
        "interface",
        "state",
        "ifindex",
        "MAC",
        "rx",
        "rx/s",
        "tx",
        "tx/s",
        "relayed",
        "wrong_if",
        "ttl",
        "threshold",
        "duplicate",
        "malformed",
        "not_ip",
        "send errors",
    ]
    rows = interface_rows(text)
    assert list(rows) == ["eth0", "eth1", "eth2", "eth3", "wlan9"]
    assert {k: rows["eth0"][k] for k in ("state", "ifindex", "MAC", "rx", "tx")} == {
        "state": "up",
        "ifindex": "2",
        "MAC": "02:00:00:00:00:01",
        "rx": ui.human(1234),
        "tx": "0",
    }
    assert rows["eth0"]["rx"] == "1.2k"
    assert (rows["eth0"]["wrong_if"], rows["eth0"]["malformed"]) == ("1", "2")
    assert rows["eth0"]["not_ip"] == "5"
    assert (rows["eth1"]["tx"], rows["eth1"]["send errors"]) == ("999", "17")
    assert (rows["eth2"]["state"], rows["eth2"]["MAC"]) == ("down", "-")
    assert (rows["eth3"]["state"], rows["eth3"]["ifindex"]) == ("absent", "-")
    assert (rows["wlan9"]["state"], rows["wlan9"]["rx"]) == ("absent", "-")


def test_a_mesh_radio_shows_relayed_duplicates_own_echoes_and_ttl() -> None:
    radio = iface(
        "radio0", rx=30, tx=10, relayed=10, drops={R.DUPLICATE: 15, R.OWN_ECHO: 4, R.TTL: 1}
    )
    rows = interface_rows(render(ui.interfaces_table(view_of(snapshot(1.0, interfaces=(radio,))))))
    got = {k: rows["radio0"][k] for k in ("relayed", "duplicate", "own_echo", "ttl")}
    assert got == {"relayed": "10", "duplicate": "15", "own_echo": "4", "ttl": "1"}


def test_interface_state_without_link_status_comes_from_the_core() -> None:
    snap = snapshot(1.0, interfaces=(iface("eth0"), iface("eth1", up=False)))
    rows = interface_rows(render(ui.interfaces_table(view_of(snap, links=()))))
    assert (rows["eth0"]["state"], rows["eth1"]["state"]) == ("up", "down")
    assert rows["eth0"]["ifindex"] == "-"


def test_link_state_is_checked() -> None:
    with pytest.raises(ValueError, match="link state 'gone'"):
        LinkStatus("eth0", "gone", None, 0)
