"""The view model: what the live table, `rawfwd show` and the log summary read.

Immutable values only (a core `Snapshot`, what the live shell knows about links, rates from
`RateTracker`, IGMP state as JSON-ready data), with their JSON form for the control socket.
Nothing here renders: `rawfwd.ui` draws these with rich, and the live shell, which must not
load rich, builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from .core.stats import Snapshot

FlowKey = tuple[str, str, str]  #: (arrival, source, group): how a flow is named
LINK_STATES: Final = ("up", "down", "absent", "unusable")
_ZERO: Final = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """What the live shell knows about an interface beyond the core's counters."""

    name: str
    state: str  #: "up", "down", "absent" (does not exist) or "unusable" (not Ethernet)
    ifindex: int | None
    send_errors: int  #: frames whose send failed (ENOBUFS/EAGAIN are retried)
    tx_dropped: int = 0  #: frames given up: backlog full, link down, too big for the MTU
    rx_errors: int = 0  #: receive errors (ENETDOWN while the link went down)

    def __post_init__(self) -> None:
        if self.state not in LINK_STATES:
            raise ValueError(f"link state {self.state!r} is not one of {', '.join(LINK_STATES)}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "state": self.state,
            "ifindex": self.ifindex,
            "send_errors": self.send_errors,
            "tx_dropped": self.tx_dropped,
            "rx_errors": self.rx_errors,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LinkStatus:
        """Inverse of `to_json`."""
        ifindex = d["ifindex"]
        return cls(
            name=str(d["name"]),
            state=str(d["state"]),
            ifindex=None if ifindex is None else int(ifindex),
            send_errors=int(d["send_errors"]),
            tx_dropped=int(d.get("tx_dropped", 0)),
            rx_errors=int(d.get("rx_errors", 0)),
        )


@dataclass(frozen=True, slots=True)
class Rates:
    """Current rates, from the difference of two snapshots (see `RateTracker`)."""

    flows: Mapping[FlowKey, tuple[float, float]]  #: key -> (packets/s, bits/s of IP bytes)
    interfaces: Mapping[str, tuple[float, float]]  #: name -> (rx frames/s, tx frames/s)

    @classmethod
    def empty(cls) -> Rates:
        """No rates known yet (everything reads as zero)."""
        return cls(MappingProxyType({}), MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: flows as a list (their key is a tuple), interfaces by name."""
        return {
            "flows": [
                {"iif": k[0], "source": k[1], "group": k[2], "packets_per_s": p, "bits_per_s": b}
                for k, (p, b) in self.flows.items()
            ],
            "interfaces": {
                name: {"rx_frames_per_s": rx, "tx_frames_per_s": tx}
                for name, (rx, tx) in self.interfaces.items()
            },
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Rates:
        """Inverse of `to_json`."""
        flows = {
            (str(f["iif"]), str(f["source"]), str(f["group"])): (
                float(f["packets_per_s"]),
                float(f["bits_per_s"]),
            )
            for f in d["flows"]
        }
        ifaces = {
            str(name): (float(r["rx_frames_per_s"]), float(r["tx_frames_per_s"]))
            for name, r in d["interfaces"].items()
        }
        return cls(MappingProxyType(flows), MappingProxyType(ifaces))


@dataclass(frozen=True, slots=True)
class View:
    """One screenful: what the live table and `rawfwd show` display."""

    snapshot: Snapshot
    links: tuple[LinkStatus, ...]
    started: float  #: same clock as snapshot.now (monotonic seconds)
    config_path: str
    rates: Rates
    #: IGMP, JSON-ready: {"interfaces": [per igmp interface], "proxy": upstream or None}
    igmp: Mapping[str, Any] | None = None
    #: NHDP, JSON-ready: {"interfaces": [per MANET interface]}, or None
    neighbors: Mapping[str, Any] | None = None
    #: PIM, JSON-ready: {"interfaces": [per pim interface], "ignored": {...}}, or None
    pim: Mapping[str, Any] | None = None

    @property
    def uptime(self) -> float:
        """Seconds since the daemon started."""
        return self.snapshot.now - self.started

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready (`rawfwd show --json`). "uptime" is derived, for readers."""
        return {
            "uptime": self.uptime,
            "started": self.started,
            "config_path": self.config_path,
            "links": [link.to_json() for link in self.links],
            "rates": self.rates.to_json(),
            "snapshot": self.snapshot.to_json(),
            "igmp": self.igmp,
            "neighbors": self.neighbors,
            "pim": self.pim,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> View:
        """Inverse of `to_json` (derived keys are ignored)."""
        return cls(
            snapshot=Snapshot.from_json(d["snapshot"]),
            links=tuple(LinkStatus.from_json(link) for link in d["links"]),
            started=float(d["started"]),
            config_path=str(d["config_path"]),
            rates=Rates.from_json(d["rates"]),
            igmp=d.get("igmp"),
            neighbors=d.get("neighbors"),
            pim=d.get("pim"),
        )


class RateTracker:
    """Turns successive snapshots' counters into per-second rates.

    Rates over a few milliseconds are noise, so a snapshot less than `min_interval` seconds
    after the last one counted returns the last rates and leaves the baseline alone: the live
    table's tick and `rawfwd show` requests can share one tracker.
    """

    __slots__ = ("_flows", "_ifaces", "_min_interval", "_now", "_rates")

    def __init__(self, min_interval: float = 0.5) -> None:
        self._min_interval = min_interval
        self._now: float | None = None
        self._flows: dict[FlowKey, tuple[int, int]] = {}
        self._ifaces: dict[str, tuple[int, int]] = {}
        self._rates = Rates.empty()

    def update(self, snap: Snapshot) -> Rates:
        """Rates since the previous snapshot given (by `snap.now`); zeros on the first call.

        A flow or interface new since the last call counts from 0; a counter that went
        backwards (flow evicted and seen again) counts from 0 too.
        """
        first = self._now is None
        dt = 0.0 if self._now is None else snap.now - self._now
        if not first and (dt <= 0 or dt < self._min_interval):
            return self._rates
        old_flows, old_ifaces = self._flows, self._ifaces
        flows: dict[FlowKey, tuple[int, int]] = {}
        flow_rates: dict[FlowKey, tuple[float, float]] = {}
        for f in snap.flows:
            key = (f.arrival, f.source, f.group)
            flows[key] = (f.packets, f.bytes)
            if first:
                flow_rates[key] = _ZERO
                continue
            packets, nbytes = old_flows.get(key, (0, 0))
            if f.packets < packets or f.bytes < nbytes:
                packets = nbytes = 0
            flow_rates[key] = ((f.packets - packets) / dt, (f.bytes - nbytes) * 8 / dt)
        ifaces: dict[str, tuple[int, int]] = {}
        if_rates: dict[str, tuple[float, float]] = {}
        for i in snap.interfaces:
            ifaces[i.name] = (i.rx_frames, i.tx_frames)
            if first:
                if_rates[i.name] = _ZERO
                continue
            rx, tx = old_ifaces.get(i.name, (0, 0))
            if i.rx_frames < rx or i.tx_frames < tx:
                rx = tx = 0
            if_rates[i.name] = ((i.rx_frames - rx) / dt, (i.tx_frames - tx) / dt)
        self._now, self._flows, self._ifaces = snap.now, flows, ifaces
        self._rates = Rates(MappingProxyType(flow_rates), MappingProxyType(if_rates))
        return self._rates
