"""smcroute.conf corner cases: (*,G) spelt 0.0.0.0, keywords, ASCII numbers, includes."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from rawfwd.config.checks import MAX_CONFIG_BYTES
from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.values import Config, Origin
from rawfwd.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_smcroute(path)
    return info.value


def load_line(tmp_path: Path, line: str) -> Config:
    return load_smcroute(write(tmp_path / "smcroute.conf", f"phyint eth0\n{line}\n"))


def line_error(tmp_path: Path, line: str) -> ConfigError:
    path = write(tmp_path / "smcroute.conf", f"phyint eth0\n{line}\n")
    err = error(path)
    assert (err.path, err.line) == (str(path), 2)
    assert str(err) == f"{path}:2: {err.reason}"
    return err


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


# -- include --------------------------------------------------------------------------------


def test_include_takes_a_literal_name_with_glob_characters(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", "include a[1].conf\n")
    literal = write(tmp_path / "a[1].conf", "mroute from eth0 group 239.1.1.1 to eth1\n")
    # `a[1].conf` as a glob would match a1.conf: the existing literal file wins
    write(tmp_path / "a1.conf", "mroute from eth0 group 239.9.9.9 to eth1\n")
    cfg = load_smcroute(main)
    assert [str(r.group) for r in cfg.routes] == ["239.1.1.1/32"]
    assert cfg.routes[0].origin == Origin(str(literal), 1)
    assert cfg.warnings == ()


def test_include_glob_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    main = write(
        tmp_path / "main.conf",
        "phyint eth0\ninclude conf.d/*.conf\nmroute from eth0 group 239.1.1.1 to eth1\n",
    )
    cfg = load_smcroute(main)
    assert cfg.warnings == (f"{main}:2: include conf.d/*.conf matched no file",)
    assert len(cfg.routes) == 1


def test_include_plain_missing_file_is_still_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", "phyint eth0\ninclude nothere.conf\n")
    err = error(main)
    assert (err.path, err.line) == (str(main), 2)
    assert err.reason == f"include: no such file {tmp_path / 'nothere.conf'}"


def test_include_glob_under_a_directory_with_glob_characters(tmp_path: Path) -> None:
    base = tmp_path / "etc[1]"
    main = write(base / "smcroute.conf", "include routes/*.conf\n")
    write(base / "routes" / "b.conf", "mroute from eth0 group 239.0.0.2 to eth1\n")
    write(base / "routes" / "a.conf", "mroute from eth0 group 239.0.0.1 to eth1\n")
    cfg = load_smcroute(main)
    assert [str(r.group.network_address) for r in cfg.routes] == ["239.0.0.1", "239.0.0.2"]
    assert cfg.routes[0].origin == Origin(str(base / "routes" / "a.conf"), 1)


def test_include_absolute_glob(tmp_path: Path) -> None:
    write(tmp_path / "d" / "x.conf", "mroute from eth0 group 239.0.0.1 to eth1\n")
    main = write(tmp_path / "main.conf", f"include {tmp_path / 'd'}/*.conf\n")
    assert [str(r.group) for r in load_smcroute(main).routes] == ["239.0.0.1/32"]


def test_include_symlink_loop_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").symlink_to(tmp_path / "loop.conf")
    main = write(tmp_path / "main.conf", "include loop.conf\n")
    err = error(main)
    assert (err.path, err.line) == (str(main), 1)
    assert err.reason.startswith(f"{tmp_path / 'loop.conf'}: cannot read: ")


def test_include_of_a_huge_file_stops(tmp_path: Path) -> None:
    big = write(tmp_path / "big.conf", "# filler\n" * (MAX_CONFIG_BYTES // 9 + 1))
    main = write(tmp_path / "main.conf", "include big.conf\n")
    err = error(main)
    assert (err.path, err.line) == (str(main), 1)
    assert err.reason == f"{big}: larger than {MAX_CONFIG_BYTES} bytes"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_include_dev_zero_is_refused(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", "include /dev/zero\n")
    assert error(main).reason == "/dev/zero: not a regular file"
