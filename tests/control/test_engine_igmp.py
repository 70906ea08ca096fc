"""The engine forwarding by IGMP membership (RFC 3376 section 6.3) and as IGMP proxy (RFC 4605),
with injected time."""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.control import igmp
from rawfwd.control.engine import Engine, Output
from rawfwd.control.igmp import GroupRecord, Message, Query, RecordType, Report, V3Report
from tests.support.frames import (
    HOST_MAC,
    if_mac,
    ones_complement_checksum,
    rfc1112_mac,
    toml_config,
    udp_frame,
)

G = "239.1.1.1"
SSM = "232.1.1.1"
R = RecordType

ROUTER = """
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
{eth0}
[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.10/24"
igmp = true
{eth1}
[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
igmp = true
"""


def ip(text: str) -> int:
    return int(IPv4Address(text))


def router(eth0: str = "", eth1: str = "") -> Engine:
    r = Engine(toml_config(ROUTER.format(eth0=eth0, eth1=eth1)))
    r.handle_timer(0.0)  # the startup queries
    return r


def igmp_frame(src: str, dst: str, message: Message, *, mac: bytes = HOST_MAC) -> bytes:
    packet = igmp.ip_packet(ip(src), ip(dst), igmp.build(message))
    return rfc1112_mac(dst) + mac + b"\x08\x00" + packet


def report(r: Engine, iface: str, message: Message, now: float, src: str = "") -> list[bytes]:
    src = src or {"eth0": "10.0.0.5", "eth1": "10.1.0.5", "eth2": "10.2.0.5"}[iface]
    dst = "224.0.0.22" if isinstance(message, V3Report) else G
    if isinstance(message, Report) and message.leave:
        dst = "224.0.0.2"
    elif isinstance(message, Query):
        dst = "224.0.0.1"
    out = r.handle_frames(iface, [igmp_frame(src, dst, message)], now)
    return [f for _, fs in out.frames for f in fs]


_ident = iter(range(1, 1 << 16))


def send(r: Engine, iface: str, src: str, group: str = G, now: float = 0.0) -> Output:
    """One new packet (a new IP ID: never a duplicate) into the engine."""
    return r.handle_frames(iface, [udp_frame(src, group, ident=next(_ident))], now)


def data(r: Engine, iface: str, src: str, group: str = G, now: float = 0.0) -> set[str]:
    """Where one new packet goes."""
    return {name for name, frames in send(r, iface, src, group, now).frames if frames}


def parsed(frame: bytes) -> tuple[str, str, Message | igmp.BadIgmp]:
    ihl = (frame[14] & 0x0F) * 4
    src = str(IPv4Address(frame[26:30]))
    dst = str(IPv4Address(frame[30:34]))
    return src, dst, igmp.parse(frame[14 + ihl :])


def flow_of(
    r: Engine, src: str, group: str = G
) -> tuple[str | None, tuple[str, ...], dict[str, int]]:
    for f in r.snapshot(0.0).flows:
        if f.source == src and f.group == group:
            return f.route, f.oifs, {k.value: v for k, v in f.drops.items()}
    raise AssertionError(f"no flow ({src}, {group})")


def test_startup_queries_are_well_formed_igmp_from_each_interface() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="")))
    out = dict(r.handle_timer(0.0).frames)
    assert set(out) == {"eth1", "eth2"}  # only the igmp = true interfaces
    (frame,) = out["eth1"]
    assert frame[:6] == rfc1112_mac("224.0.0.1")
    assert frame[6:12] == if_mac("eth1")
    assert frame[22] == 1
    assert frame[23] == 2
    assert frame[34:38] == bytes((148, 4, 0, 0))  # Router Alert (RFC 2113)
    ihl = (frame[14] & 0x0F) * 4
    assert ones_complement_checksum(frame[14 : 14 + ihl]) == 0
    assert ones_complement_checksum(frame[14 + ihl :]) == 0
    src, dst, message = parsed(frame)
    assert (src, dst) == ("10.1.0.10", "224.0.0.1")
    assert message == Query(3, 0, 10.0, qrv=2, qqi=125)
    assert r.handle_timer(1.0).frames == []  # the next startup query is 31.25 s away
    assert r.next_timer() == 31.25


