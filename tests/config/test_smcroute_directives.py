"""smcroute.conf directives: phyint and mroute (any word order, 0.0.0.0 as *), warnings, errors."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from rawfwd.config.load import load_config, looks_like_smcroute
from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.values import Config, Origin
from rawfwd.errors import ConfigError

from ..support.configs import smcroute_error as error
from ..support.configs import smcroute_load as load
from ..support.configs import write
from ..support.frames import line_of


def load_line(tmp_path: Path, line: str) -> Config:
    """The Config of an smcroute.conf of `phyint eth0` and `line`."""
    return load_smcroute(write(tmp_path / "smcroute.conf", f"phyint eth0\n{line}\n"))


def line_error(tmp_path: Path, line: str) -> ConfigError:
    """The error `line` (after `phyint eth0`) raises, reported at line 2 of its file."""
    path = write(tmp_path / "smcroute.conf", f"phyint eth0\n{line}\n")
    err = error(path)
    assert (err.path, err.line) == (str(path), 2)
    assert str(err) == f"{path}:2: {err.reason}"
    return err


BASIC = """\
# smcroute.conf for a small router
phyint eth0 ttl-threshold 5
phyint eth1   # a comment after the directive

mroute from eth0 group 239.1.2.3 to eth1 eth2
mroute from eth0 source 10.0.0.0/24 group 239.2.0.0/16 to eth1   # prefixes
mroute from eth1 source 192.168.1.7 group 225.1.1.1 to eth0
"""


def test_phyint_and_mroute(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", BASIC)
    cfg = load(path)
    assert cfg.path == str(path)
    assert cfg.warnings == ()
    # phyint lines first, then interfaces that only routes name (smcroute needs no phyint).
    assert list(cfg.interfaces) == ["eth0", "eth1", "eth2"]
    assert cfg.interfaces["eth0"].ttl_threshold == 5
    assert cfg.interfaces["eth1"].ttl_threshold == 1
    assert cfg.interfaces["eth2"].ttl_threshold == 1
    assert cfg.interfaces["eth0"].origin == Origin(str(path), line_of(BASIC, "phyint eth0"))
    assert all(i.mac is None and not i.manet for i in cfg.interfaces.values())
    assert [r.describe() for r in cfg.routes] == [
        "(*, 239.1.2.3) from eth0 to eth1, eth2",
        "(10.0.0.0/24, 239.2.0.0/16) from eth0 to eth1",
        "(192.168.1.7, 225.1.1.1) from eth1 to eth0",
    ]
    second = cfg.routes[1]
    assert second.source == IPv4Network("10.0.0.0/24")
    assert second.group == IPv4Network("239.2.0.0/16")
    assert second.origin == Origin(str(path), line_of(BASIC, "mroute from eth0 source"))


def test_mroute_words_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", "mroute group 239.1.2.3 from eth0 to eth1\n")
    (r,) = load(path).routes
    assert (r.iif, str(r.group), r.oifs) == ("eth0", "239.1.2.3/32", ("eth1",))


def test_phyint_enable_and_comments_only(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", "# nothing\n\nphyint eth3 enable ttl-threshold 64\n")
    cfg = load(path)
    assert cfg.interfaces["eth3"].ttl_threshold == 64
    assert cfg.routes == ()


def test_load_config_recognises_smcroute(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", BASIC)
    cfg = load_config(path)
    assert len(cfg.routes) == 3
    assert looks_like_smcroute(BASIC)
    assert not looks_like_smcroute("# x\n[interface.eth0]\n")


def test_mgroup_and_mrdisc_are_warnings(tmp_path: Path) -> None:
    text = """\
    phyint eth0 mrdisc
    phyint eth1
    mgroup from eth0 group 239.1.2.3
    ssmgroup from eth0 source 10.0.0.1 group 232.1.1.1
    mroute from eth0 group 239.1.2.3 to eth1
    """
    path = write(tmp_path / "smcroute.conf", text)
    cfg = load(path)
    text = textwrap.dedent(text)
    assert len(cfg.warnings) == 3
    mrdisc, mgroup, ssmgroup = cfg.warnings
    assert mrdisc.startswith(f"{path}:{line_of(text, 'mrdisc')}: 'mrdisc'")
    assert "not supported" in mrdisc
    assert mgroup.startswith(f"{path}:{line_of(text, 'mgroup')}: 'mgroup' ignored")
    assert ssmgroup.startswith(f"{path}:{line_of(text, 'ssmgroup')}: 'ssmgroup' ignored")
    assert len(cfg.routes) == 1


@pytest.mark.parametrize("directive", ["mroute6 from eth0 group ff05::1 to eth1", "foo bar"])
def test_unknown_directive(tmp_path: Path, directive: str) -> None:
    path = write(tmp_path / "smcroute.conf", f"phyint eth0\n# x\n{directive}\n")
    err = error(path)
    assert (err.path, err.line) == (str(path), 3)
    keyword = directive.split()[0]
    assert err.reason == (
        f"unknown directive {keyword!r} (rawfwd reads phyint, mroute, mgroup and include "
        "from smcroute.conf)"
    )


def test_disabled_phyint_used_by_route(tmp_path: Path) -> None:
    text = "phyint eth0\nphyint eth2 disable\n\nmroute from eth0 group 239.1.2.3 to eth1 eth2\n"
    path = write(tmp_path / "smcroute.conf", text)
    err = error(path)
    assert (err.path, err.line) == (str(path), 4)
    assert err.reason == (
        f"route (*, 239.1.2.3) from eth0 to eth1, eth2 uses interface eth2, disabled at {path}:2"
    )


def test_disabled_phyint_unused_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smcroute.conf",
        "phyint eth9 disable\nmroute from eth0 group 239.1.2.3 to eth1\n",
    )
    assert list(load(path).interfaces) == ["eth0", "eth1"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("phyint", "phyint needs an interface name"),
        ("phyint eth0 ttl-threshold", "ttl-threshold needs a number from 1 to 255"),
        ("phyint eth0 ttl-threshold x", "ttl-threshold needs a number from 1 to 255"),
        (
            "phyint eth0 ttl-threshold 0",
            "ttl_threshold must be an integer from 1 to 255, not 0",
        ),
        (
            "phyint eth0 ttl-threshold 256",
            "ttl_threshold must be an integer from 1 to 255, not 256",
        ),
        (
            "phyint eth0 fast",
            "phyint: unknown option 'fast' (enable, disable, mrdisc, ttl-threshold N)",
        ),
        ("mroute from eth0 to eth1", "mroute needs 'from IF' and 'group G'"),
        ("mroute group 239.1.2.3 to eth1", "mroute needs 'from IF' and 'group G'"),
        (
            "mroute from eth0 group 239.1.2.3",
            "mroute needs 'to IF [IF ...]' with at least one interface",
        ),
        (
            "mroute from eth0 group 239.1.2.3 to",
            "mroute needs 'to IF [IF ...]' with at least one interface",
        ),
        ("mroute from eth0 group", "mroute: 'group' needs a value"),
        (
            "mroute from eth0 via eth3 group 239.1.2.3 to eth1",
            "mroute: unexpected 'via' (expected from, source, group, to)",
        ),
        (
            "mroute from eth0 group 10.1.2.3 to eth1",
            "group '10.1.2.3' is not inside 224.0.0.0/4 (IPv4 multicast)",
        ),
        (
            "mroute from eth0 group 239.1.2.3/16 to eth1",
            "group '239.1.2.3/16' has host bits set; did you mean 239.1.0.0/16?",
        ),
        (
            "mroute from eth0 source 239.0.0.1 group 239.1.2.3 to eth1",
            "source '239.0.0.1' is not a unicast address",
        ),
        (
            "mroute from eth0 source 10.0.0.1/8 group 239.1.2.3 to eth1",
            "source '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?",
        ),
        (
            "mroute from eth+ group 239.1.2.3 to eth1",
            "interface wildcard 'eth+' is not supported; name each interface",
        ),
    ],
)
def test_line_errors(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path / "smcroute.conf", f"# router\nphyint eth1\n{line}\n")
    err = error(path)
    assert (err.path, err.line) == (str(path), 3)
    assert err.reason == reason


def test_phyint_twice(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", "phyint eth0\nphyint eth0 ttl-threshold 2\n")
    err = error(path)
    assert (err.path, err.line) == (str(path), 2)
    assert err.reason == "phyint eth0 given twice"


def test_route_back_out_of_incoming_interface(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smcroute.conf", "phyint eth0\nmroute from eth0 group 239.1.2.3 to eth0\n"
    )
    err = error(path)
    assert (err.path, err.line) == (str(path), 2)
    assert "sends back out of its incoming interface 'eth0'" in err.reason


def test_duplicate_mroute(tmp_path: Path) -> None:
    text = (
        "mroute from eth0 group 239.1.2.3 to eth1\n"
        "mroute from eth1 group 239.1.2.3 to eth0\n"
        "mroute from eth0 group 239.1.2.3 to eth2\n"
    )
    path = write(tmp_path / "smcroute.conf", text)
    err = error(path)
    assert (err.path, err.line) == (str(path), 3)
    assert err.reason == f"duplicate route (*, 239.1.2.3) from eth0 to eth2 (first at {path}:1)"


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.conf"
    err = error(path)
    assert (err.path, err.line) == (str(path), None)
    assert err.reason.startswith("cannot read: ")


# -- source 0.0.0.0 is (*,G) ----------------------------------------------------------------


@pytest.mark.parametrize("source", ["0.0.0.0", "0.0.0.0/0", "0.0.0.0/32"])
def test_source_any_means_star_g(tmp_path: Path, source: str) -> None:
    cfg = load_line(tmp_path, f"mroute from eth0 source {source} group 225.3.2.1 to eth1 eth2")
    (r,) = cfg.routes
    assert r.source is None
    assert r.group == IPv4Network("225.3.2.1/32")
    assert r.describe() == "(*, 225.3.2.1) from eth0 to eth1, eth2"


def test_source_any_and_no_source_are_the_same_route(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smcroute.conf",
        "mroute from eth0 group 225.3.2.1 to eth1\n"
        "mroute from eth0 source 0.0.0.0 group 225.3.2.1 to eth2\n",
    )
    err = error(path)
    assert err.line == 2
    assert err.reason.startswith("duplicate route (*, 225.3.2.1) from eth0 to eth2")


def test_other_zero_sources_are_still_refused(tmp_path: Path) -> None:
    err = line_error(tmp_path, "mroute from eth0 source 0.0.0.0/8 group 225.3.2.1 to eth1")
    assert err.reason == "source '0.0.0.0/8' is not a unicast address"


# -- ttl-threshold takes ASCII digits -------------------------------------------------------


# superscript two, Arabic-Indic three and fullwidth one pass str.isdigit(); none is a number
@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "\uff11", "+5", "5.0", "0x10"])
def test_ttl_threshold_needs_an_ascii_number(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "smcroute.conf", f"phyint eth0 ttl-threshold {value}\n")
    err = error(path)
    assert err.line == 1
    assert err.reason == "ttl-threshold needs a number from 1 to 255"


def test_ttl_threshold_with_leading_zero_is_a_number(tmp_path: Path) -> None:
    cfg = load_smcroute(write(tmp_path / "smcroute.conf", "phyint eth0 ttl-threshold 007\n"))
    assert cfg.interfaces["eth0"].ttl_threshold == 7


# -- keywords are not interface names -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("mroute from eth0 group 239.1.1.1 to eth1 to eth2", "mroute: 'to' given twice"),
        ("mroute from eth0 from eth3 group 239.1.1.1 to eth1", "mroute: 'from' given twice"),
        (
            "mroute from eth0 group 239.1.1.1 group 239.1.1.2 to eth1",
            "mroute: 'group' given twice",
        ),
        (
            "mroute from eth0 source 10.0.0.1 source 10.0.0.2 group 239.1.1.1 to eth1",
            "mroute: 'source' given twice",
        ),
        (
            "mroute from eth0 to eth1 group 239.1.1.1",
            "mroute: 'group' after 'to': give from, source and group before 'to' "
            "(the words after it are outgoing interfaces)",
        ),
        (
            "mroute from to group 239.1.1.1 to eth1",
            "mroute: 'from' needs an interface name, not the keyword 'to'",
        ),
        (
            "mroute from eth0 group to eth1",
            "mroute: 'group' needs a group, not the keyword 'to'",
        ),
        (
            "mroute from eth0 source group 239.1.1.1 to eth1",
            "mroute: 'source' needs a source address, not the keyword 'group'",
        ),
        ("phyint to", "'to' is an smcroute.conf keyword, not an interface name"),
        ("phyint source", "'source' is an smcroute.conf keyword, not an interface name"),
        (
            "mroute from eth0 group 239.1.1.1 to eth1 enable",
            "'enable' is an smcroute.conf keyword, not an interface name",
        ),
    ],
)
def test_keywords_are_not_interface_names(tmp_path: Path, line: str, reason: str) -> None:
    assert line_error(tmp_path, line).reason == reason


def test_keyword_order_before_to_is_free(tmp_path: Path) -> None:
    cfg = load_line(tmp_path, "mroute group 239.1.1.1 source 10.0.0.1 from eth0 to eth1")
    (r,) = cfg.routes
    assert (r.iif, str(r.source), str(r.group), r.oifs) == (
        "eth0",
        "10.0.0.1/32",
        "239.1.1.1/32",
        ("eth1",),
    )
    assert "to" not in cfg.interfaces
