"""Loading a config file: TOML (rawfwd's own) or smcroute.conf, told apart by content."""

from __future__ import annotations

from pathlib import Path

from .checks import read_config_text
from .smcroute import load_smcroute
from .toml import parse_toml
from .values import Config

_SMCROUTE_WORDS = ("phyint", "mroute", "mgroup", "include", "ssmgroup")


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; the format is TOML unless it reads as smcroute.conf."""
    path = Path(path)
    text = read_config_text(path, str(path))
    if path.suffix != ".toml" and looks_like_smcroute(text):
        return load_smcroute(path)
    return parse_toml(text, str(path))


def looks_like_smcroute(text: str) -> bool:
    """True if the first directive of `text` is an smcroute.conf keyword."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            return line.split()[0] in _SMCROUTE_WORDS
    return False
