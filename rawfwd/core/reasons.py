"""Why a frame was not forwarded: the drop reasons the counters, UI and `show` use."""

from __future__ import annotations

from enum import Enum


class DropReason(Enum):
    """A reason a frame (or all its copies) was dropped. The value is the name users see."""

    NOT_IP = "not_ip"  #: not an Ethernet II IPv4 or IPv6 frame (ARP, VLAN-tagged, LLDP)
    TRUNCATED = "truncated"  #: shorter than the Ethernet + IPv4 headers it claims
    BAD_VERSION = "bad_version"  #: ethertype IPv4 but version field is not 4
    BAD_IHL = "bad_ihl"  #: IHL below 5 words (RFC 791)
    BAD_LENGTH = "bad_length"  #: total length shorter than the header
    BAD_CHECKSUM = "bad_checksum"  #: IPv4 header checksum does not verify (RFC 1071)
    BAD_SOURCE = "bad_source"  #: source in 0/8, 127/8, 224/4 or 240/4 (RFC 1812 5.3.7)
    #: an IPv6 extension-header chain that runs past the packet, an option past its
    #: header, hop-by-hop not first, or more headers than followed (RFC 8200 section 4)
    BAD_EXT_HEADER = "bad_ext_header"
    NOT_MULTICAST = "not_multicast"  #: destination outside 224.0.0.0/4
    UNKNOWN_IF = "unknown_if"  #: arrived on an interface the config does not name
    LINK_LOCAL = "link_local"  #: 224.0.0.0/24 without an explicit route (RFC 5771 4)
    NO_ROUTE = "no_route"  #: no forwarding state for (S,G)
    NO_MEMBERS = "no_members"  #: no static route, and no IGMP member wants it
    WRONG_IF = "wrong_if"  #: RPF failure: arrived on other than the route's `from`
    NO_RPF = "no_rpf"  #: no unicast route back to the source: RPF cannot pass
    UNRESOLVED = "unresolved"  #: RPF lookup pending and its small queue full or timed out
    NO_EGRESS = "no_egress"  #: the route's outgoing interfaces are all unavailable
    DUPLICATE = "duplicate"  #: seen within the duplicate window (RFC 6621 section 6)
    #: our own packet heard back from the mesh: sent from one of our MACs or addresses
    OWN_ECHO = "own_echo"
    #: not relayed on the mesh: this node is not in the relay set for the packet's previous
    #: hop (S-MPR) or not in the dominating set (E-CDS, MPR-CDS), RFC 6621 section 8
    NOT_RELAY = "not_relay"
    TTL = "ttl"  #: arriving TTL <= 1: may not leave the link
    THRESHOLD = "threshold"  #: TTL not above any outgoing interface's threshold

    @property
    def malformed(self) -> bool:
        """True for reasons that mean the frame itself is broken."""
        return self in _MALFORMED


_MALFORMED = frozenset(
    {
        DropReason.TRUNCATED,
        DropReason.BAD_VERSION,
        DropReason.BAD_IHL,
        DropReason.BAD_LENGTH,
        DropReason.BAD_CHECKSUM,
        DropReason.BAD_SOURCE,
        DropReason.BAD_EXT_HEADER,
    }
)
