"""A thin ctypes binding of Debian's libbpf (libbpf1): what rawfwd's eBPF programs need.

Why ctypes: no maintained Python binding of libbpf is on PyPI, and the part rawfwd uses is
small: open and load an object file clang built, find its programs and maps, read and write
map entries, run a program on a frame (BPF_PROG_TEST_RUN: the tests' way to check its
verdicts without a network), and attach an XDP program through a BPF link.

Why links, never pins: a link belongs to the process that made it; when the process ends
(even by SIGKILL) the kernel detaches the program, so a dead rawfwd leaves nothing
forwarding behind it. Nothing here pins anything in bpffs.

Every failure is a `BpfError` with one line saying which step failed and why (errno), so a
path that cannot start says so and never falls back silently.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from ..errors import RawfwdError

XDP_ABORTED: Final = 0
XDP_DROP: Final = 1
XDP_PASS: Final = 2
XDP_TX: Final = 3
XDP_REDIRECT: Final = 4
BPF_ANY: Final = 0
TC_ACT_OK: Final = 0
TC_ACT_SHOT: Final = 2
BPF_TCX_INGRESS: Final = 46  #: enum bpf_attach_type (Linux 6.6+; newer than Debian's headers)
_PERCPU_TYPES: Final = frozenset((5, 6, 10))  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH
_LIBBPF: Final = "libbpf.so.1"
#: the include directory of Debian's multiarch asm/ headers, which <linux/bpf.h> needs
_ASM_INCLUDE: Final = f"/usr/include/{sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'}"


class BpfError(RawfwdError):
    """A BPF step failed (no libbpf, no clang, the kernel refused a program or a map)."""


class _TestRunOpts(ctypes.Structure):
    """struct bpf_test_run_opts (libbpf bpf.h), `sz` first for compatibility."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p),
        ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p),
        ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("repeat", ctypes.c_int),
        ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    ]


_lib: ctypes.CDLL | None = None


