"""Selective relaying on the emulated radio net (tools.lab.mesh): NHDP finds the
neighbours, S-MPR and E-CDS relay sets cut the transmissions of a flood on a 4x4 grid
where each node hears the 8 around it, every node still gets the packets, and when the
source loses its only MPR the relays follow within the validity time."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.mesh import NODE_CONFIG, RadioMesh, grid8

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

GROUP = "239.5.5.7"
PACKETS = 100
HELLO = 1.0  # [nhdp] hello_interval; validity is 3 x that
VALIDITY = 3 * HELLO
_SO_RCVBUFFORCE = 33  # asm-generic/socket.h


@pytest.fixture
def meshes(tmp_path: Path) -> Iterator[list[RadioMesh]]:
    made: list[RadioMesh] = []
    yield made
    for mesh in made:
        mesh.close()


def start(made: list[RadioMesh], tmp: Path, relay: str) -> RadioMesh:
    """A 4x4 grid8 mesh running `relay`; returns once every link is symmetric, which must
    take at most 3 HELLO intervals from the moment every node answers (plus the time one
    look at all 16 nodes takes)."""
    workdir = tmp / relay
    workdir.mkdir()
    mesh = RadioMesh(grid8(4), workdir)
    made.append(mesh)
    mesh.__enter__()
    mesh.start(config_text=f'{NODE_CONFIG}relay = "{relay}"\n[nhdp]\nhello_interval = {HELLO}\n')
    up = time.monotonic()
    while True:
        asked = time.monotonic()
        if mesh.symmetric():
            break
        assert asked - up < 3 * HELLO + 5, "neighbours not symmetric in 3 HELLO intervals"
    look = time.monotonic() - asked
    assert asked - up <= 3 * HELLO + look, f"symmetric after {asked - up:.1f} s"
    return mesh


def deliveries(mesh: RadioMesh, tag: str, count: int, wait: float = 5.0) -> dict[int, int]:
    """Send `count` packets from corner node 1; how many distinct ones each node got
    within `wait` seconds (for all nodes together)."""
    receivers = {n: mesh.receiver(n, GROUP) for n in mesh.nodes if n != 1}
    for sock in receivers.values():  # an application hears every copy: room for them all
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 8 << 20)
    payloads = [f"{tag} {i}".encode() for i in range(count)]
    for i in range(0, count, 10):  # paced: a radio would not take them all at once
        mesh.send(1, GROUP, payloads[i : i + 10], ttl=16)
        time.sleep(0.02)
    wanted = set(payloads)
    heard: dict[int, set[bytes]] = {n: set() for n in receivers}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:  # bounded: until each node has them all
        for n, sock in receivers.items():  # every copy counts once: distinct payloads
            heard[n] |= _ready(sock) & wanted
        if all(len(h) == count for h in heard.values()):
            break
        time.sleep(0.02)
    for sock in receivers.values():
        sock.close()
    return {n: len(h) for n, h in heard.items()}


def _ready(sock: socket.socket) -> set[bytes]:
    """What a non-blocking receiver holds now."""
    out = set()
    while True:
        try:
            out.add(sock.recv(2048))
        except BlockingIOError:
            return out


def test_s_mpr_and_e_cds_reach_every_node_for_far_fewer_transmissions(
    meshes: list[RadioMesh], tmp_path: Path
) -> None:
    sent: dict[str, int] = {}
    for relay in ("flood", "s-mpr", "e-cds"):
        mesh = start(meshes, tmp_path, relay)
        got = deliveries(mesh, relay, PACKETS)
        assert all(n >= 0.98 * PACKETS for n in got.values()), f"{relay}: {got}"
        sent[relay] = mesh.transmissions()
        mesh.close()
    print(f"transmissions for {PACKETS} packets: {sent}")  # shown by pytest -s
    assert sent["flood"] >= 14 * PACKETS  # nearly every node relays every packet
    assert sent["s-mpr"] <= 0.75 * sent["flood"], sent
    assert sent["e-cds"] <= 0.75 * sent["flood"], sent


def test_the_relays_follow_when_the_source_loses_its_only_mpr(
    meshes: list[RadioMesh], tmp_path: Path
) -> None:
    mesh = start(meshes, tmp_path, "s-mpr")
    corner = mesh.neighbors()[1]
    mprs = [n["address"] for n in corner["neighbors"] if n["mpr"]]
    assert mprs == ["10.100.0.6"]  # the diagonal neighbour covers all its 2-hop nodes
    assert min(deliveries(mesh, "before", 10).values()) == 10
    mesh.cut(1, 6)
    cut = time.monotonic()
    recovered = None
    n = 0
    while time.monotonic() - cut < 3 * VALIDITY + 2:
        n += 1
        if min(deliveries(mesh, f"after {n}", 1, wait=0.3).values()) == 1:
            recovered = time.monotonic() - cut
            break
    assert recovered is not None, "delivery did not recover"
    print(f"delivery recovered {recovered:.1f} s after the cut")  # shown by pytest -s
    assert recovered <= 3 * VALIDITY
    now = {x["address"] for x in mesh.neighbors()[1]["neighbors"] if x["mpr"]}
    assert now == {"10.100.0.2", "10.100.0.5"}
