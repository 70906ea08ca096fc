"""PIM-DM through the engine (replay mode, injected time), RFC 3973 section 4: flooding,
prunes (at once on a point-to-point link, after the override interval on a LAN), the
upstream Prune when nothing wants S, graft and graft-ack, join override, state refresh,
asserts. Each test names the state table row it checks.

    S 10.9.0.5 ... U 10.0.0.2 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- LAN: routers 10.1.0.7,
                                                                      10.1.0.8; hosts
                                                 eth2 10.2.0.1 --- 10.2.0.2 (one router)
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.control import igmp, pim
from rawfwd.control.engine import Engine, Output
from rawfwd.control.pim import Assert, Graft, GroupSet, Hello, JoinPrune, Source, StateRefresh
from rawfwd.core.wire import ethernet_header, group_mac, ipv4_header

from ..support.frames import toml_config, udp_frame
from .test_pim_joins import igmp_frame

GROUP = "239.1.1.1"
S = "10.9.0.5"
UP = "10.0.0.2"
P2P = "10.2.0.2"
CONFIG = """\
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
pim = true

[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
pim = true
igmp = true
version = 2
last_member_query_interval = 0.5

[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
pim = true

[pim]
mode = "dense"
state_refresh = {refresh}

[[rpf]]
prefix = "10.9.0.0/16"
iif = "eth0"
"""


def a(text: str) -> int:
    return int(IPv4Address(text))


def sg(*, join: bool = True) -> GroupSet:
    s = (Source(a(S), sparse=False),)
    return GroupSet(a(GROUP), joins=s) if join else GroupSet(a(GROUP), prunes=s)


def frame_of(source: str, message: pim.Message) -> bytes:
    packet = pim.ip_packet(a(source), pim.ALL_PIM_ROUTERS, pim.build(message))
    return ethernet_header(group_mac(pim.ALL_PIM_ROUTERS), b"\x02\x00\x00\x00\x09\x09") + packet


def unicast_to_us(source: str, us: str, message: pim.Message) -> bytes:
    body = pim.build(message)
    return ipv4_header(IPv4Address(source).packed, IPv4Address(us).packed,
                       proto=103, payload_len=len(body)) + body  # fmt: skip


class Router:
    """The engine in dense mode, with what it sends: PIM frames per interface, unicast
    PIM (Grafts, Graft-Acks) per destination."""

    def __init__(self, *, refresh: bool = False, config: str = CONFIG) -> None:
        self.engine = Engine(toml_config(config.format(refresh=str(refresh).lower())))
        self.now = 0.0
        self.sent: list[tuple[str, pim.Message]] = []
        self.unicast: list[tuple[str, pim.Message]] = []
        self.n = 0
        self.tick(0.0)
        # neighbours that never time out: U upstream, two routers on the LAN, one on eth2
        caps = 60 if refresh else None
        self.hear("eth0", frame_of(UP, Hello(0xFFFF, 1, 1, state_refresh=caps)))
        for n in ("10.1.0.7", "10.1.0.8"):
            self.hear("eth1", frame_of(n, Hello(0xFFFF, 1, 2, state_refresh=caps)))
        self.hear("eth2", frame_of(P2P, Hello(0xFFFF, 1, 3, state_refresh=caps)))
        self.tick(10.0)
        self.clear()

    def clear(self) -> None:
        self.sent.clear()
        self.unicast.clear()

    def _collect(self, out: Output) -> None:
        for name, batch in out.frames:
            for frame in batch:
                if frame[23] == 103:
                    found = pim.parse(frame[34:])
                    assert not isinstance(found, pim.BadPim)
                    self.sent.append((name, found))
        for destination, data in out.unicast:
            found = pim.parse(data)
            assert not isinstance(found, pim.BadPim)
            self.unicast.append((str(IPv4Address(destination)), found))

    def tick(self, until: float) -> None:
        while True:
            due = self.engine.next_timer()
            if due is None or due > until:
                break
            self.now = max(self.now, due)
            self._collect(self.engine.handle_timer(self.now))
        self.now = until

    def hear(self, name: str, frame: bytes) -> None:
        self._collect(self.engine.handle_frames(name, [frame], self.now))

    def hear_unicast(self, source: str, us: str, message: pim.Message) -> None:
        self._collect(self.engine.handle_unicast(unicast_to_us(source, us, message), self.now))

    def data(self, name: str = "eth0", source: str = S, ttl: int = 16) -> list[str]:
        """Where a new data packet from `source` arriving on `name` goes."""
        self.n += 1
        frame = udp_frame(source, GROUP, ttl=ttl, payload=b"packet %d" % self.n)
        out = self.engine.handle_frames(name, [frame], self.now)
        self._collect(out)
        return sorted(n for n, frames in out.frames if frames and frames[0][23] == 17)

    def messages(self, kind: type) -> list[tuple[str, pim.Message]]:
        found = [(n, m) for n, m in self.sent if isinstance(m, kind)]
        self.sent = [(n, m) for n, m in self.sent if not isinstance(m, kind)]
        return found

    def entry(self) -> dict:  # type: ignore[type-arg]
        doc = self.engine.pim_json(self.now)
        assert doc is not None
        (found,) = [e for e in doc["dense"] if e["source"] == S]
        return found  # type: ignore[no-any-return]


def prunes(r: Router) -> list[tuple[str, str, int]]:
    """(interface, upstream neighbour, hold time) of each Prune(S,G) sent, then forgotten."""
    return [
        (n, str(IPv4Address(m.upstream)), m.holdtime)
        for n, m in r.messages(JoinPrune)
        if isinstance(m, JoinPrune) and m.groups and m.groups[0].prunes
    ]


@pytest.fixture
def r() -> Router:
    return Router()


def test_a_new_source_floods_to_every_pim_neighbour(r: Router) -> None:
    """Section 4.2: olist(S,G) = pim_nbrs (-) RPF_interface(S); a copy off the RPF
    interface is not forwarded."""
    assert r.data("eth0") == ["eth1", "eth2"]
    entry = r.entry()
    assert entry["upstream"]["state"] == "Forwarding"
    assert entry["upstream"]["neighbor"] == UP
    assert entry["oifs"] == ["eth1", "eth2"]
    assert r.data("eth1") == []
    (flow,) = [f for f in r.engine.snapshot(r.now).flows if f.iif == "eth1"]
    assert {k.value: v for k, v in flow.drops.items()} == {"wrong_if": 1}


def test_a_prune_on_a_point_to_point_link_takes_effect_at_once(r: Router) -> None:
    """4.4.2, NoInfo + Receive Prune with one neighbour: PPT = 0, Pruned for the holdtime;
    PT expiry: NoInfo, flooding again."""
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 100, (sg(join=False),))))
    assert r.data() == ["eth1"]
    assert r.entry()["downstream"]["eth2"]["state"] == "Pruned"
    r.tick(r.now + 99.0)
    assert r.data() == ["eth1"]
    r.tick(r.now + 1.5)
    assert r.data() == ["eth1", "eth2"]


def test_a_lan_prune_waits_for_an_override(r: Router) -> None:
    """4.4.2: on a LAN a Prune goes PrunePending for J/P_Override_Interval (3 s), still
    forwarding; another router's Join overrides it."""
    r.data()
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 210, (sg(join=False),))))
    assert r.entry()["downstream"]["eth1"]["state"] == "PrunePending"
    assert r.data() == ["eth1", "eth2"]
    r.tick(r.now + 2.0)
    r.hear("eth1", frame_of("10.1.0.8", JoinPrune(a("10.1.0.1"), 210, (sg(),))))
    r.tick(r.now + 5.0)
    assert r.data() == ["eth1", "eth2"]
    assert "eth1" not in r.entry()["downstream"]


