"""smcroute.conf include: globs beside the including file, loops, missing files, size limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawfwd.config.checks import MAX_CONFIG_BYTES
from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.values import Origin

from ..support.configs import smcroute_error as error
from ..support.configs import smcroute_load as load
from ..support.configs import write


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
