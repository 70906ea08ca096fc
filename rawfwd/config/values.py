"""Validated, frozen configuration values shared by config, core and the shells.

These are plain value types: `config.py` builds them from files, the core reads them.
Nothing here parses or does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Network

#: a prefix of either family: routes, [[rpf]] entries and flooded groups may be IPv6
Network = IPv4Network | IPv6Network
#: 224.0.0.0/24, the Local Network Control Block (RFC 5771 section 4): never routed.
LINK_LOCAL_BLOCK = IPv4Network("224.0.0.0/24")
#: 224.0.0.0/4, all IPv4 multicast (RFC 5771 section 2).
MULTICAST_BLOCK = IPv4Network("224.0.0.0/4")
#: ff00::/8, all IPv6 multicast (RFC 4291 section 2.7).
MULTICAST_BLOCK6 = IPv6Network("ff00::/8")


class DedupMode(Enum):
    """How duplicates are recognised (RFC 6621 section 6)."""

    HASH = "hash"  #: H-DPD: hash of the packet's invariant part
    ID = "id"  #: I-DPD: (src, dst, proto, IP ID, fragment offset)
    OFF = "off"  #: no duplicate detection (plain multicast routing)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a configuration item was written, for error messages and `rawfwd check`."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass(frozen=True, slots=True)
class IgmpSpec:
    """An interface's IGMP router settings (`igmp = true`); the defaults are RFC 3376
    section 8's. Also the querier's and membership's timer values."""

    robustness: int = 2
    query_interval: float = 125.0
    query_response_interval: float = 10.0
    last_member_query_interval: float = 1.0
    version: int = 3  #: 2 or 3: the queries it sends
    querier: bool = True  #: False: listen only, never query
    startup_interval: float | None = None  #: None: query_interval / 4 (RFC 3376 8.6)
    startup_count: int | None = None  #: None: robustness (RFC 3376 8.7)
    last_member_count: int | None = None  #: None: robustness (RFC 3376 8.9)

    @property
    def startup_query_interval(self) -> float:
        if self.startup_interval is not None:
            return self.startup_interval
        return self.query_interval / 4  # RFC 3376 8.6

    @property
    def startup_query_count(self) -> int:
        return self.startup_count if self.startup_count is not None else self.robustness

    @property
    def group_membership_interval(self) -> float:
        """How long a membership lasts without a report (RFC 3376 8.4)."""
        return self.robustness * self.query_interval + self.query_response_interval

    @property
    def other_querier_present_interval(self) -> float:
        """How long another querier is believed present after its last query (8.5)."""
        return self.robustness * self.query_interval + self.query_response_interval / 2


@dataclass(frozen=True, slots=True)
class PimInterfaceSpec:
    """An interface's PIM settings (`pim = true`); defaults from RFC 7761 section 4.11."""

    dr_priority: int = 1
    hello_interval: float = 30.0  #: Hello_Period
    hello_holdtime: float | None = None  #: None: 3.5 x hello_interval (section 4.11)

    @property
    def holdtime(self) -> int:
        """What Hellos say in their holdtime option (16 bits, whole seconds)."""
        if self.hello_holdtime is not None:
            return int(self.hello_holdtime)
        return min(0xFFFE, int(3.5 * self.hello_interval))


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    """One `[interface.NAME]` table (or smcroute `phyint`)."""

    name: str
    mac: bytes | None = None  #: replay only; live mode reads the real MAC
    address: IPv4Interface | None = None  #: replay only; live mode reads the real address
    ttl_threshold: int = 1  #: forward only if arriving TTL > threshold (ipmr semantics)
    manet: bool = False  #: floods: retransmits on the arrival interface (RFC 6621)
    #: groups a MANET interface floods; 224.0.0.0/24 only by an entry inside it (RFC 5771)
    groups: tuple[Network, ...] = (MULTICAST_BLOCK, MULTICAST_BLOCK6)
    igmp: IgmpSpec | None = None  #: router side of IGMP here: members decide forwarding
    #: router side of MLD here (IPv6 listeners), the same settings; its `version` 2 is
    #: MLDv1, 3 is MLDv2 (RFC 3810 section 8)
    mld: IgmpSpec | None = None
    upstream: bool = False  #: IGMP proxy (RFC 4605): a host toward the root here
    #: MANET relay algorithm (RFC 6621 section 8): "flood", "s-mpr", "e-cds" or "mpr-cds"
    relay: str = "flood"
    nhdp: bool = True  #: a MANET interface runs NHDP (RFC 6130) unless this is false
    pim: PimInterfaceSpec | None = None  #: a PIM-SM router here (RFC 7761)
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Static forwarding state: packets to `group` (from `source`) arriving on `iif` go to `oifs`.

    `source is None` is (*,G). Group and source may be prefixes (smcroute allows both).
    `iif is None` means "from wherever RPF says the source is" (like pimd/mrouted).
    """

    iif: str | None  #: None: the RPF interface toward the source (FIB or [[rpf]])
    group: Network
    source: Network | None
    oifs: tuple[str, ...]
    origin: Origin | None = None

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: any source beats no source, then longer source, then longer group."""
        src_len = -1 if self.source is None else self.source.prefixlen
        return (src_len, self.group.prefixlen)

    def describe(self) -> str:
        """The route as one normalised line, e.g. `(*, 239.1.0.0/16) from eth0 to eth1, eth2`."""
        if self.source is None:
            src = "*"
        elif self.source.prefixlen == self.source.max_prefixlen:
            src = str(self.source.network_address)
        else:
            src = str(self.source)
        whole = self.group.prefixlen == self.group.max_prefixlen
        grp = str(self.group.network_address) if whole else str(self.group)
        iif = self.iif if self.iif is not None else "rpf"
        return f"({src}, {grp}) from {iif} to {', '.join(self.oifs)}"


