"""The shipped example configs stay valid and mean what their comments say."""

from __future__ import annotations

from pathlib import Path

from rawfwd.config.load import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_toml_is_valid() -> None:
    config = load_config(EXAMPLES / "rawfwd.toml")
    assert set(config.interfaces) == {"wan0", "lan0", "iot0"}
    assert config.interfaces["iot0"].ttl_threshold == 8
    mdns = [r for r in config.routes if str(r.group) == "224.0.0.251/32"]
    assert {(r.iif, r.oifs) for r in mdns} == {("lan0", ("iot0",)), ("iot0", ("lan0",))}
    assert config.warnings == ()


def test_example_smcroute_conf_is_valid() -> None:
    config = load_config(EXAMPLES / "smcroute.conf")
    # wlan0 is disabled and unused; eth2 is defined implicitly by the route that names it
    assert set(config.interfaces) == {"eth0", "eth1", "eth2"}
    assert config.interfaces["eth1"].ttl_threshold == 4
    assert [r.describe() for r in config.routes] == [
        "(192.168.1.42, 239.10.0.1) from eth0 to eth1, eth2",
        "(*, 239.20.0.0/16) from eth0 to eth1",
    ]


def test_example_igmp_configs_are_valid() -> None:
    router = load_config(EXAMPLES / "igmp.toml")
    assert router.routes == ()
    igmp = {name: spec.igmp for name, spec in router.interfaces.items()}
    assert igmp["eth0"] is None
    assert igmp["eth1"] is not None
    assert igmp["eth1"].querier
    assert igmp["eth2"] is not None
    assert not igmp["eth2"].querier
    proxy = load_config(EXAMPLES / "igmpproxy.toml")
    assert [s.name for s in proxy.interfaces.values() if s.upstream] == ["wan0"]
    lan0, lan1 = proxy.interfaces["lan0"].igmp, proxy.interfaces["lan1"].igmp
    assert lan0 is not None
    assert lan0.last_member_query_interval == 0.5
    assert lan1 is not None
    assert lan1.version == 2


def test_the_ipv6_example_is_valid_and_relays_mdns_both_ways_in_both_families() -> None:
    config = load_config(EXAMPLES / "ipv6.toml")
    lan = config.interfaces["lan0"]
    assert lan.mld is not None
    assert lan.igmp is not None
    assert lan.mld.version == 3  # MLDv2 (the membership machine's number)
    mdns = {(str(r.group), r.iif, r.oifs) for r in config.routes if r.group.prefixlen in (32, 128)}
    assert {
        ("ff02::fb/128", "lan0", ("iot0",)),
        ("ff02::fb/128", "iot0", ("lan0",)),
        ("224.0.0.251/32", "lan0", ("iot0",)),
        ("224.0.0.251/32", "iot0", ("lan0",)),
    } <= mdns
    assert config.warnings == ()


def test_example_pim_dense_config_is_valid() -> None:
    config = load_config(EXAMPLES / "pim_dense.toml")
    assert config.pim.dense
    assert config.pim.rps == ()
    assert all(spec.pim is not None for spec in config.interfaces.values())
    assert config.interfaces["eth2"].igmp is not None
    assert config.warnings == ()
