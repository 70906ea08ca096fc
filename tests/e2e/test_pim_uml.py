"""PIM against an FRR that forwards (the PIM-SM issue): FRR runs in a User-Mode Linux guest,
whose kernel has the multicast routing this machine's lacks, as RP and first-hop router;
rawfwd is the last-hop router. A kernel host behind rawfwd joins: the join goes hop by
hop to FRR, FRR forwards the source's traffic to rawfwd, rawfwd to the host; the host
leaves: rawfwd prunes and the traffic stops.

    S 10.0.0.5 --- vec0 10.0.0.1 [FRR, RP] vec1 10.8.0.2 --- eth9 10.8.0.1 [rawfwd]
                                                       eth2 10.2.0.1 --- 10.2.0.2 B
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import Lab, ip, rawfwd_in, socket_in, stop

from ..support import uml
from ..support.lab import PORT, RouterLab, drain, show_pim, udp_to, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.1.1.1"
CONFIG = """\
[interface.eth9]
pim = true
hello_interval = 1
[interface.eth2]
pim = true
igmp = true
version = 2
last_member_query_interval = 0.3
[interface.eth3]

[[pim.rp]]
address = "10.0.0.1"
"""


class Chain:
    """S - FRR guest - rawfwd - B, built on RouterLab's namespaces (R is rawfwd's)."""

    def __init__(self, tmp: Path, home: Path) -> None:
        self.router = RouterLab(tmp, CONFIG)
        self.guest: uml.FrrGuest | None = None
        self.home = home

    def __enter__(self) -> Chain:
        r = self.router
        r.__enter__()
        lab = r.lab
        lab.host("G")  # the guest's veth ends live here, without addresses
        # S gets a link of its own to the guest instead of RouterLab's to R; R's link to
        # FRR is eth9 (its eth1 goes to host A, unused here)
        ip("link", "del", "eth0", netns=r.ns("S"))
        lab.link("S", "eth0", "10.0.0.5/24", "G", "u0", "192.0.2.1/32")
        lab.link("R", "eth9", "10.8.0.1/24", "G", "u1", "192.0.2.2/32")
        for ifname in ("u0", "u1"):
            ip("addr", "flush", "dev", ifname, netns=r.ns("G"))
        ip("route", "add", "default", "via", "10.0.0.1", netns=r.ns("S"))
        ip("route", "add", "10.0.0.0/24", "via", "10.8.0.2", netns=r.ns("R"))
        self.guest = uml.FrrGuest(
            self.home,
            r.ns("G"),
            [
                ("u0", "10.0.0.1/24", "02:00:00:00:77:01"),
                ("u1", "10.8.0.2/24", "02:00:00:00:77:02"),
            ],
            uml.FRR_CONF,
            routes=("10.2.0.0/24 via 10.8.0.1",),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.guest is not None:
                self.guest.close()
        finally:
            self.router.__exit__(*exc)

    def set_rp(self) -> None:
        assert self.guest is not None
        uml.set_rp(self.guest, "10.0.0.1")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    if not uml.available():
        pytest.fail("user-mode-linux and FRR are not installed: `make test` installs them")
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-uml-") as home,
        Chain(tmp_path, Path(home)) as c,
    ):
        yield c


def test_rawfwd_as_last_hop_behind_a_forwarding_frr_rp(chain: Chain) -> None:
    router = chain.router
    router.start()
    assert chain.guest is not None
    wait_for(lambda: "10.8.0.1" in chain.guest.run("show ip pim neighbor"), 20, "FRR's neighbour")
    chain.set_rp()
    host = router.receiver("B", GROUP)
    capture = router.capture("B")
    sender = router.sender("S", ttl=16)

    def arrived() -> list[bytes]:
        sender.sendto(b"through FRR and rawfwd", (GROUP, PORT))
        return udp_to(drain(capture, 0.1), GROUP)

    frames = wait_for(arrived, 30, "S's traffic at B through FRR and rawfwd")
    assert frames[0][22] == 14  # TTL 16, two routers crossed
    entries = {(e["source"], e["group"]): e for e in router.show()["pim"]["joins"]}
    assert entries[("*", GROUP)]["upstream"]["neighbor"] == "10.8.0.2"
    host.close()  # the leave: rawfwd prunes, and B's link falls silent

    def silent() -> bool:
        sender.sendto(b"after the leave", (GROUP, PORT))
        time.sleep(0.05)
        return not udp_to(drain(capture, 0.3), GROUP)

    wait_for(silent, 15, "the traffic to stop after the leave")
    found: Any = router.show()["pim"]["joins"]
    assert all(e["oifs"] == [] for e in found)


RP_CONFIG = """\
[interface.eth0]
pim = true
hello_interval = 1
[interface.eth1]
pim = true
hello_interval = 1

