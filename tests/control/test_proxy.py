"""The IGMP proxy's host side (RFC 4605, RFC 3376 section 5), driven with injected time."""

from __future__ import annotations

from ipaddress import IPv4Address

from rawfwd.control.igmp import GroupRecord, RecordType, V3Report, build
from rawfwd.control.membership import Mode
from rawfwd.control.proxy import UpstreamHost, changes, merge

R = RecordType
G = int(IPv4Address("239.1.1.1"))
S1, S2 = int(IPv4Address("10.0.0.1")), int(IPv4Address("10.0.0.2"))


def records(host: UpstreamHost, now: float) -> list[tuple[RecordType, tuple[int, ...]]]:
    out = []
    for _, message in host.poll(now):
        assert isinstance(message, V3Report)
        out.extend((r.kind, r.sources) for r in message.records)
    return out


def test_merge_follows_rfc_3376_section_3_2() -> None:
    inc, exc = Mode.INCLUDE, Mode.EXCLUDE
    assert merge([(inc, frozenset({S1})), (inc, frozenset({S2}))]) == (inc, {S1, S2})
    assert merge([(exc, frozenset({S1, S2})), (exc, frozenset({S2}))]) == (exc, {S2})
    assert merge([(exc, frozenset({S1, S2})), (inc, frozenset({S2}))]) == (exc, {S1})
    assert merge([]) is None


def test_state_change_records_per_section_5_1() -> None:
    inc, exc = Mode.INCLUDE, Mode.EXCLUDE
    assert changes(None, (exc, frozenset())) == [(R.CHANGE_TO_EXCLUDE, frozenset())]
    assert changes((inc, frozenset({S1})), (inc, frozenset({S2}))) == [
        (R.ALLOW_NEW_SOURCES, {S2}),
        (R.BLOCK_OLD_SOURCES, {S1}),
    ]
    assert changes((exc, frozenset({S1})), (exc, frozenset({S2}))) == [
        (R.ALLOW_NEW_SOURCES, {S1}),
        (R.BLOCK_OLD_SOURCES, {S2}),
    ]


def test_a_change_undone_while_retransmitting_is_undone_upstream() -> None:
    host = UpstreamHost("up")
    host.update(G, (Mode.EXCLUDE, frozenset()), 0.0)
    assert records(host, 0.0) == [(R.CHANGE_TO_EXCLUDE, ())]
    host.update(G, None, 0.2)  # the last member left before the retransmission
    assert records(host, 0.2) == [(R.CHANGE_TO_INCLUDE, ())]
    assert records(host, 0.7) == [(R.CHANGE_TO_INCLUDE, ())]  # its retransmission
    assert records(host, 100.0) == []
    host.update(G, (Mode.INCLUDE, frozenset({S1, S2})), 200.0)
    assert records(host, 200.0) == [(R.ALLOW_NEW_SOURCES, (S1, S2))]
    host.update(G, (Mode.INCLUDE, frozenset({S1})), 200.1)
    # merged with the pending report: S1's retransmission, S2 now blocked (RFC 3376 5.1)
    assert records(host, 200.1) == [(R.ALLOW_NEW_SOURCES, (S1,)), (R.BLOCK_OLD_SOURCES, (S2,))]
    # the retransmission repeats what is still due: S2's change, not a filter mode change
    assert records(host, 300.0) == [(R.BLOCK_OLD_SOURCES, (S2,))]
    assert records(host, 400.0) == []


def test_a_change_undone_before_it_was_sent_sends_nothing() -> None:
    host = UpstreamHost("up")
    host.update(G, (Mode.EXCLUDE, frozenset()), 0.0)
    host.update(G, None, 0.0)
    assert host.poll(0.0) == []
    assert host.next_timer() is None


def test_a_long_source_list_is_split_to_fit_the_mtu() -> None:
    host = UpstreamHost("up")
    sources = frozenset(int(IPv4Address("10.0.0.0")) + n for n in range(1, 1001))
    host.update(G, (Mode.INCLUDE, sources), 0.0)
    reports = [m for _, m in host.poll(0.0)]
    # (1400 - 16) // 4 = 346 sources fill a report's 1400 bytes: 346 + 346 + 308
    assert [len(r.sources) for m in reports for r in m.records] == [346, 346, 308]  # type: ignore[union-attr]
    assert [len(build(m)) for m in reports] == [1400, 1400, 1248]
    sent = [s for m in reports for r in m.records for s in r.sources]  # type: ignore[union-attr]
    assert sorted(sent) == sorted(sources)
    assert {r.kind for m in reports for r in m.records} == {R.ALLOW_NEW_SOURCES}  # type: ignore[union-attr]
    host.update(G, (Mode.EXCLUDE, sources), 10.0)  # EXCLUDE: truncated, not split
    (report,) = [m for _, m in host.poll(10.0)]
    assert isinstance(report, V3Report)
    assert len(build(report)) == 1400  # the 346 sources that fit
    assert report.records == (GroupRecord(R.CHANGE_TO_EXCLUDE, G, report.records[0].sources),)