def test_an_unopposed_lan_prune_prunes_and_is_echoed(r: Router) -> None:
    """4.4.2: PPT expiry -> Pruned, PT = holdtime - J/P_Override_Interval, and a PruneEcho
    (a Prune with ourselves as upstream neighbour) on a LAN."""
    r.data()
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 210, (sg(join=False),))))
    r.clear()
    r.tick(r.now + 3.1)
    assert r.data() == ["eth2"]
    assert prunes(r) == [("eth1", "10.1.0.1", 210)]
    left = r.entry()["downstream"]["eth1"]["timer"]
    assert 206.0 <= left <= 207.0  # 210 - 3, less the 0.1 s since


def test_nothing_downstream_prunes_upstream_once_per_t_limit(r: Router) -> None:
    """4.4.1: olist -> NULL in Forwarding: Prune(S,G) to RPF'(S), PLT = t_limit (210 s);
    more data within PLT sends nothing; data after PLT expired prunes again."""
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 0xFFFF, (sg(join=False),))))
    r.tick(r.now + 3.1)
    assert r.data() == []
    assert ("eth0", UP, 210) in prunes(r)
    assert r.entry()["upstream"]["state"] == "Pruned"
    r.tick(r.now + 200.0)
    r.data()
    assert prunes(r) == []  # the Prune Limit Timer runs
    r.tick(r.now + 10.0)  # expired: nothing is sent until data comes again
    assert prunes(r) == []
    r.data()
    r.tick(r.now + 1.0)
    assert prunes(r) == [("eth0", UP, 210)]


