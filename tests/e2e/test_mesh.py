"""rawfwd on every node of an emulated radio network (tools.lab.mesh), with the kernel's
own UDP sockets as senders and receivers: flooding reaches everyone, exactly once per relay."""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rawfwd.core.wire import ipv4_header
from rawfwd.lab.netns import in_netns, socket_in
from tools.lab.mesh import PORT, RadioMesh, address, address6, diamond, grid, line, take

from ..support.lab import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.5.5.5"
COUNT = 20


def send_raw(mesh: RadioMesh, node: int, payloads: list[bytes], idents: list[int]) -> None:
    """Whole IPv4 packets with the IP IDs given (IP_HDRINCL): what any sender might do."""
    with socket_in(mesh.ns(node), socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address(node)))
        src, dst = socket.inet_aton(address(node)), socket.inet_aton(GROUP)
        for payload, ident in zip(payloads, idents, strict=True):
            udp = struct.pack("!HHHH", PORT, PORT, 8 + len(payload), 0) + payload
            header = ipv4_header(src, dst, ttl=8, proto=17, payload_len=len(udp), ident=ident)
            s.sendto(header + udp, (GROUP, 0))


def received(sock: socket.socket, want: int, timeout: float = 5.0) -> list[tuple[bytes, int]]:
    """(payload, TTL) of each datagram `sock` got: until `want` came (or `timeout`), then
    for a short while more, so that extra copies would be seen too."""
    return take(sock, timeout, want) + take(sock, 0.3)


def payloads(tag: str) -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(COUNT)]


MeshOf = Callable[..., RadioMesh]


@pytest.fixture
def mesh_of(tmp_path: Path) -> Iterator[MeshOf]:
    """Build a mesh with rawfwd on every node (`io`: its --io); everything is removed
    after the test."""
    made: list[RadioMesh] = []

    def make(edges: list[tuple[int, int]], io: str = "rings") -> RadioMesh:
        mesh = RadioMesh(edges, tmp_path)
        made.append(mesh)
        mesh.__enter__()
        mesh.start(io)
        return mesh

    yield make
    for mesh in made:
        mesh.close()


def relays(mesh: RadioMesh) -> dict[int, int]:
    """Frames each node's rawfwd transmitted on its radio."""
    return {n: mesh.radio(n)["tx_frames"] for n in mesh.nodes}


def test_line_of_four_delivers_once_with_the_ttl_reduced_by_the_hops(mesh_of: MeshOf) -> None:
    mesh = mesh_of(line(4))
    far = mesh.receiver(4, GROUP)
    sent = payloads("line")
    mesh.send(1, GROUP, sent, ttl=8)
    got = received(far, COUNT)
    assert [p for p, _ in got] == sent  # every packet, each exactly once, in order
    assert {ttl for _, ttl in got} == {8 - 2}  # relayed by nodes 2 and 3
    # node 1 hears node 2 relay its packets back: its own, never relayed again
    assert mesh.radio(1)["drops"].get("own_echo") == COUNT
    assert relays(mesh) == {1: 0, 2: COUNT, 3: COUNT, 4: COUNT}


def test_diamond_reaches_the_far_node_and_each_relay_sends_once(mesh_of: MeshOf) -> None:
    mesh = mesh_of(diamond())
    far = mesh.receiver(4, GROUP)
    sent = payloads("diamond")
    mesh.send(1, GROUP, sent)
    got = received(far, 2 * COUNT)  # over 2 and over 3: the host stack keeps both
    assert sorted({p for p, _ in got}) == sorted(sent)
    assert len(got) <= 2 * COUNT
    expected = {1: 0, 2: COUNT, 3: COUNT, 4: COUNT}  # no storm: once per relay
    assert wait_for(lambda: relays(mesh) == expected or None, what=f"relays {expected}")
    for n in (2, 3, 4):
        assert mesh.radio(n)["drops"].get("duplicate", 0) >= COUNT


def test_with_the_fast_path_each_application_hears_each_packet_once(mesh_of: MeshOf) -> None:
    """The seed's "suppressing duplicates": with --io ebpf the kernel drops a copy heard
    again before any local socket, so the far node's application and the relay's own
    (which hears its neighbour relay the packet back) get each packet once; relaying is
    as without it. The first packet of a flow reaches the engine before its decision
    does: it may be heard twice, the rest never."""
    mesh = mesh_of(diamond(), io="ebpf")
    far, relay = mesh.receiver(4, GROUP), mesh.receiver(2, GROUP)
    mesh.send(1, GROUP, [b"first: decides the flow"])
    for node in (2, 3, 4):
        assert wait_for(
            lambda node=node: any(f["group"] == GROUP for f in mesh.show(node)["flows"]) or None,
            what=f"the flow decided on node {node}",
        )
    take(far, 0.5), take(relay, 0.5)  # the first packet, however often it came
    sent = payloads("fast")
    mesh.send(1, GROUP, sent)
    # each exactly once: the copy over the other relay (far) and node 4 relaying it back
    # (relay) are dropped in the kernel; `received` waits a while for extra copies
    assert sorted(p for p, _ in received(far, COUNT)) == sorted(sent)
    assert sorted(p for p, _ in received(relay, COUNT)) == sorted(sent)
    expected = {1: 0, 2: 1 + COUNT, 3: 1 + COUNT, 4: 1 + COUNT}
    assert wait_for(lambda: relays(mesh) == expected or None, what=f"relays {expected}")


