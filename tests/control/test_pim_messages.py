"""PIM messages (rawfwd.control.pim): round trips, the RFC 7761 section 4.9 layouts checked
against scapy's independent encoder, PIM-DM's (RFC 3973 4.7) against the RFC's layout, and
no bytes that make `parse` raise."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.pim import (
    PIMv2GroupAddrs,
    PIMv2Hdr,
    PIMv2Hello,
    PIMv2HelloDRPriority,
    PIMv2HelloGenerationID,
    PIMv2HelloHoldtime,
    PIMv2HelloLANPruneDelay,
    PIMv2HelloLANPruneDelayValue,
    PIMv2JoinAddrs,
    PIMv2JoinPrune,
    PIMv2PruneAddrs,
)
from scapy.packet import raw

from rawfwd.control import pim
from rawfwd.control.pim import (
    Assert,
    BadPim,
    Graft,
    GroupSet,
    Hello,
    JoinPrune,
    Register,
    RegisterStop,
    Source,
    StateRefresh,
)
from rawfwd.core.wire import internet_checksum


def a(text: str) -> int:
    return int(IPv4Address(text))


MESSAGES = [
    Hello(105, 1, 0x12345678, (False, 500, 2500)),
    Hello(0xFFFF, None, None, None, (a("10.9.0.1"), a("10.9.0.2"))),
    Hello(0),  # "forget me now" (RFC 7761 section 4.3.1)
    JoinPrune(
        a("10.0.0.1"),
        210,
        (
            GroupSet(a("239.1.1.1"), joins=(Source(a("10.0.0.100"), wildcard=True, rpt=True),)),
            GroupSet(
                a("239.2.2.2"),
                joins=(Source(a("10.1.0.5")),),
                prunes=(Source(a("10.1.0.6"), rpt=True),),
            ),
        ),
    ),
    JoinPrune(a("10.0.0.1"), 0),
    RegisterStop(a("239.1.1.1"), a("10.1.0.5")),
    Assert(a("239.1.1.1"), a("10.1.0.5"), False, 110, 20),
    Assert(a("239.1.1.1"), 0, True, 0x7FFFFFFF, 0xFFFFFFFF),
    Register(bytes(range(40))),
    Register(bytes(20), null=True),
    Hello(105, None, 7, (False, 500, 2500), state_refresh=60),  # PIM-DM (RFC 3973 4.7.5)
    Graft(a("10.0.0.1"), (GroupSet(a("239.1.1.1"), joins=(Source(a("10.1.0.5"), sparse=False),)),)),
    Graft(
        a("10.0.0.7"),
        (GroupSet(a("239.1.1.1"), joins=(Source(a("10.1.0.5"), sparse=False),)),),
        ack=True,
    ),
    StateRefresh(a("239.1.1.1"), a("10.1.0.5"), a("10.1.0.1"), 0, 0, 24, 15, True, False, True, 60),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: pim.Message) -> None:
    data = pim.build(message)
    assert data[0] == 0x20 | pim.PimType[_type_name(message)]
    assert pim.parse(data) == message


def _type_name(message: pim.Message) -> str:
    if isinstance(message, Graft):
        return "GRAFT_ACK" if message.ack else "GRAFT"
    return {
        Hello: "HELLO",
        JoinPrune: "JOIN_PRUNE",
        Register: "REGISTER",
        RegisterStop: "REGISTER_STOP",
        Assert: "ASSERT",
        StateRefresh: "STATE_REFRESH",
    }[type(message)]


def test_checksums() -> None:
    hello = pim.build(MESSAGES[0])
    assert internet_checksum(hello) == 0
    register = pim.build(Register(b"\x45" + bytes(27)))
    assert internet_checksum(register[:8]) == 0  # RFC 7761 4.9.3: header and flags only
    flipped = hello[:-1] + bytes([hello[-1] ^ 1])
    assert pim.parse(flipped) == BadPim("bad_checksum", pim.PimType.HELLO)


def test_hello_matches_scapy() -> None:
    theirs = raw(
        PIMv2Hdr(type=0)
        / PIMv2Hello(
            option=[
                PIMv2HelloHoldtime(holdtime=105),
                PIMv2HelloLANPruneDelay(
                    value=[
                        PIMv2HelloLANPruneDelayValue(
                            t=0, propagation_delay=500, override_interval=2500
                        )
                    ]
                ),
                PIMv2HelloDRPriority(dr_priority=7),
                PIMv2HelloGenerationID(generation_id=0xCAFE),
            ]
        )
    )
    ours = pim.build(Hello(105, 7, 0xCAFE, (False, 500, 2500)))
    assert _unsummed(ours) == _unsummed(theirs)
    assert pim.parse(ours) == Hello(105, 7, 0xCAFE, (False, 500, 2500))


def _unsummed(data: bytes) -> bytes:
    """Without its checksum: scapy sums PIM only under an IP layer."""
    return data[:2] + b"\0\0" + data[4:]


def test_join_prune_matches_scapy() -> None:
    theirs = raw(
        PIMv2Hdr(type=3)
        / PIMv2JoinPrune(
            up_neighbor_ip="10.0.0.1",
            holdtime=210,
            jp_ips=[
                PIMv2GroupAddrs(
                    gaddr="239.1.1.1",
                    join_ips=[PIMv2JoinAddrs(sparse=1, wildcard=1, rpt=1, src_ip="10.0.0.100")],
                    prune_ips=[PIMv2PruneAddrs(sparse=1, wildcard=0, rpt=1, src_ip="10.1.0.6")],
                )
            ],
        )
    )
    message = JoinPrune(
        a("10.0.0.1"),
        210,
        (
            GroupSet(
                a("239.1.1.1"),
                joins=(Source(a("10.0.0.100"), wildcard=True, rpt=True),),
                prunes=(Source(a("10.1.0.6"), rpt=True),),
            ),
        ),
    )
    assert _unsummed(pim.build(message)) == _unsummed(theirs)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x20\x00", "truncated"),
        (b"\x10\x00\xef\xff", "bad_version"),
        (pim.build(Hello(105))[:-1], "bad_checksum"),
        (pim._with_header(pim.PimType.HELLO, b"\x00\x01\x00\x03abc"), "bad_option"),
        (pim._with_header(pim.PimType.HELLO, b"\x00\x01\x00\x08ab"), "truncated"),
        (pim._with_header(pim.PimType.JOIN_PRUNE, b"\x02\x00" + bytes(8)), "bad_address"),
        (
            pim._with_header(pim.PimType.JOIN_PRUNE, b"\x01\x00" + bytes(5) + b"\x01\x00\x00"),
            "truncated",
        ),
        (pim._with_header(pim.PimType.ASSERT, bytes(10)), "truncated"),
        (pim._with_header(pim.PimType.BOOTSTRAP, bytes(10)), "unknown_type"),
        (pim._with_header(pim.PimType.STATE_REFRESH, bytes(31)), "truncated"),
        (pim._with_header(pim.PimType.STATE_REFRESH, bytes(32)), "bad_address"),
        (pim._with_header(pim.PimType.GRAFT, b"\x02\x00" + bytes(8)), "bad_address"),
    ],
)
def test_malformed_is_named(data: bytes, reason: str) -> None:
    found = pim.parse(data)
    assert isinstance(found, BadPim)
    assert found.reason == reason


def test_dense_mode_layouts() -> None:
    """RFC 3973 4.7: a Graft is a Join/Prune with type 6 (a Graft-Ack 7); a State Refresh
    is 36 bytes, the P, N, O bits at the top of its 35th byte; Hello option 21 carries
    version 1 and the interval."""
    graft = MESSAGES[-3]
    assert isinstance(graft, Graft)
    join = JoinPrune(graft.upstream, 0, graft.groups)
    assert pim.build(graft)[0] == 0x26
    assert pim.build(graft)[4:] == pim.build(join)[4:]
    assert pim.build(MESSAGES[-2])[0] == 0x27
    refresh = pim.build(MESSAGES[-1])
    assert len(refresh) == 36
    assert refresh[0] == 0x29
    assert refresh[12:18] == b"\x01\x00" + IPv4Address("10.1.0.5").packed
    assert refresh[18:24] == b"\x01\x00" + IPv4Address("10.1.0.1").packed
    assert refresh[32:36] == bytes((24, 15, 0x80 | 0x20, 60))
    hello = pim.build(MESSAGES[-4])
    assert b"\x00\x15\x00\x04\x01\x3c\x00\x00" in hello


def test_unknown_hello_options_are_skipped() -> None:
    """RFC 7761 section 4.9.2: an option this router does not know is ignored."""
    body = b"\x00\x16\x00\x04abcd" + b"\x00\x01\x00\x02\x00\x69"  # 22: Bidir (RFC 5015)
    assert pim.parse(pim._with_header(pim.PimType.HELLO, body)) == Hello(holdtime=105)


def test_address_list_skips_other_families() -> None:
    """FRR lists its IPv6 addresses in the address list option (family 2, 16 bytes)."""
    v4 = bytes((1, 0)) + IPv4Address("10.9.0.1").packed
    v6 = bytes((2, 0)) + bytes.fromhex("fe80" + "00" * 12 + "0001")
    odd = bytes((9, 0, 1, 2))  # a family of unknown size: the list ends there
    value = v6 + v4 + odd + v4
    body = b"\x00\x18" + len(value).to_bytes(2, "big") + value
    assert pim.parse(pim._with_header(pim.PimType.HELLO, body)) == Hello(secondary=(a("10.9.0.1"),))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_no_bytes_raise(data: bytes) -> None:
    found = pim.parse(data)
    assert isinstance(found, (BadPim, *pim.Message.__args__))  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MESSAGES), st.data())
def test_no_mutation_raises(message: pim.Message, data: st.DataObject) -> None:
    """Real messages with bytes changed, checksums fixed so the parser reads past them."""
    raw_message = bytearray(pim.build(message))
    at = data.draw(st.integers(4, len(raw_message) - 1))
    raw_message[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(4, len(raw_message)))
    body = bytes(raw_message[4:cut])
    kind = pim.PimType(raw_message[0] & 0x0F)
    found = pim.parse(pim._with_header(kind, body))
    assert isinstance(found, (BadPim, *pim.Message.__args__))  # type: ignore[attr-defined]
