"""PIM Hellos and DR election through the engine (replay mode, injected time), as RFC 7761
section 4.3 has them: routers on one LAN, each an engine, hearing each other's Hellos."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import pytest

from rawfwd.config.values import Config, InterfaceSpec, PimInterfaceSpec
from rawfwd.control import pim
from rawfwd.control.engine import Engine
from rawfwd.control.pim import Hello
from rawfwd.core.wire import ethernet_header, group_mac, internet_checksum

from ..support.frames import udp_frame


def a(text: str) -> int:
    return int(IPv4Address(text))


def config(n: int, *, priority: int = 1, pim_on: bool = True, **more: float) -> Config:
    spec = InterfaceSpec(
        name="lan0",
        mac=bytes([2, 0, 0, 0, 0, n]),
        address=IPv4Interface(f"10.0.0.{n}/24"),
        pim=PimInterfaceSpec(dr_priority=priority, **more) if pim_on else None,  # type: ignore[arg-type]
    )
    return Config(interfaces={"lan0": spec}, routes=())


def hello_frame(source: str, hello: Hello, *, n: int = 99) -> bytes:
    packet = pim.ip_packet(a(source), pim.ALL_PIM_ROUTERS, pim.build(hello))
    return ethernet_header(group_mac(pim.ALL_PIM_ROUTERS), bytes([2, 0, 0, 0, 0, n])) + packet


def sent(engine: Engine, now: float) -> list[bytes]:
    return [f for _, frames in engine.handle_timer(now).frames for f in frames]


def interface(engine: Engine, now: float = 0.0) -> dict:  # type: ignore[type-arg]
    doc = engine.pim_json(now)
    assert doc is not None
    (only,) = doc["interfaces"]
    return only  # type: ignore[no-any-return]


def test_hellos_on_start_and_every_period() -> None:
    """Section 4.3.1: the first Hello within Triggered_Hello_Delay of start (a random draw),
    then one per Hello_Period, holdtime 3.5 x that period."""
    engine = Engine(config(1, priority=7), random=lambda: 0.4)
    assert engine.next_timer() == float("-inf")
    assert sent(engine, 0.0) == []  # scheduled: 0.4 x 5 s
    assert engine.next_timer() == pytest.approx(2.0)
    (frame,) = sent(engine, 2.0)
    assert frame[:6] == bytes.fromhex("01005e00000d")  # 224.0.0.13
    assert frame[6:12] == bytes([2, 0, 0, 0, 0, 1])
    assert (frame[22], frame[23]) == (1, 103)  # TTL 1, PIM
    assert frame[26:34] == IPv4Address("10.0.0.1").packed + IPv4Address("224.0.0.13").packed
    assert internet_checksum(frame[14:34]) == 0
    assert pim.parse(frame[34:]) == Hello(
        holdtime=105,
        dr_priority=7,
        generation_id=int(0.4 * 2**32),
        lan_prune_delay=(False, 500, 2500),
    )
    assert engine.next_timer() == pytest.approx(32.0)
    assert sent(engine, 31.9) == []
    assert len(sent(engine, 32.0)) == 1
    assert interface(engine)["counters"]["hello_out"] == 2


class Lan:
    """Routers on one LAN, each an engine; every Hello reaches every other router."""

    def __init__(self, configs: dict[int, Config]) -> None:
        self.engines = {n: Engine(c, random=lambda: 0.5) for n, c in configs.items()}
        self.now = 0.0
        self.deaf: set[int] = set()

    def run_until(self, end: float) -> None:
        while True:
            due = {n: e.next_timer() for n, e in self.engines.items()}
            pending = [(n, t) for n, t in due.items() if t is not None and t <= end]
            if not pending:
                self.now = end
                return
            n, t = min(pending, key=lambda x: x[1])
            self.now = max(t, self.now)
            for frame in sent(self.engines[n], self.now):
                for m, other in self.engines.items():
                    if m != n and m not in self.deaf:
                        assert other.handle_frames("lan0", [frame], self.now).frames == []

    def dr(self, n: int) -> str:
        return str(interface(self.engines[n], self.now)["dr"])


def test_dr_by_priority_then_address() -> None:
    """Section 4.3.2: the highest priority wins; equal priorities, the highest address."""
    lan = Lan({1: config(1, priority=5), 2: config(2), 3: config(3)})
    lan.run_until(10.0)
    assert {lan.dr(n) for n in (1, 2, 3)} == {"10.0.0.1"}
    view = interface(lan.engines[2], lan.now)
    assert [nb["address"] for nb in view["neighbors"]] == ["10.0.0.1", "10.0.0.3"]
    assert [nb["dr_priority"] for nb in view["neighbors"]] == [5, 1]
    assert view["neighbors"][0]["holdtime"] == 105
    assert interface(lan.engines[1], lan.now)["is_dr"] is True

    equal = Lan({1: config(1), 2: config(2), 3: config(3)})
    equal.run_until(10.0)
    assert {equal.dr(n) for n in (1, 2, 3)} == {"10.0.0.3"}


def test_a_router_without_the_priority_option_makes_the_address_decide() -> None:
    """Section 4.3.2: one router on the link without a DR priority: addresses alone."""
    engine = Engine(config(2, priority=100))
    sent(engine, 0.0)
    engine.handle_frames("lan0", [hello_frame("10.0.0.1", Hello(105, 1, 1))], 1.0)
    assert interface(engine, 1.0)["dr"] == "10.0.0.2"  # priority 100 wins
    engine.handle_frames("lan0", [hello_frame("10.0.0.9", Hello(105, None, 2))], 1.0)
    assert interface(engine, 1.0)["dr"] == "10.0.0.9"  # highest address, priorities ignored


def test_a_silent_neighbour_expires_and_the_dr_moves() -> None:
    lan = Lan({1: config(1), 2: config(2, hello_interval=10.0, hello_holdtime=35.0)})
    lan.run_until(20.0)
    assert lan.dr(1) == "10.0.0.2"
    lan.deaf.add(1)  # router 1 hears nothing more: 2's last Hello was at 12.5 s
    lan.run_until(47.4)
    assert lan.dr(1) == "10.0.0.2"
    lan.run_until(47.6)  # 12.5 + 35
    assert lan.dr(1) == "10.0.0.1"
    assert interface(lan.engines[1], lan.now)["counters"]["expired_neighbors"] == 1


def test_holdtime_zero_is_goodbye_and_forever_never_expires() -> None:
    engine = Engine(config(1))
    engine.handle_frames("lan0", [hello_frame("10.0.0.5", Hello(0xFFFF, 1, 7))], 0.0)
    engine.handle_timer(1e9)
    assert [n["address"] for n in interface(engine, 1e9)["neighbors"]] == ["10.0.0.5"]
    assert interface(engine, 1e9)["neighbors"][0]["expires"] is None
    engine.handle_frames("lan0", [hello_frame("10.0.0.5", Hello(0, 1, 7))], 1e9)
    assert interface(engine, 1e9)["neighbors"] == []


def test_a_new_or_restarted_neighbour_brings_our_hello_forward() -> None:
    """Section 4.3.1: a Hello from a new neighbour, or from a known one with a new
    generation ID, is answered within Triggered_Hello_Delay, not a whole period later."""
    engine = Engine(config(1), random=lambda: 0.2)
    sent(engine, 0.0)
    assert len(sent(engine, 1.0)) == 1  # first Hello at 0.2 x 5 s; next at 31 s
    engine.handle_frames("lan0", [hello_frame("10.0.0.5", Hello(105, 1, 7))], 10.0)
    assert engine.next_timer() == pytest.approx(11.0)
    assert len(sent(engine, 11.0)) == 1
    engine.handle_frames("lan0", [hello_frame("10.0.0.5", Hello(105, 1, 7))], 20.0)
    assert engine.next_timer() == pytest.approx(41.0)  # the same neighbour: nothing new
    engine.handle_frames("lan0", [hello_frame("10.0.0.5", Hello(105, 1, 8))], 25.0)
    assert engine.next_timer() == pytest.approx(26.0)  # restarted
    view = interface(engine, 25.0)
    assert (view["counters"]["new_neighbors"], view["counters"]["restarts"]) == (1, 1)
    assert view["neighbors"][0]["generation_id"] == 8


def test_bad_and_foreign_pim_is_counted_never_forwarded() -> None:
    engine = Engine(config(1))
    good = hello_frame("10.0.0.5", Hello(105, 1, 7))
    bad_sum = good[:-1] + bytes([good[-1] ^ 0xFF])
    ours = hello_frame("10.0.0.1", Hello(105, 1, 7))
    out = engine.handle_frames("lan0", [bad_sum, ours, good], 0.0)
    assert out.frames == []
    counters = interface(engine)["counters"]
    assert (counters["bad_checksum"], counters["bad_source"], counters["hello_in"]) == (1, 1, 1)
    snap = engine.snapshot(0.0)
    assert snap.flows == ()  # PIM is never a flow
    assert snap.interfaces[0].pim == 3

    off = Engine(config(1, pim_on=False))
    assert off.handle_frames("lan0", [good], 0.0).frames == []
    assert off.pim_json(0.0) is None
    assert off.snapshot(0.0).flows == ()


def test_data_to_a_group_is_still_a_flow() -> None:
    """Only PIM is the PIM router's: UDP to 224.0.0.13 is a flow like any other."""
    engine = Engine(config(1))
    frame = udp_frame("10.0.0.5", "224.0.0.13", ttl=1)
    engine.handle_frames("lan0", [frame], 0.0)
    assert len(engine.snapshot(0.0).flows) == 1


