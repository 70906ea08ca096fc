"""Rules pinned down after review: TTL before duplicates, martian sources, retired flows,
and config refusals (multicast MACs, MANET loops without dedup, files that are no config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawfwd.config.checks import MAX_CONFIG_BYTES
from rawfwd.config.load import load_config
from rawfwd.config.toml import parse_toml
from rawfwd.config.values import FlowSpec
from rawfwd.core import DropReason, FlowSnapshot, Forwarder
from rawfwd.errors import ConfigError

from .support.frames import line_of, make_config, route, udp_frame

SRC, GROUP = "10.0.0.5", "239.1.2.3"


def test_packet_dropped_for_ttl_is_not_remembered_as_seen() -> None:
    """TTL is checked before duplicates (design step 5 before 6): a copy that could not be
    forwarded must not make a later, forwardable copy of the same packet a duplicate."""
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    assert fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=1), 1.0) == ()
    assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=64), 1.1)) == 1
    assert len(fwd.handle_frame("eth0", udp_frame(SRC, GROUP, ttl=63), 1.2)) == 0
    drops = dict(fwd.snapshot(2.0).drops)
    assert drops == {DropReason.TTL: 1, DropReason.DUPLICATE: 1}


@pytest.mark.parametrize("source", ["0.0.0.0", "127.0.0.1", "240.0.0.1"])
def test_martian_source_to_link_local_group_counts_as_link_local(source: str) -> None:
    """IGMP reports may come from 0.0.0.0 (RFC 3376 4.2.13): not malformed, just local."""
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    fwd.handle_frame("eth0", udp_frame(source, "224.0.0.22", ttl=1), 1.0)
    assert dict(fwd.snapshot(1.0).drops) == {DropReason.LINK_LOCAL: 1}


def test_martian_source_not_relayed_even_by_link_local_opt_in() -> None:
    fwd = Forwarder(make_config(route("eth0", "224.0.0.251", ["eth1"])))
    assert fwd.handle_frame("eth0", udp_frame("0.0.0.0", "224.0.0.251", ttl=255), 1.0) == ()
    assert dict(fwd.snapshot(1.0).drops) == {DropReason.BAD_SOURCE: 1}


def test_forgotten_flows_are_handed_to_on_retire() -> None:
    retired: list[FlowSnapshot] = []
    flows = FlowSpec(max_flows=2, idle_timeout=10.0)
    config = make_config(route("eth0", GROUP, ["eth1"]), flows=flows)
    fwd = Forwarder(config, on_retire=retired.append)
    for i, src in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        fwd.handle_frame("eth0", udp_frame(src, GROUP), 1.0 + i)
    assert [(f.source, f.packets, f.forwarded) for f in retired] == [("10.0.0.1", 1, 1)]
    fwd.handle_frame("eth0", udp_frame("10.0.0.4", GROUP), 100.0)  # sweeps the idle ones
    assert [f.source for f in retired] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert [f.source for f in fwd.snapshot(100.0).flows] == ["10.0.0.4"]


IFACES = '[interface.eth0]\nmac = "02:00:00:00:00:01"\n[interface.eth1]\n'


def test_multicast_mac_refused() -> None:
    text = IFACES + 'mac = "01:00:5e:00:00:01"\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.line == line_of(text, "01:00:5e")
    assert "is a multicast MAC address" in err.value.reason


def test_manet_self_route_needs_duplicate_detection() -> None:
    text = (
        "[interface.radio0]\nmanet = true\n[interface.eth1]\n"
        '[[route]]\nfrom = "radio0"\ngroup = "239.0.0.0/8"\nto = ["radio0", "eth1"]\n'
        '[dedup]\nmode = "off"\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.line == line_of(text, "[interface.radio0]")
    assert "loops without duplicate detection" in err.value.reason
    assert parse_toml(text.replace('"off"', '"id"'), "t.toml").dedup.mode.value == "id"


def test_config_must_be_a_regular_file_of_sane_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(Path("/dev/zero"))
    assert err.value.reason == "not a regular file"
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.reason.startswith("cannot read: ") or err.value.reason == (
        "not a regular file"
    )
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError) as err:
        load_config(big)
    assert err.value.reason == f"larger than {MAX_CONFIG_BYTES} bytes"


@pytest.mark.parametrize("name", ["a=b", "é", "a\\u001b[31m", "ab cd"])
def test_interface_names_are_printable_ascii_without_equals(name: str) -> None:
    text = f'[interface."{name}"]\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert "is not a valid interface name" in err.value.reason


def test_flow_snapshots_in_parts_equal_the_whole_snapshot() -> None:
    fwd = Forwarder(make_config(route("eth0", GROUP, ["eth1"])))
    for i in range(25):
        fwd.handle_frame("eth0", udp_frame(f"10.0.1.{i + 1}", GROUP, ident=i), 1.0 + i)
    parts = list(fwd.flow_snapshots(part=10))
    assert [len(p) for p in parts] == [10, 10, 5]
    whole = fwd.snapshot(30.0)
    assert fwd.snapshot(30.0, tuple(f for p in parts for f in p)) == whole
