"""Neighbourhood discovery (NHDP, RFC 6130) on one MANET interface, and the relay set it
feeds (RFC 6621 section 8): pure, time passed in, no sockets.

Theory of operation:

- HELLOs are RFC 5444 packets (message type 0) to 224.0.0.109 port 269, TTL 1. Ours list
  our interface address (LOCAL_IF = THIS_IF) and every neighbour interface we hear with
  its LINK_STATUS (HEARD, SYMMETRIC, or LOST while its tuple is held); message TLVs
  INTERVAL_TIME and VALIDITY_TIME (RFC 5497 codes). For OLSRv2 routers (RFC 7181, RFC
  7188) they carry a packet sequence number, MPR_WILLING (the same willingness in both
  nibbles: olsrd2 reads flooding from the low nibble, RFC 7188 and Wireshark from the high
  one), LINK_METRIC (one constant metric, link and neighbour flags) and the MPR TLV on the
  neighbours we select as flooding MPRs; and RFC 6621's SMF_TYPE message TLV (type 128,
  section 8.1.1: the relay algorithm as type extension, the router priority as value).
- A HELLO heard (RFC 6130 section 12): the link tuple of its sender is found by its
  sending addresses (LOCAL_IF = THIS_IF, else the IP source) or made; our address listed
  as HEARD or SYMMETRIC makes the link symmetric for the validity time, LOST ends that at
  once; a link is held (and advertised LOST) for a validity time after it was last heard.
  Over a symmetric link the sender's symmetric neighbours become our 2-hop neighbours, and
  the MPR TLV (flooding bit) on our address says the sender selected us. The sender's MAC
  (the frame's Ethernet source) is what the forwarder's relay decision reads.
- Relay sets, recomputed whenever the neighbourhood changes: flooding MPRs by RFC 7181
  section 18's heuristic (always computed and advertised, whatever we run, so olsrd2 and
  S-MPR neighbours can use us); then, by `relay`: "flood" relays everything, "s-mpr"
  relays what the neighbours that selected us sent and ignores (does not even record)
  what a node that is no symmetric neighbour sent (RFC 6621 appendix B.2), "e-cds" and
  "mpr-cds" relay everything when this node is in the connected dominating set its
  algorithm computes from 2-hop knowledge (RFC 6621 appendices A and C), nothing
  otherwise. A neighbour is ranked by (router priority, its largest address) (A.4, C.4).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..core.wire import complete_l4_checksum, ethernet_header, ipv4_header
from . import rfc5444
from .rfc5444 import AddressBlock, Malformed, Message, Packet, Tlv, address_tlvs

if TYPE_CHECKING:
    from ..config.values import Config
    from ..core.forwarder import Forwarder

PORT: Final = 269  # RFC 5498
GROUP: Final = bytes([224, 0, 0, 109])  # LL-MANET-Routers, RFC 5498
HELLO: Final = 0
INTERVAL_TIME: Final = 0  # RFC 5497
VALIDITY_TIME: Final = 1
LOCAL_IF: Final = 2  # RFC 6130 section 16.2
THIS_IF: Final = 0
LINK_STATUS: Final = 3
OTHER_NEIGHB: Final = 4
LOST: Final = 0
SYMMETRIC: Final = 1
HEARD: Final = 2
MPR_WILLING: Final = 7  # RFC 7181 section 24.4, message TLV
LINK_METRIC: Final = 7  # address block TLV
MPR: Final = 8
MPR_FLOODING: Final = 0x01  # RFC 7188: the MPR TLV value is a bit field
WILL_NEVER: Final = 0
WILL_DEFAULT: Final = 7
WILL_ALWAYS: Final = 15
SMF_TYPE: Final = 128  # RFC 6621 8.1.1, 11.4.2: HELLO-specific, the algorithm as extension
#: the relay algorithms and their RFC 6621 codes (SMF_TYPE's type extension)
RSSA: Final = {"flood": 0, "s-mpr": 1, "e-cds": 2, "mpr-cds": 3}
DEFAULT_PRIORITY: Final = 64  # router priority, the middle of 0-127 (RFC 6621 A.3, B.3)
#: E-CDS ranks of neighbours that are not E-CDS routers (RFC 6621 A.3: only routers known
#: to run E-CDS may be counted on): a classical flooder always relays, so it ranks above any
#: priority; one running another algorithm, or none we know of, never beats us and no
#: path is assumed to go through it
_ALWAYS_RELAYS: Final = 128
_MAY_NOT_RELAY: Final = -1
#: bounds on what neighbours can make us hold and compute (a hostile or broken one must
#: not grow our HELLO past the MTU, nor make choosing relays cost more than a little)
MAX_LINKS: Final = 48  #: neighbour interfaces per MANET interface
MAX_SENDING: Final = 4  #: LOCAL_IF = THIS_IF addresses a neighbour interface may have
MAX_LOCAL: Final = 16  #: LOCAL_IF addresses (all its interfaces) a neighbour may list
MAX_TWO_HOP: Final = 64  #: 2-hop neighbours held through one neighbour
MAX_BLOCK_TLVS: Final = 32  #: TLVs of one address block (ours have 3; olsrd2's about 8)
#: one constant link metric (rawfwd measures no link quality): olsrd2 needs one to count
#: a link at all; the link in/out and neighbour in/out flags (RFC 7181 section 6.1)
METRIC_VALUE: Final = (0xF000 | rfc5444.metric_code(1024)).to_bytes(2, "big")
_MPR_VALUE: Final = bytes([MPR_FLOODING])
LINK_ONLY_METRIC: Final = (0xC000 | rfc5444.metric_code(1024)).to_bytes(2, "big")


@dataclass(slots=True, eq=False)  # compared by identity: the relay sets key on links
class Link:
    """One neighbour interface heard here (RFC 6130's link tuple, with what it told us)."""

    addresses: frozenset[bytes]  #: its sending addresses (LOCAL_IF = THIS_IF)
    node: frozenset[bytes]  #: every address of that neighbour (any LOCAL_IF)
    mac: bytes
    heard_until: float = float("-inf")
    sym_until: float = float("-inf")
    hold_until: float = float("-inf")
    #: its symmetric neighbours (our 2-hop neighbours through it), each until when
    two_hop: dict[bytes, float] = field(default_factory=dict)
    selects_us_until: float = float("-inf")  #: it selected us as flooding MPR until then
    willingness: int = WILL_NEVER
    rssa: int | None = None
    priority: int = DEFAULT_PRIORITY

    def status(self, now: float) -> str:
        """ "symmetric", "heard" or "lost" (held, advertised as lost)."""
        if self.sym_until > now:
            return "symmetric"
        if self.heard_until > now:
            return "heard"
        return "lost"


class NhdpPort:
    """NHDP and relay-set state of one MANET interface."""

    def __init__(
        self,
        name: str,
        *,
        relay: str = "flood",
        hello_interval: float = 2.0,
        validity: float = 6.0,
        priority: int = DEFAULT_PRIORITY,
        random: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.name = name
        self.relay = relay
        self.hello_interval = hello_interval
        self.validity = validity
        self.priority = priority
        self._random = random
        self.address: bytes | None = None  #: our IPv4 address here (none: no HELLOs)
        self.links: dict[frozenset[bytes], Link] = {}
        self.mprs: frozenset[bytes] = frozenset()  #: sending addresses of our MPRs
        self.in_cds = True  #: e-cds / mpr-cds: this node is in the dominating set
        self.relay_for: frozenset[bytes] | None = None  #: MACs relayed for (None: all)
        #: s-mpr: MACs of the symmetric neighbours; a packet from any other previous hop is
        #: ignored, not recorded (RFC 6621 B.2); None: no such rule
        self.relay_heard: frozenset[bytes] | None = None
        self.next_hello = float("-inf")
        self.seqnum = 0
        self.counters: dict[str, int] = {}
        self._expiry = float("inf")

    # -- input --------------------------------------------------------------------------

    def on_packet(self, payload: bytes, source: bytes, mac: bytes, now: float) -> bool:
        """A UDP payload from `source` (IPv4) / `mac` on port 269. True if the
        neighbourhood changed (the relay set was recomputed)."""
        packet = rfc5444.decode(payload)
        if isinstance(packet, Malformed):
            self.count(f"malformed: {packet.reason}")
            return False
        changed = False
        for message in packet.messages:
            if message.type != HELLO:
                self.count("not a HELLO")
                continue
            problem = self._hello_problem(message)
            if problem is not None:
                self.count(problem)
                continue
            self._on_hello(message, source, mac, now)
            changed = True
        if changed:
            self.count("hellos")
            self.invalidate()  # relays chosen again at the next poll, once for a burst
        return changed

    def _hello_problem(self, m: Message) -> str | None:
        """Why a HELLO is discarded (RFC 6130 section 12.1), or None."""
        if m.addr_len != 4:
            return "not IPv4"
        if (m.hop_limit is not None and m.hop_limit != 1) or (m.hop_count not in (None, 0)):
            return "hop limit or count of a forwarded message"
        if m.count(VALIDITY_TIME) != 1 or m.count(INTERVAL_TIME) > 1:
            return "not one validity time"
        validity = m.tlv(VALIDITY_TIME)
        if not validity:
            return "not one validity time"
        this_if = local_count = 0
        for block in m.blocks:
            if len(block.tlvs) > MAX_BLOCK_TLVS:
                return "too many TLVs in an address block"
        for block in m.blocks:
            local = block.values(LOCAL_IF)
            status = block.values(LINK_STATUS)
            other = block.values(OTHER_NEIGHB)
            for i, address in enumerate(block.addresses):
                value = local[i]
                if value is not None and (status[i] is not None or other[i] is not None):
                    return "an address both local and a neighbour"
                if value is not None and address == self.address:
                    return "our own HELLO"
                if value is not None:
                    local_count += 1
                    this_if += value[:1] == bytes([THIS_IF])
        if this_if > MAX_SENDING or local_count > MAX_LOCAL:
            return "too many local addresses"
        return None

    def _on_hello(self, m: Message, source: bytes, mac: bytes, now: float) -> None:
        validity_code = m.tlv(VALIDITY_TIME) or b"\x00"
        until = now + rfc5444.time_value(validity_code[0])
        this_if: set[bytes] = set()
        node: set[bytes] = set()
        said: dict[bytes, tuple[int | None, int | None, int]] = {}  # status, other, mpr
        for block in m.blocks:
            local = block.values(LOCAL_IF)
            status = block.values(LINK_STATUS)
            other = block.values(OTHER_NEIGHB)
            mpr = block.values(MPR)
            for i, address in enumerate(block.addresses):
                value = local[i]
                if value is not None:
                    node.add(address)
                    if value[:1] == bytes([THIS_IF]):
                        this_if.add(address)
                    continue
                s, o, p = status[i], other[i], mpr[i]
                before = said.get(address, (None, None, 0))  # listed in an earlier block too
                said[address] = (
                    s[0] if s else before[0],
                    o[0] if o else before[1],
                    (p[0] if p else 0) | before[2],
                )
        sending = frozenset(this_if) if this_if else frozenset([source])
        node |= sending
        link = self._link_for(sending, mac, frozenset(node))
        if link is None:
            self.count("too many neighbours")
            return
        ours = said.get(self.address) if self.address is not None else None
        if ours is not None and ours[0] == LOST:
            link.sym_until = min(link.sym_until, now)  # it lost us: not symmetric now
        elif ours is not None and ours[0] in (HEARD, SYMMETRIC):
            link.sym_until = until
        link.heard_until = max(link.sym_until, until)
        link.hold_until = max(link.hold_until, link.heard_until + self.validity)
        smf = [t for t in m.tlvs if t.type == SMF_TYPE]
        link.rssa = smf[0].ext if smf else None
        # RFC 6621 A.3 / B.3: one octet, its top bit reserved; no value (or any other
        # length, "SHOULD be ignored") means the default
        value = (smf[0].value or b"") if smf else b""
        link.priority = value[0] & 0x7F if len(value) == 1 else DEFAULT_PRIORITY
        willing = m.tlv(MPR_WILLING)
        if willing:
            link.willingness = willing[0] >> 4  # RFC 7188: flooding in the high nibble
        elif link.rssa in (RSSA["s-mpr"], RSSA["mpr-cds"]):
            link.willingness = willingness_of(link.priority)
        else:
            link.willingness = WILL_NEVER  # RFC 7181 15.1: no MPR_WILLING, never an MPR
        if link.sym_until > now:
            for address, (link_status, other_status, _) in said.items():
                if address == self.address or address in link.node:
                    continue
                if SYMMETRIC in (link_status, other_status):
                    if address in link.two_hop or len(link.two_hop) < MAX_TWO_HOP:
                        link.two_hop[address] = until
                    else:
                        self.count("too many 2-hop neighbours")
                elif LOST in (link_status, other_status):
                    link.two_hop.pop(address, None)
            link.selects_us_until = until if ours is not None and ours[2] & MPR_FLOODING else now
        else:
            link.two_hop.clear()
            link.selects_us_until = now

    def _link_for(
        self, sending: frozenset[bytes], mac: bytes, node: frozenset[bytes]
    ) -> Link | None:
        """The link tuple whose addresses meet `sending` (made if none, unless MAX_LINKS
        are held: then None)."""
        link = self.links.get(sending)
        if link is None:
            for key, known in self.links.items():
                if key & sending:
                    del self.links[key]
                    link = self.links[sending] = known
                    break
        if link is None:
            if len(self.links) >= MAX_LINKS:
                return None
            link = self.links[sending] = Link(sending, node, mac)
        link.addresses, link.node, link.mac = sending, node, mac
        return link

    # -- time ---------------------------------------------------------------------------

    def next_timer(self) -> float:
        """When `poll` has work: the next HELLO, or a neighbourhood change by expiry."""
        due = self._expiry
        if self.address is not None and self.next_hello < due:
            due = self.next_hello
        return due

    def settle(self, now: float) -> None:
        """Expire what timed out and choose relays again, if anything asks for it."""
        if now >= self._expiry:
            self.recompute(now)

    def poll(self, now: float) -> bytes | None:
        """Expire what timed out; the HELLO payload to send now, if one is due."""
        self.settle(now)
        if self.address is None or now < self.next_hello:
            return None
        # RFC 5148: periodic messages jittered by up to a quarter of their interval
        self.next_hello = now + self.hello_interval * (1 - 0.25 * self._random())
        return self.hello(now)

    def invalidate(self) -> None:
        """Make the next `poll` choose the relay set again (the settings changed)."""
        self._expiry = float("-inf")

    def recompute(self, now: float) -> None:
        """Drop expired state, then choose MPRs and the relay set again."""
        for key in [k for k, link in self.links.items() if link.hold_until <= now]:
            del self.links[key]
        expiry = float("inf")
        for link in self.links.values():
            for address in [a for a, t in link.two_hop.items() if t <= now]:
                del link.two_hop[address]
            for t in (link.sym_until, link.heard_until, link.hold_until, link.selects_us_until):
                if now < t < expiry:
                    expiry = t
            for t in link.two_hop.values():
                if t < expiry:
                    expiry = t
        self._expiry = expiry
        symmetric = [link for link in self.links.values() if link.sym_until > now]
        self.mprs = select_mprs(symmetric, self.address)
        self.relay_heard = None
        me = (self.priority, self.address or b"")
        if self.relay == "e-cds":
            self.in_cds = ecds_member(me, symmetric)
        elif self.relay == "mpr-cds":
            selectors = [link for link in symmetric if link.selects_us_until > now]
            self.in_cds = mpr_cds_member(me, symmetric, selectors)
        else:
            self.in_cds = True
        if self.relay == "s-mpr":
            self.relay_for = frozenset(
                link.mac for link in symmetric if link.selects_us_until > now
            )
            self.relay_heard = frozenset(link.mac for link in symmetric)
        elif self.relay in ("e-cds", "mpr-cds"):
            self.relay_for = None if self.in_cds else frozenset()
        else:
            self.relay_for = None

    # -- output -------------------------------------------------------------------------

    def hello(self, now: float) -> bytes:
        """Our HELLO as an RFC 5444 packet (the UDP payload)."""
        if self.address is None:
            raise ValueError("no address on this interface: no HELLO")
        self.seqnum = (self.seqnum + 1) & 0xFFFF
        tlvs = (
            Tlv(INTERVAL_TIME, 0, bytes([rfc5444.time_code(self.hello_interval)])),
            Tlv(VALIDITY_TIME, 0, bytes([rfc5444.time_code(self.validity)])),
            Tlv(MPR_WILLING, 0, bytes([WILL_DEFAULT << 4 | WILL_DEFAULT])),
            Tlv(SMF_TYPE, RSSA[self.relay], bytes([self.priority])),
        )
        blocks = [AddressBlock((self.address,), (Tlv(LOCAL_IF, 0, bytes([THIS_IF])),))]
        listed: list[tuple[bytes, int, bool]] = []  # address, status, our MPR
        for link in sorted(self.links.values(), key=lambda k: sorted(k.addresses)):
            status = {"symmetric": SYMMETRIC, "heard": HEARD, "lost": LOST}[link.status(now)]
            for address in sorted(link.addresses):
                listed.append((address, status, link.addresses <= self.mprs))
        for start in range(0, len(listed), rfc5444.MAX_BLOCK_ADDRESSES):
            part = listed[start : start + rfc5444.MAX_BLOCK_ADDRESSES]
            metric = [
                METRIC_VALUE if s == SYMMETRIC else LINK_ONLY_METRIC if s == HEARD else None
                for _, s, _ in part
            ]
            blocks.append(
                AddressBlock(
                    tuple(a for a, _, _ in part),
                    (
                        *address_tlvs(LINK_STATUS, [bytes([s]) for _, s, _ in part]),
                        *address_tlvs(LINK_METRIC, metric),
                        *address_tlvs(
                            MPR, [bytes([MPR_FLOODING]) if m else None for *_, m in part]
                        ),
                    ),
                )
            )
        message = Message(HELLO, 4, tlvs, tuple(blocks), originator=self.address)
        return rfc5444.encode(Packet((message,), self.seqnum))

    def count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1


# -- relay set algorithms (pure functions of the neighbourhood) ------------------------------


def select_mprs(symmetric: Iterable[Link], me: bytes | None) -> frozenset[bytes]:
    """Flooding MPRs (RFC 7181 section 18.4, the heuristic of its appendix A): every
    strict 2-hop neighbour is covered by a chosen symmetric neighbour. Returns the sending
    addresses of the chosen ones (a frozenset of all of them)."""
    flooders = [link for link in symmetric if link.rssa == RSSA["flood"]]
    candidates = [link for link in symmetric if link.willingness != WILL_NEVER or link in flooders]
    one_hop: set[bytes] = set()
    for link in symmetric:
        one_hop |= link.node
    covers = {
        link: {a for a in link.two_hop if a != me and a not in one_hop} for link in candidates
    }
    coverers: dict[bytes, int] = {}  # strict 2-hop neighbour -> candidates reaching it
    for reach in covers.values():
        for a in reach:
            coverers[a] = coverers.get(a, 0) + 1
    uncovered = set(coverers)
    # RFC 7181 18.4 / RFC 6621 B.4 step 5: WILL_ALWAYS, and classical flooders (they
    # relay anyway), are always chosen
    chosen = [link for link in candidates if link.willingness == WILL_ALWAYS or link in flooders]
    for link in candidates:  # the only way to some 2-hop neighbour
        if link not in chosen and any(coverers[a] == 1 for a in covers[link]):
            chosen.append(link)
    for link in chosen:
        uncovered -= covers[link]
    while uncovered:
        # only a neighbour that covers something is worth choosing (RFC 7181 appendix A)
        best = max(
            (link for link in candidates if link not in chosen and covers[link] & uncovered),
            key=lambda k: (k.willingness, len(covers[k] & uncovered), len(covers[k]), _key(k)),
        )
        chosen.append(best)
        uncovered -= covers[best]
    return frozenset(a for link in chosen for a in link.addresses)


def _key(link: Link) -> bytes:
    """A tie-break between links that never changes while the link lives."""
    return min(link.addresses)


def router_id(link: Link) -> bytes:
    """A neighbour's Router ID: the largest of its addresses (RFC 6621 A.4, C.4)."""
    return max(link.node)


def willingness_of(priority: int) -> int:
    """An S-MPR router's priority read as an MPR willingness (RFC 6621 B.3: 0 is never,
    127 always, what lies between in order): 0-127 onto 0-15, 64 onto the default 7."""
    if priority <= 0:
        return WILL_NEVER
    if priority >= 127:
        return WILL_ALWAYS
    return 1 + (priority - 1) * 13 // 125


def _ecds_rank(link: Link) -> tuple[int, bytes]:
    """A neighbour's rank for E-CDS: (priority, Router ID) for an E-CDS router; a classical
    flooder above every priority; anything else below us (see _ALWAYS_RELAYS)."""
    if link.rssa == RSSA["e-cds"]:
        return (link.priority, router_id(link))
    if link.rssa == RSSA["flood"]:
        return (_ALWAYS_RELAYS, router_id(link))
    return (_MAY_NOT_RELAY, router_id(link))


def ecds_member(me: tuple[int, bytes], symmetric: list[Link]) -> bool:
    """E-CDS (RFC 6621 appendix A.4), from what NHDP tells this node (1-hop neighbours and
    their symmetric neighbours): a node with fewer than two neighbours is no relay; one
    whose (priority, Router ID) beats every 1- and 2-hop neighbour is; otherwise it is not
    if, from its best neighbour, paths through nodes that beat it reach all its
    neighbours (they can do without it), and it is if one cannot be reached. A 2-hop
    neighbour is taken to run E-CDS at the default priority (no SMF_NBR_TYPE is read)."""
    if len(symmetric) < 2:
        return False
    rank: dict[bytes, tuple[int, bytes]] = {}
    edges: dict[bytes, set[bytes]] = {}
    alias: dict[bytes, bytes] = {}  # any address of a neighbour -> its Router ID
    for link in symmetric:
        ident = router_id(link)
        rank[ident] = _ecds_rank(link)
        for address in link.node:
            alias[address] = ident
    for link in symmetric:
        ident = router_id(link)
        for address in link.two_hop:
            if address == me[1]:
                continue
            # RFC 6621 B.1: a neighbour also heard of as a 2-hop one is a neighbour only
            other = alias.get(address, address)
            if other == ident:
                continue
            edges.setdefault(ident, set()).add(other)
            edges.setdefault(other, set()).add(ident)
            rank.setdefault(other, (DEFAULT_PRIORITY, other))
    if all(me > r for r in rank.values()):
        return True
    neighbours = {router_id(link) for link in symmetric}
    start = max(neighbours, key=lambda a: rank[a])
    reached, frontier = {start}, [start]
    while frontier:
        node = frontier.pop()
        if node != start and rank[node] <= me:
            continue  # reached, but no path goes on through it
        for nxt in edges.get(node, ()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    return not neighbours <= reached


def mpr_cds_member(me: tuple[int, bytes], symmetric: list[Link], selectors: list[Link]) -> bool:
    """MPR-CDS (RFC 6621 appendix C.4): a node no neighbour selected as MPR is not in the
    set; one that was is if it beats every 1-hop neighbour by (priority, Router ID), or
    if the neighbour that beats all others is one of those that selected it."""
    if not symmetric or not selectors:
        return False
    best = max(symmetric, key=lambda k: (k.priority, router_id(k)))
    if me > (best.priority, router_id(best)):
        return True
    return any(link is best for link in selectors)


# -- all MANET interfaces of the engine ------------------------------------------------------

_HELLO_MAC: Final = bytes([0x01, 0x00, 0x5E, 0x00, 0x00, 0x6D])  # RFC 1112 6.4 of 224.0.0.109
_PORT_BYTES: Final = PORT.to_bytes(2, "big")


class NhdpRouter:
    """NHDP on every `manet = true` interface whose `nhdp` is not false: HELLOs in (the
    forwarder sets them aside), HELLOs out (built as whole frames, TTL 1), and each
    interface's relay set handed to the forwarder whenever it changes."""

    def __init__(
        self,
        config: Config,
        forwarder: Forwarder,
        *,
        live: bool = False,
        random: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.forwarder = forwarder
        self._random = random
        self._live = live
        self.ports: dict[str, NhdpPort] = {}
        self._addresses: dict[str, bytes | None] = {}
        self.ignored = 0  #: HELLOs on an interface without NHDP
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Ports for the new config: neighbours known on a port that remains are kept."""
        if not self._live:
            self._addresses = {
                n: s.address.ip.packed if s.address is not None else None
                for n, s in config.interfaces.items()
            }
        old, self.ports = self.ports, {}
        for name, spec in config.interfaces.items():
            if not (spec.manet and spec.nhdp):
                self.forwarder.set_relay(name, None, None)
                continue
            port = old.get(name) or NhdpPort(name, random=self._random)
            port.relay = spec.relay
            port.hello_interval = config.nhdp.hello_interval
            port.validity = config.nhdp.validity
            address = self._addresses.get(name)
            if address != port.address:
                port.invalidate()
            port.address = address
            port.next_hello = float("-inf")  # a HELLO at once with what changed
            self.ports[name] = port
        for port in self.ports.values():
            if port.links:
                port.invalidate()  # relay set chosen again at the next poll (at once)
            else:
                port.recompute(float("-inf"))  # nothing to expire: no clock needed
            self.forwarder.set_relay(port.name, port.relay_for, port.relay_heard)

    def set_address(self, name: str, address: bytes | None) -> None:
        """Live mode: the interface's IPv4 address (its HELLOs' source and our identity)."""
        self._addresses[name] = address
        port = self.ports.get(name)
        if port is not None and port.address != address:
            port.address = address
            port.next_hello = float("-inf")
            port.invalidate()  # E-CDS and MPR-CDS rank by our address

    def handle(self, name: str, frame: bytes, end: int, now: float) -> None:
        """A UDP frame to 224.0.0.109 the forwarder set aside (checked here: port 269)."""
        port = self.ports.get(name)
        ihl = (frame[14] & 0x0F) * 4
        udp = 14 + ihl
        if port is None:
            self.ignored += 1
            return
        if end < udp + 8 or frame[udp + 2 : udp + 4] != _PORT_BYTES:
            port.count("not NHDP (UDP port)")
            return
        if (frame[20] & 0x3F) or frame[21]:  # MF or an offset: HELLOs are never fragmented
            port.count("fragment")
            return
        length = (frame[udp + 4] << 8) | frame[udp + 5]
        if length < 8 or udp + length > end:
            port.count("bad UDP length")
            return
        port.on_packet(frame[udp + 8 : udp + length], frame[26:30], frame[6:12], now)

    def next_timer(self) -> float | None:
        """The next HELLO or expiry on any port."""
        due = min((p.next_timer() for p in self.ports.values()), default=float("inf"))
        return None if due == float("inf") else due

    def poll(self, now: float) -> list[tuple[str, list[bytes]]]:
        """HELLOs due now, as frames per interface; relay sets changed by expiry applied."""
        out: list[tuple[str, list[bytes]]] = []
        for name, port in self.ports.items():
            before = (port.relay_for, port.relay_heard)
            try:
                payload = port.poll(now)
            except ValueError:  # cannot be with the MAX_* bounds: counted, never a crash
                port.count("HELLO not sent: too large")
                payload = None
            if (port.relay_for, port.relay_heard) != before:
                self.forwarder.set_relay(name, port.relay_for, port.relay_heard)
            mac = self.forwarder.port_mac(name)
            if payload is not None and mac is not None and port.address is not None:
                out.append((name, [hello_frame(mac, port.address, payload)]))
        return out


def ports_json(router: NhdpRouter, now: float) -> dict[str, Any] | None:
    """`rawfwd show neighbors` (None without a MANET interface running NHDP): per
    interface, its relay algorithm, whether this node relays, its neighbours with their
    state, 2-hop neighbours, and the MPR choices both ways; `ignored`: HELLOs heard on an
    interface that does not run NHDP."""
    if not router.ports:
        return None
    interfaces = []
    for name, port in router.ports.items():
        if port.relay_for is None:
            relays = "all"
        elif port.relay_for:
            relays = f"for {len(port.relay_for)} neighbour(s)"
        else:
            relays = "none"
        neighbors = []
        for link in sorted(port.links.values(), key=lambda k: sorted(k.addresses)):
            neighbors.append(
                {
                    "address": _ip(min(link.addresses)),
                    "addresses": sorted(_ip(a) for a in link.node),
                    "mac": link.mac.hex(":"),
                    "status": link.status(now),
                    "two_hop": sorted(_ip(a) for a in link.two_hop),
                    "mpr": link.addresses <= port.mprs,
                    "mpr_selector": link.selects_us_until > now and link.sym_until > now,
                    "willingness": link.willingness,
                    "relay": _rssa_name(link.rssa),
                    "expires": round(link.hold_until - now, 3),
                }
            )
        interfaces.append(
            {
                "interface": name,
                "address": _ip(port.address) if port.address is not None else None,
                "relay": port.relay,
                "relays": relays,
                "in_cds": port.in_cds if port.relay in ("e-cds", "mpr-cds") else None,
                "neighbors": neighbors,
                "counters": dict(sorted(port.counters.items())),
            }
        )
    return {"interfaces": interfaces, "ignored": router.ignored}


_RSSA_NAME: Final = {code: name for name, code in RSSA.items()}


def _rssa_name(code: int | None) -> str | None:
    """The relay algorithm a neighbour says it runs (SMF_TYPE), None if it says none."""
    return None if code is None else _RSSA_NAME.get(code, f"unknown ({code})")


def _ip(address: bytes) -> str:
    return ".".join(str(b) for b in address) if len(address) == 4 else address.hex()


def hello_frame(mac: bytes, address: bytes, payload: bytes) -> bytes:
    """A HELLO as sent: to 224.0.0.109 and its MAC, TTL 1, UDP 269 to 269 with its
    checksum (RFC 5498, RFC 6130 section 11)."""
    udp = struct.pack("!HHHH", PORT, PORT, 8 + len(payload), 0) + payload
    header = ipv4_header(address, GROUP, ttl=1, payload_len=len(udp), proto=17)
    return complete_l4_checksum(ethernet_header(_HELLO_MAC, mac) + header + udp)
