"""The TPACKET rings on a real veth pair: set up for real (no silent fallback), frames out
through the TX ring and in through the RX ring, and refused frames do not stall the ring."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time

import pytest

from rawfwd.io.ring import RingSocket
from rawfwd.lab.frames import udp_frame
from rawfwd.lab.netns import Lab, in_netns, ip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _frame(n: int, size: int = 0) -> bytes:
    payload = n.to_bytes(4, "big") + bytes(size)
    return udp_frame(socket.inet_aton("10.0.0.5"), socket.inet_aton("239.1.2.3"), payload, ident=n)


def _sysctl(ns: str, key: str, value: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"], check=True)


def _receive(sock: RingSocket, want: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 5
    while len(got) < want and time.monotonic() < deadline:
        batch = sock.receive(64)
        assert batch.outgoing == []  # none of these was sent by this host's applications
        got += batch.frames
        time.sleep(0.01)
    return got


def test_frames_cross_a_veth_pair_through_both_rings() -> None:
    with Lab("rfring") as lab:
        ns = lab.host("X")
        ip("link", "add", "r0", "type", "veth", "peer", "name", "r1", netns=ns)
        for name in ("r0", "r1"):  # no IPv6 neighbour discovery or MLD among the frames
            _sysctl(ns, f"net.ipv6.conf.{name}.disable_ipv6", "1")
        ip("link", "set", "r0", "up", netns=ns)
        ip("link", "set", "r1", "up", netns=ns)
        tx = in_netns(ns, lambda: RingSocket("r0"))
        rx = in_netns(ns, lambda: RingSocket("r1"))
        try:
            frames = [_frame(n) for n in range(100)]
            for frame in frames:
                tx.send(frame)
            with pytest.raises(OSError, match="MTU") as refused:  # over 1500: never queued
                tx.send(_frame(999, size=1600))
            assert refused.value.errno == errno.EMSGSIZE
            tx.send(_frame(100))
            tx.flush()
            got = _receive(rx, 101)
            assert got == [*frames, _frame(100)]
            for n in range(101, 700):  # more than the TX ring holds: it cycles, not stalls
                tx.send(_frame(n))
                if n % 50 == 0:
                    tx.flush()
            tx.flush()
            assert len(_receive(rx, 599)) == 599
            # a batch stops at a frame larger than a slot: the ones before it are queued
            sent, exc = tx.send_many([_frame(700), _frame(701, size=2100), _frame(702)])
            assert (sent, getattr(exc, "errno", None)) == (1, errno.EMSGSIZE)
            tx.flush()
            assert _receive(rx, 1) == [_frame(700)]
            # the link's MTU is read again after a change: what fitted before is refused
            fits = _frame(703, size=1400)
            ip("link", "set", "r0", "mtu", "1400", netns=ns)
            tx.refresh_mtu()
            assert tx.send_many([fits])[1] is not None
            tagged = fits[:12] + b"\x81\x00\x00\x05" + _frame(704, size=1368)[12:]
            assert len(tagged) == 1400 + 14 + 4  # a VLAN tag does not count against the MTU
            ip("link", "set", "r1", "mtu", "1400", netns=ns)
            assert tx.send_many([tagged]) == (1, None)
            tx.flush()
        finally:
            tx.close()
            rx.close()