def test_a_member_grafts_a_pruned_router_back_and_the_graft_is_retried(r: Router) -> None:
    """4.4.1: Pruned + olist -> non-NULL: Graft unicast to RPF'(S), AckPending; GRT
    expiry: Graft again every Graft_Retry_Period (3 s); Graft-Ack: Forwarding."""
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 0xFFFF, (sg(join=False),))))
    r.tick(r.now + 3.1)
    r.clear()
    report = igmp.Report(2, a(GROUP))
    r.hear("eth1", igmp_frame("10.1.0.50", report, GROUP))
    assert r.unicast == [(UP, Graft(a(UP), (sg(),)))]
    assert r.entry()["upstream"]["state"] == "AckPending"
    assert r.data() == ["eth1"]  # the member's interface, despite the LAN's prune
    r.unicast.clear()
    r.tick(r.now + 3.1)
    assert r.unicast == [(UP, Graft(a(UP), (sg(),)))]
    r.hear_unicast(UP, "10.0.0.1", Graft(a(UP), (sg(),), ack=True))
    assert r.entry()["upstream"]["state"] == "Forwarding"
    r.unicast.clear()
    r.tick(r.now + 10.0)
    assert r.unicast == []


def test_a_graft_from_downstream_unprunes_and_is_acknowledged(r: Router) -> None:
    """4.4.2, Pruned + Receive Graft: NoInfo, Graft-Ack unicast to the grafter (the Graft's
    sources, type 7, the grafter in the upstream neighbour field, 4.7.9)."""
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    assert r.data() == ["eth1"]
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.1"), (sg(),)))
    assert r.unicast == [(P2P, Graft(a(P2P), (sg(),), ack=True))]
    assert r.data() == ["eth1", "eth2"]


def test_another_routers_prune_upstream_is_overridden_by_our_join(r: Router) -> None:
    """4.4.1, Forwarding + See Prune(S,G) to RPF'(S) while olist is not empty: OT =
    t_override (here 0.5 x 2.5 s), then Join(S,G) to RPF'(S)."""
    r.data()
    r.hear("eth0", frame_of("10.0.0.3", Hello(0xFFFF, 1, 4)))  # another router upstream
    r.clear()
    r.hear("eth0", frame_of("10.0.0.3", JoinPrune(a(UP), 210, (sg(join=False),))))
    r.tick(r.now + 1.0)
    assert r.messages(JoinPrune) == []
    r.tick(r.now + 0.5)
    joins = r.messages(JoinPrune)
    assert joins == [("eth0", JoinPrune(a(UP), 210, (sg(),)))]


