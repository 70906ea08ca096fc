"""The control socket under abuse: idle floods, slow clients, failing handlers, big answers.

Clients here are trio sockets in the same run as the server, so most tests use trio's
MockClock with autojump: the 5 s and 30 s limits pass instantly.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from rawfwd.errors import RawfwdError
from rawfwd.io import control_socket as control

Main = Callable[[str], Awaitable[None]]


def _address() -> str:
    return f"@rfctl-test-{secrets.token_hex(4)}"


def _handler(request: str) -> dict[str, Any]:
    if request == "boom":
        raise KeyError("no such thing")
    return {"asked": request}


def _run(
    main: Main,
    handler: Callable[[str], dict[str, Any]] = _handler,
    *,
    mock_clock: bool = True,
) -> None:
    """Run `main(address)` beside a server on a fresh abstract address."""

    async def outer() -> None:
        address = _address()
        async with trio.open_nursery() as nursery:
            await nursery.start(control.serve, address, handler)
            await main(address)
            nursery.cancel_scope.cancel()

    trio.run(outer, clock=trio.testing.MockClock(autojump_threshold=0) if mock_clock else None)


async def _connect(address: str) -> trio.socket.SocketType:
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.connect(control._sockaddr(address))
    return sock


async def _read_all(sock: trio.socket.SocketType) -> bytes:
    data = b""
    while chunk := await sock.recv(65536):
        data += chunk
    return data


async def _ask(address: str, line: bytes = b"view\n") -> Any:
    with await _connect(address) as sock:
        await sock.send(line)
        return json.loads(await _read_all(sock))


def _socket_class() -> type[trio.socket.SocketType]:
    with trio.socket.from_stdlib_socket(socket.socket(socket.AF_UNIX)) as probe:
        return type(probe)


def test_answers_a_request() -> None:
    async def main(address: str) -> None:
        assert await _ask(address) == {"asked": "view"}

    _run(main)


def test_idle_connections_do_not_keep_a_request_waiting() -> None:
    async def main(address: str) -> None:
        idle = [await _connect(address) for _ in range(3 * control._MAX_CONNECTIONS)]
        assert await _ask(address) == {"asked": "view"}
        # answered at once: the oldest idle clients made room, nobody waited for a timeout
        assert trio.current_time() < control._REQUEST_TIMEOUT
        with trio.fail_after(control._REQUEST_TIMEOUT + 1):
            for sock in idle:  # each one dropped, made room or timed out
                assert await sock.recv(16) == b""
                sock.close()
        assert await _ask(address) == {"asked": "view"}

    _run(main)


def test_slow_client_is_dropped_after_the_timeout_without_blocking_others() -> None:
    async def main(address: str) -> None:
        with await _connect(address) as slow:
            await slow.send(b"vi")  # and never the rest of the line
            assert await _ask(address) == {"asked": "view"}
            assert trio.current_time() < 1
            with trio.fail_after(control._REQUEST_TIMEOUT + 1):
                assert await slow.recv(16) == b""
            assert trio.current_time() >= control._REQUEST_TIMEOUT

    _run(main)


def test_handler_exception_gives_an_error_answer_and_the_server_goes_on(
    records: list[logging.LogRecord],
) -> None:
    async def main(address: str) -> None:
        answer = await _ask(address, b"boom\n")
        assert answer == {"error": "internal error: KeyError: 'no such thing'"}
        assert await _ask(address) == {"asked": "view"}

    _run(main)
    errors = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert errors == ["control request 'boom' failed: KeyError: 'no such thing'"]


def test_an_answer_that_cannot_be_encoded_is_an_internal_error() -> None:
    async def main(address: str) -> None:
        answer = await _ask(address)
        assert answer["error"].startswith("internal error: TypeError:")

    _run(main, lambda request: {"what": object()})


def test_big_answer_to_a_slow_reader_is_sent_whole() -> None:
    blob = "x" * 1_000_000

    async def main(address: str) -> None:
        with await _connect(address) as sock:
            await sock.send(b"view\n")
            data = b""
            while chunk := await sock.recv(65536):
                data += chunk
                await trio.sleep(0.5)  # a busy client: ~8 s for the whole answer
        assert trio.current_time() > control._REQUEST_TIMEOUT
        assert json.loads(data) == {"blob": blob}

    _run(main, lambda request: {"blob": blob})


def test_clients_that_never_read_are_dropped_after_the_reply_timeout() -> None:
    blob = "x" * 1_000_000

    async def main(address: str) -> None:
        stuck = []
        for _ in range(control._MAX_CONNECTIONS):  # take every slot, in the sending phase
            sock = await _connect(address)
            await sock.send(b"view\n")
            stuck.append(sock)
        await trio.sleep(1)
        with trio.fail_after(control._REPLY_TIMEOUT + 5):
            assert await _ask(address) == {"blob": blob}  # waits for a free slot
        assert trio.current_time() >= control._REPLY_TIMEOUT
        for sock in stuck:
            sock.close()

    _run(main, lambda request: {"blob": blob})


def test_peers_of_other_users_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def handler(request: str) -> dict[str, Any]:
        asked.append(request)
        return {"asked": request}

    monkeypatch.setattr(control, "_peer_uid", lambda conn: 4242)

    async def main(address: str) -> None:
        assert await _ask(address) == {"error": "permission denied"}

    _run(main, handler)
    assert asked == []


def test_own_user_is_allowed() -> None:
    async def main(address: str) -> None:
        with await _connect(address) as sock:
            peer = trio.socket.from_stdlib_socket(socket.socket(fileno=os.dup(sock.fileno())))
            with peer:
                assert control._peer_uid(peer) == os.geteuid()

    _run(main)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3")
def test_real_unprivileged_user_is_refused() -> None:
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect('\\0' + sys.argv[1][1:]); s.sendall(b'view\\n')\n"
        "print(s.recv(4096).decode(), end='')\n"
    )

    async def main(address: str) -> None:
        done = await trio.to_thread.run_sync(
            lambda: subprocess.run(
                ["/usr/bin/python3", "-c", code, address],
                capture_output=True,
                text=True,
                user=65534,
                group=65534,
                extra_groups=[],
                timeout=20,
                check=False,
            )
        )
        assert json.loads(done.stdout) == {"error": "permission denied"}, done.stderr

    _run(main, mock_clock=False)


def test_accept_out_of_descriptors_pauses_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    kind = _socket_class()
    accept = kind.accept
    failures = [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED]

    async def failing_accept(self: trio.socket.SocketType) -> tuple[trio.socket.SocketType, Any]:
        if failures:
            await trio.lowlevel.checkpoint()
            code = failures.pop(0)
            raise OSError(code, os.strerror(code))
        return await accept(self)

    monkeypatch.setattr(kind, "accept", failing_accept)

    async def main(address: str) -> None:
        assert await _ask(address) == {"asked": "view"}
        assert await _ask(address) == {"asked": "view"}

    _run(main)
    assert failures == []
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per episode, not every 0.1 s
    assert "cannot accept connections: Too many open files" in warnings[0]


def test_request_gets_the_answer_and_errors() -> None:
    async def main(address: str) -> None:
        answer = await trio.to_thread.run_sync(control.request, address, "view")
        assert answer == {"asked": "view"}
        with pytest.raises(RawfwdError, match=r"^rawfwd at @rfctl-\S+: internal error: KeyError"):
            await trio.to_thread.run_sync(control.request, address, "boom")

    _run(main, mock_clock=False)


@pytest.mark.parametrize("where", ["abstract", "path"])
def test_request_without_a_server(where: str, tmp_path: Path) -> None:
    address = _address() if where == "abstract" else str(tmp_path / "rawfwd.sock")
    with pytest.raises(RawfwdError) as caught:
        control.request(address)
    assert str(caught.value) == (
        f"no rawfwd is running here (nothing at control socket {address} in this network namespace)"
    )


def test_request_to_something_else_is_not_a_rawfwd_answer() -> None:
    address = _address()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(control._sockaddr(address))
        listener.listen(1)

        def garbage() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"[1, 2]\n")

        thread = threading.Thread(target=garbage)
        thread.start()
        with pytest.raises(RawfwdError, match="not a rawfwd answer"):
            control.request(address)
        thread.join()
