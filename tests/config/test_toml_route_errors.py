"""[[route]] errors: missing keys, unknown interfaces, bad groups and sources, duplicates."""

from __future__ import annotations

import pytest

from ..support.configs import PATH, doc
from ..support.configs import toml_error as error
from ..support.frames import line_of


@pytest.mark.parametrize("missing", ["group", "to"])
def test_route_missing_key(missing: str) -> None:
    lines = ['from = "eth0"', 'group = "239.1.2.3"', 'to = ["eth1"]']
    body = "\n".join(line for line in lines if not line.startswith(missing))
    text = doc(f"[[route]]\n{body}\n")
    err = error(text)
    assert err.line == line_of(text, "[[route]]")
    assert err.reason == f"[[route]] #1 needs a {missing!r} key"


@pytest.mark.parametrize("name", ["eth9", "eth0.100"])
def test_route_to_undefined_interface(name: str) -> None:
    text = doc(f'[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1", "{name}"]\n')
    err = error(text)
    assert err.line == line_of(text, "[[route]]")
    assert err.reason == (
        f"route (*, 239.1.2.3) from eth0 to eth1, {name} names interface {name!r}, which is "
        f"not defined (add an [interface.{name}] table)"
    )


def test_route_from_undefined_interface() -> None:
    text = doc(
        '[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1"]\n\n'
        '[[route]]\nfrom = "wlan0"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'
    )
    err = error(text)
    assert err.line == line_of(text, "[[route]]", 2)
    assert "names interface 'wlan0', which is not defined" in err.reason


def test_route_back_out_of_incoming_interface_needs_manet() -> None:
    text = doc('[[route]]\nfrom = "eth1"\ngroup = "239.1.2.3"\nto = ["eth0", "eth1"]\n')
    err = error(text)
    assert err.line == line_of(text, "[[route]]")
    assert err.reason == (
        "route (*, 239.1.2.3) from eth1 to eth0, eth1 sends back out of its incoming "
        "interface 'eth1'; only an interface with manet = true may do that"
    )


def test_route_repeats_outgoing_interface() -> None:
    text = doc('[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1", "eth1"]\n')
    err = error(text)
    assert err.line == line_of(text, "[[route]]")
    assert "repeats an outgoing interface" in err.reason


@pytest.mark.parametrize("to", ["[]", "[1, 2]", "42"])
def test_route_bad_to(to: str) -> None:
    text = doc(f'[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = {to}\n')
    err = error(text)
    assert err.line == line_of(text, "to = ")
    assert err.reason.startswith("[[route]] #1 to: must ")


@pytest.mark.parametrize(
    ("group", "why"),
    [
        ("10.1.2.3", "group '10.1.2.3' is not inside 224.0.0.0/4 (IPv4 multicast)"),
        ("240.0.0.1", "group '240.0.0.1' is not inside 224.0.0.0/4 (IPv4 multicast)"),
        ("0.0.0.0/0", "group '0.0.0.0/0' is not inside 224.0.0.0/4 (IPv4 multicast)"),
        ("239.1.2.3/16", "group '239.1.2.3/16' has host bits set; did you mean 239.1.0.0/16?"),
        ("239.1.2", "group '239.1.2' is not an IPv4 or IPv6 address or prefix"),
        ("239.1.2.3/33", "group '239.1.2.3/33' is not an IPv4 or IPv6 address or prefix"),
    ],
)
def test_route_bad_group(group: str, why: str) -> None:
    text = doc(f'[[route]]\nfrom = "eth0"\ngroup = "{group}"\nto = ["eth1"]\n')
    err = error(text)
    assert err.reason == f"[[route]] #1: {why}"
    assert err.line == line_of(text, "group = ")  # the value's own line, not the table's


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("group", "10.1.2.3", "group '10.1.2.3' is not inside 224.0.0.0/4 (IPv4 multicast)"),
        (
            "from",
            "a/b",
            "'a/b' is not a valid interface name (1-15 printable ASCII characters, "
            "no spaces, '/', ':' or '=')",
        ),
    ],
)
def test_route_bad_value_line_points_at_its_key(key: str, value: str, why: str) -> None:
    # A bad `source`, `to` or unknown key is reported on its own line; a bad `group` or
    # `from` value must be too, not on the [[route]] header a few lines above.
    body = {"from": "eth0", "group": "239.1.2.3", "to": "eth1"} | {key: value}
    text = doc("[[route]]\n" + "".join(f'{k} = "{v}"\n' for k, v in body.items()))
    err = error(text)
    assert err.reason == f"[[route]] #1: {why}"
    assert err.line == line_of(text, f"{key} = ")


def test_route_group_wrong_type() -> None:
    text = doc('[[route]]\nfrom = "eth0"\ngroup = 239\nto = ["eth1"]\n')
    err = error(text)
    assert err.line == line_of(text, "group = ")
    assert err.reason == "[[route]] #1 group: must be a string, not 239"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("239.0.0.1", "source '239.0.0.1' is not a unicast address"),
        ("240.0.0.1", "source '240.0.0.1' is not a unicast address"),
        ("0.0.0.0", "source '0.0.0.0' is not a unicast address"),
        ("10.0.0.5/24", "source '10.0.0.5/24' has host bits set; did you mean 10.0.0.0/24?"),
        ("10.0.0.256", "source '10.0.0.256' is not an IPv4 or IPv6 address or prefix"),
        ("host.example", "source 'host.example' is not an IPv4 or IPv6 address or prefix"),
    ],
)
def test_route_bad_source(source: str, why: str) -> None:
    text = doc(
        f'[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nsource = "{source}"\nto = ["eth1"]\n'
    )
    err = error(text)
    assert err.line == line_of(text, "source = ")
    assert err.reason == f"[[route]] #1: {why}"


def test_duplicate_route() -> None:
    route = '[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nsource = "10.0.0.5"\nto = ["eth1"]\n'
    text = doc(route + "\n" + route.replace('["eth1"]', '["eth2"]'))
    err = error(text)
    first, second = line_of(text, "[[route]]", 1), line_of(text, "[[route]]", 2)
    assert err.line == second
    assert err.reason == (
        f"duplicate route (10.0.0.5, 239.1.2.3) from eth0 to eth2 (first at {PATH}:{first})"
    )
