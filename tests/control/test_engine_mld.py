"""The engine as MLD router (RFC 3810, RFC 2710 compatibility), with injected time: its
queries, forwarding IPv6 by listeners, leaves ending traffic within the last listener
query time, SSM (RFC 4607), and what a received MLD message must carry."""

from __future__ import annotations

from ipaddress import IPv6Address

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6MLQuery2, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from rawfwd.control import mld
from rawfwd.control.engine import Engine
from rawfwd.control.igmp import GroupRecord, Message, RecordType, Report, V3Report
from rawfwd.core.addr import from_packed
from tests.support.frames import toml_config

G = "ff0e::1:1"
SSM = "ff3e::8000:1"
HOST = "fe80::5"
S1, S2 = "2001:db8::5", "2001:db8::6"
HOST_MAC = bytes.fromhex("020000000099")
R = RecordType

ROUTER = """
[interface.eth0]
mac = "02:00:00:00:00:01"
{eth0}
[interface.eth1]
mac = "02:00:00:00:00:02"
mld = true
{eth1}

[[rpf]]  # replay knows no IPv6 interface networks: the sources' side, said outright
prefix = "2001:db8::/32"
iif = "eth0"
"""


def a(text: str) -> int:
    return from_packed(IPv6Address(text).packed)


def p(text: str) -> bytes:
    return IPv6Address(text).packed


def router(eth1: str = "") -> Engine:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1=eth1)))
    r.handle_timer(0.0)  # the startup queries
    return r


def mld_frame(message: Message, dst: str, *, src: str = HOST, hlim: int = 1) -> bytes:
    packet = bytearray(mld.ip_packet(p(src), p(dst), mld.build(message, p(src), p(dst))))
    packet[7] = hlim
    return b"\x33\x33" + p(dst)[12:] + HOST_MAC + b"\x86\xdd" + bytes(packet)


def join(r: Engine, records: tuple[GroupRecord, ...], now: float) -> None:
    r.handle_frames("eth1", [mld_frame(V3Report(records), "ff02::16")], now)


_n = iter(range(1 << 30))


def data(r: Engine, src: str, group: str = G, now: float = 0.0) -> set[str]:
    """Where one new IPv6 packet from `src` to `group` arriving on eth0 goes."""
    frame = bytes(
        Ether(dst="33:33:00:00:00:01", src="02:00:00:00:00:77")
        / IPv6(src=src, dst=group, hlim=8)
        / UDP(sport=1, dport=2)
        / Raw(b"%d" % next(_n))
    )
    out = r.handle_frames("eth0", [frame], now)
    return {name for name, frames in out.frames if frames}


def test_the_router_queries_from_its_link_local_address_as_rfc_3810_says() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="")))
    out = r.handle_timer(0.0)
    (query,) = [f for name, frames in out.frames if name == "eth1" for f in frames]
    decoded = Ether(query)
    assert decoded.dst == "33:33:00:00:00:01"
    assert decoded[IPv6].hlim == 1
    assert decoded[IPv6].src == "fe80::ff:fe00:2"  # modified EUI-64 of 02:00:00:00:00:02
    assert IPv6ExtHdrHopByHop in decoded
    q = decoded[ICMPv6MLQuery2]
    assert (q.mladdr, q.mrd, q.QRV, q.QQIC) == ("::", 10000, 2, 125)
    sent = q.cksum
    del q.cksum
    assert Ether(bytes(decoded))[ICMPv6MLQuery2].cksum == sent


def test_listeners_decide_where_ipv6_goes_and_a_leave_ends_it_in_time() -> None:
    r = router()
    assert data(r, S1) == set()
    join(r, (GroupRecord(R.CHANGE_TO_EXCLUDE, a(G), ()),), 1.0)
    assert data(r, S1, now=1.1) == {"eth1"}
    join(r, (GroupRecord(R.CHANGE_TO_INCLUDE, a(G), ()),), 2.0)  # the last listener leaves
    assert data(r, S1, now=2.1) == {"eth1"}  # until the last listener query time passes
    for t in (3.0, 4.0, 4.1):
        r.handle_timer(t)
    assert data(r, S1, now=4.2) == set()  # 2 queries 1 s apart: gone at 4.0


def test_an_mldv1_listener_and_its_done() -> None:
    r = router()
    r.handle_frames("eth1", [mld_frame(Report(2, a(G)), G)], 1.0)
    assert data(r, S2, now=1.1) == {"eth1"}
    r.handle_frames("eth1", [mld_frame(Report(2, a(G), leave=True), "ff02::2")], 2.0)
    for t in (3.0, 4.0, 4.1):
        r.handle_timer(t)
    assert data(r, S2, now=4.2) == set()


def test_an_ssm_listener_gets_only_its_source() -> None:
    r = router()
    join(r, (GroupRecord(R.ALLOW_NEW_SOURCES, a(SSM), (a(S1),)),), 1.0)
    assert data(r, S1, SSM, now=1.1) == {"eth1"}
    assert data(r, S2, SSM, now=1.2) == set()
    # an any-source join of an SSM group is ignored (RFC 4604 2.2.4)
    join(r, (GroupRecord(R.CHANGE_TO_EXCLUDE, a(SSM), ()),), 1.3)
    assert data(r, S2, SSM, now=1.4) == set()


