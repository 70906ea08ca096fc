"""Replay outputs: written whole or not at all, never over an input, from the replay MACs."""

from __future__ import annotations

import os
from dataclasses import replace
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from rawfwd.config.values import Origin
from rawfwd.errors import InputError
from rawfwd.replay import replay, with_replay_macs

from ..support.captures import (
    GOOD_REC,
    NS,
    T0,
    config,
    frame,
    leftovers,
    pcap,
    pcap_header,
    read_pcap,
)

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
    records = read_pcap(out / "eth1.pcap", nano=False)  # pcap input: microsecond output
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


# -- the MACs replay sends from ---------------------------------------------------------------


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
