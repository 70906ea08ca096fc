"""`make bench-core`: push large generated replays through the pure core, in-process.

Measures what the core costs per frame, without sockets: frames are built up front, then
run through the Forwarder with a clock that advances 1 us per frame. Scenarios: one flow to
two egresses, 1,000 flows (round robin over sources), and a 50 % duplicate mix (every
packet twice), in batches of 64 as the live shell passes them (`handle_batch`), and once
one call per frame (`handle_frame`). Each runs several times; the best run is reported
(least disturbed). The last scenarios drive the engine as the live shell does (no route:
IGMP members on both egresses decide), in batches and one frame per call, and time what one
membership change costs with 100,000 flows of other groups. This is a benchmark, not a
test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from typing import Any

from rawfwd.config.values import Config, DedupMode, DedupSpec, IgmpSpec, InterfaceSpec, Route
from rawfwd.control.engine import Engine
from rawfwd.control.igmp import Report
from rawfwd.core import Forwarder
from rawfwd.lab.frames import udp_frame

_GROUP = 0xEF010203  # 239.1.2.3


def bench_frame(src: int, ident: int, payload_len: int = 18) -> bytes:
    payload = (ident.to_bytes(4, "big") * (payload_len // 4 + 1))[:payload_len]
    return udp_frame(src.to_bytes(4, "big"), _GROUP.to_bytes(4, "big"), payload, ident=ident)


def _config(mode: DedupMode) -> Config:
    mac = {"eth0": b"\x02\0\0\0\0\x01", "eth1": b"\x02\0\0\0\0\x02", "eth2": b"\x02\0\0\0\0\x03"}
    return Config(
        interfaces={n: InterfaceSpec(name=n, mac=m) for n, m in mac.items()},
        routes=(Route("eth0", IPv4Network("239.1.0.0/16"), None, ("eth1", "eth2")),),
        dedup=DedupSpec(mode=mode),
    )


@dataclass(frozen=True)
class Result:
    """One scenario's best run."""

    name: str
    frames: int
    seconds: float
    sent: int

    @property
    def us_per_frame(self) -> float:
        return self.seconds / self.frames * 1e6

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def igmp_config(
    igmp: tuple[str, ...] = ("eth1", "eth2"), routes: tuple[Route, ...] = (), eth0_prefix: int = 16
) -> Config:
    """Three interfaces, eth0 toward the sources (RPF by its subnet), IGMP on `igmp`; by
    default no route: members on eth1 and eth2 decide."""
    mac = {"eth0": b"\x02\0\0\0\0\x01", "eth1": b"\x02\0\0\0\0\x02", "eth2": b"\x02\0\0\0\0\x03"}
    net = {"eth0": f"10.0.0.1/{eth0_prefix}", "eth1": "10.1.0.1/24", "eth2": "10.2.0.1/24"}
    return Config(
        interfaces={
            n: InterfaceSpec(
                name=n,
                mac=m,
                address=IPv4Interface(net[n]),
                igmp=IgmpSpec() if n in igmp else None,
            )
            for n, m in mac.items()
        },
        routes=routes,
    )


def _engine() -> Any:
    """An engine whose two downstream interfaces have a member of the benchmark's group."""
    engine = Engine(igmp_config())
    engine.handle_timer(0.0)
    for name, host in (("eth1", 0x0A010005), ("eth2", 0x0A020005)):
        engine.igmp._ports[name].membership.on_report(host, Report(2, _GROUP), 0.0)
    engine.igmp.poll(0.0)  # the reports went straight to the records: settle them
    return engine


