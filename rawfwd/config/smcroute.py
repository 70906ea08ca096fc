"""smcroute.conf support, so smcroute users can point rawfwd at the file they already have.

Accepted (smcroute.conf(5) syntax): comments from '#', `phyint IF [enable|disable] [mrdisc]
[ttl-threshold N]`, `mroute from IF [source S[/LEN]] group G[/LEN] to IF [IF ...]`, and
`include PATTERN` (a file name or glob, relative to the including file; an existing file is
taken literally even if its name has glob characters, a glob matching nothing is a warning,
and glob characters count only in the file name: `/*/*/*/*/*.conf` would walk the whole
file system). An included file must start as smcroute.conf does (with one of the directives
here), so that `include /etc/shadow` quotes no line of it; 64 files are included at most, and
all files together are at most 1 MiB, as one config file is. As in smcroute, an interface
named by a route needs no `phyint` line; `phyint IF disable` makes routes through it an
error; `source 0.0.0.0` (or 0.0.0.0/0) means any source, (*,G). Lines rawfwd accepts but
does not act on (`mgroup`, `mrdisc`) become warnings that `rawfwd check` prints; anything
else is an error with file and line. Keywords are not taken as interface names, and `from`,
`source` and `group` may each be given once per route.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path

from ..errors import ConfigError
from .checks import (
    MAX_CONFIG_BYTES,
    ConfigBuilder,
    check_ifname,
    config_error,
    parse_group,
    parse_source,
    parse_ttl_threshold,
    read_config_text,
)
from .values import Config, InterfaceSpec, Network, Origin, Route

_MAX_INCLUDE_DEPTH = 8
#: includes in all: each file may include the next one many times, depth alone does not
#: bound the work (8 levels of 1,000 includes each)
_MAX_INCLUDES = 64
_DIRECTIVES = ("phyint", "mroute", "mgroup", "include", "ssmgroup")
#: words with a meaning on phyint and mroute lines: never interface names
_KEYWORDS = frozenset(
    ("from", "to", "source", "group", "enable", "disable", "mrdisc", "ttl-threshold")
)
#: what each mroute option takes, for error messages
_VALUE_OF = {"from": "an interface name", "source": "a source address", "group": "a group"}


@dataclass
class _Reader:
    builder: ConfigBuilder
    phyints: dict[str, InterfaceSpec] = field(default_factory=dict)
    disabled: dict[str, Origin] = field(default_factory=dict)
    stack: list[Path] = field(default_factory=list)
    included: int = 0  #: files read for include lines so far
    size: int = 0  #: bytes of all files read so far

    def read(self, path: Path, origin: Origin | None) -> None:
        real = Path(os.path.realpath(path))  # unlike Path.resolve, no RuntimeError on loops
        if real in self.stack:
            raise config_error(origin, str(path), f"include loop: {path} includes itself")
        if len(self.stack) >= _MAX_INCLUDE_DEPTH:
            raise config_error(
                origin, str(path), f"includes nested deeper than {_MAX_INCLUDE_DEPTH}"
            )
        if origin is None:
            text = read_config_text(path, str(path))
        else:
            self.included += 1
            if self.included > _MAX_INCLUDES:
                raise config_error(
                    origin, str(path), f"include: more than {_MAX_INCLUDES} files included in all"
                )
            text = read_config_text(path, origin.path, origin.line)
            first = first_directive(text)
            if first is not None and first[1] not in _DIRECTIVES:
                # quote nothing of it: it may be a secret (include /etc/shadow)
                raise config_error(
                    origin,
                    str(path),
                    f"{path}: not an smcroute.conf file (its first directive, line {first[0]}, "
                    f"is none of {', '.join(_DIRECTIVES)})",
                )
        self.size += len(text.encode())
        if self.size > MAX_CONFIG_BYTES:
            raise config_error(
                origin,
                str(path),
                f"include: {path} makes the config and its includes larger than "
                f"{MAX_CONFIG_BYTES} bytes together",
            )
        self.stack.append(real)
        # numbered by '\n' as editors and smcroute do (splitlines also splits at \x0c, \x85)
        for number, line in enumerate(text.split("\n"), start=1):
            words = line.split("#", 1)[0].split()
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
            self.include(args[0], here, path.parent)
        else:
            raise ValueError(
                f"unknown directive {keyword!r} (rawfwd reads phyint, mroute, "
                "mgroup and include from smcroute.conf)"
            )

    def include(self, pattern: str, here: Origin, base: Path) -> None:
        """Read the file `pattern` names, or else every file it matches as a glob, sorted."""
        if "\0" in pattern:
            raise ValueError("include: a file name cannot hold a NUL character")
        literal = base / pattern  # `base / absolute` is the absolute path
        if os.path.lexists(literal):
            self.read(literal, here)
            return
        if not glob.has_magic(pattern):
            raise ValueError(f"include: no such file {literal}")
        folder, name = os.path.split(pattern)
        if glob.has_magic(folder):
            raise ValueError(
                "include: glob characters only in the file name, like smcroute.d/*.conf "
                "(a glob over folders may walk the whole file system)"
            )
        # relative to `base`, whose own name may hold glob characters: taken literally
        directory = base / folder
        matches = [directory / m for m in glob.glob(name, root_dir=directory)]
        if not matches:
            self.builder.warn(here, f"include {pattern} matched no file")
        for match in sorted(matches):
            self.read(match, here)

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
                # ASCII digits only: str.isdigit() also accepts the likes of '²'
                # and at most 3 of them: int() refuses over 4,300 digits (ValueError)
                if value is None or not (value.isascii() and value.isdigit() and len(value) <= 3):
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
        group: Network | None = None
        source: Network | None = None
        oifs: list[str] = []
        given: set[str] = set()
        i = 0
        while i < len(args):
            word = args[i]
            if word == "to":  # as in smcroute, every word after 'to' is an outgoing interface
                for name in args[i + 1 :]:
                    if name == "to":
                        raise ValueError("mroute: 'to' given twice")
                    if name in _VALUE_OF:
                        raise ValueError(
                            f"mroute: {name!r} after 'to': give from, source and group before "
                            "'to' (the words after it are outgoing interfaces)"
                        )
                    oifs.append(_ifname(name))
                break
            if word not in _VALUE_OF:
                raise ValueError(f"mroute: unexpected {word!r} (expected from, source, group, to)")
            if word in given:
                raise ValueError(f"mroute: {word!r} given twice")
            given.add(word)
            if i + 1 >= len(args):
                raise ValueError(f"mroute: {word!r} needs a value")
            value = args[i + 1]
            if value in _KEYWORDS:
                raise ValueError(
                    f"mroute: {word!r} needs {_VALUE_OF[word]}, not the keyword {value!r}"
                )
            if word == "from":
                iif = _ifname(value)
            elif word == "group":
                group = parse_group(value)
            else:
                source = _parse_source(value)
            i += 2
        if iif is None or group is None:
            raise ValueError("mroute needs 'from IF' and 'group G'")
        if not oifs:
            raise ValueError("mroute needs 'to IF [IF ...]' with at least one interface")
        self.builder.routes.append(Route(iif, group, source, tuple(oifs), here))


def _parse_source(text: str) -> Network | None:
    """A route's source; 0.0.0.0, 0.0.0.0/0, :: and ::/0 mean any source (*,G), as in
    smcroute.conf(5)."""
    try:
        net = ip_network(text, strict=True)
    except ValueError:
        net = None
    if (
        net is not None
        and int(net.network_address) == 0
        and net.prefixlen in (0, net.max_prefixlen)
    ):
        return None
    return parse_source(text)


def _ifname(text: str) -> str:
    if text in _KEYWORDS:
        raise ValueError(f"{text!r} is an smcroute.conf keyword, not an interface name")
    if text.endswith("+"):
        raise ValueError(f"interface wildcard {text!r} is not supported; name each interface")
    return check_ifname(text)


def first_directive(text: str) -> tuple[int, str] | None:
    """The line number and first word of the first line of `text` that is not a comment."""
    for number, raw in enumerate(text.split("\n"), start=1):
        words = raw.split("#", 1)[0].split(maxsplit=1)
        if words:
            return number, words[0]
    return None


def looks_like_smcroute(text: str) -> bool:
    """True if the first directive of `text` is an smcroute.conf keyword."""
    first = first_directive(text)
    return first is not None and first[1] in _DIRECTIVES


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
