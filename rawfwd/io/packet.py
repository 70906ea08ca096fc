"""AF_PACKET sockets: one per interface, receiving IPv4 multicast and sending our copies.

Why these options (packet(7)):
- bound to one interface with ETH_P_ALL, so frames sent by local applications are seen too
  (as PACKET_OUTGOING) while the kernel never hands a packet socket its own transmissions:
  frames we reinject on an interface through its socket do not come back on that socket;
- PACKET_MR_ALLMULTI so the NIC delivers every multicast group without joining each one;
- a classic BPF filter, so only Ethernet IPv4 frames to 224.0.0.0/4 reach user space;
- PACKET_AUXDATA, whose tp_status says when the kernel left the UDP/TCP checksum to be
  finished by hardware (TP_STATUS_CSUMNOTREADY, seen on veth and with offload): such a frame
  must have its checksum completed before it is sent on, or receivers drop it.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import struct
from collections.abc import Sequence
from typing import Final, NamedTuple

from ..core.wire import complete_l4_checksum
from ..errors import NotEthernetError

ETH_P_ALL: Final = 0x0003
SOL_PACKET: Final = 263
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_DROP_MEMBERSHIP: Final = 2
PACKET_MR_ALLMULTI: Final = 2
PACKET_AUXDATA: Final = 8
PACKET_OUTGOING: Final = 4  #: sockaddr_ll.sll_pkttype of frames this host sent
TP_STATUS_CSUMNOTREADY: Final = 1 << 3
SO_ATTACH_FILTER: Final = 26
ARPHRD_ETHER: Final = 1

#: Classic BPF (struct sock_filter: code, jt, jf, k): accept untagged IPv4 to 224.0.0.0/4
#: and IPv6 to ff00::/8. The kernel moves an 802.1Q tag out of the frame before packet
#: sockets see it, so a tagged frame would look like the parent's own traffic (and leak
#: across VLANs, or loop through a configured VLAN device): the ancillary vlan_avail load
#: catches those. Jumps count the instructions they skip.
_FILTER: Final = (
    (0x20, 0, 0, 0xFFFFF030),  # 0: ld vlan_avail    (SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)
    (0x15, 0, 9, 0),  # 1: jeq #0, 2, drop
    (0x28, 0, 0, 12),  # 2: ldh [12]           ethertype
    (0x15, 0, 3, 0x0800),  # 3: jeq #0x800, 4, 7
    (0x30, 0, 0, 30),  # 4: ldb [30]           first octet of the IPv4 destination
    (0x54, 0, 0, 0xF0),  # 5: and #0xf0
    (0x15, 3, 4, 0xE0),  # 6: jeq #0xe0, accept, drop
    (0x15, 0, 3, 0x86DD),  # 7: jeq #0x86dd, 8, drop
    (0x30, 0, 0, 38),  # 8: ldb [38]           first octet of the IPv6 destination
    (0x15, 0, 1, 0xFF),  # 9: jeq #0xff, accept, drop
    (0x06, 0, 0, 0x40000),  # 10: accept: ret #262144 (whole frame)
    (0x06, 0, 0, 0),  # 11: drop: ret #0
)
_AUX: Final = struct.Struct("I")  # tpacket_auxdata.tp_status comes first
_CMSG_SPACE: Final = socket.CMSG_SPACE(20)  # sizeof(struct tpacket_auxdata)


class Batch(NamedTuple):
    """Frames off the wire, in arrival order, ready for the core.

    Frames whose L4 checksum the kernel left for offload (TP_STATUS_CSUMNOTREADY) have it
    completed already: sent on as they were, receivers would drop them.
    """

    frames: list[bytes]
    #: indices in `frames` of those sent by a local application (PACKET_OUTGOING); rare
    outgoing: list[int]


#: the program as the kernel reads it, built once and alive for the process's life: the
#: struct sock_fprog passed to setsockopt points into it (compiled code would free a local
#: buffer right after its last use in Python terms, before the kernel reads it)
_PROGRAM: Final = ctypes.create_string_buffer(
    b"".join(struct.pack("HBBI", *insn) for insn in _FILTER)
)


def _attach_filter(sock: socket.socket) -> None:
    fprog = struct.pack("HL", len(_FILTER), ctypes.addressof(_PROGRAM))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class PacketSocket:
    """A non-blocking AF_PACKET socket bound to one interface, for receiving and sending."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            _attach_filter(sock)
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.bind((ifname, ETH_P_ALL))
            hatype = sock.getsockname()[3]
            if hatype != ARPHRD_ETHER:
                raise NotEthernetError(f"{ifname} is not an Ethernet interface (ARPHRD {hatype})")
            self.ifindex = socket.if_nametoindex(ifname)
            mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_ALLMULTI, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
            # binding to a link that is down leaves ENETDOWN pending: it would fail the
            # first send after the link comes up
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._mreq = mreq
        self.truncated = 0  # frames too long to receive whole (ring slots only)

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, limit: int) -> Batch:
        """Drain up to `limit` frames that are ready now (never blocks).

        An error (ENETDOWN when the link goes down) is raised only if no frame came first;
        the kernel reports it once, so the frames before it are not lost.
        """
        recvmsg = self.sock.recvmsg
        frames: list[bytes] = []
        outgoing: list[int] = []
        for _ in range(limit):
            try:
                data, ancdata, _flags, addr = recvmsg(65535, _CMSG_SPACE)
            except BlockingIOError:
                break
            except OSError:
                if frames:
                    break
                raise
            for level, kind, payload in ancdata:
                if (
                    level == SOL_PACKET
                    and kind == PACKET_AUXDATA
                    and len(payload) >= 4
                    and _AUX.unpack_from(payload)[0] & TP_STATUS_CSUMNOTREADY
                ):
                    data = complete_l4_checksum(data)
            if addr[2] == PACKET_OUTGOING:
                outgoing.append(len(frames))
            frames.append(data)
        return Batch(frames, outgoing)

    def send(self, frame: bytes) -> None:
        """Send one frame on this interface; raises OSError (the shell retries ENOBUFS/EAGAIN)."""
        self.sock.send(frame)

    def send_many(self, frames: Sequence[bytes]) -> tuple[int, OSError | None]:
        """Send `frames` in order until one fails: how many went, and the error if one did.

        Never raises: the caller decides per error what happens to the frames not sent.
        """
        send = self.sock.send
        for i, frame in enumerate(frames):
            try:
                send(frame)
            except OSError as exc:
                return i, exc
        return len(frames), None

    def flush(self) -> None:
        """Nothing to do: every send() went out at once (a ring socket batches instead)."""

    def refresh_mtu(self) -> None:
        """Nothing to do: the kernel checks each send() against the link's MTU (a ring
        socket checks itself, see RingSocket)."""

    def clear_error(self) -> None:
        """Consume an error the kernel left pending (ENETDOWN from a link that went down)."""
        self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def close(self) -> None:
        """Leave all-multicast mode and close (closing alone would also drop the membership)."""
        with contextlib.suppress(OSError):  # the interface is already gone: nothing to leave
            self.sock.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, self._mreq)
        self.sock.close()