def test_removing_pim_says_goodbye_and_shutdown_too() -> None:
    engine = Engine(config(1))
    sent(engine, 0.0)
    assert len(sent(engine, 3.0)) == 1
    engine.reconfigure(config(1, pim_on=False))
    (goodbye,) = sent(engine, 4.0)
    assert pim.parse(goodbye[34:]) == Hello(0, 1, int(0.5 * 2**32), (False, 500, 2500))
    assert engine.pim_json(4.0) is None
    again = Engine(config(2))
    (bye,) = [f for _, frames in again.shutdown().frames for f in frames]
    parsed = pim.parse(bye[34:])
    assert isinstance(parsed, Hello)
    assert parsed.holdtime == 0


def test_neighbours_per_interface_are_bounded() -> None:
    """Spoofed Hellos from ever new addresses cannot grow the table without limit."""
    from rawfwd.control.pim_router import MAX_NEIGHBORS

    engine = Engine(config(1))
    frames = [hello_frame(f"10.0.{n // 250}.{n % 250 + 2}", Hello(105, 1, n)) for n in range(100)]
    engine.handle_frames("lan0", frames, 0.0)
    view = interface(engine)
    assert len(view["neighbors"]) == MAX_NEIGHBORS
    assert view["counters"]["too_many_neighbors"] == 100 - MAX_NEIGHBORS
