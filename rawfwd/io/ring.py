"""Memory-mapped packet rings (TPACKET_V2): receive and send without a system call per frame.

Why V2 and not V3: a V3 receive block is handed to user space only when it is full or
after tp_retire_blk_tov (at least 1 ms), so at low rates every packet would wait up to that
long; V2 marks each frame ready on its own, so poll() wakes per frame and the latency
target holds, while a busy ring is still drained without system calls.

Layout (linux/if_packet.h): each slot starts with a struct tpacket2_hdr (tp_status, tp_len,
tp_snaplen, tp_mac, tp_net, tp_sec, tp_nsec, vlan tci/tpid), then the struct sockaddr_ll at
TPACKET_ALIGN(32) (whose sll_pkttype says PACKET_OUTGOING), then the frame at tp_mac. The
TX ring takes frames at offset 32 and is flushed with one send() per batch.
"""

from __future__ import annotations

import errno
import mmap
import socket
import struct
from typing import Final

from .packet import (
    PACKET_OUTGOING,
    SOL_PACKET,
    TP_STATUS_CSUMNOTREADY,
    PacketSocket,
    Received,
)

PACKET_RX_RING: Final = 5
PACKET_VERSION: Final = 10
PACKET_TX_RING: Final = 13
PACKET_LOSS: Final = 14
TPACKET_V2: Final = 1
TP_STATUS_KERNEL: Final = 0
TP_STATUS_USER: Final = 1
TP_STATUS_AVAILABLE: Final = 0
TP_STATUS_SEND_REQUEST: Final = 1
TP_STATUS_WRONG_FORMAT: Final = 4

_HDR: Final = struct.Struct("IIIHH")  # tp_status, tp_len, tp_snaplen, tp_mac, tp_net
_STATUS: Final = struct.Struct("I")
_SEND: Final = struct.Struct("III")  # tp_status, tp_len, tp_snaplen of a TX slot
_new_tuple: Final = tuple.__new__
_TX_DATA: Final = 32  # TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)
_PKTTYPE: Final = 32 + 10  # sockaddr_ll.sll_pkttype after the aligned header
_REQ: Final = struct.Struct("IIII")  # tpacket_req: block size, block nr, frame size, frame nr


class RingSocket(PacketSocket):
    """A PacketSocket whose receive and send go through mmap'd TPACKET_V2 rings."""

    def __init__(
        self, ifname: str, *, frame_size: int = 2048, frames: int = 2048, tx_frames: int = 512
    ) -> None:
        super().__init__(ifname)
        sock = self.sock
        block = max(frame_size * 32, mmap.PAGESIZE)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            # a frame the kernel refuses (too big for the link) is skipped, not retried
            # forever at the head of the ring; like the version, set before the rings exist
            sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
            rx = _REQ.pack(block, frames * frame_size // block, frame_size, frames)
            tx = _REQ.pack(block, tx_frames * frame_size // block, frame_size, tx_frames)
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, rx)
            sock.setsockopt(SOL_PACKET, PACKET_TX_RING, tx)
            self._map = mmap.mmap(
                sock.fileno(),
                (frames + tx_frames) * frame_size,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except OSError:
            super().close()
            raise
        self._frame = frame_size
        self._rx_n = frames
        self._rx_head = 0
        self._tx_base = frames * frame_size
        self._tx_n = tx_frames
        self._tx_head = 0
        self._tx_pending = 0

    def receive(self, limit: int) -> list[Received]:
        """Take up to `limit` ready frames from the RX ring and hand the slots back."""
        m, size, n = self._map, self._frame, self._rx_n
        head = self._rx_head
        unpack, pack = _HDR.unpack_from, _STATUS.pack_into
        frames: list[Received] = []
        for _ in range(limit):
            off = head * size
            status, length, snaplen, mac, _net = unpack(m, off)
            if not status & TP_STATUS_USER:
                break
            if snaplen < length:
                self.truncated += 1
            else:
                start = off + mac
                frames.append(
                    _new_tuple(
                        Received,
                        (
                            m[start : start + snaplen],
                            m[off + _PKTTYPE] == PACKET_OUTGOING,
                            status & TP_STATUS_CSUMNOTREADY != 0,
                        ),
                    )
                )
            pack(m, off, TP_STATUS_KERNEL)
            head = head + 1 if head + 1 < n else 0
        self._rx_head = head
        return frames

    def send(self, frame: bytes) -> None:
        """Put `frame` in the TX ring (sent at the next flush); BlockingIOError if full."""
        if len(frame) > self._frame - _TX_DATA:
            raise OSError(errno.EMSGSIZE, "frame larger than a ring slot")
        m = self._map
        off = self._tx_base + self._tx_head * self._frame
        status = _STATUS.unpack_from(m, off)[0]
        if status not in (TP_STATUS_AVAILABLE, TP_STATUS_WRONG_FORMAT):
            self.flush()
            status = _STATUS.unpack_from(m, off)[0]
            if status not in (TP_STATUS_AVAILABLE, TP_STATUS_WRONG_FORMAT):
                raise BlockingIOError(errno.EAGAIN, "TX ring full")
        size = len(frame)
        m[off + _TX_DATA : off + _TX_DATA + size] = frame
        # the kernel looks at the slot only when flush() asks it to: order does not matter
        _SEND.pack_into(m, off, TP_STATUS_SEND_REQUEST, size, size)
        self._tx_head = self._tx_head + 1 if self._tx_head + 1 < self._tx_n else 0
        self._tx_pending += 1

    def flush(self) -> None:
        """Ask the kernel to send what the TX ring holds: one system call for the batch."""
        if self._tx_pending:
            self._tx_pending = 0
            try:
                self.sock.send(b"", socket.MSG_DONTWAIT)
            except OSError:
                self._tx_pending = 1  # the frames wait in the ring: the next flush retries
                raise

    def close(self) -> None:
        """Unmap the rings, leave all-multicast mode, close."""
        try:
            self._map.close()
        finally:
            super().close()
