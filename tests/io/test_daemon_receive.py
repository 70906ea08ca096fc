"""The live shell's receive loop without sockets: a ring that stays full is drained several
batches per wakeup (a wakeup through trio and epoll costs more than a batch of frames),
and a short batch sends the receiver back to wait."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import cast

import pytest
import trio

from rawfwd.config.load import load_config
from rawfwd.io.daemon import BATCH, DRAIN, Daemon
from rawfwd.io.packet import Batch, PacketSocket

from ..support.frames import make_config, route, udp_frame

SRC, GROUP = "10.0.0.5", "239.1.2.3"


class QueuedSocket:
    """Hands out the batches it was given, one per receive; when none are left it closes
    the link (as a link going away does), which ends the receiver."""

    sock = None  # what the receiver waits on: the patched wait_readable ignores it

    def __init__(self, daemon: Daemon, sizes: list[int]) -> None:
        self.daemon = daemon
        frame = udp_frame(SRC, GROUP)
        self.batches = deque(Batch([frame] * n, []) for n in sizes)
        self.limits: list[int] = []

    def receive(self, limit: int) -> Batch:
        self.limits.append(limit)
        if not self.batches:
            self.daemon.links["eth0"].sock = None
            return Batch([], [])
        return self.batches.popleft()


def test_a_full_ring_is_drained_several_batches_per_wakeup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(route("eth0", GROUP, "eth1"))
    daemon = Daemon(Path("test.toml"), config, load=load_config, clock=lambda: 1.0)
    full = [BATCH] * (DRAIN + 1)
    sock = QueuedSocket(daemon, [*full, 3])  # one wakeup's worth and more, then a short one
    link = daemon.links["eth0"]
    link.sock = sock  # type: ignore[assignment]  # duck-typed stand-in
    forwarded: list[tuple[int, int]] = []  # (wakeup, frames) per engine call
    wakeups = 0

    async def wait_readable(_: object) -> None:
        nonlocal wakeups
        wakeups += 1
        await trio.lowlevel.checkpoint()

    def record(name: str, batch: Batch) -> None:
        assert name == "eth0"
        forwarded.append((wakeups, len(batch.frames)))

    monkeypatch.setattr(trio.lowlevel, "wait_readable", wait_readable)
    monkeypatch.setattr(daemon, "_forward", record)
    trio.run(daemon._receive, link, cast(PacketSocket, sock))
    # the first wakeup takes DRAIN full batches; the second the last full one and the
    # short one, then waits; the third finds nothing (and the link closed)
    assert forwarded == [(1, BATCH)] * DRAIN + [(2, BATCH), (2, 3)]
    assert wakeups == 3
    assert sock.limits == [BATCH] * (DRAIN + 3)
