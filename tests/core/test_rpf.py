"""RPF for routes without `from`: [[rpf]] overrides, FIB answers with ipmr's unresolved queue.

The FIB itself is outside the core: the live shell answers `rpf_requests()` with `set_rpf`.
Here the tests play the shell's part, with injected time.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rawfwd.config.toml import parse_toml
from rawfwd.core import DropReason, Forwarder
from rawfwd.core.rpf import UNRESOLVED_HOLD, UNRESOLVED_TIMEOUT
from rawfwd.errors import ConfigError

from ..support.frames import line_of, udp_frame

BASE = """\
[interface.eth0]
mac = "02:00:00:00:00:01"
address = "10.0.0.1/24"
[interface.eth1]
mac = "02:00:00:00:00:02"
address = "10.1.0.1/24"
[interface.eth2]
mac = "02:00:00:00:00:03"

[[route]]
group = "239.1.0.0/16"
to = ["eth2"]
"""
SRC = "10.0.0.5"
SRC_INT = int(IPv4Address(SRC))
GROUP = "239.1.2.3"


def frames(n: int, *, src: str = SRC, start: int = 0) -> list[bytes]:
    return [udp_frame(src, GROUP, ident=start + i, payload=b"p%d" % (start + i)) for i in range(n)]


def drops(fwd: Forwarder, now: float) -> dict[DropReason, int]:
    return dict(fwd.snapshot(now).drops)


def test_replay_uses_connected_interface_as_rpf() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"))
    assert [t.egress for t in fwd.handle_frame("eth0", frames(1)[0], 1.0)] == ["eth2"]
    # the same source arriving on eth1 fails RPF
    assert fwd.handle_frame("eth1", frames(1, start=1)[0], 1.1) == ()
    # a source on no configured network has no route back
    assert fwd.handle_frame("eth0", frames(1, src="192.0.2.9")[0], 1.2) == ()
    assert drops(fwd, 2.0) == {DropReason.WRONG_IF: 1, DropReason.NO_RPF: 1}


def test_static_rpf_overrides_connected_and_fib() -> None:
    text = BASE + '\n[[rpf]]\nprefix = "10.0.0.0/16"\niif = "eth1"\n'
    for live in (False, True):
        fwd = Forwarder(parse_toml(text, "t.toml"), live=live)
        assert [t.egress for t in fwd.handle_frame("eth1", frames(1)[0], 1.0)] == ["eth2"]
        assert fwd.handle_frame("eth0", frames(1, start=1)[0], 1.1) == ()
        assert list(fwd.take_rpf_requests()) == []  # the static entry answered: no FIB lookup


def test_longest_static_rpf_prefix_wins() -> None:
    text = BASE + (
        '\n[[rpf]]\nprefix = "10.0.0.0/8"\niif = "eth1"\n'
        '\n[[rpf]]\nprefix = "10.0.0.0/24"\niif = "eth0"\n'
    )
    fwd = Forwarder(parse_toml(text, "t.toml"), live=True)
    assert fwd.handle_frame("eth0", frames(1)[0], 1.0)
    assert fwd.handle_frame("eth1", frames(1, src="10.9.0.1")[0], 1.0)


def test_fib_lookup_holds_frames_then_releases_them_in_order() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)
    held = frames(UNRESOLVED_HOLD + 2)
    for i, frame in enumerate(held):
        assert fwd.handle_frame("eth0", frame, 1.0 + i * 0.01) == ()
    assert fwd.take_rpf_requests() == [SRC_INT]
    assert list(fwd.take_rpf_requests()) == []  # asked once, not per packet
    # beyond ipmr's hold of 4, frames are dropped as unresolved
    assert drops(fwd, 1.5) == {DropReason.UNRESOLVED: 2}
    out = fwd.set_rpf({SRC_INT: "eth0"}, 2.0)
    assert [t.egress for t in out] == ["eth2"] * UNRESOLVED_HOLD
    # released in arrival order: the payloads carry their index
    assert [t.frame[-2:] for t in out] == [b"p%d" % i for i in range(UNRESOLVED_HOLD)]
    # later packets go straight through
    assert len(fwd.handle_frame("eth0", frames(1, start=50)[0], 2.1)) == 1


def test_fib_answer_other_interface_is_wrong_if_and_none_is_no_rpf() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)
    fwd.handle_frame("eth0", frames(1)[0], 1.0)
    fwd.handle_frame("eth0", frames(1, src="10.0.0.6")[0], 1.0)
    assert sorted(fwd.take_rpf_requests()) == sorted([SRC_INT, int(IPv4Address("10.0.0.6"))])
    assert fwd.set_rpf({SRC_INT: "eth1", int(IPv4Address("10.0.0.6")): None}, 1.5) == []
    assert drops(fwd, 2.0) == {DropReason.WRONG_IF: 1, DropReason.NO_RPF: 1}


def test_unanswered_lookup_times_out_and_is_asked_again() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)
    fwd.handle_frame("eth0", frames(1)[0], 1.0)
    assert fwd.take_rpf_requests() == [SRC_INT]
    later = 1.0 + UNRESOLVED_TIMEOUT + 60.0  # past the timeout and the next sweep
    fwd.handle_frame("eth0", frames(1, start=1)[0], later)
    assert drops(fwd, later) == {DropReason.UNRESOLVED: 1}  # the first frame, held too long
    assert fwd.take_rpf_requests() == [SRC_INT]


def test_route_change_redecides_flows() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)
    fwd.handle_frame("eth0", frames(1)[0], 1.0)
    fwd.set_rpf({SRC_INT: "eth0"}, 1.0)
    assert fwd.rpf_sources() == [SRC_INT]
    fwd.set_rpf({SRC_INT: "eth1"}, 2.0)  # the unicast route toward the source moved
    assert fwd.handle_frame("eth0", frames(1, start=1)[0], 2.1) == ()
    assert len(fwd.handle_frame("eth1", frames(1, start=2)[0], 2.2)) == 1


def test_explicit_from_beats_rpf_route_for_its_interface() -> None:
    text = BASE + '\n[[route]]\nfrom = "eth1"\ngroup = "239.1.0.0/16"\nto = ["eth0"]\n'
    fwd = Forwarder(parse_toml(text, "t.toml"))
    assert [t.egress for t in fwd.handle_frame("eth1", frames(1)[0], 1.0)] == ["eth0"]
    assert [t.egress for t in fwd.handle_frame("eth0", frames(1, start=1)[0], 1.0)] == ["eth2"]


def test_rpf_config_errors() -> None:
    text = BASE + '\n[[rpf]]\nprefix = "10.0.0.0/8"\niif = "eth7"\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.line == line_of(text, "[[rpf]]")
    assert "[[rpf]] 10.0.0.0/8 names interface 'eth7', which is not defined" in err.value.reason
    text = BASE + '\n[[rpf]]\nprefix = "239.0.0.0/8"\niif = "eth0"\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.reason == "[[rpf]] #1: source '239.0.0.0/8' is not a unicast address"
    text = BASE + '\n[[rpf]]\nprefix = "10.0.0.0/8"\n'
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "t.toml")
    assert err.value.reason == "[[rpf]] #1 needs a 'iif' key"


def test_check_describes_rpf_routes() -> None:
    config = parse_toml(BASE, "t.toml")
    assert config.routes[0].describe() == "(*, 239.1.0.0/16) from rpf to eth2"


def test_more_new_sources_than_outstanding_lookups_are_all_asked_in_turn() -> None:
    from rawfwd.core.rpf import MAX_RPF_PENDING

    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)
    sources = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(MAX_RPF_PENDING + 36)]
    for i, src in enumerate(sources):
        fwd.handle_frame("eth0", frames(1, src=src, start=i)[0], 1.0)
    asked = fwd.take_rpf_requests()
    assert len(asked) == MAX_RPF_PENDING
    forwarded = []
    while asked:  # the shell answers each batch; the rest are asked as room frees up
        forwarded += fwd.set_rpf(dict.fromkeys(asked, "eth0"), 2.0)
        asked = fwd.take_rpf_requests()
    assert len(forwarded) == len(sources)  # every held first packet went out
    assert fwd.snapshot(2.0).drops == {}


def test_rpf_route_never_sends_back_out_of_the_arrival_interface() -> None:
    text = BASE.replace('to = ["eth2"]', 'to = ["eth0", "eth1", "eth2"]')
    fwd = Forwarder(parse_toml(text, "t.toml"))
    assert [t.egress for t in fwd.handle_frame("eth0", frames(1)[0], 1.0)] == ["eth1", "eth2"]
    from_eth1 = frames(1, src="10.1.0.7", start=1)[0]
    assert [t.egress for t in fwd.handle_frame("eth1", from_eth1, 1.0)] == ["eth0", "eth2"]


def test_held_frames_are_dropped_after_ipmrs_ten_seconds_not_at_the_next_idle_sweep() -> None:
    fwd = Forwarder(parse_toml(BASE, "t.toml"), live=True)  # idle_timeout 300: sweeps 60 s
    fwd.handle_frame("eth0", frames(1)[0], 1.0)
    assert fwd.take_rpf_requests() == [SRC_INT]
    t = 1.0
    while t < 1.0 + UNRESOLVED_TIMEOUT + UNRESOLVED_TIMEOUT / 4 + 0.5:
        t += 0.5
        fwd.handle_frame("eth0", udp_frame("10.1.0.9", "239.9.9.9"), t)  # time passes
    assert drops(fwd, t).get(DropReason.UNRESOLVED) == 1
    assert fwd.take_rpf_requests() == [SRC_INT]  # and it is asked again
