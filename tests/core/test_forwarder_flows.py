"""Forwarder flow state: keyed by (ingress, source, group), bounded, expired, snapshotted."""

from __future__ import annotations

import dataclasses

import pytest

from rawfwd.config.values import FlowSpec
from rawfwd.core import FlowSnapshot, Forwarder
from rawfwd.core.table import Lookup, RouteTable, RpfFunc

from ..support.forwarding import GROUP, SRC, R, basic, egresses, flow, good, iface, interpreted_only
from ..support.frames import addr, make_config, route, udp_frame

# -- the flow key --------------------------------------------------------------------------------


def test_flows_are_per_ingress_source_group() -> None:
    fwd = Forwarder(
        make_config(
            route("eth0", "239.0.0.0/8", ["eth2"]),
            route("eth1", "239.0.0.0/8", ["eth2"]),
        )
    )
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.1"), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.2", "239.1.1.1"), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.2"), 1.0)
    fwd.handle_frame("eth1", udp_frame("10.0.0.1", "239.1.1.1", ident=5), 1.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", "239.1.1.1", ident=6), 2.0)
    snap = fwd.snapshot(2.0)
    keys = [(f.iif, f.source, f.group, f.packets) for f in snap.flows]
    assert keys == [
        ("eth0", "10.0.0.1", "239.1.1.1", 2),
        ("eth0", "10.0.0.2", "239.1.1.1", 1),
        ("eth0", "10.0.0.1", "239.1.1.2", 1),
        ("eth1", "10.0.0.1", "239.1.1.1", 1),
    ]


def test_source_address_in_key_not_mac() -> None:
    f1 = udp_frame(SRC, GROUP, src_mac=bytes.fromhex("020000000099"))
    fwd = basic()
    fwd.handle_frame("eth0", f1, 1.0)
    assert [f.source for f in fwd.snapshot(1.0).flows] == [SRC]
    assert addr(SRC) == f1[26:30]


@interpreted_only
def test_lookup_once_per_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    # Per-flow work (route lookup, egress list, MAC headers) is done once, not per packet.
    calls: list[tuple[str, int, int]] = []
    real = RouteTable.lookup

    def counting(self: RouteTable, iif: str, source: int, group: int, rpf: RpfFunc) -> Lookup:
        calls.append((iif, source, group))
        return real(self, iif, source, group, rpf)

    monkeypatch.setattr(RouteTable, "lookup", counting)
    fwd = basic()
    for i in range(20):
        assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=i), 1.0 + i)) == 2
    fwd.handle_frame("eth0", udp_frame("10.0.0.6", GROUP), 30.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.6", GROUP, ident=1), 31.0)
    src, src2, grp = addr(SRC), addr("10.0.0.6"), addr(GROUP)
    as_int = int.from_bytes
    assert calls == [
        ("eth0", as_int(src, "big"), as_int(grp, "big")),
        ("eth0", as_int(src2, "big"), as_int(grp, "big")),
    ]


# -- flow state bounds ----------------------------------------------------------------------------


def test_flow_eviction_at_max_flows() -> None:
    fwd = Forwarder(make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(max_flows=2)))
    for i, src in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.3")):
        fwd.handle_frame("eth0", udp_frame(src, GROUP), 1.0 + i)
    snap = fwd.snapshot(4.0)
    assert [f.source for f in snap.flows] == ["10.0.0.2", "10.0.0.3"]
    assert snap.flows_evicted == 1
    # The evicted flow comes back as a new flow, with fresh counters, evicting the oldest.
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", GROUP, ident=1), 5.0)
    snap = fwd.snapshot(5.0)
    assert [(f.source, f.packets, f.first_seen) for f in snap.flows] == [
        ("10.0.0.3", 1, 3.0),
        ("10.0.0.1", 1, 5.0),
    ]
    assert snap.flows_evicted == 2
    # Interface counters are not affected by forgetting flows.
    assert iface(snap, "eth0").rx_frames == 4
    assert iface(snap, "eth1").tx_frames == 4


def test_flow_idle_expiry() -> None:
    fwd = Forwarder(
        make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(idle_timeout=10.0))
    )
    quiet = udp_frame("10.0.0.1", GROUP)
    fwd.handle_frame("eth0", quiet, 0.0)
    for i, now in enumerate((0.0, 8.0, 16.0, 24.0, 32.0)):
        fwd.handle_frame("eth0", udp_frame("10.0.0.2", GROUP, ident=i), now)
        if now <= 8.0:
            assert len(fwd.snapshot(now).flows) == 2  # silent < idle_timeout: kept
    snap = fwd.snapshot(32.0)
    assert [(f.source, f.packets) for f in snap.flows] == [("10.0.0.2", 5)]
    assert snap.flows_expired == 1
    assert snap.flows_evicted == 0


def test_flow_idle_expiry_all() -> None:
    fwd = Forwarder(
        make_config(route("eth0", "239.0.0.0/8", "eth1"), flows=FlowSpec(idle_timeout=5.0))
    )
    fwd.handle_frame("eth0", udp_frame("10.0.0.1", GROUP), 0.0)
    fwd.handle_frame("eth0", udp_frame("10.0.0.2", GROUP), 0.0)
    fwd.handle_frame("eth3", b"\x00" * 10, 1000.0)  # any frame drives the clock
    snap = fwd.snapshot(1000.0)
    assert snap.flows == ()
    assert snap.flows_expired == 2


