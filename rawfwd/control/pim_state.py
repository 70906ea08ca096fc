"""PIM-SM join state (RFC 7761 section 4.5): the per-interface downstream machine and the
upstream machine of each (*,G) and (S,G) entry, as plain objects driven with time passed in.

Theory of operation:

- Downstream (sections 4.5.2 and 4.5.3): each interface of an entry is in NoInfo, Join or
  PrunePending. A Join starts or extends the Expiry Timer to the message's holdtime; a
  Prune on a LAN waits the J/P override interval (PrunePending) for another router's Join
  to override it, at once where we have a single neighbour there; either timer running out
  takes the interface back to NoInfo.
- Upstream (sections 4.5.6 and 4.5.7): an entry is Joined while JoinDesired holds (its
  outgoing list is not empty). Becoming Joined sends a Join to RPF', leaving sends a Prune;
  while Joined, the Join Timer sends a Join every t_periodic. A Join to the same RPF'
  heard from another router on the RPF interface suppresses ours (the timer moves out to
  t_joinsuppress); a Prune heard for it brings ours forward to t_override, so that the
  prune is overridden (section 4.5.6).

Entries say what to send as `Send` records; the router turns them into messages. Nothing
here reads a clock, draws at random or touches a socket: `now` and random delays come in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

#: Section 4.11 defaults, seconds
T_PERIODIC: Final = 60.0
JP_OVERRIDE_DEFAULT: Final = 3.0  #: propagation delay 0.5 + override interval 2.5
INF: Final = float("inf")


class Downstream(Enum):
    """Per-interface state (sections 4.5.2, 4.5.3)."""

    NO_INFO = "NoInfo"
    JOIN = "Join"
    PRUNE_PENDING = "PrunePending"


@dataclass(eq=False)
class DownstreamPort:
    """One interface's downstream state of an entry, with its two timers (absolute times;
    INF: not running)."""

    state: Downstream = Downstream.NO_INFO
    expiry: float = INF  #: Expiry Timer (ET)
    prune_pending: float = INF  #: Prune-Pending Timer (PPT)

    def on_join(self, holdtime: float, now: float) -> None:
        """Receive Join (section 4.5.2 table): NoInfo -> Join; Join and PrunePending ->
        Join with ET = max(ET, holdtime); PPT stopped."""
        self.state = Downstream.JOIN
        self.prune_pending = INF
        if holdtime >= 0xFFFF:  # section 4.9.5: 0xFFFF is infinite
            self.expiry = INF
        elif self.expiry == INF or self.expiry < now + holdtime:
            self.expiry = now + holdtime

    def on_prune(self, override: float, single_neighbor: bool, now: float) -> None:
        """Receive Prune: Join -> PrunePending, PPT = the J/P override interval on a LAN
        (0 where we have one neighbour there, section 4.5.2); otherwise nothing."""
        if self.state is Downstream.JOIN:
            self.state = Downstream.PRUNE_PENDING
            self.prune_pending = now + (0.0 if single_neighbor else override)

    def next_timer(self) -> float:
        return min(self.expiry, self.prune_pending)

    def poll(self, now: float) -> bool:
        """Run expired timers; True if the state changed (to NoInfo)."""
        if self.state is Downstream.NO_INFO:
            return False
        if self.prune_pending <= now or self.expiry <= now:
            self.state = Downstream.NO_INFO
            self.expiry = self.prune_pending = INF
            return True
        return False


@dataclass(frozen=True, slots=True)
class Send:
    """A Join or Prune the upstream machine wants sent to `neighbor` on `interface`."""

    interface: str
    neighbor: int
    join: bool  #: True: Join; False: Prune


@dataclass(eq=False)
class Upstream:
    """The upstream machine of one entry (sections 4.5.6, 4.5.7)."""

    joined: bool = False
    join_timer: float = INF  #: JT: the next periodic Join
    #: RPF' of the entry: (interface, neighbour address); None: no way upstream
    rpf: tuple[str, int] | None = None
    by_assert: bool = False  #: RPF' is the winner of an assert on the RPF interface
    sent: list[Send] = field(default_factory=list)

    def update(
        self,
        desired: bool,
        rpf: tuple[str, int] | None,
        now: float,
        t_periodic: float,
        by_assert: bool = False,
        t_override: float = 0.0,
    ) -> None:
        """JoinDesired or RPF' may have changed: act as the state table says. `by_assert`:
        RPF' is an assert winner's (section 4.5.7)."""
        came_by_assert, self.by_assert = self.by_assert, by_assert and rpf is not None
        if desired and rpf is not None:
            if not self.joined:
                self.joined = True
                self.sent.append(Send(rpf[0], rpf[1], True))
                self.join_timer = now + t_periodic
            elif rpf != self.rpf and (by_assert or came_by_assert):
                # "RPF' changes due to an Assert": the next Join, to the new RPF', within
                # t_override; the loser's state is left to time out, no Prune
                self.join_timer = min(self.join_timer, now + t_override)
            elif rpf != self.rpf:  # RPF' changed while joined: join anew, prune the old
                self.sent.append(Send(rpf[0], rpf[1], True))
                if self.rpf is not None:
                    self.sent.append(Send(self.rpf[0], self.rpf[1], False))
                self.join_timer = now + t_periodic
        elif self.joined:
            self.joined = False
            if self.rpf is not None:
                self.sent.append(Send(self.rpf[0], self.rpf[1], False))
            self.join_timer = INF
        self.rpf = rpf

    def poll(self, now: float, t_periodic: float) -> None:
        """Join Timer expired: a periodic Join (section 4.5.6)."""
        if self.joined and self.join_timer <= now and self.rpf is not None:
            self.sent.append(Send(self.rpf[0], self.rpf[1], True))
            self.join_timer = now + t_periodic

    def see_join(self, holdtime: float, t_suppressed: float, now: float) -> None:
        """Another router's Join to our RPF' on the RPF interface: suppress ours (the
        timer moves out to t_joinsuppress = min(t_suppressed, holdtime))."""
        if self.joined:
            self.join_timer = max(self.join_timer, now + min(t_suppressed, holdtime))

    def see_prune(self, t_override: float, now: float) -> None:
        """Another router's Prune to our RPF': override it by joining within t_override."""
        if self.joined:
            self.join_timer = min(self.join_timer, now + t_override)

    def take(self) -> list[Send]:
        sent, self.sent = self.sent, []
        return sent
