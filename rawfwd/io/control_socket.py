"""The control socket: `rawfwd show` asks the running instance for what its table shows.

A Unix stream socket, one request line in ("view"), one JSON line out.

The default address is a socket file that only root can create: /run/rawfwd/netns-INODE.sock,
one per network namespace (INODE names the namespace, as /proc/thread-self/ns/net does), in a
directory owned by root with mode 0700. An abstract name like "@rawfwd" can be bound first by
any user of the namespace, which would keep `rawfwd run` from starting and have `rawfwd show`
print what that user chose; a root-only directory rules both out. (A user other than root
gets $XDG_RUNTIME_DIR/rawfwd instead.) The directory must be a real directory owned by that
user and writable by nobody else, or it is refused. An explicit address still works: "@NAME"
is abstract, anything else is a socket file.

The client trusts nothing it did not check: the server must run as root or as the caller's own
user (SO_PEERCRED), and the answer must be JSON with finite numbers; what it prints goes
through `printable`.

The server protects itself too: only root and the daemon's own user get answers
(SO_PEERCRED); at most `_MAX_CONNECTIONS` connections are open at once, and when all are taken
the one that has waited longest for its request line is dropped to make room; a client gets
`_REQUEST_TIMEOUT` seconds to send its request line and `_REPLY_TIMEOUT` seconds to read the
answer; running out of file descriptors or memory pauses accepting instead of ending the
daemon; an exception in the handler becomes an "internal error" answer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from ..errors import RawfwdError

log = logging.getLogger("rawfwd")

#: what `Daemon` binds when given no address (the command line always gives one: see
#: `default_address`); abstract, so any user of the namespace can take it first
DEFAULT_ADDRESS = "@rawfwd"
#: where root's instances put their control socket, one per network namespace
RUN_DIR = Path("/run/rawfwd")
#: numbers in an answer beyond this are not counters or times: the answer is refused
_MAX_NUMBER = 2**64
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


def default_address(*, create: bool = False) -> str:
    """The control socket of this network namespace, in a directory only we can write.

    `create` (for `rawfwd run`) makes the directory if it is missing; `rawfwd show` only
    checks it. Either way a directory someone else could have prepared is refused.
    """
    directory = _default_dir()
    _check_private_dir(directory, create=create)
    return str(directory / f"netns-{_netns_inode()}.sock")


def _default_dir() -> Path:
    """/run/rawfwd for root; for another user, rawfwd in their own runtime directory."""
    if os.geteuid() == 0:
        return RUN_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not runtime.startswith("/"):
        raise RawfwdError(
            f"no default control socket for uid {os.geteuid()}: XDG_RUNTIME_DIR is not set "
            "(give --control-socket)"
        )
    return Path(runtime) / "rawfwd"


def _check_private_dir(directory: Path, *, create: bool) -> None:
    """Refuse a directory that another user owns or could write, or a symbolic link.

    A directory that does not exist is fine when not creating: nothing listens there.
    """
    if create:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise RawfwdError(
                f"cannot create {directory}: {exc.strerror} (give --control-socket)"
            ) from None
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise RawfwdError(f"{directory}: {exc.strerror}") from None
    uid = os.geteuid()
    refused = f"refusing to use {directory} for the control socket"
    if stat.S_ISLNK(st.st_mode):
        raise RawfwdError(f"{refused}: it is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        raise RawfwdError(f"{refused}: it is not a directory")
    if st.st_uid != uid:
        owner = "root" if uid == 0 else f"uid {uid}"
        raise RawfwdError(f"{refused}: it belongs to uid {st.st_uid}, not {owner}")
    if st.st_mode & 0o022:
        raise RawfwdError(
            f"{refused}: others may write to it (mode {stat.S_IMODE(st.st_mode):04o}, want 0700)"
        )


def _netns_inode() -> int:
    """What tells this network namespace from others (the thread's: `in_netns` moves one)."""
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino
    except OSError as exc:
        raise RawfwdError(
            f"cannot tell which network namespace this is (/proc/thread-self/ns/net: "
            f"{exc.strerror}): give --control-socket"
        ) from None


async def serve(
    address: str,
    handler: Callable[[str], dict[str, Any]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer requests on `address` until cancelled; started() once it is listening.

    A socket file left by an instance that died is replaced; one that answers means another
    instance is running (RawfwdError). Only the file this call made is removed at the end.
    """
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ours: int | None = None  # the inode of the socket file we made
    try:
        await _bind(sock, address)
        if not address.startswith("@"):
            with contextlib.suppress(OSError):
                ours = os.lstat(address).st_ino
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
        if ours is not None:
            with contextlib.suppress(OSError):
                if os.lstat(address).st_ino == ours:
                    os.unlink(address)


async def _bind(sock: trio.socket.SocketType, address: str) -> None:
    """Bind to `address`, taking over a socket file nobody listens on any more."""
    path = _sockaddr(address)
    try:
        await sock.bind(path)
        return
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise RawfwdError(f"control socket {address}: {exc.strerror or exc}") from None
    in_use = RawfwdError(
        f"control socket {address} is in use: another rawfwd runs in this network "
        "namespace (give this one --control-socket)"
    )
    if address.startswith("@") or _answers(address):
        raise in_use
    try:
        if not stat.S_ISSOCK(os.lstat(address).st_mode):
            raise RawfwdError(f"control socket {address}: a file that is not a socket is there")
        os.unlink(address)  # left over by an instance that died: take it over
        await sock.bind(path)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # another instance took it over just now
            raise in_use from None
        raise RawfwdError(f"control socket {address}: {exc.strerror or exc}") from None


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
    cred = _peer_cred(conn)
    return None if cred is None else cred[1]


def _peer_cred(conn: trio.socket.SocketType | socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the other end: for a server, as they were when it called listen()."""
    try:
        pid, uid, _ = _UCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
    except (OSError, struct.error):
        return None
    return int(pid), int(uid)


def _check_server(address: str, cred: tuple[int, int] | None, me: int) -> None:
    """Trust a server run by root or by `me` only: anyone else may have taken the name."""
    if cred is None:
        raise RawfwdError(f"control socket {address}: cannot tell who serves it: not asking")
    pid, uid = cred
    if uid not in (0, me):
        trusted = "root" if me == 0 else f"root or uid {me}"
        raise RawfwdError(
            f"control socket {address} is served by uid {uid} (pid {pid}), not {trusted}: "
            "not asking it (another user took the name?)"
        )


def _answers(address: str) -> bool:
    """Whether something listens at `address`: a live instance (a full backlog counts)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(_sockaddr(address))
        except TimeoutError:
            return True
        except OSError:
            return False
    return True


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1: escape sequences, newlines) as "?".

    What a reply says reaches a terminal only through this: a terminal obeys escape
    sequences, and one line must stay one line.
    """
    return "".join("?" if unicodedata.category(c) == "Cc" else c for c in text)


def request(address: str, what: str = "view") -> dict[str, Any]:
    """Ask the instance at `address`; RawfwdError if there is none, it does not answer, it
    runs as another user (not root), or what it says is not a rawfwd answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_TIMEOUT)
        try:
            sock.connect(_sockaddr(address))
            _check_server(address, _peer_cred(sock), os.geteuid())
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
    reply = _decode(b"".join(chunks))
    if reply is None:
        raise RawfwdError(f"control socket {address}: not a rawfwd answer")
    if "error" in reply:
        raise RawfwdError(f"rawfwd at {address}: {printable(str(reply['error']))[:500]}")
    return reply


def _decode(data: bytes) -> dict[str, Any] | None:
    """The JSON object in `data`; None if it is not one, or has numbers no rawfwd sends
    (NaN, infinities, beyond 2**64: they would break the table's arithmetic)."""
    try:
        reply = json.loads(
            data, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return reply if isinstance(reply, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} in a rawfwd answer")


def _finite(text: str) -> float:
    value = float(text)
    if not abs(value) < _MAX_NUMBER:  # also refuses the infinity that 1e999 becomes
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _bounded(text: str) -> int:
    value = int(text)
    if not abs(value) < _MAX_NUMBER:
        raise ValueError(f"number out of range: {text[:20]}")
    return value
