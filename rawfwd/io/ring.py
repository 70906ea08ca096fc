"""Memory-mapped packet rings (TPACKET_V2): receive and send without a system call per frame.

Why V2 and not V3: a V3 receive block is handed to user space only when it is full or
after tp_retire_blk_tov (at least 1 ms), so at low rates every packet would wait up to that
long; V2 marks each frame ready on its own, so poll() wakes per frame and the latency
target holds, while a busy ring is still drained without system calls.

Layout (linux/if_packet.h): each slot starts with a struct tpacket2_hdr (tp_status, tp_len,
tp_snaplen, tp_mac, tp_net, tp_sec, tp_nsec, vlan tci/tpid), then the struct sockaddr_ll at
TPACKET_ALIGN(32) (whose sll_pkttype says PACKET_OUTGOING), then the frame at tp_mac. The
TX ring takes frames at offset 32 and is flushed with one send() per batch.

Why a virtio-net header on the socket (PACKET_VNET_HDR): without one, the kernel builds a
TX ring frame's skb as 14 bytes copied plus the rest as page fragments pointing into the
ring, and veth must then copy those fragments into freshly allocated pages before it can
hand the skb to the peer (skb_copy_ubufs: a page allocated and freed per frame, about a
tenth of the forwarder's CPU in `make bench`). A header whose hdr_len is the whole frame
tells tpacket_snd to copy the frame into the skb's linear area instead. Received frames are
unaffected: the kernel puts the header before tp_mac, which is where frames are read from.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import socket
import struct
import sys
from collections.abc import Sequence
from typing import Final

from ..core.wire import complete_l4_checksum
from .packet import (
    PACKET_OUTGOING,
    SOL_PACKET,
    TP_STATUS_CSUMNOTREADY,
    Batch,
    PacketSocket,
)

PACKET_RX_RING: Final = 5
PACKET_VERSION: Final = 10
PACKET_TX_RING: Final = 13
PACKET_LOSS: Final = 14
PACKET_VNET_HDR: Final = 15
#: struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, in
#: the host's byte order (vio_le() is the host's endianness for packet sockets)
_VNET: Final = struct.Struct("=BBHHHH")
SIOCGIFMTU: Final = 0x8921
_IFREQ_MTU: Final = struct.Struct("16si12x")
ETH_HLEN: Final = 14
VLAN_HLEN: Final = 4
TPACKET_V2: Final = 1
TP_STATUS_KERNEL: Final = 0
TP_STATUS_USER: Final = 1
TP_STATUS_AVAILABLE: Final = 0
TP_STATUS_SEND_REQUEST: Final = 1
TP_STATUS_WRONG_FORMAT: Final = 4

#: tpacket2_hdr read and written as 32-bit words through a memoryview (a struct call per
#: field set costs several times an item access): 0 tp_status, 1 tp_len, 2 tp_snaplen,
#: 3 tp_mac (low half on a little-endian host) and tp_net
_MAC_SHIFT: Final = 0 if sys.byteorder == "little" else 16
_TX_DATA: Final = 32  # TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)
_PKTTYPE: Final = 32 + 10  # sockaddr_ll.sll_pkttype after the aligned header
_REQ: Final = struct.Struct("IIII")  # tpacket_req: block size, block nr, frame size, frame nr
#: a TX slot's header: tp_status, tp_len, tp_snaplen, the rest (unused on send) zero
_TX_HEAD: Final = struct.Struct(f"III{_TX_DATA - 12}x")


def _enable_vnet_header(sock: socket.socket) -> int:
    """Ask for virtio-net headers (see the module's docstring): their size, or 0 where the
    kernel does not offer them (frames then go out as page fragments, as before)."""
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    except OSError:
        return 0
    return _VNET.size


def _link_mtu(sock: socket.socket, ifname: str) -> int:
    """The interface's MTU (SIOCGIFMTU)."""
    req = _IFREQ_MTU.pack(ifname.encode(), 0)
    return int(_IFREQ_MTU.unpack(fcntl.ioctl(sock.fileno(), SIOCGIFMTU, req))[1])


def _tx_header(length: int, vnet: int) -> bytes:
    """A TX slot's header for a frame of `length` bytes: the tpacket2 header, then, with
    virtio-net headers on, one saying "no offload; copy all `length` bytes linearly"."""
    if not vnet:
        return _TX_HEAD.pack(TP_STATUS_SEND_REQUEST, length, length)
    total = length + vnet
    return _TX_HEAD.pack(TP_STATUS_SEND_REQUEST, total, total) + _VNET.pack(0, 0, length, 0, 0, 0)


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
            self._vnet = _enable_vnet_header(sock)
            self._mtu = _link_mtu(sock, ifname)
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
        #: the rings as 32-bit words and as bytes (released before the map is closed)
        self._words = memoryview(self._map).cast("I")
        self._bytes = memoryview(self._map)
        self._frame = frame_size
        self._rx_n = frames
        self._rx_head = 0
        self._tx_base = frames * frame_size
        self._tx_n = tx_frames
        self._tx_head = 0
        self._tx_pending = 0
        #: TX slot headers by frame length, made once (at most one per length a slot holds)
        self._tx_heads: dict[int, bytes] = {}

    def receive(self, limit: int) -> Batch:
        """Take up to `limit` ready frames from the RX ring and hand the slots back."""
        m, words, octets = self._map, self._words, self._bytes
        size, n = self._frame, self._rx_n
        head = self._rx_head
        frames: list[bytes] = []
        outgoing: list[int] = []
        for _ in range(limit):
            off = head * size
            w = off >> 2
            status = words[w]
            if not status & TP_STATUS_USER:
                break
            length, snaplen = words[w + 1], words[w + 2]
            if snaplen < length:
                self.truncated += 1
            else:
                start = off + ((words[w + 3] >> _MAC_SHIFT) & 0xFFFF)
                data = m[start : start + snaplen]
                if status & TP_STATUS_CSUMNOTREADY:
                    data = complete_l4_checksum(data)
                if octets[off + _PKTTYPE] == PACKET_OUTGOING:
                    outgoing.append(len(frames))
                frames.append(data)
            words[w] = TP_STATUS_KERNEL
            head = head + 1 if head + 1 < n else 0
        self._rx_head = head
        return Batch(frames, outgoing)

    def send(self, frame: bytes) -> None:
        """Put `frame` in the TX ring (sent at the next flush); BlockingIOError if full."""
        _, exc = self.send_many((frame,))
        if exc is not None:
            raise exc

    def send_many(self, frames: Sequence[bytes]) -> tuple[int, OSError | None]:
        """Put `frames` in the TX ring in order until one does not fit: how many did, and
        why the next did not (the ring still full after a flush, or larger than the link's MTU
        or a slot).

        They go out at the next flush. Never raises: the caller decides what becomes of
        the frames not taken.
        """
        done, full = self._put(frames, 0)
        if full:  # the kernel has not sent the oldest slots yet: ask it to, look again
            try:
                self.flush()
            except OSError as exc:
                return done, exc
            done, full = self._put(frames, done)
            if full:
                return done, BlockingIOError(errno.EAGAIN, "TX ring full")
        if done < len(frames):
            return done, OSError(errno.EMSGSIZE, "frame larger than the link's MTU")
        return done, None

    def _put(self, frames: Sequence[bytes], start: int) -> tuple[int, bool]:
        """Copy frames[start:] into free TX slots, marked for sending; stop at a frame too
        large for the link or a slot, or at a slot still in use (then True). Returns where
        it stopped.

        Each slot is written with one copy, its header (status, length, snap length) and
        the frame together: the kernel reads a slot only when flush() asks it to, so the
        order of the writes does not matter, and each separate write through the map
        costs about as much as copying the whole frame."""
        m, words, size, slots, base = self._map, self._words, self._frame, self._tx_n, self._tx_base
        vnet = self._vnet
        limit = min(size - _TX_DATA - vnet, self._mtu + ETH_HLEN)
        heads = self._tx_heads
        head = self._tx_head
        i, full = start, False
        for i in range(start, len(frames)):
            frame = frames[i]
            length = len(frame)
            off = base + head * size
            if length > limit and not self._fits_tagged(frame, size - _TX_DATA - vnet):
                break
            status = words[off >> 2]
            if status != TP_STATUS_AVAILABLE and status != TP_STATUS_WRONG_FORMAT:
                full = True
                break
            header = heads.get(length)
            if header is None:
                header = heads[length] = _tx_header(length, vnet)
            m[off : off + _TX_DATA + vnet + length] = header + frame
            head = head + 1 if head + 1 < slots else 0
        else:
            i = len(frames)
        self._tx_pending += i - start
        self._tx_head = head
        return i, full

    def _fits_tagged(self, frame: bytes, slot: int) -> bool:
        """Whether a frame over the untagged limit is an 802.1Q-tagged one within the MTU
        (the kernel's own rule for packet sockets: the tag does not count)."""
        length = len(frame)
        return (
            length <= slot
            and length <= self._mtu + ETH_HLEN + VLAN_HLEN
            and frame[12:14] == b"\x81\x00"
        )

    def refresh_mtu(self) -> None:
        """Read the link's MTU again (after a link change). With virtio-net headers on, the
        kernel no longer refuses a frame larger than the MTU (it allows for segmentation
        offload), so the ring does: such a frame is refused with EMSGSIZE, as before."""
        with contextlib.suppress(OSError):  # gone: the link watcher closes this socket
            self._mtu = _link_mtu(self.sock, self.ifname)

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
            self._words.release()
            self._bytes.release()
            self._map.close()
        finally:
            super().close()
