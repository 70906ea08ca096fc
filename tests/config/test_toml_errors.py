"""TOML document errors: syntax, unknown keys and tables, [dedup] and [flows], each at its line."""

from __future__ import annotations

import pytest

from ..support.configs import IFACES, doc
from ..support.configs import toml_error as error
from ..support.frames import line_of


def test_toml_syntax_error_line() -> None:
    text = doc('[[route]]\nfrom = "eth0"\ngroup = 239.1.2.3\nto = ["eth1"]\n')
    err = error(text)
    assert err.line == line_of(text, "group = 239")
    assert err.reason.startswith("not valid TOML: ")
    assert "(at line" not in err.reason


def test_toml_duplicate_key_line() -> None:
    text = doc("[dedup]\nwindow = 1.0\nwindow = 2.0\n")
    err = error(text)
    assert err.line == line_of(text, "window = 2.0")
    assert err.reason.startswith("not valid TOML: ")


def test_unknown_key_in_interface() -> None:
    text = doc("").replace('mac = "02:00:00:00:00:02"', 'mac = "02:00:00:00:00:02"\nttl = 3')
    err = error(text)
    assert err.line == line_of(text, "ttl = 3")
    assert err.reason == (
        "unknown key 'ttl' in [interface.eth1] (known: address, dr_priority, groups, "
        "hello_holdtime, hello_interval, igmp, last_member_query_count, "
        "last_member_query_interval, mac, manet, mld, mld_version, nhdp, pim, querier, "
        "query_interval, query_response_interval, relay, robustness, "
        "startup_query_count, "
        "startup_query_interval, ttl_threshold, upstream, version)"
    )


def test_unknown_key_in_second_route() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        to = ["eth1"]

        [[route]]
        from = "eth0"
        group = "239.1.2.4"
        too = ["eth1"]
        """
    )
    err = error(text)
    assert err.line == line_of(text, "too = ")
    assert err.reason == "unknown key 'too' in [[route]] #2 (known: from, group, source, to)"


def test_unknown_key_in_dedup() -> None:
    text = doc("[dedup]\nwindow = 1.0\nwindw = 2.0\n")
    err = error(text)
    assert err.line == line_of(text, "windw")
    assert (
        err.reason
        == "unknown key 'windw' in [dedup] (known: max_entries, max_per_flow, mode, window)"
    )


def test_unknown_top_level_key() -> None:
    text = "# rawfwd\n\nverbose = true\n" + IFACES
    err = error(text)
    assert err.line == line_of(text, "verbose")
    assert err.reason == (
        "unknown table or key 'verbose' (known: dedup, flows, interface, nhdp, pim, route, rpf)"
    )


def test_unknown_top_level_table() -> None:
    # A misspelt table name: the error must point at its header, not at line 1.
    text = doc("[dedupe]\nwindow = 1.0\n")
    err = error(text)
    assert err.reason == (
        "unknown table or key 'dedupe' (known: dedup, flows, interface, nhdp, pim, route, rpf)"
    )
    assert err.line == line_of(text, "[dedupe]")


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        ('mode = "md5"', "mode", "[dedup] mode: must be one of hash, id, off, not 'md5'"),
        ("mode = 1", "mode", "[dedup] mode: must be a string, not 1"),
        ("window = 0", "window", "[dedup] window: must be more than 0 and at most 3600 s, not 0.0"),
        (
            "window = -1.5",
            "window",
            "[dedup] window: must be more than 0 and at most 3600 s, not -1.5",
        ),
        (
            "window = 3601",
            "window",
            "[dedup] window: must be more than 0 and at most 3600 s, not 3601.0",
        ),
        ('window = "5s"', "window", "[dedup] window: must be a number, not '5s'"),
        ("window = true", "window", "[dedup] window: must be a number, not True"),
        (
            "max_entries = 0",
            "max_entries",
            "[dedup] max_entries: must be from 1 to 10000000, not 0",
        ),
    ],
)
def test_dedup_errors(body: str, key: str, reason: str) -> None:
    text = doc(f"[dedup]\n# duplicate detection\n{body}\n")
    err = error(text)
    assert err.line == line_of(text, f"{key} =")
    assert err.reason == reason


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        ("max_flows = 0", "max_flows", "[flows] max_flows: must be from 1 to 10000000, not 0"),
        (
            "idle_timeout = 0",
            "idle_timeout",
            "[flows] idle_timeout: must be more than 0 s, not 0.0",
        ),
        ("max_flows = 1.5", "max_flows", "[flows] max_flows: must be an integer, not 1.5"),
    ],
)
def test_flows_errors(body: str, key: str, reason: str) -> None:
    text = doc(f"[flows]\n{body}\n")
    err = error(text)
    assert err.line == line_of(text, f"{key} =")
    assert err.reason == reason
