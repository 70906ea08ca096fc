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

from ..model import DedupMode, DedupSpec
from .wire import ETH_HLEN


def hash_key(frame: bytes, body: bytes) -> int:
    """H-DPD identity: the IPv4 header without TTL and checksum, plus `body`.

    `body` is `frame[26:end]` (addresses, options, payload), which the forwarder slices
    once and reuses for the copies it sends.
    """
    return hash((frame[ETH_HLEN : ETH_HLEN + 8], frame[ETH_HLEN + 9], body))


def id_key(frame: bytes, body: bytes) -> int:
    """I-DPD identity: (src, dst, proto, ID, fragment offset); `body` is not needed."""
    ip = ETH_HLEN
    return hash(
        (
            frame[ip + 12 : ip + 20],
            frame[ip + 9],
            frame[ip + 4 : ip + 6],
            ((frame[ip + 6] & 0x1F) << 8) | frame[ip + 7],
        )
    )


class DuplicateCache:
    """A bounded set of recently seen packet identities with an injected clock.

    A dict (identity -> expiry) answers "seen?" in one probe; a deque of (expiry, identity)
    in insertion order makes expiry and eviction O(1) amortised, oldest first. Every entry
    lives exactly `window` seconds, so with a clock that never goes back the deque is also
    in expiry order. `make bench-core` chose this over cachetools' TTLCache, whose
    per-operation bookkeeping in Python cost several microseconds per packet.
    """

    __slots__ = ("_expires", "_max", "_order", "_window", "key", "spec")

    def __init__(self, spec: DedupSpec) -> None:
        self.spec = spec
        self._window = spec.window
        self._max = spec.max_entries
        self._expires: dict[int, float] = {}
        self._order: deque[tuple[float, int]] = deque()
        self.key = id_key if spec.mode is DedupMode.ID else hash_key

    def seen(self, key: int, now: float) -> bool:
        """True if `key` was recorded within the window; otherwise record it now."""
        expires = self._expires
        until = expires.get(key)
        if until is not None and until > now:
            return True
        order = self._order
        while order and (order[0][0] <= now or len(expires) >= self._max):
            old_until, old_key = order.popleft()
            if expires.get(old_key) == old_until:  # not re-recorded since
                del expires[old_key]
        until = now + self._window
        expires[key] = until
        order.append((until, key))
        return False

    def __len__(self) -> int:
        """Identities remembered, expired ones not yet swept included."""
        return len(self._expires)
