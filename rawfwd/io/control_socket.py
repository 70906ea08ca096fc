"""The control socket: `rawfwd show` asks the running instance for what its table shows.

A Unix stream socket, one request line in ("view"), one JSON line out. The default address
is in the abstract namespace ("@rawfwd"): abstract Unix sockets belong to the network
namespace, so instances in different namespaces never collide and nothing is left on disk.
A path not starting with '@' is a filesystem socket.

Anyone in the namespace can connect to an abstract socket, so the server protects itself:
only root and the daemon's own user get answers (SO_PEERCRED); at most `_MAX_CONNECTIONS`
connections are open at once, and when all are taken the one that has waited longest for
its request line is dropped to make room; a client gets `_REQUEST_TIMEOUT` seconds to send
its request line and `_REPLY_TIMEOUT` seconds to read the answer; running out of file
descriptors or memory pauses accepting instead of ending the daemon; an exception in the
handler becomes an "internal error" answer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import trio

from ..errors import RawfwdError

log = logging.getLogger("rawfwd")

DEFAULT_ADDRESS = "@rawfwd"
_MAX_REQUEST = 1024
#: the client (`request`): connecting and sending the request
_TIMEOUT = 5.0
#: the server: how long a client may take to send its request line
_REQUEST_TIMEOUT = 5.0
#: the server: how long a client may take to read the answer (a big table, a busy client);
#: the client waits as long for it
_REPLY_TIMEOUT = 30.0
#: connections served at once (each holds a file descriptor)
_MAX_CONNECTIONS = 16
_BACKLOG = 64
#: accept() errors that mean "out of descriptors or memory": wait a little, then go on
_ACCEPT_PAUSE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: accept() errors that mean "that client went away before we took it": just go on
_ACCEPT_SKIP_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO})
_ACCEPT_PAUSE = 0.1
#: struct ucred (SO_PEERCRED): pid, uid, gid
_UCRED = struct.Struct("iII")

_Handler = Callable[[str], dict[str, Any]]


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
        sock.listen(_BACKLOG)
        task_status.started()
        server = _Server(address, handler)
        async with trio.open_nursery() as nursery:
            while True:
                conn = await server.accept(sock)
                try:
                    await server.make_room()
                except BaseException:
                    conn.close()
                    raise
                nursery.start_soon(server.answer, conn)
    finally:
        sock.close()
        if not address.startswith("@"):
            with contextlib.suppress(OSError):
                os.unlink(address)


class _Server:
    """The per-connection side of `serve`: admission, the exchange, its time limits."""

    def __init__(self, address: str, handler: _Handler) -> None:
        self.address = address
        self.handler = handler
        self.allowed_uids = {0, os.geteuid()}
        self.slots = trio.Semaphore(_MAX_CONNECTIONS)
        #: connections still waiting for their request line, oldest first
        self.reading: dict[trio.socket.SocketType, trio.CancelScope] = {}
        self.starved = False

    async def accept(self, sock: trio.socket.SocketType) -> trio.socket.SocketType:
        """The next connection; out of descriptors or memory, warn once and keep trying."""
        while True:
            try:
                conn, _ = await sock.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_SKIP_ERRNOS:
                    continue
                if exc.errno not in _ACCEPT_PAUSE_ERRNOS:
                    raise
                if not self.starved:
                    log.warning(
                        "control socket %s: cannot accept connections: %s (retrying)",
                        self.address,
                        exc.strerror,
                    )
                    self.starved = True
                await trio.sleep(_ACCEPT_PAUSE)
                continue
            if self.starved:
                log.info("control socket %s: accepting connections again", self.address)
                self.starved = False
            return conn

    async def make_room(self) -> None:
        """Take a slot; when all are taken, drop the client that has waited longest."""
        if self.slots.value == 0 and self.reading:
            oldest = next(iter(self.reading))
            self.reading.pop(oldest).cancel()
        await self.slots.acquire()

    async def answer(self, conn: trio.socket.SocketType) -> None:
        try:
            with conn:
                await self._exchange(conn)
        except OSError as exc:  # the client went away: nothing to do
            log.debug("control socket %s: %s", self.address, exc.strerror or exc)
        except Exception as exc:  # a bug here must not end the server
            log.error("control socket %s: %s: %s", self.address, type(exc).__name__, exc)
        finally:
            self.slots.release()

    async def _exchange(self, conn: trio.socket.SocketType) -> None:
        with trio.move_on_after(_REQUEST_TIMEOUT) as waiting:
            self.reading[conn] = waiting
            try:
                request = await _read_line(conn)
            finally:
                self.reading.pop(conn, None)
        if waiting.cancelled_caught:
            log.debug(
                "control socket %s: no request line in time or too many connections: dropped",
                self.address,
            )
            return
        if request is None:  # the client left without asking
            return
        reply = self._reply(conn, request)
        with trio.move_on_after(_REPLY_TIMEOUT) as sending:
            view = memoryview(reply)
            while view:
                sent = await conn.send(view)
                view = view[sent:]
        if sending.cancelled_caught:
            log.debug(
                "control socket %s: the client did not read the answer in %g s",
                self.address,
                _REPLY_TIMEOUT,
            )

    def _reply(self, conn: trio.socket.SocketType, request: str) -> bytes:
        uid = _peer_uid(conn)
        if uid not in self.allowed_uids:
            log.debug("control socket %s: refused a request from uid %s", self.address, uid)
            return _line({"error": "permission denied"})
        try:
            return _line(self.handler(request))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("control request %.40r failed: %s", request, reason)
            log.debug("control request %.40r failed", request, exc_info=exc)
            return _line({"error": f"internal error: {reason}"})


def _line(answer: dict[str, Any]) -> bytes:
    return (json.dumps(answer) + "\n").encode()


async def _read_line(conn: trio.socket.SocketType) -> str | None:
    """The request line (without a newline if the client stopped early); None if nothing."""
    data = b""
    while b"\n" not in data and len(data) < _MAX_REQUEST:
        chunk = await conn.recv(_MAX_REQUEST)
        if not chunk:
            if not data:
                return None
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("ascii", "replace").strip()


def _peer_uid(conn: trio.socket.SocketType) -> int | None:
    """The user id of the process at the other end (None if the kernel does not say)."""
    try:
        _, uid, _ = _UCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
    except (OSError, struct.error):
        return None
    return int(uid)


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
            deadline = time.monotonic() + _REPLY_TIMEOUT
            while True:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(65536)
                if not chunk:
                    break
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
