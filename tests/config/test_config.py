"""rawfwd TOML configuration: normalisation of valid files, and every error with its line."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from rawfwd.config.load import load_config
from rawfwd.config.toml import parse_toml
from rawfwd.config.values import Config, DedupMode, DedupSpec, FlowSpec, Origin
from rawfwd.errors import ConfigError, RawfwdError

from ..support.frames import line_of

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
    body = textwrap.dedent(text)
    return IFACES + "\n" + body if interfaces else body


def error(text: str, path: str = PATH) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_toml(text, path)
    err = info.value
    assert err.path == path
    assert str(err) == (f"{path}:{err.line}: {err.reason}" if err.line else f"{path}: {err.reason}")
    return err


# -- valid files ----------------------------------------------------------------------------------

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


def test_issue_example_normalises() -> None:
    cfg = parse_toml(ISSUE_EXAMPLE, PATH)
    assert isinstance(cfg, Config)
    assert cfg.path == PATH
    assert list(cfg.interfaces) == ["eth0", "eth1", "eth2"]
    eth0, eth1, eth2 = cfg.interfaces.values()
    assert eth0.mac == bytes([2, 0, 0, 0, 0, 1])
    assert eth0.address == IPv4Interface("10.0.0.1/24")
    assert (eth0.ttl_threshold, eth0.manet) == (1, False)
    assert (eth1.ttl_threshold, eth1.manet, eth1.address) == (16, False, None)
    assert (eth2.mac, eth2.manet, eth2.ttl_threshold) == (None, True, 1)
    assert eth0.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[interface.eth0]"))

    sg, star = cfg.routes
    assert sg.iif == "eth0"
    assert sg.group == IPv4Network("239.1.2.3/32")
    assert sg.source == IPv4Network("10.0.0.5/32")
    assert sg.oifs == ("eth1", "eth2")
    assert sg.describe() == "(10.0.0.5, 239.1.2.3) from eth0 to eth1, eth2"
    assert sg.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[[route]]", 1))
    assert star.source is None
    assert star.group == IPv4Network("239.1.0.0/16")
    assert star.describe() == "(*, 239.1.0.0/16) from eth2 to eth2, eth0"
    assert star.origin == Origin(PATH, line_of(ISSUE_EXAMPLE, "[[route]]", 2))

    assert cfg.dedup == DedupSpec(mode=DedupMode.HASH, window=5.0)
    assert cfg.flows == FlowSpec()
    assert cfg.warnings == ()


def test_defaults() -> None:
    cfg = parse_toml(doc('[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'), PATH)
    assert cfg.dedup.mode is DedupMode.HASH
    assert cfg.dedup.window == 5.0
    assert cfg.flows.max_flows > 0
    assert cfg.flows.idle_timeout > 0
    assert all(i.ttl_threshold == 1 and not i.manet for i in cfg.interfaces.values())
    assert cfg.routes[0].source is None


def test_empty_document_is_an_empty_config() -> None:
    cfg = parse_toml("", PATH)
    assert cfg.interfaces == {}
    assert cfg.routes == ()


def test_extensions_users_expect() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        to = "eth1"                 # one interface without the list
        source = "10.0.0.0/8"       # a source prefix, as smcroute allows

        [dedup]
        window = 2                  # an integer number of seconds
        mode = "id"
        max_entries = 1000

        [flows]
        max_flows = 10
        idle_timeout = 60
        """
    )
    cfg = parse_toml(text, PATH)
    (r,) = cfg.routes
    assert r.oifs == ("eth1",)
    assert r.source == IPv4Network("10.0.0.0/8")
    assert r.describe() == "(10.0.0.0/8, 239.1.2.3) from eth0 to eth1"
    assert cfg.dedup == DedupSpec(mode=DedupMode.ID, window=2.0, max_entries=1000)
    assert isinstance(cfg.dedup.window, float)
    assert cfg.flows == FlowSpec(max_flows=10, idle_timeout=60.0)


@pytest.mark.parametrize("mode", ["hash", "id", "off"])
def test_dedup_modes(mode: str) -> None:
    cfg = parse_toml(doc(f'[dedup]\nmode = "{mode}"\n'), PATH)
    assert cfg.dedup.mode is DedupMode(mode)


def test_manet_interface_may_send_back_out() -> None:
    text = doc('[[route]]\nfrom = "eth2"\ngroup = "239.1.2.3"\nto = ["eth2", "eth1"]\n')
    text = text.replace("[interface.eth2]\n", "[interface.eth2]\nmanet = true\n")
    (r,) = parse_toml(text, PATH).routes
    assert r.oifs == ("eth2", "eth1")


