"""Reading captures: a damaged pcap or pcapng file is a one-line error, and nothing is written."""

from __future__ import annotations

import gc
import gzip
import logging
import struct
import sys
import warnings
from pathlib import Path

import pytest

from rawfwd.errors import InputError
from rawfwd.replay import replay

from ..support.captures import (
    GOOD,
    GOOD_REC,
    NS,
    T0,
    block,
    config,
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
        "pcapng-section-version-2",
        shb(major=2) + idb() + epb(T0 * 10**6, GOOD),
        "not a pcap or pcapng file (SHB Major version 2 unsupported)",
    ),
    (
        # scapy warns twice (the length is no multiple of 4, the two lengths differ): the
        # error gives the last, why it gave up
        "pcapng-section-length-29",
        struct.pack("<II", 0x0A0D0D0A, 29)
        + struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        + b"\0" * 4
        + struct.pack("<I", 32),
        "not a pcap or pcapng file (Invalid pcapng block (bad blocklen))",
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


# -- what scapy warns about while opening a capture -----------------------------------------


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of writing (capfd's, during a test)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def scapy_logs_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point scapy's own log handler at the test's stderr: it keeps the stderr of whichever
    test first imported scapy, where capfd would not see what it writes."""
    import scapy.error  # noqa: F401  (sets up the handler)

    for handler in logging.getLogger("scapy").handlers:
        if type(handler) is logging.StreamHandler:  # scapy's, not pytest's LogCaptureHandler
            monkeypatch.setattr(handler, "stream", _CurrentStderr())


@pytest.mark.usefixtures("scapy_logs_to_stderr")
def test_scapy_warning_on_a_damaged_section_header_is_our_error_not_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # a mutated pcapng: scapy logs "WARNING: PcapNg: SHB Major version 2 unsupported !"
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb(major=2) + idb() + epb(T0 * 10**6, GOOD))
    with pytest.raises(InputError) as error:
        replay(config(), [("eth0", capture)], tmp_path / "out")
    assert capfd.readouterr().err == ""
    assert str(error.value) == (
        f"eth0={capture}: not a pcap or pcapng file (SHB Major version 2 unsupported)"
    )


@pytest.mark.usefixtures("scapy_logs_to_stderr")
def test_scapy_warning_on_a_readable_capture_is_a_note_not_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # an end-of-options option that claims 4 bytes: scapy warns, stops reading the options
    bad_option = struct.pack("<HH", 0, 4) + b"\0" * 4
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb(options=bad_option) + idb() + epb(T0 * 10**6, GOOD))
    result = replay(config(), [("eth0", capture)], tmp_path / "out")
    assert capfd.readouterr().err == ""
    assert result.outputs == {"eth1": 1}
    assert result.notes == (
        f"eth0={capture}: scapy warned while opening it: invalid option length 4 for end-of-option",
    )


@pytest.mark.parametrize(
    "contents",
    [b"hello, this is no capture", shb(major=2) + idb()],
    ids=["not-a-capture", "pcapng-version-2"],
)
def test_a_file_scapy_gives_up_on_is_closed(tmp_path: Path, contents: bytes) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(contents)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(InputError, match="not a pcap or pcapng file"):
            replay(config(), [("eth0", capture)], tmp_path / "out")
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
