"""Config test helpers: TOML documents, smcroute.conf files on disk, and the errors they raise.

Every ConfigError caught here has its text checked: "file[:line]: reason".
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.toml import parse_toml
from rawfwd.config.values import Config
from rawfwd.errors import ConfigError

# -- rawfwd TOML ------------------------------------------------------------------------------

PATH = "site.toml"

IFACES = """\
[interface.eth0]
mac = "02:00:00:00:00:01"

[interface.eth1]
mac = "02:00:00:00:00:02"

[interface.eth2]
mac = "02:00:00:00:00:03"
"""


def doc(text: str, *, interfaces: bool = True) -> str:
    """`text` dedented, after IFACES unless `interfaces` is false."""
    body = textwrap.dedent(text)
    return IFACES + "\n" + body if interfaces else body


def toml_error(text: str, path: str = PATH) -> ConfigError:
    """The ConfigError parsing `text` raises; its text is "path[:line]: reason"."""
    with pytest.raises(ConfigError) as info:
        parse_toml(text, path)
    err = info.value
    assert err.path == path
    assert str(err) == (f"{path}:{err.line}: {err.reason}" if err.line else f"{path}: {err.reason}")
    return err


#: the example of the issue that asked for the format, comments and all
ISSUE_EXAMPLE = """\
[interface.eth0]
mac = "02:00:00:00:00:01"   # used by replay; live mode reads the real MAC
address = "10.0.0.1/24"     # used by replay; live mode reads the real address
ttl_threshold = 1           # optional
manet = false               # optional

[interface.eth1]
mac = "02:00:00:00:00:02"
ttl_threshold = 16

[interface.eth2]
manet = true

[[route]]
from = "eth0"
group = "239.1.2.3"         # a group or a prefix like "239.1.0.0/16"
source = "10.0.0.5"         # optional: absent means any source (*,G)
to = ["eth1", "eth2"]

[[route]]
from = "eth2"
group = "239.1.0.0/16"
to = ["eth2", "eth0"]

[dedup]
window = 5.0                # seconds
mode = "hash"               # or "id"
"""


# -- smcroute.conf ----------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    """`text` dedented into the file `path` (its directories made); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def smcroute_load(path: Path) -> Config:
    """The Config of the smcroute.conf at `path`."""
    return load_smcroute(path)


def smcroute_error(path: Path) -> ConfigError:
    """The ConfigError loading `path` raises; its text is "path[:line]: reason"."""
    with pytest.raises(ConfigError) as info:
        load_smcroute(path)
    err = info.value
    where = err.path if err.line is None else f"{err.path}:{err.line}"
    assert str(err) == f"{where}: {err.reason}"
    return err
