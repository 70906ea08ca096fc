"""Resident memory of the engine with N active flows and a full duplicate cache.

Run in a fresh interpreter (`python -m tools.bench.memory --flows N`) so that nothing else
this process loaded counts; prints one JSON object. `make bench` runs it.
"""

from __future__ import annotations

import argparse
import json
import resource
from ipaddress import IPv4Network

from rawfwd.config.values import Config, DedupSpec, FlowSpec, InterfaceSpec, Route
from rawfwd.control.engine import Engine

from .core import bench_frame


def rss_mb() -> float:
    """This process's resident set, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def measure(flows: int) -> dict[str, float]:
    macs = {n: bytes((2, 0, 0, 0, 0, i + 1)) for i, n in enumerate(("eth0", "eth1", "eth2"))}
    config = Config(
        interfaces={n: InterfaceSpec(name=n, mac=m) for n, m in macs.items()},
        routes=(Route("eth0", IPv4Network("239.0.0.0/8"), None, ("eth1", "eth2")),),
        dedup=DedupSpec(window=3600.0),
        flows=FlowSpec(max_flows=flows),
    )
    before = rss_mb()
    engine = Engine(config)
    i = 0
    for i in range(flows):
        engine.handle_frames("eth0", (bench_frame(0x0A000000 + i, i),), 1.0)
    for _ in range(config.dedup.max_entries):  # the caches reach their bound: full
        i += 1
        engine.handle_frames("eth0", (bench_frame(0x0A000000 + i % flows, i),), 1.0)
    snap = engine.snapshot(1.0)
    return {
        "rss_mb": rss_mb(),
        "baseline_mb": before,
        "flows": len(snap.flows),
        "dedup_entries": snap.dedup_entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=100_000)
    print(json.dumps(measure(parser.parse_args().flows)))


if __name__ == "__main__":
    main()