def test_a_report_without_hop_limit_1_or_from_off_link_is_ignored_and_counted() -> None:
    r = router()
    record = (GroupRecord(R.CHANGE_TO_EXCLUDE, a(G), ()),)
    r.handle_frames("eth1", [mld_frame(V3Report(record), "ff02::16", hlim=2)], 1.0)
    r.handle_frames("eth1", [mld_frame(V3Report(record), "ff02::16", src=S2)], 1.0)
    assert data(r, S1, now=1.1) == set()
    doc = r.igmp_json(1.1)
    assert doc is not None
    (eth1,) = doc["interfaces"]
    assert (eth1["protocol"], eth1["version"]) == ("mld", 2)
    assert eth1["counters"]["bad_hop_limit"] == 1
    assert eth1["counters"]["not_link_local"] == 1


def test_ipv4_members_and_ipv6_listeners_do_not_mix() -> None:
    r = Engine(toml_config(ROUTER.format(eth0='address = "10.0.0.1/24"', eth1="igmp = true")))
    r.handle_timer(0.0)
    join(r, (GroupRecord(R.CHANGE_TO_EXCLUDE, a(G), ()),), 1.0)
    assert data(r, S1, now=1.1) == {"eth1"}
    doc = r.igmp_json(1.1)
    assert doc is not None
    assert sorted(i["protocol"] for i in doc["interfaces"]) == ["igmp", "mld"]


PROXY = """
[interface.up0]
mac = "02:00:00:00:00:0a"
upstream = true
[interface.eth1]
mac = "02:00:00:00:00:02"
mld = true
"""


def sent_mld(out_frames: list[tuple[str, list[bytes]]], iface: str) -> list[tuple[str, object]]:
    """(destination, message) of each MLD message sent on `iface`."""
    found = []
    for name, frames in out_frames:
        for frame in frames:
            if name != iface or frame[12:14] != b"\x86\xdd":
                continue
            src, dst = frame[22:38], frame[38:54]
            at = 14 + 40 + 8  # after the hop-by-hop Router Alert
            found.append((str(IPv6Address(dst)), mld.parse(frame[at:], src, dst)))
    return found


def test_as_mld_proxy_it_reports_upstream_and_forwards_down_without_rpf() -> None:
    """RFC 4605 for MLD: the merged downstream listening is reported on the upstream
    interface (to ff02::16, from its link-local address), traffic from upstream goes down
    to listeners with no RPF check, and the leave is reported too."""
    r = Engine(toml_config(PROXY))
    r.handle_timer(0.0)
    record = GroupRecord(R.CHANGE_TO_EXCLUDE, a(G), ())
    out = r.handle_frames("eth1", [mld_frame(V3Report((record,)), "ff02::16")], 1.0)
    told = sent_mld(out.frames, "up0")
    assert told == [("ff02::16", V3Report((record,)))]
    frame = bytes(
        Ether(dst="33:33:00:01:00:01", src="02:00:00:00:00:77")
        / IPv6(src="2001:db8:77::5", dst=G, hlim=8)
        / UDP(sport=1, dport=2)
        / Raw(b"from upstream")
    )
    assert {n for n, f in r.handle_frames("up0", [frame], 1.1).frames if f} == {"eth1"}
    leave = GroupRecord(R.CHANGE_TO_INCLUDE, a(G), ())
    r.handle_frames("eth1", [mld_frame(V3Report((leave,)), "ff02::16")], 2.0)
    reported: list[tuple[str, object]] = []
    for t in (2.5, 3.0, 3.5, 4.0, 5.0):
        reported += sent_mld(r.handle_timer(t).frames, "up0")
    assert ("ff02::16", V3Report((leave,))) in reported
    doc = r.igmp_json(5.0)
    assert doc is not None
    assert (doc["proxy"]["upstream"], doc["mld_proxy"]["upstream"]) == ("up0", "up0")
    assert doc["mld_proxy"]["groups"] == []  # the leave was told


def test_the_lowest_link_local_address_is_the_querier() -> None:
    """RFC 3810 section 7.6.2: a query from a lower address makes us a non-querier (and,
    on a shared link, leaves forwarding to it); one from a higher address does not."""
    from rawfwd.control.igmp import Query

    r = router()
    higher = mld_frame(Query(3, 0, 10.0, qrv=2, qqi=125), "ff02::1", src="fe80::1:0:0:0:1")
    r.handle_frames("eth1", [higher], 1.0)
    doc = r.igmp_json(1.0)
    assert doc is not None
    assert doc["interfaces"][0]["is_querier"] is True
    lower = mld_frame(Query(3, 0, 10.0, qrv=2, qqi=125), "ff02::1", src="fe80::1")
    r.handle_frames("eth1", [lower], 2.0)
    doc = r.igmp_json(2.0)
    assert doc is not None
    (eth1,) = doc["interfaces"]
    assert (eth1["is_querier"], eth1["querier"]) == (False, "fe80::1")
