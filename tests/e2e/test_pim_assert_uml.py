"""A PIM assert between rawfwd and an FRR that forwards (the PIM-SM issue, RFC 7761 4.6):
both are first-hop routers of S on LAN U and both have a downstream Join(S,G) on LAN X,
so both forward S's traffic onto X until the assert leaves one. FRR runs in a User-Mode
Linux guest (its kernel has the multicast routing this machine's lacks).

    S 10.0.0.5 --- LAN U --- vec0 [FRR, guest] vec1 --- LAN X --- D1 [rawfwd] --- B1
                        \\--- eth0 [R, rawfwd] eth1 ---/     \\--- D2 [rawfwd] --- B2
                                                           \\--- W (watches LAN X)

D1 joins (S,G) through FRR, D2 through R (their unicast routes say so). Assert metrics tie
(S is on both routers' link: preference 0, metric 0), so the higher address on LAN X
wins: the test runs once with each as the winner. Afterwards exactly one copy of each
packet crosses LAN X, from the winner; the loser's downstream router joins the winner
(RPF' follows the assert, section 4.5.7); B1 and B2 get each packet once.

FRR sets its SPT bit, without which it cannot assert (CouldAssert, 4.6.1), from the
kernel's counters on a 31-second wheel: convergence takes up to that long.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop

from ..support import uml
from ..support.lab import PORT, bridge, drain, mac_of, show_pim, udp_to, wait_for

GROUP = "232.1.1.1"  # SSM (RFC 4607): joins go straight toward S, no RP needed
SOURCE = "10.0.0.5"
FRR_MAC = "02:00:00:00:77:02"  # the guest's interface on LAN X
IP_ADD_SOURCE_MEMBERSHIP = 39
UPSTREAM = """\
[interface.eth0]
pim = true
hello_interval = 1
[interface.eth1]
pim = true
hello_interval = 1
"""
DOWNSTREAM = """\
[interface.eth0]
pim = true
hello_interval = 1
[interface.eth1]
pim = true
hello_interval = 1
igmp = true
version = 3
"""


def _copies(frames: list[bytes]) -> Counter[tuple[bytes, bytes]]:
    """(payload, Ethernet source) of each copy of S's packets to GROUP."""
    return Counter(
        (f[42:], f[6:12]) for f in udp_to(frames, GROUP) if f[26:30] == socket.inet_aton(SOURCE)
    )


