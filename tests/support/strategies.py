"""Hypothesis strategies for the core's property tests: addresses, IPv4 headers, frames."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from rawfwd.core.wire import ipv4_header

from .frames import udp_frame

if TYPE_CHECKING:
    from rawfwd.control.membership import Membership

#: sources a router may forward from: not 0/8, 127/8, 224/4 or 240/4 (RFC 1812 5.3.7)
unicast = (
    st.integers(min_value=0x01000000, max_value=0xDFFFFFFF)
    .filter(lambda n: n >> 24 != 127)
    .map(lambda n: IPv4Address(n).packed)
)
multicast_int = st.integers(min_value=0xE0000000, max_value=0xEFFFFFFF)
any_addr = st.binary(min_size=4, max_size=4)
options = st.integers(min_value=0, max_value=10).flatmap(
    lambda n: st.binary(min_size=4 * n, max_size=4 * n)
)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A valid IPv4 header (any field values, options included) with a correct checksum."""
    return ipv4_header(
        draw(any_addr),
        draw(any_addr),
        ttl=draw(st.integers(min_value=1, max_value=255)),
        proto=draw(st.integers(min_value=0, max_value=255)),
        payload_len=draw(st.integers(min_value=0, max_value=1400)),
        ident=draw(st.integers(min_value=0, max_value=0xFFFF)),
        frag=draw(st.integers(min_value=0, max_value=0xFFFF)),
        options=draw(options),
        tos=draw(st.integers(min_value=0, max_value=255)),
    )


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    group = IPv4Address(draw(multicast_int))
    source = IPv4Address(draw(unicast))
    return udp_frame(
        str(source),
        str(group),
        ttl=draw(st.integers(min_value=0, max_value=255)),
        payload=draw(st.binary(max_size=64)),
        ident=draw(st.integers(min_value=0, max_value=0xFFFF)),
        frag=draw(st.integers(min_value=0, max_value=0xFFFF)),
        options=draw(options),
        padding=draw(st.binary(max_size=8)),
    )


def igmp_steps(groups: list[int], sources: list[int]) -> st.SearchStrategy[tuple[object, ...]]:
    """What can happen to an IGMP router's membership: a v3 record, an old (v1/v2) report or
    leave, a query, or time passing."""
    from rawfwd.control.igmp import RecordType

    return st.one_of(
        st.tuples(
            st.just("record"),
            st.sampled_from(list(RecordType)),
            st.sampled_from(groups),
            st.frozensets(st.sampled_from(sources), max_size=4),
        ),
        st.tuples(st.just("old"), st.sampled_from([1, 2]), st.sampled_from(groups), st.booleans()),
        st.tuples(
            st.just("query"), st.sampled_from(groups), st.frozensets(st.sampled_from(sources))
        ),
        st.tuples(st.just("wait"), st.floats(min_value=0.0, max_value=300.0)),
    )


def run_igmp_step(membership: Membership, host: int, step: tuple[Any, ...], now: float) -> float:
    """Feed one `igmp_steps` step to `membership` as from `host` at `now` ("wait": run its
    timers at their due times until the wait is over); returns the time after the step."""
    from rawfwd.control.igmp import GroupRecord, Query, Report, V3Report

    if step[0] == "record":
        _, kind, group, sources = step
        membership.on_report(host, V3Report((GroupRecord(kind, group, tuple(sources)),)), now)
    elif step[0] == "old":
        _, version, group, leave = step
        membership.on_report(host, Report(version, group, leave=leave and version == 2), now)
    elif step[0] == "query":
        _, group, sources = step
        membership.on_query(Query(3, group, 1.0, tuple(sources)), now)
    else:
        for _ in range(1000):
            due = membership.next_timer()
            if due is None or due > now + step[1]:
                break
            membership.poll(max(due, now))
        now += step[1]
        membership.poll(now)
    return now
