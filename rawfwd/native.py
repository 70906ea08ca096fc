"""The compiled build of the engine: which modules mypyc compiles, whether this process runs
them, and where the build lives (`python -m rawfwd.compile` makes it; `make` runs that).

Theory of operation:

- mypyc compiles the engine (`rawfwd/core/`, `rawfwd/control/`) and the ring receive/send
  loop (`rawfwd/io/packet.py`, `rawfwd/io/ring.py`) into C extensions. They live apart from
  the sources, in `rawfwd/_native/` (a manifest and the extensions, by module path), never
  beside them: an extension beside its source would win the import even after the source
  changed, and even in a checkout of an older commit that knows nothing of the build.
- `choose()`, run when the package is imported and before any engine module is, checks
  the build: the same Python (extension suffix), the same mypy, exactly the modules
  `sources()` names now, and the SHA-256 of every source and of every rawfwd module they
  import (their types are compiled in; `rawfwd.compile` finds them when it builds). Only
  a build that passes gets a finder, first on `sys.meta_path`, that imports those modules
  from it; otherwise the sources are imported as usual and `status()` says why.
  `RAWFWD_PURE=1` asks for the sources anyway.
- Nothing here falls back silently: `rawfwd run` logs the build in use and why,
  `rawfwd --version` says it too.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Final, NamedTuple

PACKAGE_DIR: Final = Path(__file__).resolve().parent
BUILD_DIR: Final = PACKAGE_DIR / "_native"
MANIFEST: Final = BUILD_DIR / "manifest.json"
GROUP: Final = "rawfwd._native"  #: mypyc's shared library: module rawfwd._native__mypyc
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
    import hashlib  # here: its OpenSSL costs a process about 4 MB, and is rarely needed

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stat(path: Path) -> list[int]:
    """Size and modification time (ns): a file whose stat is what the build saw is taken to
    be unchanged without reading it (as git's index does); any other is hashed."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def built_path(name: str) -> Path:
    """Where the build keeps the extension of module `name` (rawfwd.x.y)."""
    *parents, last = name.split(".")[1:]
    return BUILD_DIR.joinpath(*parents, last + importlib.machinery.EXTENSION_SUFFIXES[0])


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
    """Whether the compiled build is complete and current (and, with `env`, not refused
    by RAWFWD_PURE)."""
    if env and os.environ.get(PURE_ENV, "") not in ("", "0"):
        return Status(False, f"{PURE_ENV} is set")
    try:
        manifest = json.loads(MANIFEST.read_text())
        modules: list[str] = manifest["modules"]
        digests: dict[str, str] = manifest["fingerprint"]
        stats: dict[str, list[int]] = manifest["stats"]
        suffix = str(manifest["suffix"])
        compiler = str(manifest["mypyc"])
    except FileNotFoundError:
        return Status(False, "not compiled (`make native` compiles it)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Status(False, f"unreadable build manifest ({type(exc).__name__}: {exc})")
    if suffix != importlib.machinery.EXTENSION_SUFFIXES[0]:
        return Status(False, f"compiled for another Python ({suffix}; `make native`)")
    if compiler != _mypy_version():
        return Status(False, f"compiled by mypyc {compiler}, not {_mypy_version()}")
    wanted = [module_name(p) for p in sources()]
    if sorted(modules) != sorted(wanted):
        changed = sorted(set(modules) ^ set(wanted))
        return Status(False, f"compiled build is stale (modules {', '.join(changed)})")
    for name in [*modules, GROUP + "__mypyc"]:
        if not built_path(name).is_file():
            return Status(False, f"compiled build incomplete ({name} missing)")
    try:
        # the files the build listed (their import closure was found then: a source that
        # imports something new has changed, and is stale by its own digest), hashed only:
        # parsing them at every start would cost time and memory
        current = {
            name: digest
            if stats.get(name) == _stat(PACKAGE_DIR / name)
            else _digest(PACKAGE_DIR / name)
            for name, digest in digests.items()
        }
    except OSError as exc:
        return Status(False, f"cannot read the sources ({exc.strerror}: {exc.filename})")
    if current != digests:
        changed = sorted(
            k for k in current.keys() | digests.keys() if current.get(k) != digests.get(k)
        )
        return Status(False, f"compiled build is stale ({changed[0]} changed; `make native`)")
    return Status(True, f"mypyc {compiler}")


def _mypy_version() -> str:
    """The mypy (mypyc) installed now, or '-' if none is (a build made by another mypyc is
    refused). Read from its version.py: importing mypy, or package metadata, would cost
    this process several MB for one string."""
    spec = importlib.util.find_spec("mypy")
    if spec is None or spec.origin is None:
        return "-"
    try:
        text = (Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        return "-"
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else "-"


class _Built(importlib.abc.MetaPathFinder):
    """Imports the modules of a checked build from it."""

    def __init__(self, names: Sequence[str]) -> None:
        self._paths = {name: built_path(name) for name in names}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        built = self._paths.get(fullname)
        if built is None:
            return None
        return importlib.util.spec_from_file_location(fullname, built)


_status: Status | None = None


def choose() -> Status:
    """Decide, once per process, before any engine module is imported, which build runs."""
    global _status
    if _status is None:
        _status = check_build()
        if _status.compiled:
            names = [module_name(p) for p in sources()] + [GROUP + "__mypyc"]
            sys.meta_path.insert(0, _Built(names))
    return _status


def status() -> Status:
    """The build this process runs (`choose` decided it when rawfwd was imported)."""
    return choose()
