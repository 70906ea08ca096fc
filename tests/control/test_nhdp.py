"""NHDP (RFC 6130) and the relay sets it feeds (RFC 6621), with injected time: link states
from HELLOs exchanged in memory, expiry, MPR selection (RFC 7181 section 18), E-CDS and
MPR-CDS on hand-made topologies, and the saving on the grid the end-to-end test uses."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.control import rfc5444
from rawfwd.control.nhdp import (
    LINK_STATUS,
    LOST,
    MPR,
    RSSA,
    SMF_TYPE,
    SYMMETRIC,
    WILL_ALWAYS,
    WILL_DEFAULT,
    WILL_NEVER,
    Link,
    NhdpPort,
    ecds_member,
    mpr_cds_member,
    router_id,
    select_mprs,
    willingness_of,
)
from rawfwd.control.rfc5444 import Message, Packet, Tlv

from .test_rfc5444 import messages


def addr(n: int) -> bytes:
    return bytes([10, 0, 0, n])


def mac(n: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, n])


class Net:
    """Nodes 1..n, each with one NHDP port, hearing exactly their neighbours."""

    def __init__(self, edges: Iterable[tuple[int, int]], relay: str = "flood") -> None:
        self.hears: dict[int, set[int]] = {}
        for a, b in edges:
            self.hears.setdefault(a, set()).add(b)
            self.hears.setdefault(b, set()).add(a)
        self.ports = {n: NhdpPort("radio0", relay=relay) for n in self.hears}
        for n, port in self.ports.items():
            port.address = addr(n)
        self.silent: set[int] = set()

    def round(self, now: float, order: Iterable[int] | None = None) -> None:
        """Every node that is not silent sends one HELLO, heard by its neighbours."""
        for n in order or sorted(self.ports):
            if n in self.silent:
                continue
            payload = self.ports[n].hello(now)
            for m in self.hears[n]:
                self.ports[m].on_packet(payload, addr(n), mac(n), now)
        for port in self.ports.values():  # as the engine's timer does after a burst
            port.settle(now)

    def flood(self, source: int) -> tuple[int, set[int]]:
        """One packet from `source`: transmissions, and the nodes it reached (duplicate
        detection on every node; relaying as each node's relay set says)."""
        reached = {source}
        queue = [source]
        sent = 0
        while queue:
            sender = queue.pop(0)
            sent += 1
            for n in sorted(self.hears[sender]):
                if n in reached:
                    continue  # a duplicate: dropped
                reached.add(n)
                relay_for = self.ports[n].relay_for
                if relay_for is None or mac(sender) in relay_for:
                    queue.append(n)
        return sent, reached


def status(port: NhdpPort, n: int, now: float) -> str | None:
    link = port.links.get(frozenset([addr(n)]))
    return None if link is None else link.status(now)


def test_two_nodes_become_symmetric_within_two_hellos_each() -> None:
    net = Net([(1, 2)])
    net.round(0.0, [1])
    assert status(net.ports[2], 1, 0.0) == "heard"  # 1 does not know 2 yet
    net.round(0.0, [2])
    assert status(net.ports[1], 2, 0.0) == "symmetric"  # 2 listed 1 as heard
    assert status(net.ports[2], 1, 0.0) == "heard"
    net.round(2.0, [1])
    assert status(net.ports[2], 1, 2.0) == "symmetric"
    assert net.ports[2].links[frozenset([addr(1)])].mac == mac(1)


def test_a_silent_neighbour_is_advertised_lost_then_forgotten() -> None:
    net = Net([(1, 2)])
    for t in (0.0, 2.0):
        net.round(t)
    net.silent.add(2)
    port = net.ports[1]
    assert status(port, 2, 7.9) == "symmetric"  # heard at 2.0, validity 6 s
    assert status(port, 2, 8.1) == "lost"
    hello = rfc5444.decode(port.hello(8.1))
    assert isinstance(hello, Packet)
    block = hello.messages[0].blocks[1]
    assert block.addresses == (addr(2),)
    assert block.values(LINK_STATUS) == [bytes([LOST])]
    port.poll(14.1)  # held a validity time after it was last heard, then gone
    assert port.links == {}


def test_a_neighbour_that_says_it_lost_us_is_not_symmetric_at_once() -> None:
    net = Net([(1, 2)])
    for t in (0.0, 2.0):
        net.round(t)
    lost = Message(
        0,
        4,
        (Tlv(1, 0, bytes([rfc5444.time_code(6.0)])),),
        (
            rfc5444.AddressBlock((addr(2),), (Tlv(2, 0, b"\x00"),)),
            rfc5444.AddressBlock((addr(1),), (Tlv(LINK_STATUS, 0, bytes([LOST])),)),
        ),
    )
    net.ports[1].on_packet(rfc5444.encode(Packet((lost,))), addr(2), mac(2), 3.0)
    assert status(net.ports[1], 2, 3.0) == "heard"
    assert net.ports[1].next_timer() == float("-inf")  # relays to choose again at once


def test_bad_hellos_are_counted_by_reason_and_change_nothing() -> None:
    port = NhdpPort("radio0")
    port.address = addr(1)
    no_validity = rfc5444.encode(Packet((Message(0, 4),)))
    own = NhdpPort("radio0")
    own.address = addr(1)
    for payload in (b"\xff", no_validity, own.hello(0.0)):
        assert not port.on_packet(payload, addr(2), mac(2), 0.0)
    assert port.counters == {
        "malformed: unknown version": 1,
        "not one validity time": 1,
        "our own HELLO": 1,
    }
    assert port.links == {}


def test_on_a_line_the_middle_node_is_both_ends_mpr_and_relays_for_them_alone() -> None:
    net = Net([(1, 2), (2, 3)], relay="s-mpr")
    for t in (0.0, 2.0, 4.0):
        net.round(t)
    assert net.ports[1].mprs == {addr(2)}
    assert net.ports[3].mprs == {addr(2)}
    assert net.ports[2].mprs == frozenset()  # no strict 2-hop neighbour to cover
    assert net.ports[2].relay_for == frozenset({mac(1), mac(3)})
    assert net.ports[1].relay_for == frozenset()
    hello = rfc5444.decode(net.ports[1].hello(4.0))
    assert isinstance(hello, Packet)
    assert hello.messages[0].blocks[1].values(MPR) == [b"\x01"]  # advertised to 2


def link(
    n: int,
    two_hop: Iterable[int],
    willingness: int = 7,
    priority: int = 64,
    rssa: int | None = RSSA["e-cds"],
    more: Iterable[int] = (),
) -> Link:
    """Neighbour n (with other addresses `more`), symmetric, running `rssa`."""
    return Link(
        frozenset([addr(n)]),
        frozenset([addr(n), *(addr(m) for m in more)]),
        mac(n),
        sym_until=100.0,
        heard_until=100.0,
        hold_until=200.0,
        two_hop={addr(m): 100.0 for m in two_hop},
        willingness=willingness,
        priority=priority,
        rssa=rssa,
    )


def test_mpr_selection_covers_every_strict_two_hop_neighbour_with_few_relays() -> None:
    # me = 1; neighbours 2, 3, 4; 2 reaches 5 and 6, 3 reaches 6 and 7, 4 reaches 7 only
    # and also neighbour 3 (not a strict 2-hop neighbour): 5 forces 2, then 3 covers 7
    links = [link(2, [5, 6]), link(3, [6, 7]), link(4, [7, 3])]
    assert select_mprs(links, addr(1)) == {addr(2), addr(3)}
    # a neighbour unwilling to relay is never chosen; one always willing always is
    links = [link(2, [5], willingness=0), link(3, [5]), link(4, [], willingness=15)]
    assert select_mprs(links, addr(1)) == {addr(3), addr(4)}
    assert select_mprs([link(2, [1])], addr(1)) == frozenset()  # only us beyond it


@pytest.mark.parametrize(
    ("me", "links", "relay"),
    [
        (2, [link(1, []), link(3, [])], True),  # a line's middle: its ends need it
        (1, [link(2, [3])], False),  # a line's end: one neighbour
        (3, [link(1, [2]), link(2, [1])], True),  # a triangle: the best node relays
        (1, [link(2, [3]), link(3, [2])], False),  # the others can do without it
        # a square 1-2-3-4-1: 1 and 3 are reached from 4 through 2? no: 2 < 3 ...
        (3, [link(2, [1]), link(4, [1])], True),  # ... 3 beats nothing but 4, yet no
        # path from 4 to 2 goes through nodes better than 3: 3 relays
        (1, [link(2, [3]), link(4, [3])], False),  # 4 reaches 2 through 3, better than 1
    ],
)
def test_ecds_membership_on_hand_made_topologies(me: int, links: list[Link], relay: bool) -> None:
    assert ecds_member((64, addr(me)), links) is relay


def test_ecds_counts_only_on_neighbours_known_to_run_it() -> None:
    """RFC 6621 A.3: a neighbour that runs another algorithm (or none we know of: an
    olsrd2 router sends no SMF_TYPE) may not relay, so no path is assumed through it; a
    classical flooder always relays."""
    # a triangle 1-2-3 where 2 and 3 beat 1: 1 is no relay if they run E-CDS ...
    assert ecds_member((64, addr(1)), [link(2, [3]), link(3, [2])]) is False
    # ... and if 2 and 3 are S-MPR or unknown routers, neither counts: 1 relays
    unknown = [link(2, [3], rssa=None), link(3, [2], rssa=RSSA["s-mpr"])]
    assert ecds_member((64, addr(1)), unknown) is True
    # a flooder outranks any priority: with one as the best neighbour, 1 can rest
    flooders = [link(2, [3], priority=0, rssa=RSSA["flood"]), link(3, [2], priority=0)]
    assert ecds_member((127, addr(9)), flooders) is False


def test_a_neighbour_is_ranked_by_its_largest_address_and_known_by_all() -> None:
    """RFC 6621 A.4 / C.4: the Router ID is the largest address; B.1: a neighbour also
    listed as a 2-hop neighbour (under another of its addresses) is a neighbour only."""
    two = link(2, [3], more=[20])
    assert router_id(two) == addr(20)
    # 1's neighbours 2 (also 10.0.0.20) and 3; 3 lists 2 by its other address: a
    # triangle, not a path to a stranger 10.0.0.20; 2 (as 20) beats 1 and reaches 3
    three = link(3, [20])
    assert ecds_member((64, addr(15)), [two, three]) is False
    assert mpr_cds_member((64, addr(15)), [two, three], [two]) is True  # 2 (20) chose 15


def test_an_smf_priority_is_read_as_one_octet_with_its_top_bit_reserved() -> None:
    port = NhdpPort("radio0", relay="e-cds")
    port.address = addr(1)

    def heard(value: bytes | None, ext: int, n: int) -> Link:
        hello = Message(
            0,
            4,
            (Tlv(1, 0, b"\x50"), Tlv(SMF_TYPE, ext, value)),
            (),
            originator=addr(n),
        )
        port.on_packet(rfc5444.encode(Packet((hello,))), addr(n), mac(n), 0.0)
        (found,) = [k for k in port.links.values() if addr(n) in k.addresses]
        return found

    assert heard(bytes([0x80 | 100]), RSSA["e-cds"], 2).priority == 100
    assert heard(bytes([100, 1]), RSSA["e-cds"], 3).priority == 64  # not one octet
    assert heard(None, RSSA["e-cds"], 4).priority == 64
    # RFC 6621 B.3: an S-MPR router without MPR_WILLING: its priority is its willingness
    assert heard(bytes([0]), RSSA["s-mpr"], 5).willingness == WILL_NEVER
    assert heard(None, RSSA["s-mpr"], 6).willingness == WILL_DEFAULT
    assert heard(bytes([127]), RSSA["s-mpr"], 7).willingness == WILL_ALWAYS
    assert heard(bytes([127]), RSSA["e-cds"], 8).willingness == WILL_NEVER  # E-CDS: no


def test_willingness_of_a_priority_keeps_its_order() -> None:
    values = [willingness_of(p) for p in range(128)]
    assert values == sorted(values)
    assert (values[0], values[64], values[127]) == (WILL_NEVER, WILL_DEFAULT, WILL_ALWAYS)
    assert set(values[1:127]) == set(range(1, 15))


def test_a_classical_flooder_is_always_among_the_mprs() -> None:
    """RFC 6621 B.4 step 5: it relays everything anyway."""
    links = [link(2, [5]), link(3, [], willingness=0, rssa=RSSA["flood"])]
    assert select_mprs(links, addr(1)) == {addr(2), addr(3)}


def test_mpr_cds_membership_is_the_best_node_or_the_best_neighbours_mpr() -> None:
    line_end = [link(2, [3])]
    # RFC 6621 C.4 A: no neighbour chose it as MPR: no relay, even as the best node
    assert mpr_cds_member((64, addr(3)), line_end, []) is False
    assert mpr_cds_member((64, addr(3)), line_end, line_end) is True  # beats its neighbour
    assert mpr_cds_member((64, addr(1)), line_end, []) is False
    middle = [link(1, []), link(3, [])]
    assert mpr_cds_member((64, addr(2)), middle, [middle[1]]) is True  # 3 chose it
    assert mpr_cds_member((64, addr(2)), middle, [middle[0]]) is False  # only 1 did


def grid(side: int) -> list[tuple[int, int]]:
    """A side x side grid where each node hears the 8 around it (diagonals too)."""
    edges = []
    for r in range(side):
        for c in range(side):
            n = r * side + c + 1
            for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < side and 0 <= cc < side:
                    edges.append((n, rr * side + cc + 1))
    return edges


def test_reduced_relay_sets_reach_every_node_of_the_grid_for_fewer_transmissions() -> None:
    sent: dict[str, int] = {}
    for relay in ("flood", "s-mpr", "e-cds", "mpr-cds"):
        net = Net(grid(4), relay=relay)
        for t in (0.0, 2.0, 4.0):
            net.round(t)
        assert all(status(net.ports[a], b, 4.0) == "symmetric" for a, b in grid(4)), (
            "neighbours symmetric within 3 HELLO intervals"
        )
        sent[relay], reached = net.flood(1)
        assert reached == set(range(1, 17)), relay
    assert sent["flood"] == 16
    assert sent["s-mpr"] <= 0.75 * sent["flood"]
    assert sent["e-cds"] <= 0.75 * sent["flood"]
    assert sent["mpr-cds"] < sent["flood"]


def test_a_relay_set_follows_a_broken_link_within_the_validity_time() -> None:
    net = Net([(1, 2), (2, 3), (1, 4), (4, 3)], relay="s-mpr")  # a square: 1 reaches 3 twice
    for t in (0.0, 2.0, 4.0):
        net.round(t)
    (first,) = net.ports[1].mprs  # one of 2 and 4 suffices
    broken = first[3]
    net.hears[1].discard(broken)
    net.hears[broken].discard(1)
    t = 6.0
    while t <= 4.0 + 6.0 + 2.0:  # within a validity time (+ one HELLO) of the break
        net.round(t)
        t += 2.0
    net.ports[1].poll(t)
    assert net.ports[1].mprs == {addr(6 - broken)}
    assert net.flood(1)[1] == {1, 2, 3, 4}


@settings(max_examples=200, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=3), st.binary(max_size=40))
def test_any_packet_a_neighbour_sends_changes_state_or_is_counted_never_raises(
    msgs: list[Message], junk: bytes
) -> None:
    """Well-formed RFC 5444 of any content (and junk), as HELLOs from a neighbour: the
    port learns what it can and counts the rest; its own HELLO still encodes."""
    port = NhdpPort("radio0", relay="e-cds")
    port.address = addr(1)
    hello = [m._replace(type=0, tlvs=(*m.tlvs, Tlv(1, 0, b"\x64"))) for m in msgs]
    for payload in (
        rfc5444.encode(Packet(tuple(msgs))),
        rfc5444.encode(Packet(tuple(hello))),
        junk,
    ):
        port.on_packet(payload, addr(2), mac(2), 1.0)
    port.poll(2.0)
    assert isinstance(rfc5444.decode(port.hello(2.0)), Packet)
    assert sum(port.counters.values()) >= 1