@pytest.mark.parametrize("winner", ["rawfwd", "frr"])
def test_an_assert_leaves_one_forwarder_on_a_lan_shared_with_frr(
    tmp_path: Path, winner: str
) -> None:
    if not uml.available():
        pytest.fail("user-mode-linux and FRR are not installed: `make test` installs them")
    # the higher address on LAN X wins the tie
    frr_x, r_x = ("10.3.0.1", "10.3.0.2") if winner == "rawfwd" else ("10.3.0.2", "10.3.0.1")
    winner_x = r_x if winner == "rawfwd" else frr_x
    with Lab("rfpimas") as lab, tempfile.TemporaryDirectory(prefix="rawfwd-uml-") as home:
        for host in ("S", "G", "R", "L", "D1", "D2", "B1", "B2", "W"):
            lab.host(host)
        spare = iter(f"192.0.2.{n}/32" for n in range(1, 50))
        lab.link("S", "eth0", f"{SOURCE}/24", "L", "us", next(spare))
        lab.link("G", "g0", next(spare), "L", "ug", next(spare))
        lab.link("R", "eth0", "10.0.0.2/24", "L", "ur", next(spare))
        lab.link("G", "g1", next(spare), "L", "xg", next(spare))
        lab.link("R", "eth1", f"{r_x}/24", "L", "xr", next(spare))
        lab.link("D1", "eth0", "10.3.0.11/24", "L", "x1", next(spare))
        lab.link("D2", "eth0", "10.3.0.12/24", "L", "x2", next(spare))
        lab.link("W", "eth0", "10.3.0.99/24", "L", "xw", next(spare))
        lab.link("D1", "eth1", "10.4.0.1/24", "B1", "eth0", "10.4.0.2/24")
        lab.link("D2", "eth1", "10.5.0.1/24", "B2", "eth0", "10.5.0.2/24")
        for ifname in ("g0", "g1"):
            ip("addr", "flush", "dev", ifname, netns=lab.ns("G"))
        bridge(lab, "L", "lanu", ["us", "ug", "ur"])
        bridge(lab, "L", "lanx", ["xg", "xr", "x1", "x2", "xw"])
        ip("route", "add", "10.0.0.0/24", "via", frr_x, netns=lab.ns("D1"))
        ip("route", "add", "10.0.0.0/24", "via", r_x, netns=lab.ns("D2"))
        guest = uml.FrrGuest(
            Path(home),
            lab.ns("G"),
            [("g0", "10.0.0.1/24", "02:00:00:00:77:01"), ("g1", f"{frr_x}/24", FRR_MAC)],
            uml.FRR_CONF,
        )
        procs: list[subprocess.Popen[bytes]] = []
        sockets: list[socket.socket] = []
        try:
            for host, text in (("R", UPSTREAM), ("D1", DOWNSTREAM), ("D2", DOWNSTREAM)):
                config = tmp_path / f"{host}.toml"
                config.write_text(text)
                with (tmp_path / f"{host}.log").open("wb") as log:
                    procs.append(subprocess.Popen(
                        rawfwd_in(lab.ns(host), "run", "-c", str(config), "--no-ui"), stderr=log
                    ))  # fmt: skip
            wait_for(
                lambda: all(n in guest.run("show ip pim neighbor") for n in (r_x, "10.3.0.11")),
                30,
                "FRR's neighbours on LAN X",
            )
            for host, address in (("B1", "10.4.0.2"), ("B2", "10.5.0.2")):
                member = socket_in(lab.ns(host), socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(member)
                member.bind(("", PORT))
                mreq = socket.inet_aton(GROUP) + socket.inet_aton(address)
                member.setsockopt(
                    socket.IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, mreq + socket.inet_aton(SOURCE)
                )
                member.settimeout(0.0)
            watch = socket_in(lab.ns("W"), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            sockets.append(watch)
            watch.bind(("eth0", 0x0800))
            watch.settimeout(0.0)
            sender = socket_in(lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sender)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(SOURCE))
            sequence = iter(range(1_000_000))

            def burst(count: int) -> Counter[tuple[bytes, bytes]]:
                """`count` packets 20 ms apart; the copies LAN X carried."""
                for _ in range(count):
                    sender.sendto(b"packet %d" % next(sequence), (GROUP, PORT))
                    time.sleep(0.02)
                return _copies(drain(watch, 0.3))

            wait_for(lambda: burst(5), 30, "S's traffic on LAN X")
            r_mac = mac_of(lab.ns("R"), "eth1")
            winner_mac = r_mac if winner == "rawfwd" else bytes.fromhex(FRR_MAC.replace(":", ""))

            def settled() -> Counter[tuple[bytes, bytes]] | None:
                copies = burst(25)
                sent = {payload for payload, _ in copies}
                one_each = len(sent) >= 20 and all(n == 1 for n in copies.values())
                from_winner = {mac for _, mac in copies} == {winner_mac}
                return copies if one_each and from_winner and len(copies) == len(sent) else None

            wait_for(settled, 60, f"one copy per packet on LAN X, from {winner}")
            for member in sockets[:2]:
                drain_udp(member)
            copies = burst(30)
            assert len(copies) >= 28  # each sent packet, once, from the winner
            assert set(copies.values()) == {1}
            assert {mac for _, mac in copies} == {winner_mac}
            time.sleep(0.2)
            for member in sockets[:2]:
                got = drain_udp(member)
                assert len(got) >= 28
                assert len(got) == len(set(got))  # each packet once at B1 and at B2
            # RPF' of both downstream routers is the winner (section 4.5.7)
            for host in ("D1", "D2"):
                (entry,) = [e for e in show_pim(lab.ns(host))["joins"] if e["group"] == GROUP]
                assert entry["upstream"]["neighbor"] == winner_x, host
            asserts = show_pim(lab.ns("R"))["asserts"]
            states = {a["state"] for a in asserts if a["interface"] == "eth1"}
            assert states == {"Winner" if winner == "rawfwd" else "Loser"}
        finally:
            for s in sockets:
                s.close()
            stop(procs)
            guest.close()


def drain_udp(member: socket.socket) -> list[bytes]:
    """What a joined socket has queued."""
    got: list[bytes] = []
    while True:
        try:
            got.append(member.recv(2048))
        except BlockingIOError:
            return got