def test_data_failing_rpf_on_a_point_to_point_link_prunes_that_neighbour(r: Router) -> None:
    """The issue's rule: S's traffic on eth2, not the RPF interface, with one neighbour
    there: Prune(S,G) to it; not again while it is held."""
    r.data("eth0")
    r.clear()
    assert r.data("eth2") == []
    r.tick(r.now)
    assert prunes(r) == [("eth2", P2P, 210)]
    r.data("eth2")
    r.tick(r.now)
    assert prunes(r) == []


def test_an_assert_on_the_lan_leaves_one_forwarder(r: Router) -> None:
    """4.6: our copy and another's on eth1: we assert (metric toward S: 101, 0, as the
    route is not on our link); a better assert makes us lose eth1 and prune the winner's
    copy (a LAN nobody needs S on goes quiet)."""
    r.data("eth0")
    r.clear()
    r.data("eth1", ttl=15)  # another router's copy on a LAN we forward onto
    r.tick(r.now)
    assert r.messages(Assert) == [("eth1", Assert(a(GROUP), a(S), False, 101, 0))]
    r.hear("eth1", frame_of("10.1.0.8", Assert(a(GROUP), a(S), False, 100, 0)))
    assert r.data("eth0") == ["eth2"]
    r.tick(r.now)
    assert ("eth1", "10.1.0.8", 180) in prunes(r)


@pytest.fixture
def refresh() -> Router:
    return Router(refresh=True, config=CONFIG.replace(
        'prefix = "10.9.0.0/16"', 'prefix = "10.99.0.0/16"'))  # fmt: skip


def test_hellos_say_state_refresh_capable() -> None:
    r = Router(refresh=True)
    r.tick(r.now + 40.0)
    hellos = [m for _, m in r.messages(Hello)]
    assert hellos
    assert all(isinstance(h, Hello) and h.state_refresh == 60 for h in hellos)


def test_the_first_hop_originates_state_refresh_with_p_where_pruned() -> None:
    """4.5.2: data from S on our link: Originator; every StateRefreshInterval a State
    Refresh on each interface whose neighbours take them, P set where pruned (and the
    Prune Timer restarted), TTL 255; SAT expiry (S silent 210 s): no more."""
    config = CONFIG.replace('prefix = "10.9.0.0/16"', 'prefix = "10.77.0.0/16"')
    r = Router(refresh=True, config=config)
    source = "10.0.0.5"  # on eth0's link
    r.data("eth0", source=source)
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 100, (sg_of(source, join=False),))))
    r.clear()
    r.tick(r.now + 60.0)
    refreshes = dict(r.messages(StateRefresh))
    assert set(refreshes) == {"eth1", "eth2"}
    one = refreshes["eth2"]
    assert isinstance(one, StateRefresh)
    assert (one.source, one.originator, one.ttl, one.interval) == (
        a(source),
        a("10.0.0.1"),
        255,
        60,
    )
    assert one.prune
    assert not refreshes["eth1"].prune  # type: ignore[union-attr]
    assert r.data("eth0", source=source) == ["eth1"]  # still pruned past its 100 s
    r.tick(r.now + 60.0)
    assert r.data("eth0", source=source) == ["eth1"]
    r.tick(r.now + 400.0)  # S silent: the originator stops
    r.clear()
    r.tick(r.now + 120.0)
    assert r.messages(StateRefresh) == []


def sg_of(source: str, *, join: bool = True) -> GroupSet:
    s = (Source(a(source), sparse=False),)
    return GroupSet(a(GROUP), joins=s) if join else GroupSet(a(GROUP), prunes=s)


