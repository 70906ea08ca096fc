"""Human-readable numbers, units and durations as the tables show them."""

from __future__ import annotations

import pytest

from rawfwd import ui


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7"),
        (0.5, "0.5"),
        (33.3333, "33"),
        (999, "999"),
        (999.7, "1.0k"),
        (1000, "1.0k"),
        (1234, "1.2k"),
        (12_345, "12k"),
        (999_999, "1.0M"),
        (3_400_000, "3.4M"),
        (5.6e9, "5.6G"),
    ],
)
def test_human(value: float, text: str) -> None:
    assert ui.human(value) == text


def test_human_units() -> None:
    assert ui.human_bits(850) == "850 b/s"
    assert ui.human_bits(1200) == "1.2 kb/s"
    assert ui.human_bits(34_000_000) == "34 Mb/s"
    assert ui.human_bytes(512) == "512 B"
    assert ui.human_bytes(3_400_000) == "3.4 MB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (65, "1m05s"),
        (3600 + 7 * 60, "1h07m"),
        (2 * 86400 + 3600, "2d01h"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert ui.human_duration(seconds) == text
