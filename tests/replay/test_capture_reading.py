"""Reading captures: a damaged pcap or pcapng file is a one-line error, and nothing is written."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from ..support.captures import (
    GOOD,
    GOOD_REC,
    NS,
    T0,
    block,
    epb,
    frame,
    idb,
    leftovers,
    option,
    pcap_header,
    pcap_record,
    run_cli,
    shb,
    spb,
)


def _gzip_cut() -> bytes:
    whole = gzip.compress(pcap_header() + GOOD_REC + pcap_record(T0 + 1, 0, frame(2)))
    return whole[:-8]  # the data is all there, the gzip trailer (CRC, size) is not


BAD_CAPTURES: list[tuple[str, bytes, str]] = [
    (
        "pcap-cut-in-data",
        pcap_header() + GOOD_REC + pcap_record(T0 + 1, 0, frame(2))[:30],
        f"record 2 is truncated (14 of its {len(frame(2))} captured bytes)",
    ),
    (
        "pcap-cut-in-header",
        pcap_header() + GOOD_REC + b"\x01\x02\x03\x04\x05",
        "record 2 is truncated (5 of its 16 header bytes)",
    ),
    (
        "pcap-huge-caplen",
        pcap_header() + GOOD_REC + pcap_record(T0, 0, GOOD, caplen=0xFFFFFFFF),
        "record 2 claims 4294967295 captured bytes, more than 262144 (corrupt file?)",
    ),
    (
        "gzip-cut",
        _gzip_cut(),
        "read error after record 2: Compressed file ended before the end-of-stream marker",
    ),
    (
        "usec-too-big",
        pcap_header() + GOOD_REC + pcap_record(T0, 1_000_000, frame(2)),
        f"record 2 has a timestamp of {T0} s and 1000000 microseconds: "
        "the microseconds must be below 1000000",
    ),
    (
        "nsec-too-big",
        pcap_header(nano=True) + GOOD_REC + pcap_record(T0, NS, frame(2)),
        f"record 2 has a timestamp of {T0} s and {NS} nanoseconds: "
        f"the nanoseconds must be below {NS}",
    ),
    (
        "pcapng-seconds-beyond-32-bits",
        shb() + idb() + epb(T0 * 10**6, GOOD) + epb(2**32 * 10**6, frame(2)),
        "record 2 has a timestamp of 4294967296 s, which a pcap file cannot store "
        "(0 to 4294967295 s since 1970)",
    ),
    (
        "pcapng-negative-time",
        shb() + idb(options=option(14, struct.pack("<q", -(2**40)))) + epb(T0 * 10**6, GOOD),
        "record 1 has a timestamp of -",
    ),
    (
        "pcapng-cut-block",
        shb() + idb() + epb(T0 * 10**6, GOOD) + epb(T0 * 10**6, frame(2))[:40],
        "record 2 is truncated (40 of its",
    ),
    (
        "pcapng-cut-section-header",
        shb()
        + idb()
        + epb(T0 * 10**6, GOOD)
        + block(0x0A0D0D0A, b"\x4d\x3c\x2b\x1a" + b"\0" * 60)[:32],
        "the block after record 1 is truncated (32 of its 76 bytes)",
    ),
    (
        "pcapng-lengths-differ",
        shb() + idb() + epb(T0 * 10**6, GOOD)[:-4] + struct.pack("<I", 4096),
        "record 1: its two block lengths differ (corrupt file?)",
    ),
    (
        "pcapng-caplen-beyond-block",
        shb() + idb() + epb(T0 * 10**6, GOOD, caplen=len(GOOD) + 100),
        f"record 1 is truncated ({len(GOOD) + (-len(GOOD) % 4)} of its {len(GOOD) + 100} "
        "captured bytes)",
    ),
    (
        "pcapng-not-ethernet",
        shb() + idb() + epb(T0 * 10**6, GOOD) + idb(linktype=101) + epb(T0 * 10**6, GOOD, 1),
        "link type 101 is not Ethernet (1), at record 2",
    ),
    (
        "pcapng-unknown-interface",
        shb() + idb() + epb(T0 * 10**6, GOOD, intid=3),
        "record 1 names interface 3, but the section describes 1 interface(s)",
    ),
    (
        "pcapng-packet-before-interface",
        shb() + spb(GOOD),
        "record 1: packet before any interface description block",
    ),
]


@pytest.mark.parametrize(
    ("contents", "message"),
    [(c, m) for _, c, m in BAD_CAPTURES],
    ids=[name for name, _, _ in BAD_CAPTURES],
)
def test_damaged_capture_is_a_one_line_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], contents: bytes, message: str
) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(contents)
    out = tmp_path / "out"
    cfg = tmp_path / "rawfwd.toml"
    cfg.write_text(
        '[interface.eth0]\nmac = "02:00:00:00:00:01"\n[interface.eth1]\n'
        'mac = "02:00:00:00:00:02"\n'
        '[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'
    )
    code, stdout, stderr = run_cli(
        capsys, "replay", "-c", str(cfg), "--in", f"eth0={capture}", "--out-dir", str(out)
    )
    assert code == 2, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"rawfwd: error: eth0={capture}: "), stderr
    assert message in stderr
    # the good first record was forwarded before the damage was found: no trace of it remains
    assert leftovers(out) == []
