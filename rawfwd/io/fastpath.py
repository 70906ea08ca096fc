"""The kernel fast path's side in user space: the layout of its maps (`rawfwd/bpf/
fastpath.bpf.c`), and turning the engine's flow decisions into map entries.

The program is the hands, the engine the brain: every `FlowDecision` the engine reports
becomes one entry of `flows` (or its removal), with interface names turned into ifindexes
and MACs as the links are now. Counters come back per CPU and are summed here.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from ..config.values import Config, DedupMode
from ..core.stats import FlowDecision
from . import bpf

SOURCE: Final = Path(__file__).resolve().parent.parent / "bpf" / "fastpath.bpf.c"
MAX_EGRESS: Final = 8  #: egress entries a flow can have in the kernel (MAX_EGRESS in C)
_KEY: Final = struct.Struct("=I4s4s")  # struct flow_key: ifindex, saddr, daddr (wire order)
_EGRESS: Final = struct.Struct("=I6sBx")  # struct egress: ifindex, mac, threshold
_VALUE_HEAD: Final = struct.Struct("=II")  # struct flow_value: count, dedup
_STATS: Final = struct.Struct("=7Q")  # struct flow_stats
_SETTINGS: Final = struct.Struct("=Q")  # struct settings: window_ns
_DEDUP: Final = {DedupMode.OFF: 0, DedupMode.HASH: 1, DedupMode.ID: 2}
_USER_FORWARDS: Final = 0x100  # with the dedup mode: the engine relays, the kernel dedups
_SO_ATTACH_BPF: Final = 50  # asm-generic/socket.h


class KernelCounts(NamedTuple):
    """One flow's counters kept by the program (summed over CPUs)."""

    packets: int
    bytes: int
    forwarded: int
    copies: int
    ttl: int
    threshold: int
    duplicate: int


_ZERO: Final = KernelCounts(0, 0, 0, 0, 0, 0, 0)


def _since(now: KernelCounts, before: KernelCounts) -> KernelCounts:
    """What was counted between `before` and `now`."""
    return KernelCounts(*(a - b for a, b in zip(now, before, strict=True)))


def flow_key(ifindex: int, source: int, group: int) -> bytes:
    """The `flows` (and `stats`) key of a flow arriving on `ifindex`."""
    return _KEY.pack(ifindex, source.to_bytes(4, "big"), group.to_bytes(4, "big"))


def flow_value(
    egress: Sequence[tuple[int, bytes, int]], dedup: DedupMode, user_forwards: bool = False
) -> bytes:
    """The `flows` value: (ifindex, MAC, TTL threshold) per egress, ascending threshold;
    `user_forwards`: the engine forwards the flow, the kernel only drops duplicates."""
    if len(egress) > MAX_EGRESS:
        raise ValueError(f"{len(egress)} egress interfaces: the kernel path takes {MAX_EGRESS}")
    entries = b"".join(_EGRESS.pack(i, mac, threshold) for i, mac, threshold in egress)
    padding = bytes(_EGRESS.size * (MAX_EGRESS - len(egress)))
    mode = _DEDUP[dedup] | (_USER_FORWARDS if user_forwards else 0)
    return _VALUE_HEAD.pack(len(egress), mode) + entries + padding


def settings(window: float) -> bytes:
    """The `config` map's one value: the duplicate window in ns."""
    return _SETTINGS.pack(int(window * 1e9))


def counts(per_cpu: Sequence[bytes]) -> KernelCounts:
    """A flow's `stats` values, one per CPU, summed."""
    total = [0] * 7
    for value in per_cpu:
        for i, n in enumerate(_STATS.unpack(value)):
            total[i] += n
    return KernelCounts(*total)


def entry(
    decision: FlowDecision,
    dedup: DedupMode,
    ifindex: Callable[[str], int | None],
    mac: Callable[[str], bytes | None],
    arrival: Callable[[str], int | None] | None = None,
) -> tuple[bytes, bytes | None] | None:
    """The `flows` key of `decision` and its value, None as the value to remove it (gone,
    or nothing the kernel may forward), or None if it cannot be keyed (its interface has
    no index: not open yet, or, by `arrival`, the program is not attached there). Local
    flows stay with the engine (their frames do not pass tc ingress); so do MANET relays
    (the relay policy is decided per packet), but the kernel drops their duplicates
    before any local socket sees them (RFC 6621: an application on a mesh node hears each
    packet once)."""
    index = (arrival or ifindex)(decision.ingress)
    if index is None:
        return None
    key = flow_key(index, decision.source, decision.group)
    if decision.gone or decision.local:
        return key, None
    if decision.relay:
        return key, flow_value(
            [], dedup, user_forwards=True
        ) if dedup is not DedupMode.OFF else None
    if not decision.egress:
        return key, None
    egress: list[tuple[int, bytes, int]] = []
    for name, threshold in decision.egress:
        out, address = ifindex(name), mac(name)
        if out is None or address is None or len(egress) == MAX_EGRESS:
            return key, None  # not all of it can go to the kernel: the engine keeps it
        egress.append((out, address, threshold))
    return key, flow_value(egress, dedup)