def test_traffic_flows_to_an_interface_only_while_it_has_members() -> None:
    r = router()
    assert data(r, "eth0", "10.0.0.5", now=1.0) == set()
    assert flow_of(r, "10.0.0.5")[2] == {"no_members": 1}
    report(r, "eth1", Report(2, ip(G)), 2.0)
    assert data(r, "eth0", "10.0.0.5", now=2.5) == {"eth1"}
    route, oifs, _ = flow_of(r, "10.0.0.5")
    assert (route, oifs) == ("igmp", ("eth1",))
    sent = report(r, "eth1", Report(2, ip(G), leave=True), 3.0)
    src, dst, query = parsed(sent[0])
    assert (src, dst) == ("10.1.0.10", G)
    assert isinstance(query, Query)
    assert query.group == ip(G)
    assert data(r, "eth0", "10.0.0.5", now=4.5) == {"eth1"}  # until LMQT (2 s) has passed
    assert [parsed(f)[1] for _, fs in r.handle_timer(4.0).frames for f in fs] == [
        G
    ]  # the second Q(G)
    r.handle_timer(5.0)
    assert data(r, "eth0", "10.0.0.5", now=5.1) == set()


def test_rpf_decides_which_interface_a_source_may_come_from() -> None:
    r = router()
    report(r, "eth1", Report(2, ip(G)), 1.0)
    report(r, "eth2", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "10.0.0.5", now=2.0) == {"eth1", "eth2"}
    assert data(r, "eth2", "10.0.0.6", now=2.0) == set()  # 10.0.0.0/24 is toward eth0
    assert flow_of(r, "10.0.0.6")[2] == {"wrong_if": 1}
    assert data(r, "eth2", "10.2.0.7", now=2.0) == {"eth1"}  # a source on eth2: not back
    assert data(r, "eth0", "192.0.2.1", now=2.0) == set()  # no route back: no_rpf
    assert flow_of(r, "192.0.2.1")[2] == {"no_rpf": 1}


def test_a_source_specific_member_gets_only_its_source() -> None:
    r = router()
    record = GroupRecord(R.ALLOW_NEW_SOURCES, ip(SSM), (ip("10.0.0.5"),))
    report(r, "eth2", V3Report((record,)), 1.0)
    assert data(r, "eth0", "10.0.0.5", SSM, now=2.0) == {"eth2"}
    assert data(r, "eth0", "10.0.0.6", SSM, now=2.0) == set()
    exclude = GroupRecord(R.CHANGE_TO_EXCLUDE, ip(G), (ip("10.0.0.6"),))
    report(r, "eth1", V3Report((exclude,)), 3.0)
    assert data(r, "eth0", "10.0.0.5", now=4.0) == {"eth1"}
    assert data(r, "eth0", "10.0.0.6", now=4.0) == set()


def test_members_add_to_a_static_route() -> None:
    route = '[[route]]\nfrom = "eth0"\ngroup = "239.1.1.1"\nto = ["eth2"]'
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="") + route))
    r.handle_timer(0.0)
    assert data(r, "eth0", "10.0.0.5", now=1.0) == {"eth2"}
    report(r, "eth1", Report(2, ip(G)), 2.0)
    assert data(r, "eth0", "10.0.0.5", now=3.0) == {"eth1", "eth2"}
    assert flow_of(r, "10.0.0.5")[0] == "(*, 239.1.1.1) from eth0 to eth2 + igmp"


