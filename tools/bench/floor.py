"""The floor under any Python forwarder: receive a frame, send it out twice, nothing else.

`make bench` runs this beside rawfwd and the kernel so its figures have a scale: no
parsing, no table, no duplicate check, no TTL patch; one recv_into and two send calls per
frame on plain AF_PACKET sockets. Not a forwarder anyone should use.
"""

from __future__ import annotations

import os
import select
import socket
import sys

ETH_P_ALL = 0x0003


def main() -> None:
    """`python -m tools.bench.floor IN OUT1 OUT2 [CPU]`."""
    ingress, *egress = sys.argv[1:4]
    if len(sys.argv) > 4:
        os.sched_setaffinity(0, {int(sys.argv[4])})
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.bind((ingress, ETH_P_ALL))
    rx.setblocking(False)
    outs = []
    for name in egress:
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((name, 0))
        outs.append(tx.send)
    buf = bytearray(2048)
    view = memoryview(buf)
    recv_into = rx.recv_into
    poll = select.poll()
    poll.register(rx, select.POLLIN)
    out1, out2 = outs
    while True:
        poll.poll()
        while True:
            try:
                n = recv_into(buf)
            except BlockingIOError:
                break
            frame = view[:n]
            # IPv4 to 224.0.0.0/4 or IPv6 to ff00::/8, the only test
            if (n > 30 and buf[12] == 8 and buf[30] & 0xF0 == 0xE0) or (
                n > 38 and buf[12] == 0x86 and buf[38] == 0xFF
            ):
                try:
                    out1(frame)
                    out2(frame)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
