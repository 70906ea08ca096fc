"""rawfwd run on real (namespaced) interfaces, with the kernel as sender and receivers."""

from __future__ import annotations

import os
import random
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import rawfwd
from rawfwd import native
from rawfwd.core.wire import group_mac
from rawfwd.lab.frames import udp_frame

from ..support.lab import RouterLab, drain, udp_checksum_ok, udp_to, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.1.2.3"
OTHER = "239.9.9.9"
CONFIG = f"""\
[interface.eth0]
[interface.eth1]
[interface.eth2]
[interface.eth3]

[[route]]
from = "eth0"
group = "{GROUP}"
to = ["eth1", "eth2"]
"""


@pytest.fixture(params=["rings", "ebpf"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RouterLab]:
    """The router, with the engine forwarding everything (`rings`) or the kernel fast path
    forwarding what the engine decided (`ebpf`): the same behaviour either way."""
    with RouterLab(tmp_path, CONFIG) as router:
        router.start("--io", request.param)
        yield router


def test_routed_group_reaches_route_interfaces_only(lab: RouterLab) -> None:
    receivers = {h: lab.receiver(h, GROUP) for h in "ABC"}
    captures = {h: lab.capture(h) for h in "ABC"}
    tx = lab.sender("S", ttl=8)
    payloads = [b"packet %d" % i for i in range(5)]
    for p in payloads:
        tx.sendto(p, (GROUP, 5000))
    for h in "AB":
        assert drain(receivers[h], want=5) == payloads, h
        frames = udp_to(drain(captures[h], timeout=0.5), GROUP)
        assert len(frames) == 5, h
        for f in frames:
            assert f[22] == 7  # TTL 8, decremented once
            assert udp_checksum_ok(f), f"bad UDP checksum on {h}: {f.hex()}"
            assert f[0:6] == group_mac(int.from_bytes(socket.inet_aton(GROUP), "big"))
    assert drain(receivers["C"], timeout=0.3) == []
    assert udp_to(drain(captures["C"], timeout=0.1), GROUP) == []
    flow = lab.flow("eth0", "10.0.0.5", GROUP)
    assert flow is not None
    assert (flow["packets"], flow["forwarded"], flow["copies"]) == (5, 5, 10)
    # the daemon (a child process) says which build of the engine it runs: the test's own
    said = (lab.tmp / "rawfwd.log").read_text()  # written at start, before it forwarded
    assert f"rawfwd {rawfwd.__version__}, {native.status().describe()}" in said


def test_busy_poll_forwards_the_same(tmp_path: Path) -> None:
    with RouterLab(tmp_path, CONFIG) as router:
        router.start("--busy-poll", "500")
        a = router.receiver("A", GROUP)
        tx = router.sender("S", ttl=8)
        payloads = [b"polled %d" % i for i in range(20)]
        for p in payloads:
            tx.sendto(p, (GROUP, 5000))
        assert drain(a, want=20) == payloads


def test_wrong_interface_and_ttl_1_are_dropped_and_counted(lab: RouterLab) -> None:
    a = lab.receiver("A", GROUP)
    lab.sender("B", ttl=8).sendto(b"from the wrong side", (GROUP, 5000))
    lab.sender("S", ttl=1).sendto(b"ttl one", (GROUP, 5000))
    wrong = wait_for(lambda: lab.flow("eth2", "10.2.0.2", GROUP), what="wrong_if flow")
    assert wrong["drops"] == {"wrong_if": 1}
    ttl = wait_for(lambda: lab.flow("eth0", "10.0.0.5", GROUP), what="ttl flow")
    assert ttl["drops"] == {"ttl": 1}
    assert drain(a, timeout=0.3) == []
    drops = lab.show()["drops"]
    assert drops["wrong_if"] == 1
    assert drops["ttl"] == 1


def test_traffic_from_an_application_on_the_router_is_forwarded(lab: RouterLab) -> None:
    a, b = lab.receiver("A", GROUP), lab.receiver("B", GROUP)
    lab.sender("R", ttl=4, via="10.0.0.1").sendto(b"local app", (GROUP, 5000))
    assert drain(a, want=1) == [b"local app"]
    assert drain(b, want=1) == [b"local app"]
    flow = lab.flow("eth0", "10.0.0.1", GROUP)
    assert flow is not None
    assert flow["forwarded"] == 1


def test_outgoing_interface_deleted_and_recreated(lab: RouterLab) -> None:
    tx = lab.sender("S")
    b = lab.receiver("B", GROUP)
    tx.sendto(b"before", (GROUP, 5000))
    assert drain(b, want=1) == [b"before"]
    subprocess_ip = ["ip", "-n", lab.ns("R"), "link", "del", "eth2"]
    assert os.spawnvp(os.P_WAIT, "ip", subprocess_ip) == 0
    wait_for(lambda: _state(lab, "eth2") == "absent", what="eth2 absent")
    tx.sendto(b"while gone", (GROUP, 5000))  # eth1 still served, no crash
    lab.connect("B")
    wait_for(lambda: _state(lab, "eth2") == "up", what="eth2 back up")
    b2 = lab.receiver("B", GROUP)

    def arrives() -> bool:
        tx.sendto(b"after", (GROUP, 5000))
        return b"after" in drain(b2, timeout=0.2)

    wait_for(arrives, what="forwarding to the recreated eth2")
    assert lab.proc is not None
    assert lab.proc.poll() is None


def _state(lab: RouterLab, name: str) -> str:
    (iface,) = [i for i in lab.show()["interfaces"] if i["name"] == name]
    return str(iface["state"])


def test_sighup_bad_config_keeps_forwarding_good_one_applies(lab: RouterLab) -> None:
    tx = lab.sender("S")
    a, a_other = lab.receiver("A", GROUP), lab.receiver("A", OTHER)
    lab.config.write_text(CONFIG + "[[route]]\nfrom = 'eth0'\ngroup = '10.0.0.1'\nto = ['eth1']\n")
    lab.signal(signal.SIGHUP)
    tx.sendto(b"still", (GROUP, 5000))
    assert drain(a, want=1) == [b"still"]
    lab.config.write_text(CONFIG.replace(GROUP, OTHER))
    lab.signal(signal.SIGHUP)

    def other_forwarded() -> bool:
        tx.sendto(b"new route", (OTHER, 5000))
        return b"new route" in drain(a_other, timeout=0.2)

    wait_for(other_forwarded, what="the reloaded route")
    tx.sendto(b"old route", (GROUP, 5000))
    assert drain(a, timeout=0.3) == []
    assert lab.stop() == 0
    assert "reload failed, keeping the running config" in lab.stderr
    assert "packet rings unavailable" not in lab.stderr  # the default I/O really is rings
    assert "is not inside 224.0.0.0/4" in lab.stderr


def test_flood_of_malformed_frames_does_not_stop_forwarding(lab: RouterLab) -> None:
    a = lab.receiver("A", GROUP)
    raw = lab.capture("S")  # a packet socket on S's eth0 can also send raw frames
    rng = random.Random(1234)
    dst = group_mac(int.from_bytes(socket.inet_aton(GROUP), "big"))
    for i in range(3000):
        body = bytearray(rng.randbytes(rng.randrange(20, 200)))
        if i % 2:  # half pass the BPF filter: ethertype IPv4, destination in 224/4
            body[0:2] = b"\x08\x00"
            body[18] = 0xE0 | (body[18] & 0x0F)
        raw.send(dst + bytes.fromhex("020000aaaa01") + bytes(body))
    tx = lab.sender("S")

    def forwarded() -> bool:  # the kernel may drop some of the storm (and us) itself
        tx.sendto(b"after the storm", (GROUP, 5000))
        return b"after the storm" in drain(a, timeout=0.2)

    wait_for(forwarded, what="forwarding after the storm")
    eth0 = wait_for(lambda: next(i for i in lab.show()["interfaces"] if i["name"] == "eth0"))
    assert sum(eth0["drops"].values()) > 100
    assert lab.proc is not None
    assert lab.proc.poll() is None


def test_route_without_from_uses_the_kernel_fib_for_rpf(tmp_path: Path) -> None:
    config = CONFIG.replace('from = "eth0"\n', "")
    with RouterLab(tmp_path, config) as router:
        router.start()
        a = router.receiver("A", GROUP)
        router.sender("S").sendto(b"rpf via fib", (GROUP, 5000))  # 10.0.0.5: FIB says eth0
        assert drain(a, want=1) == [b"rpf via fib"]
        router.sender("B").sendto(b"from B", (GROUP, 5000))  # 10.2.0.2: FIB says eth2
        wrong = wait_for(lambda: router.flow("eth2", "10.2.0.2", GROUP), what="B's flow")
        # eth2 is the RPF interface of 10.2.0.2, so B's traffic passes RPF and goes to eth1
        assert wrong["forwarded"] == 1
        # a source the FIB places elsewhere fails RPF: send it from S with B's address
        raw = router.capture("S")
        frame = _udp_frame("10.2.0.2", GROUP, b"spoofed", ttl=8)
        raw.send(frame)
        spoofed = wait_for(lambda: router.flow("eth0", "10.2.0.2", GROUP), what="spoofed")
        wait_for(
            lambda: router.flow("eth0", "10.2.0.2", GROUP)["drops"] == {"wrong_if": 1},
            what="wrong_if for the spoofed source",
        )
        assert spoofed["forwarded"] == 0


def _udp_frame(src: str, group: str, payload: bytes, ttl: int) -> bytes:
    return udp_frame(
        socket.inet_aton(src),
        socket.inet_aton(group),
        payload,
        ttl=ttl,
        src_mac=bytes.fromhex("020000aaaa02"),
    )


def test_vlan_tagged_frames_are_not_taken_for_the_parents_traffic(lab: RouterLab) -> None:
    a = lab.receiver("A", GROUP)
    raw = lab.capture("S")
    inner = _udp_frame("10.0.0.5", GROUP, b"tagged", ttl=8)
    for vid in (10, 20):
        raw.send(inner[:12] + b"\x81\x00" + vid.to_bytes(2, "big") + inner[12:])
    lab.sender("S").sendto(b"untagged", (GROUP, 5000))
    assert drain(a, want=1) == [b"untagged"]
    assert drain(a, timeout=0.3) == []
    flow = lab.flow("eth0", "10.0.0.5", GROUP)
    assert flow is not None
    assert flow["packets"] == 1


def test_ingress_interface_deleted_under_traffic(lab: RouterLab) -> None:
    tx_a = lab.sender("A")
    b = lab.receiver("B", OTHER)
    lab.config.write_text(
        CONFIG + f'\n[[route]]\nfrom = "eth1"\ngroup = "{OTHER}"\nto = ["eth2"]\n'
    )
    lab.signal(signal.SIGHUP)

    def flowing() -> bool:
        tx_a.sendto(b"x", (OTHER, 5000))
        return bool(drain(b, timeout=0.1))

    wait_for(flowing, what="A -> B traffic")
    for _ in range(3):
        for _ in range(200):
            tx_a.sendto(b"burst", (OTHER, 5000))
        assert os.spawnvp(os.P_WAIT, "ip", ["ip", "-n", lab.ns("R"), "link", "del", "eth1"]) == 0
        lab.connect("A")
        tx_a = lab.sender("A")
    wait_for(lambda: _state(lab, "eth1") == "up", what="eth1 back")
    wait_for(flowing, what="A -> B traffic after the churn")
    assert lab.proc is not None
    assert lab.proc.poll() is None


def test_a_router_that_falls_quiet_forgets_its_idle_flow(tmp_path: Path) -> None:
    # the flow sweep is one of the engine's timers: no frame has to arrive for it to run
    with RouterLab(tmp_path, CONFIG + "\n[flows]\nidle_timeout = 3.0\n") as router:
        router.start()
        a = router.receiver("A", GROUP)
        tx = router.sender("S", ttl=8)
        for i in range(30):
            tx.sendto(b"then silence %d" % i, (GROUP, 5000))
        assert len(drain(a, want=30)) == 30
        flow = router.flow("eth0", "10.0.0.5", GROUP)
        assert flow is not None
        assert flow["packets"] == 30
        # forgotten idle_timeout (3 s) after its last packet, plus at most one sweep (1 s),
        # with nothing arriving: before the fix it was listed for ever
        wait_for(
            lambda: router.flow("eth0", "10.0.0.5", GROUP) is None,
            timeout=10.0,
            what="the idle flow forgotten",
        )
        # (not before its idle timeout: the engine's timer tests pin the exact time)
        assert router.show()["flows"] == []