def _hello_from(n: int, *, local: int = 1, neighbours: int = 0, tlvs: int = 0) -> bytes:
    """A HELLO from 10.0.0.n listing `local` LOCAL_IF addresses (THIS_IF), `neighbours`
    symmetric neighbours, and `tlvs` extra LINK_STATUS TLVs on that block."""
    locals_ = tuple(bytes([10, 1, i // 256, i % 256]) for i in range(local - 1))
    blocks = [rfc5444.AddressBlock((addr(n), *locals_)[:127], (Tlv(2, 0, b"\x00"),))]
    for start in range(0, neighbours, 127):
        part = tuple(
            bytes([10, 2, i // 256, i % 256]) for i in range(start, min(neighbours, start + 127))
        )
        extra = tuple(Tlv(LINK_STATUS, 0, b"\x01") for _ in range(tlvs))
        blocks.append(rfc5444.AddressBlock(part, (Tlv(LINK_STATUS, 0, b"\x01"), *extra)))
    blocks.append(rfc5444.AddressBlock((addr(1),), (Tlv(LINK_STATUS, 0, b"\x02"),)))
    message = Message(0, 4, (Tlv(1, 0, bytes([rfc5444.time_code(6.0)])),), tuple(blocks))
    return rfc5444.encode(Packet((message,)))


def test_a_crowd_of_neighbours_is_bounded_and_our_hello_still_fits_a_frame() -> None:
    """Hostile or broken neighbours cannot make us hold, list or compute without bound."""
    from rawfwd.control.nhdp import MAX_LINKS, MAX_TWO_HOP, hello_frame

    port = NhdpPort("radio0", relay="e-cds")
    port.address = addr(1)
    for n in range(2, 202):  # 200 neighbours, each claiming 300 symmetric neighbours
        src = bytes([10, 0, n // 256, n % 256])
        port.on_packet(_hello_from(n, neighbours=300), src, mac(n % 250), 1.0)
    port.settle(1.0)
    assert len(port.links) == MAX_LINKS
    assert all(len(link.two_hop) <= MAX_TWO_HOP for link in port.links.values())
    assert port.counters["too many neighbours"] == 200 - MAX_LINKS
    assert port.counters["too many 2-hop neighbours"] > 0
    frame = hello_frame(mac(1), addr(1), port.hello(1.0))
    assert len(frame) <= 1514  # an Ethernet frame: it can go out


def test_hellos_with_too_many_local_addresses_or_tlvs_are_refused() -> None:
    port = NhdpPort("radio0")
    port.address = addr(1)
    assert not port.on_packet(_hello_from(2, local=100), addr(2), mac(2), 1.0)
    assert not port.on_packet(_hello_from(3, neighbours=5, tlvs=40), addr(3), mac(3), 1.0)
    assert port.counters == {
        "too many local addresses": 1,
        "too many TLVs in an address block": 1,
    }
    assert port.links == {}


def test_an_mpr_is_never_chosen_for_willingness_alone() -> None:
    # 2 and 3 both reach only 5 (2 more willing); 4 and 8 both reach only 6: once 2 is
    # chosen, 3 covers nothing new and must not be chosen despite its willingness
    links = [link(2, [5], willingness=12), link(3, [5], willingness=10)]
    links += [link(4, [6]), link(8, [6])]
    assert select_mprs(links, addr(1)) == {addr(2), addr(8)}


def test_an_address_listed_in_two_blocks_keeps_what_each_says() -> None:
    """RFC 5444 lets a message list an address in more than one block: its TLVs add up."""
    net = Net([(1, 2)], relay="s-mpr")
    net.round(0.0)
    validity = (Tlv(1, 0, bytes([rfc5444.time_code(6.0)])),)
    blocks = (
        rfc5444.AddressBlock((addr(2),), (Tlv(2, 0, b"\x00"),)),
        rfc5444.AddressBlock((addr(1),), (Tlv(LINK_STATUS, 0, bytes([SYMMETRIC])),)),
        rfc5444.AddressBlock((addr(1),), (Tlv(MPR, 0, b"\x01"),)),
    )
    hello = rfc5444.encode(Packet((Message(0, 4, validity, blocks),)))
    port = net.ports[1]
    port.on_packet(hello, addr(2), mac(2), 1.0)
    port.settle(1.0)
    assert status(port, 2, 1.0) == "symmetric"
    assert port.relay_for == frozenset({mac(2)})  # it chose us, in the second block
