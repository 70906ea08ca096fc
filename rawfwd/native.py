"""The compiled build of the engine: which modules mypyc compiles, whether this process runs
them, and the build itself (`python -m rawfwd.compile`, which `make` runs).

Theory of operation:

- mypyc compiles the engine (`rawfwd/core/`, `rawfwd/control/`) and the ring receive/send
  loop (`rawfwd/io/packet.py`, `rawfwd/io/ring.py`) into C extensions placed beside their
  sources, plus one shared library (`rawfwd/_native__mypyc*.so`). The sources stay: they
  are the interpreted build, and every test passes on both.
- An extension beside its source wins the import even after the source changed. So the
  build writes a manifest (`rawfwd/_native.json`) with each source's SHA-256, and
  `choose()`, run when the package is imported, checks it: a build that is missing, stale
  (a source changed since) or partial is not used, and `status()` says why. Then, as when
  `RAWFWD_PURE=1` asks for it, a finder placed first on `sys.meta_path` imports the compiled
  modules from their sources, so stale machine code never runs.
- Nothing here falls back silently: `rawfwd run` logs the build in use and why,
  `rawfwd --version` says it too.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Final, NamedTuple

PACKAGE_DIR: Final = Path(__file__).resolve().parent
MANIFEST: Final = PACKAGE_DIR / "_native.json"
GROUP: Final = "rawfwd._native"  #: mypyc's shared library: rawfwd/_native__mypyc*.so
PURE_ENV: Final = "RAWFWD_PURE"

#: packages compiled whole (their __init__ stays interpreted: it only re-exports)
_PACKAGES: Final = ("core", "control")
_MODULES: Final = ("io/packet.py", "io/ring.py")


def sources() -> list[Path]:
    """The source files mypyc compiles, in a stable order."""
    found = [
        path
        for package in _PACKAGES
        for path in sorted((PACKAGE_DIR / package).glob("*.py"))
        if path.name != "__init__.py"
    ]
    return found + [PACKAGE_DIR / name for name in _MODULES]


def module_name(path: Path) -> str:
    """`rawfwd/core/flows.py` -> `rawfwd.core.flows`."""
    return ".".join(("rawfwd", *path.relative_to(PACKAGE_DIR).with_suffix("").parts))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extension(path: Path) -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return path.with_name(path.stem + suffix)


class Status(NamedTuple):
    """Which build this process runs, and why."""

    compiled: bool
    why: str

    def describe(self) -> str:
        """One line: 'engine compiled with mypyc X' or 'engine interpreted: <why>'."""
        if self.compiled:
            return f"engine compiled with {self.why}"
        return f"engine interpreted: {self.why}"


def check_build(*, env: bool = True) -> Status:
    """Whether the compiled build beside the sources is complete and current (and, with
    `env`, not refused by RAWFWD_PURE)."""
    if env and os.environ.get(PURE_ENV, "") not in ("", "0"):
        return Status(False, f"{PURE_ENV} is set")
    try:
        manifest = json.loads(MANIFEST.read_text())
        digests: dict[str, str] = manifest["sources"]
        compiler = str(manifest["mypyc"])
    except FileNotFoundError:
        return Status(False, "not compiled (`make native` compiles it)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Status(False, f"unreadable build manifest {MANIFEST.name} ({exc})")
    group = _extension(PACKAGE_DIR / "_native__mypyc.py")
    if not group.exists():
        return Status(False, f"compiled build incomplete ({group.name} missing)")
    for path in sources():
        name = module_name(path)
        if not _extension(path).exists():
            return Status(False, f"compiled build incomplete ({name} missing)")
        try:
            current = _digest(path)
        except OSError as exc:
            return Status(False, f"cannot read {path.name} ({exc.strerror})")
        if digests.get(name) != current:
            return Status(False, f"compiled build is stale ({name} changed; `make native`)")
    return Status(True, f"mypyc {compiler}")


class _Sources(importlib.abc.MetaPathFinder):
    """Imports the modules the compiled build covers from their sources."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = paths

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self._paths.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


_status: Status | None = None


def choose() -> Status:
    """Decide, once per process, before any engine module is imported, which build runs."""
    global _status
    if _status is None:
        _status = check_build()
        if not _status.compiled:
            sys.meta_path.insert(0, _Sources({module_name(p): p for p in sources()}))
    return _status


def status() -> Status:
    """The build this process runs (`choose` decided it when rawfwd was imported)."""
    return choose()