[[pim.rp]]
address = "10.8.0.1"
"""
FIRST_HOP_CONF = uml.FRR_CONF
LAST_HOP_CONF = uml.FRR_CONF + " ip igmp\n"


def test_rawfwd_as_rp_between_frr_first_and_last_hops(tmp_path: Path) -> None:
    """S - FRR 1 (first hop) - rawfwd (RP) - FRR 2 (last hop) - B, FRR in two UML guests.
    B joins: FRR 2 joins toward the RP. S sends: FRR 1 registers to rawfwd, which
    decapsulates down its tree to B, joins toward S, and once S's traffic arrives natively
    sends FRR 1 a Register-Stop (RFC 7761 4.4.2)."""
    if not uml.available():
        pytest.fail("user-mode-linux and FRR are not installed: `make test` installs them")
    with Lab("rfpimrp") as lab, tempfile.TemporaryDirectory(prefix="rawfwd-uml-") as scratch:
        for host in ("S", "G1", "R", "G2", "B"):
            lab.host(host)
        lab.link("S", "eth0", "10.0.0.5/24", "G1", "a0", "192.0.2.1/32")
        lab.link("G1", "a1", "192.0.2.2/32", "R", "eth0", "10.8.0.1/24")
        lab.link("R", "eth1", "10.9.0.1/24", "G2", "b0", "192.0.2.3/32")
        lab.link("G2", "b1", "192.0.2.4/32", "B", "eth0", "10.2.0.2/24")
        for ns, ifname in (("G1", "a0"), ("G1", "a1"), ("G2", "b0"), ("G2", "b1")):
            ip("addr", "flush", "dev", ifname, netns=lab.ns(ns))
        ip("route", "add", "default", "via", "10.0.0.1", netns=lab.ns("S"))
        ip("route", "add", "default", "via", "10.2.0.1", netns=lab.ns("B"))
        ip("route", "add", "10.0.0.0/24", "via", "10.8.0.2", netns=lab.ns("R"))
        ip("route", "add", "10.2.0.0/24", "via", "10.9.0.2", netns=lab.ns("R"))
        homes = [Path(tempfile.mkdtemp(dir=scratch)) for _ in range(2)]
        Path(scratch).chmod(0o755)
        guests: list[uml.FrrGuest] = []
        proc = None
        try:
            guests.append(uml.FrrGuest(
                homes[0], lab.ns("G1"),
                [("a0", "10.0.0.1/24", "02:00:00:00:77:01"),
                 ("a1", "10.8.0.2/24", "02:00:00:00:77:02")],
                FIRST_HOP_CONF, routes=("10.9.0.0/24 via 10.8.0.1", "10.2.0.0/24 via 10.8.0.1"),
            ))  # fmt: skip
            guests.append(uml.FrrGuest(
                homes[1], lab.ns("G2"),
                [("b0", "10.9.0.2/24", "02:00:00:00:78:01"),
                 ("b1", "10.2.0.1/24", "02:00:00:00:78:02")],
                LAST_HOP_CONF, routes=("10.8.0.0/24 via 10.9.0.1", "10.0.0.0/24 via 10.9.0.1"),
            ))  # fmt: skip
            config = tmp_path / "rp.toml"
            config.write_text(RP_CONFIG)
            with (tmp_path / "rawfwd.log").open("wb") as log:
                proc = subprocess.Popen(
                    rawfwd_in(lab.ns("R"), "run", "-c", str(config), "--no-ui"), stderr=log
                )
            for guest, me in zip(guests, ("10.8.0.1", "10.9.0.1"), strict=True):
                wait_for(lambda g=guest, m=me: m in g.run("show ip pim neighbor"), 30, "PIM")
                uml.set_rp(guest, "10.8.0.1")
            uml.set_rp(guests[1], "10.8.0.1", "ip pim spt-switchover infinity-and-beyond")
            member = socket_in(lab.ns("B"), socket.AF_INET, socket.SOCK_DGRAM)
            member.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(GROUP) + socket.inet_aton("10.2.0.2"),
            )
            capture = socket_in(
                lab.ns("B"), socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)
            )
            capture.bind(("eth0", 0x0800))
            capture.settimeout(0.0)
            sender = socket_in(lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
            try:

                def arrived() -> list[bytes]:
                    sender.sendto(b"via the RP", (GROUP, PORT))
                    return udp_to(drain(capture, 0.1), GROUP)

                wait_for(arrived, 30, "S's traffic at B through the rawfwd RP")

                def stopped() -> dict[str, Any] | None:
                    sender.sendto(b"on the source tree", (GROUP, PORT))
                    pim = show_pim(lab.ns("R"))
                    native = any(e["source"] == "10.0.0.5" and e["spt"] for e in pim["joins"])
                    stops = pim["registers"]["counters"].get("register_stop_out")
                    return pim if native and stops else None

                pim = wait_for(stopped, 30, "rawfwd's Register-Stop to FRR")
                assert pim["registers"]["counters"]["register_in"] >= 1
                entries = {(e["source"], e["group"]): e for e in pim["joins"]}
                assert entries[("10.0.0.5", GROUP)]["upstream"]["neighbor"] == "10.8.0.2"
                assert udp_to(drain(capture, 0.5), GROUP) or arrived()  # still flowing
                # FRR, the first hop, stopped registering: its register state is Prune
                first_hop = guests[0]
                wait_for(lambda: "RegP" in first_hop.run("show ip pim upstream"), 10, "RegP")
            finally:
                for s in (member, capture, sender):
                    s.close()
        finally:
            if proc is not None:
                stop([proc])
            for guest in guests:
                guest.close()