def test_a_state_refresh_from_upstream_goes_on_with_ttl_less_one() -> None:
    """4.5.1: a State Refresh from RPF'(S) on the RPF interface is sent on every other
    interface, TTL - 1, our metric, P where pruned; a pruned router stays pruned (PLT
    restarted) without pruning again."""
    r = Router(refresh=True)
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.clear()
    heard = StateRefresh(a(GROUP), a(S), a("10.9.0.1"), 110, 20, 24, 9, False, False, True, 60)
    r.hear("eth0", frame_of(UP, heard))
    r.tick(r.now)
    out = dict(r.messages(StateRefresh))
    assert set(out) == {"eth1", "eth2"}
    sent = out["eth2"]
    assert isinstance(sent, StateRefresh)
    assert (sent.ttl, sent.originator, sent.preference, sent.prune) == (8, a("10.9.0.1"), 101, True)
    assert not out["eth1"].prune  # type: ignore[union-attr]


def test_show_pim_says_dense(r: Router) -> None:
    r.data()
    doc = r.engine.pim_json(r.now)
    assert doc is not None
    assert doc["mode"] == "dense"
    assert doc["joins"] == []
    (entry,) = doc["dense"]
    assert entry["source_active"] == 210.0
    assert entry["state_refresh"] == {"originator": False, "timer": None}


def test_the_entry_goes_once_the_source_is_silent_and_its_flow_gone(r: Router) -> None:
    """The Source Active Timer (SourceLifetime 210 s) restarts with S's packets; a silent
    source's entry stays while the forwarder keeps its flow (idle_timeout 300 s), then
    goes."""
    r.data()
    for _ in range(3):  # S sends every 100 s: the entry stays
        r.tick(r.now + 100.0)
        r.data()
    assert r.entry()["source_active"] == 210.0
    r.tick(r.now + 250.0)  # silent 250 s: the flow is still there, so is the entry
    assert r.entry()["upstream"]["state"] == "Forwarding"
    r.tick(r.now + 400.0)  # the flow went after 300 s, the entry at the next check
    doc = r.engine.pim_json(r.now)
    assert doc is not None
    assert doc["dense"] == []


def test_a_point_to_point_neighbour_flooding_again_is_pruned_again(r: Router) -> None:
    """Our Prune of a non-RPF point-to-point copy holds 210 s; when the neighbour floods
    again after it, the next look at the flow (every 0.1 s) prunes again."""
    r.data("eth0")
    r.data("eth2")
    r.tick(r.now + 1.0)
    assert prunes(r) == [("eth2", P2P, 210)]
    r.tick(r.now + 215.0)
    assert prunes(r) == []  # nothing came back: nothing to prune
    r.data("eth2")  # it floods again
    r.tick(r.now + 1.1)
    assert prunes(r) == [("eth2", P2P, 210)]


def test_a_graft_ack_from_rpf_prime_counts_before_its_hello() -> None:
    """Live mode takes RPF'(S) from the FIB, which may name the upstream router before its
    first Hello arrives (it comes within Triggered_Hello_Delay): its Graft-Ack, from our
    link, still ends AckPending; a Graft from a router we do not know is not taken."""
    r = Router()
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 0xFFFF, (sg(join=False),))))
    r.tick(r.now + 3.1)
    r.hear("eth0", frame_of(UP, Hello(0)))  # U's goodbye: not a neighbour any more
    r.engine.pim.set_gateways({a(S): "eth0"}, {a(S): a(UP)})  # the FIB's next hop toward S
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.1"), (sg(),)))
    assert r.entry()["upstream"]["state"] == "AckPending"
    r.hear_unicast(UP, "10.0.0.1", Graft(a(UP), (sg(),), ack=True))
    assert r.entry()["upstream"]["state"] == "Forwarding"
    r.clear()
    r.hear_unicast("10.1.0.99", "10.1.0.1", Graft(a("10.1.0.1"), (sg(),)))
    assert r.unicast == []  # no Graft-Ack to a stranger


def test_the_route_toward_s_moving_moves_the_entry(r: Router) -> None:
    """4.4.1/4.4.2, RPF_interface(S) becomes I: the new interface has no prune state and
    is the way in; the old one is downstream now; RPF'(S) is the neighbour there."""
    r.data("eth0")
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    moved = CONFIG.format(refresh="false").replace('iif = "eth0"', 'iif = "eth2"')
    r.engine.reconfigure(toml_config(moved))
    r.tick(r.now)
    assert r.data("eth2") == ["eth0", "eth1"]
    entry = r.entry()
    assert (entry["interface"], entry["upstream"]["neighbor"]) == ("eth2", P2P)
    assert entry["downstream"] == {}
    assert r.data("eth0") == []


