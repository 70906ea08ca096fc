"""rawfwd on every node of an emulated radio network (rawfwd.io.mesh), with the kernel's
own UDP sockets as senders and receivers: flooding reaches everyone, exactly once per relay."""

from __future__ import annotations

import os
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rawfwd.core.wire import ipv4_header
from rawfwd.io.mesh import RadioMesh, address, diamond, grid, line
from rawfwd.io.netns import socket_in

from .lab import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.5.5.5"
PORT = 5000
COUNT = 20
IP_RECVTTL = 12  # linux/in.h; the socket module does not name it
IP_TTL = 2


class Apps:
    """Kernel UDP sockets on the mesh's nodes, closed at the end."""

    def __init__(self, mesh: RadioMesh) -> None:
        self.mesh = mesh
        self.sockets: list[socket.socket] = []

    def receiver(self, node: int) -> socket.socket:
        s = socket_in(self.mesh.ns(node), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        s.bind((GROUP, PORT))
        mreq = socket.inet_aton(GROUP) + socket.inet_aton(address(node))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.settimeout(0.0)
        return s

    def send(self, node: int, payloads: list[bytes], ttl: int = 8) -> None:
        s = socket_in(self.mesh.ns(node), socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address(node)))
        for p in payloads:
            s.sendto(p, (GROUP, PORT))

    def send_raw(self, node: int, payloads: list[bytes], idents: list[int]) -> None:
        """Whole IPv4 packets with the IP IDs given (IP_HDRINCL): what any sender might do."""
        s = socket_in(self.mesh.ns(node), socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sockets.append(s)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address(node)))
        src, dst = socket.inet_aton(address(node)), socket.inet_aton(GROUP)
        for payload, ident in zip(payloads, idents, strict=True):
            udp = struct.pack("!HHHH", PORT, PORT, 8 + len(payload), 0) + payload
            header = ipv4_header(src, dst, ttl=8, proto=17, payload_len=len(udp), ident=ident)
            s.sendto(header + udp, (GROUP, 0))

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def received(sock: socket.socket, want: int, timeout: float = 5.0) -> list[tuple[bytes, int]]:
    """(payload, TTL) of each datagram `sock` got: until `want` came (or `timeout`), then
    for a short while more, so that extra copies would be seen too."""
    got = _take(sock, timeout, want)
    return got + _take(sock, 0.3, None)


def _take(sock: socket.socket, timeout: float, want: int | None) -> list[tuple[bytes, int]]:
    got: list[tuple[bytes, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (want is None or len(got) < want):
        try:
            data, anc, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(4))
        except BlockingIOError:
            time.sleep(0.01)
            continue
        ttls = [int.from_bytes(d[:4], "little") for lv, k, d in anc if (lv, k) == (0, IP_TTL)]
        got.append((data, ttls[0] if ttls else -1))
    return got


def payloads(tag: str) -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(COUNT)]


MeshOf = Callable[[list[tuple[int, int]]], tuple[RadioMesh, Apps]]


@pytest.fixture
def mesh_of(tmp_path: Path) -> Iterator[MeshOf]:
    """Build a mesh with rawfwd on every node; everything is removed after the test."""
    made: list[tuple[RadioMesh, Apps]] = []

    def make(edges: list[tuple[int, int]]) -> tuple[RadioMesh, Apps]:
        mesh = RadioMesh(edges, tmp_path).__enter__()
        apps = Apps(mesh)
        made.append((mesh, apps))
        mesh.start()
        return mesh, apps

    yield make
    for mesh, apps in made:
        apps.close()
        mesh.close()


def relays(mesh: RadioMesh) -> dict[int, int]:
    """Frames each node's rawfwd transmitted on its radio."""
    return {n: mesh.radio(n)["tx_frames"] for n in mesh.nodes}


def test_line_of_four_delivers_once_with_the_ttl_reduced_by_the_hops(mesh_of: MeshOf) -> None:
    mesh, apps = mesh_of(line(4))
    far = apps.receiver(4)
    sent = payloads("line")
    apps.send(1, sent, ttl=8)
    got = received(far, COUNT)
    assert [p for p, _ in got] == sent  # every packet, each exactly once, in order
    assert {ttl for _, ttl in got} == {8 - 2}  # relayed by nodes 2 and 3
    # node 1 hears node 2 relay its packets back: its own, never relayed again
    assert mesh.radio(1)["drops"].get("own_echo") == COUNT
    assert relays(mesh) == {1: 0, 2: COUNT, 3: COUNT, 4: COUNT}


def test_diamond_reaches_the_far_node_and_each_relay_sends_once(mesh_of: MeshOf) -> None:
    mesh, apps = mesh_of(diamond())
    far = apps.receiver(4)
    sent = payloads("diamond")
    apps.send(1, sent)
    got = received(far, 2 * COUNT)  # over 2 and over 3: the host stack keeps both
    assert sorted({p for p, _ in got}) == sorted(sent)
    assert len(got) <= 2 * COUNT
    expected = {1: 0, 2: COUNT, 3: COUNT, 4: COUNT}  # no storm: once per relay
    assert wait_for(lambda: relays(mesh) == expected or None, what=f"relays {expected}")
    for n in (2, 3, 4):
        assert mesh.radio(n)["drops"].get("duplicate", 0) >= COUNT


def test_grid_reaches_everyone_and_loops_do_not_amplify(mesh_of: MeshOf) -> None:
    mesh, apps = mesh_of(grid(3))
    receivers = {n: apps.receiver(n) for n in mesh.nodes if n != 1}
    sent = payloads("grid")
    apps.send(1, sent, ttl=16)
    for n, sock in receivers.items():
        got = {p for p, _ in received(sock, COUNT, timeout=8.0)}
        assert got == set(sent), f"node {n} missed {set(sent) - got}"
    expected = {n: (0 if n == 1 else COUNT) for n in mesh.nodes}
    assert wait_for(lambda: relays(mesh) == expected or None, what=f"relays {expected}")
    total = sum(relays(mesh).values())
    assert total == 8 * COUNT  # every other node relays each packet exactly once


def test_an_application_on_a_relay_reaches_every_other_node(mesh_of: MeshOf) -> None:
    mesh, apps = mesh_of(line(4))
    receivers = {n: apps.receiver(n) for n in (1, 3, 4)}
    sent = payloads("relay app")
    apps.send(2, sent)
    # node 3 hears the packet from 2 and its relay by 4: the host stack keeps both (a
    # packet socket cannot take a frame away from the kernel); 1 and 4 hear one relay each
    for n, copies in ((1, 1), (3, 2), (4, 1)):
        got = [p for p, _ in received(receivers[n], copies * COUNT)]
        assert sorted(got) == sorted(sent * copies), n
    assert mesh.radio(2)["tx_frames"] == 0  # its kernel sent them; rawfwd did not again
    assert mesh.radio(2)["drops"].get("own_echo") == 2 * COUNT  # 1 and 3 relay them back


@pytest.mark.parametrize("ids", ["constant", "random"])
def test_senders_with_constant_or_random_ip_ids(mesh_of: MeshOf, ids: str) -> None:
    _, apps = mesh_of(line(4))
    far = apps.receiver(4)
    sent = payloads(f"ids {ids}")
    rng = random.Random(7)
    idents = [0x1234] * COUNT if ids == "constant" else [rng.randrange(1, 65536) for _ in sent]
    apps.send_raw(1, sent, idents)
    # hash mode tells the packets apart by content, whatever their IDs
    assert [p for p, _ in received(far, COUNT)] == sent
