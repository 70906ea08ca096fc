"""Valid rawfwd TOML files normalise to one Config: defaults, extensions, groups, IGMP keys."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Interface, IPv4Network

import pytest

from rawfwd.config.toml import parse_toml
from rawfwd.config.values import Config, DedupMode, DedupSpec, FlowSpec, Origin

from ..support.configs import IFACES, ISSUE_EXAMPLE, PATH, doc
from ..support.configs import toml_error as error
from ..support.frames import line_of


def test_issue_example_normalises() -> None:
    cfg = parse_toml(ISSUE_EXAMPLE, PATH)
    assert isinstance(cfg, Config)
    assert cfg.path == PATH
    assert list(cfg.interfaces) == ["eth0", "eth1", "eth2"]
    eth0, eth1, eth2 = cfg.interfaces.values()
    assert eth0.mac == bytes([2, 0, 0, 0, 0, 1])
    assert eth0.address == IPv4Interface("10.0.0.1/24")
    assert (eth0.ttl_threshold, eth0.manet) == (1, False)
    assert (eth1.ttl_threshold, eth1.manet, eth1.address) == (16, False, None)
    assert (eth2.mac, eth2.manet, eth2.ttl_threshold) == (None, True, 1)
    assert eth0.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[interface.eth0]"))

    sg, star = cfg.routes
    assert sg.iif == "eth0"
    assert sg.group == IPv4Network("239.1.2.3/32")
    assert sg.source == IPv4Network("10.0.0.5/32")
    assert sg.oifs == ("eth1", "eth2")
    assert sg.describe() == "(10.0.0.5, 239.1.2.3) from eth0 to eth1, eth2"
    assert sg.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[[route]]", 1))
    assert star.source is None
    assert star.group == IPv4Network("239.1.0.0/16")
    assert star.describe() == "(*, 239.1.0.0/16) from eth2 to eth2, eth0"
    assert star.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[[route]]", 2))

    assert cfg.dedup == DedupSpec(mode=DedupMode.HASH, window=5.0)
    assert cfg.flows == FlowSpec()
    assert cfg.warnings == ()


def test_defaults() -> None:
    cfg = parse_toml(doc('[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'), PATH)
    assert cfg.dedup.mode is DedupMode.HASH
    assert cfg.dedup.window == 5.0
    assert cfg.flows.max_flows == 100_000
    assert cfg.flows.idle_timeout == 300.0
    assert all(i.ttl_threshold == 1 and not i.manet for i in cfg.interfaces.values())
    assert cfg.routes[0].source is None


def test_empty_document_is_an_empty_config() -> None:
    cfg = parse_toml("", PATH)
    assert cfg.interfaces == {}
    assert cfg.routes == ()


def test_extensions_users_expect() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        to = "eth1"                 # one interface without the list
        source = "10.0.0.0/8"       # a source prefix, as smcroute allows

        [dedup]
        window = 2                  # an integer number of seconds
        mode = "id"
        max_entries = 1000

        [flows]
        max_flows = 10
        idle_timeout = 60
        """
    )
    cfg = parse_toml(text, PATH)
    (r,) = cfg.routes
    assert r.oifs == ("eth1",)
    assert r.source == IPv4Network("10.0.0.0/8")
    assert r.describe() == "(10.0.0.0/8, 239.1.2.3) from eth0 to eth1"
    assert cfg.dedup == DedupSpec(mode=DedupMode.ID, window=2.0, max_entries=1000)
    assert isinstance(cfg.dedup.window, float)
    assert cfg.flows == FlowSpec(max_flows=10, idle_timeout=60.0)


@pytest.mark.parametrize("mode", ["hash", "id", "off"])
def test_dedup_modes(mode: str) -> None:
    cfg = parse_toml(doc(f'[dedup]\nmode = "{mode}"\n'), PATH)
    assert cfg.dedup.mode is DedupMode(mode)


def test_manet_interface_may_send_back_out() -> None:
    text = doc('[[route]]\nfrom = "eth2"\ngroup = "239.1.2.3"\nto = ["eth2", "eth1"]\n')
    text = text.replace("[interface.eth2]\n", "[interface.eth2]\nmanet = true\n")
    (r,) = parse_toml(text, PATH).routes
    assert r.oifs == ("eth2", "eth1")


def test_link_local_groups() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "224.0.0.251"
        to = ["eth1"]

        [[route]]
        from = "eth0"
        group = "224.0.0.0/16"
        to = ["eth1"]
        """
    )
    cfg = parse_toml(text, PATH)
    assert [str(r.group) for r in cfg.routes] == ["224.0.0.251/32", "224.0.0.0/16"]
    # Only the second covers 224.0.0.0/24 partly: it is warned about, with its line.
    (warning,) = cfg.warnings
    assert warning.startswith(f"{PATH}:{line_of(text, '[[route]]', 2)}: ")
    assert "224.0.0.0/24" in warning


def test_same_group_other_from_or_source_is_not_duplicate() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        to = ["eth1"]

        [[route]]
        from = "eth1"
        group = "239.1.2.3"
        to = ["eth0"]

        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        source = "10.0.0.5"
        to = ["eth2"]
        """
    )
    assert len(parse_toml(text, PATH).routes) == 3


@pytest.mark.parametrize("value", ["1", "255"])
def test_ttl_threshold_bounds_accepted(value: str) -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', f"ttl_threshold = {value}")
    assert parse_toml(text, PATH).interfaces["eth1"].ttl_threshold == int(value)


def test_vlan_interface_name_with_dot() -> None:
    text = textwrap.dedent(
        """\
        [interface."eth0.100"]
        mac = "02:00:00:00:01:00"

        [interface.eth1]
        mac = "02:00:00:00:00:02"
        ttl_threshold = 0
        """
    )
    err = error(text)
    assert err.line == line_of(text, "ttl_threshold")
    text = text.replace("ttl_threshold = 0", 'address = "10.0.0.1/24"')
    text += '\n[[route]]\nfrom = "eth0.100"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'
    cfg = parse_toml(text, PATH)
    assert list(cfg.interfaces) == ["eth0.100", "eth1"]
    assert cfg.interfaces["eth0.100"].origin == Origin(PATH, 1)
    assert cfg.routes[0].describe() == "(*, 239.1.2.3) from eth0.100 to eth1"


def test_igmp_keys_parse_into_the_interfaces_settings() -> None:
    config = parse_toml(
        "[interface.eth0]\n[interface.eth1]\nigmp = true\nversion = 2\nrobustness = 3\n"
        "query_interval = 60\nquery_response_interval = 5\nlast_member_query_interval = 0.5\n"
        "last_member_query_count = 4\nstartup_query_interval = 10\nstartup_query_count = 1\n"
        "querier = false\n[interface.up]\nupstream = true\n",
        PATH,
    )
    spec = config.interfaces["eth1"].igmp
    assert spec is not None
    assert (spec.version, spec.robustness, spec.query_interval) == (2, 3, 60.0)
    assert (spec.query_response_interval, spec.last_member_query_interval) == (5.0, 0.5)
    assert (spec.last_member_count, spec.startup_query_interval, spec.startup_query_count) == (
        4,
        10.0,
        1,
    )
    assert spec.querier is False
    assert spec.group_membership_interval == 3 * 60 + 5
    assert config.interfaces["eth0"].igmp is None
    assert config.interfaces["up"].upstream
