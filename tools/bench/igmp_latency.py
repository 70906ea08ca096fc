"""`make bench-igmp`: how fast membership changes reach the data path, with the kernel as
the host (v2 on A, v3 on B) and rawfwd as the router (the e2e test's short timers).

- join: from the host's report arriving at the router to the first forwarded packet
  reaching the host (and, for context, from IP_ADD_MEMBERSHIP to that report);
- leave: from closing the socket (the kernel's leave) to the last packet that still
  reaches the host; the configured last member query time is the target.

S sends 5,000 packets a second, each with its own payload (never a duplicate). Rounds
are repeated; medians and maxima are printed. Root: it builds network namespaces.
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rawfwd.lab.netns import socket_in
from tests.e2e.test_igmp import CONFIG, GROUP
from tests.support.lab import RouterLab, udp_to

ROUNDS = 5
LMQT = 0.4  #: last member query interval 0.2 s x count 2, as CONFIG sets it


def _drain(*socks: socket.socket) -> None:
    for sock in socks:
        while True:
            try:
                sock.recv(4096)
            except BlockingIOError:
                break


def _round(
    lab: RouterLab, host: str, tx: socket.socket, tap: socket.socket, seq: list[int]
) -> tuple[float, ...]:
    """One join and leave: (join to report, report to first packet, leave to last packet)."""
    at_host = lab.capture(host)
    rx = lab.receiver(host, GROUP)
    start = time.monotonic()
    report = first = None
    due = 0.0
    while first is None and time.monotonic() - start < 5:
        if time.monotonic() >= due:
            seq[0] += 1
            tx.sendto(b"%d" % seq[0], (GROUP, 5000))
            due = time.monotonic() + 0.0002
        for sock in (tap, at_host):
            try:
                frame, where = sock.recvfrom(4096)
            except BlockingIOError:
                continue
            now = time.monotonic()
            if sock is tap and frame[23] == 2 and where[2] != socket.PACKET_OUTGOING:
                report = report or now
            elif sock is at_host and udp_to([frame], GROUP):
                first = now
    if first is None or report is None:
        raise RuntimeError(f"{host}: nothing forwarded after the join")
    time.sleep(0.3)
    _drain(at_host)
    left = last = time.monotonic()
    rx.close()
    while time.monotonic() - last < 1.0:
        seq[0] += 1
        tx.sendto(b"%d" % seq[0], (GROUP, 5000))
        time.sleep(0.0002)
        try:
            while True:
                if udp_to([at_host.recv(4096)], GROUP):
                    last = time.monotonic()
        except BlockingIOError:
            pass
    at_host.close()
    _drain(tap)
    return report - start, first - report, last - left


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, RouterLab(Path(tmp), CONFIG) as lab:
        lab.lab.sysctl("A", "net.ipv4.conf.eth0.force_igmp_version=2")
        lab.lab.sysctl("B", "net.ipv4.conf.eth0.force_igmp_version=3")
        lab.start()
        tx = lab.sender("S", ttl=8)
        seq = [0]
        for host, iface, version in (("A", "eth1", 2), ("B", "eth2", 3)):
            tap = socket_in(lab.ns("R"), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            tap.bind((iface, 0x0800))
            tap.settimeout(0.0)
            rounds = [_round(lab, host, tx, tap, seq) for _ in range(ROUNDS)]
            tap.close()
            report, join, leave = (sorted(r[i] * 1000 for r in rounds) for i in range(3))
            print(
                f"IGMPv{version} host: join -> report at the router median "
                f"{statistics.median(report):.1f} ms (the kernel's); report -> first packet "
                f"median {statistics.median(join):.2f} ms, max {join[-1]:.2f} ms; leave -> last "
                f"packet median {statistics.median(leave):.0f} ms, max {leave[-1]:.0f} ms "
                f"(last member query time {LMQT * 1000:.0f} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
