"""MANET forwarding (RFC 6621): flooding, relaying, own echoes, local traffic, per-flow caches."""

from __future__ import annotations

import pytest

from rawfwd.config.toml import parse_toml
from rawfwd.core import DropReason, FlowSnapshot, Forwarder, InterfaceSnapshot, Snapshot, Transmit
from rawfwd.errors import ConfigError

from ..support.frames import expected_forward, line_of, rfc1112_mac, udp_frame

R = DropReason
GROUP = "239.1.2.3"
NEIGHBOUR = "10.100.0.2"  # a node of the mesh, not us
US = "10.100.0.1"  # radio0's address
NEIGHBOUR_MAC = bytes.fromhex("02000000aa02")
RADIO0_MAC = bytes.fromhex("020000000001")
RADIO1_MAC = bytes.fromhex("020000000002")
ETH0_MAC = bytes.fromhex("020000000003")

#: the smallest mesh node: one radio, no routes
NODE = f"""
[interface.radio0]
manet = true
mac = "02:00:00:00:00:01"
address = "{US}/24"
"""
#: two radios and a LAN
GATEWAY = (
    NODE
    + """
[interface.radio1]
manet = true
mac = "02:00:00:00:00:02"
address = "10.101.0.1/24"

[interface.eth0]
mac = "02:00:00:00:00:03"
address = "192.168.1.1/24"
"""
)


def node(text: str = NODE) -> Forwarder:
    return Forwarder(parse_toml(text, "node.toml"))


def heard(
    src: str = NEIGHBOUR,
    group: str = GROUP,
    *,
    ttl: int = 8,
    mac: bytes = NEIGHBOUR_MAC,
    n: int = 0,
) -> bytes:
    """A frame a neighbour transmitted: its MAC, packet number `n`."""
    return udp_frame(src, group, ttl=ttl, src_mac=mac, payload=b"packet %d" % n, ident=n)


def out_on(out: list[Transmit]) -> list[str]:
    return [t.egress for t in out]


def flow(snap: Snapshot, iif: str, source: str = NEIGHBOUR, local: bool = False) -> FlowSnapshot:
    (found,) = [f for f in snap.flows if (f.iif, f.source, f.local) == (iif, source, local)]
    return found


def iface(snap: Snapshot, name: str) -> InterfaceSnapshot:
    (found,) = [i for i in snap.interfaces if i.name == name]
    return found


def test_a_radio_alone_relays_on_its_own_interface_once() -> None:
    fwd = node()
    frame = heard()
    out = list(fwd.handle_frame("radio0", frame, 1.0))
    # what RFC 1112/791 say leaves, with radio0's MAC as the source
    expected = rfc1112_mac(GROUP) + RADIO0_MAC + expected_forward(frame, "eth0", GROUP)[12:]
    assert out == [Transmit("radio0", expected)]
    assert out[0].frame[22] == 7
    # the same packet from another relay, later and with less TTL: not again
    again = heard(ttl=5, mac=bytes.fromhex("02000000aa03"))
    assert fwd.handle_frame("radio0", again, 1.5) == ()
    snap = fwd.snapshot(1.5)
    assert flow(snap, "radio0").route == "flood"
    assert flow(snap, "radio0").drops == {R.DUPLICATE: 1}
    radio = iface(snap, "radio0")
    assert (radio.relayed, radio.tx_frames, radio.drops) == (1, 1, {R.DUPLICATE: 1})


def test_ttl_one_is_not_relayed_and_counted() -> None:
    fwd = node()
    assert fwd.handle_frame("radio0", heard(ttl=1), 1.0) == ()
    assert fwd.handle_frame("radio0", heard(ttl=2, n=1), 1.0)  # leaves with TTL 1
    assert iface(fwd.snapshot(1.0), "radio0").drops == {R.TTL: 1}


def test_our_own_transmissions_heard_back_are_own_echoes() -> None:
    fwd = node()
    # a frame from our own MAC (a reflection), and a neighbour relaying a packet we sent
    assert fwd.handle_frame("radio0", heard(mac=RADIO0_MAC), 1.0) == ()
    assert fwd.handle_frame("radio0", heard(src=US, n=1), 1.1) == ()
    snap = fwd.snapshot(1.1)
    assert iface(snap, "radio0").drops == {R.OWN_ECHO: 2}
    assert flow(snap, "radio0", source=US).drops == {R.OWN_ECHO: 1}
    assert iface(snap, "radio0").tx_frames == 0


