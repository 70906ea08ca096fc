"""SIGHUP reloads off the forwarding path: the file is read in a worker thread while the trio
loop (and so every receiver) keeps running, then the new config replaces the old in one step;
a bad file keeps the running config."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio

from rawfwd.config.values import Config
from rawfwd.errors import ConfigError
from rawfwd.io.daemon import Daemon

from ..support.frames import make_config, route, udp_frame

SRC, GROUP, OTHER = "10.0.0.5", "239.1.2.3", "239.9.9.9"
OLD = make_config(route("eth0", GROUP, "eth1"))
NEW = make_config(route("eth0", GROUP, "eth1"), route("eth0", OTHER, "eth2"))


class SlowLoader:
    """A config loader that cannot finish until the trio loop has run meanwhile."""

    def __init__(self, result: Config | Exception) -> None:
        self.result = result
        self.started = threading.Event()
        self.release = threading.Event()
        self.released_by_trio = False

    def __call__(self, path: Path) -> Config:
        self.started.set()
        # bounded: if the loop is blocked while we load, nobody releases us
        self.released_by_trio = self.release.wait(timeout=5.0)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _daemon(loader: SlowLoader) -> Daemon:
    daemon = Daemon(Path("test.toml"), OLD, load=loader, clock=lambda: 1.0)
    daemon._reconcile_all = lambda starting=False: None  # type: ignore[method-assign]  # no links
    return daemon


def _routes_to(daemon: Daemon, group: str) -> set[str]:
    out = daemon.engine.handle_frames("eth0", [udp_frame(SRC, group)], 1.0)
    return {name for name, frames in out.frames if frames}


def test_forwarding_goes_on_while_the_new_config_is_read() -> None:
    loader = SlowLoader(NEW)
    daemon = _daemon(loader)
    forwarded_meanwhile: list[set[str]] = []

    async def main() -> bool:
        async with trio.open_nursery() as nursery:
            result: list[bool] = []

            async def reload() -> None:
                result.append(await daemon.reload())

            nursery.start_soon(reload)
            await trio.to_thread.run_sync(loader.started.wait)
            # the loop runs while the file is read: frames are forwarded by the old config
            forwarded_meanwhile.append(_routes_to(daemon, OTHER))
            loader.release.set()
        return result[0]

    assert trio.run(main) is True
    assert loader.released_by_trio  # the loop was not blocked by the read
    assert forwarded_meanwhile == [set()]  # the old config: no route for OTHER yet
    assert daemon.config is NEW
    assert _routes_to(daemon, OTHER) == {"eth2"}  # the new one, in full


@pytest.mark.parametrize(
    "error", [ConfigError("test.toml", 3, "unknown key 'x'"), ValueError("a bug")]
)
def test_a_bad_file_keeps_the_running_config(error: Exception, records: list[object]) -> None:
    loader = SlowLoader(error)
    loader.release.set()
    daemon = _daemon(loader)
    assert trio.run(daemon.reload) is False
    assert daemon.config is OLD
    assert _routes_to(daemon, GROUP) == {"eth1"}
    messages = [r.getMessage() for r in records]
    assert len(messages) == 1
    assert messages[0].startswith("reload failed, keeping the running config: ")
