#!/usr/bin/env python3
"""An emulated radio network with rawfwd on every node, to try MANET forwarding (root).

    sudo .venv/bin/python examples/radio_mesh.py --topology grid --size 3

Builds N network namespaces, each node with one `radio0` on a shared bridge whose
nftables rules let a node hear only its neighbours (line, diamond or grid), starts
`rawfwd run` on every node with nothing but

    [interface.radio0]
    manet = true

sends --packets datagrams from node 1 and prints, per node, what its applications
received and what its rawfwd did. Then it waits (Ctrl-C, SIGTERM or SIGHUP removes
everything) so you can look around, e.g. `ip netns exec NS .venv/bin/rawfwd show` on any
node; --once exits straight away.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

# the lab that builds the radio network lives beside the benchmarks, in this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rawfwd.lab.netns import ended_by_signals, scratch_dir
from tools.lab.mesh import NODE_CONFIG, TOPOLOGIES, RadioMesh, address, take

GROUP = "239.5.5.5"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", choices=sorted(TOPOLOGIES), default="line")
    parser.add_argument(
        "--relay",
        choices=["flood", "s-mpr", "e-cds", "mpr-cds"],
        default="flood",
        help="the relay algorithm of every node (NHDP chooses the relays)",
    )
    parser.add_argument(
        "--size", type=int, default=4, help="nodes of a line or random mesh, side of a grid"
    )
    parser.add_argument("--packets", type=int, default=10, help="sent from node 1 (TTL 16)")
    parser.add_argument("--once", action="store_true", help="exit after the report")
    args = parser.parse_args()
    most = 30 if args.topology == "random" else 12
    if not 2 <= args.size <= most:
        parser.error(f"--size must be from 2 to {most} for {args.topology}")
    edges = TOPOLOGIES[args.topology](args.size)
    with (
        ended_by_signals(),  # SIGTERM and SIGHUP remove everything, as Ctrl-C does
        scratch_dir("rawfwd-mesh-") as tmp,
        RadioMesh(edges, tmp) as mesh,
    ):
        print(f"{args.topology}: nodes {mesh.nodes}, neighbours {mesh.edges}")
        print(f"namespaces {mesh.lab.tag}-*, files in {tmp}", flush=True)
        mesh.start(config_text=f'{NODE_CONFIG}relay = "{args.relay}"\n')
        if args.relay != "flood":  # relays are chosen from what NHDP learns: let it learn
            deadline = time.monotonic() + 30
            while not mesh.symmetric():
                if time.monotonic() > deadline:
                    print("neighbours not all symmetric after 30 s: sending anyway")
                    break
        listeners = {n: mesh.receiver(n, GROUP) for n in mesh.nodes if n != 1}
        payloads = [b"packet %d" % i for i in range(args.packets)]
        mesh.send(1, GROUP, payloads, ttl=16)
        print(f"\n{'node':>4} {'address':>12} {'received':>9} {'distinct':>9} "
              f"{'best TTL':>8} {'relayed':>8} {'duplicates':>11} {'own echoes':>11}")  # fmt: skip
        total = 0
        for n in mesh.nodes:
            got = take(listeners[n], 3.0, args.packets) + take(listeners[n], 0.3) if n != 1 else []
            radio = mesh.radio(n)
            total += radio["tx_frames"]
            drops = radio["drops"]
            ttl = max((t for _, t in got), default=None)  # the shortest path
            print(
                f"{n:>4} {address(n):>12} {len(got):>9} {len({p for p, _ in got}):>9} "
                f"{'-' if ttl is None else ttl:>8} {radio['tx_frames']:>8} "
                f"{drops.get('duplicate', 0):>11} {drops.get('own_echo', 0):>11}"
            )
        print(f"\n{args.relay}: {total} transmissions for {args.packets} packets, "
              f"{total / max(args.packets, 1) + 1:.1f} per packet with node 1's own")  # fmt: skip
        print("received counts every copy the host stack delivered; node 1 is the sender")
        if not args.once:
            print("namespaces:", ", ".join(mesh.ns(n) for n in mesh.nodes), "- Ctrl-C ends")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # ended before the report was done; all is removed all the same
        sys.exit(130)
