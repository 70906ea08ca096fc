"""The static multicast forwarding table: which route, if any, a new flow belongs to.

Theory of operation (Linux ipmr order, RFC 5771 for scopes):

- Routes are grouped by specificity level `(source prefix length or -1 for *, group prefix
  length)`, most specific first, so (S,G) beats (*,G) and a longer group prefix beats a
  shorter one. Within a level a dict keyed by the masked (source, group) finds the routes in
  one probe: longest-prefix match without scanning every route.
- Routes at one level with the same (source, group) differ only by incoming interface. A
  packet whose best level has no route from its ingress is a wrong-interface (RPF) failure,
  counted as `wrong_if` like ipmr does; it does not fall back to a less specific route.
- A route without `from` takes its incoming interface from RPF: the interface toward the
  source, from a static [[rpf]] entry or the kernel FIB (like `ip mroute` and ipmr's
  unresolved cache); until the FIB answers, the flow is unresolved.
- 224.0.0.0/24 is link-local control traffic (RFC 5771 section 4): only routes whose group
  lies inside that block (prefix length >= 24) may forward it, as an explicit opt-in. The
  IPv6 equivalent is a group of interface- or link-local scope (RFC 4291 section 2.7; scope
  0 is reserved and treated alike): only a route whose group prefix fixes the scope (length
  >= 16) may forward it, e.g. ff02::fb for mDNS.
- Addresses of both families are integers in one space (see `addr`): an IPv6 packet can
  only ever match IPv6 routes.

Lookups happen once per flow; the result is cached by the forwarder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from ..config.values import LINK_LOCAL_BLOCK, Route
from .addr import V6, Network, net_mask, scope6
from .reasons import DropReason

_LINK_LOCAL_NET: Final = int(LINK_LOCAL_BLOCK.network_address)
_LINK_LOCAL_MASK: Final = int(LINK_LOCAL_BLOCK.netmask)
#: the group prefix length that fixes a link-local group's scope, per family
LINK_LOCAL_LEN: Final = 24
LINK_LOCAL_LEN6: Final = 16
_SCOPE_LINK: Final = 2


def is_link_local(group: int) -> bool:
    """True for 224.0.0.0/24, the Local Network Control Block (RFC 5771 section 4), and
    for IPv6 groups of interface- or link-local scope (RFC 4291 section 2.7)."""
    if group >= V6:
        return scope6(group) <= _SCOPE_LINK
    return group & _LINK_LOCAL_MASK == _LINK_LOCAL_NET


def link_local_len(group: int) -> int:
    """The prefix length a route's group needs to forward link-local `group`."""
    return LINK_LOCAL_LEN6 if group >= V6 else LINK_LOCAL_LEN


class _Pending:
    """The RPF interface is being looked up (in the FIB, by the live shell)."""

    def __repr__(self) -> str:
        return "RPF_PENDING"


RPF_PENDING: Final = _Pending()
#: Interface toward a source: a name, None (no route back), or RPF_PENDING.
RpfAnswer = str | None | _Pending
RpfFunc = Callable[[int], RpfAnswer]


class Lookup(NamedTuple):
    """The outcome of a table lookup: a route, or the reason there is none."""

    route: Route | None
    reason: DropReason | None


class _Level(NamedTuple):
    src_len: int  # -1: any source
    grp_len: int
    link_ok: bool  # the group prefix is long enough to forward link-local groups
    src_mask: int
    grp_mask: int
    entries: dict[tuple[int, int], list[Route]]


class RouteTable:
    """Longest-prefix (S,G)/(*,G) lookup keyed by incoming interface."""

    def __init__(self, routes: Iterable[Route]) -> None:
        levels: dict[tuple[int, int, int], _Level] = {}
        for route in routes:
            src_len, grp_len = route.specificity
            group, grp_mask = net_mask(route.group)
            source, src_mask = net_mask(route.source) if route.source is not None else (0, 0)
            family = route.group.version
            level = levels.get((src_len, grp_len, family))
            if level is None:
                link_ok = grp_len >= link_local_len(group)
                level = _Level(src_len, grp_len, link_ok, src_mask, grp_mask, {})
                levels[(src_len, grp_len, family)] = level
            level.entries.setdefault((source, group), []).append(route)
        self._levels = sorted(
            levels.values(), key=lambda lv: (lv.src_len, lv.grp_len), reverse=True
        )

    def lookup(self, iif: str, source: int, group: int, rpf: RpfFunc = lambda _: None) -> Lookup:
        """The route for a packet from `source` to `group` arriving on `iif`.

        A route naming `iif` as its `from` wins; a route without `from` matches when
        `rpf(source)`, the interface toward the source, is `iif`.
        """
        link_local = is_link_local(group)
        for level in self._levels:
            if link_local and not level.link_ok:
                continue
            routes = level.entries.get((source & level.src_mask, group & level.grp_mask))
            if routes is None:
                continue
            for route in routes:
                if route.iif == iif:
                    return Lookup(route, None)
            for route in routes:
                if route.iif is None:
                    toward = rpf(source)
                    if toward is RPF_PENDING:
                        return Lookup(route, DropReason.UNRESOLVED)
                    if toward is None:
                        return Lookup(None, DropReason.NO_RPF)
                    if toward == iif:
                        return Lookup(route, None)
            return Lookup(None, DropReason.WRONG_IF)
        return Lookup(None, DropReason.LINK_LOCAL if link_local else DropReason.NO_ROUTE)


def prefix_list(entries: Iterable[tuple[Network, str]]) -> list[tuple[int, int, str]]:
    """(network, mask, name) triples, longest prefix first, for a first-match scan (of
    address integers of either family: see `addr`)."""
    ordered = sorted(entries, key=lambda e: e[0].prefixlen, reverse=True)
    return [(*net_mask(net), name) for net, name in ordered]
