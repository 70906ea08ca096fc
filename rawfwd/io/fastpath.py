"""The kernel fast path's side in user space: the layout of its maps (`rawfwd/bpf/
fastpath.bpf.c`), and turning the engine's flow decisions into map entries.

The program is the hands, the engine the brain: every `FlowDecision` the engine reports
becomes one entry of `flows` (or its removal), with interface names turned into ifindexes
and MACs as the links are now. Counters come back per CPU and are summed here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from ..config.values import DedupMode
from ..core.stats import FlowDecision

SOURCE: Final = Path(__file__).resolve().parent.parent / "bpf" / "fastpath.bpf.c"
MAX_EGRESS: Final = 8  #: egress entries a flow can have in the kernel (MAX_EGRESS in C)
_KEY: Final = struct.Struct("=I4s4s")  # struct flow_key: ifindex, saddr, daddr (wire order)
_EGRESS: Final = struct.Struct("=I6sBx")  # struct egress: ifindex, mac, threshold
_VALUE_HEAD: Final = struct.Struct("=II")  # struct flow_value: count, dedup
_STATS: Final = struct.Struct("=7Q")  # struct flow_stats
_SETTINGS: Final = struct.Struct("=Q")  # struct settings: window_ns
_DEDUP: Final = {DedupMode.OFF: 0, DedupMode.HASH: 1, DedupMode.ID: 2}


class KernelCounts(NamedTuple):
    """One flow's counters kept by the program (summed over CPUs)."""

    packets: int
    bytes: int
    forwarded: int
    copies: int
    ttl: int
    threshold: int
    duplicate: int


def flow_key(ifindex: int, source: int, group: int) -> bytes:
    """The `flows` (and `stats`) key of a flow arriving on `ifindex`."""
    return _KEY.pack(ifindex, source.to_bytes(4, "big"), group.to_bytes(4, "big"))


def flow_value(egress: Sequence[tuple[int, bytes, int]], dedup: DedupMode) -> bytes:
    """The `flows` value: (ifindex, MAC, TTL threshold) per egress, ascending threshold."""
    if len(egress) > MAX_EGRESS:
        raise ValueError(f"{len(egress)} egress interfaces: the kernel path takes {MAX_EGRESS}")
    entries = b"".join(_EGRESS.pack(i, mac, threshold) for i, mac, threshold in egress)
    padding = bytes(_EGRESS.size * (MAX_EGRESS - len(egress)))
    return _VALUE_HEAD.pack(len(egress), _DEDUP[dedup]) + entries + padding


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
) -> tuple[bytes, bytes | None] | None:
    """The `flows` key of `decision` and its value, None as the value to remove it (gone,
    or nothing the kernel may forward), or None if it cannot be keyed (its interface has
    no index: not open yet). Local flows and MANET relays stay with the engine: their
    frames do not pass tc ingress, or need the per-packet relay decision."""
    arrival = ifindex(decision.ingress)
    if arrival is None:
        return None
    key = flow_key(arrival, decision.source, decision.group)
    if decision.gone or decision.local or decision.relay or not decision.egress:
        return key, None
    egress: list[tuple[int, bytes, int]] = []
    for name, threshold in decision.egress:
        index, address = ifindex(name), mac(name)
        if index is None or address is None or len(egress) == MAX_EGRESS:
            return key, None  # not all of it can go to the kernel: the engine keeps it
        egress.append((index, address, threshold))
    return key, flow_value(egress, dedup)
