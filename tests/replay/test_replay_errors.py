"""`rawfwd replay` on damaged, odd or dangerous inputs: one-line errors, never a crash.

Captures are built byte by byte here (pcap and pcapng layouts from their specifications), so
each test states exactly what is in the file. Outputs are read back with a small pcap parser
written here too.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Collection, Sequence
from dataclasses import replace
from ipaddress import IPv4Interface
from pathlib import Path
from typing import ClassVar

import pytest

import rawfwd.replay as replay_module
from rawfwd.cli import main
from rawfwd.config.values import Config, FlowSpec, Origin
from rawfwd.control.router import Router
from rawfwd.errors import InputError
from rawfwd.replay import ReplayResult, format_summary, replay, with_replay_macs

from ..support.frames import make_config, route, udp_frame

T0 = 1_700_000_000
NS = 1_000_000_000


def frame(ident: int, src: str = "10.0.0.5") -> bytes:
    """A forwardable frame (239.1.2.3, TTL 64); distinct idents are distinct packets."""
    return udp_frame(src, "239.1.2.3", ident=ident)


def config(flows: FlowSpec | None = None) -> Config:
    return make_config(route("eth0", "239.1.2.3", "eth1"), flows=flows)


# -- capture builders ----------------------------------------------------------------------


def pcap_header(*, nano: bool = False, linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)


def pcap_record(sec: int, frac: int, data: bytes, caplen: int | None = None) -> bytes:
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
    return data + b"\0" * (-len(data) % 4)


def block(btype: int, body: bytes) -> bytes:
    body = _pad(body)
    blen = 12 + len(body)
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)


def shb() -> bytes:
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int = 1, snaplen: int = 0, options: bytes = b"") -> bytes:
    return block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)


def option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def epb(usec: int, data: bytes, intid: int = 0, caplen: int | None = None) -> bytes:
    n = len(data) if caplen is None else caplen
    head = struct.pack("<5I", intid, usec >> 32, usec & 0xFFFFFFFF, n, len(data))
    return block(6, head + data)


def spb(data: bytes) -> bytes:
    return block(3, struct.pack("<I", len(data)) + data)


def read_pcap(path: Path) -> tuple[bool, list[tuple[int, bytes]]]:
    """(nanosecond file?, [(time in ns, frame)]) of a little-endian pcap written by replay."""
    raw = path.read_bytes()
    magic = struct.unpack("<I", raw[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    nano = magic == 0xA1B23C4D
    records = []
    pos = 24
    while pos < len(raw):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", raw, pos)
        pos += 16
        records.append((sec * NS + (frac if nano else frac * 1000), raw[pos : pos + caplen]))
        pos += caplen
    return nano, records


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(directory: Path) -> list[str]:
    """Output or temporary files in `directory` (nothing should be left after a failure)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir())


# -- pcapng Simple Packet Blocks ------------------------------------------------------------


def test_simple_packet_blocks_borrow_the_previous_timestamp(tmp_path: Path) -> None:
    a, b, c = frame(1), frame(2), frame(3)
    t_b = (T0 + 1) * 1_000_000 + 500_000  # microseconds, the default if_tsresol
    capture = tmp_path / "in.pcapng"
    # a comes before any timestamp: it takes the first one there is (b's)
    capture.write_bytes(shb() + idb() + spb(a) + epb(t_b, b) + spb(c))
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    nano, records = read_pcap(out / "eth1.pcap")
    assert nano  # pcapng input: nanosecond output
    assert [t for t, _ in records] == [t_b * 1000] * 3
    assert [data[-len(b"hello, multicast") - 8 :] for _, data in records] == [
        f[-len(b"hello, multicast") - 8 :] for f in (a, b, c)
    ]
    assert [data[18:20] for _, data in records] == [b"\0\x01", b"\0\x02", b"\0\x03"]
    assert result.outputs == {"eth1": 3}
    assert result.notes == (
        f"eth0={capture}: 2 Simple Packet Blocks without a timestamp took the previous frame's "
        "time (or, before any, the first in the file)",
    )


def test_simple_packet_blocks_without_any_timestamp_are_at_time_zero(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb() + idb() + spb(frame(1)) + spb(frame(2)))
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    _, records = read_pcap(out / "eth1.pcap")
    assert [t for t, _ in records] == [0, 0]
    assert result.snapshot.now == 0.0


