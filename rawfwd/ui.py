"""What a person watching rawfwd sees: the live flow table, `rawfwd show` and the log summary.

Everything here renders immutable values (`View`: a core `Snapshot` plus what the live shell
knows about links, and rates from `RateTracker`), so it is tested without a terminal and the
same code serves the live table, `rawfwd show` (via `View.to_json` / `View.from_json` over the
control socket) and the one-line summary of `--no-ui`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from .control.unserved import table_hint
from .core.reasons import DropReason
from .core.stats import FlowSnapshot, InterfaceSnapshot
from .view import LinkStatus, View

#: Drop columns always shown in the tables, in this order; "malformed" sums every reason
#: whose `DropReason.malformed` is true. Other reasons get a column only when they occur.
FIXED_DROPS: Final = ("wrong_if", "ttl", "threshold", "duplicate", "malformed")
MAX_ROWS: Final = 50

_ZERO: Final = (0.0, 0.0)
_STATE_STYLE: Final = {"up": "green", "down": "yellow", "absent": "red", "unusable": "red"}


# -- human-readable numbers -------------------------------------------------------------------

_SI: Final = ("", "k", "M", "G", "T", "P")


def _plain(x: float) -> str:
    if x == int(x):
        return str(int(x))
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def human(x: float, unit: str = "", sep: str = "") -> str:
    """1234 -> "1.2k", 3.4e6 -> "3.4M": one decimal below 10 of a unit, none above.

    Values under 1000 are shown as they are (rates with one decimal when small).
    """
    if x < 0:
        return "-" + human(-x, unit, sep)
    if x < 999.5:  # 999.7 would print as "1000"
        return f"{_plain(x)}{sep}{unit}"
    for i in range(1, len(_SI)):
        v = x / 1000**i
        text = f"{v:.1f}" if v < 9.95 else f"{v:.0f}"
        if float(text) < 1000 or i == len(_SI) - 1:
            return f"{text}{sep}{_SI[i]}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_bits(bits_per_s: float) -> str:
    """A bit rate: "850 b/s", "1.2 kb/s", "34 Mb/s"."""
    return human(bits_per_s, "b/s", " ")


def human_bytes(n: float) -> str:
    """A byte count in decimal units: "512 B", "1.2 kB", "3.4 MB"."""
    return human(n, "B", " ")


def human_duration(seconds: float) -> str:
    """Like 42s, 3m05s, 2h07m, 4d03h: the two largest units are enough to read an age."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


# -- drops by reason --------------------------------------------------------------------------


def _drop_columns(drops: Mapping[DropReason, int]) -> dict[str, int]:
    """Counts by column name: malformed reasons summed into "malformed"."""
    out: dict[str, int] = {}
    for reason, n in drops.items():
        col = "malformed" if reason.malformed else reason.value
        out[col] = out.get(col, 0) + n
    return out


def _columns_for(rows: Iterable[Mapping[str, int]]) -> list[str]:
    """The fixed drop columns plus any other reason that occurs in `rows`, in enum order."""
    seen = {col for row in rows for col, n in row.items() if n}
    extra = [
        r.value
        for r in DropReason
        if not r.malformed and r.value not in FIXED_DROPS and r.value in seen
    ]
    return [*FIXED_DROPS, *extra]


def _drops_text(drops: Mapping[DropReason, int]) -> str:
    """'wrong_if 3, ttl 1' (every reason by name), or 'none'."""
    return ", ".join(f"{r.value} {human(n)}" for r, n in drops.items() if n) or "none"


def _count(n: int) -> Text:
    """A drop or error count: red when there are any, a dim dash when none."""
    return Text(human(n), style="red") if n else Text("-", style="dim")


# -- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    right: bool = False  #: numbers are right-justified
    wrap: bool = False  #: lists and drop texts may wrap; everything else never does


_Grid = tuple[list[_Col], list[list[Text]]]


def _natural_width(grid: _Grid) -> int:
    """Width of the table `_table` makes from `grid`, no column squeezed (3 between columns)."""
    cols, rows = grid
    widths = [len(c.name) for c in cols]
    for row in rows:
        for n, cell in enumerate(row):
            widths[n] = max(widths[n], cell.cell_len)
    return sum(widths) + 3 * (len(cols) - 1)


