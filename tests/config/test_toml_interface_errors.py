"""[interface.X] errors: names, MACs, addresses, TTL thresholds, MANET, IGMP keys, upstream."""

from __future__ import annotations

import pytest

from rawfwd.config.toml import parse_toml
from rawfwd.errors import ConfigError

from ..support.configs import IFACES
from ..support.configs import toml_error as error
from ..support.frames import line_of


@pytest.mark.parametrize(
    "mac", ["02:00:00:00:00", "02:00:00:00:00:zz", "0200.0000.0001", "", "02:00:00:00:00:01:02"]
)
def test_bad_mac(mac: str) -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', f'mac = "{mac}"')
    err = error(text)
    assert err.line == line_of(text, f'mac = "{mac}"')
    assert err.reason == (
        f"[interface.eth1] mac: {mac!r} is not a MAC address like 02:00:00:00:00:01"
    )


def test_mac_wrong_type() -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', "mac = 2")
    err = error(text)
    assert err.line == line_of(text, "mac = 2")
    assert err.reason == "[interface.eth1] mac: must be a string, not 2"


#: eth0 with its MAC, then eth1's table left open for one more key
OPEN_ETH1 = '[interface.eth0]\nmac = "02:00:00:00:00:01"\n[interface.eth1]\n'


def test_multicast_mac_refused() -> None:
    text = OPEN_ETH1 + 'mac = "01:00:5e:00:00:01"\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.line == line_of(text, "01:00:5e")
    assert "is a multicast MAC address" in err.value.reason


def test_bad_address() -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', 'address = "10.0.0.1/40"')
    err = error(text)
    assert err.line == line_of(text, "address = ")
    assert err.reason.startswith("[interface.eth1] address: ")


@pytest.mark.parametrize("value", ["0", "256", "-1", '"2"', "true", "1.5"])
def test_ttl_threshold_out_of_range_or_wrong_type(value: str) -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', f"ttl_threshold = {value}")
    err = error(text)
    shown = {'"2"': "'2'", "true": "True"}.get(value, value)
    assert err.line == line_of(text, "ttl_threshold")
    assert err.reason == (
        f"[interface.eth1] ttl_threshold must be an integer from 1 to 255, not {shown}"
    )


def test_manet_wrong_type() -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', 'manet = "yes"')
    err = error(text)
    assert err.line == line_of(text, "manet")
    assert err.reason == "[interface.eth1] manet: must be true or false, not 'yes'"