def test_pcapng_timestamp_resolution_and_offset_are_applied(tmp_path: Path) -> None:
    # if_tsresol 9 (nanoseconds), if_tsoffset 1000 s
    options = option(9, bytes([9])) + option(14, struct.pack("<q", 1000)) + option(0, b"")
    ticks = T0 * NS + 123
    capture = tmp_path / "in.pcapng"
    capture.write_bytes(shb() + idb(options=options) + epb(ticks, frame(1)))
    out = tmp_path / "out"
    replay(config(), [("eth0", capture)], out)
    _, records = read_pcap(out / "eth1.pcap")
    assert [t for t, _ in records] == [(T0 + 1000) * NS + 123]


# -- damaged captures: one line, exit 2, nothing written ------------------------------------

GOOD = frame(1)
GOOD_REC = pcap_record(T0, 0, GOOD)


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


# -- outputs are written whole or not at all ------------------------------------------------


def test_failure_leaves_existing_outputs_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "eth1.pcap").write_bytes(b"from an earlier run")
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap_header() + GOOD_REC + GOOD_REC[:20])
    with pytest.raises(InputError, match="record 2 is truncated"):
        replay(config(), [("eth0", capture)], out)
    assert leftovers(out) == ["eth1.pcap"]
    assert (out / "eth1.pcap").read_bytes() == b"from an earlier run"


def test_success_replaces_outputs_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "eth1.pcap").write_bytes(b"from an earlier run")
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + 1, frame(2))]))
    result = replay(config(), [("eth0", capture)], out)
    assert result.outputs == {"eth1": 2}
    assert leftovers(out) == ["eth1.pcap"]
    nano, records = read_pcap(out / "eth1.pcap")
    assert not nano
    assert [t for t, _ in records] == [T0 * NS, (T0 + 1) * NS]
    mode = (out / "eth1.pcap").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # a normal file, not a private temporary


def test_output_name_taken_by_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "eth1.pcap").mkdir(parents=True)
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1))]))
    with pytest.raises(InputError) as info:
        replay(config(), [("eth0", capture)], out)
    assert str(info.value) == f"writing to {out}: {out / 'eth1.pcap'} is a directory"
    assert leftovers(out) == ["eth1.pcap"]
    assert (out / "eth1.pcap").is_dir()


# -- an input must not be an output ---------------------------------------------------------


def test_input_that_is_an_existing_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    capture = out / "eth1.pcap"
    contents = pcap([(T0, frame(1))])
    capture.write_bytes(contents)
    with pytest.raises(InputError) as info:
        replay(config(), [("eth0", capture)], out)
    assert str(info.value) == (
        f"--in eth0={capture}: it is the output file {out / 'eth1.pcap'} of interface eth1; "
        "choose another --out-dir"
    )
    assert capture.read_bytes() == contents


def test_input_that_would_be_an_output_is_refused_by_resolved_path(tmp_path: Path) -> None:
    """eth2 sends nothing here, its output does not exist: the paths still resolve alike."""
    real = tmp_path / "real"
    real.mkdir()
    capture = real / "eth2.pcap"
    capture.write_bytes(pcap([(T0, frame(1))]))
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    with pytest.raises(InputError, match=r"it is the output file .*eth2\.pcap of interface eth2"):
        replay(config(), [("eth0", capture)], alias)


def test_hard_link_to_an_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "eth1.pcap").write_bytes(pcap([(T0, frame(1))]))
    capture = tmp_path / "in.pcap"
    os.link(out / "eth1.pcap", capture)
    with pytest.raises(InputError, match="it is the output file"):
        replay(config(), [("eth0", capture)], out)


def test_input_in_the_output_directory_under_another_name_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    capture = out / "captured.pcap"
    capture.write_bytes(pcap([(T0, frame(1))]))
    assert replay(config(), [("eth0", capture)], out).outputs == {"eth1": 1}


# -- timestamps that go back ----------------------------------------------------------------


class _ClockSpy(Router):
    nows: ClassVar[list[float]] = []

    def handle_batch(
        self, ingress: str, frames: Sequence[bytes], now: float, outgoing: Collection[int] = ()
    ) -> list[tuple[str, list[bytes]]]:
        _ClockSpy.nows.extend(now for _ in frames)
        return super().handle_batch(ingress, frames, now, outgoing)


