"""The duplicate cache (RFC 6621 section 6) against an exact model, with injected time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.config.values import DedupMode, DedupSpec
from rawfwd.core.dedup import DedupPool, DuplicateCache

from ..support.frames import udp_frame

WINDOW = 1.0


def packet(n: int) -> tuple[bytes, bytes]:
    """A frame and its `body` (frame[26:end]) as the forwarder passes them."""
    frame = udp_frame("10.0.0.5", "239.1.2.3", payload=b"p%d" % n, ident=n)
    return frame, frame[26:]


#: events: (which of 8 packets, time step in tenths of the window)
EVENTS = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 25)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_same_answers_as_an_exact_window_while_under_the_bound(
    events: list[tuple[int, int]],
) -> None:
    # Never more than 8 identities, bound 16: the cache must answer exactly like a
    # "first seen within the last WINDOW seconds" model, across generation changes.
    cache = DuplicateCache(DedupSpec(mode=DedupMode.HASH, window=WINDOW, max_entries=16))
    first_seen: dict[int, float] = {}
    now = 100.0
    for which, step in events:
        now += step / 10
        expected = which in first_seen and first_seen[which] + WINDOW > now
        if not expected:
            first_seen[which] = now
        assert cache.seen(*packet(which), now) is expected


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.integers(0, 40))
def test_bounded_and_newest_kept(bound: int, count: int) -> None:
    pool = DedupPool()
    spec = DedupSpec(mode=DedupMode.HASH, window=3600.0, max_entries=bound)
    cache = DuplicateCache(spec, pool)
    for n in range(count):
        assert not cache.seen(*packet(n), 1.0 + n / 1000)
        # two generations of bound // 2 (one at least): the one before the current is full
        generation = max(1, bound // 2)
        held = n + 1 if n < generation else generation + n % generation + 1
        assert len(cache) == held  # so never more than max(bound, 2)
        # the last `bound` packets are always remembered
        last = max(1, bound // 2)
        assert all(cache.seen(*packet(m), 1.5) for m in range(max(0, n + 1 - last), n + 1))
        assert pool.count == len(cache)  # the global count follows every change
    if count:  # the newest packet is always still remembered
        assert cache.seen(*packet(count - 1), 2.0)


def test_expiry_is_from_first_sighting() -> None:
    cache = DuplicateCache(DedupSpec(mode=DedupMode.HASH, window=WINDOW, max_entries=100))
    assert not cache.seen(*packet(1), 10.0)
    assert cache.seen(*packet(1), 10.9)  # a duplicate does not extend the window
    assert not cache.seen(*packet(1), 11.0)  # exactly one window after the first: new
    assert cache.seen(*packet(1), 11.5)


def test_id_mode_ignores_payload() -> None:
    cache = DuplicateCache(DedupSpec(mode=DedupMode.ID, window=WINDOW, max_entries=100))
    one = udp_frame("10.0.0.5", "239.1.2.3", payload=b"one", ident=7)
    two = udp_frame("10.0.0.5", "239.1.2.3", payload=b"two", ident=7, ttl=3)
    other = udp_frame("10.0.0.5", "239.1.2.3", payload=b"one", ident=8)
    assert not cache.seen(one, one[26:], 1.0)
    assert cache.seen(two, two[26:], 1.1)
    assert not cache.seen(other, other[26:], 1.2)