def test_manet_self_route_needs_duplicate_detection() -> None:
    text = (
        "[interface.radio0]\nmanet = true\n[interface.eth1]\n"
        '[[route]]\nfrom = "radio0"\ngroup = "239.0.0.0/8"\nto = ["radio0", "eth1"]\n'
        '[dedup]\nmode = "off"\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.line == line_of(text, "[interface.radio0]")
    assert "loops without duplicate detection" in err.value.reason
    assert parse_toml(text.replace('"off"', '"id"'), "t.toml").dedup.mode.value == "id"


@pytest.mark.parametrize("name", ['"a/b"', '"way-too-long-interface-name"', '"a:b"'])
def test_bad_interface_name(name: str) -> None:
    text = f"# interfaces\n[interface.{name}]\n"
    err = error(text)
    assert err.line == 2
    assert "is not a valid interface name" in err.reason


@pytest.mark.parametrize("name", ["a=b", "é", "a\\u001b[31m", "ab cd"])
def test_interface_names_are_printable_ascii_without_equals(name: str) -> None:
    text = f'[interface."{name}"]\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert "is not a valid interface name" in err.value.reason


def test_interface_not_a_table() -> None:
    text = 'interface = "eth0"\n'
    err = error(text)
    assert err.line == 1
    assert err.reason == "'interface' must be tables like [interface.eth0]"


@pytest.mark.parametrize(
    ("body", "needle", "reason"),
    [
        ("version = 3", "version = 3", "[interface.eth1] version: applies only with igmp = true"),
        (
            "igmp = true\nversion = 1",
            "version = 1",
            "[interface.eth1] version: must be 2 or 3, not 1",
        ),
        (
            "igmp = true\nrobustness = 8",
            "robustness = 8",
            "[interface.eth1] robustness: must be from 1 to 7, not 8",
        ),
        (
            "igmp = true\nversion = 2\nquery_response_interval = 30",
            "query_response_interval = 30",
            "[interface.eth1] query_response_interval: must be from 0.1 to 25.5 s and less "
            "than query_interval, not 30.0",
        ),
        (
            "igmp = true\nupstream = true",
            "upstream = true",
            "[interface.eth1] upstream: the IGMP/MLD proxy's upstream is a host there (RFC "
            "4605): not with igmp = true",
        ),
        (
            "manet = true\nigmp = true",
            "igmp = true",
            "[interface.eth1] igmp: not on a manet interface: MANET interfaces flood",
        ),
    ],
)
def test_bad_igmp_settings_name_file_line_and_reason(body: str, needle: str, reason: str) -> None:
    text = f"[interface.eth0]\n[interface.eth1]\n{body}\n"
    err = error(text)
    assert (err.line, err.reason) == (line_of(text, needle), reason)


def test_a_proxy_has_one_upstream() -> None:
    text = "[interface.a]\nupstream = true\n[interface.b]\nupstream = true\n"
    err = error(text)
    assert err.line == line_of(text, "upstream = true", 2)
    assert err.reason == (
        "[interface.b] upstream: 'a' is the upstream interface already: an IGMP proxy has "
        "one (RFC 4605 section 1)"
    )


def test_relay_and_nhdp_are_read_on_a_manet_interface() -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', 'manet = true\nrelay = "e-cds"')
    config = parse_toml(text, "t.toml")
    assert (config.interfaces["eth1"].relay, config.interfaces["eth1"].nhdp) == ("e-cds", True)
    assert config.interfaces["eth0"].relay == "flood"
    assert (config.nhdp.hello_interval, config.nhdp.validity) == (2.0, 6.0)
    timed = parse_toml(text + "\n[nhdp]\nhello_interval = 1\n", "t.toml")
    assert (timed.nhdp.hello_interval, timed.nhdp.validity) == (1.0, 3.0)  # 3 x the interval


@pytest.mark.parametrize(
    ("keys", "needle", "reason"),
    [
        ('relay = "s-mpr"', "relay", "relay: chooses MANET relays: only with manet = true"),
        ("nhdp = false", "nhdp", "nhdp: runs on MANET interfaces: only with manet = true"),
        (
            'manet = true\nrelay = "mpr"',
            "relay",
            "relay: must be one of flood, s-mpr, e-cds, mpr-cds, not 'mpr'",
        ),
        (
            'manet = true\nnhdp = false\nrelay = "s-mpr"',
            "manet",
            "relay: s-mpr chooses relays from what NHDP learns: not with nhdp = false",
        ),
    ],
)
def test_relay_and_nhdp_errors_name_the_line_and_the_reason(
    keys: str, needle: str, reason: str
) -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', keys)
    err = error(text)
    assert err.reason == f"[interface.eth1] {reason}"
    assert err.line is not None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("hello_interval = 0", "[nhdp] hello_interval: must be from 0.1 to 3600 s, not 0.0"),
        (
            "hello_interval = 2\nvalidity = 2",
            "[nhdp] validity: must be longer than hello_interval (2 s) and at most 10800 s, "
            "not 2.0",
        ),
        ("hello = 2", "unknown key 'hello' in [nhdp] (known: hello_interval, validity)"),
    ],
)
def test_nhdp_table_errors(body: str, reason: str) -> None:
    text = IFACES + "\n[nhdp]\n" + body + "\n"
    err = error(text)
    assert err.reason == reason
    assert err.line == line_of(text, body.splitlines()[-1].split(" ")[0])