def test_grid_reaches_everyone_and_loops_do_not_amplify(mesh_of: MeshOf) -> None:
    mesh = mesh_of(grid(3))
    receivers = {n: mesh.receiver(n, GROUP) for n in mesh.nodes if n != 1}
    sent = payloads("grid")
    mesh.send(1, GROUP, sent, ttl=16)
    for n, sock in receivers.items():
        got = {p for p, _ in received(sock, COUNT, timeout=8.0)}
        assert got == set(sent), f"node {n} missed {set(sent) - got}"
    expected = {n: (0 if n == 1 else COUNT) for n in mesh.nodes}
    assert wait_for(lambda: relays(mesh) == expected or None, what=f"relays {expected}")
    total = sum(relays(mesh).values())
    assert total == 8 * COUNT  # every other node relays each packet exactly once


def test_an_application_on_a_relay_reaches_every_other_node(mesh_of: MeshOf) -> None:
    mesh = mesh_of(line(4))
    receivers = {n: mesh.receiver(n, GROUP) for n in (1, 3, 4)}
    sent = payloads("relay app")
    mesh.send(2, GROUP, sent)
    # node 3 hears the packet from 2 and its relay by 4: the host stack keeps both (a
    # packet socket cannot take a frame away from the kernel); 1 and 4 hear one relay each
    for n, copies in ((1, 1), (3, 2), (4, 1)):
        got = [p for p, _ in received(receivers[n], copies * COUNT)]
        assert sorted(got) == sorted(sent * copies), n
    assert mesh.radio(2)["tx_frames"] == 0  # its kernel sent them; rawfwd did not again
    assert mesh.radio(2)["drops"].get("own_echo") == 2 * COUNT  # 1 and 3 relay them back


@pytest.mark.parametrize("ids", ["constant", "random"])
def test_senders_with_constant_or_random_ip_ids(mesh_of: MeshOf, ids: str) -> None:
    mesh = mesh_of(line(4))
    far = mesh.receiver(4, GROUP)
    sent = payloads(f"ids {ids}")
    rng = random.Random(7)
    idents = [0x1234] * COUNT if ids == "constant" else [rng.randrange(1, 65536) for _ in sent]
    send_raw(mesh, 1, sent, idents)
    # hash mode tells the packets apart by content, whatever their IDs
    assert [p for p, _ in received(far, COUNT)] == sent


def test_the_example_script_builds_reports_and_cleans_up() -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "radio_mesh.py"
    before = set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    done = subprocess.run(
        [sys.executable, str(script), "--topology", "diamond", "--packets", "3", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line[:4].strip().isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert all(r[3] == "3" for r in rows[1:])  # every node got the 3 packets
    assert int(rows[0][7]) > 0  # the sender heard its own packets relayed back
    after = set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    assert {n for n in after - before if n.startswith("rfmesh")} == set()


IPV6_RECVHOPLIMIT = 51  # linux/in6.h
IPV6_HOPLIMIT = 52
GROUP6 = "ff0e::1:1"


def test_ipv6_on_a_line_of_four_is_delivered_once_with_hop_limit_less_the_hops(
    tmp_path: Path,
) -> None:
    """RFC 6621 over IPv6: flooded by default, duplicates by hash, 8 -> 6 over two relays."""
    with RadioMesh(line(4), tmp_path, ipv6=True) as mesh:
        mesh.start()
        far = socket_in(mesh.ns(4), socket.AF_INET6, socket.SOCK_DGRAM)
        mesh.sockets.append(far)
        index = in_netns(mesh.ns(4), lambda: socket.if_nametoindex("radio0"))
        far.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        far.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        far.bind(("::", PORT))
        mreq = socket.inet_pton(socket.AF_INET6, GROUP6) + struct.pack("@I", index)
        far.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        far.setblocking(False)
        tx = socket_in(mesh.ns(1), socket.AF_INET6, socket.SOCK_DGRAM)
        mesh.sockets.append(tx)
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)
        tx_index = in_netns(mesh.ns(1), lambda: socket.if_nametoindex("radio0"))
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, tx_index)
        tx.bind((address6(1), 0))
        sent = payloads("six")
        for p in sent:
            tx.sendto(p, (GROUP6, PORT))
        hops = (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)
        got = take(far, 5.0, COUNT, hops) + take(far, 0.3, None, hops)  # nothing more may come
        assert [p for p, _ in got] == sent
        assert {hops for _, hops in got} == {8 - 2}
        assert mesh.radio(1)["drops"].get("own_echo") == COUNT
        assert relays(mesh) == {1: 0, 2: COUNT, 3: COUNT, 4: COUNT}
