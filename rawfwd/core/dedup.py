"""Duplicate packet detection (RFC 6621 section 6).

Theory of operation: every packet that passes RPF and may leave (TTL and thresholds
allow a copy) is looked up in a bounded,
time-windowed set of packet identities; a hit means "seen within the window" and the packet
is dropped as a duplicate, whatever TTL it now carries or interface it arrived on. Entries
expire `window` seconds after the first sighting (a duplicate does not extend it) and the
oldest are evicted first when the bound is reached, so memory stays bounded under any load.

Two identities, as in RFC 6621:

- H-DPD (section 6.2.2), `hash`: a hash of the packet's invariant part, the IPv4 header
  without TTL and header checksum (which change hop by hop) plus the whole payload.
  Fragments differ in offset/flags and so are distinct packets.
- I-DPD (section 6.2.1), `id`: (source, destination, protocol, IP identification, fragment
  offset); cheap, but only as good as the sender's choice of IDs.

The clock is injected: callers pass `now` with every check, nothing here reads time.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from ..config.values import DedupMode, DedupSpec


class DedupPool:
    """How many identities all the caches of one forwarder hold: the global bound."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


_FROM_BYTES: Final = int.from_bytes  # bound once (compiled code looks it up per call)
_EMPTY: dict[int, float] = {}  # the generation before the first: never written to


class DuplicateCache:
    """A bounded set of recently seen packet identities of one flow, with an injected clock.

    Two generations of dicts (identity -> time first seen): `cur` holds what was recorded
    since it was started, `prev` the generation before. `cur` is replaced (and `prev`
    dropped whole) after `window` seconds or when `cur` holds `max_per_flow`, so every
    entry of `cur` is still within its window and only `prev` needs a time check. The old
    `prev` is older than the window when it goes by time; when it goes by size, a flow
    still remembers its last `max_per_flow` packets (and never more than twice that). Per
    packet this is two dict probes and one store; `make bench-core` chose it over a dict
    with an expiry deque (a tuple and a deque entry per packet, about 1 us) and over
    cachetools' TTLCache (several microseconds of bookkeeping per packet).
    """

    __slots__ = (
        "_by_id",
        "_cur",
        "_generation",
        "_pool",
        "_prev",
        "_rotate_at",
        "_window",
        "users",
    )

    def __init__(self, spec: DedupSpec, pool: DedupPool | None = None) -> None:
        self._window = spec.window
        #: entries in one generation: two of them must fit in the global bound too
        self._generation = max(1, min(spec.max_per_flow, spec.max_entries // 2))
        self._by_id = spec.mode is DedupMode.ID
        self._pool = pool if pool is not None else DedupPool()
        #: no dict of its own until the first packet (`seen` rotates first): with many
        #: flows, most caches stay empty or are cleared by the global bound
        self._cur: dict[int, float] = _EMPTY
        self._prev = _EMPTY
        self._rotate_at = float("-inf")
        self.users = 0  #: flows (one per arrival interface) sharing this cache

    def seen(self, frame: bytes, body: bytes, now: float) -> bool:
        """True if the packet in `frame` was recorded within the window; else record it now.

        `body` is `frame[26:end]` (addresses, options, payload), which the forwarder slices
        once and reuses for its copies. The identity is a 64-bit hash: two different
        packets share one with odds of about one in 2**64 / entries.
        """
        if self._by_id:  # I-DPD: (src, dst, proto, ID, fragment offset)
            ident_offset = _FROM_BYTES(frame[18:22], "big") & 0xFFFF1FFF  # flags out
            key = hash((body[:8], frame[23], ident_offset))
        else:  # H-DPD: the IPv4 header without TTL (byte 8) and checksum, plus the rest
            key = hash((frame[14:22], frame[23], body))
        return self._check(key, now)

    def seen6(self, frame: bytes, body: bytes, now: float) -> bool:
        """As `seen`, for an IPv6 packet, by hash whatever the mode (RFC 6621 6.1.3: the
        header without hop limit, plus the rest; `body` is `frame[22:end]`). I-DPD for
        IPv6 needs the SMF_DPD option (6.1.1), which rawfwd does not add."""
        return self._check(hash((frame[14:21], body)), now)

    def _check(self, key: int, now: float) -> bool:
        """True if `key` was recorded within the window; else record it now."""
        if now >= self._rotate_at:
            self._rotate(now)
        cur = self._cur
        if key in cur:
            return True
        first = self._prev.get(key)
        if first is not None and first > now - self._window:
            return True
        if len(cur) >= self._generation:
            self._rotate(now)
            cur = self._cur
        cur[key] = now
        self._pool.count += 1
        return False

    def _rotate(self, now: float) -> None:
        """Start a new generation; the one before the current is forgotten."""
        self._pool.count -= len(self._prev)
        self._prev = self._cur if self._cur else _EMPTY
        self._cur = {}
        self._rotate_at = now + self._window

    def clear(self) -> None:
        """Forget everything (the global bound was reached, or the flow went away)."""
        self._pool.count -= len(self._cur) + len(self._prev)
        self._cur = self._prev = _EMPTY
        self._rotate_at = float("-inf")  # the next packet starts a generation (and a dict)

    def __len__(self) -> int:
        """Identities held, expired ones not yet dropped included: the memory in use."""
        return len(self._cur) + len(self._prev)


class DedupTable:
    """The duplicate caches of one forwarder: one per (source, group), shared by the flows
    of every arrival interface (the same packet heard over two radios, or sent by us and
    heard back, is one packet), bounded per flow and, through the pool, in all.

    The caches are kept oldest first in a deque, not a dict by (source, group): the flow
    table finds a flow's sibling already (`attach` takes its cache), and a dict entry per
    flow is memory for nothing. A cache its last flow left stays in the deque, empty, until
    `keep_bound` reaches it or the deque is compacted (at twice the caches in use).
    """

    __slots__ = ("_in_use", "_order", "pool", "spec")

    def __init__(self, spec: DedupSpec) -> None:
        self.spec = spec
        self.pool = DedupPool()
        self._order: deque[DuplicateCache] = deque()
        self._in_use = 0

    def attach(self, sibling: DuplicateCache | None) -> DuplicateCache:
        """The cache for a new flow: `sibling`'s, the cache of a flow of the same (source,
        group) on another interface, if there is one; else a new one."""
        cache = sibling
        if cache is None:
            cache = DuplicateCache(self.spec, self.pool)
            self._order.append(cache)
            self._in_use += 1
            if len(self._order) > 2 * self._in_use + 64:
                self._order = deque(c for c in self._order if c.users > 0 or c is cache)
        cache.users += 1
        return cache

    def detach(self, cache: DuplicateCache) -> None:
        """A flow of `cache` is gone; the cache empties with the last of them."""
        cache.users -= 1
        if cache.users == 0:
            cache.clear()
            self._in_use -= 1

    def __len__(self) -> int:
        """Caches in use."""
        return self._in_use

    def keep_bound(self) -> None:
        """Over `[dedup] max_entries` in all: forget the oldest flows' caches first, down to
        7/8 of the bound, so that this works once per many packets, not per packet."""
        pool, order, bound = self.pool, self._order, self.spec.max_entries
        if pool.count <= bound:
            return
        target = bound - bound // 8
        for _ in range(len(order)):
            cache = order.popleft()
            if cache.users <= 0:
                continue  # its flows are gone: so is its place in the queue
            cache.clear()
            order.append(cache)  # to the back of the queue
            if pool.count <= target:
                return
