"""smcroute.conf support, so smcroute users can point rawfwd at the file they already have.

Accepted (smcroute.conf(5) syntax): comments from '#', `phyint IF [enable|disable] [mrdisc]
[ttl-threshold N]`, `mroute from IF [source S[/LEN]] group G[/LEN] to IF [IF ...]`, and
`include PATTERN` (a glob, relative to the including file). As in smcroute, an interface
named by a route needs no `phyint` line; `phyint IF disable` makes routes through it an
error. Lines rawfwd accepts but does not act on (`mgroup`, `mrdisc`) become warnings that
`rawfwd check` prints; anything else is an error with file and line.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

from .config import (
    ConfigBuilder,
    check_ifname,
    config_error,
    parse_group,
    parse_source,
    parse_ttl_threshold,
)
from .errors import ConfigError
from .model import Config, InterfaceSpec, Origin, Route

_MAX_INCLUDE_DEPTH = 8


@dataclass
class _Reader:
    builder: ConfigBuilder
    phyints: dict[str, InterfaceSpec] = field(default_factory=dict)
    disabled: dict[str, Origin] = field(default_factory=dict)
    stack: list[Path] = field(default_factory=list)

    def read(self, path: Path, origin: Origin | None) -> None:
        real = path.resolve()
        if real in self.stack:
            raise config_error(origin, str(path), f"include loop: {path} includes itself")
        if len(self.stack) >= _MAX_INCLUDE_DEPTH:
            raise config_error(
                origin, str(path), f"includes nested deeper than {_MAX_INCLUDE_DEPTH}"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise config_error(
                origin, str(path), f"cannot read {path}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError:
            raise config_error(
                origin, str(path), f"{path} is not a text file (invalid UTF-8)"
            ) from None
        self.stack.append(real)
        for number, raw in enumerate(text.splitlines(), start=1):
            words = raw.split("#", 1)[0].split()
            if words:
                here = Origin(str(path), number)
                try:
                    self.directive(words, here, path)
                except ValueError as exc:
                    raise ConfigError(here.path, here.line, str(exc)) from None
        self.stack.pop()

    def directive(self, words: list[str], here: Origin, path: Path) -> None:
        keyword, args = words[0], words[1:]
        if keyword == "phyint":
            self.phyint(args, here)
        elif keyword == "mroute":
            self.mroute(args, here)
        elif keyword in ("mgroup", "ssmgroup"):
            self.builder.warn(
                here,
                f"'{keyword}' ignored: rawfwd receives all multicast "
                "(all-multicast mode) without joining groups",
            )
        elif keyword == "include":
            if len(args) != 1:
                raise ValueError("include takes one file name or glob pattern")
            pattern = Path(args[0])
            if not pattern.is_absolute():
                pattern = path.parent / pattern
            matches = sorted(glob.glob(str(pattern)))
            if not matches and not glob.has_magic(str(pattern)):
                raise ValueError(f"include: no such file {pattern}")
            for match in matches:
                self.read(Path(match), here)
        else:
            raise ValueError(
                f"unknown directive {keyword!r} (rawfwd reads phyint, mroute, "
                "mgroup and include from smcroute.conf)"
            )

    def phyint(self, args: list[str], here: Origin) -> None:
        if not args:
            raise ValueError("phyint needs an interface name")
        name = _ifname(args[0])
        threshold, enabled = 1, True
        rest = iter(args[1:])
        for word in rest:
            if word == "enable":
                enabled = True
            elif word == "disable":
                enabled = False
            elif word == "mrdisc":
                self.builder.warn(
                    here, "'mrdisc' (RFC 4286 router discovery) is not supported by rawfwd; ignored"
                )
            elif word == "ttl-threshold":
                value = next(rest, None)
                if value is None or not value.isdigit():
                    raise ValueError("ttl-threshold needs a number from 1 to 255")
                threshold = parse_ttl_threshold(int(value))
            else:
                raise ValueError(
                    f"phyint: unknown option {word!r} (enable, disable, mrdisc, ttl-threshold N)"
                )
        if name in self.phyints or name in self.disabled:
            raise ValueError(f"phyint {name} given twice")
        if enabled:
            self.phyints[name] = InterfaceSpec(name=name, ttl_threshold=threshold, origin=here)
        else:
            self.disabled[name] = here

    def mroute(self, args: list[str], here: Origin) -> None:
        iif: str | None = None
        group: IPv4Network | None = None
        source: IPv4Network | None = None
        oifs: list[str] = []
        i = 0
        while i < len(args):
            word = args[i]
            if word == "to":
                oifs = [_ifname(o) for o in args[i + 1 :]]
                break
            if i + 1 >= len(args):
                raise ValueError(f"mroute: {word!r} needs a value")
            value = args[i + 1]
            if word == "from":
                iif = _ifname(value)
            elif word == "group":
                group = parse_group(value)
            elif word == "source":
                source = parse_source(value)
            else:
                raise ValueError(f"mroute: unexpected {word!r} (expected from, source, group, to)")
            i += 2
        if iif is None or group is None:
            raise ValueError("mroute needs 'from IF' and 'group G'")
        if not oifs:
            raise ValueError("mroute needs 'to IF [IF ...]' with at least one interface")
        self.builder.routes.append(Route(iif, group, source, tuple(oifs), here))


def _ifname(text: str) -> str:
    if text.endswith("+"):
        raise ValueError(f"interface wildcard {text!r} is not supported; name each interface")
    return check_ifname(text)


def load_smcroute(path: Path) -> Config:
    """Read an smcroute.conf (and its includes) into a validated Config."""
    builder = ConfigBuilder(str(path))
    reader = _Reader(builder)
    reader.read(path, None)
    for spec in reader.phyints.values():
        builder.add_interface(spec)
    for route in builder.routes:
        for name in (route.iif, *route.oifs):
            if name is None:
                continue
            if name in reader.disabled:
                raise config_error(
                    route.origin,
                    str(path),
                    f"route {route.describe()} uses interface {name}, disabled at "
                    f"{reader.disabled[name]}",
                )
            if name not in builder.interfaces:
                builder.add_interface(InterfaceSpec(name=name, origin=route.origin))
    return builder.build()
