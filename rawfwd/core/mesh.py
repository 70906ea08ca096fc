"""MANET forwarding rules (RFC 6621): which interfaces flood a group, and whether to relay.

Theory of operation:

- An interface with `manet = true` floods (RFC 6621 section 8.1, Classical Flooding): a
  packet to one of its `groups` arriving on any MANET interface is sent on every MANET
  interface whose groups hold it, the arrival interface included (same-interface
  retransmission is what a radio mesh needs, and what kernel multicast routing cannot do).
  Duplicate detection (RFC 6621 section 6), not RPF, is what ends the flood.
- 224.0.0.0/24 is link-local (RFC 5771 section 4): flooded only by a `groups` entry that
  lies inside it, the same opt-in routes need.
- Whether this node relays a frame at all is decided in one place, `RelayPolicy.verdict`,
  which sees the previous hop's MAC: frames sent from one of our own interfaces are our
  own echoes, never relayed. Reduced relay sets (S-MPR, E-CDS: RFC 6621 section 8.2-8.3)
  decide by the previous hop too, and plug in there.
"""

from __future__ import annotations

from collections.abc import Iterable

from .addr import Network, net_mask
from .reasons import DropReason
from .table import is_link_local, link_local_len


class FloodGroups:
    """The groups one MANET interface floods, as (network, mask, may_be_link_local)."""

    __slots__ = ("_entries",)

    def __init__(self, groups: Iterable[Network]) -> None:
        entries = []
        for g in groups:
            net, mask = net_mask(g)
            entries.append((net, mask, g.prefixlen >= link_local_len(net) and is_link_local(net)))
        self._entries = tuple(entries)

    def floods(self, group: int) -> bool:
        """True if a packet to `group` is flooded here (once per flow, not per packet)."""
        link_local = is_link_local(group)
        return any(
            group & mask == net and (inside or not link_local)
            for net, mask, inside in self._entries
        )


class RelayPolicy:
    """Whether this node relays a frame it heard on a MANET interface, by its previous hop.

    Classical Flooding relays every frame, except our own transmissions heard back (a
    neighbour's radio or a bridge reflecting them): RFC 6621 section 5 forwards only what
    other nodes sent. Called per packet of a MANET flow, so it stays one set probe.
    """

    __slots__ = ("own_macs",)

    def __init__(self, own_macs: Iterable[bytes] = ()) -> None:
        self.own_macs = frozenset(own_macs)

    def verdict(self, previous_hop: bytes) -> DropReason | None:
        """None to relay; else why not. `previous_hop` is the frame's source MAC."""
        if previous_hop in self.own_macs:
            return DropReason.OWN_ECHO
        return None
