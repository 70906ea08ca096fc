"""Compiling the engine with mypyc: `python -m rawfwd.compile [--if-possible]` (`make` runs
it), `... status`, `... clean`. What is compiled, where the build lives and how it is
checked before it is used: `rawfwd.native`.

The build is made in a scratch directory and put in place with one rename, under a lock:
a running rawfwd keeps the files it mapped (they are never rewritten), a build that stops
half way is never taken for a complete one, and two builds at once do not mix."""

from __future__ import annotations

import ast
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
    _digest,
    _mypy_version,
    _stat,
    check_build,
    module_name,
    sources,
)


def _imported(path: Path) -> set[Path]:
    """The rawfwd modules (files) that `path` imports."""
    tree = ast.parse(path.read_bytes(), str(path))
    package = path.parent
    found: set[Path] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue  # rawfwd imports itself relatively
        base = package
        for _ in range(node.level - 1):
            base = base.parent
        parts = node.module.split(".") if node.module else []
        target = base.joinpath(*parts)
        for candidate in [target.with_suffix(".py"), target / "__init__.py"] + [
            target / f"{alias.name}.py" for alias in node.names
        ]:
            if candidate.is_file() and PACKAGE_DIR in candidate.parents:
                found.add(candidate)
    return found


def depended_on() -> list[str]:
    """Every compiled source and every rawfwd module they import, directly or not (their
    classes and types are compiled in), by path inside the package: what the build's
    manifest fingerprints."""
    todo = list(sources())
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_imported(path) - seen)
    return [str(p.relative_to(PACKAGE_DIR)) for p in sorted(seen)]


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
        files = depended_on()
        stats = {name: _stat(PACKAGE_DIR / name) for name in files}
        fingerprinted = {name: _digest(PACKAGE_DIR / name) for name in files}
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
