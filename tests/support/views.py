"""View test helpers: hand-built snapshots and views, rendered and read back as table rows.

No forwarder, no clock and no terminal: snapshots are built here, rendered into a recording
Console, and the exported text is split into rows of named columns.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

from rich.console import Console, RenderableType

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


def busy_view() -> View:
    """Ten busy seconds: rates, drops on eth0 and its flow, eth2 absent, send errors on eth1."""
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
