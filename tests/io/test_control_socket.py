"""The control socket under abuse: idle floods, slow clients, failing handlers, big answers.

Clients here are trio sockets in the same run as the server, so most tests use trio's
MockClock with autojump: the 5 s and 30 s limits pass instantly.
"""

from __future__ import annotations

import contextlib
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

from ..support.servers import one_shot_server

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


# -- who may serve: the client's side of SO_PEERCRED -----------------------------------------


@pytest.mark.parametrize(
    ("cred", "me"),
    [((10, 0), 0), ((10, 0), 1000), ((10, 1000), 1000)],
    ids=["root-for-root", "root-for-a-user", "same-user"],
)
def test_a_server_of_root_or_the_same_user_is_trusted(cred: tuple[int, int], me: int) -> None:
    control._check_server("@x", cred, me)  # no exception


@pytest.mark.parametrize(
    ("cred", "me", "message"),
    [
        ((77, 65534), 0, "control socket @x is served by uid 65534 (pid 77), not root: "),
        ((77, 65534), 1000, "control socket @x is served by uid 65534 (pid 77), not root or uid"),
        (None, 0, "control socket @x: cannot tell who serves it"),
    ],
    ids=["other-user-for-root", "other-user-for-a-user", "unknown"],
)
def test_a_server_of_another_user_is_refused(
    cred: tuple[int, int] | None, me: int, message: str
) -> None:
    with pytest.raises(RawfwdError) as caught:
        control._check_server("@x", cred, me)
    assert str(caught.value).startswith(message)