@dataclass(frozen=True, slots=True)
class RpfSpec:
    """A static RPF entry, like `ip mroute PREFIX IIF`: sources in `prefix` arrive on `iif`.

    Overrides the kernel FIB for routes without `from` (multicast topology differing from
    the unicast one).
    """

    prefix: Network
    iif: str
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class DedupSpec:
    """The `[dedup]` table: duplicate detection (RFC 6621 section 6)."""

    mode: DedupMode = DedupMode.HASH
    window: float = 5.0  #: seconds a packet is remembered
    max_entries: int = 65536  #: bound on remembered packets, all flows together
    #: per (source, group): its last max_per_flow packets are remembered, at most twice
    #: that are held, so one flow cannot flush the others (all within max_entries)
    max_per_flow: int = 1024


@dataclass(frozen=True, slots=True)
class NhdpSpec:
    """The `[nhdp]` table: HELLO timing on every MANET interface (RFC 6130 section 5)."""

    hello_interval: float = 2.0  #: seconds between HELLOs (jittered, RFC 5148)
    validity: float = 6.0  #: how long a HELLO is believed (3 x hello_interval by default)


@dataclass(frozen=True, slots=True)
class RpSpec:
    """A static RP (`[[pim.rp]]`): the rendezvous point of the groups in `group`; where
    several cover a group, the longest match wins (RFC 7761 section 4.7.1 leaves the
    choice to configuration)."""

    address: IPv4Address
    group: IPv4Network = MULTICAST_BLOCK
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class PimSpec:
    """The `[pim]` table: the mode, static RPs (sparse, RFC 7761) or state refresh (dense,
    RFC 3973), and the timers shared by PIM interfaces."""

    rps: tuple[RpSpec, ...] = ()
    #: "immediate": a last-hop DR joins the source tree on the first packet (section
    #: 4.2.1); "never": stays on the RP tree
    spt_switchover: str = "immediate"
    join_prune_interval: float = 60.0  #: t_periodic (section 4.11)
    #: "sparse" (RFC 7761) or "dense" (RFC 3973: flood and prune, no RP)
    mode: str = "sparse"
    #: dense: the first-hop router originates State Refresh (RFC 3973 section 4.5), and
    #: every router says it can take them (Hello option 21) and passes them on
    state_refresh: bool = True
    state_refresh_interval: int = 60  #: StateRefreshInterval, seconds (8-bit field)

    @property
    def dense(self) -> bool:
        return self.mode == "dense"

    def rp_for(self, group: int) -> RpSpec | None:
        """The RP of `group` (IPv4 as int): the longest configured match."""
        best: RpSpec | None = None
        for rp in self.rps:
            net = rp.group
            if (group ^ int(net.network_address)) >> (32 - net.prefixlen) == 0 and (
                best is None or net.prefixlen > best.group.prefixlen
            ):
                best = rp
        return best


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """The `[flows]` table: bounds on per-flow state."""

    max_flows: int = 100_000  #: oldest flows are evicted beyond this
    idle_timeout: float = 300.0  #: a flow silent this long is forgotten


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated configuration."""

    interfaces: dict[str, InterfaceSpec]
    routes: tuple[Route, ...]
    rpf: tuple[RpfSpec, ...] = ()
    dedup: DedupSpec = field(default_factory=DedupSpec)
    flows: FlowSpec = field(default_factory=FlowSpec)
    nhdp: NhdpSpec = field(default_factory=NhdpSpec)
    pim: PimSpec = field(default_factory=PimSpec)
    path: str = "<config>"
    #: lines that were accepted but are not (fully) supported, as "file:line: text"
    warnings: tuple[str, ...] = field(default=())
