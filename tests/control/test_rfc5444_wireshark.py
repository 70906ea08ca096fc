"""What the RFC 5444 encoder writes, Wireshark's packetbb dissector (tshark, installed by
`make test`) decodes without an error or a warning, field values as we meant them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from scapy.utils import RawPcapWriter

from rawfwd.control.rfc5444 import AddressBlock, Message, Packet, Tlv, address_tlvs, encode
from rawfwd.lab.frames import udp_frame

ME = bytes([10, 0, 0, 1])
NEIGHBOURS = [bytes([10, 0, 0, n]) for n in range(2, 6)]
MANY = [bytes([10, 0, n // 256, n % 256]) for n in range(1, 128)]  # a full block


def _packets() -> list[bytes]:
    hello = Message(
        0,
        4,
        (Tlv(0, 0, b"\x58"), Tlv(1, 0, b"\x64"), Tlv(7, 0, b"\x77"), Tlv(128, 1, b"\x40")),
        (
            AddressBlock((ME,), (Tlv(2, 0, b"\x00"),)),
            AddressBlock(
                tuple(NEIGHBOURS),
                (
                    *address_tlvs(3, [b"\x01", b"\x02", b"\x01", b"\x00"]),
                    *address_tlvs(7, [b"\xd0\x40"] * 4),
                    *address_tlvs(8, [b"\x01", None, None, b"\x01"]),
                ),
            ),
        ),
        originator=ME,
    )
    big = Message(
        0,
        4,
        (Tlv(1, 0, b"\x64"),),
        (AddressBlock(tuple(MANY), tuple(address_tlvs(3, [None] * 126 + [b"\x01"]))),),
        hop_limit=1,
        hop_count=0,
        seqnum=9,
    )
    v6 = Message(
        0,
        16,
        (Tlv(1, 0, b"\x64"),),
        (AddressBlock((bytes.fromhex("fe80" + "00" * 12 + "0001"),), prefixes=(64,)),),
    )
    return [encode(Packet((hello,), 1)), encode(Packet((big, v6), 2, (Tlv(200, 0, b"x"),)))]


def test_wireshark_decodes_our_packets_without_a_complaint(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is missing: `make test` installs it"
    pcap = tmp_path / "hello.pcap"
    writer = RawPcapWriter(str(pcap), linktype=1)
    writer.write_header(None)
    for n, payload in enumerate(_packets()):
        frame = udp_frame(ME, bytes([224, 0, 0, 109]), payload, ttl=1, sport=269, dport=269)
        writer.write_packet(frame, sec=n, usec=0)
    writer.close()
    done = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-V"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.count("PacketBB Protocol") == 2
    for complaint in ("Malformed", "Expert Info (Warning", "Expert Info (Error", "too long"):
        assert complaint not in text, text
    assert "Sequence number: 9" in text or "Sequence Number: 9" in text
    assert text.count("10.0.0.5") >= 1  # the last neighbour, rebuilt from head and mid
