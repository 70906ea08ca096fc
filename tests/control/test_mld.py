"""MLD messages (RFC 2710, RFC 3810) against scapy's own: what scapy builds parses to the
message it is, what rawfwd builds scapy decodes with a valid checksum, the Maximum
Response Code float, and no input that raises."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6MLDMultAddrRec,
    ICMPv6MLDone,
    ICMPv6MLQuery,
    ICMPv6MLQuery2,
    ICMPv6MLReport,
    ICMPv6MLReport2,
    IPv6,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from rawfwd.control import mld
from rawfwd.control.igmp import BadIgmp, GroupRecord, Query, RecordType, Report, V3Report
from rawfwd.core.addr import from_packed
from rawfwd.core.wire6 import Ipv6Packet, frame_problem6

HOST = "fe80::5"
ROUTER = "fe80::1"
GROUP = "ff0e::1:1"
S1, S2 = "2001:db8::5", "2001:db8::6"


def a(text: str) -> int:
    return from_packed(IPv6Address(text).packed)


def p(text: str) -> bytes:
    return IPv6Address(text).packed


def icmp_of(packet: Packet, src: str, dst: str) -> bytes:
    """The ICMPv6 bytes of a scapy MLD message, its checksum computed by scapy."""
    whole = bytes(IPv6(src=src, dst=dst) / packet)
    return whole[40:]


@pytest.mark.parametrize(
    ("packet", "src", "dst", "expected"),
    [
        (ICMPv6MLReport(mladdr=GROUP), HOST, GROUP, Report(2, a(GROUP))),
        (ICMPv6MLDone(mladdr=GROUP), HOST, "ff02::2", Report(2, a(GROUP), leave=True)),
        (ICMPv6MLQuery(mrd=10000), ROUTER, "ff02::1", Query(2, 0, 10.0)),
        (ICMPv6MLQuery(mrd=1000, mladdr=GROUP), ROUTER, GROUP, Query(2, a(GROUP), 1.0)),
        (
            ICMPv6MLQuery2(mrd=10000, QRV=2, QQIC=125, mladdr="::"),
            ROUTER,
            "ff02::1",
            Query(3, 0, 10.0, qrv=2, qqi=125),
        ),
        (
            ICMPv6MLQuery2(mrd=1000, mladdr=GROUP, sources=[S1, S2], S=1, QRV=2, QQIC=125),
            ROUTER,
            GROUP,
            Query(3, a(GROUP), 1.0, (a(S1), a(S2)), suppress=True, qrv=2, qqi=125),
        ),
        (
            ICMPv6MLReport2(
                records=[
                    ICMPv6MLDMultAddrRec(rtype=1, dst=GROUP, sources=[S1]),
                    ICMPv6MLDMultAddrRec(rtype=4, dst="ff05::2"),
                ]
            ),
            HOST,
            "ff02::16",
            V3Report(
                (
                    GroupRecord(RecordType.MODE_IS_INCLUDE, a(GROUP), (a(S1),)),
                    GroupRecord(RecordType.CHANGE_TO_EXCLUDE, a("ff05::2"), ()),
                )
            ),
        ),
    ],
)
def test_what_scapy_builds_parses_to_the_message_it_is(
    packet: Packet, src: str, dst: str, expected: object
) -> None:
    data = icmp_of(packet, src, dst)
    assert mld.parse(data, p(src), p(dst)) == expected
    rebuilt = mld.build(expected, p(src), p(dst))  # type: ignore[arg-type]
    assert mld.parse(rebuilt, p(src), p(dst)) == expected
    # scapy decodes ours with its checksum right
    decoded = IPv6(bytes(IPv6(src=src, dst=dst, nh=58, plen=len(rebuilt))) + rebuilt)
    layer = decoded.payload
    sent = layer.cksum
    del layer.cksum
    assert IPv6(bytes(decoded)).payload.cksum == sent


def test_a_wrong_checksum_group_or_length_is_named() -> None:
    good = icmp_of(ICMPv6MLReport(mladdr=GROUP), HOST, GROUP)
    assert mld.parse(good[:2] + b"\0\0" + good[4:], p(HOST), p(GROUP)) == BadIgmp("bad_checksum")
    assert mld.parse(good, p(HOST), p("ff0e::9")) == BadIgmp("bad_checksum")  # pseudo-header
    unicast = icmp_of(ICMPv6MLReport(mladdr="2001:db8::1"), HOST, GROUP)
    assert mld.parse(unicast, p(HOST), p(GROUP)) == BadIgmp("bad_group")
    assert mld.parse(good[:20], p(HOST), p(GROUP)) == BadIgmp("truncated")
    echo = bytes((128, 0)) + bytes(22)
    assert mld.parse(echo, p(HOST), p(GROUP)) == BadIgmp("unknown_type")


@pytest.mark.parametrize(("ms", "code"), [(0, 0), (10000, 10000), (32767, 32767), (32768, 0x8000)])
def test_maximum_response_codes(ms: int, code: int) -> None:
    assert mld.encode_max_resp(ms) == code
    assert mld.decode_max_resp(code) == ms


@given(st.integers(min_value=0, max_value=9_000_000))
def test_a_max_resp_code_never_says_more_than_asked(ms: int) -> None:
    code = mld.encode_max_resp(ms)
    assert mld.decode_max_resp(code) <= ms
    assert 0 <= code <= 0xFFFF


def test_a_sent_query_is_what_rfc_3810_section_5_asks_for() -> None:
    message = mld.build(Query(3, 0, 10.0, qrv=2, qqi=125), p(ROUTER), mld.ALL_NODES)
    packet = mld.ip_packet(p(ROUTER), mld.ALL_NODES, message)
    frame = bytes(Ether(dst="33:33:00:00:00:01")) + packet
    frame = frame[:12] + b"\x86\xdd" + frame[14:]
    found = frame_problem6(frame, len(frame))
    assert isinstance(found, Ipv6Packet)
    assert (found.upper, found.router_alert, frame[21]) == (58, True, 1)
    assert mld.check(frame, found, mld.MldType.QUERY) is None
    decoded = Ether(frame)
    assert IPv6ExtHdrHopByHop in decoded
    assert decoded[ICMPv6MLQuery2].QQIC == 125


def test_what_a_received_message_must_carry() -> None:
    def frame(src: str, hlim: int, alert: bool) -> tuple[bytes, Ipv6Packet]:
        layers: Packet = IPv6(src=src, dst="ff02::16", hlim=hlim)
        if alert:
            layers = layers / IPv6ExtHdrHopByHop(options=[mld_alert()])
        data = bytes(Ether() / layers / ICMPv6MLReport2())
        found = frame_problem6(data, len(data))
        assert isinstance(found, Ipv6Packet)
        return data, found

    kind = mld.MldType.V2_REPORT
    assert mld.check(*frame(HOST, 1, True), kind) is None
    assert mld.check(*frame("::", 1, True), kind) is None  # no address yet: may report
    assert mld.check(*frame(HOST, 2, True), kind) == "bad_hop_limit"
    assert mld.check(*frame(HOST, 1, False), kind) == "no_router_alert"
    assert mld.check(*frame(S1, 1, True), kind) == "not_link_local"


def mld_alert() -> Packet:
    from scapy.layers.inet6 import RouterAlert

    return RouterAlert(value=0)


@given(st.binary(max_size=300))
def test_any_bytes_parse_to_a_message_or_a_reason(data: bytes) -> None:
    for kind in (130, 131, 132, 143):
        found = mld.parse(bytes((kind,)) + data, p(HOST), p(GROUP))
        assert found is not None
