"""NHDP through the engine (replay mode, injected time): HELLOs out as whole frames on
MANET interfaces, HELLOs in set aside by the forwarder (never relayed), and the relay set
they choose deciding, per previous hop, which mesh packets this node relays."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

from rawfwd.config.values import Config, InterfaceSpec, Route
from rawfwd.control.engine import Engine
from rawfwd.control.nhdp import GROUP, PORT
from rawfwd.core import DropReason
from rawfwd.core.wire import internet_checksum

from ..support.frames import udp_frame

DATA = "239.5.5.5"


def mac(n: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, n])


def config(n: int, relay: str) -> Config:
    spec = InterfaceSpec(
        name="radio0",
        mac=mac(n),
        address=IPv4Interface(f"10.0.0.{n}/24"),
        manet=True,
        relay=relay,
    )
    return Config(interfaces={"radio0": spec}, routes=())


class Line:
    """Nodes 1 - 2 - 3, each an engine, hearing only their neighbours."""

    def __init__(self, relay: str) -> None:
        self.engines = {n: Engine(config(n, relay)) for n in (1, 2, 3)}
        self.hears = {1: [2], 2: [1, 3], 3: [2]}
        self.hellos: list[bytes] = []
        self.now = 0.0

    def run_until(self, end: float) -> None:
        """Run every engine's timers in time order, HELLOs delivered as they are sent."""
        while True:
            due = {n: e.next_timer() for n, e in self.engines.items()}
            n, t = min(((n, t) for n, t in due.items() if t is not None), key=lambda x: x[1])
            if t > end:
                return
            now = self.now = max(t, self.now)  # -inf: at once
            for name, frames in self.engines[n].handle_timer(now).frames:
                assert name == "radio0"
                for frame in frames:
                    self.hellos.append(frame)
                    for m in self.hears[n]:
                        out = self.engines[m].handle_frames("radio0", [frame], now)
                        assert out.frames == []  # a HELLO is never relayed


def test_hellos_leave_as_whole_frames_one_hop_to_224_0_0_109() -> None:
    line = Line("flood")
    line.run_until(0.0)
    frame = line.hellos[0]
    assert frame[0:6] == bytes.fromhex("01005e00006d")
    assert frame[14] == 0x45
    assert frame[22] == 1  # TTL 1
    assert frame[30:34] == GROUP
    assert int.from_bytes(frame[36:38], "big") == PORT
    assert internet_checksum(frame[14:34]) == 0
    udp = frame[34:]
    pseudo = frame[26:34] + bytes([0, 17]) + len(udp).to_bytes(2, "big")
    assert internet_checksum(pseudo + udp) == 0  # the UDP checksum is complete


def test_s_mpr_relays_only_for_the_neighbours_that_chose_this_node() -> None:
    line = Line("s-mpr")
    line.run_until(4.0)  # three HELLO rounds: symmetric, 2-hop known, MPRs advertised
    middle, end = line.engines[2], line.engines[3]
    assert middle.nhdp.ports["radio0"].relay_for == frozenset({mac(1), mac(3)})
    assert end.nhdp.ports["radio0"].relay_for == frozenset()
    packet = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=8, src_mac=mac(1))
    out = middle.handle_frames("radio0", [packet], 4.5)
    assert [(name, len(f)) for name, f in out.frames] == [("radio0", 1)]  # relayed
    relayed = out.frames[0][1][0]
    assert relayed[6:12] == mac(2)
    assert relayed[22] == 7
    assert end.handle_frames("radio0", [relayed], 4.6).frames == []  # 3 is nobody's MPR
    (flow,) = [f for f in end.snapshot(4.6).flows if f.group == DATA]
    assert flow.drops == {DropReason.NOT_RELAY: 1}


def test_flooding_relays_everything_and_a_packet_not_relayed_is_still_a_duplicate() -> None:
    line = Line("flood")
    line.run_until(4.0)
    packet = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=8, src_mac=mac(1))
    end = line.engines[3]
    assert end.nhdp.ports["radio0"].relay_for is None
    assert len(end.handle_frames("radio0", [packet], 4.5).frames) == 1
    s_mpr = Line("s-mpr")
    s_mpr.run_until(4.0)
    end = s_mpr.engines[3]
    from_2 = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=7, src_mac=mac(2))
    assert end.handle_frames("radio0", [from_2], 4.5).frames == []  # not relayed, recorded
    assert end.handle_frames("radio0", [from_2], 4.6).frames == []
    (flow,) = [f for f in end.snapshot(4.6).flows if f.group == DATA]
    assert flow.drops == {DropReason.NOT_RELAY: 1, DropReason.DUPLICATE: 1}


