"""What one hostile host on an `igmp = true` link costs the router, in-process (issue 12).

The engine is driven as the live shell drives it, with injected time: after every call,
`next_timer()`, and `handle_timer` when it is due. Two phases:

- flood: one host (10.1.0.66) sends 4,096 IGMPv3 reports, each ALLOW of 256 new sources
  for a group of its own (1,048,576 sources if all were kept), in batches of 64 frames as
  the shell hands a ring's worth over;
- steady: for 60 s of injected time a static flow (10.0.0.5 -> 239.9.9.9, eth0 -> eth2,
  not IGMP's) runs at 1,000 packets a second, one frame per call, while the host sends 10
  small reports a second, each of one source it reported in the flood to one of the first
  64 groups (which any bound keeps): BLOCK of it (group-and-source-specific queries, its
  timer lowered), then ALLOW of it again (its timer raised); and the live table rebuilds
  its IGMP JSON once a second (`--ui` mode).

Printed (one JSON object): CPU seconds (`time.process_time`) spent in IGMP work (report
batches, timers, the JSON) and in the static flow, the longest single IGMP call (a stall
of everything else), the timers the membership looked at in the steady phase (where it
counts them), the size and cost of one `rawfwd show groups` (`igmp_json`), and in a
second run with tracemalloc, the memory held after the flood and the peak. A benchmark,
not a test: nothing here asserts a speed. `python -m tools.bench.igmp_flood`.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from rawfwd.config.values import Config, Route
from rawfwd.control import igmp
from rawfwd.control.engine import Engine
from rawfwd.control.igmp import IGMPV3_ROUTERS, GroupRecord, RecordType, V3Report
from rawfwd.core.wire import ethernet_header, group_mac
from rawfwd.lab.frames import udp_frame

from .core import igmp_config

HOST = int(IPv4Address("10.1.0.66"))  #: the hostile host, on eth1's subnet
HOST_MAC = bytes.fromhex("0200000000aa")
SOURCE, STATIC = IPv4Address("10.0.0.5").packed, IPv4Address("239.9.9.9").packed
FIRST_GROUP = int(IPv4Address("239.1.0.0"))
FIRST_SOURCE = int(IPv4Address("172.16.0.0"))
BATCH = 64  #: frames per call in the flood, as the live shell's ring drains them


def config() -> Config:
    """eth0 toward the static flow's source, eth1 the hostile host's IGMP link, eth2 out."""
    static = Route("eth0", IPv4Network("239.9.9.9/32"), None, ("eth2",))
    return igmp_config(igmp=("eth1",), routes=(static,), eth0_prefix=24)


def report_frame(kind: RecordType, group: int, sources: tuple[int, ...]) -> bytes:
    """A v3 report from the hostile host with one record."""
    message = igmp.build(V3Report((GroupRecord(kind, group, sources),)))
    packet = igmp.ip_packet(HOST, IGMPV3_ROUTERS, message)
    return ethernet_header(group_mac(IGMPV3_ROUTERS), HOST_MAC) + packet


def flood_frame(n: int, per_report: int) -> bytes:
    """The flood's report `n`: ALLOW of `per_report` new sources for a group of its own."""
    first = FIRST_SOURCE + n * per_report
    return report_frame(
        RecordType.ALLOW_NEW_SOURCES, FIRST_GROUP + n, tuple(range(first, first + per_report))
    )


