"""rawfwd's own TOML config -> a validated, frozen `Config`.

tomllib does not report where a value came from, so `_TomlLines` maps tables and keys back
to line numbers by scanning the text, once. Text of absurd shape is refused before tomllib
sees it: its time grows with the square of a dotted key's parts (100,000 took 20 s).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Protocol

from ..errors import ConfigError
from .checks import (
    ConfigBuilder,
    check_ifname,
    parse_group,
    parse_source,
    parse_ttl_threshold,
    parse_unicast_mac,
    shown,
)
from .values import (
    MULTICAST_BLOCK,
    MULTICAST_BLOCK6,
    Config,
    DedupMode,
    DedupSpec,
    FlowSpec,
    IgmpSpec,
    InterfaceSpec,
    Network,
    NhdpSpec,
    Origin,
    PimInterfaceSpec,
    PimSpec,
    Route,
    RpfSpec,
    RpSpec,
)

#: one part of a key: "basic", 'literal' or bare. Possessive (*+, ++): giving back a character
#: never helps here, and backtracking made a line of 1,000 spaces after a `[` take 2 s
_PART = r"""(?:"(?:[^"\\\n]++|\\.)*+"|'[^'\n]*+'|[A-Za-z0-9_-]++)"""
_DOTTED = rf"{_PART}(?:[ \t]*+\.[ \t]*+{_PART})*+"
_HEADER = re.compile(rf"[ \t]*+\[\[?[ \t]*+({_DOTTED})[ \t]*+\]\]?\s*+(?:#.*)?$")
_KEY = re.compile(rf"[ \t]*+({_DOTTED})[ \t]*+=")
_PARTS = re.compile(_PART)
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_TOML_AT = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_TOML_END = " (at end of document)"

#: no line of a rawfwd config is longer (a long `to` list can span lines); bounds what one
#: line costs, and keeps integers under the 4,300 digits int() refuses (a ValueError)
MAX_LINE = 4096
#: dots outside strings, comments and floats on one line: a rawfwd key has at most 2
#: (`interface.eth0.mac`); tomllib's time grows with the square of a key's parts
MAX_DOTS = 8
#: strings (possibly unclosed) and a comment: their dots are no key's
_STRINGS = re.compile(r"""#.*|"(?:[^"\\]++|\\.)*+"?|'[^']*+'?""")
#: a float has one dot, and no key's
_FLOAT = re.compile(r"(?<![\w.-])[+-]?\d[\d_]*+\.\d[\d_]*+(?:[eE][+-]?\d[\d_]*+)?(?![\w.-])")


@dataclass
class _Section:
    name: str
    line: int
    keys: dict[str, int] = field(default_factory=dict)


class _TomlLines:
    """Where each table and key of a TOML document was written (tomllib does not say).

    Tables and their keys are indexed by name as the text is scanned, once: each lookup
    costs the same however many tables there are (8,000 routes once took 3 s to look up).
    """

    def __init__(self, text: str) -> None:
        #: `[name]` and `[[name]]` headers by name, in order (index i: the i-th [[name]])
        self.tables: dict[str, list[_Section]] = {"": [_Section("", 1)]}
        #: the first line naming each dotted path, by header or key: where a table that has
        #: no header of its own (`a.b = 1`, `a = {b = 1}`) was written
        self.first: dict[str, int] = {}
        section = self.tables[""][0]
        prefix = ""  # section.name and a dot, if it has a name
        for number, raw in enumerate(text.split("\n"), start=1):  # as tomllib counts lines
            line = raw.lstrip(" \t")
            if not line or line[0] == "#":
                continue
            if line[0] == "[":
                header = _HEADER.match(line)
                if header:
                    name = _dotted_name(header.group(1))
                    section = _Section(name, number)
                    prefix = f"{name}." if name else ""
                    self.tables.setdefault(name, []).append(section)
                    self._note(name, number)
                    continue
            key = _KEY.match(line)
            if key:
                dotted = key.group(1)
                if "." in dotted or dotted[0] in "\"'":
                    parts = _key_parts(dotted)
                    section.keys.setdefault(parts[0], number)
                    self._note(prefix + ".".join(parts), number)
                else:  # a bare key, as nearly all are
                    section.keys.setdefault(dotted, number)
                    self._note(prefix + dotted, number)

    def _note(self, name: str, number: int) -> None:
        """Record `name` and each of its parents as first written at line `number`."""
        while name not in self.first and name:
            self.first[name] = number
            name = name.rpartition(".")[0]

    def line(self, name: str, key: str | None = None, index: int = 0) -> int | None:
        """The line of `key` in the `index`-th table `name` (of the table if the key is not
        found); failing that, of the nearest parent written in the text."""
        sections = self.tables.get(name, [])
        if index < len(sections):
            section = sections[index]
            if key is not None and key in section.keys:
                return section.keys[key]
            if key is not None and not name:
                # a top-level name that is not a key is a table: [key] or [key.sub]
                return self.first.get(key, section.line)
            return section.line
        path = f"{name}.{key}" if name and key else name or key or ""
        while path:
            if path in self.first:
                return self.first[path]
            path = path.rpartition(".")[0]
        return None


