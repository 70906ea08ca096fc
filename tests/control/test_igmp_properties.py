"""Properties of the IGMP control plane: any input sequence keeps the records coherent, and
no bytes make the engine raise."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.config.values import IgmpSpec
from rawfwd.control import igmp
from rawfwd.control.engine import Engine
from rawfwd.control.igmp import Query
from rawfwd.control.membership import Membership, Mode
from rawfwd.control.querier import Querier

from ..support.frames import HOST_MAC, rfc1112_mac, toml_config
from ..support.strategies import igmp_steps, run_igmp_step

GROUPS = [int(IPv4Address(g)) for g in ("239.1.1.1", "239.2.2.2", "232.1.1.1")]
SOURCES = [int(IPv4Address(f"10.0.0.{n}")) for n in range(1, 5)]

events = igmp_steps(GROUPS, SOURCES)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), st.booleans())
def test_any_sequence_keeps_every_record_coherent(steps: list[tuple], querier: bool) -> None:
    spec = IgmpSpec()
    q = Querier(spec, int(IPv4Address("10.1.0.2")))
    q.start(0.0)
    if not querier:
        q.on_query(int(IPv4Address("10.1.0.1")), Query(3, 0, 10.0), 0.0)
    m = Membership(spec, q)
    now = 0.0
    host = int(IPv4Address("10.1.0.9"))
    for step in steps:
        now = run_igmp_step(m, host, step, now)
        for g in m.groups.values():
            assert not (set(g.sources) & g.excluded), "a source both wanted and excluded"
            if g.mode is Mode.INCLUDE:
                assert not g.excluded
            if group_is_ssm(g.group):
                assert g.mode is Mode.INCLUDE, "SSM never EXCLUDE (RFC 4604)"
            for s in SOURCES:
                wanted = s in g.sources if g.mode is Mode.INCLUDE else s not in g.excluded
                assert m.wants(s, g.group) == wanted
    assert m.next_timer() is None or m.next_timer() >= 0.0


def group_is_ssm(group: int) -> bool:
    return group >> 24 == 232


ROUTER = """
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
upstream = true
[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
igmp = true
"""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["eth0", "eth1"]), st.binary(max_size=64)), max_size=20))
def test_no_igmp_payload_makes_the_engine_raise(payloads: list[tuple[str, bytes]]) -> None:
    engine = Engine(toml_config(ROUTER))
    for n, (iface, payload) in enumerate(payloads):
        src = "10.1.0.5" if iface == "eth1" else "10.0.0.254"
        packet = igmp.ip_packet(int(IPv4Address(src)), int(IPv4Address("224.0.0.22")), payload)
        frame = rfc1112_mac("224.0.0.22") + HOST_MAC + b"\x08\x00" + packet
        engine.handle_frames(iface, [frame], float(n))
        engine.handle_timer(float(n) + 0.5)
    assert engine.snapshot(100.0).flows == ()  # IGMP is never a flow