def test_a_lower_querier_takes_over_and_only_the_querier_forwards() -> None:
    r = router()
    report(r, "eth1", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "10.0.0.5", now=1.5) == {"eth1"}
    report(r, "eth1", Query(3, 0, 10.0, qrv=2, qqi=125), 2.0, src="10.1.0.2")
    (view,) = [v for v in r.igmp_views(2.0) if v.name == "eth1"]
    assert (view.querier, view.is_querier) == ("10.1.0.2", False)
    assert data(r, "eth0", "10.0.0.5", now=2.5) == set()  # its link: the querier forwards
    # a higher address does not win
    report(r, "eth2", Query(3, 0, 10.0), 2.0, src="10.2.0.9")
    assert [v.is_querier for v in r.igmp_views(2.0) if v.name == "eth2"] == [True]
    # the other querier falls silent: 255 s after its query we query and forward again
    report(r, "eth1", Report(2, ip(G)), 200.0)
    assert r.handle_timer(256.9).frames == []
    assert [v.is_querier for v in r.igmp_views(256.9)] == [False, True]
    assert r.handle_timer(257.0).frames
    assert [v.is_querier for v in r.igmp_views(257.0)] == [True, True]
    assert data(r, "eth0", "10.0.0.5", now=257.5) == {"eth1"}


def test_listen_only_still_forwards_to_its_members() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="querier = false")))
    assert list(dict(r.handle_timer(0.0).frames)) == ["eth2"]  # eth1 never queries
    report(r, "eth1", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "10.0.0.5", now=2.0) == {"eth1"}


def raw_igmp(src: str, payload: bytes) -> bytes:
    """An IGMP packet around arbitrary `payload` (valid IP header), to G."""
    return rfc1112_mac(G) + HOST_MAC + b"\x08\x00" + igmp.ip_packet(ip(src), ip(G), payload)


def with_checksum(message: bytes) -> bytes:
    csum = ones_complement_checksum(message[:2] + b"\0\0" + message[4:])
    return message[:2] + csum.to_bytes(2, "big") + message[4:]


def test_bad_igmp_is_counted_and_never_forwarded() -> None:
    r = router()
    good = igmp.build(Report(2, ip(G)))
    bad_sum = raw_igmp("10.1.0.5", good[:2] + bytes((good[2] ^ 0xFF,)) + good[3:])
    truncated = raw_igmp("10.1.0.5", good[:4])
    unknown = raw_igmp("10.1.0.5", with_checksum(b"\x99" + good[1:]))
    not_multicast = raw_igmp("10.1.0.5", with_checksum(good[:4] + IPv4Address("10.9.9.9").packed))
    foreign = raw_igmp("192.0.2.5", good)
    out = r.handle_frames("eth1", [bad_sum, truncated, unknown, not_multicast, foreign], 1.0).frames
    assert out == []
    (view,) = [v for v in r.igmp_views(1.0) if v.name == "eth1"]
    counted = {
        k: view.counters[k]
        for k in ("bad_checksum", "truncated", "unknown_type", "bad_group", "foreign_source")
    }
    assert counted == dict.fromkeys(counted, 1)
    assert view.groups == ()
    snap = r.snapshot(1.0)
    assert snap.flows == ()
    assert snap.interfaces[1].igmp == 5


# -- the proxy -------------------------------------------------------------------------------

PROXY = {"eth0": "upstream = true"}


def upstream(out: list[tuple[str, list[bytes]]]) -> list[tuple[str, str, Message | igmp.BadIgmp]]:
    return [parsed(f) for name, fs in out if name == "eth0" for f in fs]


def test_the_proxy_reports_the_union_of_downstream_membership_upstream() -> None:
    r = router(**PROXY)
    sent = list(report(r, "eth1", Report(2, ip(G)), 1.0))
    got = [parsed(f) for f in sent if f[6:12] == if_mac("eth0")]
    assert got == [
        ("10.0.0.1", "224.0.0.22", V3Report((GroupRecord(R.CHANGE_TO_EXCLUDE, ip(G), ()),)))
    ]
    # retransmitted robustness times in all (RFC 3376 5.1), then quiet
    again = upstream(r.handle_timer(r.next_timer() or 0.0).frames)
    assert [m for _, _, m in again] == [got[0][2]]
    assert upstream(r.handle_timer(100.0).frames) == []
    # a second downstream INCLUDE member changes nothing: EXCLUDE({}) covers it
    record = GroupRecord(R.ALLOW_NEW_SOURCES, ip(G), (ip("192.0.2.9"),))
    assert (
        upstream(
            [
                (
                    "eth0",
                    [
                        f
                        for f in report(r, "eth2", V3Report((record,)), 101.0)
                        if f[6:12] == if_mac("eth0")
                    ],
                )
            ]
        )
        == []
    )
    assert [(g, m.value, s) for g, m, s in r.proxy_view().groups] == [(ip(G), "exclude", ())]  # type: ignore[union-attr]