def test_link_local_groups() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "224.0.0.251"
        to = ["eth1"]

        [[route]]
        from = "eth0"
        group = "224.0.0.0/16"
        to = ["eth1"]
        """
    )
    cfg = parse_toml(text, PATH)
    assert [str(r.group) for r in cfg.routes] == ["224.0.0.251/32", "224.0.0.0/16"]
    # Only the second covers 224.0.0.0/24 partly: it is warned about, with its line.
    (warning,) = cfg.warnings
    assert warning.startswith(f"{PATH}:{line_of(text, '[[route]]', 2)}: ")
    assert "224.0.0.0/24" in warning


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


# -- errors: each names the file, the line and what is wrong --------------------------------------


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
        "unknown key 'ttl' in [interface.eth1] (known: address, groups, igmp, "
        "last_member_query_count, last_member_query_interval, mac, manet, querier, "
        "query_interval, query_response_interval, robustness, startup_query_count, "
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
        "unknown table or key 'verbose' (known: dedup, flows, interface, route, rpf)"
    )


def test_unknown_top_level_table() -> None:
    # A misspelt table name: the error must point at its header, not at line 1.
    text = doc("[dedupe]\nwindow = 1.0\n")
    err = error(text)
    assert (
        err.reason == "unknown table or key 'dedupe' (known: dedup, flows, interface, route, rpf)"
    )
    assert err.line == line_of(text, "[dedupe]")


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
        ("239.1.2", "group '239.1.2' is not an IPv4 address or prefix"),
        ("239.1.2.3/33", "group '239.1.2.3/33' is not an IPv4 address or prefix"),
    ],
)
def test_route_bad_group(group: str, why: str) -> None:
    text = doc(f'[[route]]\nfrom = "eth0"\ngroup = "{group}"\nto = ["eth1"]\n')
    err = error(text)
    assert err.reason == f"[[route]] #1: {why}"
    assert err.line in (line_of(text, "[[route]]"), line_of(text, "group = "))


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
        ("10.0.0.256", "source '10.0.0.256' is not an IPv4 address or prefix"),
        ("host.example", "source 'host.example' is not an IPv4 address or prefix"),
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


def test_same_group_other_from_or_source_is_not_duplicate() -> None:
    text = doc(
        """
        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        to = ["eth1"]

        [[route]]
        from = "eth1"
        group = "239.1.2.3"
        to = ["eth0"]

        [[route]]
        from = "eth0"
        group = "239.1.2.3"
        source = "10.0.0.5"
        to = ["eth2"]
        """
    )
    assert len(parse_toml(text, PATH).routes) == 3


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


@pytest.mark.parametrize("value", ["1", "255"])
def test_ttl_threshold_bounds_accepted(value: str) -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', f"ttl_threshold = {value}")
    assert parse_toml(text, PATH).interfaces["eth1"].ttl_threshold == int(value)


def test_manet_wrong_type() -> None:
    text = IFACES.replace('mac = "02:00:00:00:00:02"', 'manet = "yes"')
    err = error(text)
    assert err.line == line_of(text, "manet")
    assert err.reason == "[interface.eth1] manet: must be true or false, not 'yes'"


@pytest.mark.parametrize("name", ['"a/b"', '"way-too-long-interface-name"', '"a:b"'])
def test_bad_interface_name(name: str) -> None:
    text = f"# interfaces\n[interface.{name}]\n"
    err = error(text)
    assert err.line == 2
    assert "is not a valid interface name" in err.reason


def test_interface_not_a_table() -> None:
    text = 'interface = "eth0"\n'
    err = error(text)
    assert err.line == 1
    assert err.reason == "'interface' must be tables like [interface.eth0]"


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


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(IFACES + '\n[[route]]\nfrom = "eth0"\ngroup = "239.1.2.3"\nto = ["eth7"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{line_of(path.read_text(), '[[route]]')}: route ")


def test_vlan_interface_name_with_dot() -> None:
    text = textwrap.dedent(
        """\
        [interface."eth0.100"]
        mac = "02:00:00:00:01:00"

        [interface.eth1]
        mac = "02:00:00:00:00:02"
        ttl_threshold = 0
        """
    )
    err = error(text)
    assert err.line == line_of(text, "ttl_threshold")
    text = text.replace("ttl_threshold = 0", 'address = "10.0.0.1/24"')
    text += '\n[[route]]\nfrom = "eth0.100"\ngroup = "239.1.2.3"\nto = ["eth1"]\n'
    cfg = parse_toml(text, PATH)
    assert list(cfg.interfaces) == ["eth0.100", "eth1"]
    assert cfg.interfaces["eth0.100"].origin == Origin(PATH, 1)
    assert cfg.routes[0].describe() == "(*, 239.1.2.3) from eth0.100 to eth1"


def test_igmp_keys_parse_into_the_interfaces_settings() -> None:
    config = parse_toml(
        "[interface.eth0]\n[interface.eth1]\nigmp = true\nversion = 2\nrobustness = 3\n"
        "query_interval = 60\nquery_response_interval = 5\nlast_member_query_interval = 0.5\n"
        "last_member_query_count = 4\nstartup_query_interval = 10\nstartup_query_count = 1\n"
        "querier = false\n[interface.up]\nupstream = true\n",
        PATH,
    )
    spec = config.interfaces["eth1"].igmp
    assert spec is not None
    assert (spec.version, spec.robustness, spec.query_interval) == (2, 3, 60.0)
    assert (spec.query_response_interval, spec.last_member_query_interval) == (5.0, 0.5)
    assert (spec.last_member_count, spec.startup_query_interval, spec.startup_query_count) == (
        4,
        10.0,
        1,
    )
    assert spec.querier is False
    assert spec.group_membership_interval == 3 * 60 + 5
    assert config.interfaces["eth0"].igmp is None
    assert config.interfaces["up"].upstream


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
            "[interface.eth1] upstream: the IGMP proxy's upstream is a host there (RFC 4605): "
            "not with igmp = true",
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
