"""Compiling the engine with mypyc, in place: `python -m rawfwd.compile [--if-possible]`
(`make` runs it), `... status`, `... clean`. What is compiled and how a build is checked
before it is used: `rawfwd.native`."""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .native import GROUP, MANIFEST, PACKAGE_DIR, Status, check_build, module_name, sources
from .native import _digest as digest


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
    """Compile the sources with mypyc, in place, and write the manifest last (a build that
    stops half way is never taken for a complete one)."""
    from mypy.version import __version__ as mypy_version
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    # new files, not rewritten ones: a running rawfwd has the old ones mapped, and
    # truncating a mapped library under it would crash it
    clean()
    paths = sources()
    digests = {module_name(p): digest(p) for p in paths}  # before: a later edit is stale
    root = PACKAGE_DIR.parent
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="rawfwd-mypyc-") as temp:
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
            command.inplace = True
            command.build_temp = str(Path(temp) / "o")
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
    MANIFEST.write_text(json.dumps({"mypyc": mypy_version, "sources": digests}, indent=1))
    return check_build(env=False)


def clean() -> None:
    """Remove the compiled build: the sources are imported again."""
    MANIFEST.unlink(missing_ok=True)
    for path in [*sources(), PACKAGE_DIR / "_native__mypyc.py"]:
        for built in path.parent.glob(path.stem + ".cpython-*.so"):
            built.unlink()


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