def _choose(full: _Grid, compact: Callable[[], _Grid], width: int | None) -> _Grid:
    """The full layout, unless a `width` is given that it does not fit."""
    if width is None or _natural_width(full) <= width:
        return full
    return compact()


def _table(title: str, grid: _Grid, caption: str | None = None) -> Table:
    cols, rows = grid
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for c in cols:
        table.add_column(c.name, justify="right" if c.right else "left", no_wrap=not c.wrap)
    for row in rows:
        table.add_row(*row)
    return table


def _drops_cell(drops: Mapping[str, int]) -> Text:
    """The compact layout's one drops column (a no-break space binds reason and count)."""
    cols = _columns_for((drops,))  # the full layout's column order
    text = " ".join(f"{col}\u00a0{human(drops[col])}" for col in cols if drops.get(col))
    return Text(text, style="red") if text else Text("-", style="dim")


@dataclass(frozen=True, slots=True)
class _FlowRow:
    flow: FlowSnapshot
    drops: dict[str, int]  #: by column name
    pps: float
    bps: float


def _busiest(view: View, max_rows: int) -> list[_FlowRow]:
    """The `max_rows` flows with the highest packet rate, then packet count (O(n log k))."""
    rates = view.rates.flows
    zero = _ZERO

    def key(f: FlowSnapshot) -> tuple[float, int]:
        return (rates.get((f.arrival, f.source, f.group), zero)[0], f.packets)

    out = []
    for f in heapq.nlargest(max(0, max_rows), view.snapshot.flows, key=key):
        pps, bps = rates.get((f.arrival, f.source, f.group), zero)
        out.append(_FlowRow(f, _drop_columns(f.drops), pps, bps))
    return out


def _flows_full(now: float, rows: list[_FlowRow]) -> _Grid:
    drop_cols = _columns_for(r.drops for r in rows)
    cols = [
        _Col("source"),
        _Col("group"),
        _Col("in"),
        _Col("out", wrap=True),
        _Col("packets", right=True),
        _Col("bytes", right=True),
        _Col("pkt/s", right=True),
        _Col("bit/s", right=True),
        *(_Col(name, right=True) for name in drop_cols),
        _Col("age", right=True),
        _Col("idle", right=True),
    ]
    cells = [
        [
            Text(r.flow.source),
            Text(r.flow.group),
            Text(r.flow.arrival),
            Text(", ".join(r.flow.oifs)) if r.flow.oifs else Text("-", style="dim"),
            Text(human(r.flow.packets)),
            Text(human_bytes(r.flow.bytes)),
            Text(human(r.pps)),
            Text(human_bits(r.bps)),
            *(_count(r.drops.get(name, 0)) for name in drop_cols),
            Text(human_duration(now - r.flow.first_seen)),
            Text(human_duration(now - r.flow.last_seen)),
        ]
        for r in rows
    ]
    return cols, cells


def _flows_compact(now: float, rows: list[_FlowRow]) -> _Grid:
    cols = [
        _Col("source → group", wrap=True),
        _Col("in → out", wrap=True),
        _Col("packets", right=True),
        _Col("pkt/s", right=True),
        _Col("bit/s", right=True),
        _Col("drops", wrap=True),
        _Col("age", right=True),
        _Col("idle", right=True),
    ]
    cells = [
        [
            Text(f"{r.flow.source} → {r.flow.group}"),
            Text(f"{r.flow.arrival} → {', '.join(r.flow.oifs) or '-'}"),
            Text(human(r.flow.packets)),
            Text(human(r.pps)),
            Text(human_bits(r.bps)),
            _drops_cell(r.drops),
            Text(human_duration(now - r.flow.first_seen)),
            Text(human_duration(now - r.flow.last_seen)),
        ]
        for r in rows
    ]
    return cols, cells


