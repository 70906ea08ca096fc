"""The eBPF reference of `make bench`: xdp_broadcast.bpf.c attached to IN, broadcasting to
OUT1 and OUT2, until SIGTERM (`python -m tools.bench.xdp_ref OBJECT IN OUT1 OUT2`).

Attached through a link this process owns: when it ends, the kernel detaches the program.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

from rawfwd.io import bpf


def main() -> None:
    obj_path, ingress, *egress = sys.argv[1:]
    with bpf.BpfObject(Path(obj_path)) as obj:
        devices = obj.map("egress")
        for name in egress:
            index = socket.if_nametoindex(name).to_bytes(4, sys.byteorder)
            devices.update(index, index)  # devmap: key and value the ifindex
        link = obj.program("broadcast").attach_xdp(socket.if_nametoindex(ingress))
        print("attached", flush=True)
        try:
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
        finally:
            link.destroy()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