def test_the_proxy_answers_queries_and_follows_an_older_querier() -> None:
    r = router(**PROXY)
    record = GroupRecord(R.ALLOW_NEW_SOURCES, ip(SSM), (ip("192.0.2.9"),))
    report(r, "eth2", V3Report((record,)), 1.0)
    r.handle_timer(50.0)
    report(r, "eth0", Query(3, 0, 10.0, qrv=2, qqi=125), 100.0, src="10.0.0.254")
    assert upstream(r.handle_timer(104.9).frames) == []
    answer = upstream(r.handle_timer(105.0).frames)  # the draw (0.5) of Max Resp Time 10 s
    assert answer == [
        (
            "10.0.0.1",
            "224.0.0.22",
            V3Report((GroupRecord(R.MODE_IS_INCLUDE, ip(SSM), (ip("192.0.2.9"),)),)),
        )
    ]
    report(r, "eth0", Query(2, 0, 10.0), 200.0, src="10.0.0.254")
    answer = upstream(r.handle_timer(205.0).frames)
    assert answer == []  # RFC 4604: a v2 querier hears no report naming 232.1.1.1
    assert dict(r.proxy_view().counters)["ssm_withheld"] == 1  # type: ignore[union-attr]
    assert r.proxy_view().version == 2  # type: ignore[union-attr]


def test_the_proxy_forwards_down_to_members_and_downstream_sources_up() -> None:
    r = router(**PROXY)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    # from upstream: no RPF check (the upstream is toward every source)
    assert data(r, "eth0", "198.51.100.7", now=2.0) == {"eth1"}
    # a source on a downstream link: up, and to the other downstream members
    report(r, "eth2", Report(2, ip(G)), 3.0)
    assert data(r, "eth1", "10.1.0.5", now=4.0) == {"eth0", "eth2"}
    assert data(r, "eth1", "10.2.0.66", now=4.0) == set()  # fails RPF: not from eth1


def test_a_static_route_is_not_held_back_while_members_wait_for_the_fib() -> None:
    route = '[[route]]\nfrom = "eth0"\ngroup = "239.1.1.1"\nto = ["eth2"]'
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="") + route), live=True)
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    # live mode: RPF toward the source comes from the kernel FIB, asked for now
    out = send(r, "eth0", "10.0.0.5", now=2.0)
    assert [name for name, _ in out.frames] == ["eth2"]  # the route does not wait
    assert out.rpf_lookups == [ip("10.0.0.5")]
    assert r.set_rpf({ip("10.0.0.5"): "eth0"}, 2.1).frames == []
    assert data(r, "eth0", "10.0.0.5", now=2.2) == {"eth1", "eth2"}


def test_frames_held_for_the_fib_go_to_members_when_it_answers() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="")), live=True)
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "10.0.0.5", now=2.0) == set()  # held: RPF unknown yet
    sent = r.set_rpf({ip("10.0.0.5"): "eth0"}, 2.1)
    assert [t.egress for t in sent.transmits()] == ["eth1"]
    assert flow_of(r, "10.0.0.5")[2] == {}  # held, not dropped


def test_an_rpf_entry_overrides_where_a_source_is() -> None:
    rpf = '[[rpf]]\nprefix = "192.0.2.0/24"\niif = "eth0"'
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="") + rpf))
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "192.0.2.1", now=2.0) == {"eth1"}  # no connected route: [[rpf]]
    assert data(r, "eth2", "192.0.2.2", now=2.0) == set()
    assert flow_of(r, "192.0.2.2")[2] == {"wrong_if": 1}