def _key_parts(dotted: str) -> list[str]:
    """The parts of a dotted key as tomllib reads them (quotes off, escapes decoded)."""
    return [_unquote(p) for p in _PARTS.findall(dotted)]


def _dotted_name(dotted: str) -> str:
    return ".".join(_key_parts(dotted))


def _unquote(part: str) -> str:
    if part[0] == "'":
        return part[1:-1]
    if part[0] != '"':
        return part
    return _ESCAPE.sub(_unescape, part[1:-1])


def _unescape(match: re.Match[str]) -> str:
    """One escape of a basic string, as TOML 1.0 reads it (tomllib refused any other)."""
    hexa = match.group(1) or match.group(2)
    if hexa:
        code = int(hexa, 16)
        return chr(code) if code < 0xD800 or 0xDFFF < code <= 0x10FFFF else ""
    return _ESCAPES.get(match.group(3), "")


def _check_shape(text: str, path: str) -> None:
    """Refuse text no rawfwd config has, whose parsing could take long: very long lines,
    deeply dotted keys."""
    for number, raw in enumerate(text.split("\n"), start=1):
        if len(raw) > MAX_LINE:
            raise ConfigError(
                path,
                number,
                f"line longer than {MAX_LINE} characters: not a rawfwd config "
                "(a long list may span lines)",
            )
        if raw.count(".") > MAX_DOTS:
            bare = _STRINGS.sub("", raw)
            if bare.count(".") - len(_FLOAT.findall(bare)) > MAX_DOTS:
                raise ConfigError(
                    path,
                    number,
                    f"more than {MAX_DOTS} dots in keys: not a rawfwd config "
                    "(its keys have at most 2, as in interface.eth0.mac)",
                )


_TOP_KEYS = {"interface", "route", "rpf", "dedup", "flows", "nhdp", "pim"}
#: IGMP router settings of an `igmp = true` interface (RFC 3376 section 8)
_IGMP_KEYS = {
    "version",
    "querier",
    "robustness",
    "query_interval",
    "query_response_interval",
    "last_member_query_interval",
    "last_member_query_count",
    "startup_query_interval",
    "startup_query_count",
}
_PIM_IF_KEYS = {"pim", "dr_priority", "hello_interval", "hello_holdtime"}
_IF_KEYS = {
    "mac", "address", "ttl_threshold", "manet", "groups", "igmp", "upstream", "relay", "nhdp",
    "mld", "mld_version",
} | _IGMP_KEYS | _PIM_IF_KEYS  # fmt: skip
_ROUTE_KEYS = {"from", "group", "source", "to"}
_RPF_KEYS = {"prefix", "iif"}
_DEDUP_KEYS = {"window", "mode", "max_entries", "max_per_flow"}
_FLOW_KEYS = {"max_flows", "idle_timeout"}
_NHDP_KEYS = {"hello_interval", "validity"}
_PIM_KEYS = {
    "rp",
    "spt_switchover",
    "join_prune_interval",
    "mode",
    "state_refresh",
    "state_refresh_interval",
}
_SPARSE_ONLY = ("rp", "spt_switchover", "join_prune_interval")
_DENSE_ONLY = ("state_refresh", "state_refresh_interval")
_RP_KEYS = {"address", "group"}
#: MANET relay algorithms (RFC 6621 section 8 and its appendices)
RELAYS = ("flood", "s-mpr", "e-cds", "mpr-cds")


