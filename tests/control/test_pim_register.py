"""PIM-SM registers through the engine (replay mode, injected time), RFC 7761 section 4.4:
the first-hop DR sends a directly connected source's traffic to the RP in Registers (the
"pimreg" tunnel, an interface in the counters), stops on Register-Stop, probes with a
Null-Register and registers again without one; the RP decapsulates down its RP tree and
sends Register-Stop when nobody wants the group.

    S 10.0.0.5 --- eth0 10.0.0.1 [R] eth1 10.1.0.1 --- 10.1.0.2 (the RP, a PIM neighbour)
"""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.control import pim
from rawfwd.control.engine import Engine, Output
from rawfwd.control.pim import GroupSet, Hello, JoinPrune, Register, RegisterStop, Source
from rawfwd.core.wire import ethernet_header, group_mac, internet_checksum, ipv4_header

from ..support.frames import toml_config, udp_frame

GROUP = "239.1.1.1"
CONFIG = """\
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
pim = true

[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
pim = true

[[pim.rp]]
address = "{rp}"
"""


def a(text: str) -> int:
    return int(IPv4Address(text))


def unicast(source: str, message: pim.Message) -> bytes:
    body = pim.build(message)
    return ipv4_header(IPv4Address(source).packed, IPv4Address("10.1.0.1").packed,
                       proto=103, payload_len=len(body)) + body  # fmt: skip


def pim_frame(source: str, message: pim.Message) -> bytes:
    packet = pim.ip_packet(a(source), pim.ALL_PIM_ROUTERS, pim.build(message))
    return ethernet_header(group_mac(pim.ALL_PIM_ROUTERS), b"\x02\x00\x00\x00\x09\x09") + packet


def registers(out: Output) -> list[tuple[int, Register]]:
    found = []
    for destination, message in out.unicast:
        parsed = pim.parse(message)
        assert isinstance(parsed, Register)
        found.append((destination, parsed))
    return found


class FirstHop:
    def __init__(self) -> None:
        self.engine = Engine(toml_config(CONFIG.format(rp="10.1.0.2")), random=lambda: 0.5)
        self.engine.handle_timer(0.0)
        self.n = 0

    def data(self, now: float) -> Output:
        self.n += 1
        frame = udp_frame("10.0.0.5", GROUP, ttl=8, payload=b"packet %d" % self.n)
        return self.engine.handle_frames("eth0", [frame], now)


def test_the_dr_registers_a_local_source_and_obeys_register_stop() -> None:
    r = FirstHop()
    out = r.data(1.0)
    assert out.frames == []  # nothing on the wire: the packet went into the tunnel
    ((rp, register),) = registers(out)
    assert rp == a("10.1.0.2")
    assert not register.null
    inner = register.packet
    assert inner[8] == 7  # TTL 8, forwarded once into the tunnel
    assert internet_checksum(inner[:20]) == 0
    assert inner[12:20] == IPv4Address("10.0.0.5").packed + IPv4Address(GROUP).packed
    assert inner.endswith(b"packet 1")
    snap = r.engine.snapshot(1.0)
    (flow,) = snap.flows
    assert "pimreg" in flow.oifs
    (tunnel,) = [i for i in snap.interfaces if i.name == "pimreg"]
    assert tunnel.tx_frames == 1
    # the RP says stop: the next packets are not registered
    stop = r.engine.handle_unicast(unicast("10.1.0.2", RegisterStop(a(GROUP), a("10.0.0.5"))), 2.0)
    assert stop.unicast == ()
    assert registers(r.data(3.0)) == []
    # Register_Suppression_Time x rand(0.5, 1.5) - Register_Probe_Time = 55 s: a probe
    r.engine.handle_timer(56.9)
    probe = r.engine.handle_timer(57.0)
    ((rp, null),) = registers(probe)
    assert null.null
    assert null.packet[12:20] == IPv4Address("10.0.0.5").packed + IPv4Address(GROUP).packed
    assert registers(r.data(58.0)) == []  # still waiting for the RP's answer
    # no Register-Stop within Register_Probe_Time: registering again
    r.engine.handle_timer(62.0)
    assert len(registers(r.data(62.5))) == 1