def test_local_traffic_enters_the_mesh_once_and_its_echo_is_ours() -> None:
    fwd = node(GATEWAY)
    mine = udp_frame(US, GROUP, ttl=8, src_mac=RADIO0_MAC, payload=b"from an app")
    # the kernel has sent it on radio0: rawfwd sends it on the other radio only
    out = list(fwd.handle_frame("radio0", mine, 1.0, outgoing=True))
    assert out_on(out) == ["radio1"]
    # a neighbour relays it back to us, from its own MAC: recognised, never relayed
    echo = udp_frame(US, GROUP, ttl=7, src_mac=NEIGHBOUR_MAC, payload=b"from an app")
    assert fwd.handle_frame("radio0", echo, 1.1) == ()
    snap = fwd.snapshot(1.1)
    assert flow(snap, "radio0", source=US, local=True).forwarded == 1
    assert flow(snap, "radio0", source=US).drops == {R.OWN_ECHO: 1}
    assert iface(snap, "radio0").relayed == 1


@pytest.mark.parametrize("group", [GROUP, "224.0.0.251"])
def test_local_traffic_on_a_lone_radio_is_nothing_more_to_do(group: str) -> None:
    fwd = node(NODE.replace(f'address = "{US}/24"\n', ""))  # no address: echoes by content
    mine = udp_frame(US, group, ttl=8, src_mac=RADIO0_MAC)
    assert fwd.handle_frame("radio0", mine, 1.0, outgoing=True) == ()
    snap = fwd.snapshot(1.0)
    local = flow(snap, "radio0", source=US, local=True)
    assert (local.packets, local.forwarded, local.drops) == (1, 0, {})
    assert snap.drops == {}  # the kernel sent it: nothing was dropped
    # but it is remembered: a neighbour relaying it back is not relayed again
    echo = udp_frame(US, group, ttl=7, src_mac=NEIGHBOUR_MAC)
    assert fwd.handle_frame("radio0", echo, 1.1) == ()


def test_two_radios_flood_each_other_and_a_packet_counts_once_across_them() -> None:
    fwd = node(GATEWAY)
    frame = heard()
    assert out_on(list(fwd.handle_frame("radio0", frame, 1.0))) == ["radio0", "radio1"]
    # the same packet arriving over the other radio is the same packet
    assert fwd.handle_frame("radio1", heard(ttl=6, mac=bytes.fromhex("02000000bb01")), 1.1) == ()
    assert iface(fwd.snapshot(1.1), "radio1").drops == {R.DUPLICATE: 1}
    # the LAN gets nothing without a route
    assert iface(fwd.snapshot(1.1), "eth0").tx_frames == 0


def test_routes_attach_a_lan_both_ways() -> None:
    fwd = node(
        GATEWAY
        + """
[[route]]
from = "eth0"
group = "239.0.0.0/8"
to = ["radio0"]

[[route]]
group = "239.2.0.0/16"
to = ["eth0"]
"""
    )
    lan = udp_frame("192.168.1.20", GROUP, ttl=8, src_mac=bytes.fromhex("02000000cc01"))
    assert out_on(list(fwd.handle_frame("eth0", lan, 1.0))) == ["radio0"]
    # from the mesh: flooded on both radios, and down to the LAN by the from-less route
    # (no RPF on a MANET interface: the FIB knows nothing of the mesh)
    out = list(fwd.handle_frame("radio0", heard(group="239.2.0.5"), 1.1))
    assert sorted(out_on(out)) == ["eth0", "radio0", "radio1"]
    snap = fwd.snapshot(1.1)
    assert flow(snap, "radio0").route == "flood + (*, 239.2.0.0/16) from rpf to eth0"
    assert flow(snap, "radio0").oifs == ("eth0", "radio0", "radio1")
    # what the LAN-to-mesh route covers is flooded in the mesh, not sent back to the LAN
    assert out_on(list(fwd.handle_frame("radio0", heard(n=1), 1.2))) == ["radio0", "radio1"]


def test_a_route_from_elsewhere_does_not_stop_the_flood() -> None:
    fwd = node(
        NODE
        + '[interface.eth0]\n[[route]]\nfrom = "eth0"\ngroup = "239.0.0.0/8"\nto = ["radio0"]\n'
    )
    assert out_on(list(fwd.handle_frame("radio0", heard(), 1.0))) == ["radio0"]