#: a control socket squatter: drops to uid 65534, listens on argv[1], says "ready", answers
#: one connection with a plausible reply and prints what it was asked
_SQUATTER = """\
import os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0" + sys.argv[1][1:]); s.listen(1)
print("ready", flush=True)
s.settimeout(20)
conn, _ = s.accept()
conn.settimeout(20)
asked = conn.recv(64)
print(repr(asked), flush=True)
if asked:
    conn.sendall(b'{"asked": "view"}\\n')
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3")
def test_request_refuses_a_server_run_by_another_user() -> None:
    address = _address()
    with subprocess.Popen(
        ["/usr/bin/python3", "-c", _SQUATTER, address], stdout=subprocess.PIPE, text=True
    ) as squatter:
        assert squatter.stdout is not None
        try:
            assert squatter.stdout.readline() == "ready\n"
            with pytest.raises(RawfwdError, match=r"is served by uid 65534 \(pid \d+\), not root"):
                control.request(address)
            out, _ = squatter.communicate(timeout=20)
        finally:
            squatter.kill()
    assert out == "b''\n"  # it was not even asked


# -- what a reply may be ----------------------------------------------------------------------


def _fake_server(reply: bytes) -> contextlib.AbstractContextManager[str]:
    """A one-shot server in a thread (run by us, so trusted) answering `reply`."""
    return one_shot_server(reply)


@pytest.mark.parametrize(
    "reply",
    [
        b"this is not json\n",
        b'{"now": NaN}\n',
        b'{"now": -Infinity}\n',
        b'{"now": 1e999}\n',
        b'{"packets": 1' + b"0" * 40 + b"}\n",
        b'{"name": "\xff\xfe"}\n',
        b"[" * 100_000 + b"]" * 100_000 + b"\n",
        b"",
    ],
    ids=["text", "nan", "infinity", "overflow", "huge-int", "not-utf8", "deep", "empty"],
)
def test_a_reply_that_is_not_a_rawfwd_answer_is_one_clear_error(reply: bytes) -> None:
    with _fake_server(reply) as address, pytest.raises(RawfwdError) as caught:
        control.request(address)
    assert str(caught.value) == f"control socket {address}: not a rawfwd answer"


def test_an_error_reply_reaches_the_terminal_without_control_characters() -> None:
    reply = {"error": "gone\x1b[2J\x1b]0;owned\x07\nsecond line\x9b1m"}
    with (
        _fake_server(json.dumps(reply).encode() + b"\n") as address,
        pytest.raises(RawfwdError) as caught,
    ):
        control.request(address)
    assert str(caught.value) == f"rawfwd at {address}: gone?[2J?]0;owned??second line?1m"


def test_printable_replaces_every_control_character_and_keeps_the_rest() -> None:
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    assert control.printable(controls) == "?" * len(controls)
    assert control.printable("eth0 → ä 🙂 [x]") == "eth0 → ä 🙂 [x]"


# -- the default address: a directory only we can write ----------------------------------------


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="the default directory of root")
def test_default_address_is_per_namespace_in_a_directory_run_makes_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "RUN_DIR", tmp_path / "rawfwd")
    address = control.default_address(create=True)
    assert address == f"{tmp_path}/rawfwd/netns-{_netns_inode()}.sock"
    st = os.lstat(tmp_path / "rawfwd")
    assert (st.st_uid, oct(st.st_mode & 0o7777)) == (0, "0o700")


@pytest.mark.skipif(os.geteuid() != 0, reason="the default directory of root")
def test_show_does_not_make_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "RUN_DIR", tmp_path / "rawfwd")
    address = control.default_address()
    assert not (tmp_path / "rawfwd").exists()
    with pytest.raises(RawfwdError, match=r"^no rawfwd is running here"):
        control.request(address)


def test_default_directory_of_another_user_is_in_their_runtime_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert control._default_dir() == Path("/run/user/1000/rawfwd")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(RawfwdError, match=r"^no default control socket for uid 1000: XDG_R"):
        control._default_dir()


def _symlink(path: Path) -> None:
    (path.parent / "elsewhere").mkdir(mode=0o700)
    path.symlink_to(path.parent / "elsewhere")


def _file(path: Path) -> None:
    path.write_text("")


def _others_may_write(path: Path) -> None:
    path.mkdir()
    path.chmod(0o773)


def _someone_elses(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (_symlink, "it is a symbolic link"),
        (_file, "it is not a directory"),
        (_others_may_write, "others may write to it (mode 0773, want 0700)"),
        pytest.param(
            _someone_elses,
            "it belongs to uid 65534, not root",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root"),
        ),
    ],
    ids=["symlink", "file", "writable", "owner"],
)
@pytest.mark.parametrize("create", [True, False], ids=["run", "show"])
def test_a_directory_someone_else_may_have_prepared_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[Path], None],
    reason: str,
    create: bool,
) -> None:
    directory = tmp_path / "rawfwd"
    prepare(directory)
    monkeypatch.setattr(control, "_default_dir", lambda: directory)
    with pytest.raises(RawfwdError) as caught:
        control.default_address(create=create)
    assert str(caught.value) == f"refusing to use {directory} for the control socket: {reason}"


# -- a socket file: stale, taken, or not a socket ---------------------------------------------


def _serve_path(address: str, main: Callable[[], Awaitable[None]]) -> None:
    async def outer() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(control.serve, address, _handler)
            await main()
            nursery.cancel_scope.cancel()

    trio.run(outer)


def test_a_stale_socket_file_is_taken_over_and_removed_at_the_end(tmp_path: Path) -> None:
    address = str(tmp_path / "rawfwd.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(address)  # bound, never listening, closed: what a killed instance leaves

    async def main() -> None:
        assert await trio.to_thread.run_sync(control.request, address) == {"asked": "view"}

    _serve_path(address, main)
    assert not Path(address).exists()


def test_a_second_server_on_a_live_socket_file_leaves_the_first_one_alone(tmp_path: Path) -> None:
    address = str(tmp_path / "rawfwd.sock")

    async def main() -> None:
        with (
            pytest.raises(RawfwdError, match="is in use: another rawfwd runs in this network"),
            trio.fail_after(10),
        ):
            await control.serve(address, _handler)
        # the first one's socket file is still there, and it still answers
        assert await trio.to_thread.run_sync(control.request, address) == {"asked": "view"}

    _serve_path(address, main)


def test_a_file_that_is_not_a_socket_is_never_removed(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")

    async def main() -> None:
        with trio.fail_after(10):  # serves (forever) when it takes the file over
            await control.serve(str(precious), _handler)

    with pytest.raises(RawfwdError) as caught:
        trio.run(main)
    assert str(caught.value) == f"control socket {precious}: a file that is not a socket is there"
    assert precious.read_text() == "keep me"
