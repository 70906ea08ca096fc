"""`rawfwd run` and `rawfwd show`: logging, the live table, and talking to the daemon."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import trio
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler

from . import __version__, native
from .config.load import load_config
from .errors import RawfwdError
from .io import control_socket
from .io.daemon import Daemon, check_privileges
from .ui import (
    dashboard,
    flows_table,
    groups_table,
    interfaces_table,
    neighbors_table,
    pim_joins_table,
    pim_table,
    summary_line,
)
from .view import View

log = logging.getLogger("rawfwd")


def _setup_logging(console: Console | None, level: str, stream: TextIO) -> None:
    handler: logging.Handler
    if console is not None:
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s rawfwd %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def run(
    config_path: Path,
    *,
    ui: bool | None,
    control_address: str | None,
    stats_interval: float,
    log_level: str = "INFO",
    cpu: int | None = None,
    rings: bool = True,
    fast_path: bool = False,
    busy_poll: float = 0.0,
    keep_privileges: bool = False,
) -> int:
    """Run the forwarder in the foreground until SIGINT/SIGTERM."""
    # until the daemon's signal task runs, SIGHUP would kill the process: ignore it early
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = load_config(config_path)
    check_privileges()
    if control_address is None:
        control_address = control_socket.default_address(create=True)
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, ValueError) as exc:
            raise RawfwdError(f"--cpu {cpu}: {getattr(exc, 'strerror', None) or exc}") from None
    live = sys.stdout.isatty() if ui is None else ui
    console = Console() if live else None
    _setup_logging(console, log_level, sys.stderr)
    for warning in config.warnings:
        log.warning("%s", warning)
    log.info("rawfwd %s, %s", __version__, native.status().describe())
    daemon = Daemon(
        config_path,
        config,
        load=load_config,
        control_address=control_address,
        rings=rings,
        fast_path=fast_path,
        live_view=live,
        busy_poll=busy_poll / 1e6,
        drop_privileges=not keep_privileges,
    )

    async def live_table(d: Daemon) -> None:
        assert console is not None
        with Live(dashboard(d.view()), console=console, auto_refresh=False) as screen:
            while True:
                await trio.sleep(1.0)
                screen.update(dashboard(d.view()), refresh=True)

    async def log_lines(d: Daemon) -> None:
        while True:
            await trio.sleep(stats_interval)
            log.info("%s", summary_line(*d.summary_view()))

    # Everything allocated so far (modules, config, the daemon) lives for the whole run:
    # keep the cyclic garbage collector from walking it again and again. Full collections
    # over it were the multi-millisecond pauses behind the p99 latency (`make bench`).
    import pyroute2  # noqa: F401  (here, not on the FIB thread: importing holds the GIL)

    gc.collect()
    gc.freeze()
    trio.run(daemon.run, live_table if live else log_lines)
    return 0


def show(what: str, *, as_json: bool, control_address: str | None) -> int:
    """Print what the running instance's table shows: flows, interfaces, groups or all.

    The reply is checked before anything is printed: a malformed one is a one-line error,
    and the table gets its strings without control characters (a terminal would obey
    them). `--json` prints the reply's own strings: `json.dumps` escapes those characters.
    """
    address = control_address if control_address is not None else control_socket.default_address()
    reply = control_socket.request(address, "view")
    if as_json:
        print(json.dumps(_show_json(_view_of(reply, address), what), indent=2))
        return 0
    view = _view_of(reply, address, for_terminal=True)
    console = Console(width=None if sys.stdout.isatty() else _columns())
    if what in ("interfaces", "all"):
        console.print(interfaces_table(view))
    if what in ("groups", "all") and (what == "groups" or view.igmp):
        if not view.igmp:
            console.print("no interface has igmp = true (and there is no upstream)")
        else:
            console.print(groups_table(view))
    if what in ("neighbors", "all") and (what == "neighbors" or view.neighbors):
        if not view.neighbors:
            console.print("no manet = true interface runs NHDP")
        else:
            console.print(neighbors_table(view))
    if what in ("pim", "all") and (what == "pim" or view.pim):
        if not view.pim:
            console.print("no interface has pim = true")
        else:
            console.print(pim_table(view))
            console.print(pim_joins_table(view))
    if what in ("flows", "all"):
        console.print(flows_table(view, max_rows=10_000))
    return 0


def _columns() -> int:
    """The width to print at when not on a terminal: $COLUMNS if it is a width, else 160."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit() and 0 < len(columns) <= 5 and int(columns) > 0:
        return int(columns)
    return 160


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (JSON) with `change` applied to every string in it, keys too."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(str(k)): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    return value


