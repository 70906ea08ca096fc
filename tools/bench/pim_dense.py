"""PIM-DM figures (the PIM-DM issue): graft latency, and what a pruned branch still carries.

    S --- R1 --- R2 --- R3 --- H        (three rawfwd routers in dense mode, namespaces)

S sends 1000 packets/s. Nobody listens at first: R3, then R2, prune, and the link R1 - R2
falls silent.

- Graft latency: H joins by IGMP (its kernel's own report); the time from the join to the
  first packet on H's wire. R3 and R2 each graft, hop by hop. Then H leaves, the branch
  prunes again, and the next round starts.
- Pruned-branch traffic: with state refresh every `--refresh` seconds, the frames that
  cross the pruned link R1 - R2 over `--intervals` intervals, data and State Refresh
  apart. `--without-refresh` also watches the link with state refresh off for 230 s,
  past the Prune's 210 s holdtime: what a branch sees when its prune runs out.

    .venv/bin/python -m tools.bench.pim_dense [--rounds 5] [--refresh 10] [--intervals 3]

Root (network namespaces).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop

GROUP = "239.5.5.5"
PORT = 5000
ROUTER = """\
[pim]
mode = "dense"
state_refresh = {refresh}
{interval}
"""
PIM_IF = "\n[interface.{name}]\npim = true\nhello_interval = 1\n"
MEMBER_IF = PIM_IF + "igmp = true\nlast_member_query_interval = 0.3\n"


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"pim_dense: timed out waiting for {what}")
        time.sleep(0.05)


def _show(lab: Lab, host: str) -> dict[str, object] | None:
    done = subprocess.run(
        rawfwd_in(lab.ns(host), "show", "pim", "--json"), capture_output=True, text=True
    )
    if done.returncode != 0:
        return None
    found: dict[str, object] = json.loads(done.stdout)["pim"]
    return found


def _upstream_state(lab: Lab, host: str) -> str | None:
    doc = _show(lab, host)
    for entry in doc["dense"] if doc else []:  # type: ignore[attr-defined]
        if entry["group"] == GROUP:
            return str(entry["upstream"]["state"])
    return None


class Chain:
    """S - R1 - R2 - R3 - H; rawfwd on R1, R2, R3; S sending 1000 packets/s."""

    def __init__(self, lab: Lab, tmp: Path, refresh: bool, interval: int) -> None:
        self.lab = lab
        for host in ("S", "R1", "R2", "R3", "H"):
            lab.host(host)
        lab.link("S", "eth0", "10.0.0.5/24", "R1", "eth0", "10.0.0.1/24")
        lab.link("R1", "eth1", "10.1.0.1/24", "R2", "eth0", "10.1.0.2/24")
        lab.link("R2", "eth1", "10.2.0.1/24", "R3", "eth0", "10.2.0.2/24")
        lab.link("R3", "eth1", "10.3.0.1/24", "H", "eth0", "10.3.0.2/24")
        ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
        ip("route", "add", "10.0.0.0/16", "via", "10.1.0.1", netns=lab.ns("R2"))
        ip("route", "add", "10.0.0.0/16", "via", "10.2.0.1", netns=lab.ns("R3"))
        head = ROUTER.format(
            refresh=str(refresh).lower(),
            interval=f"state_refresh_interval = {interval}" if refresh else "",
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        for host, ifs in (
            ("R1", PIM_IF.format(name="eth1") + MEMBER_IF.format(name="eth0")),
            ("R2", PIM_IF.format(name="eth0") + PIM_IF.format(name="eth1")),
            ("R3", PIM_IF.format(name="eth0") + MEMBER_IF.format(name="eth1")),
        ):
            config = tmp / f"{host}.toml"
            config.write_text(head + ifs)
            with (tmp / f"{host}.log").open("wb") as log:
                cmd = rawfwd_in(lab.ns(host), "run", "-c", str(config), "--no-ui")
                self.procs.append(subprocess.Popen(cmd, stderr=log))
        self.done = threading.Event()
        self.sender = socket_in(lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        while not self.done.is_set():
            self.sender.sendto(b"x" * 32, (GROUP, PORT))
            time.sleep(0.001)

    def wait_pruned(self) -> None:
        _wait(lambda: _upstream_state(self.lab, "R2") == "Pruned", 60, "R2 to prune")

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.sender.close()
        stop(self.procs)


def _wire(lab: Lab, host: str, ifname: str) -> socket.socket:
    s = socket_in(lab.ns(host), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((ifname, 0x0800))
    s.settimeout(0.05)
    return s


def graft_latency(chain: Chain) -> float:
    """H joins; seconds until S's first packet on H's wire. Then H leaves and the branch
    prunes again."""
    lab = chain.lab
    wire = _wire(lab, "H", "eth0")
    wanted = socket.inet_aton(GROUP)
    member = socket_in(lab.ns("H"), socket.AF_INET, socket.SOCK_DGRAM)
    try:
        joined = time.monotonic()
        member.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(GROUP) + socket.inet_aton("10.3.0.2"),
        )
        deadline = joined + 10.0
        while time.monotonic() < deadline:
            try:
                frame = wire.recv(2048)
            except TimeoutError:
                continue
            if frame[23] == 17 and frame[30:34] == wanted:
                return time.monotonic() - joined
        raise SystemExit("pim_dense: no packet reached H within 10 s of its join")
    finally:
        member.close()  # the leave
        wire.close()
        chain.wait_pruned()


def pruned_link(chain: Chain, seconds: float) -> tuple[int, int]:
    """(data frames, State Refresh messages) on the pruned link R1 - R2 over `seconds`."""
    wire = _wire(chain.lab, "R2", "eth0")
    wanted = socket.inet_aton(GROUP)
    data = refreshes = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                frame = wire.recv(2048)
            except TimeoutError:
                continue
            if frame[23] == 17 and frame[30:34] == wanted:
                data += 1
            elif frame[23] == 103 and frame[34] == 0x29:  # PIM v2, type 9: State Refresh
                refreshes += 1
    finally:
        wire.close()
    return data, refreshes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refresh", type=int, default=10, help="state_refresh_interval, s")
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--without-refresh", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rawfwd-dense-") as scratch:
        with Lab("rfdbench") as lab:
            chain = Chain(lab, Path(scratch), True, args.refresh)
            try:
                chain.wait_pruned()
                latencies = []
                for n in range(args.rounds):
                    latency = graft_latency(chain)
                    latencies.append(latency)
                    print(f"round {n + 1}: graft latency {latency * 1000:.1f} ms", flush=True)
                print(f"graft latency median {statistics.median(latencies) * 1000:.1f} ms, "
                      f"max {max(latencies) * 1000:.1f} ms over {args.rounds} rounds")  # fmt: skip
                window = args.refresh * args.intervals
                data, refreshes = pruned_link(chain, window)
                print(f"pruned link R1 - R2 over {window} s ({args.intervals} state refresh "
                      f"intervals, S at 1000 packets/s): {data} data frames, "
                      f"{refreshes} State Refresh")  # fmt: skip
            finally:
                chain.close()
        if args.without_refresh:
            with Lab("rfdbench") as lab:
                chain = Chain(lab, Path(scratch), False, 0)
                try:
                    chain.wait_pruned()
                    data, refreshes = pruned_link(chain, 230.0)
                    print(f"without state refresh, pruned link over 230 s: {data} data "
                          f"frames, {refreshes} State Refresh")  # fmt: skip
                finally:
                    chain.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
