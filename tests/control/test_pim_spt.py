"""SPT switchover and (S,G,rpt) prunes through the engine (replay mode, injected time), RFC
7761 sections 4.2.1, 4.5.4 and 4.5.9: a last-hop DR that gets S from the RP tree joins S's
own tree; once S arrives there it prunes S off the RP tree (a Prune(S,G,rpt) in its
Join(*,G)) and drops S's copies from the RP tree; an upstream router receiving that prune
stops sending S down the RP tree on that interface, until a Join(*,G) without it.

    RP 10.0.0.2 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- member host / downstream router
    S 10.9.0.5 ... 10.2.0.7 --- eth2 10.2.0.1
"""

from __future__ import annotations

from rawfwd.control import igmp
from rawfwd.control.pim import GroupSet, Hello, JoinPrune, Source

from ..support.frames import udp_frame
from .test_pim_joins import GROUP, RP, Router, a, igmp_frame, pim_frame, star_join

S, S2 = "10.9.0.5", "10.9.0.6"
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

[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
pim = true

[[rpf]]
prefix = "10.9.0.0/16"   # the sources are behind 10.2.0.7, not the RP
iif = "eth2"

[[pim.rp]]
address = "{RP}"
"""
STAR = Source(a(RP), wildcard=True, rpt=True)


def data(r: Router, ingress: str, source: str = S) -> list[str]:
    r.packets += 1
    frame = udp_frame(source, GROUP, payload=b"packet %d" % r.packets)
    out = r.engine.handle_frames(ingress, [frame], r.now)
    r.tick(r.now)
    return sorted(n for n, frames in out.frames if frames)


def messages(r: Router) -> list[tuple[str, JoinPrune]]:
    found = [(n, m) for n, m in r.sent if isinstance(m, JoinPrune)]
    r.sent.clear()
    return found


def last_hop() -> Router:
    r = Router(CONFIG)
    r.hear("eth0", pim_frame(RP, Hello(0xFFFF, 1, 1)))
    r.hear("eth2", pim_frame("10.2.0.7", Hello(0xFFFF, 1, 2)))
    r.tick(10.0)
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    assert [(n, m) for n, m in messages(r)] == [("eth0", star_join(RP))]
    return r


def test_the_last_hop_switches_to_the_source_tree_and_prunes_s_off_the_rp_tree() -> None:
    r = last_hop()
    assert data(r, "eth0") == ["eth1"]  # the first packets come down the RP tree
    sg_join = JoinPrune(a("10.2.0.7"), 210, (GroupSet(a(GROUP), joins=(Source(a(S)),)),))
    assert messages(r) == [("eth2", sg_join)]  # ... and we join S's own tree
    assert data(r, "eth2") == ["eth1"]  # S arrives on its tree: the SPT bit
    rpt_prune = Source(a(S), rpt=True)
    with_prune = JoinPrune(a(RP), 210, (GroupSet(a(GROUP), joins=(STAR,), prunes=(rpt_prune,)),))
    assert messages(r) == [("eth0", with_prune)]
    assert data(r, "eth0") == []  # S's copies from the RP tree: dropped, no duplicates
    assert data(r, "eth0", S2) == ["eth1"]  # other sources still come down the RP tree
    # the periodic Join(*,G) goes on carrying the prune
    r.tick(r.now + 60.0)
    assert ("eth0", with_prune) in messages(r)
    # the member leaves: both trees are pruned
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP), leave=True), "224.0.0.2"))
    r.tick(r.now + 1.1)
    sent = messages(r)
    sg_prune = JoinPrune(a("10.2.0.7"), 210, (GroupSet(a(GROUP), prunes=(Source(a(S)),)),))
    assert ("eth2", sg_prune) in sent
    assert ("eth0", star_join(RP, prune=True)) in sent


def test_with_switchover_never_the_rp_tree_stays() -> None:
    r = Router(CONFIG.replace("[[pim.rp]]", '[pim]\nspt_switchover = "never"\n\n[[pim.rp]]'))
    r.hear("eth0", pim_frame(RP, Hello(0xFFFF, 1, 1)))
    r.hear("eth2", pim_frame("10.2.0.7", Hello(0xFFFF, 1, 2)))
    r.tick(10.0)
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    messages(r)
    assert data(r, "eth0") == ["eth1"]
    assert messages(r) == []


def test_an_rpt_prune_from_downstream_takes_s_off_the_rp_tree_there() -> None:
    """Section 4.5.4: Prune(S,G,rpt) from the only neighbour on eth1: S is not sent down
    the RP tree there, other sources are; a Join(*,G) without the prune puts S back."""
    r = Router(CONFIG.replace("igmp = true\nversion = 2\nlast_member_query_interval = 0.5\n", ""))
    r.hear("eth0", pim_frame(RP, Hello(0xFFFF, 1, 1)))
    r.hear("eth1", pim_frame("10.1.0.7", Hello(0xFFFF, 1, 5)))
    r.tick(10.0)
    r.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1")))
    assert data(r, "eth0") == ["eth1"]
    prune = JoinPrune(
        a("10.1.0.1"), 210, (GroupSet(a(GROUP), joins=(STAR,), prunes=(Source(a(S), rpt=True),)),)
    )
    r.hear("eth1", pim_frame("10.1.0.7", prune))
    r.tick(r.now)
    assert data(r, "eth0") == []
    assert data(r, "eth0", S2) == ["eth1"]
    r.hear("eth1", pim_frame("10.1.0.7", star_join("10.1.0.1")))
    r.tick(r.now)
    assert data(r, "eth0") == ["eth1"]


def test_another_routers_rpt_prune_is_overridden_while_we_want_s_from_the_rp_tree() -> None:
    """Section 4.5.9: on the upstream LAN, a Prune(S,G,rpt) from another router to our
    RPF'(*,G); we still take S from the RP tree (no SPT for it): our Join(*,G), without a
    prune for S, comes within the override interval and puts S back upstream."""
    r = Router(CONFIG.replace("[[pim.rp]]", '[pim]\nspt_switchover = "never"\n\n[[pim.rp]]'))
    r.hear("eth0", pim_frame(RP, Hello(0xFFFF, 1, 1)))
    r.hear("eth0", pim_frame("10.0.0.3", Hello(0xFFFF, 1, 7)))
    r.tick(10.0)
    r.hear("eth1", igmp_frame("10.1.0.9", igmp.Report(2, a(GROUP)), GROUP))
    messages(r)
    other = JoinPrune(
        a(RP), 210, (GroupSet(a(GROUP), joins=(STAR,), prunes=(Source(a(S), rpt=True),)),)
    )
    r.hear("eth0", pim_frame("10.0.0.3", other))
    r.tick(r.now + 3.0)  # t_override: below the effective override interval (2.5 s)
    assert messages(r) == [("eth0", star_join(RP))]