def _flows_table(view: View, rows: list[_FlowRow], width: int | None) -> Table:
    now, total = view.snapshot.now, len(view.snapshot.flows)
    grid = _choose(_flows_full(now, rows), lambda: _flows_compact(now, rows), width)
    caption: str | None = None
    if total > len(rows):
        caption = f"… {total - len(rows)} more flows"
    elif not total:
        caption = "no flows yet"
    return _table(f"flows ({total})", grid, caption)


def flows_table(view: View, *, max_rows: int = MAX_ROWS, width: int | None = None) -> Table:
    """One row per flow ((S,G) and incoming interface), busiest first, at most `max_rows`.

    With a `width` (say `console.width`) that the full layout does not fit, a compact one
    with all drop reasons in one column is used instead.
    """
    return _flows_table(view, _busiest(view, max_rows), width)


def _interfaces(view: View) -> list[tuple[str, InterfaceSnapshot | None, LinkStatus | None]]:
    """Core interfaces in the core's order, then links the core does not know (if any)."""
    links = {link.name: link for link in view.links}
    out: list[tuple[str, InterfaceSnapshot | None, LinkStatus | None]] = [
        (i.name, i, links.pop(i.name, None)) for i in view.snapshot.interfaces
    ]
    out.extend((name, None, link) for name, link in links.items())
    return out


@dataclass(frozen=True, slots=True)
class _IfRow:
    name: Text
    state: Text
    ifindex: Text
    mac: Text
    counters: tuple[Text, ...]  #: rx, rx/s, tx, tx/s, relayed (packets in here that left)
    drops: dict[str, int]  #: by column name
    send_errors: Text


def _interface_rows(view: View) -> list[_IfRow]:
    rates = view.rates.interfaces
    rows = []
    for name, i, link in _interfaces(view):
        if link is not None:
            state = link.state
        elif i is not None and i.up:
            state = "up"
        else:
            state = "down"
        rx_rate, tx_rate = rates.get(name, _ZERO)
        ifindex = link.ifindex if link is not None else None
        mac = i.mac if i is not None else None
        rows.append(
            _IfRow(
                name=Text(name),
                state=Text(state, style=_STATE_STYLE.get(state, "")),
                ifindex=Text(str(ifindex) if ifindex is not None else "-"),
                mac=Text(mac or "-"),
                counters=(
                    Text(human(i.rx_frames) if i is not None else "-"),
                    Text(human(rx_rate)),
                    Text(human(i.tx_frames) if i is not None else "-"),
                    Text(human(tx_rate)),
                    Text(human(i.relayed) if i is not None else "-"),
                ),
                drops=_drop_columns(i.drops) if i is not None else {},
                send_errors=_count(link.send_errors if link is not None else 0),
            )
        )
    return rows


_IF_NUMBERS: Final = tuple(_Col(n, right=True) for n in ("rx", "rx/s", "tx", "tx/s", "relayed"))


def _interfaces_full(rows: list[_IfRow]) -> _Grid:
    drop_cols = _columns_for(r.drops for r in rows)
    cols = [
        _Col("interface"),
        _Col("state"),
        _Col("ifindex", right=True),
        _Col("MAC"),
        *_IF_NUMBERS,
        *(_Col(n, right=True) for n in drop_cols),
        _Col("send errors", right=True),
    ]
    cells = [
        [
            r.name,
            r.state,
            r.ifindex,
            r.mac,
            *r.counters,
            *(_count(r.drops.get(n, 0)) for n in drop_cols),
            r.send_errors,
        ]
        for r in rows
    ]
    return cols, cells


def _interfaces_compact(rows: list[_IfRow]) -> _Grid:
    cols = [
        _Col("interface"),
        _Col("state"),
        *_IF_NUMBERS,
        _Col("drops", wrap=True),
        _Col("send errors", right=True, wrap=True),
    ]
    cells = [[r.name, r.state, *r.counters, _drops_cell(r.drops), r.send_errors] for r in rows]
    return cols, cells


def interfaces_table(view: View, *, width: int | None = None) -> Table:
    """Per interface: state, MAC, rx/tx frames and rates, drops by reason, send errors.

    `width` as for `flows_table`: the compact layout leaves out ifindex and MAC.
    """
    rows = _interface_rows(view)
    grid = _choose(_interfaces_full(rows), lambda: _interfaces_compact(rows), width)
    return _table("interfaces", grid)


