"""`rawfwd run` and `rawfwd show`: logging, the live table, and talking to the daemon."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import trio
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler

from .config.load import load_config
from .errors import RawfwdError
from .io import control_socket
from .io.daemon import Daemon, check_privileges
from .ui import dashboard, flows_table, groups_table, interfaces_table, summary_line
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
    control_address: str,
    stats_interval: float,
    log_level: str = "INFO",
    cpu: int | None = None,
    rings: bool = True,
    busy_poll: float = 0.0,
    keep_privileges: bool = False,
) -> int:
    """Run the forwarder in the foreground until SIGINT/SIGTERM."""
    # until the daemon's signal task runs, SIGHUP would kill the process: ignore it early
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = load_config(config_path)
    check_privileges()
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
    daemon = Daemon(
        config_path,
        config,
        load=load_config,
        control_address=control_address,
        rings=rings,
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


def show(what: str, *, as_json: bool, control_address: str) -> int:
    """Print what the running instance's table shows: flows, interfaces, or both."""
    reply = control_socket.request(control_address, "view")
    view = View.from_json(reply)
    if as_json:
        print(json.dumps(_show_json(view, what), indent=2))
        return 0
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    console = Console(width=width)
    if what in ("interfaces", "all"):
        console.print(interfaces_table(view))
    if what in ("groups", "all") and (what == "groups" or view.igmp):
        if not view.igmp:
            console.print("no interface has igmp = true (and there is no upstream)")
        else:
            console.print(groups_table(view))
    if what in ("flows", "all"):
        console.print(flows_table(view, max_rows=10_000))
    return 0


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
    return doc
