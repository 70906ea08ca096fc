"""A stand-in for a running rawfwd's control socket: answers one request with given bytes."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def one_shot_server(reply: bytes) -> Iterator[str]:
    """A control socket on a fresh abstract name (run by us, so trusted) that answers the
    first request with `reply`; yields its address (`@NAME`)."""
    address = f"@rawfwd-test-{secrets.token_hex(4)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("\0" + address[1:])
        listener.listen(1)
        listener.settimeout(20)  # never a thread left waiting if nobody comes

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(64)
                conn.sendall(reply)

        thread = threading.Thread(target=answer)
        thread.start()
        try:
            yield address
        finally:
            thread.join()