class Driver:
    """Calls the engine as the shell does and books the CPU time of each call by kind."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cpu: dict[str, float] = {"reports": 0.0, "timers": 0.0, "json": 0.0, "static": 0.0}
        self.longest: dict[str, float] = dict.fromkeys(self.cpu, 0.0)
        self.sent: dict[str, int] = {}

    def timed(self, kind: str, call: Callable[[], Any]) -> Any:
        start = time.process_time()
        result = call()
        spent = time.process_time() - start
        self.cpu[kind] += spent
        self.longest[kind] = max(self.longest[kind], spent)
        return result

    def frames(self, kind: str, ingress: str, frames: list[bytes], now: float) -> None:
        out = self.timed(kind, lambda: self.engine.handle_frames(ingress, frames, now))
        self._count(out.frames)
        self.timers(now)

    def timers(self, now: float) -> None:
        due = self.timed("timers", self.engine.next_timer)
        if due is not None and due <= now:
            self._count(self.timed("timers", lambda: self.engine.handle_timer(now)).frames)

    def _count(self, frames: list[tuple[str, list[bytes]]]) -> None:
        for name, sent in frames:
            self.sent[name] = self.sent.get(name, 0) + len(sent)


def flood(driver: Driver, reports: int, per_report: int, start: float) -> float:
    """The flood phase; returns the injected time it ended at."""
    now = start
    for n in range(0, reports, BATCH):  # built a batch at a time: not in the memory held
        frames = [flood_frame(i, per_report) for i in range(n, min(n + BATCH, reports))]
        driver.frames("reports", "eth1", frames, now)
        now += 0.001
    return now


def steady(driver: Driver, seconds: int, start: float, per_report: int) -> None:
    """The steady phase: the static flow at 1,000/s, 10 small reports/s, JSON at 1/s."""
    for ms in range(seconds * 1000):
        now = start + ms / 1000
        ident = ms + 1
        frame = udp_frame(SOURCE, STATIC, ident.to_bytes(4, "big"), ident=ident)
        driver.frames("static", "eth0", [frame], now)
        if ms % 100 == 50:
            n = ms // 100
            k = n // 2  # one of the first 64 groups, one of its sources
            group, source = FIRST_GROUP + k % 64, FIRST_SOURCE + k % 64 * per_report + k // 64
            kind = RecordType.BLOCK_OLD_SOURCES if n % 2 == 0 else RecordType.ALLOW_NEW_SOURCES
            driver.frames("reports", "eth1", [report_frame(kind, group, (source,))], now)
        if ms % 1000 == 500:
            driver.timed("json", partial(driver.engine.igmp_json, now))


def counters(engine: Engine, now: float) -> dict[str, Any]:
    (view,) = engine.igmp_views(now)
    shown = sum(len(g.sources) + len(g.excluded) for g in view.groups)
    return {"groups_shown": len(view.groups), "sources_shown": shown, "counters": view.counters}


def run_cpu(reports: int, per_report: int, seconds: int) -> dict[str, Any]:
    engine = Engine(config())
    driver = Driver(engine)
    driver.timers(0.0)
    end = flood(driver, reports, per_report, 1.0)
    flood_cpu = dict(driver.cpu)
    flood_longest = driver.longest["reports"]
    start = time.process_time()
    show = json.dumps(engine.igmp_json(end))
    show_cpu = time.process_time() - start
    driver.cpu = dict.fromkeys(driver.cpu, 0.0)
    driver.longest = dict.fromkeys(driver.cpu, 0.0)
    driver.sent = {}
    membership = engine.igmp._ports["eth1"].membership
    work = getattr(membership, "timer_work", None)  # None: code from before it was counted
    steady(driver, seconds, end + 1.0, per_report)
    igmp_cpu = driver.cpu["reports"] + driver.cpu["timers"] + driver.cpu["json"]
    return {
        "flood_cpu_s": round(flood_cpu["reports"] + flood_cpu["timers"], 3),
        "flood_longest_call_s": round(flood_longest, 4),
        "show_groups_cpu_s": round(show_cpu, 4),
        "show_groups_bytes": len(show),
        "steady_seconds": seconds,
        "steady_igmp_cpu_s": {k: round(v, 3) for k, v in driver.cpu.items() if k != "static"},
        "steady_igmp_cpu_per_injected_s": round(igmp_cpu / seconds, 5),
        "steady_longest_igmp_call_s": round(
            max(driver.longest[k] for k in ("reports", "timers", "json")), 4
        ),
        "steady_static_cpu_s": round(driver.cpu["static"], 3),
        "steady_timer_work": None if work is None else membership.timer_work - work,
        "static_sent_on_eth2": driver.sent.get("eth2", 0),
        "queries_sent_on_eth1": driver.sent.get("eth1", 0),
        **counters(engine, end + 1.0 + seconds),
    }


def run_memory(reports: int, per_report: int) -> dict[str, float]:
    tracemalloc.start()
    engine = Engine(config())
    driver = Driver(engine)
    driver.timers(0.0)
    base = tracemalloc.get_traced_memory()[0]
    end = flood(driver, reports, per_report, 1.0)
    held = tracemalloc.get_traced_memory()[0]
    json.dumps(engine.igmp_json(end))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "held_after_flood_mb": round((held - base) / 1e6, 2),
        "peak_mb": round((peak - base) / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=4096)
    parser.add_argument("--sources", type=int, default=256, help="per report")
    parser.add_argument("--seconds", type=int, default=60, help="of the steady phase")
    args = parser.parse_args()
    result = run_cpu(args.reports, args.sources, args.seconds)
    result.update(run_memory(args.reports, args.sources))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