def test_a_reload_keeps_the_groups_and_dropping_igmp_stops_member_forwarding() -> None:
    r = router()
    report(r, "eth1", Report(2, ip(G)), 1.0)
    r.reconfigure(toml_config(ROUTER.format(eth0="", eth1="query_interval = 60")))
    assert data(r, "eth0", "10.0.0.5", now=2.0) == {"eth1"}  # the group survived
    (eth1,) = [v for v in r.igmp_views(2.0) if v.name == "eth1"]
    assert [g.group for g in eth1.groups] == [ip(G)]
    without = ROUTER.format(eth0="", eth1="").replace('10.1.0.10/24"\nigmp = true', '10.1.0.10/24"')
    r.reconfigure(toml_config(without))
    assert [v.name for v in r.igmp_views(3.0)] == ["eth2"]
    assert data(r, "eth0", "10.0.0.5", now=3.0) == set()


def test_listen_only_follows_a_higher_querier_and_its_specific_queries() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="querier = false")))
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    report(r, "eth1", Query(3, 0, 10.0, qrv=2, qqi=125), 3.0, src="10.1.0.200")
    (view,) = [v for v in r.igmp_views(3.0) if v.name == "eth1"]
    assert view.querier == "10.1.0.200"  # higher than ours, but it is the one querying
    report(r, "eth1", Report(2, ip(G), leave=True), 10.0)
    for t in (10.0, 11.0):  # its Q(G)s lower our group timer to 2 x 1 s (RFC 3376 6.6.1)
        report(r, "eth1", Query(3, ip(G), 1.0, qrv=2, qqi=125), t, src="10.1.0.200")
    r.handle_timer(11.9)  # the first lowered it to 10 + 2 s; the second cannot raise it
    assert data(r, "eth0", "10.0.0.5", now=11.9) == {"eth1"}
    r.handle_timer(12.0)
    assert data(r, "eth0", "10.0.0.5", now=12.0) == set()


def test_an_interface_without_an_address_still_runs_its_membership_timers() -> None:
    text = ROUTER.format(eth0="", eth1="").replace('address = "10.1.0.10/24"\n', "")
    r = Engine(toml_config(text.replace('10.2.0.1/24"\nigmp = true', '10.2.0.1/24"')))
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 1.0)
    assert data(r, "eth0", "10.0.0.5", now=2.0) == {"eth1"}
    # the membership interval: no query, still a timer
    assert r.igmp.next_timer() == 1.0 + 260.0
    r.handle_timer(261.0)
    assert data(r, "eth0", "10.0.0.5", now=262.0) == set()


def test_flows_waiting_for_the_fib_beyond_its_limit_are_asked_for_later() -> None:
    from rawfwd.core.rpf import MAX_RPF_PENDING

    route = '[[route]]\nfrom = "eth0"\ngroup = "239.1.1.1"\nto = ["eth2"]'
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="") + route), live=True)
    r.handle_timer(0.0)
    report(r, "eth1", Report(2, ip(G)), 0.5)
    sources = [f"10.0.0.{n}" for n in range(2, 2 + MAX_RPF_PENDING + 6)]
    asked = []
    for source in sources:
        out = send(r, "eth0", source, now=1.0)
        assert [name for name, _ in out.frames] == ["eth2"]  # the route does not wait
        asked += out.rpf_lookups
    assert len(asked) == MAX_RPF_PENDING
    rest = r.set_rpf(dict.fromkeys(asked, "eth0"), 2.0).rpf_lookups
    assert sorted(rest) == sorted(ip(s) for s in sources[MAX_RPF_PENDING:])
    r.set_rpf(dict.fromkeys(rest, "eth0"), 3.0)
    assert data(r, "eth0", sources[-1], now=4.0) == {"eth1", "eth2"}


def test_a_reload_that_switches_querying_on_sends_the_startup_queries() -> None:
    r = Engine(toml_config(ROUTER.format(eth0="", eth1="querier = false")))
    r.handle_timer(0.0)
    r.reconfigure(toml_config(ROUTER.format(eth0="", eth1="")))
    assert r.next_timer() == float("-inf")  # a reload is acted on at once
    sent = [parsed(f) for name, fs in r.handle_timer(5.0).frames if name == "eth1" for f in fs]
    assert [(src, dst) for src, dst, _ in sent] == [("10.1.0.10", "224.0.0.1")]


