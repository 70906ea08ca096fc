"""Capture test helpers: pcap and pcapng built byte by byte, read back, and the CLI in-process.

The layouts come from the pcap and pcapng specifications, so each test states exactly what is
in its file; outputs are read with a small parser written here too.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from rawfwd.cli import main
from rawfwd.config.values import Config, FlowSpec

from .frames import make_config, route, udp_frame

T0 = 1_700_000_000
NS = 1_000_000_000


def frame(ident: int, src: str = "10.0.0.5") -> bytes:
    """A forwardable frame (239.1.2.3, TTL 64); distinct idents are distinct packets."""
    return udp_frame(src, "239.1.2.3", ident=ident)


def config(flows: FlowSpec | None = None) -> Config:
    """(*, 239.1.2.3) from eth0 to eth1 on make_config's interfaces, with `flows` if given."""
    return make_config(route("eth0", "239.1.2.3", "eth1"), flows=flows)


def pcap_header(*, nano: bool = False, linktype: int = 1) -> bytes:
    """A little-endian pcap file header: microsecond or (`nano`) nanosecond timestamps."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)


def pcap_record(sec: int, frac: int, data: bytes, caplen: int | None = None) -> bytes:
    """A pcap record header and `data`; `caplen` claims another captured length."""
    n = len(data) if caplen is None else caplen
    return struct.pack("<IIII", sec, frac, n, len(data)) + data


def pcap(records: Sequence[tuple[float, bytes]], *, nano: bool = False) -> bytes:
    """A little-endian pcap; times in seconds (floats, exact to the microsecond)."""
    out = pcap_header(nano=nano)
    for t, data in records:
        ns = round(t * NS)
        sec, frac = divmod(ns, NS)
        out += pcap_record(sec, frac if nano else frac // 1000, data)
    return out


def _pad(data: bytes) -> bytes:
    """`data` padded with zeros to a multiple of 4 bytes (pcapng)."""
    return data + b"\0" * (-len(data) % 4)


def block(btype: int, body: bytes) -> bytes:
    """A pcapng block: type, total length, body padded to 32 bits, total length again."""
    body = _pad(body)
    blen = 12 + len(body)
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)


def shb(*, major: int = 1, options: bytes = b"") -> bytes:
    """A little-endian pcapng Section Header Block (version `major`.0, section length
    unknown), with `options` as given (raw, so that a test can make them malformed)."""
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, major, 0, -1) + options)


def idb(linktype: int = 1, snaplen: int = 0, options: bytes = b"") -> bytes:
    """An Interface Description Block (link type, snap length, options)."""
    return block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)


def option(code: int, value: bytes) -> bytes:
    """A pcapng option: code, length, value padded to 32 bits."""
    return struct.pack("<HH", code, len(value)) + _pad(value)


def epb(usec: int, data: bytes, intid: int = 0, caplen: int | None = None) -> bytes:
    """An Enhanced Packet Block at `usec` ticks (microseconds unless if_tsresol says else)."""
    n = len(data) if caplen is None else caplen
    head = struct.pack("<5I", intid, usec >> 32, usec & 0xFFFFFFFF, n, len(data))
    return block(6, head + data)


def spb(data: bytes) -> bytes:
    """A Simple Packet Block: a frame without a timestamp or an interface id."""
    return block(3, struct.pack("<I", len(data)) + data)


def read_pcap(path: Path, *, nano: bool) -> list[tuple[int, bytes]]:
    """[(time in ns, frame)] of a little-endian pcap written by replay, which must have the
    timestamp precision `nano` says: nanoseconds (pcapng input) or microseconds (pcap)."""
    raw = path.read_bytes()
    magic = struct.unpack("<I", raw[:4])[0]
    assert magic == (0xA1B23C4D if nano else 0xA1B2C3D4), hex(magic)
    records = []
    pos = 24
    while pos < len(raw):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", raw, pos)
        pos += 16
        records.append((sec * NS + (frac if nano else frac * 1000), raw[pos : pos + caplen]))
        pos += caplen
    return records


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`rawfwd ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(directory: Path) -> list[str]:
    """Output or temporary files in `directory` (nothing should be left after a failure)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir())


#: a forwardable first record, before the damage
GOOD = frame(1)
GOOD_REC = pcap_record(T0, 0, GOOD)
