"""The kernel fast path program (rawfwd/bpf/fastpath.bpf.c), run in the kernel with
BPF_PROG_TEST_RUN inside a namespace: for a flow the engine decided, the copies it sends
are byte for byte the engine's (TTL - 1, RFC 1624 checksum, RFC 1112 MAC, the egress MAC),
thresholds and TTL 1 as the engine's, duplicates dropped before the stack (the original
and a copy with its UDP checksum unfinished are one packet), the original left unchanged
for local listeners, and counters summed over CPUs."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawfwd.config.values import DedupMode, DedupSpec, FlowSpec
from rawfwd.control.engine import Engine
from rawfwd.core.stats import FlowDecision
from rawfwd.io import bpf, fastpath
from rawfwd.lab.netns import Lab, in_netns, ip, socket_in
from tests.support.frames import if_mac, make_config, ones_complement_checksum, route, udp_frame

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")

SRC, GROUP = "10.0.0.5", "239.1.2.3"
_SKB_SIZE = 192  # sizeof(struct __sk_buff)
_INGRESS_IFINDEX = 36  # offsetof(struct __sk_buff, ingress_ifindex)
_IFINDEX = 40  # offsetof(struct __sk_buff, ifindex)


class Rig:
    """Namespace X: eth0 (arrival), eth1 and eth2 (egress, MACs as the tests' config),
    each egress captured at its veth peer; the program loaded, one flow decided."""

    def __init__(self, lab: Lab, obj: bpf.BpfObject) -> None:
        self.ns = ns = lab.host("X")
        for name in ("eth0", "eth1", "eth2"):
            ip("link", "add", name, "type", "veth", "peer", "name", f"p{name}", netns=ns)
            ip("link", "set", name, "address", if_mac(name).hex(":"), netns=ns)
            ip("link", "set", name, "up", netns=ns)
            ip("link", "set", f"p{name}", "up", netns=ns)
        self.index = {
            n: in_netns(ns, lambda n=n: socket.if_nametoindex(n))  # type: ignore[misc]
            for n in ("eth0", "eth1", "eth2")
        }
        self.taps = {}
        for name in ("eth1", "eth2"):
            tap = socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            tap.bind((f"p{name}", 3))
            tap.setblocking(False)
            self.taps[name] = tap
        self.obj = obj
        self.prog = obj.program("forward")
        obj.map("config").update(bytes(4), fastpath.settings(5.0))

    def decide(self, engine: Engine, frame: bytes) -> None:
        """Let the engine decide the flow of `frame` and write its decision."""
        out = engine.handle_frames("eth0", [frame], 0.0)
        flows = self.obj.map("flows")
        for decision in out.decisions:
            done = fastpath.entry(
                decision, DedupMode.HASH, self.index.get, lambda n: if_mac(n) if n else None
            )
            assert done is not None
            key, value = done
            assert value is not None
            flows.update(key, value)

    def run(self, frame: bytes) -> tuple[int, bytes]:
        ctx = bytearray(_SKB_SIZE)
        struct.pack_into("=I", ctx, _INGRESS_IFINDEX, self.index["eth0"])
        struct.pack_into("=I", ctx, _IFINDEX, self.index["eth0"])
        return in_netns(self.ns, lambda: self.prog.test_run(frame, ctx=bytes(ctx)))

    def sent(self, name: str, want: int, wait: float = 2.0) -> list[bytes]:
        """IPv4 frames that arrived at `name`'s peer (IPv6 chatter of new links left out),
        waiting up to `wait` s for `want` of them."""
        got: list[bytes] = []
        deadline = time.monotonic() + wait
        while len(got) < want and time.monotonic() < deadline:
            try:
                frame = self.taps[name].recv(4096)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if frame[12:14] == b"\x08\x00":
                got.append(frame)
        return got

    def quiet(self, name: str) -> list[bytes]:
        """What arrives at `name`'s peer within 0.3 s (a copy sent arrives in microseconds:
        the program ran synchronously before this is called)."""
        return self.sent(name, 1_000_000, wait=0.3)

    def counts(self) -> fastpath.KernelCounts:
        key = fastpath.flow_key(
            self.index["eth0"], int.from_bytes(socket.inet_aton(SRC), "big"),
            int.from_bytes(socket.inet_aton(GROUP), "big"),
        )  # fmt: skip
        values = self.obj.map("stats").lookup_all(key)
        assert values is not None
        return fastpath.counts(values)

    def close(self) -> None:
        for tap in self.taps.values():
            tap.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpf.compile_object(fastpath.SOURCE, tmp_path_factory.mktemp("bpf") / "fastpath.o")


@pytest.fixture
def rig(built: Path) -> Iterator[Rig]:
    with Lab("rffast") as lab, bpf.BpfObject(built) as obj:
        r = Rig(lab, obj)
        try:
            yield r
        finally:
            r.close()


def _engine() -> Engine:
    config = make_config(route("eth0", GROUP, ["eth1", "eth2"]), thresholds={"eth1": 1, "eth2": 32})
    return Engine(config, decisions=True)


def _frame(ident: int, ttl: int = 64, payload: bytes = b"fast path payload") -> bytes:
    return udp_frame(SRC, GROUP, ttl=ttl, ident=ident, payload=payload)


def test_copies_are_the_engines_byte_for_byte(rig: Rig) -> None:
    engine = _engine()
    rig.decide(engine, _frame(0))
    frame = _frame(1)
    verdict, original = rig.run(frame)
    assert verdict == bpf.TC_ACT_OK
    assert original == frame  # the local stack gets the frame as it came
    expected = dict(engine.handle_frames("eth0", [frame], 1.0).frames)
    assert rig.sent("eth1", 1) == expected["eth1"]
    assert rig.sent("eth2", 1) == expected["eth2"]
    assert rig.counts()[:4] == (1, len(frame) - 14, 1, 2)


@pytest.mark.parametrize(("ident", "ttl"), [(0xFEFF, 255), (0xFFFF, 64), (0x0100, 2), (7, 33)])
def test_the_checksum_patch_is_the_engines_whatever_the_carry(
    rig: Rig, ident: int, ttl: int
) -> None:
    engine = _engine()
    rig.decide(engine, _frame(0))
    frame = _frame(ident, ttl=ttl)
    assert rig.run(frame) == (bpf.TC_ACT_OK, frame)
    expected = dict(engine.handle_frames("eth0", [frame], 1.0).frames)
    assert rig.sent("eth2" if ttl > 32 else "eth1", 1) == expected["eth2" if ttl > 32 else "eth1"]


def test_thresholds_and_ttl_1_as_the_engine(rig: Rig) -> None:
    engine = _engine()
    rig.decide(engine, _frame(0))
    low = _frame(2, ttl=20)  # above eth1's threshold 1, within eth2's 32
    assert rig.run(low)[0] == bpf.TC_ACT_OK
    assert [name for name, _ in engine.handle_frames("eth0", [low], 1.0).frames] == ["eth1"]
    assert len(rig.sent("eth1", 1)) == 1
    assert rig.quiet("eth2") == []
    assert rig.run(_frame(3, ttl=1))[0] == bpf.TC_ACT_OK
    assert rig.quiet("eth1") == []
    counted = rig.counts()
    assert (counted.packets, counted.forwarded, counted.ttl, counted.copies) == (2, 1, 1, 1)


def test_a_duplicate_is_dropped_before_the_stack_whatever_its_udp_checksum(rig: Rig) -> None:
    rig.decide(_engine(), _frame(0))
    frame = _frame(4)
    assert rig.run(frame)[0] == bpf.TC_ACT_OK
    assert rig.run(frame)[0] == bpf.TC_ACT_SHOT
    unfinished = frame[:40] + b"\x12\x34" + frame[42:]  # the UDP checksum left to offload
    assert rig.run(unfinished)[0] == bpf.TC_ACT_SHOT
    other = _frame(5)
    assert rig.run(other)[0] == bpf.TC_ACT_OK
    assert rig.counts().duplicate == 2


def test_the_hash_covers_every_payload_byte_across_the_chunks_it_reads(rig: Rig) -> None:
    """The program reads the payload 128 bytes per helper call and pads a short last word:
    a packet that differs from another in any byte, in any chunk, is a new packet."""
    rig.decide(_engine(), _frame(0))
    body = bytes(range(256)) * 4 + b"odd"  # 1,027 bytes: a short last chunk and word
    first = _frame(9, payload=body)
    assert rig.run(first)[0] == bpf.TC_ACT_OK
    for at in (0, 127, 128, 500, len(body) - 1):
        changed = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
        assert rig.run(_frame(9, payload=changed))[0] == bpf.TC_ACT_OK, at
    assert rig.run(first)[0] == bpf.TC_ACT_SHOT
    assert rig.counts().duplicate == 1


def test_frames_of_undecided_flows_go_on_untouched(rig: Rig) -> None:
    rig.decide(_engine(), _frame(0))
    stranger = udp_frame("10.0.0.6", GROUP, ident=1)
    assert rig.run(stranger) == (bpf.TC_ACT_OK, stranger)
    assert rig.quiet("eth1") == []


def test_a_manet_relay_stays_with_the_engine_but_its_duplicates_do_not(rig: Rig) -> None:
    """A MANET flow is relayed by the engine (the relay policy is per packet); the kernel
    only drops its duplicates before the local stack, and counts nothing (the engine does)."""
    engine = Engine(make_config(route("eth0", GROUP, ["eth1"]), manet=["eth0"]), decisions=True)
    (relay,) = engine.handle_frames("eth0", [_frame(1)], 0.0).decisions
    done = fastpath.entry(relay, DedupMode.HASH, rig.index.get, if_mac)
    assert done is not None
    key, value = done
    assert value is not None
    assert value[:8] == struct.pack("=II", 0, 1 | 0x100)  # no egress; hash, engine forwards
    rig.obj.map("flows").update(key, value)
    frame = _frame(7)
    assert rig.run(frame) == (bpf.TC_ACT_OK, frame)
    assert rig.run(frame)[0] == bpf.TC_ACT_SHOT  # heard again: never reaches the stack
    assert rig.quiet("eth1") == []
    assert rig.obj.map("stats").lookup_all(key) is None
    off = fastpath.entry(relay, DedupMode.OFF, rig.index.get, if_mac)
    assert off is not None
    assert off[1] is None  # nothing for the kernel to do


def test_more_egress_than_the_kernel_takes_is_refused() -> None:
    with pytest.raises(ValueError, match="the kernel path takes 8"):
        fastpath.flow_value([(1, bytes(6), 1)] * 9, DedupMode.OFF)


def test_the_maps_take_the_engines_bounds_and_a_reload_its_window(tmp_path: Path) -> None:
    config = make_config(
        route("eth0", GROUP, ["eth1"]),
        flows=FlowSpec(max_flows=3),
        dedup=DedupSpec(window=2.0, max_entries=64),
    )
    fast = fastpath.FastPath(config, tmp_path)
    try:
        flows = fast._obj.map("flows")  # white box: the sizes the kernel was given
        value = fastpath.flow_value([(1, bytes(6), 1)], DedupMode.HASH)
        for n in range(3):
            flows.update(fastpath.flow_key(1, n, 0xEF010203), value)
        with pytest.raises(bpf.BpfError, match="update flows"):
            flows.update(fastpath.flow_key(1, 99, 0xEF010203), value)
        settings = fast._obj.map("config")
        assert settings.lookup(bytes(4)) == fastpath.settings(2.0)
        fast.reconfigure(make_config(dedup=DedupSpec(window=0.5)))
        assert settings.lookup(bytes(4)) == fastpath.settings(0.5)
    finally:
        fast.close()


def test_a_flow_leaving_the_kernel_reports_its_last_counts_and_restarts_from_zero(
    tmp_path: Path,
) -> None:
    """Counts fold as deltas; a flow taken out of the kernel hands over what was not yet
    folded, and its counters go with it, so a flow that comes back is not counted twice.
    (Egress ifindex 999999 does not exist: the program's clones go nowhere.)"""
    fast = fastpath.FastPath(make_config(route("eth0", GROUP, ["eth1"])), tmp_path)
    index = {"eth0": 1, "eth1": 999_999}.get
    source, group = (int.from_bytes(socket.inet_aton(a), "big") for a in (SRC, GROUP))
    decided = FlowDecision("eth0", source, group, False, (("eth1", 1),))
    gone = decided._replace(egress=(), gone=True)
    ctx = bytearray(_SKB_SIZE)
    struct.pack_into("=I", ctx, _INGRESS_IFINDEX, 1)

    idents = iter(range(1000, 2000))  # every packet new: never a duplicate

    def send(n: int) -> None:
        for _ in range(n):
            fast._forward.test_run(_frame(next(idents)), ctx=bytes(ctx))

    fast._attached["eth0"] = 1  # white box: as if attached (no program on this netns' lo)
    try:
        assert fast.apply([decided], index, if_mac) == []
        send(3)
        ((*_, first),) = fast.counts()
        assert first.packets == 3
        assert fast.counts() == []  # nothing new
        send(2)
        ((*owner, last),) = fast.apply([gone], index, if_mac)
        assert (owner, last.packets) == (["eth0", source, group], 2)
        fast.apply([decided], index, if_mac)
        send(1)
        ((*_, again),) = fast.counts()
        assert again.packets == 1  # from zero, not 6
    finally:
        fast.close()


def _with_options(frame: bytes) -> bytes:
    """`frame` with 4 bytes of IPv4 options (NOP x 4), lengths and checksum fixed."""
    ip = bytearray(frame[14:34]) + b"\x01\x01\x01\x01" + frame[34:]
    ip[0] = 0x46
    ip[2:4] = len(ip).to_bytes(2, "big")
    ip[10:12] = b"\x00\x00"
    ip[10:12] = ones_complement_checksum(bytes(ip[:24])).to_bytes(2, "big")
    return frame[:14] + bytes(ip)


def _refragment(frame: bytes, flags_offset: int) -> bytes:
    """`frame` marked as a fragment (flags and offset), checksum patched."""
    ip = bytearray(frame[14:34])
    ip[6:8] = flags_offset.to_bytes(2, "big")
    ip[10:12] = b"\x00\x00"
    ip[10:12] = ones_complement_checksum(bytes(ip)).to_bytes(2, "big")
    return frame[:14] + bytes(ip) + frame[34:]


def test_what_the_kernel_does_not_forward_the_engine_still_gets(rig: Rig) -> None:
    """For real, frames from the wire into eth0: the program attached to its tc ingress,
    the socket filter on a packet socket there (as rawfwd's). The filter hides from the
    engine exactly the frames the program forwards: fragments, IPv4 with options, IGMP to
    the group and a bad header checksum reach the engine and are not forwarded."""
    rig.decide(_engine(), _frame(0))
    link = in_netns(rig.ns, lambda: rig.prog.attach_tc_ingress(rig.index["eth0"]))
    tap = socket_in(rig.ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    wire = socket_in(rig.ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        tap.bind(("eth0", 3))
        tap.setsockopt(socket.SOL_SOCKET, 50, rig.obj.program("user_space").fd)
        tap.setblocking(False)
        wire.bind(("peth0", 0))
        plain = _frame(1)
        igmp = plain[:23] + b"\x02" + plain[24:]  # protocol 2 (its checksum is wrong too)
        bad_checksum = plain[:24] + bytes([plain[24] ^ 0xFF]) + plain[25:]
        others = [
            _refragment(_frame(2), 0x2000),  # more fragments
            _refragment(_frame(3), 0x0004),  # a later fragment
            _with_options(_frame(4)),
            igmp,
            bad_checksum,
        ]
        for frame in [plain, *others]:
            wire.send(frame)
        seen: list[bytes] = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                frame = tap.recv(4096)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if frame[12:14] == b"\x08\x00":
                seen.append(frame)
        assert sorted(seen) == sorted(others)  # all but the one the kernel forwarded
        assert len(rig.sent("eth1", 1)) == 1  # the plain frame's copy, and only it
        assert rig.quiet("eth1") == []
    finally:
        link.destroy()
        tap.close()
        wire.close()


def test_a_frame_the_engine_took_before_the_handover_is_not_forwarded_again(rig: Rig) -> None:
    """A packet socket sees a frame before tc ingress does (same softirq, same CPU): one
    let up to the engine just before its flow went into the map is the engine's to
    forward, not the program's as well; the next frame is the program's. (The socket
    filter marks what it lets up in a per-CPU slot; PROG_TEST_RUN hands a socket filter
    the frame without its link header, so the slot is written here as it would.)"""
    engine = _engine()
    frame = _frame(11)
    h = frame
    key = (
        h[16] << 56 | h[17] << 48 | h[18] << 40 | h[19] << 32
        | h[24] << 24 | h[25] << 16 | h[28] << 8 | h[29] | 1
    )  # fmt: skip
    rig.decide(engine, _frame(0))  # the handover, between the socket and tc
    rig.obj.map("handed").update(bytes(4), struct.pack("=Q", key))
    assert rig.run(frame) == (bpf.TC_ACT_OK, frame)
    assert rig.quiet("eth1") == []  # the engine has it: no second copy
    assert rig.run(_frame(12))[0] == bpf.TC_ACT_OK  # the next frame is the kernel's
    assert len(rig.sent("eth1", 1)) == 1
