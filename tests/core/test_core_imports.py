"""The pure core stays pure: importing it loads no I/O, UI or packet-crafting library."""

from __future__ import annotations

import json
import subprocess
import sys

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


@pytest.mark.parametrize(
    "module",
    [
        "rawfwd.core",
        "rawfwd.core.forwarder",
        "rawfwd.core.wire",
        "rawfwd.core.table",
        "rawfwd.core.dedup",
        "rawfwd.core.stats",
        "rawfwd.core.mesh",
        "rawfwd.core.state",
        "rawfwd.control.igmp",
        "rawfwd.control.querier",
        "rawfwd.config.values",
    ],
)
def test_core_imports_nothing_forbidden(module: str) -> None:
    modules = loaded_after_import(module)
    assert module in modules
    assert forbidden_in(modules) == []


def test_probe_detects_forbidden_imports() -> None:
    # The probe itself must be able to fail: importing socket is seen.
    assert forbidden_in(loaded_after_import("socket")) == ["_socket", "socket"]
    assert forbidden_in({"trio", "trio._core", "richer", "scapy.all", "sockets"}) == [
        "scapy.all",
        "trio",
        "trio._core",
    ]
