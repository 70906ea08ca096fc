"""Pcap replay goldens: scenarios -> tests/data/CASE/{config, in/*.pcap, expected/*}.

Each scenario lists its input frames (built with scapy) and what must come out, written as
the rules say it should (frames per egress, drops per reason). `make goldens` rebuilds the
inputs, replays them, checks those expectations and writes the expected outputs; review the
diff before committing. tests/replay/test_goldens.py replays the committed inputs and compares
byte for byte, and checks the same expectations.

    python -m tests.support.goldens --regenerate
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from scapy.contrib.pim import (
    PIMv2GroupAddrs,
    PIMv2Hdr,
    PIMv2Hello,
    PIMv2HelloDRPriority,
    PIMv2HelloHoldtime,
    PIMv2JoinAddrs,
    PIMv2JoinPrune,
    PIMv2PruneAddrs,
)
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import (
    ICMPv6MLDMultAddrRec,
    ICMPv6MLDone,
    ICMPv6MLReport,
    ICMPv6MLReport2,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
    RouterAlert,
)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import RawPcapWriter

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_700_000_000.0
SENDER = "02:00:00:00:aa:01"
PEER = "02:00:00:00:bb:01"


def udp(
    src: str,
    dst: str,
    *,
    ttl: int = 64,
    payload: bytes = b"x" * 18,
    ident: int = 1,
    mac: str = SENDER,
    **ip: Any,
) -> Packet:
    """An Ethernet/IPv4/UDP frame as a kernel sender would emit it."""
    octets = [int(o) for o in dst.split(".")]
    dst_mac = f"01:00:5e:{octets[1] & 0x7F:02x}:{octets[2]:02x}:{octets[3]:02x}"
    return (
        Ether(src=mac, dst=dst_mac)
        / IP(src=src, dst=dst, ttl=ttl, id=ident, **ip)
        / UDP(sport=40000, dport=5000)
        / Raw(payload)
    )


def raw(pkt: Packet) -> bytes:
    return bytes(pkt)


def corrupt(pkt: Packet, offset: int, value: int) -> bytes:
    """The frame with byte `offset` (from the Ethernet start) replaced: malformed input."""
    data = bytearray(bytes(pkt))
    data[offset] = value
    return bytes(data)


Frame = bytes | Packet


@dataclass
class Case:
    """One golden scenario."""

    name: str
    config_name: str
    config: str
    inputs: dict[str, list[tuple[float, Frame]]]
    outputs: dict[str, int]  #: frames expected per egress interface
    drops: dict[str, int]  #: drops expected per reason, all interfaces
    check: Callable[[dict[str, Any]], None] | None = None
    args: list[str] = field(default_factory=list)


ROUTING_TOML = """\
# routing: (S,G) vs (*,G), longest prefix, thresholds, link-local opt-in, RPF, malformed input
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"

