"""Forwarder test helpers: the basic (*, 239.1.2.3) router, snapshot lookups, drop checks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rawfwd import native
from rawfwd.core import DropReason, FlowSnapshot, Forwarder, InterfaceSnapshot, Snapshot, Transmit

from .frames import make_config, route, udp_frame

R = DropReason
SRC = "10.0.0.5"
GROUP = "239.1.2.3"


def basic(thresholds: dict[str, int] | None = None) -> Forwarder:
    """(*, 239.1.2.3) from eth0 to eth1, eth2."""
    return Forwarder(make_config(route("eth0", GROUP, ["eth1", "eth2"]), thresholds=thresholds))


def iface(snap: Snapshot, name: str) -> InterfaceSnapshot:
    (found,) = [i for i in snap.interfaces if i.name == name]
    return found


def flow(snap: Snapshot, iif: str, source: str = SRC, group: str = GROUP) -> FlowSnapshot:
    found = [f for f in snap.flows if (f.iif, f.source, f.group) == (iif, source, group)]
    assert len(found) == 1, snap.flows
    return found[0]


def egresses(out: Sequence[Transmit]) -> list[str]:
    return [t.egress for t in out]


def good() -> bytes:
    return udp_frame(SRC, GROUP, ttl=8, ident=7)


def assert_port_drop(fwd: Forwarder, frame: bytes, reason: DropReason) -> None:
    assert fwd.handle_frame("eth0", frame, 1.0) == ()
    snap = fwd.snapshot(1.0)
    eth0 = iface(snap, "eth0")
    assert dict(eth0.drops) == {reason: 1}
    assert eth0.rx_frames == 1
    assert eth0.rx_bytes == len(frame)
    assert dict(snap.drops) == {reason: 1}
    assert snap.flows == ()
    for other in ("eth1", "eth2", "eth3"):
        assert dict(iface(snap, other).drops) == {}
        assert iface(snap, other).tx_frames == 0


def assert_flow_drop(
    fwd: Forwarder,
    iif: str,
    frame: bytes,
    reason: DropReason,
    *,
    group: str = GROUP,
    source: str = SRC,
    count: int = 1,
    now: float = 1.0,
) -> FlowSnapshot:
    assert fwd.handle_frame(iif, frame, now) == ()
    snap = fwd.snapshot(now)
    f = flow(snap, iif, source, group)
    assert f.drops.get(reason) == count, f.drops
    assert iface(snap, iif).drops.get(reason) == count
    assert snap.drops.get(reason) == count
    return f


#: for white-box tests that patch an engine class: compiled code calls it directly (mypyc),
#: so they run on the interpreted build (`make test` runs the engine's tests that way too)
interpreted_only = pytest.mark.skipif(
    native.status().compiled, reason="white box of an engine class: runs on the interpreted build"
)
