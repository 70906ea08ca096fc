"""What a SIGHUP reload of a big config costs live: rawfwd in namespaces forwards one group
at a steady rate while it reloads a config of N routes; prints the reload time (from the
SIGHUP to the "reloaded" log line) and the packets lost. Root; `python -m tools.bench.reload
[--routes N] [--packets P] [--rate R]`."""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import tempfile
import threading
import time
from pathlib import Path

from tests.support.lab import RouterLab

GROUP = "239.200.0.1"


def config(routes: int) -> str:
    lines = ["[interface.eth0]", "[interface.eth1]", "[interface.eth2]", "[interface.eth3]", ""]
    lines += ["[[route]]", 'from = "eth0"', f'group = "{GROUP}"', 'to = ["eth1"]', ""]
    for i in range(routes - 1):
        group = f"239.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        lines += ["[[route]]", 'from = "eth0"', f'group = "{group}"', 'to = ["eth2"]', ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--packets", type=int, default=15_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RouterLab(Path(tmp), config(args.routes)) as lab:
        lab.start()
        rx = lab.receiver("A", GROUP)
        tx = lab.sender("S", ttl=8)
        got: list[float] = []

        def read() -> None:
            rx.settimeout(10.0)
            while len(got) < args.packets:
                try:
                    rx.recv(2048)
                except OSError:
                    return
                got.append(time.monotonic())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        lab.config.write_text(config(args.routes + 1))
        start = time.monotonic()
        hup_at = start + args.packets / args.rate / 3
        hup_sent = 0.0
        for n in range(args.packets):
            due = start + n / args.rate
            while time.monotonic() < due:
                pass
            if not hup_sent and time.monotonic() >= hup_at:
                lab.signal(signal.SIGHUP)
                hup_sent = time.monotonic()
            tx.sendto(b"%d" % n, (GROUP, 5000))
        reader.join(timeout=30)
        log = (Path(tmp) / "rawfwd.log").read_text()
        reloaded = "reloaded" in log
        deadline = time.monotonic() + 30
        while not reloaded and time.monotonic() < deadline:
            time.sleep(0.1)
            log = (Path(tmp) / "rawfwd.log").read_text()
            reloaded = "reloaded" in log
        routes = lab.show()
        gaps = sorted(((b - a, a - hup_sent) for a, b in itertools.pairwise(got)), reverse=True)[:3]
        print("longest gaps (s, s after SIGHUP):", [(round(g, 3), round(t, 3)) for g, t in gaps])
        print(
            json.dumps(
                {
                    "routes": args.routes,
                    "packets": args.packets,
                    "received": len(got),
                    "lost": args.packets - len(got),
                    "reloaded": reloaded,
                    "flows": len(routes["flows"]),
                }
            )
        )


if __name__ == "__main__":
    main()
