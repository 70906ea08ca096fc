"""The live table, `rawfwd show` and the log summary, rendered from hand-built snapshots.

No terminal and no clock: every Snapshot is built here, rendered into a recording Console and
the exported text is read back as rows of named columns.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from rich.console import Console, RenderableType

from rawfwd import ui
from rawfwd.core.reasons import DropReason
from rawfwd.core.stats import FlowSnapshot, InterfaceSnapshot, Snapshot, freeze_drops
from rawfwd.view import LinkStatus, Rates, RateTracker, View

R = DropReason
GROUP = "239.1.2.3"
FLOW_COLUMNS = [
    "source",
    "group",
    "in",
    "out",
    "packets",
    "bytes",
    "pkt/s",
    "bit/s",
    "wrong_if",
    "ttl",
    "threshold",
    "duplicate",
    "malformed",
    "age",
    "idle",
]


# -- building inputs --------------------------------------------------------------------------


def flow(
    source: str = "10.0.0.5",
    *,
    iif: str = "eth0",
    group: str = GROUP,
    oifs: tuple[str, ...] = ("eth1", "eth2"),
    packets: int = 0,
    nbytes: int | None = None,
    drops: Mapping[DropReason, int] | None = None,
    first_seen: float = 0.0,
    last_seen: float = 0.0,
) -> FlowSnapshot:
    return FlowSnapshot(
        iif=iif,
        source=source,
        group=group,
        route=f"(*, {group}) from {iif}",
        oifs=oifs,
        packets=packets,
        bytes=packets * 1000 if nbytes is None else nbytes,
        forwarded=packets,
        copies=packets * len(oifs),
        drops=freeze_drops(drops or {}),
        first_seen=first_seen,
        last_seen=last_seen,
    )


def iface(
    name: str,
    *,
    rx: int = 0,
    tx: int = 0,
    up: bool = True,
    mac: str | None = "02:00:00:00:00:01",
    drops: Mapping[DropReason, int] | None = None,
    relayed: int = 0,
) -> InterfaceSnapshot:
    return InterfaceSnapshot(
        name=name,
        mac=mac,
        up=up,
        rx_frames=rx,
        rx_bytes=rx * 1000,
        tx_frames=tx,
        tx_bytes=tx * 1000,
        relayed=relayed,
        drops=freeze_drops(drops or {}),
    )


def snapshot(
    now: float,
    flows: tuple[FlowSnapshot, ...] = (),
    interfaces: tuple[InterfaceSnapshot, ...] = (),
) -> Snapshot:
    """A snapshot whose total drops are the interfaces' drops, as the forwarder counts them."""
    total: dict[DropReason, int] = {}
    for i in interfaces:
        for reason, n in i.drops.items():
            total[reason] = total.get(reason, 0) + n
    return Snapshot(
        now=now,
        flows=flows,
        interfaces=interfaces,
        drops=freeze_drops(total),
        dedup_entries=7,
        flows_evicted=1,
        flows_expired=2,
    )


def links_up(snap: Snapshot) -> tuple[LinkStatus, ...]:
    return tuple(LinkStatus(i.name, "up", n + 2, 0) for n, i in enumerate(snap.interfaces))


def view_of(
    snap: Snapshot,
    links: tuple[LinkStatus, ...] | None = None,
    rates: Rates | None = None,
    started: float = 0.0,
) -> View:
    if rates is None:
        rates = RateTracker().update(snap)
    return View(
        snapshot=snap,
        links=links_up(snap) if links is None else links,
        started=started,
        config_path="/etc/rawfwd/rawfwd.toml",
        rates=rates,
    )


def rates_between(first: Snapshot, second: Snapshot) -> Rates:
    tracker = RateTracker()
    tracker.update(first)
    return tracker.update(second)


# -- reading output ---------------------------------------------------------------------------


