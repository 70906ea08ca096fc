"""PIM in the config: `pim = true` with its hello keys per interface, `[pim]` with static
RPs (the longest group match wins); what is wrong is refused with file, line and reason."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from rawfwd.config.toml import parse_toml
from rawfwd.config.values import PimInterfaceSpec

from ..support.configs import PATH, doc, toml_error
from ..support.frames import line_of

PIM_DOC = """\
[interface.up0]
pim = true

[interface.lan0]
pim = true
igmp = true
dr_priority = 10
hello_interval = 10
hello_holdtime = 40

[interface.stub]

[pim]
spt_switchover = "never"
join_prune_interval = 30

[[pim.rp]]
address = "10.0.0.1"

[[pim.rp]]
address = "10.0.0.2"
group = "239.1.0.0/16"
"""


def test_pim_interfaces_and_rps() -> None:
    config = parse_toml(PIM_DOC, PATH)
    up0, lan0, stub = (config.interfaces[n] for n in ("up0", "lan0", "stub"))
    assert up0.pim == PimInterfaceSpec()
    assert up0.pim.holdtime == 105  # 3.5 x 30 s (RFC 7761 section 4.11)
    assert lan0.pim == PimInterfaceSpec(10, 10.0, 40.0)
    assert lan0.pim.holdtime == 40
    assert lan0.igmp is not None
    assert stub.pim is None
    pim = config.pim
    assert (pim.spt_switchover, pim.join_prune_interval) == ("never", 30.0)
    assert [str(rp.address) for rp in pim.rps] == ["10.0.0.1", "10.0.0.2"]
    assert pim.rps[0].group == IPv4Network("224.0.0.0/4")
    assert pim.rps[1].origin is not None
    assert pim.rps[1].origin.line == line_of(PIM_DOC, "[[pim.rp]]", 2)


@pytest.mark.parametrize(
    ("group", "rp"),
    [("239.1.2.3", "10.0.0.2"), ("239.2.0.1", "10.0.0.1"), ("224.1.1.1", "10.0.0.1")],
)
def test_longest_group_match_chooses_the_rp(group: str, rp: str) -> None:
    found = parse_toml(PIM_DOC, PATH).pim.rp_for(int(IPv4Address(group)))
    assert found is not None
    assert str(found.address) == rp


def test_dense_mode_and_state_refresh() -> None:
    """`[pim] mode = "dense"` (RFC 3973), state refresh on by default every 60 s."""
    config = parse_toml(doc('[pim]\nmode = "dense"\n'), PATH)
    assert config.pim.dense
    assert (config.pim.state_refresh, config.pim.state_refresh_interval) == (True, 60)
    text = '[pim]\nmode = "dense"\nstate_refresh = false\nstate_refresh_interval = 30\n'
    config = parse_toml(doc(text), PATH)
    assert (config.pim.state_refresh, config.pim.state_refresh_interval) == (False, 30)
    assert not parse_toml(doc(""), PATH).pim.dense


def test_no_rp_configured() -> None:
    assert parse_toml(doc(""), PATH).pim.rp_for(int(IPv4Address("239.1.1.1"))) is None


@pytest.mark.parametrize(
    ("text", "needle", "reason"),
    [
        (
            "[interface.x]\ndr_priority = 3\n",
            "dr_priority",
            "[interface.x] dr_priority: applies only with pim = true",
        ),
        (
            "[interface.x]\npim = true\ndr_priority = -1\n",
            "dr_priority",
            "[interface.x] dr_priority: must be from 0 to 4294967295, not -1",
        ),
        (
            "[interface.x]\npim = true\nhello_interval = 0.5\n",
            "hello_interval",
            "[interface.x] hello_interval: must be from 1 to 18000 s, not 0.5",
        ),
        (
            "[interface.x]\npim = true\nhello_holdtime = 20\n",
            "hello_holdtime",
            "[interface.x] hello_holdtime: must be longer than hello_interval (30 s) and at "
            "most 65535 s, not 20.0",
        ),
        (
            "[interface.x]\npim = true\nmanet = true\n",
            "pim = true",
            "[interface.x] pim: PIM routes between subnets: not with manet = true (MANET "
            "interfaces flood, an upstream interface is a host there)",
        ),
        (
            '[pim]\nspt_switchover = "sometimes"\n',
            "spt_switchover",
            "[pim] spt_switchover: must be immediate or never, not 'sometimes'",
        ),
        (
            '[pim]\nmodus = "sparse"\n',
            "modus",
            "unknown key 'modus' in [pim] (known: join_prune_interval, mode, rp, "
            "spt_switchover, state_refresh, state_refresh_interval)",
        ),
        (
            '[pim]\nmode = "bidir"\n',
            "mode",
            "[pim] mode: must be sparse or dense, not 'bidir'",
        ),
        (
            '[pim]\nmode = "dense"\nspt_switchover = "never"\n',
            "spt_switchover",
            '[pim] spt_switchover: applies only with mode = "sparse"',
        ),
        (
            '[pim]\nmode = "dense"\n\n[[pim.rp]]\naddress = "10.0.0.1"\n',
            "[pim]",
            '[pim] rp: applies only with mode = "sparse"',
        ),
        (
            "[pim]\nstate_refresh = false\n",
            "state_refresh",
            '[pim] state_refresh: applies only with mode = "dense"',
        ),
        (
            '[pim]\nmode = "dense"\nstate_refresh_interval = 300\n',
            "state_refresh_interval",
            "[pim] state_refresh_interval: must be from 1 to 255, not 300",
        ),
        (
            '[[pim.rp]]\ngroup = "239.0.0.0/8"\n',
            "[[pim.rp]]",
            "[[pim.rp]] #1 needs an 'address' key",
        ),
        (
            '[[pim.rp]]\naddress = "239.1.1.1"\n',
            "address",
            "[[pim.rp]] #1 address: 239.1.1.1 cannot be an RP: a unicast address is needed",
        ),
        (
            '[[pim.rp]]\naddress = "10.0.0.1"\ngroup = "10.0.0.0/8"\n',
            "group",
            "[[pim.rp]] #1 group: 10.0.0.0/8 is not in 224.0.0.0/4",
        ),
        (
            '[[pim.rp]]\naddress = "10.0.0.1"\n\n[[pim.rp]]  # again\naddress = "10.0.0.2"\n',
            "# again",
            "[[pim.rp]] #2: a second RP for 224.0.0.0/4",
        ),
    ],
)
def test_bad_pim_keys_are_refused_with_their_line(text: str, needle: str, reason: str) -> None:
    err = toml_error(text)
    assert err.reason == reason
    assert err.line == line_of(text, needle)