def test_forgotten_flows_are_kept_for_take_retired() -> None:
    retired: list[FlowSnapshot] = []
    flows = FlowSpec(max_flows=2, idle_timeout=10.0)
    config = make_config(route("eth0", GROUP, ["eth1"]), flows=flows)
    fwd = Forwarder(config, keep_retired=True)
    for i, src in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        fwd.handle_frame("eth0", udp_frame(src, GROUP), 1.0 + i)
    retired += fwd.take_retired()
    assert [(f.source, f.packets, f.forwarded) for f in retired] == [("10.0.0.1", 1, 1)]
    assert list(fwd.take_retired()) == []  # each handed over once
    fwd.handle_frame("eth0", udp_frame("10.0.0.4", GROUP), 100.0)  # sweeps the idle ones
    retired += fwd.take_retired()
    assert [f.source for f in retired] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert [f.source for f in fwd.snapshot(100.0).flows] == ["10.0.0.4"]


# -- reconfiguration ------------------------------------------------------------------------------


def test_reconfigure_keeps_counters_and_applies_new_routes() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, "239.5.5.5", ident=2), 1.0)
    before = fwd.snapshot(1.0)
    assert flow(before, "eth0", group="239.5.5.5").drops == {R.NO_ROUTE: 1}

    fwd.reconfigure(make_config(route("eth0", GROUP, "eth2"), route("eth0", "239.5.5.5", "eth1")))
    mid = fwd.snapshot(1.5)
    assert iface(mid, "eth0") == iface(before, "eth0")
    assert iface(mid, "eth1") == iface(before, "eth1")
    assert flow(mid, "eth0").packets == 1
    assert flow(mid, "eth0").oifs == ("eth2",)

    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=3), 2.0)) == ["eth2"]
    assert egresses(fwd.handle_frame("eth0", udp_frame(SRC, "239.5.5.5", ident=4), 2.0)) == ["eth1"]
    after = fwd.snapshot(2.0)
    old_flow = flow(after, "eth0")
    assert (old_flow.packets, old_flow.forwarded, old_flow.first_seen) == (2, 2, 1.0)
    new_route = flow(after, "eth0", group="239.5.5.5")
    assert (new_route.packets, new_route.forwarded) == (2, 1)
    assert new_route.drops == {R.NO_ROUTE: 1}
    assert iface(after, "eth0").rx_frames == 4
    assert iface(after, "eth1").tx_frames == 2
    assert iface(after, "eth2").tx_frames == 1


def test_reconfigure_drops_removed_interfaces() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, "eth1")))
    fwd.handle_frame("eth0", good(), 1.0)
    fwd.reconfigure(make_config(route("eth1", GROUP, "eth2"), interfaces=("eth1", "eth2")))
    snap = fwd.snapshot(2.0)
    assert [i.name for i in snap.interfaces] == ["eth1", "eth2"]
    assert snap.flows == ()
    assert iface(snap, "eth1").tx_frames == 1
    assert fwd.handle_frame("eth0", good(), 2.0) == ()
    assert fwd.snapshot(2.0).drops == {R.UNKNOWN_IF: 1}


# -- snapshots ------------------------------------------------------------------------------------


def test_snapshots_are_immutable() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", good(), 1.0)
    fwd.handle_frame("eth0", good(), 1.0)
    snap = fwd.snapshot(1.0)
    f = flow(snap, "eth0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.packets = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.flows = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        iface(snap, "eth0").rx_frames = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.drops[R.DUPLICATE] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        iface(snap, "eth0").drops[R.TTL] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.drops[R.TTL] = 1  # type: ignore[index]
    assert isinstance(snap.flows, tuple)
    assert isinstance(snap.interfaces, tuple)


def test_snapshot_is_a_copy() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 1.0)
    first = fwd.snapshot(1.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=1), 2.0)
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ident=2), 2.0)
    fwd.handle_frame("eth0", udp_frame(SRC, "239.9.9.9"), 2.0)
    assert len(first.flows) == 1
    assert flow(first, "eth0").packets == 2
    assert flow(first, "eth0").drops == {R.DUPLICATE: 1}
    assert iface(first, "eth0").rx_frames == 2
    assert first.drops == {R.DUPLICATE: 1}
    later = fwd.snapshot(2.0)
    assert flow(later, "eth0").packets == 4
    assert later.drops == {R.DUPLICATE: 2, R.NO_ROUTE: 1}


def test_snapshot_to_json_uses_reason_names() -> None:
    fwd = basic()
    fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1), 1.0)
    data = fwd.snapshot(1.0).to_json()
    assert data["drops"] == {"ttl": 1}
    assert data["flows"][0]["drops"] == {"ttl": 1}
    assert data["flows"][0]["source"] == SRC
    assert data["interfaces"][0]["name"] == "eth0"


def test_flow_snapshots_in_parts_equal_the_whole_snapshot() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    for i in range(25):
        fwd.handle_frame("eth0", udp_frame(f"10.0.1.{i + 1}", GROUP, ident=i), 1.0 + i)
    parts = list(fwd.flow_snapshots(part=10))
    assert [len(p) for p in parts] == [10, 10, 5]
    whole = fwd.snapshot(30.0)
    assert fwd.snapshot(30.0, tuple(f for p in parts for f in p)) == whole
