"""IPv6 in the config: routes, [[rpf]] and MANET groups take IPv6 addresses and prefixes
in both formats; what is wrong is refused with file, line and reason."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from rawfwd.config.toml import parse_toml

from ..support.configs import PATH, doc, smcroute_error, smcroute_load, toml_error, write
from ..support.frames import line_of


def test_a_route_and_an_rpf_entry_in_ipv6() -> None:
    config = parse_toml(
        doc(
            """
            [[route]]
            from = "eth0"
            group = "ff0e::1:1"
            source = "2001:db8:1::5"
            to = ["eth1", "eth2"]

            [[route]]
            group = "ff3e::/96"
            to = ["eth2"]

            [[rpf]]
            prefix = "2001:db8::/32"
            iif = "eth0"
            """
        ),
        PATH,
    )
    first, second = config.routes
    assert (first.group, first.source) == (ip_network("ff0e::1:1"), ip_network("2001:db8:1::5"))
    assert first.describe() == "(2001:db8:1::5, ff0e::1:1) from eth0 to eth1, eth2"
    assert second.describe() == "(*, ff3e::/96) from rpf to eth2"
    assert config.rpf[0].prefix == ip_network("2001:db8::/32")
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("group", "source", "why"),
    [
        ("2001:db8::1", None, "group '2001:db8::1' is not inside ff00::/8 (IPv6 multicast)"),
        ("ff0e::1:1", "ff05::1", "source 'ff05::1' is not a unicast address"),
        ("ff0e::1:1", "::1", "source '::1' is not a unicast address"),
        (
            "ff0e::1:1",
            "2001:db8::1/32",
            "source '2001:db8::1/32' has host bits set; did you mean 2001:db8::/32?",
        ),
        (
            "ff0e::1:1",
            "10.0.0.5",
            "route (10.0.0.5, ff0e::1:1) from eth0 to eth1 mixes an IPv4 source with an IPv6 group",
        ),
    ],
)
def test_what_is_wrong_is_named_with_its_line(group: str, source: str | None, why: str) -> None:
    text = doc(
        f"""
        [[route]]
        from = "eth0"
        group = "{group}"
        {f'source = "{source}"' if source else ""}
        to = ["eth1"]
        """
    )
    err = toml_error(text)
    assert why in err.reason
    assert err.line is not None
    assert err.line >= line_of(text, "[[route]]")


def test_a_route_covering_link_scopes_partly_is_warned_about() -> None:
    config = parse_toml(
        doc(
            """
            [[route]]
            from = "eth0"
            group = "ff00::/8"
            to = ["eth1"]
            """
        ),
        PATH,
    )
    (warning,) = config.warnings
    assert "covers interface- and link-local groups only partly" in warning


def test_smcroute_reads_ipv6_mroutes_as_smcroute_does(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smcroute.conf",
        "phyint eth0 enable\nphyint eth1 enable\n"
        "mroute from eth0 source 2001:db8::5 group ff0e::1:1 to eth1\n"
        "mroute from eth0 source :: group ff05::1:3 to eth1\n",
    )
    config = smcroute_load(path)
    assert [r.describe() for r in config.routes] == [
        "(2001:db8::5, ff0e::1:1) from eth0 to eth1",
        "(*, ff05::1:3) from eth0 to eth1",
    ]
    bad = write(
        tmp_path / "bad.conf", "phyint eth0 enable\nmroute from eth0 group fe80::1 to eth0\n"
    )
    assert "not inside ff00::/8" in smcroute_error(bad).reason
