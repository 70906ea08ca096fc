"""Value checks and the builder both config formats share (TOML and smcroute.conf).

Every problem becomes a `ConfigError` naming the file, the line where the format allows, and
what is wrong.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from ipaddress import IPv6Network, ip_network
from pathlib import Path
from typing import Final

from ..core.wire import parse_mac
from ..errors import ConfigError, one_line
from .values import (
    LINK_LOCAL_BLOCK,
    MULTICAST_BLOCK,
    MULTICAST_BLOCK6,
    Config,
    DedupMode,
    DedupSpec,
    FlowSpec,
    InterfaceSpec,
    Network,
    NhdpSpec,
    Origin,
    PimSpec,
    Route,
    RpfSpec,
)

#: Linux IFNAMSIZ is 16 including the NUL: 1..15 bytes. Printable ASCII without whitespace,
#: '/' and ':' (dev_valid_name), nor '=' (it separates IFACE=PCAP on the command line).
_IFNAME = re.compile(r"[!-.0-9;<>-~]{1,15}")
#: A config file bigger than this is not a config file (and /dev/zero never ends).
MAX_CONFIG_BYTES = 1 << 20


# -- value checks shared by both formats -----------------------------------------------------


def check_ifname(name: str) -> str:
    """A Linux interface name, or ValueError saying why not."""
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"{name!r} is not a valid interface name (1-15 printable ASCII characters, "
            "no spaces, '/', ':' or '=')"
        )
    return name


def parse_group(text: str) -> Network:
    """A multicast group or group prefix such as `239.1.2.3`, `239.1.0.0/16` or
    `ff0e::1:1`."""
    net = _parse_prefix(text, "group")
    if net.version == 6:
        if not net.subnet_of(MULTICAST_BLOCK6):
            raise ValueError(f"group {text!r} is not inside ff00::/8 (IPv6 multicast)")
    elif not net.subnet_of(MULTICAST_BLOCK):
        raise ValueError(f"group {text!r} is not inside 224.0.0.0/4 (IPv4 multicast)")
    return net


def parse_source(text: str) -> Network:
    """A unicast source address or prefix such as `10.0.0.5`, `10.0.0.0/24` or
    `2001:db8::5`."""
    net = _parse_prefix(text, "source")
    if net.version == 6:
        # multicast, and ::/96 (unspecified, loopback, the deprecated IPv4-compatible
        # block: RFC 4291 sections 2.5.2, 2.5.3, 2.5.5.1) never send multicast
        if net.overlaps(MULTICAST_BLOCK6) or (net.prefixlen >= 96 and net.subnet_of(_V6_LOW)):
            raise ValueError(f"source {text!r} is not a unicast address")
        return net
    first = int(net.network_address) >> 24
    if first >= 224 or (net.prefixlen >= 8 and first in (0, 127)):
        raise ValueError(f"source {text!r} is not a unicast address")
    return net


_V6_LOW: Final = IPv6Network("::/96")
#: an IPv6 group prefix this long fixes the scope (RFC 4291 section 2.7)
_SCOPE_FIXED: Final = 16


def _parse_prefix(text: str, what: str) -> Network:
    try:
        return ip_network(text.strip(), strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            loose = ip_network(text.strip(), strict=False)
            raise ValueError(f"{what} {text!r} has host bits set; did you mean {loose}?") from None
        raise ValueError(f"{what} {text!r} is not an IPv4 or IPv6 address or prefix") from None


def parse_unicast_mac(text: str) -> bytes:
    """An interface MAC: the group bit must be clear, or every copy would be malformed."""
    mac = parse_mac(text)
    if mac[0] & 1:
        raise ValueError(f"{text!r} is a multicast MAC address; an interface has a unicast one")
    return mac


def parse_ttl_threshold(value: object) -> int:
    """An interface TTL threshold, 1..255 (a copy leaves only if TTL > threshold)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255:
        raise ValueError(f"ttl_threshold must be an integer from 1 to 255, not {shown(value)}")
    return value