def libbpf() -> ctypes.CDLL:
    """Debian's libbpf, with the signatures rawfwd calls declared; BpfError if missing."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("bpf") or _LIBBPF, use_errno=True)
    except OSError as exc:
        raise BpfError(f"eBPF unavailable: cannot load libbpf ({exc}; Debian: libbpf1)") from None
    ptr, i32, u32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32
    signatures: dict[str, tuple[type | None, list[type]]] = {
        "bpf_object__open_file": (ptr, [ctypes.c_char_p, ptr]),
        "bpf_object__load": (i32, [ptr]),
        "bpf_object__close": (None, [ptr]),
        "bpf_object__find_program_by_name": (ptr, [ptr, ctypes.c_char_p]),
        "bpf_object__find_map_by_name": (ptr, [ptr, ctypes.c_char_p]),
        "bpf_program__fd": (i32, [ptr]),
        "bpf_program__attach_xdp": (ptr, [ptr, i32]),
        "bpf_link__destroy": (i32, [ptr]),
        "bpf_map__fd": (i32, [ptr]),
        "bpf_map__key_size": (u32, [ptr]),
        "bpf_map__value_size": (u32, [ptr]),
        "bpf_map__type": (i32, [ptr]),
        "bpf_map__set_max_entries": (i32, [ptr, u32]),
        "libbpf_num_possible_cpus": (i32, []),
        "bpf_map_update_elem": (i32, [i32, ptr, ptr, ctypes.c_uint64]),
        "bpf_map_lookup_elem": (i32, [i32, ptr, ptr]),
        "bpf_map_delete_elem": (i32, [i32, ptr]),
        "bpf_prog_test_run_opts": (i32, [i32, ctypes.POINTER(_TestRunOpts)]),
        "libbpf_set_print": (ptr, [ptr]),
        "bpf_link_create": (i32, [i32, i32, i32, ptr]),
        "bpf_prog_query": (i32, [i32, i32, u32, ptr, ptr, ptr]),
    }
    for name, (restype, argtypes) in signatures.items():
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes
    lib.libbpf_set_print(None)  # its messages would go to stderr: errors are ours to say
    _lib = lib
    return lib


def _fail(step: str, code: int | None = None) -> BpfError:
    """A BpfError for `step`, from a negative return `code` or else errno."""
    err = -code if code is not None and code < 0 else ctypes.get_errno()
    return BpfError(f"eBPF: {step}: {os.strerror(err) if err else 'failed'}")


class Map:
    """A BPF map of a loaded object: fixed-size keys and values, as bytes."""

    def __init__(self, lib: ctypes.CDLL, handle: int, name: str) -> None:
        self._lib = lib
        self.name = name
        self.fd: int = lib.bpf_map__fd(handle)
        self.key_size: int = lib.bpf_map__key_size(handle)
        self.value_size: int = lib.bpf_map__value_size(handle)
        #: per-CPU maps hold one value per possible CPU, each padded to 8 bytes
        self.per_cpu = lib.bpf_map__type(handle) in _PERCPU_TYPES
        self._cpus = max(1, lib.libbpf_num_possible_cpus()) if self.per_cpu else 1
        self._stride = (self.value_size + 7) // 8 * 8 if self.per_cpu else self.value_size

    def _key(self, key: bytes) -> ctypes.Array[ctypes.c_char]:
        if len(key) != self.key_size:
            raise ValueError(f"{self.name}: key of {len(key)} bytes, not {self.key_size}")
        return ctypes.create_string_buffer(key, len(key))

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        """Set `key` to `value` (BpfError if the kernel refuses, e.g. the map is full); in
        a per-CPU map, on every CPU."""
        if len(value) != self.value_size:
            raise ValueError(f"{self.name}: value of {len(value)} bytes, not {self.value_size}")
        if self.per_cpu:
            value = value.ljust(self._stride, b"\0") * self._cpus
        buf = ctypes.create_string_buffer(value, len(value))
        code = self._lib.bpf_map_update_elem(self.fd, self._key(key), buf, flags)
        if code < 0:
            raise _fail(f"update {self.name}", code)

    def lookup(self, key: bytes) -> bytes | None:
        """The value of `key`, or None if it has none (a per-CPU map: the first CPU's;
        `lookup_all` has them all)."""
        values = self.lookup_all(key)
        return values[0] if values is not None else None

    def lookup_all(self, key: bytes) -> list[bytes] | None:
        """Every CPU's value of `key` (one for a map that is not per CPU), or None."""
        out = ctypes.create_string_buffer(self._stride * self._cpus)
        code = self._lib.bpf_map_lookup_elem(self.fd, self._key(key), out)
        if code < 0:
            if -code == errno.ENOENT or ctypes.get_errno() == errno.ENOENT:
                return None
            raise _fail(f"lookup {self.name}", code)
        raw = out.raw
        return [raw[i : i + self.value_size] for i in range(0, len(raw), self._stride)]

    def delete(self, key: bytes) -> bool:
        """Remove `key`; False if it was not there."""
        code = self._lib.bpf_map_delete_elem(self.fd, self._key(key))
        if code < 0:
            if -code == errno.ENOENT or ctypes.get_errno() == errno.ENOENT:
                return False
            raise _fail(f"delete from {self.name}", code)
        return True


class Link:
    """A program attached through a BPF link this process owns (detached at `destroy`,
    or by the kernel when the process ends): libbpf's link object, or a bare link fd."""

    def __init__(self, lib: ctypes.CDLL, handle: int | None, what: str, fd: int = -1) -> None:
        self._lib = lib
        self._handle = handle
        self._fd = fd
        self.what = what

    def destroy(self) -> None:
        """Detach now."""
        if self._handle is not None:
            self._lib.bpf_link__destroy(self._handle)
            self._handle = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Program:
    """A loaded BPF program."""

    def __init__(self, lib: ctypes.CDLL, handle: int, name: str) -> None:
        self._lib = lib
        self._handle = handle
        self.name = name
        self.fd: int = lib.bpf_program__fd(handle)

    def test_run(self, data: bytes, repeat: int = 1, ctx: bytes = b"") -> tuple[int, bytes]:
        """Run the program on one frame in the kernel (BPF_PROG_TEST_RUN): its return
        value (an XDP or tc action) and the frame as it left it. `ctx`: the program's
        context to start from (a tc program's struct __sk_buff, e.g. its ingress_ifindex);
        interfaces are those of the calling thread's network namespace."""
        out = ctypes.create_string_buffer(max(len(data), 1) + 256)
        opts = _TestRunOpts()
        opts.sz = ctypes.sizeof(_TestRunOpts)
        source = ctypes.create_string_buffer(data, len(data))
        opts.data_in = ctypes.cast(source, ctypes.c_void_p)
        opts.data_size_in = len(data)
        opts.data_out = ctypes.cast(out, ctypes.c_void_p)
        opts.data_size_out = len(out)
        opts.repeat = repeat
        context = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
        if context is not None:
            opts.ctx_in = ctypes.cast(context, ctypes.c_void_p)
            opts.ctx_size_in = len(ctx)
        code = self._lib.bpf_prog_test_run_opts(self.fd, ctypes.byref(opts))
        if code < 0:
            raise _fail(f"test run of {self.name}", code)
        return int(opts.retval), out.raw[: opts.data_size_out]

    def attach_tc_ingress(self, ifindex: int) -> Link:
        """Attach to interface `ifindex`'s tc ingress (tcx, Linux 6.6+), through a link
        (the interface of that index in the calling thread's network namespace)."""
        ctypes.set_errno(0)
        fd = self._lib.bpf_link_create(self.fd, ifindex, BPF_TCX_INGRESS, None)
        if fd < 0:
            raise _fail(f"attach {self.name} (tcx ingress) to ifindex {ifindex}", fd)
        return Link(self._lib, None, f"{self.name} on ifindex {ifindex}", fd=fd)

    def attach_xdp(self, ifindex: int) -> Link:
        """Attach to interface `ifindex` as its XDP program, through a link."""
        ctypes.set_errno(0)
        handle = self._lib.bpf_program__attach_xdp(self._handle, ifindex)
        if not handle:
            raise _fail(f"attach {self.name} (XDP) to ifindex {ifindex}")
        return Link(self._lib, handle, f"{self.name} on ifindex {ifindex}")


