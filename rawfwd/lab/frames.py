"""Test traffic the labs send: UDP to a group, built by hand (no scapy at start-up)."""

from __future__ import annotations

import struct

from ..core.wire import ethernet_header, group_mac, ipv4_header


def udp_frame(
    src: bytes,
    group: bytes,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    sport: int = 40000,
    dport: int = 5000,
    src_mac: bytes = b"\x02\x00\x00\x00\xaa\x01",
) -> bytes:
    """An Ethernet II / IPv4 / UDP frame to multicast `group` (addresses as 4 bytes).

    For the demo, the benchmarks and the namespace tests. The UDP checksum is 0, "none" (RFC 768).
    """
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = ipv4_header(src, group, ttl=ttl, payload_len=len(udp), ident=ident & 0xFFFF)
    return ethernet_header(group_mac(int.from_bytes(group, "big")), src_mac) + header + udp
