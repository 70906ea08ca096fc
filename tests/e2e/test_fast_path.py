"""`rawfwd run --io ebpf` with kernel hosts: a routed group reaches its receivers exactly
once per packet (the kernel forwards what the engine decided; the engine does not forward
it again), with the engine's TTL, checksum and MACs; the counters of kernel-forwarded
packets reach `rawfwd show`; and a stopped rawfwd leaves no program attached."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawfwd.core.wire import group_mac
from rawfwd.io import bpf
from rawfwd.lab.netns import Lab, in_netns, ip, rawfwd_in

from ..support.lab import RouterLab, drain, udp_checksum_ok, udp_to, wait_for
from .test_live import CONFIG, GROUP

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RouterLab]:
    with RouterLab(tmp_path, CONFIG) as router:
        router.start("--io", "ebpf")
        yield router


def _tc_programs(lab: RouterLab, ifname: str) -> int:
    """How many programs are attached to `ifname`'s tc ingress in R (tcx)."""

    def query() -> int:
        return len(bpf.tc_ingress_programs(socket.if_nametoindex(ifname)))

    return in_netns(lab.ns("R"), query)


def test_the_kernel_forwards_each_packet_once_and_counts_it(lab: RouterLab) -> None:
    receivers = {h: lab.receiver(h, GROUP) for h in "ABC"}
    captures = {h: lab.capture(h) for h in "AB"}
    tx = lab.sender("S", ttl=8)
    payloads = [b"packet %d" % i for i in range(40)]
    tx.sendto(payloads[0], (GROUP, 5000))  # the engine decides the flow on this one
    wait_for(lambda: lab.flow("eth0", "10.0.0.5", GROUP) is not None, what="the flow decided")
    for p in payloads[1:]:
        tx.sendto(p, (GROUP, 5000))
    for h in "AB":
        assert drain(receivers[h], want=40) == payloads, h  # each exactly once, in order
        frames = udp_to(drain(captures[h], timeout=0.5), GROUP)
        assert len(frames) == 40, h
        for f in frames:
            assert f[22] == 7
            assert f[0:6] == group_mac(int.from_bytes(socket.inet_aton(GROUP), "big"))
        # not asserted here: the UDP checksum bytes. A kernel clone keeps its skb's checksum
        # state: on veth the checksum the sender left to offload stays unfinished in the
        # bytes a capture sees, the receivers' stacks accept it (above), and a NIC finishes
        # it on the wire. The engine's copies (the first packet) carry it finished.
        assert udp_checksum_ok(frames[0])
    assert drain(receivers["C"], timeout=0.3) == []

    def counted() -> bool:
        flow = lab.flow("eth0", "10.0.0.5", GROUP)
        return flow is not None and (flow["packets"], flow["forwarded"], flow["copies"]) == (
            40,
            40,
            80,
        )

    wait_for(counted, what="every packet counted once, whichever path forwarded it")
    flow = lab.flow("eth0", "10.0.0.5", GROUP)
    assert flow is not None
    assert flow["kernel_packets"] == 39  # all but the first, which the engine decided on
    # the kernel's copies, sent on eth1 and eth2, reach rawfwd's sockets there as outgoing
    # frames: they are not taken for an application's (no flow of their own)
    assert [(f["iif"], f["local"]) for f in lab.show()["flows"]] == [("eth0", False)]
    assert _tc_programs(lab, "eth0") == 1


def test_nothing_is_left_attached_after_a_kill(lab: RouterLab) -> None:
    assert _tc_programs(lab, "eth1") == 1
    lab.signal(signal.SIGKILL)
    assert lab.proc is not None
    lab.proc.wait(timeout=10)
    wait_for(lambda: _tc_programs(lab, "eth1") == 0, what="the program detached")


def test_without_clang_it_says_why_in_one_line_and_does_not_run(tmp_path: Path) -> None:
    """No silent fallback: a fast path that cannot start stops rawfwd with one line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip") or "/usr/sbin/ip")
    config = tmp_path / "rawfwd.toml"
    config.write_text(CONFIG)
    with Lab("rfnoclang") as lab:
        ns = lab.host("R")
        for name in ("eth0", "eth1", "eth2", "eth3"):
            ip("link", "add", name, "type", "veth", "peer", "name", f"p{name}", netns=ns)
        done = subprocess.run(
            rawfwd_in(ns, "run", "-c", str(config), "--no-ui", "--io", "ebpf",
                      "--control-socket", f"@rawfwd-test-{ns}"),
            env={**os.environ, "PATH": str(bin_dir)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "eBPF" in line]
    assert errors == [
        "rawfwd: error: eBPF unavailable: no clang to build the program (Debian: clang)"
    ]
    assert "Traceback" not in done.stderr