def test_out_of_order_frames_hold_the_clock_and_keep_their_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "Router", _ClockSpy)
    monkeypatch.setattr(_ClockSpy, "nows", [])
    capture = tmp_path / "in.pcap"
    capture.write_bytes(
        pcap([(T0 + 10, frame(1)), (T0 + 5, frame(2)), (T0 + 7, frame(3)), (T0 + 12, frame(4))])
    )
    out = tmp_path / "out"
    result = replay(config(), [("eth0", capture)], out)
    assert _ClockSpy.nows == [T0 + 10, T0 + 10, T0 + 10, T0 + 12]
    _, records = read_pcap(out / "eth1.pcap")
    assert [t // NS for t, _ in records] == [T0 + 10, T0 + 5, T0 + 7, T0 + 12]
    assert f"eth0={capture}: 2 frames out of time order" in result.notes
    (flow,) = result.snapshot.flows
    assert (flow.first_seen, flow.last_seen) == (T0 + 10, T0 + 12)
    assert result.snapshot.now == T0 + 12


def test_in_order_inputs_get_no_time_order_note(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(pcap([(T0, frame(1)), (T0, frame(2)), (T0 + 1, frame(3))]))
    result = replay(config(), [("eth0", capture)], tmp_path / "out")
    assert not [n for n in result.notes if "time order" in n]


# -- flows the forwarder forgets stay in the summary ---------------------------------------


def _forgetting_replay(tmp_path: Path, flows: FlowSpec) -> ReplayResult:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(
        pcap(
            [
                (T0, frame(1, "10.0.0.5")),
                (T0 + 1, frame(2, "10.0.0.5")),
                (T0 + 100, frame(3, "10.0.0.6")),
                (T0 + 101, frame(4, "10.0.0.7")),
            ]
        )
    )
    return replay(config(flows), [("eth0", capture)], tmp_path / "out")


def test_idle_flows_are_listed_as_forgotten(tmp_path: Path) -> None:
    result = _forgetting_replay(tmp_path, FlowSpec(idle_timeout=10.0))
    snap = result.snapshot
    assert snap.flows_expired == 1
    assert [(f.source, f.packets, f.first_seen) for f in snap.flows] == [
        ("10.0.0.5", 2, T0),
        ("10.0.0.6", 1, T0 + 100),
        ("10.0.0.7", 1, T0 + 101),
    ]
    assert result.forgotten == {0}
    text = format_summary(result)
    assert "flows: 3" in text
    assert "  (10.0.0.5, 239.1.2.3) in eth0 -> eth1: packets 2 bytes" in text
    assert text.splitlines()[1].endswith("(forgotten)")
    assert not text.splitlines()[2].endswith("(forgotten)")
    doc = json.loads(json.dumps(result.to_json()))
    assert [f["source"] for f in doc["flows"]] == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert [f.get("forgotten", False) for f in doc["flows"]] == [True, False, False]


def test_evicted_flows_are_listed_in_first_seen_order(tmp_path: Path) -> None:
    result = _forgetting_replay(tmp_path, FlowSpec(max_flows=1))
    snap = result.snapshot
    assert snap.flows_evicted == 2
    assert [f.source for f in snap.flows] == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert result.forgotten == {0, 1}
    assert sum(f.packets for f in snap.flows) == 4


# -- replay MACs ----------------------------------------------------------------------------


def test_replay_macs_change_only_the_mac() -> None:
    base = config()
    spec = replace(
        base.interfaces["eth2"],
        mac=None,
        address=IPv4Interface("10.0.2.1/24"),
        ttl_threshold=7,
        manet=True,
        origin=Origin("x.toml", 3),
    )
    cfg = replace(base, interfaces={**base.interfaces, "eth2": spec})
    new, notes = with_replay_macs(cfg)
    made = new.interfaces["eth2"]
    assert made.mac == bytes.fromhex("027266000003")  # eth2 is the third interface
    assert (made.name, made.address, made.ttl_threshold, made.manet, made.origin) == (
        "eth2",
        IPv4Interface("10.0.2.1/24"),
        7,
        True,
        Origin("x.toml", 3),
    )
    assert notes == ("interface eth2 has no mac in the config; replay uses 02:72:66:00:00:03",)
    assert new.interfaces["eth0"] is cfg.interfaces["eth0"]


def test_a_long_gap_between_frames_runs_every_igmp_query_it_spans(tmp_path: Path) -> None:
    from ..support.frames import toml_config

    igmp_config = toml_config(
        '[interface.eth0]\nmac = "02:00:00:00:00:01"\n'
        '[interface.eth1]\nmac = "02:00:00:00:00:02"\naddress = "10.1.0.1/24"\nigmp = true\n'
        "query_interval = 20\n"
    )
    capture = tmp_path / "in.pcap"
    gap = 30 * 86400  # a month without traffic: about 130,000 query intervals
    capture.write_bytes(pcap([(T0, frame(1)), (T0 + gap, frame(2))]))
    result = replay(igmp_config, [("eth0", capture)], tmp_path / "out")
    # the startup queries (2, 5 s apart), then one every 20 s until the last frame
    assert result.outputs["eth1"] == 2 + (gap - 5) // 20
