"""PIM-SM join state through the engine (replay mode, injected time), RFC 7761 section 4.5:
a last-hop DR joins toward the RP for its IGMP members and prunes when they leave; a
downstream neighbour's Join adds its interface; join suppression and prune override on
the upstream LAN; data follows the state.

    RP 10.0.0.2 (a PIM neighbour) --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- hosts, routers
                            10.0.0.3 (another downstream router of the RP)
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.control import igmp, pim
from rawfwd.control.engine import Engine
from rawfwd.control.pim import GroupSet, Hello, JoinPrune, Source
from rawfwd.core.wire import ethernet_header, group_mac

from ..support.frames import rfc1112_mac, toml_config, udp_frame

GROUP = "239.1.1.1"
RP = "10.0.0.2"
CONFIG = f"""\
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

[pim]
spt_switchover = "never"    # the RP tree alone here: test_pim_spt switches

[[pim.rp]]
address = "{RP}"
"""


CONFIG_V3 = CONFIG.replace("version = 2", "version = 3")


def a(text: str) -> int:
    return int(IPv4Address(text))


def pim_frame(source: str, message: pim.Message) -> bytes:
    packet = pim.ip_packet(a(source), pim.ALL_PIM_ROUTERS, pim.build(message))
    return ethernet_header(group_mac(pim.ALL_PIM_ROUTERS), b"\x02\x00\x00\x00\x09\x09") + packet


def igmp_frame(host: str, message: igmp.Message, dst: str) -> bytes:
    packet = igmp.ip_packet(a(host), a(dst), igmp.build(message))
    return ethernet_header(rfc1112_mac(dst), b"\x02\x00\x00\x00\x0a\x0a") + packet


STAR = Source(a(RP), wildcard=True, rpt=True)


def star_join(upstream: str, *, prune: bool = False, holdtime: int = 210) -> JoinPrune:
    sets = GroupSet(a(GROUP), prunes=(STAR,)) if prune else GroupSet(a(GROUP), joins=(STAR,))
    return JoinPrune(a(upstream), holdtime, (sets,))


class Router:
    def __init__(self, config: str = CONFIG) -> None:
        self.engine = Engine(toml_config(config))
        self.now = 0.0
        self.sent: list[tuple[str, pim.Message]] = []
        self.packets = 0
        self.tick(0.0)

    def _collect(self, frames: list[tuple[str, list[bytes]]]) -> None:
        for name, batch in frames:
            for frame in batch:
                if frame[23] == 103:
                    found = pim.parse(frame[34:])
                    assert not isinstance(found, pim.BadPim)
                    self.sent.append((name, found))

    def tick(self, until: float) -> None:
        """Run every timer due up to `until`."""
        while True:
            due = self.engine.next_timer()
            if due is None or due > until:
                break
            self.now = max(self.now, due)
            self._collect(self.engine.handle_timer(self.now).frames)
        self.now = until

    def hear(self, name: str, frame: bytes) -> list[tuple[str, list[bytes]]]:
        out = self.engine.handle_frames(name, [frame], self.now).frames
        self._collect(out)
        return out

    def joins(self, *, prune: bool = False) -> list[tuple[str, JoinPrune]]:
        """The Join/Prunes sent so far for GROUP (joins or prunes), then forgotten."""
        found = [
            (name, m)
            for name, m in self.sent
            if isinstance(m, JoinPrune) and any((g.prunes if prune else g.joins) for g in m.groups)
        ]
        self.sent.clear()
        return found

    def state(self) -> list[dict]:  # type: ignore[type-arg]
        doc = self.engine.pim_json(self.now)
        assert doc is not None
        return doc["joins"]  # type: ignore[no-any-return]

    def data(self, name: str = "eth0") -> list[str]:
        """Where a data packet from 10.9.0.5 to GROUP arriving on `name` goes (each one
        new: the duplicate cache would drop a repeat)."""
        self.packets += 1
        frame = udp_frame("10.9.0.5", GROUP, payload=b"packet %d" % self.packets)
        out = self.engine.handle_frames(name, [frame], self.now)
        return sorted(n for n, frames in out.frames if frames)


@pytest.fixture
def router() -> Router:
    r = Router()
    r.hear("eth0", pim_frame(RP, Hello(105, 1, 1)))  # the RP is our neighbour upstream
    r.tick(10.0)
    r.sent.clear()
    return r


def test_a_member_makes_the_dr_join_toward_the_rp_and_a_leave_prunes(router: Router) -> None:
    assert router.data() == []  # no member, no state
    router.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    ((name, join),) = router.joins()
    assert name == "eth0"
    assert join == star_join(RP)  # Join(*,G) to RPF'(*,G) = the RP, holdtime 3.5 x 60
    (entry,) = router.state()
    assert (entry["source"], entry["group"], entry["rp"]) == ("*", GROUP, RP)
    assert entry["upstream"]["state"] == "Joined"
    assert entry["local"] == ["eth1"]
    assert router.data() == ["eth1"]  # arriving on the RPF interface toward the RP
    assert router.data("eth1") == []  # from elsewhere: not the RP tree's
    # periodic Joins every t_periodic while joined
    router.tick(10.0 + 60.0)
    assert [m for _, m in router.joins()] == [star_join(RP)]
    # the host leaves: after the last member queries, the group is gone and we prune
    router.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP), leave=True), "224.0.0.2"))
    router.tick(router.now + 1.1)
    assert [m for _, m in router.joins(prune=True)] == [star_join(RP, prune=True)]
    assert router.state() == []
    assert router.data() == []


def test_a_downstream_routers_join_adds_its_interface(router: Router) -> None:
    router.hear("eth1", pim_frame("10.1.0.7", Hello(105, 1, 5)))
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", holdtime=30)))
    assert [m for _, m in router.joins()] == [star_join(RP)]
    (entry,) = router.state()
    assert entry["downstream"]["eth1"]["state"] == "Join"
    assert entry["downstream"]["eth1"]["expires"] == 30
    assert router.data() == ["eth1"]
    # the Join is not refreshed: its holdtime runs out, the interface leaves, we prune
    router.tick(router.now + 29.9)
    assert router.data() == ["eth1"]
    router.tick(router.now + 0.2)
    assert router.data() == []
    assert [m for _, m in router.joins(prune=True)] == [star_join(RP, prune=True)]


def test_a_prune_from_the_only_neighbour_acts_at_once(router: Router) -> None:
    """Section 4.5.2: the Prune-Pending Timer is 0 with a single neighbour there."""
    router.hear("eth1", pim_frame("10.1.0.7", Hello(105, 1, 5)))
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1")))
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", prune=True)))
    router.tick(router.now)
    assert router.data() == []
    assert [m for _, m in router.joins(prune=True)] == [star_join(RP, prune=True)]


def test_on_a_lan_a_prune_waits_for_an_override(router: Router) -> None:
    """Two downstream routers: one prunes, the other's Join within the J/P override
    interval (0.5 + 2.5 s) keeps the interface joined."""
    for n in ("10.1.0.7", "10.1.0.8"):
        router.hear("eth1", pim_frame(n, Hello(105, 1, 5)))
        router.hear("eth1", pim_frame(n, star_join("10.1.0.1")))
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", prune=True)))
    (entry,) = router.state()
    assert entry["downstream"]["eth1"]["state"] == "PrunePending"
    assert entry["downstream"]["eth1"]["prune_pending"] == 3.0
    router.tick(router.now + 2.0)
    router.hear("eth1", pim_frame("10.1.0.8", star_join("10.1.0.1")))  # the override
    router.tick(router.now + 5.0)
    assert router.data() == ["eth1"]
    # without one, the interface is pruned when the timer runs out, and we echo the
    # Prune to ourselves there (PruneEcho, section 4.5.2)
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", prune=True)))
    router.tick(router.now + 2.9)
    assert router.data() == ["eth1"]
    router.sent.clear()
    router.tick(router.now + 0.2)
    assert router.data() == []
    assert ("eth1", star_join("10.1.0.1", prune=True)) in router.sent


def test_join_suppression_and_prune_override_upstream(router: Router) -> None:
    """Section 4.5.6: another router's Join to our RPF' postpones ours; its Prune makes us
    join within t_override so that the RP keeps sending."""
    router.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    assert len(router.joins()) == 1
    joined_at = router.now
    router.hear("eth0", pim_frame("10.0.0.3", Hello(105, 1, 9)))
    router.tick(joined_at + 30.0)
    router.joins()  # forget what the new neighbour's Hello brought (nothing for G)
    router.hear("eth0", pim_frame("10.0.0.3", star_join(RP)))
    router.tick(joined_at + 61.0)
    assert router.joins() == []  # suppressed: t_suppressed is 1.1-1.4 x 60 s from 30 s
    router.hear("eth0", pim_frame("10.0.0.3", star_join(RP, prune=True)))
    router.tick(router.now + 3.0)  # t_override: within the override interval
    assert [m for _, m in router.joins()] == [star_join(RP)]


def test_join_prune_from_a_stranger_is_ignored(router: Router) -> None:
    router.hear("eth1", pim_frame("10.1.0.66", star_join("10.1.0.1")))
    assert router.state() == []
    doc = router.engine.pim_json(router.now)
    assert doc is not None
    (eth1,) = [i for i in doc["interfaces"] if i["interface"] == "eth1"]
    assert eth1["counters"]["not_neighbor"] == 1


def test_no_rp_no_join_and_igmp_alone_decides() -> None:
    engine = Engine(toml_config(CONFIG.split("[[pim.rp]]")[0]))
    engine.handle_timer(0.0)
    engine.handle_frames("eth1", [igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP)], 1.0)
    out = engine.handle_frames("eth0", [udp_frame("10.9.0.5", GROUP)], 1.0)
    assert [n for n, _ in out.frames] == []  # eth0 is not RPF toward 10.9.0.5 (no route)
    doc = engine.pim_json(1.0)
    assert doc is not None
    assert doc["joins"][0]["upstream"]["state"] == "NotJoined"


def test_as_the_rp_a_downstream_join_takes_traffic_from_a_source_beside_us() -> None:
    """We are the RP (our eth0 address): a Join(*,G) from a downstream router makes the RP
    tree, and a source on our own link (RPF toward it: eth0) feeds it."""
    engine = Engine(toml_config(CONFIG.replace(f'address = "{RP}"', 'address = "10.0.0.1"')))
    engine.handle_timer(0.0)
    hello = pim_frame("10.1.0.7", Hello(105, 1, 5))
    join = JoinPrune(
        a("10.1.0.1"),
        210,
        (GroupSet(a(GROUP), joins=(Source(a("10.0.0.1"), wildcard=True, rpt=True),)),),
    )
    out = engine.handle_frames("eth1", [hello, pim_frame("10.1.0.7", join)], 1.0)
    assert [n for n, f in out.frames if any(x[23] == 103 and x[34] == 0x23 for x in f)] == []
    data = engine.handle_frames("eth0", [udp_frame("10.0.0.5", GROUP)], 1.0)
    assert [n for n, f in data.frames if f] == ["eth1"]
    doc = engine.pim_json(1.0)
    assert doc is not None
    assert doc["joins"][0]["upstream"]["state"] == "NotJoined"  # nothing above the RP


def test_a_restarted_rp_is_joined_again_within_the_override_interval(router: Router) -> None:
    """Section 4.5.7: a new generation ID from RPF'(*,G): our Join comes within
    t_override (rand(0, Effective_Override_Interval)), not a period later."""
    router.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    assert len(router.joins()) == 1
    router.tick(router.now + 20.0)
    router.hear("eth0", pim_frame(RP, Hello(105, 1, 2)))  # generation ID 1 -> 2
    router.tick(router.now + 2.5)
    assert [m for _, m in router.joins()] == [star_join(RP)]


def test_what_join_prune_may_not_create(router: Router) -> None:
    """A Join(*,G) naming another RP (section 4.5.2), a (*,G) in the SSM range (4.8.1),
    an (S,G) whose source no router forwards from: counted, no state."""
    router.hear("eth1", pim_frame("10.1.0.7", Hello(105, 1, 5)))
    other_rp = Source(a("10.0.0.99"), wildcard=True, rpt=True)
    ssm = Source(a(RP), wildcard=True, rpt=True)
    zero = Source(0)
    for group, source in ((GROUP, other_rp), ("232.1.1.1", ssm), (GROUP, zero)):
        message = JoinPrune(a("10.1.0.1"), 210, (GroupSet(a(group), joins=(source,)),))
        router.hear("eth1", pim_frame("10.1.0.7", message))
    assert router.state() == []
    doc = router.engine.pim_json(router.now)
    assert doc is not None
    (eth1,) = [i for i in doc["interfaces"] if i["interface"] == "eth1"]
    assert (eth1["counters"]["wrong_rp"], eth1["counters"]["unsupported_source"]) == (2, 1)


def test_a_join_with_holdtime_0xffff_never_expires(router: Router) -> None:
    """Section 4.9.5: 0xFFFF is infinite."""
    router.hear("eth1", pim_frame("10.1.0.7", Hello(105, 1, 5)))
    router.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1", holdtime=0xFFFF)))
    router.tick(router.now + 100_000.0)
    (entry,) = router.state()
    assert entry["downstream"]["eth1"] == {
        "state": "Join",
        "expires": None,
        "prune_pending": None,
    }


def test_a_directly_connected_source_is_not_joined_upstream() -> None:
    """RPF'(S,G) is NULL for a source on our own link (section 4.5.7): no Join(S,G) to a
    host. An IGMPv3 member asking for that source is served natively."""
    r = Router(CONFIG_V3)
    r.tick(1.0)
    record = igmp.GroupRecord(igmp.RecordType.ALLOW_NEW_SOURCES, a(GROUP), (a("10.0.0.50"),))
    report = igmp.V3Report((record,))
    r.hear("eth1", igmp_frame("10.1.0.9", report, "224.0.0.22"))
    assert r.joins() == []
    (entry,) = r.state()
    assert (entry["source"], entry["upstream"]["state"]) == ("10.0.0.50", "NotJoined")


def test_members_that_exclude_a_source_do_not_get_it_from_the_rp_tree() -> None:
    """Section 4.1.6: pim_exclude(S,G) leaves a local interface out for that source."""
    r = Router(CONFIG_V3)
    r.hear("eth0", pim_frame(RP, Hello(105, 1, 1)))
    r.tick(10.0)
    record = igmp.GroupRecord(igmp.RecordType.CHANGE_TO_EXCLUDE, a(GROUP), (a("10.9.0.5"),))
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.V3Report((record,)), "224.0.0.22"))
    assert r.data() == []  # 10.9.0.5 is excluded there
    other = udp_frame("10.9.0.6", GROUP, payload=b"another source")
    out = r.engine.handle_frames("eth0", [other], r.now)
    assert [n for n, f in out.frames if f] == ["eth1"]


def test_no_join_suppression_when_every_neighbour_sets_the_t_bit() -> None:
    """Section 4.3.3: with the T bit from every neighbour, another router's Join does not
    postpone ours (the upstream tracks each downstream router)."""
    r = Router()
    r.hear("eth0", pim_frame(RP, Hello(105, 1, 1, (True, 500, 2500))))
    r.hear("eth0", pim_frame("10.0.0.3", Hello(105, 1, 9, (True, 500, 2500))))
    r.tick(10.0)
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    joined_at = r.now
    r.joins()
    r.tick(joined_at + 30.0)
    r.hear("eth0", pim_frame("10.0.0.3", star_join(RP)))
    r.tick(joined_at + 60.0)
    assert [m for _, m in r.joins()] == [star_join(RP)]  # on time, not suppressed


def test_live_mode_asks_the_fib_toward_the_rp_before_anyone_joins() -> None:
    """A first join must not wait for a FIB lookup toward the RP (it cost 5 ms of join
    latency, tools/bench/pim_latency): the RP is asked for at start, and again when the
    unicast routes change."""
    engine = Engine(toml_config(CONFIG), live=True)
    out = engine.set_link("eth0", up=True, mac=b"\x02\x00\x00\x00\x00\x01")
    assert a(RP) in out.rpf_lookups
    assert a(RP) in engine.rpf_sources()