[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"

[interface.eth2]
mac = "02:00:00:00:00:03"
ttl_threshold = 4

[[route]]
from = "eth0"
group = "239.1.2.3"
source = "10.0.0.5"
to = ["eth1", "eth2"]

[[route]]
from = "eth0"
group = "239.1.0.0/16"
to = ["eth1"]

[[route]]
from = "eth0"
group = "239.0.0.0/8"
to = ["eth2"]

[[route]]
from = "eth0"
group = "224.0.0.251"   # mDNS: explicit link-local opt-in
to = ["eth1"]

[[route]]
from = "eth1"
group = "239.5.5.5"
to = ["eth0"]

[dedup]
window = 5.0
"""


def routing_case() -> Case:
    sg = udp("10.0.0.5", "239.1.2.3", payload=b"first packet......")
    # 45 bytes of IP frame, padded to the 60-byte Ethernet minimum as on the wire
    padded = raw(udp("10.0.0.5", "239.1.2.3", payload=b"pad", ident=77)).ljust(60, b"\0")
    frag_a = udp("10.0.0.5", "239.1.2.3", ident=900, flags="MF", payload=b"A" * 24)
    frag_b = (
        Ether(src=SENDER, dst="01:00:5e:01:02:03")
        / IP(src="10.0.0.5", dst="239.1.2.3", id=900, frag=4, proto=17)
        / Raw(b"B" * 16)
    )
    eth0 = [
        sg,  # (S,G): eth1 + eth2
        udp("10.0.0.6", "239.1.2.3"),  # (*,239.1/16) beats (*,239/8): eth1
        udp("10.0.0.6", "239.2.0.1"),  # (*,239/8): eth2
        udp("10.0.0.5", "239.1.2.3", ttl=4, payload=b"ttl four"),  # 4 > 4 fails on eth2
        udp("10.0.0.5", "239.1.2.3", ttl=5, payload=b"ttl five"),  # both
        udp("10.0.0.5", "239.1.2.3", ttl=1, payload=b"ttl one"),  # ttl
        udp("10.0.0.6", "239.2.0.1", ttl=3, payload=b"below eth2"),  # threshold
        Ether(src=SENDER, dst="01:00:5e:00:00:16")
        / IP(src="10.0.0.7", dst="224.0.0.22", ttl=1, proto=2, options=[IPOption_Router_Alert()])
        / Raw(b"\x22\x00\xfa\xfd\x00\x00\x00\x00"),  # IGMPv3 report: control, not a flow
        udp("10.0.0.7", "224.0.0.251", ttl=255, payload=b"mdns"),  # opt-in: eth1
        udp("10.0.0.7", "224.0.0.252", ttl=255, payload=b"llmnr"),  # link_local
        udp("10.0.0.8", "239.5.5.5"),  # route is from eth1: wrong_if
        udp("10.0.0.8", "238.1.1.1"),  # no_route
        udp("10.0.0.5", "239.1.2.3", options=[IPOption_Router_Alert()], payload=b"opts"),
        padded,
        frag_a,
        frag_b,
        udp("10.0.0.5", "239.1.2.3", ttl=60, payload=b"first packet......"),  # duplicate
        corrupt(udp("10.0.0.5", "239.1.2.3", payload=b"bad csum"), 24, 0),  # bad_checksum
        raw(udp("10.0.0.5", "239.1.2.3"))[:30],  # truncated
        corrupt(udp("10.0.0.5", "239.1.2.3"), 14, 0x44),  # bad_ihl
        corrupt(udp("10.0.0.5", "239.1.2.3"), 14, 0x65),  # bad_version
        corrupt(corrupt(udp("10.0.0.5", "239.1.2.3"), 16, 0), 17, 10),  # bad_length
        Ether(src=SENDER, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.5", pdst="10.0.0.1"),
        Ether(src=SENDER, dst="02:00:00:00:00:01") / IP(src="10.0.0.5", dst="10.0.0.1") / UDP(),
        udp("224.1.1.1", "239.1.2.3"),  # bad_source
    ]
    timed = [(T0 + i * 0.001, f) for i, f in enumerate(eth0)]
    timed.append((T0 + 10.0, sg))  # the window (5 s) has passed: forwarded again
    eth1 = [
        (T0 + 0.0035, udp("10.1.0.9", "239.5.5.5", mac=PEER)),  # back to eth0
        (T0 + 0.0115, udp("10.1.0.9", "239.5.5.5", mac=PEER, ident=2)),
    ]
    return Case(
        name="routing",
        config_name="rawfwd.toml",
        config=ROUTING_TOML,
        inputs={"eth0": timed, "eth1": eth1},
        outputs={"eth1": 10, "eth2": 8, "eth0": 2},
        drops={
            "ttl": 1,
            "threshold": 1,
            "link_local": 1,
            "wrong_if": 1,
            "no_route": 1,
            "duplicate": 1,
            "bad_checksum": 1,
            "truncated": 1,
            "bad_ihl": 1,
            "bad_version": 1,
            "bad_length": 1,
            "not_ip": 1,
            "not_multicast": 1,
            "bad_source": 1,
        },
    )


ID_TOML = """\
# I-DPD: duplicates by (src, dst, proto, ID, fragment offset)
[interface.eth0]
mac = "02:00:00:00:00:01"
[interface.eth1]
mac = "02:00:00:00:00:02"

[[route]]
from = "eth0"
group = "239.0.0.0/8"
to = ["eth1"]

[dedup]
mode = "id"
window = 2.0
"""


def id_case() -> Case:
    frames = [
        udp("10.0.0.5", "239.9.9.9", ident=10, payload=b"one"),
        udp("10.0.0.5", "239.9.9.9", ident=10, payload=b"other payload"),  # same ID: duplicate
        udp("10.0.0.5", "239.9.9.9", ident=11, payload=b"one"),  # new ID: forwarded
        udp("10.0.0.6", "239.9.9.9", ident=10, payload=b"one"),  # other source: forwarded
    ]
    timed = [(T0 + i * 0.5, f) for i, f in enumerate(frames)]
    timed.append((T0 + 3.0, frames[0]))  # after the 2 s window: forwarded again
    return Case("id_mode", "rawfwd.toml", ID_TOML, {"eth0": timed}, {"eth1": 4}, {"duplicate": 1})


MANET_TOML = """\
# MANET: retransmit on the arrival interface; the neighbour's relay of it is a duplicate
[interface.radio0]
mac = "02:00:00:00:00:0a"
manet = true
[interface.eth1]
mac = "02:00:00:00:00:02"

[[route]]
from = "radio0"
group = "239.0.0.0/8"
to = ["radio0", "eth1"]
"""


def manet_case() -> Case:
    first = udp("10.9.0.1", "239.7.7.7", ttl=8, payload=b"hello mesh")
    echo = udp("10.9.0.1", "239.7.7.7", ttl=6, payload=b"hello mesh", mac=PEER)
    other = udp("10.9.0.1", "239.7.7.7", ttl=8, ident=2, payload=b"second")
    timed = [(T0, first), (T0 + 0.01, echo), (T0 + 0.02, other)]
    return Case(
        "manet",
        "rawfwd.toml",
        MANET_TOML,
        {"radio0": timed},
        {"radio0": 2, "eth1": 2},
        {"duplicate": 1},
    )


SMCROUTE_CONF = """\
# an smcroute.conf as smcroute users have it (no MACs: replay makes them up)
phyint eth0 enable
phyint eth1 enable ttl-threshold 10
mgroup from eth0 group 239.3.3.3
mroute from eth0 source 10.0.0.5 group 239.3.3.3 to eth1 eth2
mroute from eth0 group 239.4.0.0/16 to eth2
"""


def smcroute_case() -> Case:
    frames = [
        udp("10.0.0.5", "239.3.3.3", ttl=64),  # eth1 + eth2
        udp("10.0.0.5", "239.3.3.3", ttl=8, payload=b"low ttl"),  # eth2 only (eth1 thr 10)
        udp("10.0.0.6", "239.3.3.3"),  # other source: no_route
        udp("10.0.0.6", "239.4.1.1"),  # eth2
    ]
    timed = [(T0 + i * 0.001, f) for i, f in enumerate(frames)]
    return Case(
        "smcroute",
        "smcroute.conf",
        SMCROUTE_CONF,
        {"eth0": timed},
        {"eth1": 1, "eth2": 3},
        {"no_route": 1},
    )


def _checksum(data: bytes) -> int:
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def igmp(src: str, dst: str, kind: int, code: int, body: bytes, mac: str = SENDER) -> Packet:
    """An IGMP message as a kernel host sends it (TTL 1, Router Alert), written out by
    hand from RFC 2236 section 2 / RFC 3376 section 4 (not with rawfwd's codec)."""
    head = bytes((kind, code))
    message = head + _checksum(head + b"\0\0" + body).to_bytes(2, "big") + body
    octets = [int(o) for o in dst.split(".")]
    dst_mac = f"01:00:5e:{octets[1] & 0x7F:02x}:{octets[2]:02x}:{octets[3]:02x}"
    return (
        Ether(src=mac, dst=dst_mac)
        / IP(src=src, dst=dst, ttl=1, proto=2, tos=0xC0, options=[IPOption_Router_Alert()])
        / Raw(message)
    )


def v2(src: str, group: str, kind: int = 0x16) -> Packet:
    """A v2 report (0x16) to the group, or a leave (0x17) to 224.0.0.2."""
    dst = group if kind == 0x16 else "224.0.0.2"
    return igmp(src, dst, kind, 0, bytes(int(o) for o in group.split(".")))


def v3_record(src: str, rtype: int, group: str, sources: list[str]) -> Packet:
    """A v3 report with one group record (RFC 3376 4.2.4)."""
    quad = lambda a: bytes(int(o) for o in a.split("."))  # noqa: E731
    record = bytes((rtype, 0)) + len(sources).to_bytes(2, "big") + quad(group)
    record += b"".join(quad(a) for a in sources)
    return igmp(src, "224.0.0.22", 0x22, 0, b"\0\0\0\x01" + record)


IGMP_TOML = """\
# IGMP: no routes; members on eth1 (v2) and eth2 (v3, source-specific) decide, with RPF
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
igmp = true
last_member_query_interval = 0.5
[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
igmp = true
"""


def igmp_case() -> Case:
    g, ssm = "239.1.1.1", "232.1.1.1"
    eth0 = [
        (T0, udp("10.0.0.5", g, ident=1)),  # nobody joined yet: no_members
        (T0 + 2.0, udp("10.0.0.5", g, ident=2)),  # eth1 joined at +1: eth1
        (T0 + 2.1, udp("10.0.0.6", ssm, ident=3)),  # eth2 wants only 10.0.0.5: no_members
        (T0 + 2.2, udp("10.0.0.5", ssm, ident=4)),  # eth2
        (T0 + 3.2, udp("10.0.0.5", g, ident=5)),  # left at +3, LMQT 1 s not over: eth1
        (T0 + 5.0, udp("10.0.0.5", g, ident=6)),  # the group is gone: no_members
    ]
    bad = corrupt(v2("10.2.0.5", g), 14 + 24 + 2, 0)  # IGMP checksum broken: counted
    eth1 = [(T0 + 1.0, v2("10.1.0.5", g)), (T0 + 3.0, v2("10.1.0.5", g, kind=0x17))]
    eth2 = [
        (T0 + 1.5, v3_record("10.2.0.5", 5, ssm, ["10.0.0.5"])),  # ALLOW_NEW_SOURCES
        (T0 + 1.6, bad),
    ]
    return Case(
        "igmp",
        "rawfwd.toml",
        IGMP_TOML,
        {"eth0": eth0, "eth1": eth1, "eth2": eth2},
        # eth1: startup query, 2 data, 2 group-specific queries; eth2: startup query, 1 data
        {"eth1": 5, "eth2": 2},
        {"no_members": 3},
    )


PROXY_TOML = """\
# IGMP proxy (RFC 4605): up0 toward the provider, members on eth1
[interface.up0]
mac = "02:00:00:00:00:0a"
address = "192.168.1.2/24"
upstream = true
[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
igmp = true
"""


def proxy_case() -> Case:
    g = "239.2.2.2"
    eth1 = [
        (T0 + 1.0, v3_record("10.1.0.5", 4, g, [])),  # CHANGE_TO_EXCLUDE({}): join
        (T0 + 8.5, udp("10.1.0.5", g, ident=2)),  # a downstream source: up
    ]
    up0 = [
        # a v2 general query (Max Resp 10 s) from the provider's router
        (T0 + 2.0, igmp("192.168.1.1", "224.0.0.1", 0x11, 100, b"\0\0\0\0", mac=PEER)),
        (T0 + 8.0, udp("198.51.100.1", g, ident=1, mac=PEER)),  # from upstream: down
    ]
    return Case(
        "proxy",
        "rawfwd.toml",
        PROXY_TOML,
        {"eth1": eth1, "up0": up0},
        # up0: TO_EX report and its retransmission, the v2 answer, the downstream source
        # eth1: the startup query, the upstream packet
        {"up0": 4, "eth1": 2},
        {},
    )


IPV6_TOML = """\
# IPv6: (S,G) vs (*,G), hop limit and thresholds, scopes (mDNS opt-in), RPF, extension
# headers, malformed input, duplicates by hash
[interface.eth0]
mac = "02:00:00:00:00:01"

[interface.eth1]
mac = "02:00:00:00:00:02"

[interface.eth2]
mac = "02:00:00:00:00:03"
ttl_threshold = 4

[[route]]
from = "eth0"
group = "ff0e::1:1"
source = "2001:db8::5"
to = ["eth1", "eth2"]

[[route]]
from = "eth0"
group = "ff05::/16"
to = ["eth1"]

[[route]]
from = "eth0"
group = "ff02::fb"   # mDNS: explicit link-scope opt-in
to = ["eth1"]

[[route]]
from = "eth1"
group = "ff0e::5:5"
to = ["eth0"]

[dedup]
window = 5.0
"""


def udp6(
    src: str,
    dst: str,
    *,
    hlim: int = 64,
    payload: bytes = b"x" * 18,
    headers: Packet | None = None,
    mac: str = SENDER,
) -> Packet:
    """An Ethernet/IPv6/UDP frame as a kernel sender would emit it (RFC 2464 MAC)."""
    low = IPv6Address(dst).packed[12:]
    ip = IPv6(src=src, dst=dst, hlim=hlim)
    if headers is not None:
        ip = ip / headers
    dst_mac = "33:33:" + ":".join(f"{b:02x}" for b in low)
    return Ether(src=mac, dst=dst_mac) / ip / UDP(sport=40000, dport=5000) / Raw(payload)


def ipv6_case() -> Case:
    sg = udp6("2001:db8::5", "ff0e::1:1", payload=b"first six.........")
    options = IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt()
    cut = raw(udp6("2001:db8::5", "ff0e::1:1", headers=options))
    cut = cut[:18] + (12).to_bytes(2, "big") + cut[20:66]  # ends inside its second header
    eth0 = [
        sg,  # (S,G): eth1 + eth2
        udp6("2001:db8::6", "ff05::1:3"),  # (*, ff05::/16): eth1
        udp6("2001:db8::5", "ff0e::1:1", hlim=4, payload=b"hop limit four"),  # eth1 only
        udp6("2001:db8::5", "ff0e::1:1", hlim=1, payload=b"hop limit one"),  # ttl
        udp6("2001:db8::5", "ff0e::1:1", headers=options, payload=b"with options"),  # both
        udp6("fe80::7", "ff02::fb", hlim=255, payload=b"mdns"),  # opt-in: eth1
        udp6("fe80::7", "ff02::1:3", hlim=255, payload=b"llmnr"),  # link_local
        udp6("2001:db8::8", "ff0e::5:5"),  # route is from eth1: wrong_if
        udp6("2001:db8::8", "ff0e::9:9"),  # no_route
        udp6("2001:db8::5", "ff0e::1:1", hlim=60, payload=b"first six........."),  # dup
        cut,  # bad_ext_header
        raw(udp6("2001:db8::5", "ff0e::1:1"))[:40],  # truncated
        udp6("::1", "ff0e::1:1"),  # bad_source
        udp6("2001:db8::5", "2001:db8::1"),  # not_multicast
        udp6("fe80::9", "ff0e::1:1"),  # a link-local source beyond its link: bad_source
    ]
    timed = [(T0 + i * 0.001, f) for i, f in enumerate(eth0)]
    eth1 = [(T0 + 0.0035, udp6("2001:db8:1::9", "ff0e::5:5", mac=PEER))]  # back to eth0
    return Case(
        name="ipv6",
        config_name="rawfwd.toml",
        config=IPV6_TOML,
        inputs={"eth0": timed, "eth1": eth1},
        outputs={"eth1": 5, "eth2": 2, "eth0": 1},
        drops={
            "ttl": 1,
            "link_local": 1,
            "wrong_if": 1,
            "no_route": 1,
            "duplicate": 1,
            "bad_ext_header": 1,
            "truncated": 1,
            "bad_source": 2,
            "not_multicast": 1,
        },
    )


MLD_TOML = """\
# MLD: no routes; listeners on eth1 (MLDv1 host) and eth2 (MLDv2, source-specific) decide
[interface.eth0]
mac = "02:00:00:00:00:01"
[interface.eth1]
mac = "02:00:00:00:00:02"
mld = true
last_member_query_interval = 0.5
[interface.eth2]
mac = "02:00:00:00:00:03"
mld = true

[[rpf]]  # replay knows no IPv6 interface networks: the sources' side, said outright
prefix = "2001:db8::/32"
iif = "eth0"
"""


def mld_message(src: str, dst: str, message: Packet, hlim: int = 1) -> Packet:
    """An MLD message as a host's kernel sends it: link-local source, hop limit 1, the
    hop-by-hop Router Alert (RFC 3810 section 5)."""
    low = IPv6Address(dst).packed[12:]
    return (
        Ether(src=SENDER, dst="33:33:" + ":".join(f"{b:02x}" for b in low))
        / IPv6(src=src, dst=dst, hlim=hlim)
        / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
        / message
    )


def mld_case() -> Case:
    g, ssm = "ff0e::1:1", "ff3e::8000:1"
    eth0 = [
        (T0, udp6("2001:db8::5", g, payload=b"one")),  # nobody listens yet: no_members
        (T0 + 2.0, udp6("2001:db8::5", g, payload=b"two")),  # eth1 joined at +1: eth1
        (T0 + 2.1, udp6("2001:db8::6", ssm, payload=b"three")),  # eth2 wants ::5 only
        (T0 + 2.2, udp6("2001:db8::5", ssm, payload=b"four")),  # eth2
        (T0 + 3.2, udp6("2001:db8::5", g, payload=b"five")),  # done at +3, LLQT not over
        (T0 + 5.0, udp6("2001:db8::5", g, payload=b"six")),  # gone: no_members
    ]
    eth1 = [
        (T0 + 1.0, mld_message("fe80::5", g, ICMPv6MLReport(mladdr=g))),
        (T0 + 3.0, mld_message("fe80::5", "ff02::2", ICMPv6MLDone(mladdr=g))),
        # forwarded by a router (hop limit 2 on arrival): ignored, counted (RFC 3810 5.2.13)
        (T0 + 3.1, mld_message("fe80::5", g, ICMPv6MLReport(mladdr=g), hlim=2)),
    ]
    record = ICMPv6MLDMultAddrRec(rtype=5, dst=ssm, sources=["2001:db8::5"])
    eth2 = [(T0 + 1.5, mld_message("fe80::6", "ff02::16", ICMPv6MLReport2(records=[record])))]
    return Case(
        "mld",
        "rawfwd.toml",
        MLD_TOML,
        {"eth0": eth0, "eth1": eth1, "eth2": eth2},
        # eth1: startup query, 2 data, 2 listener-specific queries; eth2: query, 1 data
        {"eth1": 5, "eth2": 2},
        {"no_members": 3},
    )


MANET6_TOML = """\
# MANET over IPv6: flooded by default (ff00::/8), retransmitted on the arrival radio, the
# neighbour's relay of it a duplicate whatever its hop limit; link scope stays home
[interface.radio0]
mac = "02:00:00:00:00:0a"
manet = true
"""


def manet6_case() -> Case:
    first = udp6("2001:db8:9::1", "ff0e::7:7", hlim=8, payload=b"hello six")
    echo = udp6("2001:db8:9::1", "ff0e::7:7", hlim=6, payload=b"hello six", mac=PEER)
    other = udp6("2001:db8:9::1", "ff0e::7:7", hlim=8, payload=b"second")
    local = udp6("fe80::9", "ff02::1", hlim=1, payload=b"link scope")
    timed = [(T0, first), (T0 + 0.01, echo), (T0 + 0.02, other), (T0 + 0.03, local)]
    return Case(
        "manet6",
        "rawfwd.toml",
        MANET6_TOML,
        {"radio0": timed},
        {"radio0": 2},
        {"duplicate": 1, "link_local": 1},
    )


PIM_TOML = """\
# PIM-SM: neighbours by Hello; a downstream router's Join(*,G) and a local IGMP member make
# (*,G) state, joined toward the RP; data from the RP tree follows it; a Prune from the
# only neighbour acts at once; a local source is registered to the RP (pimreg.pcap)
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
pim = true

[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
pim = true

[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
pim = true
igmp = true
version = 2

[pim]
spt_switchover = "never"    # the RP tree only (replay knows no route toward the source)

[[pim.rp]]
address = "10.0.0.2"
"""


def pim_message(src: str, message: Packet, mac: str = PEER) -> Packet:
    """A PIM message to ALL-PIM-ROUTERS as a router sends it (scapy's encoder)."""
    return Ether(src=mac, dst="01:00:5e:00:00:0d") / IP(src=src, dst="224.0.0.13", ttl=1) / message


def pim_join(upstream: str, group: str, *, prune: bool = False) -> Packet:
    star = PIMv2JoinAddrs(sparse=1, wildcard=1, rpt=1, src_ip="10.0.0.2")
    if prune:
        star = PIMv2PruneAddrs(sparse=1, wildcard=1, rpt=1, src_ip="10.0.0.2")
    addrs = PIMv2GroupAddrs(
        gaddr=group, join_ips=[] if prune else [star], prune_ips=[star] if prune else []
    )
    return PIMv2Hdr(type=3) / PIMv2JoinPrune(up_neighbor_ip=upstream, holdtime=210, jp_ips=[addrs])


def pim_hello(holdtime: int = 105) -> Packet:
    return PIMv2Hdr(type=0) / PIMv2Hello(
        option=[PIMv2HelloHoldtime(holdtime=holdtime), PIMv2HelloDRPriority(dr_priority=1)]
    )


def pim_case() -> Case:
    g1, g2 = "239.1.1.1", "239.2.2.2"
    bad = bytearray(raw(pim_message("10.1.0.7", pim_hello())))
    bad[-1] ^= 0xFF  # its checksum no longer holds
    eth0 = [
        (T0, pim_message("10.0.0.2", pim_hello())),  # the RP, our upstream neighbour
        (T0 + 2.0, udp("10.9.0.5", g1, ttl=8, payload=b"down the RP tree")),  # eth1
        (T0 + 2.1, udp("10.9.0.5", g2, ttl=8, payload=b"to a member")),  # eth2
        (T0 + 2.2, udp("10.9.0.5", "239.3.3.3", ttl=8)),  # no state: no_members
        (T0 + 4.0, udp("10.9.0.5", g1, ttl=8, payload=b"after the prune")),  # no_members
    ]
    eth1 = [
        (T0 + 0.5, pim_message("10.1.0.7", pim_hello(), mac=SENDER)),
        (T0 + 1.0, pim_message("10.1.0.7", pim_join("10.1.0.1", g1), mac=SENDER)),
        (T0 + 3.0, pim_message("10.1.0.7", pim_join("10.1.0.1", g1, prune=True), mac=SENDER)),
        (T0 + 4.5, bad),  # counted per interface, ignored
    ]
    eth2 = [
        (T0 + 1.5, v2("10.2.0.9", g2)),
        (T0 + 2.5, udp("10.2.0.50", "239.4.4.4", ttl=8, payload=b"registered")),  # local source
    ]
    return Case(
        "pim",
        "rawfwd.toml",
        PIM_TOML,
        {"eth0": eth0, "eth1": eth1, "eth2": eth2},
        # eth0: a Hello first (before the Join, to the new neighbour), Join(*,g1),
        # Join(*,g2), Prune(*,g1); eth1: Hello and data; eth2: query, Hello, data; pimreg:
        # one Register
        {"eth0": 4, "eth1": 2, "eth2": 3, "pimreg": 1},
        {"no_members": 2},
    )


PIM_DENSE_TOML = """\
# PIM-DM (RFC 3973): a new source floods to the PIM neighbour on eth1; its Prune leaves
# nothing downstream, so we prune upstream; a member on eth2 grafts us back (the Graft is
# unicast: pimreg.pcap); a copy failing RPF on eth1's point-to-point link prunes it
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
pim = true

[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
pim = true

[interface.eth2]
mac = "02:00:00:00:00:03"
address = "10.2.0.1/24"
pim = true
igmp = true
version = 2

[pim]
mode = "dense"
state_refresh = false

[[rpf]]                     # replay has no FIB: sources in 10.9.0.0/16 come in on eth0
prefix = "10.9.0.0/16"
iif = "eth0"
"""


def pim_sg_prune(upstream: str, source: str, group: str) -> Packet:
    prune = PIMv2PruneAddrs(sparse=0, wildcard=0, rpt=0, src_ip=source)
    addrs = PIMv2GroupAddrs(gaddr=group, join_ips=[], prune_ips=[prune])
    return PIMv2Hdr(type=3) / PIMv2JoinPrune(up_neighbor_ip=upstream, holdtime=210, jp_ips=[addrs])


def pim_dense_case() -> Case:
    g1 = "239.1.1.1"
    eth0 = [
        (T0, pim_message("10.0.0.2", pim_hello())),  # U, upstream toward the sources
        (T0 + 1.0, udp("10.9.0.5", g1, ttl=8, payload=b"flooded")),  # to eth1
        (T0 + 3.0, udp("10.9.0.5", g1, ttl=8, payload=b"pruned")),  # no_members
        (T0 + 5.0, udp("10.9.0.5", g1, ttl=8, payload=b"grafted")),  # to eth2's member
    ]
    eth1 = [
        (T0 + 0.5, pim_message("10.1.0.7", pim_hello(), mac=SENDER)),
        (T0 + 2.0, pim_message("10.1.0.7", pim_sg_prune("10.1.0.1", "10.9.0.5", g1), mac=SENDER)),
        (T0 + 5.5, udp("10.9.0.5", g1, ttl=7, payload=b"off the RPF interface")),  # wrong_if
    ]
    eth2 = [(T0 + 4.0, v2("10.2.0.9", g1))]
    return Case(
        "pim_dense",
        "rawfwd.toml",
        PIM_DENSE_TOML,
        {"eth0": eth0, "eth1": eth1, "eth2": eth2},
        # eth0: Hello, Prune(S,G) to U; eth1: Hello, data, Prune(S,G) off the RPF
        # interface; eth2: query, Hello, data; pimreg: the Graft to U
        {"eth0": 2, "eth1": 3, "eth2": 3, "pimreg": 1},
        {"no_members": 1, "wrong_if": 1},
    )


CASES = [
    routing_case,
    id_case,
    manet_case,
    smcroute_case,
    igmp_case,
    proxy_case,
    ipv6_case,
    mld_case,
    manet6_case,
    pim_case,
    pim_dense_case,
]


def replay_args(case_dir: Path, case: Case, out_dir: Path) -> list[str]:
    """The `rawfwd replay` arguments for a case directory."""
    args = ["replay", "-c", str(case_dir / case.config_name)]
    for iface in case.inputs:
        args += ["--in", f"{iface}={case_dir / 'in' / (iface + '.pcap')}"]
    return [*args, "--out-dir", str(out_dir), "--json"]


def check_expectations(case: Case, summary: dict[str, Any]) -> None:
    """Assert what the rules say must come out of `case` (independent of the goldens)."""
    outputs = {name: o["frames"] for name, o in summary["outputs"].items()}
    assert outputs == case.outputs, f"{case.name}: outputs {outputs} != {case.outputs}"
    assert summary["drops"] == case.drops, f"{case.name}: drops {summary['drops']}"


def write_inputs(case: Case, case_dir: Path) -> None:
    (case_dir / "in").mkdir(parents=True, exist_ok=True)
    (case_dir / case.config_name).write_text(case.config)
    for iface, frames in case.inputs.items():
        writer = RawPcapWriter(str(case_dir / "in" / f"{iface}.pcap"), linktype=1)
        writer.write_header(None)
        for t, frame in frames:
            usec = round(t * 1_000_000)
            writer.write_packet(bytes(frame), sec=usec // 1_000_000, usec=usec % 1_000_000)
        writer.close()


def regenerate() -> None:
    from rawfwd.cli import main

    for make in CASES:
        case = make()
        case_dir = DATA / case.name
        shutil.rmtree(case_dir, ignore_errors=True)
        write_inputs(case, case_dir)
        expected = case_dir / "expected"
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(replay_args(case_dir, case, expected))
        assert code == 0, f"{case.name}: replay exited {code}"
        summary = json.loads(out.getvalue())
        check_expectations(case, summary)
        (expected / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{case.name}: {summary['outputs']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--regenerate", action="store_true", required=True)
    parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    regenerate()
