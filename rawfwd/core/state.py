"""The forwarder's mutable per-interface and per-flow state (slotted: it is on the hot path).

Only the forwarder and the modules it drives (`flows`, `rpf`) change these; everything else
sees them through snapshots (`snapshots`).
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from ..config.values import InterfaceSpec, Route
from .addr import from_packed
from .dedup import DuplicateCache
from .reasons import DropReason


class Port:
    """A configured interface: its link state and counters, and the flows arriving on it."""

    __slots__ = (
        "box",
        "drops",
        "flows",
        "icmp6",
        "igmp",
        "local_flows",
        "mac",
        "name",
        "pim",
        "relay_for",
        "relay_heard",
        "relayed",
        "rx_bytes",
        "rx_frames",
        "spec",
        "tx_bytes",
        "tx_frames",
        "up",
    )

    def __init__(self, spec: InterfaceSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.mac: bytes | None = spec.mac
        self.up = True
        self.flows: dict[bytes, Flow] = {}  #: frames from the wire
        self.local_flows: dict[bytes, Flow] = {}  #: frames this host's applications sent
        self.rx_frames = 0
        self.rx_bytes = 0
        self.tx_frames = 0
        self.tx_bytes = 0
        self.relayed = 0  #: packets that came in here and went out somewhere
        #: a MANET interface's relay set (RFC 6621 section 8, chosen by NHDP): the previous
        #: hops (MACs) whose packets this node relays; None: every neighbour's
        self.relay_for: frozenset[bytes] | None = None
        #: with S-MPR, the symmetric neighbours' MACs: a packet from another previous hop
        #: is ignored, not even recorded as seen (RFC 6621 B.2 rule 3); None: no such rule
        self.relay_heard: frozenset[bytes] | None = None
        self.igmp = 0  #: IGMP frames received: the control plane's, not forwarded
        #: ICMPv6 neighbour discovery and MLD frames received (RFC 4861, RFC 3810): always
        #: link-scoped control, never a flow (MLD will be the control plane's)
        self.icmp6 = 0
        self.pim = 0  #: PIM frames received (RFC 7761): the PIM router's, never a flow
        self.drops: Counter[DropReason] = Counter()
        #: copies for this interface made by the current call, handed out at its end
        self.box: list[bytes] = []


class Egress(NamedTuple):
    """One outgoing interface with its Ethernet header, built once: shared by every flow
    going the same way, the header lacks the group MAC (`Flow.dst` is put before it); a
    flow's own has it whole."""

    eth: bytes  #: [the group MAC (RFC 1112 section 6.4),] the egress MAC, the ethertype
    port: Port


class Flow:
    """Per-(ingress, source, group) state: the cached decision and the counters.

    Frames an application on this host sent (PACKET_OUTGOING) have flows of their own,
    `local`: the kernel has already sent them on their interface, and they are ours.
    """

    __slots__ = (
        "bytes",
        "copies",
        "dedup",
        "drops",
        "dst",
        "egress",
        "first",
        "flood",
        "forwarded",
        "kernel",
        "key",
        "last",
        "local",
        "members",
        "mesh",
        "oifs",
        "packets",
        "port",
        "queue",
        "route",
        "thresholds",
        "v6",
        "verdict",
    )

    def __init__(self, port: Port, key: bytes, now: float, local: bool) -> None:
        self.port = port
        self.key = key
        self.v6 = len(key) == 32  #: IPv6: the key is 16 bytes of source, 16 of group
        self.local = local
        self.route: Route | None = None
        self.verdict: DropReason | None = None
        self.egress: tuple[Egress, ...] = ()
        #: the group MAC (RFC 1112 section 6.4) while `egress` is shared; b"" once the flow
        #: has headers of its own
        self.dst = b""
        self.thresholds: tuple[int, ...] = ()  # of `egress`, ascending
        self.oifs: tuple[str, ...] = ()  # egress names in the route's order, for display
        self.mesh = False  #: heard from a MANET neighbour: the relay policy applies
        self.flood = False  #: MANET flooding adds to (or makes) its egress
        self.members = False  #: IGMP members add to (or make) its egress
        #: its (source, group)'s duplicate cache (the object, not its bound method: memory)
        self.dedup: DuplicateCache | None = None
        self.first = now
        self.last = now
        self.packets = 0
        self.bytes = 0
        self.forwarded = 0
        self.copies = 0
        self.kernel = 0  #: of `packets`, those the kernel fast path forwarded
        self.drops: Counter[DropReason] | None = None  # created at the first drop: memory
        #: frames held while the RPF lookup is pending (ipmr's unresolved queue), else None
        self.queue: list[tuple[bytes, int, float]] | None = None

    @property
    def source(self) -> int:
        """The source address as an int of `addr` (per-flow decisions only: not kept)."""
        return from_packed(self.key[:16] if self.v6 else self.key[:4])

    @property
    def group(self) -> int:
        """The group address as an int of `addr` (per-flow decisions only: not kept)."""
        return from_packed(self.key[16:] if self.v6 else self.key[4:])
