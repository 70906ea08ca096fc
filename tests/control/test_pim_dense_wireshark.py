"""PIM-DM's messages as rawfwd builds them (RFC 3973 4.7), decoded by Wireshark's PIM
dissector (tshark, installed by `make test`), an encoder rawfwd shares nothing with: each
message's type, a checksum tshark calls good, and the State Refresh and Hello option 21
fields where tshark reads them."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from scapy.utils import RawPcapWriter

from rawfwd.control import pim
from rawfwd.control.pim import Graft, GroupSet, Hello, Source, StateRefresh
from rawfwd.core.wire import ethernet_header, group_mac

GOOD = "1"  # tshark's checksum status: good


def a(text: str) -> int:
    return int(IPv4Address(text))


SG = (GroupSet(a("239.1.1.1"), joins=(Source(a("10.9.0.5"), sparse=False),)),)
MESSAGES: list[tuple[pim.Message, str]] = [
    (Hello(105, None, 7, (False, 500, 2500), state_refresh=60), "224.0.0.13"),
    (Graft(a("10.0.0.2"), SG), "10.0.0.2"),
    (Graft(a("10.0.0.1"), SG, ack=True), "10.0.0.1"),
    (
        StateRefresh(
            a("239.1.1.1"), a("10.9.0.5"), a("10.9.0.1"), 101, 7, 24, 15, True, False, True, 60
        ),
        "224.0.0.13",
    ),
]


def test_tshark_decodes_pim_dm_messages(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is not installed: `make test` installs it (Debian's tshark)")
    pcap = tmp_path / "dense.pcap"
    writer = RawPcapWriter(str(pcap), linktype=1)
    for message, destination in MESSAGES:
        packet = pim.ip_packet(a("10.0.0.1"), a(destination), pim.build(message))
        mac = group_mac(a(destination)) if destination.startswith("224.") else b"\x02" * 6
        writer.write(ethernet_header(mac, b"\x02\x00\x00\x00\x00\x01") + packet)
    writer.close()
    fields = ["pim.type", "pim.cksum.status", "pim.state_refresh_interval", "pim.metric_pref",
              "pim.metric", "pim.mask_len", "pim.ttl", "pim.prune_indicator", "pim.interval",
              "pim.originator"]  # fmt: skip
    wanted = [x for f in fields for x in ("-e", f)]
    done = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "pim", "-T", "fields", *wanted],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]
    assert [r["pim.type"] for r in rows] == ["0", "6", "7", "9"]
    assert all(r["pim.cksum.status"] == GOOD for r in rows)
    assert rows[0]["pim.state_refresh_interval"] == "60"  # Hello option 21
    refresh = rows[3]
    assert (refresh["pim.metric_pref"], refresh["pim.metric"]) == ("101", "7")
    # the encoded group's mask length (32), then the route's (24)
    assert refresh["pim.mask_len"] == "32,24"
    assert (refresh["pim.ttl"], refresh["pim.interval"]) == ("15", "60")
    assert refresh["pim.prune_indicator"] in ("1", "True")
    assert refresh["pim.originator"] == "10.9.0.1"
