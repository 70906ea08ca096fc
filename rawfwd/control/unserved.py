"""Members that a silent querier leaves unserved: noticing it, and saying so once.

On a link with two routers only the querier forwards by membership (RFC 4605 section
4.2; RFC 3376 section 6.6.2 elects it), so the members get each packet once. When the
router elected there never forwards multicast (a snooping switch with an address, an
IGMP-only router), they get nothing, and nothing said why. The rule stays; this notices
its failure instead.

Theory of operation:

- `Withheld` keeps, per interface where another router is querier, the groups its members
  want from flows that arrive on another interface (traffic we have and do not forward
  there), and the groups whose traffic arrives on that interface itself (someone does
  forward them onto the link, or a source is there). Members are starved when a group is
  in the first and not the second: a querier that forwards shows its copies on the link,
  so two routers that work together are not warned about. The membership hook notes
  every flow the forwarder decides; a group's notes are forgotten before its flows are
  decided again (a membership change, a querier move, a reload). A flow forgotten as idle
  leaves its note until then (the forwarder does not say): the warning may outlive the
  traffic, never the members or the other querier.
- `Unserved` is fed, at each time, for every interface: the other querier's address
  (None where we forward: we are the querier, or `querier = false`) and whether members
  there are starved. Both holding without a break for `hold` seconds is reported: once,
  as one log line; then the interface is `unserved` (the table's and `rawfwd show
  groups`' warning) until either goes away. Reported again only after it cleared and
  held `hold` seconds anew. The hold lets a querier that forwards show its first copies
  (and a new querier join its tree) before anything is said.

Pure: time is passed in; `next_timer` says when a hold ends, for the caller to feed it then.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

#: seconds both facts must hold before they are reported (see the module docstring)
HOLD: Final = 10.0


def log_line(interface: str, querier: str) -> str:
    """What the log says, once, when `interface`'s members go unserved."""
    return (
        f"{interface}: {querier} is the IGMP querier here and only the querier forwards by "
        "membership, but members here want multicast that rawfwd receives and nobody "
        f"forwards onto this link; if {querier} never forwards multicast (a snooping switch, "
        f"an IGMP-only router), set querier = false under [interface.{interface}]"
    )


def table_hint(interface: str, querier: str | None) -> str:
    """The table's warning line for an unserved interface (`querier` as the JSON has it)."""
    return (
        f"⚠ {interface}: members unserved: querier {querier or 'another router'} does not "
        "forward to them; querier = false lets rawfwd forward"
    )


class Withheld:
    """Per interface: groups wanted there from flows arriving elsewhere while we do not
    forward there, and groups arriving there; see the module docstring."""

    def __init__(self) -> None:
        self._wanted: dict[str, set[int]] = {}
        self._arriving: dict[str, set[int]] = {}

    def note(self, ingress: str, group: int, silent: Iterable[str]) -> bool:
        """A flow of `group` arriving on `ingress` was decided; `silent`: the interfaces
        that do not forward (another querier) where members want it. True if that is news
        (the caller should feed `Unserved` soon)."""
        news = False
        for name in silent:
            if name != ingress:
                wanted = self._wanted.setdefault(name, set())
                news |= group not in wanted
                wanted.add(group)
        arriving = self._arriving.setdefault(ingress, set())
        news |= group not in arriving and group in self._wanted.get(ingress, ())
        arriving.add(group)
        return news

    def forget(self, groups: Collection[int] | None = None) -> None:
        """Before the flows of `groups` (None: of all) are decided again."""
        if groups is None:
            self._wanted.clear()
            self._arriving.clear()
            return
        for sets in (self._wanted, self._arriving):
            for marked in sets.values():
                marked.difference_update(groups)

    def starved(self, interface: str) -> bool:
        """Members on `interface` want a group we have that does not arrive there."""
        return bool(self._wanted.get(interface, set()) - self._arriving.get(interface, set()))


class Facts(NamedTuple):
    """What `Unserved` is fed for one interface."""

    other_querier: str | None  #: the querier's address where another router is querier
    starved: bool  #: members want traffic we have, and do not forward, and nobody does


@dataclass(slots=True)
class _Watch:
    querier: str
    due: float  #: when it has held `hold` seconds
    reported: bool = False


class Unserved:
    """When to say that members go unserved; see the module docstring."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._watch: dict[str, _Watch] = {}

    def update(self, now: float, facts: Mapping[str, Facts]) -> list[str]:
        """The facts of every interface at `now` (an interface left out is forgotten);
        returns the log lines due now."""
        lines = []
        for name in [n for n in self._watch if n not in facts]:
            del self._watch[name]
        for name, (querier, starved) in facts.items():
            if querier is None or not starved:
                self._watch.pop(name, None)
                continue
            watch = self._watch.get(name)
            if watch is None:
                watch = self._watch[name] = _Watch(querier, now + self.hold)
            watch.querier = querier
            if not watch.reported and now >= watch.due:
                watch.reported = True
                lines.append(log_line(name, querier))
        return lines

    def unserved(self, interface: str) -> bool:
        """Reported and not cleared since: the JSON's `unserved`."""
        watch = self._watch.get(interface)
        return watch is not None and watch.reported

    def hint(self, interface: str) -> str | None:
        """The table's warning for `interface`, while it is unserved."""
        watch = self._watch.get(interface)
        if watch is None or not watch.reported:
            return None
        return table_hint(interface, watch.querier)

    def next_timer(self) -> float | None:
        """When a hold ends: feed `update` then."""
        return min((w.due for w in self._watch.values() if not w.reported), default=None)
