"""Resident memory of the engine with N active flows and a full duplicate cache.

Run in a fresh interpreter (`python -m tools.bench.memory --flows N`) so that nothing else
this process loaded counts; prints one JSON object. `make bench` runs it.

`--random M` sends M frames of random (source, group) instead (the flow table and the
caches then stay at their bounds while flows come and go); `--fib` routes by RPF from the
FIB, answered at once as the live shell's lookups would be (the RPF answer cache fills too).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
from ipaddress import IPv4Network

from rawfwd.config.values import Config, DedupSpec, FlowSpec, InterfaceSpec, Route
from rawfwd.control.engine import Engine
from rawfwd.lab.frames import udp_frame

from .core import bench_frame


def rss_mb() -> float:
    """This process's resident set, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def _config(flows: int, fib: bool) -> Config:
    macs = {n: bytes((2, 0, 0, 0, 0, i + 1)) for i, n in enumerate(("eth0", "eth1", "eth2"))}
    return Config(
        interfaces={n: InterfaceSpec(name=n, mac=m) for n, m in macs.items()},
        routes=(
            Route(None if fib else "eth0", IPv4Network("224.0.0.0/4"), None, ("eth1", "eth2")),
        ),
        dedup=DedupSpec(window=3600.0),
        flows=FlowSpec(max_flows=flows),
    )


def measure(flows: int, frames: int = 0, fib: bool = False) -> dict[str, float]:
    config = _config(flows, fib)
    before = rss_mb()
    engine = Engine(config, live=fib)
    if frames:
        draw = random.Random(1).getrandbits
        for n in range(frames):
            source = (0x0B000000 | draw(24)).to_bytes(4, "big")  # 11/8: unicast, not ours
            group = (0xE8000000 | draw(27)).to_bytes(4, "big")  # 232/5 and up: routable
            out = engine.handle_frames("eth0", (udp_frame(source, group, b"x", ident=n),), 1.0)
            if out.rpf_lookups:
                engine.set_rpf(dict.fromkeys(out.rpf_lookups, "eth0"), 1.0)
    else:
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
    parser.add_argument("--random", type=int, default=0, metavar="M")
    parser.add_argument("--fib", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(args.flows, args.random, args.fib)))


if __name__ == "__main__":
    main()