# -- header, dashboard, summary ---------------------------------------------------------------


def _totals(view: View) -> tuple[int, int, float, float]:
    """Frames received and sent on all interfaces, and their rates."""
    snap = view.snapshot
    rx = sum(i.rx_frames for i in snap.interfaces)
    tx = sum(i.tx_frames for i in snap.interfaces)
    rates = view.rates.interfaces.values()
    return rx, tx, sum(r[0] for r in rates), sum(r[1] for r in rates)


def _header(view: View) -> Text:
    snap = view.snapshot
    rx, tx, rx_rate, tx_rate = _totals(view)
    text = Text()
    text.append("rawfwd", style="bold")
    text.append(f"  up {human_duration(view.uptime)}  config ")
    text.append(view.config_path, style="cyan")
    text.append("\n")
    text.append(f"flows {human(len(snap.flows))}", style="bold")
    text.append(
        f"  expired {human(snap.flows_expired)}  evicted {human(snap.flows_evicted)}"
        f"  dedup entries {human(snap.dedup_entries)}\n"
    )
    text.append(f"packets in {human(rx)} ({human(rx_rate)}/s)")
    text.append(f"  out {human(tx)} ({human(tx_rate)}/s)")
    text.append("\ndrops ")
    text.append(_drops_text(snap.drops), style="red" if snap.drops else "dim")
    text.append("\n")
    return text


def _seconds(value: Any) -> str:
    return "-" if value is None else human_duration(float(value))


#: the warning of an interface whose members go unserved: seen, not a dim caption
_WARNING: Final = "bold red not dim not italic"


def groups_table(view: View) -> Table:
    """IGMP groups per interface (RFC 3376 section 6.2), and MLD's listeners (RFC 3810,
    marked "(MLD)", versions "MLDv1"/"MLDv2"): filter mode, the sources wanted
    with their timers (INCLUDE) or excluded (EXCLUDE), the group timer, the oldest host
    version heard, the last reporter; each interface's querier in the title column.
    Below: a warning line per interface whose JSON says `"unserved": true` (another
    querier there does not forward to members we could serve), then the proxy's state."""
    cols = [
        _Col("interface"),
        _Col("querier"),
        _Col("group"),
        _Col("mode"),
        _Col("sources", wrap=True),
        _Col("excluded", wrap=True),
        _Col("expires", right=True),
        _Col("compat", right=True),
        _Col("last reporter"),
    ]
    rows: list[list[Text]] = []
    igmp = view.igmp or {}
    for iface in igmp.get("interfaces", []):
        who = f"us ({iface['address']})" if iface["is_querier"] else str(iface["querier"] or "-")
        if iface["listen_only"]:
            who += ", listen only"
        mld = iface.get("protocol") == "mld"  # older rawfwd answers have no such field
        head = [Text(str(iface["interface"]) + (" (MLD)" if mld else "")), Text(who)]
        if not iface["groups"]:
            rows.append([*head, *(Text("-") for _ in range(7))])
        for g in iface["groups"]:
            sources = ", ".join(f"{s} ({_seconds(t)})" for s, t in g["sources"].items())
            rows.append(
                [
                    *head,
                    Text(str(g["group"])),
                    Text(str(g["mode"])),
                    Text(sources or "-"),
                    Text(", ".join(g["excluded"]) or "-"),
                    Text(_seconds(g["expires"])),
                    Text(f"{'MLD' if mld else ''}v{g['compat']}"),
                    Text(str(g["last_reporter"])),
                ]
            )
    caption = Text()
    for iface in igmp.get("interfaces", []):
        if iface.get("unserved") is True:  # older rawfwd answers have no such field
            elected = str(iface["querier"]) if iface["querier"] else None
            caption.append(table_hint(str(iface["interface"]), elected) + "\n", style=_WARNING)
    proxy = igmp.get("proxy")
    if proxy:
        told = ", ".join(
            f"{g['group']} {g['mode']}"
            + (f" {{{', '.join(g['sources'])}}}" if g["sources"] else "")
            for g in proxy["groups"]
        )
        querier = proxy["querier"] or "not heard yet"
        caption.append(
            f"proxy upstream {proxy['upstream']} (v{proxy['version']}, querier {querier}): "
            f"{told or 'no groups'}"
        )
    table = _table("IGMP groups", (cols, rows))
    if caption:
        caption.rstrip()
        table.caption = caption
    return table


