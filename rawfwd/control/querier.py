"""The IGMP querier of one interface (RFC 3376 sections 6.6 and 8, RFC 2236 section 3).

Theory of operation:

- At start a router assumes it is the querier and sends `startup_query_count` general
  queries `startup_query_interval` apart (the first at once), then one every
  `query_interval` (RFC 3376 section 8.6-8.7).
- Election (RFC 3376 section 6.6.2): the lowest address on the link is the querier. A
  router that hears a query from a lower address stops querying until it has heard none
  for the other-querier-present interval (robustness x query interval + half the query
  response interval); then it takes over and queries at once. While not the querier it
  adopts the querier's robustness and query interval from v3 queries (section 4.1.6-4.1.7).
- `querier = false` never queries but still tracks who does.

Pure: time is passed in (`start`, `on_query`, `poll`), `next_timer` says when to call
`poll` again, and what to send comes back as `Query` values for the shell to build.
"""

from __future__ import annotations

from ..config.values import IgmpSpec
from .igmp import Query

#: the querier's settings are the interface's IGMP settings
QuerierSpec = IgmpSpec


class Querier:
    """Querier election and general queries for the interface with address `address`."""

    def __init__(self, spec: QuerierSpec, address: int) -> None:
        self.spec = spec
        self.address = address
        #: the querier's address as far as we know (ours while we are it)
        self.querier_address = address
        self.robustness = spec.robustness  #: in use: ours, or the v3 querier's
        self.query_interval = spec.query_interval
        self._other_until: float | None = None  # other-querier-present timer
        self._next_query: float | None = None
        self._startup_left = 0

    @property
    def is_querier(self) -> bool:
        """True while this router sends the general queries on its link."""
        return self.spec.querier and self._other_until is None

    @property
    def other_querier_until(self) -> float | None:
        """When the other querier is presumed gone, while one is heard (RFC 3376 8.5)."""
        return self._other_until

    def start(self, now: float) -> list[Query]:
        """Begin as querier (unless told not to): the first startup query goes out now."""
        if not self.is_querier:  # told not to, or another querier was heard already
            return []
        self._startup_left = self.spec.startup_query_count
        self._next_query = now
        return self.poll(now)

    def on_query(self, source: int, query: Query, now: float) -> None:
        """A query heard on the link from `source` (ours are not looped back).

        A querying router yields to a lower address only. A listen-only one follows the
        lowest querier it hears, whatever its own address: it must lower its timers on
        that querier's specific queries and adopt its values (RFC 3376 6.6.1, 4.1.6-7).
        """
        if source == 0:
            return  # no address: it cannot be elected (RFC 3376 6.6.2)
        if self.spec.querier:
            if source >= self.address:
                return  # our own, or higher than ours: it does not win
        elif self._other_until is not None and source > self.querier_address:
            return  # a higher one while the lower one is present
        self.querier_address = source
        self._next_query = None
        self._startup_left = 0
        if query.version == 3:  # RFC 3376 4.1.6-4.1.7: adopt the querier's values
            self.robustness = query.qrv or self.spec.robustness
            self.query_interval = float(query.qqi or self.spec.query_interval)
        # RFC 3376 8.5 with the values in use: the querier's, not our configured ones
        self._other_until = now + self.robustness * self.query_interval + query.max_resp / 2

    def poll(self, now: float) -> list[Query]:
        """What is due at `now`: a general query, or taking over from a silent querier."""
        if self._other_until is not None and now >= self._other_until:
            self._other_until = None  # it went quiet: we take over, and query at once
            self.querier_address = self.address if self.spec.querier else 0
            self.robustness = self.spec.robustness
            self.query_interval = self.spec.query_interval
            self._next_query = now if self.spec.querier else None
        if not self.is_querier or self._next_query is None or now < self._next_query:
            return []
        if self._startup_left > 1:
            self._startup_left -= 1
            self._next_query = now + self.spec.startup_query_interval
        else:
            self._startup_left = 0
            self._next_query = now + self.spec.query_interval
        return [self.general_query()]

    def general_query(self) -> Query:
        """The general query this querier sends (RFC 3376 section 4.1)."""
        spec = self.spec
        if spec.version == 2:
            return Query(version=2, group=0, max_resp=spec.query_response_interval)
        return Query(
            version=3,
            group=0,
            max_resp=spec.query_response_interval,
            qrv=spec.robustness,
            qqi=round(spec.query_interval),
        )

    def next_timer(self) -> float | None:
        """When `poll` has something to do next, or None."""
        query = self._next_query if self.is_querier else None
        times = [t for t in (self._other_until, query) if t is not None]
        return min(times) if times else None
