"""MLD end to end (the IPv6 issue): kernel hosts in namespaces join and leave IPv6 groups
through their own MLD stacks, an MLDv2 host and an MLDv1 one (force_mld_version=1), and
an SSM host asking for one source; rawfwd forwards by what they said, with either data
path (the kernel fast path leaves IPv6 to the engine)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import in_netns, ip, socket_in

from ..support.lab import PORT, RouterLab, drain, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

S1, S2 = "2001:db8::5", "2001:db8::6"
GROUP = "ff0e::1:1"
SSM = "ff3e::8000:1"
CONFIG = """\
[interface.eth0]
[interface.eth1]
mld = true
last_member_query_interval = 0.3
[interface.eth2]
mld = true
last_member_query_interval = 0.3
[interface.eth3]
"""
MCAST_JOIN_SOURCE_GROUP = 46  # linux/in.h


@pytest.fixture(params=["rings", "ebpf"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RouterLab]:
    with RouterLab(tmp_path, CONFIG) as router:
        for address in (S1, S2):
            ip("-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad", netns=router.ns("S"))
        ip("-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad", netns=router.ns("R"))
        sysctl(router, "B", "net.ipv6.conf.eth0.force_mld_version", "1")  # an MLDv1 host
        router.start("--io", request.param)
        yield router


def sysctl(lab: RouterLab, host: str, key: str, value: str) -> None:
    cmd = ["ip", "netns", "exec", lab.ns(host), "sysctl", "-qw", f"{key}={value}"]
    subprocess.run(cmd, check=True)


def _index(lab: RouterLab, host: str) -> int:
    return in_netns(lab.ns(host), lambda: socket.if_nametoindex("eth0"))


def _sockaddr6(address: str) -> bytes:
    addr = struct.pack(
        "=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, address), 0
    )
    return addr.ljust(128, b"\0")  # struct sockaddr_storage


def listener(lab: RouterLab, host: str, group: str, source: str | None = None) -> socket.socket:
    """A UDP socket in `host` that joined `group` (from `source` only, if given)."""
    s = socket_in(lab.ns(host), socket.AF_INET6, socket.SOCK_DGRAM)
    lab.sockets.append(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", PORT))
    index = _index(lab, host)
    if source is None:
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    else:  # struct group_source_req: interface, then two sockaddr_storage
        req = struct.pack("@I4x", index) + _sockaddr6(group) + _sockaddr6(source)
        s.setsockopt(socket.IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, req)
    s.settimeout(0.0)
    return s


def sender(lab: RouterLab, source: str) -> socket.socket:
    s = socket_in(lab.ns("S"), socket.AF_INET6, socket.SOCK_DGRAM)
    lab.sockets.append(s)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _index(lab, "S"))
    s.bind((source, 0))
    return s


def listeners(lab: RouterLab, interface: str) -> dict[str, Any]:
    """The groups rawfwd's MLD router has on `interface`, by group."""
    for entry in lab.show()["igmp"]:
        if entry["interface"] == interface and entry["protocol"] == "mld":
            return {g["group"]: g for g in entry["groups"]}
    return {}


def test_mldv2_and_mldv1_hosts_join_and_leave(lab: RouterLab) -> None:
    a = listener(lab, "A", GROUP)
    b = listener(lab, "B", GROUP)
    wait_for(lambda: GROUP in listeners(lab, "eth1") and GROUP in listeners(lab, "eth2"),
             what="both hosts' reports")  # fmt: skip
    assert listeners(lab, "eth1")[GROUP]["compat"] == 2  # MLDv2
    assert listeners(lab, "eth2")[GROUP]["compat"] == 1  # the MLDv1 host: compatibility
    tx = sender(lab, S1)
    for i in range(3):
        tx.sendto(b"six %d" % i, (GROUP, PORT))
    assert drain(a, want=3) == [b"six 0", b"six 1", b"six 2"]
    assert drain(b, want=3) == [b"six 0", b"six 1", b"six 2"]
    # A leaves (an MLDv2 TO_IN({}) report): gone within the last listener query time
    left = time.monotonic()
    a.close()
    wait_for(lambda: GROUP not in listeners(lab, "eth1"), what="A's leave")
    assert time.monotonic() - left < 3.0
    b2 = b
    tx.sendto(b"after", (GROUP, PORT))
    assert drain(b2, want=1) == [b"after"]
    flow = lab.flow("eth0", S1, GROUP)
    assert flow is not None
    assert "eth1" not in flow["oifs"]
    # B leaves (an MLDv1 done)
    b.close()
    wait_for(lambda: GROUP not in listeners(lab, "eth2"), what="B's done")


def test_an_ssm_host_gets_only_the_source_it_asked_for(lab: RouterLab) -> None:
    a = listener(lab, "A", SSM, source=S1)
    wait_for(lambda: SSM in listeners(lab, "eth1"), what="A's source-specific join")
    sender(lab, S2).sendto(b"not asked", (SSM, PORT))
    sender(lab, S1).sendto(b"asked", (SSM, PORT))
    assert drain(a, want=1) == [b"asked"]
    assert drain(a, timeout=0.3) == []
    flow = lab.flow("eth0", S2, SSM)
    assert flow is not None
    assert flow["forwarded"] == 0