def _view_of(reply: dict[str, Any], address: str, *, for_terminal: bool = False) -> View:
    """The View in `reply`; RawfwdError, in one line, for anything else.

    `for_terminal`: with no control characters in any string. (The tables draw strings as
    rich `Text`, never as markup, so "[link=...]" in a name stays text.)
    """
    try:
        if for_terminal:
            reply = _map_strings(reply, control_socket.printable)
        problem = (
            _shape_problem(reply.get("igmp"), _IGMP, "igmp")
            or _shape_problem(reply.get("neighbors"), _NHDP, "neighbors")
            or _shape_problem(reply.get("pim"), _PIM, "pim")
        )
        if problem is None:
            return View.from_json(reply)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    reason = control_socket.printable(problem)[:200]
    raise RawfwdError(f"control socket {address}: not a rawfwd answer ({reason})")


class _ListOf:
    """A shape: a JSON list whose items all have `item`'s shape."""

    def __init__(self, item: _Shape) -> None:
        self.item = item


class _MapOf:
    """A shape: a JSON object with any keys, whose values all have `value`'s shape."""

    def __init__(self, value: _Shape) -> None:
        self.value = value


class _Maybe:
    """A shape: null, or `shape`."""

    def __init__(self, shape: _Shape) -> None:
        self.shape = shape


#: a type (or types) a value must have, an object's required keys (and their shapes), or
#: one of the classes above
_Shape = type | tuple[type, ...] | dict[str, "_Shape"] | _ListOf | _MapOf | _Maybe

_ANY = object
_OPT_NUMBER = (int, float, type(None))
#: what the groups table and `show --json` read of the IGMP part (the View keeps it as JSON)
_IGMP = _Maybe(
    {
        "interfaces": _ListOf(
            {
                "interface": _ANY,
                "address": _ANY,
                "querier": _ANY,
                "is_querier": _ANY,
                "listen_only": _ANY,
                "groups": _ListOf(
                    {
                        "group": _ANY,
                        "mode": _ANY,
                        "sources": _MapOf(_OPT_NUMBER),
                        "excluded": _ListOf(str),
                        "expires": _OPT_NUMBER,
                        "compat": _ANY,
                        "last_reporter": _ANY,
                    }
                ),
            }
        ),
        "proxy": _Maybe(
            {
                "upstream": _ANY,
                "version": _ANY,
                "querier": _ANY,
                "groups": _ListOf({"group": _ANY, "mode": _ANY, "sources": _ListOf(str)}),
            }
        ),
    }
)


#: what the neighbours table and `show --json` read of the NHDP part
_NHDP = _Maybe(
    {
        "interfaces": _ListOf(
            {
                "interface": _ANY,
                "address": _ANY,
                "relay": _ANY,
                "relays": _ANY,
                "neighbors": _ListOf(
                    {
                        "address": _ANY,
                        "mac": _ANY,
                        "status": _ANY,
                        "two_hop": _ListOf(str),
                        "mpr": bool,
                        "mpr_selector": bool,
                        "expires": _OPT_NUMBER,
                    }
                ),
            }
        )
    }
)


