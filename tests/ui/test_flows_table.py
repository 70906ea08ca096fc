"""The flows table: every column, drop reasons per flow, busiest first, compact when narrow."""

from __future__ import annotations

import dataclasses

import pytest

from rawfwd import ui

from ..support.views import (
    FLOW_COLUMNS,
    GROUP,
    R,
    flow,
    flow_rows,
    iface,
    parse_table,
    rates_between,
    render,
    snapshot,
    view_of,
)


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
    view = view_of(snapshot(1.0, (f,), (iface("eth0", drops={R.NOT_IP: 4}),)))
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
    assert rows[0]["drops"].replace("\u00a0", " ") == "not_ip 4"


def test_local_flows_are_shown_apart_from_their_echoes() -> None:
    echo = flow("10.100.0.1", iif="radio0", packets=3)
    mine = dataclasses.replace(echo, local=True, packets=5)
    text = render(ui.flows_table(view_of(snapshot(1.0, flows=(mine, echo)))))
    _, rows = parse_table(text, "flows")
    assert sorted((row["in"], row["packets"]) for row in rows) == [
        ("radio0", "3"),
        ("radio0 (local)", "5"),
    ]