def test_a_register_stop_from_anyone_but_the_rp_is_ignored() -> None:
    r = FirstHop()
    r.data(1.0)
    r.engine.handle_unicast(unicast("10.1.0.66", RegisterStop(a(GROUP), a("10.0.0.5"))), 2.0)
    assert len(registers(r.data(3.0))) == 1
    doc = r.engine.pim_json(3.0)
    assert doc is not None
    assert doc["registers"]["counters"]["register_stop_not_from_rp"] == 1


def test_not_the_dr_no_register() -> None:
    r = FirstHop()
    r.engine.handle_frames("eth0", [pim_frame("10.0.0.9", Hello(105, 1, 3))], 0.5)
    assert registers(r.data(1.0)) == []  # 10.0.0.9 is the DR of the source's link


def rp_engine() -> Engine:
    engine = Engine(toml_config(CONFIG.format(rp="10.0.0.1")), random=lambda: 0.5)
    engine.handle_timer(0.0)
    return engine


def test_the_rp_decapsulates_down_its_tree() -> None:
    engine = rp_engine()
    star = Source(a("10.0.0.1"), wildcard=True, rpt=True)
    join = JoinPrune(a("10.1.0.1"), 210, (GroupSet(a(GROUP), joins=(star,)),))
    engine.handle_frames("eth1", [pim_frame("10.1.0.2", Hello(105, 1, 1))], 1.0)
    engine.handle_frames("eth1", [pim_frame("10.1.0.2", join)], 1.0)
    inner = udp_frame("10.7.0.5", GROUP, ttl=9, payload=b"registered")[14:]
    out = engine.handle_unicast(unicast("10.9.9.9", Register(inner)), 2.0)
    ((name, (frame,)),) = out.frames
    assert name == "eth1"
    assert frame[:6] == group_mac(a(GROUP))
    assert frame[22] == 8  # decremented as it leaves the RP
    assert frame.endswith(b"registered")
    assert out.unicast == ()  # the RP tree wants it: no Register-Stop yet
    flows = engine.snapshot(2.0).flows
    assert [(f.arrival, f.oifs) for f in flows] == [("pimreg", ("eth1",))]


def test_the_rp_stops_a_register_nobody_wants() -> None:
    engine = rp_engine()
    inner = udp_frame("10.7.0.5", GROUP, payload=b"unwanted")[14:]
    out = engine.handle_unicast(unicast("10.9.9.9", Register(inner)), 2.0)
    assert out.frames == []
    ((dr, message),) = out.unicast
    assert dr == a("10.9.9.9")
    assert pim.parse(message) == RegisterStop(a(GROUP), a("10.7.0.5"))


def _register_states(r: FirstHop, now: float) -> list[tuple[str, str, str]]:
    doc = r.engine.pim_json(now)
    assert doc is not None
    return [(s["source"], s["group"], s["state"]) for s in doc["registers"]["states"]]


def test_the_register_state_lasts_while_the_source_sends_and_goes_when_it_stops() -> None:
    """The (S,G) Keepalive Timer (RFC 7761 4.1.2, 4.4.1; Keepalive_Period 210 s): S's
    packets restart it, so a sending source keeps its register state; a silent one loses
    it (and frees its place among MAX_REGISTER_STATES)."""
    r = FirstHop()
    r.data(1.0)
    for t in range(60, 600, 60):  # S sends once a minute: the state stays
        r.data(float(t))
        r.engine.handle_timer(float(t))
    assert _register_states(r, 540.0) == [("10.0.0.5", GROUP, "Join")]
    r.engine.handle_timer(740.0)  # 200 s after S's last packet: still there
    assert _register_states(r, 740.0) == [("10.0.0.5", GROUP, "Join")]
    r.engine.handle_timer(760.0)  # 220 s: gone
    assert _register_states(r, 760.0) == []
    doc = r.engine.pim_json(760.0)
    assert doc is not None
    assert doc["registers"]["counters"]["register_states_expired"] == 1
    assert len(registers(r.data(770.0))) == 1  # S again: registered again
    # and the RP's Register-Stop holds for it (state made anew, in Prune)
    r.engine.handle_unicast(unicast("10.1.0.2", RegisterStop(a(GROUP), a("10.0.0.5"))), 771.0)
    assert _register_states(r, 771.0) == [("10.0.0.5", GROUP, "Prune")]
    assert registers(r.data(772.0)) == []