def neighbors_table(view: View) -> Table:
    """NHDP neighbours per MANET interface (RFC 6130): link status, the 2-hop neighbours
    heard through each, and the flooding MPR choices both ways (RFC 7181); each
    interface's relay algorithm and whether this node relays in the title column."""
    cols = [
        _Col("interface"),
        _Col("relays"),
        _Col("neighbour"),
        _Col("mac"),
        _Col("status"),
        _Col("2-hop", wrap=True),
        _Col("our MPR"),
        _Col("chose us"),
        _Col("expires", right=True),
    ]
    rows: list[list[Text]] = []
    for iface in (view.neighbors or {}).get("interfaces", []):
        head = [
            Text(f"{iface['interface']} ({iface['address'] or 'no address'})"),
            Text(f"{iface['relay']}: {iface['relays']}"),
        ]
        if not iface["neighbors"]:
            rows.append([*head, *(Text("-") for _ in range(7))])
        for n in iface["neighbors"]:
            rows.append(
                [
                    *head,
                    Text(str(n["address"])),
                    Text(str(n["mac"])),
                    Text(str(n["status"])),
                    Text(", ".join(n["two_hop"]) or "-"),
                    Text("yes" if n["mpr"] else "-"),
                    Text("yes" if n["mpr_selector"] else "-"),
                    Text(_seconds(n["expires"])),
                ]
            )
    return _table("NHDP neighbours", (cols, rows))


def pim_table(view: View) -> Table:
    """PIM neighbours per interface (RFC 7761 section 4.3): each one's DR priority, holdtime
    and generation ID, with the interface's DR (and whether it is us) in the title columns."""
    cols = [
        _Col("interface"),
        _Col("DR"),
        _Col("neighbour"),
        _Col("priority", right=True),
        _Col("holdtime", right=True),
        _Col("generation id"),
        _Col("expires", right=True),
    ]
    rows: list[list[Text]] = []
    for iface in (view.pim or {}).get("interfaces", []):
        dr = iface["dr"] or "-"
        head = [
            Text(f"{iface['interface']} ({iface['address'] or 'no address'})"),
            Text(f"{dr} (us)" if iface["is_dr"] else str(dr)),
        ]
        if not iface["neighbors"]:
            rows.append([*head, *(Text("-") for _ in range(5))])
        for n in iface["neighbors"]:
            genid = n["generation_id"]
            rows.append(
                [
                    *head,
                    Text(str(n["address"])),
                    Text("-" if n["dr_priority"] is None else str(n["dr_priority"])),
                    Text(str(n["holdtime"])),
                    Text(f"{genid:#010x}" if isinstance(genid, int) else "-"),
                    Text(_seconds(n["expires"])),
                ]
            )
    return _table("PIM neighbours", (cols, rows))


