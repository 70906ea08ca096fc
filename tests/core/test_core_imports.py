"""The pure core stays pure: importing it loads no I/O, UI or packet-crafting library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("trio", "scapy", "rich", "netifaces", "pyroute2", "socket", "_socket")

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after_import(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after `import module`."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(result.stdout))


def forbidden_in(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == bad or m.startswith(bad + ".") for bad in FORBIDDEN)
    )


def _modules_of(package: str) -> list[str]:
    """Every module of `package` (found on disk, so a new module is covered untold)."""
    root = Path(__file__).resolve().parents[2] / package.replace(".", "/")
    return sorted(
        f"{package}.{path.stem}" if path.stem != "__init__" else package
        for path in root.glob("*.py")
    )


PURE = [*_modules_of("rawfwd.core"), *_modules_of("rawfwd.control"), "rawfwd.config.values"]


def test_the_pure_packages_are_all_listed() -> None:
    # the list is read from disk: the engine and the IGMP modules are among them
    assert {"rawfwd.core.forwarder", "rawfwd.core.rpf", "rawfwd.control.engine"} <= set(PURE)


@pytest.mark.parametrize("module", PURE)
def test_core_imports_nothing_forbidden(module: str) -> None:
    modules = loaded_after_import(module)
    assert module in modules
    assert forbidden_in(modules) == []


@pytest.mark.parametrize("module", ["rawfwd.io.daemon", "rawfwd.view"])
def test_the_shell_and_the_view_model_load_no_rich(module: str) -> None:
    # the live shell does I/O only; rendering (rich) is the UI's, which the runner adds
    modules = loaded_after_import(module)
    assert module in modules
    assert [m for m in modules if m == "rich" or m.startswith("rich.")] == []


def test_probe_detects_forbidden_imports() -> None:
    # The probe itself must be able to fail: importing socket is seen.
    assert forbidden_in(loaded_after_import("socket")) == ["_socket", "socket"]
    assert forbidden_in({"trio", "trio._core", "richer", "scapy.all", "sockets"}) == [
        "scapy.all",
        "trio",
        "trio._core",
    ]
