"""`rawfwd demo`: a small network of namespaces, traffic through it, rawfwd in the middle.

    sender S eth0 10.0.0.5 --- eth0 [router R: rawfwd] eth1 --- eth0 receiver A 10.1.0.2
                                                       eth2 --- eth0 receiver B 10.2.0.2

Traffic, ten packets a second each: 239.1.1.1 from S (routed to A and B), 239.2.2.2 from
S (its route expects it from eth1: dropped as wrong_if), 239.1.1.1 with TTL 1 (dropped as
ttl), and every second a burst of the same frame five times (dropped as duplicate). And
239.3.3.3, which no route names: eth2 runs IGMP, B joins it for six seconds and leaves for
four, over and over, so it is forwarded to B only while B is a member (no_members
otherwise). The live table shows each flow, why its packets were dropped, and the IGMP
groups. Everything is removed on exit, also on Ctrl-C, SIGTERM or SIGHUP: rawfwd runs in a
session of its own, so that only the demo signals it, once, whatever stopped the demo.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

from ..errors import RawfwdError
from .frames import udp_frame
from .netns import (
    Lab,
    cleaning_up,
    ended_by_signals,
    rawfwd_in,
    router_topology,
    scratch_dir,
    socket_in,
    stop,
)

ROUTED, MISROUTED, LEARNED = "239.1.1.1", "239.2.2.2", "239.3.3.3"
JOINED, LEFT = 6.0, 4.0  #: seconds B is a member of LEARNED, then is not
PORT = 5000
CONFIG = f"""\
# rawfwd demo: the router in the middle
[interface.eth0]   # toward the sender
[interface.eth1]   # toward receiver A
[interface.eth2]   # toward receiver B: an IGMP router there, B's joins decide
igmp = true
query_interval = 20
last_member_query_interval = 0.5

[[route]]          # what the sender sends: to both receivers
from = "eth0"
group = "{ROUTED}"
to = ["eth1", "eth2"]

[[route]]          # expected from A's side: the sender's copies fail RPF (wrong_if)
from = "eth1"
group = "{MISROUTED}"
to = ["eth2"]
"""


class _Traffic:
    """The demo's senders and receivers, on threads, until `stop` is set."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.stop = threading.Event()
        self.received = {"A": 0, "B": 0}
        self.learned = 0  # packets to LEARNED that reached B
        self.sent = 0
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for host, addr in (("A", "10.1.0.2"), ("B", "10.2.0.2")):
            sock = socket_in(self.lab.ns(host), socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ROUTED, PORT))
            sock.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(ROUTED) + socket.inet_aton(addr),
            )
            sock.settimeout(0.2)
            self._spawn(self._receive, host, sock)
        self._spawn(self._member)
        self._spawn(self._send)

    def _member(self) -> None:
        """B joins LEARNED, stays JOINED seconds, leaves (the socket closes) for LEFT."""
        while not self.stop.is_set():
            sock = socket_in(self.lab.ns("B"), socket.AF_INET, socket.SOCK_DGRAM)
            with sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((LEARNED, PORT))
                sock.setsockopt(
                    socket.IPPROTO_IP,
                    socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(LEARNED) + socket.inet_aton("10.2.0.2"),
                )
                sock.settimeout(0.2)
                until = time.monotonic() + JOINED
                while not self.stop.is_set() and time.monotonic() < until:
                    try:
                        sock.recv(2048)
                    except TimeoutError:
                        continue
                    self.learned += 1
            self.stop.wait(LEFT)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    def _receive(self, host: str, sock: socket.socket) -> None:
        with sock:
            while not self.stop.is_set():
                try:
                    sock.recv(2048)
                except TimeoutError:
                    continue
                self.received[host] += 1

    def _send(self) -> None:
        ns = self.lab.ns("S")
        udp = socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM)
        udp.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
        ttl1 = socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM)
        ttl1.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        raw = socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
        raw.bind(("eth0", 0))
        with udp, ttl1, raw:
            n = 0
            while not self.stop.wait(0.1):
                n += 1
                udp.sendto(b"routed %d" % n, (ROUTED, PORT))
                udp.sendto(b"misrouted %d" % n, (MISROUTED, PORT))
                udp.sendto(b"learned %d" % n, (LEARNED, PORT))
                ttl1.sendto(b"ttl one %d" % n, (ROUTED, PORT))
                self.sent += 1
                if n % 10 == 1:  # the same frame five times: one forwarded, four duplicates
                    frame = udp_frame(
                        socket.inet_aton("10.0.0.5"),
                        socket.inet_aton(ROUTED),
                        b"burst %d" % n,
                        ttl=16,
                        ident=n,
                        sport=PORT,
                        dport=PORT,
                        src_mac=bytes.fromhex("020000d0d001"),
                    )
                    for _ in range(5):
                        raw.send(frame)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=2)


def _wait_ready(lab: Lab, router: subprocess.Popen[bytes]) -> None:
    """Poll (bounded) until rawfwd in R answers on its control socket."""
    deadline = time.monotonic() + 15
    while router.poll() is None and time.monotonic() < deadline:
        done = subprocess.run(
            rawfwd_in(lab.ns("R"), "show", "interfaces", "--json"),
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            return
        time.sleep(0.1)


def demo(*, duration: float | None, ui: bool | None) -> int:
    """Run the demo until Ctrl-C, SIGTERM or SIGHUP (or `duration` seconds); returns
    rawfwd's exit status."""
    if os.geteuid() != 0:
        raise RawfwdError("rawfwd demo creates network namespaces: run it as root")
    with ended_by_signals(), scratch_dir("rawfwd-demo-") as tmp, Lab("rfdemo") as lab:
        config = tmp / "demo.toml"
        config.write_text(CONFIG)
        print(
            f"rawfwd demo: namespaces {lab.tag}-*, config {config}; Ctrl-C to stop", file=sys.stderr
        )
        router_topology(lab)
        traffic = _Traffic(lab)
        cmd = rawfwd_in(lab.ns("R"), "run", "-c", str(config))
        if ui is not None:
            cmd.append("--ui" if ui else "--no-ui")
        if ui is False:
            cmd += ["--stats-interval", "1"]
        router: subprocess.Popen[bytes] | None = None
        try:
            router = subprocess.Popen(cmd, start_new_session=True)
            _wait_ready(lab, router)
            traffic.start()
            router.wait(timeout=duration)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            pass  # stopped (Ctrl-C, SIGTERM, SIGHUP) or time is up: rawfwd is stopped below
        finally:
            with cleaning_up():
                if router is not None:
                    stop([router])
                traffic.join()
        print(
            f"rawfwd demo: sent {traffic.sent} packets and {(traffic.sent + 9) // 10} bursts of "
            f"duplicates to {ROUTED}; receiver A got {traffic.received['A']}, receiver B got "
            f"{traffic.received['B']}; B got {traffic.learned} of {LEARNED} while a member",
            file=sys.stderr,
        )
        return router.returncode if router is not None else 0