def test_s_mpr_ignores_a_packet_from_a_node_that_is_no_symmetric_neighbour() -> None:
    """RFC 6621 B.2 rule 3: not relayed and not recorded, so the same packet from a real
    neighbour later is no duplicate."""
    line = Line("s-mpr")
    line.run_until(4.0)
    end = line.engines[3]
    stranger = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=8, src_mac=mac(1))
    from_2 = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=7, src_mac=mac(2))
    assert end.handle_frames("radio0", [stranger], 4.5).frames == []
    assert end.handle_frames("radio0", [from_2], 4.6).frames == []
    (flow,) = [f for f in end.snapshot(4.6).flows if f.group == DATA]
    assert flow.drops == {DropReason.NOT_RELAY: 2}  # the second was no duplicate


def test_a_gateway_that_does_not_relay_on_the_mesh_still_forwards_off_it() -> None:
    radio = config(2, "s-mpr").interfaces["radio0"]
    lan = InterfaceSpec(name="eth1", mac=mac(9), address=IPv4Interface("10.9.0.1/24"))
    route = Route("radio0", IPv4Network(DATA), None, ("eth1",))
    engine = Engine(Config(interfaces={"radio0": radio, "eth1": lan}, routes=(route,)))
    engine.handle_timer(0.0)
    assert engine.nhdp.ports["radio0"].relay_for == frozenset()  # nobody chose it
    packet = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=8, src_mac=mac(1))
    out = engine.handle_frames("radio0", [packet], 0.5)
    assert [name for name, _ in out.frames] == ["eth1"]
    assert out.frames[0][1][0][22] == 7


def test_a_node_between_two_radios_bridges_them_though_it_relays_on_neither() -> None:
    """The arrival radio's relay set decides the retransmission there only: another MANET
    interface (here flooding) still gets its copy."""
    radio0 = config(2, "s-mpr").interfaces["radio0"]
    radio1 = InterfaceSpec(
        name="radio1", mac=mac(8), address=IPv4Interface("10.8.0.1/24"), manet=True
    )
    engine = Engine(Config(interfaces={"radio0": radio0, "radio1": radio1}, routes=()))
    engine.handle_timer(0.0)
    assert engine.nhdp.ports["radio0"].relay_for == frozenset()
    packet = udp_frame("10.0.0.1", DATA, payload=b"data", ttl=8, src_mac=mac(1))
    out = engine.handle_frames("radio0", [packet], 0.5)
    assert [name for name, _ in out.frames] == ["radio1"]


def test_hellos_with_a_bad_udp_length_or_fragmented_are_counted_not_read() -> None:
    line = Line("flood")
    line.run_until(0.0)
    good = next(f for f in line.hellos if f[6:12] == mac(1))
    ulen = int.from_bytes(good[38:40], "big")
    long = good[:38] + (ulen + 50).to_bytes(2, "big") + good[40:]
    short = good[:38] + (7).to_bytes(2, "big") + good[40:]
    frag = good[:14] + _with_more_fragments(good[14:34]) + good[34:]
    engine = Engine(config(2, "flood"))
    for frame in (long, short, frag):
        engine.handle_frames("radio0", [frame], 0.5)
    counters = engine.nhdp.ports["radio0"].counters
    assert (counters["bad UDP length"], counters["fragment"]) == (2, 1)
    assert engine.nhdp.ports["radio0"].links == {}
    engine.handle_frames("radio0", [good], 0.6)  # the same HELLO, whole, is read
    assert len(engine.nhdp.ports["radio0"].links) == 1


def _with_more_fragments(header: bytes) -> bytes:
    """The IPv4 header with MF set and its checksum made right again: the frame must pass
    the forwarder's header check to reach NHDP."""
    header = header[:6] + b"\x20\x00" + header[8:10] + b"\0\0" + header[12:]
    return header[:10] + internet_checksum(header).to_bytes(2, "big") + header[12:]


def test_a_hello_on_a_radio_without_nhdp_is_counted_as_ignored() -> None:
    radio0 = config(2, "flood").interfaces["radio0"]
    quiet = InterfaceSpec(
        name="radio1", mac=mac(8), address=IPv4Interface("10.8.0.1/24"), manet=True, nhdp=False
    )
    engine = Engine(Config(interfaces={"radio0": radio0, "radio1": quiet}, routes=()))
    line = Line("flood")
    line.run_until(0.0)
    assert engine.handle_frames("radio1", [line.hellos[0]], 0.5).frames == []
    doc = engine.nhdp_json(0.5)
    assert doc is not None
    assert doc["ignored"] == 1
    assert [i["interface"] for i in doc["interfaces"]] == ["radio0"]