def _run(
    name: str,
    frames: list[bytes],
    mode: DedupMode,
    repeat: int,
    batch: int = 64,
    make: Callable[[], Any] | None = None,
) -> Result:
    """Best of `repeat` runs; frames go in `batch`es (as the live shell hands them over;
    `batch=1` is one `handle_frame` call per frame), the clock 1 us per frame; `make`
    builds an engine instead of a Forwarder, driven as the live shell drives it: one
    `handle_frames` per batch, then `next_timer()` to re-arm its timer."""
    best = float("inf")
    sent = 0
    for _ in range(repeat):
        fwd: Any = Forwarder(_config(mode)) if make is None else make()
        now = 1000.0
        start = time.perf_counter()
        if make is not None:
            handle_frames, next_timer = fwd.handle_frames, fwd.next_timer
            for i in range(0, len(frames), batch):
                handle_frames("eth0", frames[i : i + batch], now)
                next_timer()
                now += batch * 1e-6
        elif batch == 1:
            handle: Callable[..., object] = fwd.handle_frame
            for frame in frames:
                handle("eth0", frame, now)
                now += 1e-6
        else:
            handle_batch = fwd.handle_batch
            for i in range(0, len(frames), batch):
                handle_batch("eth0", frames[i : i + batch], now)
                now += batch * 1e-6
        best = min(best, time.perf_counter() - start)
        core = fwd if make is None else fwd.forwarder
        sent = core.snapshot(now).interfaces[1].tx_frames
    return Result(name, len(frames), best, sent)


def _membership_change(repeat: int, flows: int = 100_000, changes: int = 200) -> Result:
    """What a membership change of one group costs while `flows` flows of other groups
    exist: a v2 join and leave of a fresh group per change, each decided at once."""
    best = float("inf")
    for _ in range(repeat):
        engine = _engine()
        frames = [
            udp_frame(
                (0x0A000002 + i % 60000).to_bytes(4, "big"),
                (0xEF020000 + i // 60000).to_bytes(4, "big"),
                b"x",
            )
            for i in range(flows)
        ]
        for i in range(0, flows, 64):
            engine.handle_frames("eth0", frames[i : i + 64], 1.0)
        members = engine.igmp._ports["eth1"].membership
        start = time.perf_counter()
        for n in range(changes):
            group = 0xEF030000 + n
            members.on_report(0x0A010005, Report(2, group), 2.0)
            engine.igmp.poll(2.0)
        best = min(best, time.perf_counter() - start)
    return Result(f"membership change, {flows:,} flows", changes, best, 0)


def main() -> None:
    """Build the scenarios, run them, print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--frames", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.frames
    src = 0x0A000005
    one_flow = [bench_frame(src, i) for i in range(n)]
    many_flows = [bench_frame(src + i % 1000, i) for i in range(n)]
    dup_mix = [f for i in range(n // 2) for f in (bench_frame(src, i),) * 2]
    results = [
        _run("1 flow, 2 egresses, dedup hash", one_flow, DedupMode.HASH, args.repeat),
        _run("1 flow, 2 egresses, dedup id", one_flow, DedupMode.ID, args.repeat),
        _run("1 flow, 2 egresses, dedup off", one_flow, DedupMode.OFF, args.repeat),
        _run("1,000 flows, dedup hash", many_flows, DedupMode.HASH, args.repeat),
        _run("50 % duplicates, dedup hash", dup_mix, DedupMode.HASH, args.repeat),
        _run("1 flow, dedup hash, per frame", one_flow, DedupMode.HASH, args.repeat, batch=1),
        _run("1 flow, by IGMP members, hash", one_flow, DedupMode.HASH, args.repeat, make=_engine),
        _run(
            "1 flow, IGMP members, per frame",
            one_flow,
            DedupMode.HASH,
            args.repeat,
            batch=1,
            make=_engine,
        ),
        _run(
            "1,000 flows, by IGMP members, hash",
            many_flows,
            DedupMode.HASH,
            args.repeat,
            make=_engine,
        ),
        _membership_change(args.repeat),
    ]
    if args.json:
        print(json.dumps([r.__dict__ | {"us_per_frame": r.us_per_frame} for r in results]))
        return
    print(f"{'scenario':34} {'frames':>8} {'frames/s':>10} {'us/frame':>9} {'sent/egress':>12}")
    for r in results:
        print(
            f"{r.name:34} {r.frames:>8} {r.frames_per_second:>10,.0f} {r.us_per_frame:>9.2f} "
            f"{r.sent:>12}"
        )


if __name__ == "__main__":
    main()
