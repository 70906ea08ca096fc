"""The compiled build (rawfwd.native): used only when complete and current (its sources,
what they import, the modules it covers, the Python and mypyc that made it), kept apart
from the sources so that nothing else ever imports it, and the build in use is what this
process really imports."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rawfwd
import rawfwd.control.engine
import rawfwd.core.forwarder
from rawfwd import native

_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def test_the_status_is_what_was_imported() -> None:
    status = native.status()
    for module in (rawfwd.core.forwarder, rawfwd.control.engine):
        assert str(module.__file__).endswith(_SUFFIX if status.compiled else ".py")


def test_version_says_which_build_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rawfwd", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"rawfwd {rawfwd.__version__} ({native.status().describe()})"


def test_pure_env_is_obeyed() -> None:
    if os.environ.get(native.PURE_ENV):
        assert not native.status().compiled
        assert native.PURE_ENV in native.status().why


def test_the_sources_cover_the_engine_and_the_rings() -> None:
    names = {native.module_name(p) for p in native.sources()}
    assert {"rawfwd.core.forwarder", "rawfwd.control.engine", "rawfwd.io.ring"} <= names
    assert not any(name.endswith("__init__") for name in names)


def _copy(tmp_path: Path) -> Path:
    """The package, with its compiled build if there is one, in a directory of its own."""
    target = tmp_path / "rawfwd"
    ignore = shutil.ignore_patterns("__pycache__", ".native*")
    shutil.copytree(native.PACKAGE_DIR, target, ignore=ignore)
    return target


def _status_in(root: Path, **env: str) -> str:
    """`native.status()` as a fresh interpreter importing rawfwd from `root` reports it,
    and where it took the forwarder from."""
    code = (
        "import rawfwd.native as n, rawfwd.core.forwarder as f; "
        "print(n.status().describe()); print(f.__file__)"
    )
    clean = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**clean, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_without_a_build_the_sources_run(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    shutil.rmtree(package / "_native", ignore_errors=True)
    out = _status_in(tmp_path)
    assert "engine interpreted: not compiled" in out
    assert out.splitlines()[1].endswith("forwarder.py")


needs_build = pytest.mark.skipif(
    not native.check_build(env=False).compiled, reason="no compiled build here (no C compiler)"
)


@needs_build
def test_a_stale_build_is_not_used(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    assert _status_in(tmp_path).splitlines()[1].endswith(_SUFFIX)
    flows = package / "core" / "flows.py"
    flows.write_text(flows.read_text() + "\n# edited after the build\n")
    out = _status_in(tmp_path)
    assert "compiled build is stale (core/flows.py changed" in out
    assert out.splitlines()[1].endswith("forwarder.py")


@needs_build
def test_a_partial_build_is_not_used(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    (package / "_native" / "io" / f"ring{_SUFFIX}").unlink()
    out = _status_in(tmp_path)
    assert "compiled build incomplete (rawfwd.io.ring missing)" in out
    assert out.splitlines()[1].endswith("forwarder.py")


@needs_build
def test_pure_env_imports_the_sources_over_a_good_build(tmp_path: Path) -> None:
    _copy(tmp_path)
    out = _status_in(tmp_path, RAWFWD_PURE="1")
    assert "engine interpreted: RAWFWD_PURE is set" in out
    assert out.splitlines()[1].endswith("forwarder.py")


@needs_build
def test_a_damaged_manifest_is_reported(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    (package / "_native" / "manifest.json").write_text(json.dumps({"sources": []}))
    out = _status_in(tmp_path)
    assert "engine interpreted: unreadable build manifest" in out


@needs_build
def test_a_change_to_a_module_the_engine_imports_makes_it_stale(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    values = package / "config" / "values.py"  # compiled in: the engine's config types
    values.write_text(values.read_text() + "\n# a field changed type here\n")
    out = _status_in(tmp_path)
    assert "compiled build is stale (config/values.py changed" in out
    assert out.splitlines()[1].endswith("forwarder.py")


@needs_build
def test_a_module_added_to_the_engine_makes_it_stale(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    (package / "core" / "extra.py").write_text('"""A module the build does not cover."""\n')
    assert "compiled build is stale (modules rawfwd.core.extra)" in _status_in(tmp_path)


@needs_build
def test_no_extension_lives_beside_a_source() -> None:
    """An older checkout (which knows nothing of the build) imports only its sources."""
    beside = [p for p in native.PACKAGE_DIR.rglob("*.so") if native.BUILD_DIR not in p.parents]
    assert beside == []
    assert any(native.BUILD_DIR.rglob(f"*{_SUFFIX}"))


@needs_build
def test_a_file_touched_but_not_changed_keeps_the_build(tmp_path: Path) -> None:
    """Its stat differs from the build's (a checkout rewrites files): it is hashed, and
    the same content is the same build."""
    package = _copy(tmp_path)
    flows = package / "core" / "flows.py"
    os.utime(flows, ns=(flows.stat().st_atime_ns, flows.stat().st_mtime_ns + 10**9))
    out = _status_in(tmp_path)
    assert out.splitlines()[1].endswith(_SUFFIX)