def test_link_local_groups_flood_only_when_named() -> None:
    assert node().handle_frame("radio0", heard(group="224.0.0.251"), 1.0) == ()
    assert node().snapshot(1.0).drops == {}
    lone = node()
    lone.handle_frame("radio0", heard(group="224.0.0.251"), 1.0)
    assert lone.snapshot(1.0).drops == {R.LINK_LOCAL: 1}
    mdns = node(NODE + 'groups = ["224.0.0.251", "239.0.0.0/8"]\n')
    assert out_on(list(mdns.handle_frame("radio0", heard(group="224.0.0.251"), 1.0))) == ["radio0"]
    assert mdns.handle_frame("radio0", heard(group="232.1.1.1"), 1.0) == ()
    assert mdns.snapshot(1.0).drops == {R.NO_ROUTE: 1}


def test_a_martian_source_is_never_flooded() -> None:
    fwd = node(NODE + 'groups = ["224.0.0.0/4", "224.0.0.0/24"]\n')
    assert fwd.handle_frame("radio0", heard(src="0.0.0.0", group="224.0.0.22"), 1.0) == ()
    assert fwd.snapshot(1.0).drops == {R.BAD_SOURCE: 1}


def test_a_busy_flow_cannot_flush_another_flows_duplicates() -> None:
    fwd = node(NODE + "[dedup]\nmax_per_flow = 16\nwindow = 60\n")
    quiet = heard(src="10.100.0.3")
    assert fwd.handle_frame("radio0", quiet, 1.0)
    for n in range(1000):  # one source floods many distinct packets
        fwd.handle_frame("radio0", heard(n=n), 1.0 + n / 1e4)
    # the quiet packet, and the busy flow's last 1000 % 16 in the current generation beside
    # the full one before it: never more than 2 * 16 for one flow
    assert fwd.snapshot(2.0).dedup_entries == 1 + 16 + 1000 % 16
    assert fwd.handle_frame("radio0", quiet, 2.0) == ()  # still known: a duplicate


def test_the_global_bound_holds_over_many_flows() -> None:
    fwd = node(NODE + "[dedup]\nmax_entries = 100\nmax_per_flow = 10\nwindow = 60\n")
    for n in range(2000):
        fwd.handle_frame("radio0", heard(src=f"10.100.{n % 50}.9", n=n), 1.0 + n / 1e4)
        assert fwd.snapshot(1.0).dedup_entries <= 100


def test_flow_snapshots_say_which_flows_are_local() -> None:
    fwd = node(GATEWAY)
    fwd.handle_frame("radio0", udp_frame(US, GROUP, src_mac=RADIO0_MAC), 1.0, outgoing=True)
    (only,) = fwd.snapshot(1.0).flows
    assert only.local
    assert FlowSnapshot.from_json(only.to_json()) == only


@pytest.mark.parametrize(
    ("extra", "needle", "reason"),
    [
        (
            '[interface.eth0]\ngroups = ["239.0.0.0/8"]\n',
            "groups",
            "[interface.eth0] groups: floods only on an interface with manet = true",
        ),
        ('groups = ["10.0.0.0/8"]\n', "groups", "not inside 224.0.0.0/4"),
        ("groups = []\n", "groups", "must be a list of groups or group prefixes"),
        ('groups = ["239.1.1.1", "239.1.1.1"]\n', "groups", "names a group twice"),
        ('[dedup]\nmode = "off"\n', "[interface.radio0]", "loops without duplicate detection"),
        ("[dedup]\nmax_per_flow = 0\n", "max_per_flow", "must be from 1 to 10000000, not 0"),
    ],
)
def test_bad_manet_config_is_refused_with_its_line(extra: str, needle: str, reason: str) -> None:
    text = NODE + extra
    with pytest.raises(ConfigError) as err:
        parse_toml(text, "node.toml")
    assert reason in err.value.reason
    assert err.value.line == line_of(text, needle)


def test_evicting_a_flow_keeps_the_cache_a_new_flow_of_its_packets_needs() -> None:
    fwd = node(GATEWAY + "[flows]\nmax_flows = 1\n")
    assert fwd.handle_frame("radio0", heard(), 1.0)
    # the same packet over the other radio: a new flow evicts the first, same (S,G)
    assert fwd.handle_frame("radio1", heard(mac=bytes.fromhex("02000000bb01")), 1.1) == ()
    assert fwd.snapshot(1.1).flows_evicted == 1


def test_a_reload_keeps_the_live_mac_not_the_configured_one() -> None:
    config = parse_toml(NODE, "node.toml")
    fwd = Forwarder(config, live=True)
    live = bytes.fromhex("02000000beef")
    fwd.set_link("radio0", up=True, mac=live)
    fwd.reconfigure(config)
    out = list(fwd.handle_frame("radio0", heard(), 1.0))
    assert out[0].frame[6:12] == live
    assert fwd.handle_frame("radio0", heard(mac=live, n=1), 1.1) == ()  # our echo, by MAC