def parse_toml(text: str, path: str) -> Config:
    """Validate a rawfwd TOML document (see README for the keys)."""
    _check_shape(text, path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        at = _TOML_AT.search(msg)
        line = int(at.group(1)) if at else None
        if msg.endswith(_TOML_END):  # the last line, then (trailing white space is none)
            msg, line = msg.removesuffix(_TOML_END), text.rstrip().count("\n") + 1
        raise ConfigError(path, line, f"not valid TOML: {_TOML_AT.sub('', msg)}") from None
    except RecursionError:
        raise ConfigError(path, None, "not a rawfwd config: values nested too deeply") from None
    except ValueError as exc:  # int() refusing 4,300 digits: MAX_LINE should rule that out
        raise ConfigError(path, None, f"not a rawfwd config: {exc}") from None
    lines = _TomlLines(text)
    b = ConfigBuilder(path)

    def fail(reason: str, table: str = "", key: str | None = None, index: int = 0) -> ConfigError:
        return ConfigError(path, lines.line(table, key, index), reason)

    for key in doc:
        if key not in _TOP_KEYS:
            known = ", ".join(sorted(_TOP_KEYS))
            raise fail(f"unknown table or key {key!r} (known: {known})", "", key)

    interfaces = doc.get("interface", {})
    if not isinstance(interfaces, dict):
        raise fail("'interface' must be tables like [interface.eth0]", "", "interface")
    for name, body in interfaces.items():
        table = f"interface.{name}"
        origin = Origin(path, lines.line(table))
        try:
            check_ifname(name)
        except ValueError as exc:
            raise fail(str(exc), table) from None
        if not isinstance(body, dict):
            raise fail(f"interface {name!r} must be a table [interface.{name}]", table)
        for key, value in body.items():
            if isinstance(value, dict):
                raise fail(
                    f"[{table}] has a sub-table {key!r}: write a name with a dot in quotes, "
                    f'like [interface."{name}.{key}"]',
                    f"{table}.{key}",
                )
        _check_keys(body, _IF_KEYS, f"[{table}]", fail, table)
        try:
            manet = _typed(body, "manet", bool, False)
            spec = InterfaceSpec(
                name=name,
                mac=_opt(body, "mac", str, parse_unicast_mac),
                address=_opt(body, "address", str, IPv4Interface),
                ttl_threshold=parse_ttl_threshold(body.get("ttl_threshold", 1)),
                manet=manet,
                groups=_flood_groups(body, manet),
                igmp=_parse_igmp(body, manet),
                mld=_parse_mld(body, manet),
                upstream=_typed(body, "upstream", bool, False),
                relay=_relay(body, manet),
                nhdp=_manet_only(body, "nhdp", manet),
                pim=_parse_pim_interface(body),
                origin=origin,
            )
            if spec.pim is not None and (manet or spec.upstream):
                key = "manet" if manet else "upstream"
                raise _KeyValueError(
                    "pim",
                    f"PIM routes between subnets: not with {key} = true (MANET interfaces "
                    "flood, an upstream interface is a host there)",
                )
            if spec.relay != "flood" and not spec.nhdp:
                raise _KeyValueError(
                    "relay",
                    f"{spec.relay} chooses relays from what NHDP learns: not with nhdp = false",
                )
            if spec.upstream and (spec.igmp is not None or spec.mld is not None or manet):
                key = "igmp" if spec.igmp else "mld" if spec.mld else "manet"
                raise _KeyValueError(
                    "upstream",
                    f"the IGMP/MLD proxy's upstream is a host there (RFC 4605): not with "
                    f"{key} = true",
                )
        except _KeyValueError as exc:
            raise fail(f"[{table}] {exc.key}: {exc.reason}", table, exc.key) from None
        except ValueError as exc:
            raise fail(f"[{table}] {exc}", table, "ttl_threshold") from None
        if spec.upstream:
            prior = next((i for i in b.interfaces.values() if i.upstream), None)
            if prior is not None:
                raise fail(
                    f"[{table}] upstream: {prior.name!r} is the upstream interface already: "
                    "an IGMP proxy has one (RFC 4605 section 1)",
                    table,
                    "upstream",
                )
        b.add_interface(spec)

    for i, where, body in _array_tables(doc, "route", _ROUTE_KEYS, ("group", "to"), fail):
        try:
            iif = _opt(body, "from", str, check_ifname)
            group = _opt(body, "group", str, parse_group)
            source = _opt(body, "source", str, parse_source)
            oifs = body["to"]
            if isinstance(oifs, str):
                oifs = [oifs]
            if not isinstance(oifs, list) or not all(isinstance(o, str) for o in oifs):
                raise _KeyValueError("to", "must be a list of interface names")
            if not oifs:
                raise _KeyValueError("to", "must name at least one interface")
        except _KeyValueError as exc:
            text = f"{where}: {exc.reason}" if exc.named else f"{where} {exc.key}: {exc.reason}"
            raise fail(text, "route", exc.key, i) from None
        except ValueError as exc:
            raise fail(f"{where}: {exc}", "route", None, i) from None
        origin = Origin(path, lines.line("route", None, i))
        b.routes.append(Route(iif, group, source, tuple(oifs), origin))

    for i, where, body in _array_tables(doc, "rpf", _RPF_KEYS, ("prefix", "iif"), fail):
        try:
            prefix = _opt(body, "prefix", str, parse_source)
            iif = _opt(body, "iif", str, check_ifname)
        except _KeyValueError as exc:
            text = f"{where}: {exc.reason}" if exc.named else f"{where} {exc.key}: {exc.reason}"
            raise fail(text, "rpf", exc.key, i) from None
        b.rpf.append(RpfSpec(prefix, iif, Origin(path, lines.line("rpf", None, i))))

    b.dedup = _parse_dedup(doc.get("dedup", {}), fail)
    b.flows = _parse_flows(doc.get("flows", {}), fail)
    b.nhdp = _parse_nhdp(doc.get("nhdp", {}), fail)
    b.pim = _parse_pim(doc.get("pim", {}), fail, lines, path)
    return b.build()


def _relay(body: Mapping[str, Any], manet: bool) -> str:
    """`relay` of a MANET interface: its relay algorithm (RFC 6621 section 8)."""
    if "relay" not in body:
        return "flood"
    if not manet:
        raise _KeyValueError("relay", "chooses MANET relays: only with manet = true")
    value = _typed(body, "relay", str, "flood")
    if value not in RELAYS:
        raise _KeyValueError("relay", f"must be one of {', '.join(RELAYS)}, not {shown(value)}")
    return str(value)


def _manet_only(body: Mapping[str, Any], key: str, manet: bool) -> bool:
    if key in body and not manet:
        raise _KeyValueError(key, "runs on MANET interfaces: only with manet = true")
    return bool(_typed(body, key, bool, True))


def _parse_nhdp(body: Any, fail: _Fail) -> NhdpSpec:
    if not isinstance(body, dict):
        raise fail("[nhdp] must be a table", "", "nhdp")
    _check_keys(body, _NHDP_KEYS, "[nhdp]", fail, "nhdp")
    try:
        interval = _typed(body, "hello_interval", float, 2.0)
        if not 0.1 <= interval <= 3600:
            raise _KeyValueError(
                "hello_interval", f"must be from 0.1 to 3600 s, not {shown(interval)}"
            )
        validity = _typed(body, "validity", float, 3 * interval)
        if not interval < validity <= 3 * 3600:  # RFC 6130 section 5: longer than the interval
            raise _KeyValueError(
                "validity",
                f"must be longer than hello_interval ({interval:g} s) and at most 10800 s, "
                f"not {shown(validity)}",
            )
    except _KeyValueError as exc:
        raise fail(f"[nhdp] {exc.key}: {exc.reason}", "nhdp", exc.key) from None
    return NhdpSpec(hello_interval=interval, validity=validity)


def _parse_pim_interface(body: Mapping[str, Any]) -> PimInterfaceSpec | None:
    """The PIM settings of an interface with `pim = true` (RFC 7761 section 4.9.2: the
    holdtime option is 16 bits of seconds, 0xFFFF meaning forever, the DR priority 32)."""
    if not _typed(body, "pim", bool, False):
        given = sorted(k for k in _PIM_IF_KEYS - {"pim"} if k in body)
        if given:
            raise _KeyValueError(given[0], "applies only with pim = true")
        return None
    priority = _ranged(body, "dr_priority", int, 1, 0, 0xFFFFFFFF)
    interval = _typed(body, "hello_interval", float, 30.0)
    if not 1 <= interval <= 18000:
        raise _KeyValueError("hello_interval", f"must be from 1 to 18000 s, not {shown(interval)}")
    holdtime = None
    if "hello_holdtime" in body:
        holdtime = _typed(body, "hello_holdtime", float, None)
        if not interval < holdtime <= 0xFFFF:
            raise _KeyValueError(
                "hello_holdtime",
                f"must be longer than hello_interval ({interval:g} s) and at most 65535 s, "
                f"not {shown(holdtime)}",
            )
    return PimInterfaceSpec(priority, interval, holdtime)


def _parse_pim(body: Any, fail: _Fail, lines: _TomlLines, path: str) -> PimSpec:
    """`[pim]` and its `[[pim.rp]]` tables (RFC 7761)."""
    if not isinstance(body, dict):
        raise fail("[pim] must be a table", "", "pim")
    _check_keys(body, _PIM_KEYS, "[pim]", fail, "pim")
    try:
        mode = _typed(body, "mode", str, "sparse")
        if mode not in ("sparse", "dense"):
            raise _KeyValueError("mode", f"must be sparse or dense, not {shown(mode)}")
        for key in _SPARSE_ONLY if mode == "dense" else _DENSE_ONLY:
            if key in body:
                other = "sparse" if mode == "dense" else "dense"
                raise _KeyValueError(key, f'applies only with mode = "{other}"')
        state_refresh = _typed(body, "state_refresh", bool, True)
        # the Interval fields of Hello option 21 and of State Refresh are 8 bits of seconds
        refresh_interval = _ranged(body, "state_refresh_interval", int, 60, 1, 255)
        switchover = _typed(body, "spt_switchover", str, "immediate")
        if switchover not in ("immediate", "never"):
            raise _KeyValueError(
                "spt_switchover", f"must be immediate or never, not {shown(switchover)}"
            )
        # J/P holdtime = 3.5 x t_periodic must fit the 16-bit field (section 4.9.5)
        interval = _typed(body, "join_prune_interval", float, 60.0)
        if not 1 <= interval <= 18000:
            raise _KeyValueError(
                "join_prune_interval", f"must be from 1 to 18000 s, not {shown(interval)}"
            )
    except _KeyValueError as exc:
        raise fail(f"[pim] {exc.key}: {exc.reason}", "pim", exc.key) from None
    rps: list[RpSpec] = []
    entries = body.get("rp", [])
    if not isinstance(entries, list):
        raise fail("[pim] rp must be tables like [[pim.rp]]", "pim", "rp")
    for i, entry in enumerate(entries):
        where = f"[[pim.rp]] #{i + 1}"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be a table", "pim.rp", None, i)
        _check_keys(entry, _RP_KEYS, where, fail, "pim.rp", i)
        if "address" not in entry:
            raise fail(f"{where} needs an 'address' key", "pim.rp", None, i)
        try:
            address = _opt(entry, "address", str, _rp_address)
            group = _opt(entry, "group", str, _rp_group)
        except _KeyValueError as exc:
            raise fail(f"{where} {exc.key}: {exc.reason}", "pim.rp", exc.key, i) from None
        rp = RpSpec(address, group or MULTICAST_BLOCK, Origin(path, lines.line("pim.rp", None, i)))
        if any(r.group == rp.group for r in rps):
            raise fail(f"{where}: a second RP for {rp.group}", "pim.rp", "group", i)
        rps.append(rp)
    return PimSpec(tuple(rps), switchover, interval, mode, state_refresh, refresh_interval)


def _rp_address(text: str) -> IPv4Address:
    address = IPv4Address(text)
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise ValueError(f"{text} cannot be an RP: a unicast address is needed")
    return address


def _rp_group(text: str) -> IPv4Network:
    group = IPv4Network(text, strict=True)
    if not group.subnet_of(MULTICAST_BLOCK):
        raise ValueError(f"{text} is not in 224.0.0.0/4")
    return group


def _flood_groups(body: Mapping[str, Any], manet: bool) -> tuple[Network, ...]:
    """`groups` of a MANET interface: what it floods (default all of 224.0.0.0/4 and
    ff00::/8; link-scoped groups only by an entry inside their scope)."""
    if "groups" not in body:
        return (MULTICAST_BLOCK, MULTICAST_BLOCK6)
    if not manet:
        raise _KeyValueError("groups", "floods only on an interface with manet = true")
    value = body["groups"]
    if not isinstance(value, list) or not value or not all(isinstance(g, str) for g in value):
        raise _KeyValueError("groups", "must be a list of groups or group prefixes")
    try:
        groups = tuple(parse_group(g) for g in value)
    except ValueError as exc:
        raise _KeyValueError("groups", str(exc), named=True) from None
    if len(set(groups)) != len(groups):
        raise _KeyValueError("groups", "names a group twice")
    return groups


def _parse_igmp(body: Mapping[str, Any], manet: bool) -> IgmpSpec | None:
    """The IGMP settings of an interface with `igmp = true`, ranges as the wire allows
    (RFC 3376 section 4.1: QRV is 3 bits, Max Resp Code and QQIC say at most 3174.4 s and
    31744 s; a v2 query's Max Resp Time at most 25.5 s)."""
    on = _typed(body, "igmp", bool, False)
    given = sorted(k for k in _IGMP_KEYS if k in body)
    if not on:
        if _typed(body, "mld", bool, False):  # the timer keys are MLD's too, not `version`
            given = [k for k in given if k == "version"]
        if given:
            raise _KeyValueError(given[0], "applies only with igmp = true")
        return None
    if manet:
        raise _KeyValueError("igmp", "not on a manet interface: MANET interfaces flood")
    version = _typed(body, "version", int, 3)
    if version not in (2, 3):
        raise _KeyValueError("version", f"must be 2 or 3, not {shown(version)}")
    return _membership_timers(body, version, 25.5 if version == 2 else 3174.4)


def _parse_mld(body: Mapping[str, Any], manet: bool) -> IgmpSpec | None:
    """The MLD settings of an interface with `mld = true`: the IGMP timer keys, and
    `mld_version` 1 or 2 (RFC 2710, RFC 3810), kept as the membership machine's version
    2 or 3 (RFC 3810 section 8 pairs them so). A Maximum Response Code says at most 65.535
    s in MLDv1 and 8387.584 s in MLDv2 (RFC 3810 section 5.1.3)."""
    on = _typed(body, "mld", bool, False)
    if not on:
        if "mld_version" in body:
            raise _KeyValueError("mld_version", "applies only with mld = true")
        return None
    if manet:
        raise _KeyValueError("mld", "not on a manet interface: MANET interfaces flood")
    version = _typed(body, "mld_version", int, 2)
    if version not in (1, 2):
        raise _KeyValueError("mld_version", f"must be 1 or 2, not {shown(version)}")
    return _membership_timers(body, version + 1, 65.535 if version == 1 else 3174.4)


def _membership_timers(body: Mapping[str, Any], version: int, most: float) -> IgmpSpec:
    """The timer keys IGMP and MLD share (RFC 3376 section 8, RFC 3810 section 9)."""
    robustness = _ranged(body, "robustness", int, 2, 1, 7)
    interval = _ranged(body, "query_interval", float, 125.0, 1, 31744, " s")
    response = _typed(body, "query_response_interval", float, 10.0)
    if not 0.1 <= response <= most or response >= interval:
        raise _KeyValueError(
            "query_response_interval",
            f"must be from 0.1 to {most} s and less than query_interval, not {response}",
        )
    last = _ranged(body, "last_member_query_interval", float, 1.0, 0.1, most, " s")
    counts = {
        key: _ranged(body, key, int, 0, 1, 7)
        for key in ("last_member_query_count", "startup_query_count")
        if key in body
    }
    startup = None
    if "startup_query_interval" in body:
        startup = _typed(body, "startup_query_interval", float, 0.0)
        if not 0.1 <= startup <= interval:
            raise _KeyValueError(
                "startup_query_interval",
                f"must be from 0.1 s to query_interval, not {startup}",
            )
    return IgmpSpec(
        robustness=robustness,
        query_interval=interval,
        query_response_interval=response,
        last_member_query_interval=last,
        version=version,
        querier=_typed(body, "querier", bool, True),
        startup_interval=startup,
        startup_count=counts.get("startup_query_count"),
        last_member_count=counts.get("last_member_query_count"),
    )


def _array_tables(
    doc: Mapping[str, Any], name: str, known: set[str], required: Iterable[str], fail: _Fail
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The `[[name]]` tables of `doc` as (index, "[[name]] #n", table), keys checked."""
    tables = doc.get(name, [])
    if not isinstance(tables, list):
        raise fail(f"{name!r} must be written as [[{name}]] tables", "", name)
    for i, body in enumerate(tables):
        where = f"[[{name}]] #{i + 1}"
        if not isinstance(body, dict):
            raise fail(f"{where} must be a table", name, None, i)
        _check_keys(body, known, where, fail, name, i)
        for key in required:
            if key not in body:
                raise fail(f"{where} needs a {key!r} key", name, None, i)
        yield i, where, body


class _Fail(Protocol):
    def __call__(
        self, reason: str, table: str = "", key: str | None = None, index: int = 0
    ) -> ConfigError: ...


class _KeyValueError(ValueError):
    """A bad value for `key`; `named` when `reason` already says which value it is."""

    def __init__(self, key: str, reason: str, named: bool = False) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
        self.named = named


def _typed(body: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if kind is not bool and isinstance(value, bool):
        raise _KeyValueError(key, f"must be {_kind_name(kind)}, not {value!r}")
    if kind is float and isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:  # over 1.8e308: no float, and out of every range
            raise _KeyValueError(key, f"is out of range: {shown(value)}") from None
    if not isinstance(value, kind):
        raise _KeyValueError(key, f"must be {_kind_name(kind)}, not {shown(value)}")
    return value


def _ranged(
    body: Mapping[str, Any], key: str, kind: type, default: Any, low: Any, high: Any, unit: str = ""
) -> Any:
    """`body[key]` (or `default`) of type `kind`, refused unless low <= value <= high."""
    value = _typed(body, key, kind, default)
    if not low <= value <= high:
        raise _KeyValueError(key, f"must be from {low} to {high}{unit}, not {shown(value)}")
    return value


def _opt(body: Mapping[str, Any], key: str, kind: type, convert: Any) -> Any:
    if key not in body:
        return None
    value = _typed(body, key, kind, None)
    try:
        return convert(value)
    except ValueError as exc:
        raise _KeyValueError(key, str(exc), named=True) from None


def _kind_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "an integer", float: "a number"}.get(
        kind, kind.__name__
    )


def _check_keys(
    body: Mapping[str, Any],
    known: Iterable[str],
    where: str,
    fail: _Fail,
    table: str,
    index: int = 0,
) -> None:
    """Refuse keys we do not know: a typo must not be ignored silently."""
    for key in body:
        if key not in known:
            names = ", ".join(sorted(known))
            raise fail(f"unknown key {key!r} in {where} (known: {names})", table, key, index)


def _parse_dedup(body: Any, fail: _Fail) -> DedupSpec:
    if not isinstance(body, dict):
        raise fail("[dedup] must be a table", "", "dedup")
    _check_keys(body, _DEDUP_KEYS, "[dedup]", fail, "dedup")
    try:
        window = _typed(body, "window", float, 5.0)
        if not 0 < window <= 3600:
            raise _KeyValueError("window", f"must be more than 0 and at most 3600 s, not {window}")
        mode_text = _typed(body, "mode", str, "hash")
        modes = {m.value: m for m in DedupMode}
        if mode_text not in modes:
            raise _KeyValueError("mode", f"must be one of {', '.join(modes)}, not {mode_text!r}")
        max_entries = _ranged(body, "max_entries", int, 65536, 1, 10_000_000)
        per_flow = _ranged(body, "max_per_flow", int, 1024, 1, 10_000_000)
    except _KeyValueError as exc:
        raise fail(f"[dedup] {exc.key}: {exc.reason}", "dedup", exc.key) from None
    return DedupSpec(
        mode=modes[mode_text], window=window, max_entries=max_entries, max_per_flow=per_flow
    )


def _parse_flows(body: Any, fail: _Fail) -> FlowSpec:
    if not isinstance(body, dict):
        raise fail("[flows] must be a table", "", "flows")
    _check_keys(body, _FLOW_KEYS, "[flows]", fail, "flows")
    try:
        max_flows = _ranged(body, "max_flows", int, 100_000, 1, 10_000_000)
        idle = _typed(body, "idle_timeout", float, 300.0)
        if not 0 < idle < float("inf"):
            raise _KeyValueError("idle_timeout", f"must be more than 0 s, not {idle}")
    except _KeyValueError as exc:
        raise fail(f"[flows] {exc.key}: {exc.reason}", "flows", exc.key) from None
    return FlowSpec(max_flows=max_flows, idle_timeout=idle)
