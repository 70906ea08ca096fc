"""Frozen snapshots of the forwarder's mutable state, for the view model and replay summaries.

Built on request (a view refresh, `rawfwd show`, a retired flow), never on the packet path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from ipaddress import IPv6Address
from typing import Final

from .reasons import DropReason
from .state import Flow, Port
from .stats import FlowSnapshot, InterfaceSnapshot, freeze_drops
from .wire import format_mac

_NO_DROPS: Final = freeze_drops({})


def _address(packed: bytes) -> str:
    return str(IPv6Address(packed))


def describe(flow: Flow, route_text: Mapping[int, str]) -> str | None:
    """What decided the flow's egress: its route, and MANET flooding or IGMP members if they
    add any (`route_text`: each route's normalised text by its id)."""
    route = route_text[id(flow.route)] if flow.route is not None else None
    if flow.verdict is not None:
        return route
    if flow.members:
        route = "igmp" if route is None else f"{route} + igmp"
    if flow.flood:
        return "flood" if route is None else f"flood + {route}"
    return route


def flow_snapshot(flow: Flow, route_text: Mapping[int, str]) -> FlowSnapshot:
    key = flow.key
    return FlowSnapshot(
        iif=flow.port.name,
        source=_address(key[:16]) if flow.v6 else "{}.{}.{}.{}".format(*key[:4]),
        group=_address(key[16:]) if flow.v6 else "{}.{}.{}.{}".format(*key[4:]),
        route=describe(flow, route_text),
        oifs=flow.oifs,
        packets=flow.packets,
        bytes=flow.bytes,
        forwarded=flow.forwarded,
        copies=flow.copies,
        drops=freeze_drops(flow.drops) if flow.drops else _NO_DROPS,
        first_seen=flow.first,
        last_seen=flow.last,
        local=flow.local,
        kernel_packets=flow.kernel,
    )


def interface_snapshot(port: Port) -> InterfaceSnapshot:
    return InterfaceSnapshot(
        name=port.name,
        mac=format_mac(port.mac) if port.mac is not None else None,
        up=port.up,
        rx_frames=port.rx_frames,
        rx_bytes=port.rx_bytes,
        tx_frames=port.tx_frames,
        tx_bytes=port.tx_bytes,
        relayed=port.relayed,
        igmp=port.igmp,
        icmp6=port.icmp6,
        pim=port.pim,
        drops=freeze_drops(port.drops),
    )


def total_drops(ports: Iterable[Port], unknown_if: int) -> Mapping[DropReason, int]:
    """Drops of every interface by reason, plus frames from interfaces not configured."""
    total: Counter[DropReason] = Counter()
    for port in ports:
        total.update(port.drops)
    if unknown_if:
        total[DropReason.UNKNOWN_IF] += unknown_if
    return freeze_drops(total)
