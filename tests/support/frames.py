"""Test helpers: Ethernet II + IPv4 frames built from raw bytes, and small configs.

No scapy: frames are assembled with `rawfwd.core.wire.ipv4_header` / `ethernet_header`, and
the expectations the tests check (RFC 1112 MACs, RFC 1071 checksums) are computed here from
the RFC rules rather than with the code under test.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, ip_network

from rawfwd.config.toml import parse_toml
from rawfwd.config.values import Config, DedupMode, DedupSpec, FlowSpec, InterfaceSpec, Route
from rawfwd.core.wire import ethernet_header, ipv4_header

#: The MAC of the sending host in every test frame unless a test says otherwise.
HOST_MAC = bytes.fromhex("020000aaaaaa")
#: Interfaces every `make_config` defines, with their MACs: eth0 02:00:00:00:00:01, ...
IFACES = ("eth0", "eth1", "eth2", "eth3")
DEFAULT_PAYLOAD = b"hello, multicast"
UDP_PORT = 5000


def if_mac(name: str) -> bytes:
    """The MAC `make_config` gives interface `name` (eth0 -> 02:00:00:00:00:01)."""
    return bytes((2, 0, 0, 0, 0, IFACES.index(name) + 1))


def addr(text: str) -> bytes:
    """A dotted quad as 4 bytes."""
    return IPv4Address(text).packed


def rfc1112_mac(group: str | int) -> bytes:
    """RFC 1112 section 6.4: the low 23 bits of the group into 01-00-5E-00-00-00."""
    g = int(IPv4Address(group))
    return (0x01005E000000 | (g & 0x7FFFFF)).to_bytes(6, "big")


def ones_complement_checksum(data: bytes) -> int:
    """RFC 1071 checksum, written independently of rawfwd.core.wire (a plain loop)."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(
    src: str,
    group: str,
    *,
    ttl: int = 64,
    payload: bytes = DEFAULT_PAYLOAD,
    ident: int = 0,
    frag: int = 0,
    options: bytes = b"",
    proto: int = 17,
    src_mac: bytes = HOST_MAC,
    dst_mac: bytes | None = None,
    ethertype: int = 0x0800,
    padding: bytes = b"",
) -> bytes:
    """An Ethernet II frame carrying an IPv4 packet from `src` to `group`.

    For proto 17 the payload is wrapped in a UDP header (checksum 0, port 5000); `padding`
    is appended after the IP packet, as Ethernet does for short frames.
    """
    body = payload
    if proto == 17:
        body = struct.pack("!HHHH", UDP_PORT, UDP_PORT, 8 + len(payload), 0) + payload
    ip = ipv4_header(
        addr(src),
        addr(group),
        ttl=ttl,
        proto=proto,
        payload_len=len(body),
        ident=ident,
        frag=frag,
        options=options,
    )
    dst = rfc1112_mac(group) if dst_mac is None else dst_mac
    return ethernet_header(dst, src_mac, ethertype) + ip + body + padding


def ip_of(frame: bytes) -> bytes:
    """The IPv4 packet in an Ethernet II frame, without link padding."""
    total = int.from_bytes(frame[16:18], "big")
    return frame[14 : 14 + total]


def ihl_bytes(frame: bytes) -> int:
    """The IPv4 header length in bytes of the packet in `frame`."""
    return (frame[14] & 0x0F) * 4


def patch(frame: bytes, offset: int, data: bytes, *, fix_checksum: bool = True) -> bytes:
    """`frame` with `data` written at `offset`; the IPv4 header checksum recomputed if asked."""
    out = bytearray(frame)
    out[offset : offset + len(data)] = data
    if fix_checksum:
        ihl = max(out[14] & 0x0F, 5) * 4
        out[24:26] = b"\x00\x00"
        out[24:26] = ones_complement_checksum(bytes(out[14 : 14 + ihl])).to_bytes(2, "big")
    return bytes(out)


def expected_forward(frame: bytes, egress: str, group: str) -> bytes:
    """The frame RFC 1112/791/1812 say should leave on `egress` (computed independently).

    Destination MAC from the group, source MAC of the egress, TTL minus one, checksum fully
    recomputed, everything after the TTL unchanged, link padding dropped.
    """
    ip = bytearray(ip_of(frame))
    ip[8] -= 1
    ihl = (ip[0] & 0x0F) * 4
    ip[10:12] = b"\x00\x00"
    ip[10:12] = ones_complement_checksum(bytes(ip[:ihl])).to_bytes(2, "big")
    return rfc1112_mac(group) + if_mac(egress) + b"\x08\x00" + bytes(ip)


def route(iif: str, group: str, to: Iterable[str] | str, *, source: str | None = None) -> Route:
    """A Route like `[[route]] from = iif, group = group, source = source, to = to`."""
    oifs = (to,) if isinstance(to, str) else tuple(to)
    return Route(
        iif=iif,
        group=ip_network(group),
        source=ip_network(source) if source is not None else None,
        oifs=oifs,
    )


def make_config(
    *routes: Route,
    thresholds: Mapping[str, int] | None = None,
    manet: Iterable[str] = (),
    dedup: DedupMode | DedupSpec = DedupMode.HASH,
    window: float = 5.0,
    flows: FlowSpec | None = None,
    interfaces: Iterable[str] = IFACES,
) -> Config:
    """A Config with interfaces eth0..eth3 (MACs from `if_mac`) and the given routes."""
    thresholds = thresholds or {}
    manet = set(manet)
    specs = {
        name: InterfaceSpec(
            name=name,
            mac=if_mac(name),
            ttl_threshold=thresholds.get(name, 1),
            manet=name in manet,
        )
        for name in interfaces
    }
    spec = dedup if isinstance(dedup, DedupSpec) else DedupSpec(mode=dedup, window=window)
    return Config(
        interfaces=specs,
        routes=tuple(routes),
        dedup=spec,
        flows=flows if flows is not None else FlowSpec(),
    )


def toml_config(text: str, path: str = "test.toml") -> Config:
    """Parse a rawfwd TOML document (a thin wrapper, for symmetry with `make_config`)."""
    return parse_toml(text, path)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the `occurrence`-th `needle` (for error lines)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")