def render(renderable: RenderableType, width: int = 200) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def parse_table(text: str, title: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of the table titled `title` (cells are 2+ spaces apart)."""
    lines = text.splitlines()
    (start,) = [n for n, ln in enumerate(lines) if re.fullmatch(rf"{title}( \(\d+\))?", ln.strip())]
    header = re.split(r"\s{2,}", lines[start + 1].strip())
    assert set(lines[start + 2].strip()) == {"─"}
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip() or line.startswith(("…", "no flows yet")):
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(header), (header, line)
        rows.append(dict(zip(header, cells, strict=True)))
    return header, rows


def flow_rows(text: str) -> dict[str, dict[str, str]]:
    """Flow table rows by source address."""
    _, rows = parse_table(text, "flows")
    return {row["source"]: row for row in rows}


def interface_rows(text: str) -> dict[str, dict[str, str]]:
    _, rows = parse_table(text, "interfaces")
    return {row["interface"]: row for row in rows}


# -- the flows table --------------------------------------------------------------------------


def test_flows_table_has_every_column_and_the_flow() -> None:
    f = flow(packets=3, first_seen=10.0, last_seen=70.0)
    snap = snapshot(100.0, (f,), (iface("eth0", rx=3), iface("eth1"), iface("eth2")))
    text = render(ui.flows_table(view_of(snap)))
    header, rows = parse_table(text, "flows")
    assert header == FLOW_COLUMNS
    assert rows == [
        {
            "source": "10.0.0.5",
            "group": GROUP,
            "in": "eth0",
            "out": "eth1, eth2",
            "packets": "3",
            "bytes": ui.human_bytes(f.bytes),
            "pkt/s": "0",
            "bit/s": "0 b/s",
            "wrong_if": "-",
            "ttl": "-",
            "threshold": "-",
            "duplicate": "-",
            "malformed": "-",
            "age": ui.human_duration(100.0 - 10.0),
            "idle": ui.human_duration(100.0 - 70.0),
        }
    ]
    assert (rows[0]["age"], rows[0]["idle"]) == ("1m30s", "30s")


def test_flow_without_outgoing_interfaces_shows_a_dash() -> None:
    snap = snapshot(1.0, (flow(oifs=()),))
    assert flow_rows(render(ui.flows_table(view_of(snap))))["10.0.0.5"]["out"] == "-"


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


def test_drop_reasons_shown_per_flow() -> None:
    drops = {
        R.WRONG_IF: 7,
        R.TTL: 3,
        R.THRESHOLD: 2,
        R.DUPLICATE: 5,
        R.BAD_CHECKSUM: 1,
        R.TRUNCATED: 2,
        R.NO_EGRESS: 4,
    }
    snap = snapshot(1.0, (flow("10.0.0.1", drops=drops), flow("10.0.0.2", drops={R.TTL: 1})))
    text = render(ui.flows_table(view_of(snap)))
    header, _ = parse_table(text, "flows")
    # no_egress occurs, so it gets a column of its own, after the fixed ones.
    assert header == [*FLOW_COLUMNS[:-2], "no_egress", "age", "idle"]
    rows = flow_rows(text)
    malformed = sum(n for r, n in drops.items() if r.malformed)
    assert {k: rows["10.0.0.1"][k] for k in header[8:-2]} == {
        "wrong_if": str(drops[R.WRONG_IF]),
        "ttl": str(drops[R.TTL]),
        "threshold": str(drops[R.THRESHOLD]),
        "duplicate": str(drops[R.DUPLICATE]),
        "malformed": str(malformed),
        "no_egress": str(drops[R.NO_EGRESS]),
    }
    assert malformed == 3
    assert {k: rows["10.0.0.2"][k] for k in header[8:-2]} == {
        "wrong_if": "-",
        "ttl": "1",
        "threshold": "-",
        "duplicate": "-",
        "malformed": "-",
        "no_egress": "-",
    }


def test_busiest_flows_first_and_truncated_at_max_rows() -> None:
    count, max_rows = 30, 8
    t1, t2 = 0.0, 1.0
    # packets at t1 and t2; the rate order differs from the packet-count order.
    before = {f"10.0.1.{n}": 1000 - n * 10 for n in range(count)}
    after = {src: p + (n % 7) * 3 for n, (src, p) in enumerate(before.items())}
    first = snapshot(t1, tuple(flow(s, packets=p) for s, p in before.items()))
    second = snapshot(t2, tuple(flow(s, packets=p) for s, p in after.items()))
    view = view_of(second, rates=rates_between(first, second))

    def busy(src: str) -> tuple[float, int]:
        return ((after[src] - before[src]) / (t2 - t1), after[src])

    expected = sorted(after, key=busy, reverse=True)[:max_rows]
    text = render(ui.flows_table(view, max_rows=max_rows))
    _, rows = parse_table(text, "flows")
    assert [row["source"] for row in rows] == expected
    assert f"… {count - max_rows} more flows" in text


def test_default_max_rows_is_50() -> None:
    snap = snapshot(
        1.0, tuple(flow(f"10.0.{n // 200}.{n % 200 + 1}", packets=n) for n in range(60))
    )
    text = render(ui.flows_table(view_of(snap)))
    assert len(parse_table(text, "flows")[1]) == 50
    assert "… 10 more flows" in text


def test_no_truncation_message_when_everything_fits() -> None:
    snap = snapshot(1.0, (flow(),))
    text = render(ui.flows_table(view_of(snap), max_rows=1))
    assert "more flows" not in text


def test_no_flows_yet() -> None:
    text = render(ui.flows_table(view_of(snapshot(1.0))))
    assert "no flows yet" in text
    assert parse_table(text, "flows") == (FLOW_COLUMNS, [])


def test_many_flows_formats_only_the_rows_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = ui.human_duration

    def counting(seconds: float) -> str:
        nonlocal calls
        calls += 1
        return real(seconds)

    monkeypatch.setattr(ui, "human_duration", counting)
    n, max_rows = 20_000, 5
    snap = snapshot(1.0, tuple(flow(f"10.{i >> 8}.{i & 255}.1", packets=i) for i in range(n)))
    text = render(ui.flows_table(view_of(snap), max_rows=max_rows))
    assert calls == 2 * max_rows  # age and idle of the rows shown, nothing else
    sources = [row["source"] for row in parse_table(text, "flows")[1]]
    assert sources == [f"10.{i >> 8}.{i & 255}.1" for i in range(n - 1, n - 1 - max_rows, -1)]
    assert f"… {n - max_rows} more flows" in text


def test_compact_layout_when_the_full_one_does_not_fit() -> None:
    f = flow(drops={R.WRONG_IF: 7, R.BAD_IHL: 2}, packets=3)
    view = view_of(snapshot(1.0, (f,), (iface("eth0", drops={R.NOT_IPV4: 4}),)))
    full = render(ui.flows_table(view, width=200))
    assert parse_table(full, "flows")[0] == FLOW_COLUMNS
    narrow = render(ui.flows_table(view, width=130), width=130)
    header, rows = parse_table(narrow, "flows")
    assert "drops" in header
    assert "wrong_if" not in header
    assert rows[0]["source → group"] == f"10.0.0.5 → {GROUP}"
    assert rows[0]["drops"].replace("\u00a0", " ") == "wrong_if 7 malformed 2"  # column order
    ifaces = render(ui.interfaces_table(view, width=60), width=100)
    header, rows = parse_table(ifaces, "interfaces")
    assert "MAC" not in header
    assert rows[0]["drops"].replace("\u00a0", " ") == "not_ipv4 4"


# -- the interfaces table ---------------------------------------------------------------------


def test_interfaces_table_states_counters_and_send_errors() -> None:
    snap = snapshot(
        1.0,
        interfaces=(
            iface("eth0", rx=1234, drops={R.NOT_IPV4: 5, R.BAD_CHECKSUM: 2, R.WRONG_IF: 1}),
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
        "not_ipv4",
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
    assert rows["eth0"]["not_ipv4"] == "5"
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


def test_local_flows_are_shown_apart_from_their_echoes() -> None:
    echo = flow("10.100.0.1", iif="radio0", packets=3)
    mine = dataclasses.replace(echo, local=True, packets=5)
    text = render(ui.flows_table(view_of(snapshot(1.0, flows=(mine, echo)))))
    _, rows = parse_table(text, "flows")
    assert sorted((row["in"], row["packets"]) for row in rows) == [
        ("radio0", "3"),
        ("radio0 (local)", "5"),
    ]


def test_interface_state_without_link_status_comes_from_the_core() -> None:
    snap = snapshot(1.0, interfaces=(iface("eth0"), iface("eth1", up=False)))
    rows = interface_rows(render(ui.interfaces_table(view_of(snap, links=()))))
    assert (rows["eth0"]["state"], rows["eth1"]["state"]) == ("up", "down")
    assert rows["eth0"]["ifindex"] == "-"


def test_link_state_is_checked() -> None:
    with pytest.raises(ValueError, match="link state 'gone'"):
        LinkStatus("eth0", "gone", None, 0)


# -- dashboard and summary --------------------------------------------------------------------


def busy_view() -> View:
    interfaces_1 = (iface("eth0", rx=100), iface("eth1", tx=50), iface("eth2", mac=None))
    interfaces_2 = (
        iface("eth0", rx=2100, drops={R.WRONG_IF: 4, R.TTL: 2, R.BAD_IHL: 1}),
        iface("eth1", tx=1050),
        iface("eth2", up=False, mac=None),
    )
    first = snapshot(1000.0, (flow(packets=100),), interfaces_1)
    second = snapshot(
        1010.0,
        (flow(packets=2100, drops={R.WRONG_IF: 4, R.TTL: 2}, first_seen=990.0, last_seen=1009.0),),
        interfaces_2,
    )
    links = (
        LinkStatus("eth0", "up", 2, 0),
        LinkStatus("eth1", "up", 3, 6),
        LinkStatus("eth2", "absent", None, 0),
    )
    return view_of(second, links=links, rates=rates_between(first, second), started=900.0)


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


# -- human-readable numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7"),
        (0.5, "0.5"),
        (33.3333, "33"),
        (999, "999"),
        (999.7, "1.0k"),
        (1000, "1.0k"),
        (1234, "1.2k"),
        (12_345, "12k"),
        (999_999, "1.0M"),
        (3_400_000, "3.4M"),
        (5.6e9, "5.6G"),
    ],
)
def test_human(value: float, text: str) -> None:
    assert ui.human(value) == text


def test_human_units() -> None:
    assert ui.human_bits(850) == "850 b/s"
    assert ui.human_bits(1200) == "1.2 kb/s"
    assert ui.human_bits(34_000_000) == "34 Mb/s"
    assert ui.human_bytes(512) == "512 B"
    assert ui.human_bytes(3_400_000) == "3.4 MB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (65, "1m05s"),
        (3600 + 7 * 60, "1h07m"),
        (2 * 86400 + 3600, "2d01h"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert ui.human_duration(seconds) == text


# -- JSON round trips -------------------------------------------------------------------------


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


def test_groups_table_shows_each_interfaces_querier_groups_and_the_proxy() -> None:
    from ipaddress import IPv4Address

    from rawfwd.control.igmp import GroupRecord, RecordType, Report, V3Report
    from rawfwd.control.router import Router
    from tests.support.frames import toml_config

    router = Router(
        toml_config(
            '[interface.up]\nupstream = true\naddress = "192.168.1.2/24"\n'
            'mac = "02:00:00:00:00:0a"\n'
            '[interface.eth1]\nigmp = true\naddress = "10.1.0.1/24"\nmac = "02:00:00:00:00:02"\n'
        )
    )
    router.poll(0.0)
    members = router._ports["eth1"].membership
    members.on_report(int(IPv4Address("10.1.0.5")), Report(2, int(IPv4Address("239.1.1.1"))), 1.0)
    record = GroupRecord(
        RecordType.ALLOW_NEW_SOURCES,
        int(IPv4Address("232.1.1.1")),
        (int(IPv4Address("10.0.0.5")),),
    )
    members.on_report(int(IPv4Address("10.1.0.6")), V3Report((record,)), 2.0)
    router.poll(2.0)
    snap = snapshot(3.0)
    view = dataclasses.replace(view_of(snap), igmp=router.igmp_json(3.0))
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
