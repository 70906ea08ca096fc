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
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import ip

from ..support import uml
from ..support.lab import PORT, RouterLab, drain, udp_to, wait_for

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
FRR_CONF = """\
frr defaults traditional
interface vec0
 ip pim
 ip pim hello 1 4
interface vec1
 ip pim
 ip pim hello 1 4
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
            FRR_CONF,
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

        def taken() -> bool:
            assert self.guest is not None
            self.guest.run(
                "sh vtysh --vty_socket /run/frr -c 'conf t' -c 'ip pim rp 10.0.0.1 224.0.0.0/4'"
            )
            return "10.0.0.1" in self.guest.run("show ip pim rp-info")

        wait_for(taken, 20, "FRR to take its RP")


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
