"""smcroute.conf support: phyint, mroute, include, warnings, and errors with file and line."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from rawfwd.config.load import load_config, looks_like_smcroute
from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.values import Config, Origin
from rawfwd.errors import ConfigError

from ..support.frames import line_of


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(path: Path) -> Config:
    return load_smcroute(path)


def error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_smcroute(path)
    err = info.value
    where = err.path if err.line is None else f"{err.path}:{err.line}"
    assert str(err) == f"{where}: {err.reason}"
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


def test_include_glob_relative_to_including_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = write(
        tmp_path / "etc" / "smcroute.conf",
        """\
        phyint eth0
        include smcroute.d/*.conf
        mroute from eth0 group 239.9.9.9 to eth3
        """,
    )
    b = write(
        tmp_path / "etc" / "smcroute.d" / "b.conf", "mroute from eth0 group 239.0.0.2 to eth2\n"
    )
    a = write(
        tmp_path / "etc" / "smcroute.d" / "a.conf",
        "# first\nphyint eth1 ttl-threshold 3\nmroute from eth0 group 239.0.0.1 to eth1\n",
    )
    write(tmp_path / "etc" / "smcroute.d" / "c.txt", "this is not smcroute syntax\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative to the including file, not the working directory
    cfg = load(main)
    assert [str(r.group.network_address) for r in cfg.routes] == [
        "239.0.0.1",
        "239.0.0.2",
        "239.9.9.9",
    ]
    assert cfg.routes[0].origin == Origin(str(a), 3)
    assert cfg.routes[1].origin == Origin(str(b), 1)
    assert cfg.routes[2].origin == Origin(str(main), 3)
    assert cfg.interfaces["eth1"].ttl_threshold == 3
    assert cfg.interfaces["eth1"].origin == Origin(str(a), 2)


def test_include_glob_without_matches_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", "include conf.d/*.conf\nphyint eth0\n")
    assert list(load(path).interfaces) == ["eth0"]


def test_include_missing_file(tmp_path: Path) -> None:
    text = "phyint eth0\ninclude extra.conf\n"
    path = write(tmp_path / "smcroute.conf", text)
    err = error(path)
    assert (err.path, err.line) == (str(path), 2)
    assert err.reason == f"include: no such file {tmp_path / 'extra.conf'}"


def test_include_needs_one_argument(tmp_path: Path) -> None:
    path = write(tmp_path / "smcroute.conf", "include\n")
    err = error(path)
    assert err.line == 1
    assert err.reason == "include takes one file name or glob pattern"


def test_include_loop(tmp_path: Path) -> None:
    a = write(tmp_path / "a.conf", "phyint eth0\ninclude b.conf\n")
    b = write(tmp_path / "b.conf", "# b\n\ninclude a.conf\n")
    err = error(a)
    # Reported at the include that closes the loop.
    assert (err.path, err.line) == (str(b), 3)
    assert err.reason.startswith("include loop: ")
    assert "a.conf" in err.reason


def test_include_self(tmp_path: Path) -> None:
    a = write(tmp_path / "a.conf", "phyint eth0\ninclude *.conf\n")
    err = error(a)
    assert (err.path, err.line) == (str(a), 2)
    assert err.reason.startswith("include loop: ")


def test_include_same_file_twice_not_a_loop(tmp_path: Path) -> None:
    write(tmp_path / "routes.conf", "mroute from eth0 group 239.0.0.1 to eth1\n")
    main = write(tmp_path / "main.conf", "include routes.conf\ninclude routes.conf\n")
    # Not a loop, but the same route twice: the duplicate error points at the second read.
    err = error(main)
    assert err.path == str(tmp_path / "routes.conf")
    assert err.reason.startswith("duplicate route (*, 239.0.0.1) from eth0 to eth1")


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
