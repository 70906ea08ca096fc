"""NHDP against HELLOs shaped as OONF's olsrd2 0.15.1 sends them (the facts measured for
the NHDP issue: olsrd2 is not packaged for Debian and cannot be built here, so its wire
shape is rebuilt from those facts): message type 0 with an originator and no hop limit,
hop count or sequence number; MPR_WILLING; private message TLVs 226 and 227; LOCAL_IF for
every interface address; LINK_STATUS and OTHER_NEIGHB; several LINK_METRIC copies with
different direction flags; the MPR TLV on every neighbour as a bit field (RFC 7188: 0 none,
1 flooding, 2 routing, 3 both); index ranges and multi-value TLVs. And the other way: what
olsrd2 needs in ours before it selects us as flooding MPR."""

from __future__ import annotations

import pytest

from rawfwd.control import rfc5444
from rawfwd.control.nhdp import (
    INTERVAL_TIME,
    LINK_METRIC,
    LINK_STATUS,
    LOCAL_IF,
    MPR,
    MPR_WILLING,
    OTHER_NEIGHB,
    SYMMETRIC,
    THIS_IF,
    VALIDITY_TIME,
    WILL_NEVER,
    NhdpPort,
)
from rawfwd.control.rfc5444 import AddressBlock, Message, Packet, Tlv

US = bytes([10, 0, 0, 1])
OLSR = bytes([10, 0, 0, 2])  #: olsrd2's address on this link
OLSR_LAN = bytes([192, 168, 7, 1])  #: its address on another interface (LOCAL_IF = OTHER_IF)
FAR = bytes([10, 0, 0, 3])  #: a neighbour of olsrd2 that we do not hear
OLSR_MAC = bytes([2, 0, 0, 0, 0, 2])
OTHER_IF = 1


def olsrd2_hello(mpr_bits: int, seq: int = 7, willing: int = 0x77) -> bytes:
    """An olsrd2 HELLO that lists us as a symmetric link and FAR as a symmetric neighbour
    heard on another of its interfaces, with `mpr_bits` on us."""
    metric = rfc5444.metric_code(1024)
    local = AddressBlock(
        (OLSR, OLSR_LAN),
        (Tlv(LOCAL_IF, 0, bytes([THIS_IF, OTHER_IF]), start=0, stop=1, multivalue=True),),
    )
    neighbours = AddressBlock(
        (US, FAR),
        (
            Tlv(LINK_STATUS, 0, bytes([SYMMETRIC]), start=0, stop=0),
            Tlv(OTHER_NEIGHB, 0, bytes([SYMMETRIC]), start=1, stop=1),
            # one copy per direction flag (link in, neighbour out), only where known
            Tlv(LINK_METRIC, 0, (0x8000 | metric).to_bytes(2, "big"), start=0, stop=0),
            Tlv(LINK_METRIC, 0, (0x1000 | metric).to_bytes(2, "big"), start=0, stop=1),
            Tlv(MPR, 0, bytes([mpr_bits, 0]), start=0, stop=1, multivalue=True),
        ),
    )
    message = Message(
        0,
        4,
        (
            Tlv(INTERVAL_TIME, 0, bytes([rfc5444.time_code(2.0)])),
            Tlv(VALIDITY_TIME, 0, bytes([rfc5444.time_code(20.0)])),
            Tlv(MPR_WILLING, 0, bytes([willing])),
            Tlv(227, 0, b"\x00\x01\x02\x03"),  # OONF's private TLVs: read past, ignored
            Tlv(226, 1, b"\x10"),
        ),
        (local, neighbours),
        originator=OLSR,
    )
    return rfc5444.encode(Packet((message,), seqnum=seq))


def _port(relay: str = "s-mpr") -> NhdpPort:
    port = NhdpPort("radio0", relay=relay)
    port.address = US
    return port


def test_the_hello_decodes_as_olsrd2_shapes_it() -> None:
    """The stand-in is what the issue describes (so the tests below read that shape)."""
    packet = rfc5444.decode(olsrd2_hello(1))
    assert isinstance(packet, Packet)
    assert packet.seqnum == 7
    (m,) = packet.messages
    assert (m.hop_limit, m.hop_count, m.seqnum, m.originator) == (None, None, None, OLSR)
    assert [t.type for t in m.blocks[1].tlvs].count(LINK_METRIC) == 2


@pytest.mark.parametrize(("bits", "selects_us"), [(0, False), (1, True), (2, False), (3, True)])
def test_an_olsrd2_router_is_a_symmetric_neighbour_whose_mpr_bits_are_a_bit_field(
    bits: int, selects_us: bool
) -> None:
    port = _port()
    assert port.on_packet(olsrd2_hello(bits), OLSR, OLSR_MAC, 0.0)
    port.settle(0.0)
    (link,) = port.links.values()
    assert link.status(0.0) == "symmetric"
    assert link.node == {OLSR, OLSR_LAN}  # both its interfaces are one neighbour
    assert set(link.two_hop) == {FAR}
    assert (link.selects_us_until > 0.0) is selects_us  # only the flooding bit counts
    assert port.relay_for == (frozenset({OLSR_MAC}) if selects_us else frozenset())
    assert set(port.counters) == {"hellos"}  # nothing refused, the private TLVs ignored


def test_olsrd2s_willingness_lets_us_choose_it_and_its_absence_does_not() -> None:
    """Willingness 7 in both nibbles: an MPR candidate, chosen to reach FAR; 0 never."""
    port = _port()
    port.on_packet(olsrd2_hello(0), OLSR, OLSR_MAC, 0.0)
    port.settle(0.0)
    assert port.mprs == {OLSR}
    unwilling = _port()
    unwilling.on_packet(olsrd2_hello(0, willing=0x00), OLSR, OLSR_MAC, 0.0)
    unwilling.settle(0.0)
    (link,) = unwilling.links.values()
    assert link.willingness == WILL_NEVER
    assert unwilling.mprs == frozenset()


def test_our_hello_carries_what_olsrd2_needs_to_choose_us_as_flooding_mpr() -> None:
    """A packet sequence number, MPR_WILLING above never (both nibbles: olsrd2 reads the
    low one, RFC 7188 the high one), VALIDITY_TIME, and a LINK_METRIC on the symmetric
    link with link and neighbour flags; and the MPR TLV with the flooding bit on olsrd2
    once we chose it."""
    port = _port()
    port.on_packet(olsrd2_hello(0), OLSR, OLSR_MAC, 0.0)
    port.settle(0.0)
    packet = rfc5444.decode(port.hello(0.5))
    assert isinstance(packet, Packet)
    assert packet.seqnum is not None
    (m,) = packet.messages
    willing = m.tlv(MPR_WILLING)
    assert willing is not None
    assert (willing[0] >> 4, willing[0] & 0x0F) != (WILL_NEVER, WILL_NEVER)
    assert WILL_NEVER not in (willing[0] >> 4, willing[0] & 0x0F)
    assert m.tlv(VALIDITY_TIME)
    block = next(b for b in m.blocks if OLSR in b.addresses)
    i = block.addresses.index(OLSR)
    assert block.values(LINK_STATUS)[i] == bytes([SYMMETRIC])
    metric = block.values(LINK_METRIC)[i]
    assert metric is not None
    flags = int.from_bytes(metric, "big") >> 12
    assert flags & 0b1010 == 0b1010  # link incoming and neighbour incoming
    assert rfc5444.metric_value(int.from_bytes(metric, "big") & 0x0FFF) < 0xFFFFFF
    assert block.values(MPR)[i] == b"\x01"