class BpfObject:
    """An object file clang built, opened and loaded into the kernel (closed on exit).
    `sizes`: maps whose number of entries is set before loading, by name."""

    def __init__(self, path: Path, sizes: Mapping[str, int] | None = None) -> None:
        self._lib = lib = libbpf()
        self.path = path
        ctypes.set_errno(0)
        handle = lib.bpf_object__open_file(str(path).encode(), None)
        if not handle:
            raise _fail(f"open {path.name}")
        self._handle: int | None = handle
        for name, entries in (sizes or {}).items():
            found = lib.bpf_object__find_map_by_name(handle, name.encode())
            code = lib.bpf_map__set_max_entries(found, entries) if found else -errno.ENOENT
            if code < 0:
                self.close()
                raise _fail(f"size map {name} of {path.name} to {entries}", code)
        code = lib.bpf_object__load(handle)
        if code < 0:
            self.close()
            raise _fail(f"load {path.name} (the kernel refused it)", code)

    def program(self, name: str) -> Program:
        handle = self._lib.bpf_object__find_program_by_name(self._live(), name.encode())
        if not handle:
            raise BpfError(f"eBPF: {self.path.name} has no program {name}")
        return Program(self._lib, handle, name)

    def map(self, name: str) -> Map:
        handle = self._lib.bpf_object__find_map_by_name(self._live(), name.encode())
        if not handle:
            raise BpfError(f"eBPF: {self.path.name} has no map {name}")
        return Map(self._lib, handle, name)

    def _live(self) -> int:
        if self._handle is None:
            raise BpfError(f"eBPF: {self.path.name} is closed")
        return self._handle

    def close(self) -> None:
        """Unload: programs not attached through a live link are gone."""
        if self._handle is not None:
            self._lib.bpf_object__close(self._handle)
            self._handle = None

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def tc_ingress_programs(ifindex: int) -> list[int]:
    """The ids of the programs attached to interface `ifindex`'s tc ingress (tcx) in the
    calling thread's network namespace."""
    lib = libbpf()
    ids = (ctypes.c_uint32 * 64)()
    count = ctypes.c_uint32(64)
    flags = ctypes.c_uint32(0)
    code = lib.bpf_prog_query(
        ifindex, BPF_TCX_INGRESS, 0, ctypes.byref(flags), ids, ctypes.byref(count)
    )
    if code < 0:
        raise _fail(f"query tcx ingress of ifindex {ifindex}", code)
    return list(ids[: count.value])


def compile_object(source: Path, output: Path) -> Path:
    """Build `source` (BPF C) into `output` with clang; BpfError with clang's first error."""
    clang = shutil.which("clang")
    if clang is None:
        raise BpfError("eBPF unavailable: no clang to build the program (Debian: clang)")
    cmd = [clang, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", f"-I{_ASM_INCLUDE}"]
    cmd += ["-c", str(source), "-o", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        first = next((line for line in done.stderr.splitlines() if "error" in line), "")
        raise BpfError(f"eBPF: cannot build {source.name}: {first or done.stderr.strip()}")
    return output