#: what the PIM table and `show --json` read of the PIM part
_PIM = _Maybe(
    {
        "interfaces": _ListOf(
            {
                "interface": _ANY,
                "address": _ANY,
                "dr": _ANY,
                "is_dr": bool,
                "dr_priority": _ANY,
                "neighbors": _ListOf(
                    {
                        "address": _ANY,
                        "dr_priority": _ANY,
                        "holdtime": _ANY,
                        "expires": _OPT_NUMBER,
                        "generation_id": _ANY,
                    }
                ),
            }
        ),
        "joins": _ListOf(
            {
                "source": _ANY,
                "group": _ANY,
                "upstream": {"state": _ANY, "interface": _ANY, "neighbor": _ANY},
                "downstream": _MapOf({"state": _ANY}),
                "oifs": _ListOf(str),
            }
        ),
        "dense": _ListOf(
            {
                "source": _ANY,
                "group": _ANY,
                "interface": _ANY,
                "upstream": {
                    "state": _ANY,
                    "neighbor": _ANY,
                    "graft_retry": _OPT_NUMBER,
                    "prune_limit": _OPT_NUMBER,
                },
                "state_refresh": {"originator": bool, "timer": _OPT_NUMBER},
                "downstream": _MapOf({"state": _ANY, "timer": _OPT_NUMBER}),
                "oifs": _ListOf(str),
            }
        ),
        "asserts": _ListOf(
            {"source": _ANY, "group": _ANY, "interface": _ANY, "state": _ANY, "winner": _ANY}
        ),
        "registers": {"states": _ListOf({"source": _ANY, "group": _ANY, "state": _ANY})},
    }
)


def _shape_problem(value: Any, shape: _Shape, where: str) -> str | None:
    """What in `value` (found at `where`) does not have `shape`; None if it all does."""
    if isinstance(shape, _Maybe):
        return None if value is None else _shape_problem(value, shape.shape, where)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where} is not an object"
        for key, inner in shape.items():
            if key not in value:
                return f"{where} has no {key!r}"
            problem = _shape_problem(value[key], inner, f"{where}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(shape, _ListOf):
        if not isinstance(value, list):
            return f"{where} is not a list"
        for i, item in enumerate(value):
            problem = _shape_problem(item, shape.item, f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    if isinstance(shape, _MapOf):
        if not isinstance(value, dict):
            return f"{where} is not an object"
        for key, item in value.items():
            problem = _shape_problem(item, shape.value, f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    if not isinstance(value, shape):
        return f"{where} has the wrong type ({type(value).__name__})"
    return None


def _show_json(view: View, what: str) -> dict[str, Any]:
    """The table's rows as JSON: each flow and interface with its rates and link state."""
    doc: dict[str, Any] = {"uptime": view.uptime, "config_path": view.config_path}
    snap = view.snapshot
    if what in ("flows", "all"):
        flows = []
        for f in snap.flows:
            pps, bps = view.rates.flows.get((f.arrival, f.source, f.group), (0.0, 0.0))
            flows.append(f.to_json() | {"packets_per_s": pps, "bits_per_s": bps})
        doc["flows"] = flows
    if what in ("interfaces", "all"):
        links = {link.name: link for link in view.links}
        ifaces = []
        for i in snap.interfaces:
            rx, tx = view.rates.interfaces.get(i.name, (0.0, 0.0))
            link = links.get(i.name)
            extra = link.to_json() if link is not None else {}
            ifaces.append(i.to_json() | extra | {"rx_frames_per_s": rx, "tx_frames_per_s": tx})
        doc["interfaces"] = ifaces
        doc["drops"] = {r.value: n for r, n in snap.drops.items()}
    if what in ("groups", "all"):
        igmp = view.igmp or {"interfaces": [], "proxy": None}
        doc["igmp"] = igmp["interfaces"]
        doc["proxy"] = igmp["proxy"]
    if what in ("neighbors", "all"):
        doc["neighbors"] = (view.neighbors or {"interfaces": []})["interfaces"]
    if what in ("pim", "all"):
        doc["pim"] = dict(view.pim or {"interfaces": [], "ignored": {}})
    return doc
