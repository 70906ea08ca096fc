"""Join and leave latency through PIM-SM: rawfwd as the last-hop router against FRR as the
last-hop router, in the same run, behind the same FRR RP (the PIM-SM issue).

    S --- [FRR 1: RP, first hop; UML guest] --- [last hop: rawfwd, or FRR 2 in a guest] --- B

S sends 1000 packets/s to the group. B joins by IGMP (its kernel's own report): the join
latency is the time from the join to the first packet at B; once traffic flows, B leaves:
the leave latency is the time from the leave to the last packet at B (both last hops
query the group 2 x 0.3 s after the leave, and the RP tree is used alone: SPT switchover
off on both). Rounds alternate between the two last hops; medians are printed.

    .venv/bin/python -m tools.bench.pim_latency [--rounds 3]

Root, Debian's frr and user-mode-linux (`make test` installs them).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop
from tests.support import uml
from tests.support.lab import wait_for

GROUP = "239.1.1.1"
PORT = 5000
FRR_RP = uml.FRR_CONF
FRR_LAST_HOP = (
    FRR_RP
    + """\
 ip igmp
 ip igmp last-member-query-interval 3
"""
)
RAWFWD_LAST_HOP = """\
[interface.up0]
pim = true
hello_interval = 1
[interface.down0]
pim = true
igmp = true
version = 2
last_member_query_interval = 0.3

[pim]
spt_switchover = "never"

[[pim.rp]]
address = "10.0.0.1"
"""


def measure(last_hop: str, scratch: Path) -> tuple[float, float]:
    """One round: (join latency, leave latency) in seconds with `last_hop`."""
    with Lab("rfpimlat") as lab:
        for host in ("S", "G1", "L", "B"):
            lab.host(host)
        lab.link("S", "eth0", "10.0.0.5/24", "G1", "a0", "192.0.2.1/32")
        lab.link("G1", "a1", "192.0.2.2/32", "L", "up0", "10.8.0.1/24")
        lab.link("L", "down0", "10.2.0.1/24", "B", "eth0", "10.2.0.2/24")
        for ifname in ("a0", "a1"):
            ip("addr", "flush", "dev", ifname, netns=lab.ns("G1"))
        ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
        ip("route", "add", "default", "via", "10.2.0.1", netns=lab.ns("B"))
        guests: list[uml.FrrGuest] = []
        proc = None
        home1 = Path(tempfile.mkdtemp(prefix="rawfwd-uml-", dir=scratch))
        try:
            guests.append(
                uml.FrrGuest(
                    home1, lab.ns("G1"),
                    [("a0", "10.0.0.1/24", "02:00:00:00:77:01"),
                     ("a1", "10.8.0.2/24", "02:00:00:00:77:02")],
                    FRR_RP, routes=("10.2.0.0/24 via 10.8.0.1",),
                )
            )  # fmt: skip
            if last_hop == "rawfwd":
                ip("route", "add", "10.0.0.0/24", "via", "10.8.0.2", netns=lab.ns("L"))
                config = home1 / "rawfwd.toml"
                config.write_text(RAWFWD_LAST_HOP)
                log = (home1 / "rawfwd.log").open("wb")
                proc = subprocess.Popen(
                    rawfwd_in(lab.ns("L"), "run", "-c", str(config), "--no-ui"), stderr=log
                )
                log.close()
            else:  # FRR 2 in a guest of its own, on L's veth ends (no addresses there)
                for ifname in ("up0", "down0"):
                    ip("addr", "flush", "dev", ifname, netns=lab.ns("L"))
                home2 = Path(tempfile.mkdtemp(prefix="rawfwd-uml-", dir=scratch))
                guests.append(
                    uml.FrrGuest(
                        home2, lab.ns("L"),
                        [("up0", "10.8.0.1/24", "02:00:00:00:78:01"),
                         ("down0", "10.2.0.1/24", "02:00:00:00:78:02")],
                        FRR_LAST_HOP, routes=("10.0.0.0/24 via 10.8.0.2",),
                    )
                )  # fmt: skip
            wait_for(lambda: "10.8.0.1" in guests[0].run("show ip pim neighbor"), 30, "PIM")
            for guest in guests:
                uml.set_rp(guest, "10.0.0.1", "ip pim spt-switchover infinity-and-beyond")
            return _join_and_leave(lab)
        finally:
            if proc is not None:
                stop([proc])
            for guest in guests:
                guest.close()


def _join_and_leave(lab: Lab) -> tuple[float, float]:
    arrivals: list[float] = []
    done = threading.Event()
    sender = socket_in(lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
    # the wire at B, not a socket: after the leave B's own stack drops what still comes
    receiver = socket_in(lab.ns("B"), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    receiver.bind(("eth0", 0x0800))
    receiver.settimeout(0.05)
    wanted = socket.inet_aton(GROUP)
    member = socket_in(lab.ns("B"), socket.AF_INET, socket.SOCK_DGRAM)

    def send() -> None:
        while not done.is_set():
            sender.sendto(b"x" * 32, (GROUP, PORT))
            time.sleep(0.001)

    def listen() -> None:
        while not done.is_set():
            try:
                frame = receiver.recv(2048)
            except TimeoutError:
                continue
            if frame[23] == 17 and frame[30:34] == wanted:  # UDP to the group
                arrivals.append(time.monotonic())

    threads = [threading.Thread(target=send), threading.Thread(target=listen)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # S's traffic reaches the RP first: registered or native there
        joined = time.monotonic()
        member.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(GROUP) + socket.inet_aton("10.2.0.2"),
        )
        wait_for(lambda: arrivals, 30, "the first packet at B")
        join = arrivals[0] - joined
        time.sleep(1.0)
        left = time.monotonic()
        member.close()  # the kernel sends the leave
        time.sleep(5.0)
        leave = max(arrivals) - left
        return join, leave
    finally:
        done.set()
        for t in threads:
            t.join()
        sender.close()
        receiver.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not uml.available():
        print("pim_latency: needs Debian's frr and user-mode-linux (make test installs them)")
        return 2
    results: dict[str, list[tuple[float, float]]] = {"rawfwd": [], "frr": []}
    with tempfile.TemporaryDirectory(prefix="rawfwd-pimlat-") as scratch:
        Path(scratch).chmod(0o755)
        for n in range(args.rounds):
            for last_hop in ("rawfwd", "frr"):
                join, leave = measure(last_hop, Path(scratch))
                results[last_hop].append((join, leave))
                print(f"round {n + 1} {last_hop:>6}: join {join * 1000:7.1f} ms, "
                      f"leave {leave * 1000:7.1f} ms", flush=True)  # fmt: skip
    for last_hop, rows in results.items():
        join = statistics.median(r[0] for r in rows) * 1000
        leave = statistics.median(r[1] for r in rows) * 1000
        print(f"median {last_hop:>6}: join {join:7.1f} ms, leave {leave:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