class FastPath:
    """The kernel fast path of `rawfwd run --io ebpf`: the program built (clang, at start:
    it always matches its source) and loaded, attached to each interface's tc ingress
    through links this process owns, fed the engine's decisions, its counters read back.

    Every failure is a BpfError with one line: `--io ebpf` either runs or says why not.
    """

    def __init__(self, config: Config, workdir: Path) -> None:
        """Build and load the program for `config`: its maps as large as the engine's
        bounds (`[flows] max_flows` flows, `[dedup] max_entries` packets remembered, for
        `[dedup] window`)."""
        obj = bpf.compile_object(SOURCE, workdir / "fastpath.o")
        flows = config.flows.max_flows
        sizes = {"flows": flows, "stats": flows, "seen": max(1, config.dedup.max_entries)}
        self._obj = bpf.BpfObject(obj, sizes)
        dedup, window = config.dedup.mode, config.dedup.window
        try:
            self._forward = self._obj.program("forward")
            self._filter = self._obj.program("user_space")
            self._flows = self._obj.map("flows")
            self._stats = self._obj.map("stats")
            self._obj.map("config").update(bytes(4), settings(window))
        except BaseException:
            self._obj.close()
            raise
        self._dedup = dedup
        self._links: dict[str, bpf.Link] = {}
        #: flows in the kernel: key -> (ingress, source, group, egress names), and their
        #: counts as last reported
        self._in_kernel: dict[bytes, tuple[str, int, int, tuple[str, ...]]] = {}
        self._attached: dict[str, int] = {}  #: interfaces the program is attached to
        self._counted: dict[bytes, KernelCounts] = {}
        self.full = 0  #: decisions the kernel's flow map had no room for (the engine keeps them)

    def reconfigure(self, config: Config) -> None:
        """A reload: the new duplicate window and mode (the engine then decides every flow
        again, which rewrites their entries). The maps keep the sizes they were loaded
        with: a larger `max_flows` or `max_entries` takes a restart to reach the kernel."""
        self._dedup = config.dedup.mode
        self._obj.map("config").update(bytes(4), settings(config.dedup.window))

    def attach(self, name: str, ifindex: int, sock: socket.socket) -> None:
        """Forward decided flows arriving on `name`, and keep their frames from its packet
        socket `sock` (the engine must not forward them again). The program first, then
        the filter: if either fails, neither stays, and flows arriving there are the
        engine's (no entry is written for them)."""
        self.detach(name)
        link = self._forward.attach_tc_ingress(ifindex)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_BPF, self._filter.fd)
        except OSError:
            link.destroy()
            raise
        self._links[name] = link
        self._attached[name] = ifindex

    def detach(self, name: str) -> list[tuple[str, int, int, KernelCounts]]:
        """Stop forwarding on `name` (gone or closed): its program is detached, and every
        flow arriving or leaving there is taken out of the kernel (the engine gets its
        frames, and decides it again when the link is back). Returns their last counts."""
        link = self._links.pop(name, None)
        if link is not None:
            link.destroy()
        self._attached.pop(name, None)
        final = []
        for key, (ingress, source, group, egress) in list(self._in_kernel.items()):
            if ingress == name or name in egress:
                self._flows.delete(key)
                del self._in_kernel[key]
                last = self._take_counts(key, (ingress, source, group))
                if last is not None:
                    final.append(last)
        return final

    def apply(
        self,
        decisions: Sequence[FlowDecision],
        ifindex: Callable[[str], int | None],
        mac: Callable[[str], bytes | None],
    ) -> list[tuple[str, int, int, KernelCounts]]:
        """Write the engine's decisions into the flow map (or take entries out). Returns
        what the kernel counted, since the last `counts`, for the flows it stops forwarding
        (their counters are removed with them: a flow that comes back starts from zero)."""
        final = []
        for decision in decisions:
            done = entry(decision, self._dedup, ifindex, mac, self._attached.get)
            if done is None:
                continue
            key, value = done
            if value is None:
                self._flows.delete(key)
                owner = self._in_kernel.pop(key, None)
                last = self._take_counts(key, owner[:3] if owner else None)
                if last is not None:
                    final.append(last)
                continue
            try:
                self._flows.update(key, value)
            except bpf.BpfError:
                self.full += 1  # no room: its frames go on reaching the engine
                continue
            names = tuple(name for name, _ in decision.egress)
            self._in_kernel[key] = (decision.ingress, decision.source, decision.group, names)
        return final

    def _take_counts(
        self, key: bytes, owner: tuple[str, int, int] | None
    ) -> tuple[str, int, int, KernelCounts] | None:
        """The counts of `key` not yet reported, and its counters removed."""
        before = self._counted.pop(key, _ZERO)
        values = self._stats.lookup_all(key)
        self._stats.delete(key)
        if owner is None or values is None:
            return None
        now = counts(values)
        if now == before:
            return None
        return (*owner, _since(now, before))

    def counts(self) -> list[tuple[str, int, int, KernelCounts]]:
        """What the kernel counted for each flow it forwards since the last call."""
        out = []
        for key, (ingress, source, group, _) in self._in_kernel.items():
            values = self._stats.lookup_all(key)
            if values is None:
                continue
            now = counts(values)
            before = self._counted.get(key, _ZERO)
            if now != before:
                self._counted[key] = now
                delta = _since(now, before)
                out.append((ingress, source, group, delta))
        return out

    def close(self) -> None:
        """Detach everywhere and unload: nothing is left forwarding."""
        for name in list(self._links):
            self.detach(name)
        self._obj.close()
