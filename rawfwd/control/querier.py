"""The IGMP querier of one interface (RFC 3376 sections 6.6 and 8, RFC 2236 section 3).

Theory of operation:

- At start a router assumes it is the querier and sends `startup_query_count` general
  queries `startup_query_interval` apart (the first at once), then one every
  `query_interval` (RFC 3376 section 8.6-8.7).
- Election (RFC 3376 section 6.6.2): the lowest address on the link is the querier. A
  router that hears a query from a lower address stops querying until it has heard none
  for the other-querier-present interval (robustness x query interval + half the query
  response interval); then it takes over and queries at once. While not the querier it
  adopts the querier's robustness and query interval from v3 queries (section 4.1.6-4.1.7),
  within bounds (`ROBUSTNESS_BOUNDS`, `MAX_QUERY_INTERVAL`): a query can be forged, and
  unbounded values would let one silence us for up to 7 x 31744 s (61.7 hours).
- `querier = false` never queries but still tracks who does.

Pure: time is passed in (`start`, `on_query`, `poll`), `next_timer` says when to call
`poll` again, and what to send comes back as `Query` values for the shell to build.
"""

from __future__ import annotations

from ..config.values import IgmpSpec
from .igmp import Query

#: the querier's settings are the interface's IGMP settings
QuerierSpec = IgmpSpec

#: Robustness adopted from a querier's QRV: at least 2, as RFC 3376 8.1 says it should be
#: (1: one lost report ends a membership), unless we are configured with 1 ourselves; at
#: most 7, the most QRV can say (4.1.6).
ROBUSTNESS_BOUNDS = (2, 7)
#: The longest query interval adopted from a querier's QQIC (4.1.7 can say 31,744 s), unless
#: ours is longer: 8 x the default 125 s (8.2). With robustness 7 one query then silences
#: us for at most 2.1 hours (8.5: 7 x 1024 s + half a response interval), not 61.7.
MAX_QUERY_INTERVAL = 1024.0


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
        #: v3 queries whose QRV or QQI were out of bounds, adopted within them
        self.clamped = 0
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
            self.robustness, self.query_interval = self._adopted(query)
        # RFC 3376 8.5 with the values in use: the querier's, not our configured ones; its
        # response interval is less than its query interval (8.3)
        response = min(query.max_resp, self.query_interval)
        self._other_until = now + self.robustness * self.query_interval + response / 2

    def _adopted(self, query: Query) -> tuple[int, float]:
        """The querier's robustness and query interval (ours where it says none) within
        bounds: see ROBUSTNESS_BOUNDS and MAX_QUERY_INTERVAL. The interval is also at
        least our query response interval: a querier's is less than its query interval
        (RFC 3376 8.3), and our membership interval adds ours to robustness x it (8.4)."""
        spec = self.spec
        robustness = query.qrv or spec.robustness
        interval = float(query.qqi or spec.query_interval)
        low, high = ROBUSTNESS_BOUNDS
        bounded = min(max(robustness, min(low, spec.robustness)), high)
        longest = max(MAX_QUERY_INTERVAL, spec.query_interval)
        bounded_interval = min(max(interval, spec.query_response_interval), longest)
        if (bounded, bounded_interval) != (robustness, interval):
            self.clamped += 1
        return bounded, bounded_interval

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
