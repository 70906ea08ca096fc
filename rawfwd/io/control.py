"""The control socket: `rawfwd show` asks the running instance for what its table shows.

A Unix stream socket, one request line in ("view"), one JSON line out. The default address
is in the abstract namespace ("@rawfwd"): abstract Unix sockets belong to the network
namespace, so instances in different namespaces never collide and nothing is left on disk.
A path not starting with '@' is a filesystem socket.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import trio

from ..errors import RawfwdError

DEFAULT_ADDRESS = "@rawfwd"
_MAX_REQUEST = 1024
_TIMEOUT = 5.0


def _sockaddr(address: str) -> str:
    return "\0" + address[1:] if address.startswith("@") else address


async def serve(
    address: str,
    handler: Callable[[str], dict[str, Any]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer requests on `address` until cancelled; started() once it is listening."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = _sockaddr(address)
    try:
        try:
            await sock.bind(path)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise RawfwdError(f"control socket {address}: {exc.strerror}") from None
            if not address.startswith("@") and not _answers(address):
                os.unlink(address)  # left over by an instance that died: take it over
                await sock.bind(path)
            else:
                raise RawfwdError(
                    f"control socket {address} is in use: another rawfwd runs in this network "
                    "namespace (give this one --control-socket)"
                ) from None
        sock.listen(16)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                conn, _ = await sock.accept()
                nursery.start_soon(_answer, conn, handler)
    finally:
        sock.close()
        if not address.startswith("@"):
            with contextlib.suppress(OSError):
                os.unlink(address)


async def _answer(conn: trio.socket.SocketType, handler: Callable[[str], dict[str, Any]]) -> None:
    with conn, trio.move_on_after(_TIMEOUT):
        data = b""
        while b"\n" not in data and len(data) < _MAX_REQUEST:
            chunk = await conn.recv(_MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        request = data.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        reply = (json.dumps(handler(request)) + "\n").encode()
        with contextlib.suppress(OSError):  # the client went away: nothing to do
            while reply:
                sent = await conn.send(reply)
                reply = reply[sent:]


def _answers(address: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(_sockaddr(address))
        except OSError:
            return False
    return True


def request(address: str, what: str = "view") -> dict[str, Any]:
    """Ask the instance at `address`; RawfwdError if there is none or it does not answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_TIMEOUT)
        try:
            sock.connect(_sockaddr(address))
            sock.sendall(what.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (FileNotFoundError, ConnectionRefusedError):
            raise RawfwdError(
                f"no rawfwd is running here (nothing at control socket {address} in this "
                "network namespace)"
            ) from None
        except OSError as exc:
            raise RawfwdError(f"control socket {address}: {exc.strerror or exc}") from None
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        raise RawfwdError(f"control socket {address}: not a rawfwd answer") from None
    if not isinstance(reply, dict):
        raise RawfwdError(f"control socket {address}: not a rawfwd answer")
    if "error" in reply:
        raise RawfwdError(f"rawfwd at {address}: {reply['error']}")
    return reply
