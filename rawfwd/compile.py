"""Compiling the engine with mypyc: `python -m rawfwd.compile [--if-possible]` (`make` runs
it), `... status`, `... clean`. What is compiled, where the build lives and how it is
checked before it is used: `rawfwd.native`.

The build is made in a scratch directory and put in place with one rename, under a lock:
a running rawfwd keeps the files it mapped (they are never rewritten), a build that stops
half way is never taken for a complete one, and two builds at once do not mix."""

from __future__ import annotations

import fcntl
import importlib.machinery
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .native import (
    BUILD_DIR,
    GROUP,
    MANIFEST,
    PACKAGE_DIR,
    Status,
    _mypy_version,
    _stat,
    check_build,
    fingerprint,
    module_name,
    sources,
)


def compiler_missing() -> str | None:
    """Why a C extension cannot be built here, or None if it can."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"no Python headers ({include})"
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypyc is not installed (pip install mypy)"
    return None


def build() -> Status:
    """Compile the sources with mypyc into `rawfwd/_native/`, replacing what was there."""
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    root = PACKAGE_DIR.parent
    BUILD_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(PACKAGE_DIR / ".native.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        paths = sources()
        # before compiling: a later edit makes it stale (stat first: a write between the two
        # shows as a changed stat, and is hashed again)
        stats = {name: _stat(PACKAGE_DIR / name) for name in fingerprint()}
        fingerprinted = fingerprint()
        cwd = Path.cwd()
        with tempfile.TemporaryDirectory(prefix=".native-", dir=PACKAGE_DIR) as temp:
            os.chdir(root)
            try:
                extensions = mypycify(
                    [str(p.relative_to(root)) for p in paths],
                    opt_level="3",
                    group_name=GROUP,
                    target_dir=str(Path(temp) / "c"),
                )
                dist: Any = Distribution({"name": "rawfwd", "ext_modules": extensions})
                dist.verbose = 0
                command = dist.get_command_obj("build_ext")
                command.build_lib = str(Path(temp) / "lib")
                command.build_temp = str(Path(temp) / "o")
                dist.run_command("build_ext")
            finally:
                os.chdir(cwd)
            staged = Path(temp) / "lib" / "rawfwd"
            manifest = {
                "mypyc": _mypy_version(),
                "suffix": importlib.machinery.EXTENSION_SUFFIXES[0],
                "modules": [module_name(p) for p in paths],
                "fingerprint": fingerprinted,
                "stats": stats,
            }
            (staged / MANIFEST.name).write_text(json.dumps(manifest, indent=1))
            old = Path(temp) / "old"
            if BUILD_DIR.exists():
                BUILD_DIR.rename(old)  # removed with the scratch directory
            staged.rename(BUILD_DIR)
    return check_build(env=False)


def clean() -> None:
    """Remove the compiled build (and extensions an older layout left beside the sources):
    the sources are imported again."""
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    for leftover in PACKAGE_DIR.rglob("*.cpython-*.so"):
        leftover.unlink()
    (PACKAGE_DIR / "_native.json").unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rawfwd.compile [--if-possible] | status | clean`."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = "build" if not args or args[0].startswith("--") else args[0]
    if command == "status":
        print(check_build().describe())
        return 0
    if command == "clean":
        clean()
        return 0
    if command != "build":
        print("usage: python -m rawfwd.compile [--if-possible] | status | clean")
        return 2
    current = check_build(env=False)
    if current.compiled:
        print(current.describe() + ": up to date")
        return 0
    missing = compiler_missing()
    if missing is not None:
        print(f"rawfwd: cannot compile the engine: {missing}; it runs interpreted")
        return 0 if "--if-possible" in args else 1
    done = build()
    print(done.describe())
    return 0 if done.compiled else 1


if __name__ == "__main__":
    sys.exit(main())
