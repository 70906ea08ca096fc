"""Immutable snapshots of the forwarder's counters, for the UI, `show` and replay summaries.

The forwarder keeps mutable counters in slotted objects on its hot path; `snapshot()` copies
them into these frozen values, which are safe to hand to another task or render later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from .reasons import DropReason


def freeze_drops(drops: Mapping[DropReason, int]) -> Mapping[DropReason, int]:
    """A read-only copy of a drop counter, in the enum's order, zeros left out."""
    return MappingProxyType({r: drops[r] for r in DropReason if drops.get(r)})


def _drops_json(drops: Mapping[DropReason, int]) -> dict[str, int]:
    return {r.value: n for r, n in drops.items()}


def _drops_from_json(d: Mapping[str, Any]) -> Mapping[DropReason, int]:
    """Inverse of `_drops_json`; an unknown reason name raises ValueError."""
    return freeze_drops({DropReason(name): int(n) for name, n in d.items()})


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


class FlowDecision(NamedTuple):
    """How one flow is forwarded, as a data path that does not ask the engine per packet
    (the kernel fast path) needs it; or, with `gone`, that the flow is forgotten.

    A flow is (ingress, source, group, local). `egress` lists (interface, TTL threshold)
    in ascending threshold, the copies a TTL allows being a prefix (RFC 1812 5.3.1 and
    ipmr: a copy leaves where TTL > threshold, after TTL - 1); () means the engine does not
    forward it there (a drop, or frames held for RPF): such frames go to the engine.
    `relay`: a MANET flow, whose packets go out only if the previous hop's MAC passes the
    relay policy; the engine decides those per packet.
    """

    ingress: str
    source: int
    group: int
    local: bool
    egress: tuple[tuple[str, int], ...] = ()
    relay: bool = False
    gone: bool = False


@dataclass(frozen=True, slots=True)
class FlowSnapshot:
    """One flow: (source, group) arriving on `iif`."""

    iif: str
    source: str
    group: str
    route: str | None  #: the route it matched, normalised, or None
    oifs: tuple[str, ...]  #: outgoing interfaces currently in use
    packets: int  #: packets received
    bytes: int  #: IP bytes received
    forwarded: int  #: packets that left on at least one interface
    copies: int  #: frames sent (one per outgoing interface per packet)
    drops: Mapping[DropReason, int]
    first_seen: float
    last_seen: float
    local: bool = False  #: sent by an application on this host (PACKET_OUTGOING on `iif`)
    #: of `packets`, those the kernel fast path forwarded (`--io ebpf`), not the engine
    kernel_packets: int = 0

    @property
    def arrival(self) -> str:
        """How the flow came in, as the table shows it: `radio0`, or `radio0 (local)` for
        what this host's applications sent there (a flow of its own, beside the echoes),
        `eth0 (kernel)` for a flow the kernel fast path forwards."""
        if self.local:
            return f"{self.iif} (local)"
        return f"{self.iif} (kernel)" if self.kernel_packets else self.iif

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (drop reasons by name)."""
        return {
            "iif": self.iif,
            "source": self.source,
            "group": self.group,
            "route": self.route,
            "oifs": list(self.oifs),
            "packets": self.packets,
            "bytes": self.bytes,
            "forwarded": self.forwarded,
            "copies": self.copies,
            "drops": _drops_json(self.drops),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "local": self.local,
            "kernel_packets": self.kernel_packets,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FlowSnapshot:
        """Inverse of `to_json`, for `rawfwd show` reading the daemon's answer."""
        return cls(
            iif=str(d["iif"]),
            source=str(d["source"]),
            group=str(d["group"]),
            route=_opt_str(d["route"]),
            oifs=tuple(str(o) for o in d["oifs"]),
            packets=int(d["packets"]),
            bytes=int(d["bytes"]),
            forwarded=int(d["forwarded"]),
            copies=int(d["copies"]),
            drops=_drops_from_json(d["drops"]),
            first_seen=float(d["first_seen"]),
            last_seen=float(d["last_seen"]),
            local=bool(d.get("local", False)),
            kernel_packets=int(d.get("kernel_packets", 0)),
        )


@dataclass(frozen=True, slots=True)
class InterfaceSnapshot:
    """Counters of one interface."""

    name: str
    mac: str | None
    up: bool
    rx_frames: int
    rx_bytes: int
    tx_frames: int
    tx_bytes: int
    drops: Mapping[DropReason, int]  #: frames arriving here that were dropped, by reason
    #: packets arriving here (or sent here by this host's applications) that went out
    relayed: int = 0
    igmp: int = 0  #: IGMP frames received (the control plane's)
    #: ICMPv6 neighbour discovery and MLD frames received: link control, never flows
    icmp6: int = 0
    pim: int = 0  #: PIM frames received (the PIM router's)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (drop reasons by name)."""
        return {
            "name": self.name,
            "mac": self.mac,
            "up": self.up,
            "rx_frames": self.rx_frames,
            "rx_bytes": self.rx_bytes,
            "tx_frames": self.tx_frames,
            "tx_bytes": self.tx_bytes,
            "relayed": self.relayed,
            "igmp": self.igmp,
            "icmp6": self.icmp6,
            "pim": self.pim,
            "drops": _drops_json(self.drops),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InterfaceSnapshot:
        """Inverse of `to_json`."""
        return cls(
            name=str(d["name"]),
            mac=_opt_str(d["mac"]),
            up=bool(d["up"]),
            rx_frames=int(d["rx_frames"]),
            rx_bytes=int(d["rx_bytes"]),
            tx_frames=int(d["tx_frames"]),
            tx_bytes=int(d["tx_bytes"]),
            relayed=int(d.get("relayed", 0)),
            igmp=int(d.get("igmp", 0)),
            icmp6=int(d.get("icmp6", 0)),
            pim=int(d.get("pim", 0)),
            drops=_drops_from_json(d["drops"]),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the forwarder counts, at time `now`."""

    now: float
    flows: tuple[FlowSnapshot, ...]
    interfaces: tuple[InterfaceSnapshot, ...]
    drops: Mapping[DropReason, int]  #: all drops, all interfaces
    dedup_entries: int  #: packet identities held by the duplicate caches
    flows_evicted: int  #: flows forgotten to stay within `[flows] max_flows`
    flows_expired: int  #: flows forgotten after `[flows] idle_timeout` of silence

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "now": self.now,
            "flows": [f.to_json() for f in self.flows],
            "interfaces": [i.to_json() for i in self.interfaces],
            "drops": _drops_json(self.drops),
            "dedup_entries": self.dedup_entries,
            "flows_evicted": self.flows_evicted,
            "flows_expired": self.flows_expired,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Snapshot:
        """Inverse of `to_json`. Missing keys raise KeyError, unknown drop reasons ValueError."""
        return cls(
            now=float(d["now"]),
            flows=tuple(FlowSnapshot.from_json(f) for f in d["flows"]),
            interfaces=tuple(InterfaceSnapshot.from_json(i) for i in d["interfaces"]),
            drops=_drops_from_json(d["drops"]),
            dedup_entries=int(d["dedup_entries"]),
            flows_evicted=int(d["flows_evicted"]),
            flows_expired=int(d["flows_expired"]),
        )