def shown(value: object) -> str:
    """`value` as an error message quotes it: at most 100 characters, and an integer too
    long to print (TOML allows 4,000 hex digits, repr() refuses over 4,300 decimal ones, a
    ValueError) says how long it is instead."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except ValueError:  # a list or table holding such an integer
        return f"a {type(value).__name__} holding an integer too long to print"
    return text if len(text) <= 100 else f"{text[:97]}..."


@dataclass
class ConfigBuilder:
    """Collects interfaces and routes from either format, then validates the whole."""

    path: str
    interfaces: dict[str, InterfaceSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    rpf: list[RpfSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dedup: DedupSpec = field(default_factory=DedupSpec)
    flows: FlowSpec = field(default_factory=FlowSpec)
    nhdp: NhdpSpec = field(default_factory=NhdpSpec)
    pim: PimSpec = field(default_factory=PimSpec)

    def add_interface(self, spec: InterfaceSpec) -> None:
        """Define an interface once; a second definition is an error."""
        prior = self.interfaces.get(spec.name)
        if prior is not None:
            where = f" (first defined at {prior.origin})" if prior.origin else ""
            raise config_error(
                spec.origin, self.path, f"interface {spec.name!r} defined twice{where}"
            )
        self.interfaces[spec.name] = spec

    def warn(self, origin: Origin, text: str) -> None:
        """Record a line that was accepted but is not (fully) supported."""
        self.warnings.append(one_line(f"{origin}: {text}"))  # printed as one line each

    def build(self) -> Config:
        """Validate cross-references and return the frozen Config."""
        for rpf in self.rpf:
            if rpf.iif not in self.interfaces:
                raise config_error(
                    rpf.origin,
                    self.path,
                    f"[[rpf]] {rpf.prefix} names interface {rpf.iif!r}, which is not defined "
                    f"(add an [interface.{rpf.iif}] table)",
                )
        if self.dedup.mode is DedupMode.OFF:
            for spec in self.interfaces.values():
                if spec.manet:
                    raise config_error(
                        spec.origin,
                        self.path,
                        f"interface {spec.name!r} has manet = true: flooding loops without "
                        "duplicate detection, set [dedup] mode to hash or id",
                    )
        pim = next((s for s in self.interfaces.values() if s.pim is not None), None)
        if pim is not None and "pimreg" in self.interfaces:
            raise config_error(
                self.interfaces["pimreg"].origin,
                self.path,
                "interface 'pimreg' is PIM's register tunnel while an interface has "
                "pim = true: name the link otherwise",
            )
        seen: dict[tuple[str | None, Network | None, Network], Route] = {}
        for route in self.routes:
            for name in (route.iif, *route.oifs):
                if name is not None and name not in self.interfaces:
                    raise config_error(
                        route.origin,
                        self.path,
                        f"route {route.describe()} names interface {name!r}, which is not "
                        f"defined (add an [interface.{name}] table)",
                    )
            if (
                route.iif is not None
                and route.iif in route.oifs
                and not self.interfaces[route.iif].manet
            ):
                raise config_error(
                    route.origin,
                    self.path,
                    f"route {route.describe()} sends back out of its incoming interface "
                    f"{route.iif!r}; only an interface with manet = true may do that",
                )
            if len(set(route.oifs)) != len(route.oifs):
                raise config_error(
                    route.origin,
                    self.path,
                    f"route {route.describe()} repeats an outgoing interface",
                )
            if route.source is not None and route.source.version != route.group.version:
                raise config_error(
                    route.origin,
                    self.path,
                    f"route {route.describe()} mixes an IPv{route.source.version} source "
                    f"with an IPv{route.group.version} group",
                )
            if route.group.version == 6:
                if route.group.prefixlen < _SCOPE_FIXED:
                    self.warn(
                        route.origin or Origin(self.path),
                        f"route {route.describe()} covers interface- and link-local groups "
                        "only partly: they are forwarded only by routes of a group prefix "
                        f"of /{_SCOPE_FIXED} or longer (e.g. ff02::fb)",
                    )
            elif route.group.overlaps(LINK_LOCAL_BLOCK) and not route.group.subnet_of(
                LINK_LOCAL_BLOCK
            ):
                self.warn(
                    route.origin or Origin(self.path),
                    f"route {route.describe()} covers 224.0.0.0/24 only partly: link-local "
                    "groups are forwarded only by routes inside it",
                )
            key = (route.iif, route.source, route.group)
            prior = seen.get(key)
            if prior is not None:
                raise config_error(
                    route.origin,
                    self.path,
                    f"duplicate route {route.describe()} (first at {prior.origin})",
                )
            seen[key] = route
        return Config(
            interfaces=dict(self.interfaces),
            routes=tuple(self.routes),
            rpf=tuple(self.rpf),
            dedup=self.dedup,
            flows=self.flows,
            nhdp=self.nhdp,
            pim=self.pim,
            path=self.path,
            warnings=tuple(self.warnings),
        )


def config_error(origin: Origin | None, path: str, reason: str) -> ConfigError:
    if origin is None:
        return ConfigError(path, None, reason)
    return ConfigError(origin.path, origin.line, reason)


def read_config_text(path: Path, where: str, line: int | None = None) -> str:
    """The text of a config file; a ConfigError at `where`:`line` if it is not one.

    Only a regular file is opened: a FIFO would block the open until a writer comes, and a
    device may act on being opened. O_NONBLOCK covers a swap between the stat and the open.
    """
    this = "" if where == str(path) else f"{path}: "
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(where, line, f"{this}cannot read: {os.strerror(errno.EISDIR)}")
        if not stat.S_ISREG(mode):
            raise ConfigError(where, line, f"{this}not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(where, line, f"{this}not a regular file")
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(where, line, f"{this}cannot read: {exc.strerror or exc}") from None
    except ValueError:  # os.stat refuses a name holding a NUL character
        raise ConfigError(where, line, f"{this}cannot read: a NUL character in the name") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(where, line, f"{this}larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(where, line, f"{this}not a text file (invalid UTF-8)") from None
