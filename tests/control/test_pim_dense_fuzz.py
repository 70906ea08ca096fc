"""PIM-DM cannot be crashed or wedged by what its neighbours send: random sequences of
Join/Prunes, Grafts, Graft-Acks, State Refreshes, Asserts, Hellos (odd holdtimes, TTLs,
intervals), data on any interface and time passing; every timer that comes due moves on
(no timer stays due without progress)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rawfwd.control import pim
from rawfwd.control.pim import Assert, Graft, GroupSet, Hello, JoinPrune, Source, StateRefresh

from .test_pim_dense import GROUP, Router, a, frame_of

NEIGHBOURS = {"eth0": ["10.0.0.2", "10.0.0.3"], "eth1": ["10.1.0.7", "10.1.0.8"],
              "eth2": ["10.2.0.2"]}  # fmt: skip
US = {"eth0": "10.0.0.1", "eth1": "10.1.0.1", "eth2": "10.2.0.1"}
SOURCES = ["10.9.0.5", "10.9.0.6", "10.0.0.5"]

names = st.sampled_from(sorted(NEIGHBOURS))
holds = st.sampled_from([0, 1, 3, 210, 0xFFFE, 0xFFFF])


@st.composite
def events(draw: st.DrawFn) -> tuple[str, str, object]:
    name = draw(names)
    sender = draw(st.sampled_from(NEIGHBOURS[name]))
    source = a(draw(st.sampled_from(SOURCES)))
    upstream = a(draw(st.sampled_from([US[name], sender, "10.0.0.2"])))
    sets = (GroupSet(a(GROUP), joins=(Source(source, sparse=False),)),)
    prunes = (GroupSet(a(GROUP), prunes=(Source(source, sparse=False),)),)
    kind = draw(st.sampled_from(["join", "prune", "graft", "ack", "refresh", "assert",
                                 "hello", "data", "tick"]))  # fmt: skip
    message: object
    if kind == "join":
        message = JoinPrune(upstream, draw(holds), sets)
    elif kind == "prune":
        message = JoinPrune(upstream, draw(holds), prunes)
    elif kind in ("graft", "ack"):
        message = Graft(upstream, sets, ack=kind == "ack")
    elif kind == "refresh":
        message = StateRefresh(a(GROUP), source, a("10.9.0.1"), draw(st.integers(0, 200)),
                               draw(st.integers(0, 50)), 24, draw(st.integers(0, 3)),
                               draw(st.booleans()), False, draw(st.booleans()),
                               draw(st.integers(0, 255)))  # fmt: skip
    elif kind == "assert":
        message = Assert(a(GROUP), source, False, draw(st.integers(0, 200)), 0)
    elif kind == "hello":
        message = Hello(draw(holds), 1, draw(st.integers(0, 3)),
                        state_refresh=draw(st.sampled_from([None, 60])))  # fmt: skip
    elif kind == "data":
        message = ".".join(map(str, source.to_bytes(4, "big")))
    else:
        message = draw(st.floats(0.0, 400.0))
    return kind, name + "|" + sender, message


def bounded_tick(r: Router, until: float) -> None:
    """Router.tick, failing instead of spinning if a due timer never moves on."""
    for _ in range(100_000):
        due = r.engine.next_timer()
        if due is None or due > until:
            r.now = until
            return
        r.now = max(r.now, due)
        r._collect(r.engine.handle_timer(r.now))
    raise AssertionError(f"a timer stays due at {r.now}")


@settings(max_examples=150, deadline=None)
@given(st.lists(events(), max_size=40), st.booleans())
def test_no_sequence_of_messages_crashes_or_wedges_dense_mode(
    sequence: list[tuple[str, str, object]], refresh: bool
) -> None:
    r = Router(refresh=refresh)
    for kind, where, message in sequence:
        name, sender = where.split("|")
        if kind == "tick":
            assert isinstance(message, float)
            bounded_tick(r, r.now + message)
        elif kind == "data":
            assert isinstance(message, str)
            r.data(name, source=message)
        elif kind in ("graft", "ack"):
            assert isinstance(message, Graft)
            r.hear_unicast(sender, US[name], message)
        else:
            assert isinstance(message, pim.Hello | JoinPrune | StateRefresh | Assert)
            r.hear(name, frame_of(sender, message))
        bounded_tick(r, r.now)
    bounded_tick(r, r.now + 1000.0)
    doc = r.engine.pim_json(r.now)
    assert doc is not None
    assert doc["mode"] == "dense"