def test_state_refresh_from_the_assert_winner_keeps_it_rpf_prime() -> None:
    """4.6.1: State Refreshes count as asserts: from the winner of an assert on our RPF
    interface they keep it RPF'(S) past Assert_Time."""
    r = Router(refresh=True)
    r.data()
    r.hear("eth0", frame_of("10.0.0.3", Hello(0xFFFF, 1, 4, state_refresh=60)))
    r.hear("eth0", frame_of("10.0.0.3", Assert(a(GROUP), a(S), False, 0, 0)))
    assert r.entry()["upstream"]["neighbor"] == "10.0.0.3"
    for _ in range(5):  # 300 s of the winner's refreshes, no Assert
        r.tick(r.now + 60.0)
        refresh = StateRefresh(a(GROUP), a(S), a(S), 0, 0, 24, 9, False, False, False, 60)
        r.hear("eth0", frame_of("10.0.0.3", refresh))
        r.data()
    assert r.entry()["upstream"]["neighbor"] == "10.0.0.3"


def test_the_originator_starts_again_when_its_source_does() -> None:
    """4.5.2: NotOriginator + data from S on our link: Originator again."""
    config = CONFIG.replace('prefix = "10.9.0.0/16"', 'prefix = "10.77.0.0/16"')
    r = Router(refresh=True, config=config)
    r.data("eth0", source="10.0.0.5")
    r.tick(r.now + 250.0)  # S silent past SourceLifetime: no more State Refresh
    r.clear()
    r.tick(r.now + 30.0)
    assert r.messages(StateRefresh) == []
    r.data("eth0", source="10.0.0.5")  # back, its flow still cached
    r.tick(r.now + 250.0 - 210.0 + 61.0)
    assert r.messages(StateRefresh)


def test_no_state_refresh_where_we_lost_the_assert() -> None:
    """4.5.1: a State Refresh is not sent on an interface whose assert we lost."""
    r = Router(refresh=True)
    r.data()
    r.hear("eth1", frame_of("10.1.0.8", Assert(a(GROUP), a(S), False, 100, 0)))
    r.clear()
    heard = StateRefresh(a(GROUP), a(S), a("10.9.0.1"), 110, 20, 24, 9, False, False, True, 60)
    r.hear("eth0", frame_of(UP, heard))
    r.tick(r.now)
    assert [n for n, _ in r.messages(StateRefresh)] == ["eth2"]


def test_a_graft_naming_another_router_is_not_ours(r: Router) -> None:
    r.data()
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.9"), (sg(),)))
    assert r.unicast == []
    assert r.data() == ["eth1"]


def test_show_pim_counts_dense_events(r: Router) -> None:
    """Upstream prunes, non-RPF point-to-point prunes and Grafts sent are counted."""
    r.data("eth0")
    r.data("eth2")  # off the RPF interface, one neighbour there: we prune its copy
    r.hear("eth2", frame_of(P2P, JoinPrune(a("10.2.0.1"), 0xFFFF, (sg(join=False),))))
    r.hear("eth1", frame_of("10.1.0.7", JoinPrune(a("10.1.0.1"), 0xFFFF, (sg(join=False),))))
    r.tick(r.now + 3.1)  # eth1 pruned too: nothing downstream, a Prune upstream
    r.hear_unicast(P2P, "10.2.0.1", Graft(a("10.2.0.1"), (sg(),)))  # eth2 wants it again
    r.tick(r.now + 3.1)  # no Graft-Ack: a second Graft
    doc = r.engine.pim_json(r.now)
    assert doc is not None
    assert doc["dense_counters"] == {"non_rpf_prunes": 1, "prunes_upstream": 1}
    assert r.entry()["upstream"]["grafts"] == 2
