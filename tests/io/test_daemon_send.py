"""The live shell's send path without sockets: a batch's copies go to each interface in one
`send_many`, and a send that fails midway loses only what it must (ENOBUFS keeps the rest
in order for the flusher; a frame the link refuses is counted and the rest still go)."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

from rawfwd.config.load import load_config
from rawfwd.io.daemon import Daemon
from rawfwd.io.packet import Batch, PacketSocket

from ..support.forwarding import interpreted_only
from ..support.frames import make_config, route, udp_frame

SRC, GROUP = "10.0.0.5", "239.1.2.3"


class ScriptedSocket:
    """Takes frames until the frame numbered in `fail_at` comes, which fails with its errno."""

    truncated = 0

    def __init__(self, fail_at: dict[int, int]) -> None:
        self.fail_at = dict(fail_at)
        self.sent: list[bytes] = []
        self.flushes = 0
        self.offered = 0

    def send_many(self, frames: Sequence[bytes]) -> tuple[int, OSError | None]:
        for i, frame in enumerate(frames):
            code = self.fail_at.pop(self.offered, None)
            self.offered += 1
            if code is not None:
                return i, OSError(code, "scripted")
            self.sent.append(frame)
        return len(frames), None

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def flush(self) -> None:
        self.flushes += 1


def _daemon(fail_at: dict[int, int]) -> tuple[Daemon, ScriptedSocket]:
    config = make_config(route("eth0", GROUP, "eth1"))
    daemon = Daemon(Path("test.toml"), config, load=load_config, clock=lambda: 1.0)
    sock = ScriptedSocket(fail_at)
    daemon.links["eth1"].sock = sock  # type: ignore[assignment]  # duck-typed stand-in
    return daemon, sock


def _batch(n: int) -> tuple[Batch, list[bytes]]:
    frames = [udp_frame(SRC, GROUP, ident=i, payload=b"p%d" % i) for i in range(n)]
    return Batch(frames, []), frames


def _ids(frames: Sequence[bytes]) -> list[int]:
    return [int.from_bytes(f[18:20], "big") for f in frames]


def test_a_batch_goes_out_in_one_call_and_one_flush() -> None:
    daemon, sock = _daemon({})
    batch, _ = _batch(5)
    daemon._forward("eth0", batch)
    assert _ids(sock.sent) == [0, 1, 2, 3, 4]
    assert sock.flushes == 1
    assert daemon.links["eth1"].send_errors == 0


def test_enobufs_midway_keeps_the_rest_in_order_for_the_flusher() -> None:
    daemon, sock = _daemon({2: errno.ENOBUFS})
    batch, _ = _batch(5)
    daemon._forward("eth0", batch)
    link = daemon.links["eth1"]
    assert _ids(sock.sent) == [0, 1]
    assert _ids(list(link.backlog)) == [2, 3, 4]
    assert link.send_errors == 1
    assert link.tx_dropped == 0


def test_a_frame_too_big_is_lost_alone_and_a_link_down_loses_the_rest_at_once() -> None:
    daemon, sock = _daemon({1: errno.EMSGSIZE, 3: errno.ENETDOWN})
    batch, _ = _batch(6)
    daemon._forward("eth0", batch)
    link = daemon.links["eth1"]
    assert _ids(sock.sent) == [0, 2]
    assert not link.backlog
    assert link.send_errors == 2  # one per failure, not one per frame lost
    assert link.tx_dropped == 4  # frame 1, and 3 to 5 with the link down
    assert sock.offered == 4  # nothing more was tried once the link refused


@interpreted_only  # builds a PacketSocket without a socket: a compiled class refuses it
def test_packet_socket_send_many_stops_at_the_first_error() -> None:
    class Refusing:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def send(self, frame: bytes) -> None:
            if frame == b"bad":
                raise OSError(errno.EMSGSIZE, "too big")
            self.sent.append(frame)

    sock = PacketSocket.__new__(PacketSocket)
    sock.sock = Refusing()  # type: ignore[assignment]
    sent, exc = sock.send_many([b"a", b"b", b"bad", b"c"])
    assert sent == 2
    assert exc is not None
    assert exc.errno == errno.EMSGSIZE