def test_a_reload_that_makes_us_listen_only_forwards_at_once() -> None:
    r = router()
    report(r, "eth1", Query(3, 0, 10.0, qrv=2, qqi=125), 1.0, src="10.1.0.2")
    report(r, "eth1", Report(2, ip(G)), 1.5)
    assert data(r, "eth0", "10.0.0.5", now=2.0) == set()  # the other router's link
    r.reconfigure(toml_config(ROUTER.format(eth0="", eth1="querier = false")))
    assert data(r, "eth0", "10.0.0.5", now=2.5) == {"eth1"}  # no poll needed


def test_traffic_from_a_local_application_is_not_a_drop_with_igmp_on() -> None:
    r = router()
    out = r.handle_frames("eth0", [udp_frame("10.0.0.1", G)], 1.0, outgoing=(0,)).frames
    assert out == []
    assert r.snapshot(1.0).drops == {}


def test_moving_the_upstream_tells_the_old_upstream_router_we_left() -> None:
    r = router(eth0="upstream = true")
    report(r, "eth1", Report(2, ip(G)), 1.0)
    moved = ROUTER.format(eth0="", eth1="") + '[interface.eth3]\nmac = "02:00:00:00:00:04"\n'
    moved += 'address = "10.3.0.1/24"\nupstream = true\n'
    r.reconfigure(toml_config(moved))
    out = dict(r.handle_timer(2.0).frames)
    (old,) = [parsed(f) for f in out["eth0"]]
    assert old[2] == V3Report((GroupRecord(R.CHANGE_TO_INCLUDE, ip(G), ()),))
    assert [parsed(f)[2] for f in out["eth3"]] == [
        V3Report((GroupRecord(R.CHANGE_TO_EXCLUDE, ip(G), ()),))
    ]


def test_bad_igmp_upstream_is_counted_and_reports_from_any_subnet_of_the_link_count() -> None:
    r = router(eth0="upstream = true")
    good = igmp.build(Report(2, ip(G)))
    bad = good[:2] + bytes((good[2] ^ 0xFF,)) + good[3:]
    r.handle_frames("eth0", [raw_igmp("10.0.0.254", bad)], 1.0)
    assert dict(r.proxy_view().counters) == {"bad_checksum": 1}  # type: ignore[union-attr]
    r.set_address("eth1", r.igmp._ports["eth1"].address, [])
    report(r, "eth1", Report(2, ip(G)), 2.0, src="172.16.0.5")
    assert [v.groups for v in r.igmp_views(2.0) if v.name == "eth1"] == [()]
    from ipaddress import IPv4Interface, IPv4Network

    nets = [IPv4Network("10.1.0.0/24"), IPv4Network("172.16.0.0/24")]
    r.set_address("eth1", IPv4Interface("10.1.0.10/24"), nets)  # a secondary subnet
    report(r, "eth1", Report(2, ip(G)), 3.0, src="172.16.0.5")
    assert [len(v.groups) for v in r.igmp_views(3.0) if v.name == "eth1"] == [1]


def test_members_a_silent_querier_leaves_unserved_are_said_once() -> None:
    # another router wins the election on eth1 and never forwards: say so, once
    from rawfwd.control.unserved import HOLD

    r = router()
    report(r, "eth1", Query(3, 0, 10.0, qrv=2, qqi=125), 1.0, src="10.1.0.2")
    report(r, "eth1", Report(2, ip(G)), 1.5)
    notices: list[str] = []
    t = 2.0
    while t < 2.0 + HOLD + 1.0:
        assert data(r, "eth0", "10.0.0.5", now=t) == set()  # the querier's link: not ours
        notices += r.handle_timer(t).notices
        t += 0.5
    assert len(notices) == 1
    assert "10.1.0.2" in notices[0]
    (eth1,) = [v for v in r.igmp_views(t) if v.name == "eth1"]
    assert eth1.unserved
    assert r.igmp_json(t)["interfaces"][0]["unserved"] is True  # type: ignore[index]
