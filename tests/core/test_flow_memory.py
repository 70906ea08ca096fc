"""What a flow costs (issue 12, item 7): flows going the same way share their egress until
they last (OWN_HEADERS packets), duplicate caches need no index by (source, group), and
the frames that leave are the same whichever form a flow is in."""

from __future__ import annotations

from rawfwd.config.values import FlowSpec
from rawfwd.core import Forwarder
from rawfwd.core.forwarder import OWN_HEADERS

from ..support.forwarding import SRC, R, egresses, flow
from ..support.frames import expected_forward, make_config, route, udp_frame


def _router(**kwargs: object) -> Forwarder:
    return Forwarder(make_config(route("eth0", "239.0.0.0/8", ["eth1", "eth2"]), **kwargs))  # type: ignore[arg-type]


def _flows(fwd: Forwarder) -> list[object]:
    return list(fwd._flows)  # white box: the memory a flow holds is what is tested


def test_flows_of_different_groups_share_one_egress() -> None:
    fwd = _router()
    for n in range(50):
        fwd.handle_frame("eth0", udp_frame(SRC, f"239.1.{n}.1", ident=n), 1.0)
    shared = {id(f.egress) for f in fwd._flows}
    assert len(_flows(fwd)) == 50
    assert len(shared) == 1


def test_frames_are_the_same_before_and_after_a_flow_gets_its_own_headers() -> None:
    fwd = _router()
    group = "239.9.8.7"
    for n in range(OWN_HEADERS + 3):
        frame = udp_frame(SRC, group, ident=n, ttl=9)
        out = fwd.handle_frame("eth0", frame, 1.0 + n)
        assert egresses(out) == ["eth1", "eth2"]
        for t in out:
            assert t.frame == expected_forward(frame, t.egress, group)
    other = udp_frame(SRC, "239.9.8.8", ident=1)
    fwd.handle_frame("eth0", other, 50.0)
    lasting, short = fwd._flows
    assert lasting.egress is not short.egress  # the lasting flow's own, whole headers
    assert [e.eth[:6] for e in lasting.egress] == [b"\x01\x00\x5e\x09\x08\x07"] * 2


def test_a_mac_change_reaches_a_flow_with_headers_of_its_own() -> None:
    fwd = Forwarder(make_config(route("eth0", "239.0.0.0/8", ["eth1"])), live=True)
    for name in ("eth0", "eth1"):
        fwd.set_link(name, up=True, mac=bytes((2, 0, 0, 0, 0, 1 + len(name))))
    group = "239.9.8.7"
    for n in range(OWN_HEADERS + 1):
        fwd.handle_frame("eth0", udp_frame(SRC, group, ident=n), 1.0)
    new_mac = bytes.fromhex("02aabbccddee")
    fwd.set_link("eth1", mac=new_mac)
    frame = udp_frame(SRC, group, ident=999)
    (sent,) = fwd.handle_frame("eth0", frame, 2.0)
    assert sent.frame[:12] == b"\x01\x00\x5e\x09\x08\x07" + new_mac
    assert sent.frame[14:] == expected_forward(frame, "eth1", group)[14:]


def test_duplicate_caches_stay_bounded_as_flows_come_and_go() -> None:
    fwd = _router(flows=FlowSpec(max_flows=50))
    for n in range(5000):
        fwd.handle_frame("eth0", udp_frame(SRC, f"239.{n >> 8}.{n & 255}.1", ident=n), 1.0)
    table = fwd._dedup
    assert len(_flows(fwd)) == 50
    assert len(table) == 50  # one per live (source, group)
    assert len(table._order) <= 2 * len(table) + 64  # the queue keeps few it no longer uses


def test_one_cache_per_source_and_group_across_interfaces() -> None:
    """The same packet heard on two MANET interfaces is one packet (RFC 6621 section 6),
    found through the sibling flow now that no index by (source, group) is kept."""
    fwd = Forwarder(make_config(route("eth0", "239.0.0.0/8", ["eth2"]), manet=["eth0", "eth1"]))
    frame = udp_frame("10.9.9.9", "239.3.3.3", ident=5)
    first = fwd.handle_frame("eth0", frame, 1.0)
    again = fwd.handle_frame("eth1", frame, 1.1)
    assert first != ()
    assert again == ()
    assert dict(flow(fwd.snapshot(2.0), "eth1", "10.9.9.9", "239.3.3.3").drops) == {R.DUPLICATE: 1}
    a, b = fwd._flows
    assert a.dedup is b.dedup
    assert len(fwd._dedup) == 1