def pim_joins_table(view: View) -> Table:
    """PIM join state (RFC 7761 4.5): each (*,G)/(S,G) entry with its upstream state and
    neighbour, the downstream state per interface, and where it forwards; in dense mode
    (RFC 3973) the flood-and-prune state with its timers; assert losses and register
    states after them."""
    cols = [
        _Col("entry"),
        _Col("upstream"),
        _Col("downstream", wrap=True),
        _Col("forwards to", wrap=True),
    ]
    rows: list[list[Text]] = []
    pim = view.pim or {}
    for e in pim.get("joins", []):
        up = e["upstream"]
        toward = f" via {up['neighbor']} ({up['interface']})" if up.get("neighbor") else ""
        downstream = ", ".join(f"{n}: {d['state']}" for n, d in e["downstream"].items())
        rows.append(
            [
                Text(f"({e['source']}, {e['group']})"),
                Text(f"{up['state']}{toward}"),
                Text(downstream or "-"),
                Text(", ".join(e["oifs"]) or "-"),
            ]
        )
    for e in pim.get("dense", []):  # PIM-DM (RFC 3973 4.4): flood and prune state
        up = e["upstream"]
        if up["neighbor"] is None:
            upstream = "first hop"
        else:
            upstream = f"{up['state']} via {up['neighbor']} ({e['interface']})"
            for key, name in (("prune_limit", "prune limit"), ("graft_retry", "graft retry")):
                if up[key] is not None:
                    upstream += f", {name} {_seconds(up[key])}"
        if e["state_refresh"]["originator"]:
            upstream += f", state refresh in {_seconds(e['state_refresh']['timer'])}"
        downstream = ", ".join(
            f"{n}: {d['state']} {_seconds(d['timer'])}" for n, d in e["downstream"].items()
        )
        rows.append(
            [
                Text(f"({e['source']}, {e['group']}) dense"),
                Text(upstream),
                Text(downstream or "-"),
                Text(", ".join(e["oifs"]) or "-"),
            ]
        )
    for a in pim.get("asserts", []):
        rows.append(
            [
                Text(f"({a['source']}, {a['group']})"),
                Text(f"assert {a['state']} on {a['interface']}"),
                Text(f"winner {a['winner']}"),
                Text("-"),
            ]
        )
    for r in pim.get("registers", {}).get("states", []):
        rows.append(
            [
                Text(f"({r['source']}, {r['group']})"),
                Text(f"register {r['state']}"),
                Text("-"),
                Text("pimreg" if r["state"] == "Join" else "-"),
            ]
        )
    return _table("PIM join state", (cols, rows))


class _Dashboard:
    """Picks each table's layout when rendered, from the width `rich.live.Live` offers.

    The busiest flows are chosen once, here, not again on every refresh of the same view.
    """

    __slots__ = ("_flows", "_header", "_view")

    def __init__(self, view: View, max_rows: int) -> None:
        self._view = view
        self._header = _header(view)
        self._flows = _busiest(view, max_rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield self._header
        yield interfaces_table(self._view, width=width)
        if self._view.igmp and self._view.igmp.get("interfaces"):
            yield Text()
            yield groups_table(self._view)
        if self._view.neighbors and self._view.neighbors.get("interfaces"):
            yield Text()
            yield neighbors_table(self._view)
        if self._view.pim and self._view.pim.get("interfaces"):
            yield Text()
            yield pim_table(self._view)
            if self._view.pim.get("joins") or self._view.pim.get("registers", {}).get("states"):
                yield Text()
                yield pim_joins_table(self._view)
        yield Text()
        yield _flows_table(self._view, self._flows, width)


def dashboard(view: View, *, max_rows: int = MAX_ROWS) -> RenderableType:
    """Header, interfaces and the busiest flows: what `rich.live.Live` shows each tick."""
    return _Dashboard(view, max_rows)


def summary_line(view: View, flows: int | None = None) -> str:
    """The periodic one-line log summary when there is no live table (`--no-ui`, no tty).

    `flows` is the number of flows when `view` was built without them (they cost time).
    """
    snap = view.snapshot
    rx, tx, rx_rate, tx_rate = _totals(view)
    parts = [
        f"up {human_duration(view.uptime)}",
        f"flows {len(snap.flows) if flows is None else flows}",
        f"rx {human(rx)} pkts ({human(rx_rate)}/s)",
        f"tx {human(tx)} pkts ({human(tx_rate)}/s)",
        f"drops: {_drops_text(snap.drops)}",
    ]
    not_up = [f"{link.name} {link.state}" for link in view.links if link.state != "up"]
    if not_up:
        parts.append(f"links: {', '.join(not_up)}")
    send_errors = sum(link.send_errors for link in view.links)
    if send_errors:
        parts.append(f"send errors {human(send_errors)}")
    tx_dropped = sum(link.tx_dropped for link in view.links)
    if tx_dropped:
        parts.append(f"tx dropped {human(tx_dropped)}")
    return "; ".join(parts)
