"""load_config: a regular UTF-8 file of sane size, errors naming it (TOML or smcroute.conf)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawfwd.config.checks import MAX_CONFIG_BYTES
from rawfwd.config.load import load_config
from rawfwd.config.values import Origin
from rawfwd.errors import ConfigError, RawfwdError

from ..support.configs import IFACES, ISSUE_EXAMPLE
from ..support.frames import line_of


def test_load_config_reads_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "rawfwd.toml"
    path.write_text(ISSUE_EXAMPLE)
    cfg = load_config(path)
    assert cfg.path == str(path)
    assert len(cfg.routes) == 2
    assert cfg.routes[0].origin == Origin(str(path), line_of(ISSUE_EXAMPLE, "[[route]]"))


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == str(path)
    assert info.value.line is None
    assert info.value.reason.startswith("cannot read")
    assert isinstance(info.value, RawfwdError)


def test_load_config_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="invalid UTF-8"):
        load_config(path)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(IFACES + '\n[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth7"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{line_of(path.read_text(), '[[route]]')}: route ")


def test_config_must_be_a_regular_file_of_sane_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(Path("/dev/zero"))
    assert err.value.reason == "not a regular file"
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.reason == "cannot read: Is a directory"  # open() refuses it (EISDIR)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError) as err:
        load_config(big)
    assert err.value.reason == f"larger than {MAX_CONFIG_BYTES} bytes"
