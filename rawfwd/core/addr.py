"""Addresses of both families as integers in one space, so that the tables, the RPF
answers and the flows that key on integers serve IPv4 and IPv6 alike.

Theory of operation: an IPv4 address is its 32-bit value; an IPv6 address is its 128-bit
value with bit 128 set (`V6`), so no IPv6 address equals or lies below any IPv4 one. A
prefix becomes (network, mask) where an IPv4 mask also demands zero above bit 32 and an
IPv6 mask demands bit 128: `address & mask == network` then never matches across
families, whatever the prefixes ("::/0" holds no IPv4 address, "0.0.0.0/0" no IPv6 one).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Final

from ..config.values import Network

V6: Final = 1 << 128
_ALL: Final = (V6 << 1) - 1  # bits 0-128
_LOW32: Final = 0xFFFFFFFF
_LOW128: Final = V6 - 1

__all__ = ["V6", "Network", "from_packed", "is_v6", "net_mask", "of", "scope6", "text"]


def from_packed(packed: bytes) -> int:
    """4 or 16 bytes from the wire as an address integer."""
    value = int.from_bytes(packed, "big")
    return value | V6 if len(packed) == 16 else value


def of(address: IPv4Address | IPv6Address) -> int:
    """An ipaddress object as an address integer."""
    return int(address) | V6 if address.version == 6 else int(address)


def is_v6(value: int) -> bool:
    return value >= V6


def net_mask(net: Network) -> tuple[int, int]:
    """(network, mask) of `net` for `address & mask == network` (see the docstring)."""
    if net.version == 6:
        host = _LOW128 >> net.prefixlen
        return int(net.network_address) | V6, _ALL & ~host
    host = _LOW32 >> net.prefixlen
    return int(net.network_address), _ALL & ~host


def text(value: int) -> str:
    """An address integer as its usual text."""
    if value >= V6:
        return str(IPv6Address(value & _LOW128))
    return str(IPv4Address(value))


#: an IPv6 group's scope is the low nibble of its second byte (RFC 4291 section 2.7)
_SCOPE_SHIFT: Final = 112


def scope6(group: int) -> int:
    """The scope nibble of an IPv6 group integer."""
    return (group >> _SCOPE_SHIFT) & 0xF
