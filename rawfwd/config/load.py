"""Loading a config file: TOML (rawfwd's own) or smcroute.conf, told apart by content."""

from __future__ import annotations

from pathlib import Path

from .checks import read_config_text
from .smcroute import load_smcroute, looks_like_smcroute
from .toml import parse_toml
from .values import Config

__all__ = ["load_config", "looks_like_smcroute"]


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; the format is TOML unless it reads as smcroute.conf."""
    path = Path(path)
    text = read_config_text(path, str(path))
    if path.suffix != ".toml" and looks_like_smcroute(text):
        return load_smcroute(path)
    return parse_toml(text, str(path))
