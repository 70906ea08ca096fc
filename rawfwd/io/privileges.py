"""Giving up what `rawfwd run` no longer needs once it is running.

rawfwd parses frames anyone on the wire can send; if that code ever had a bug worth
exploiting, the process should hold as little as possible. Everything that needs more than
CAP_NET_RAW happens at start-up (the netlink event socket with its forced 8 MiB buffer, the
control socket, --cpu); afterwards rawfwd only opens AF_PACKET sockets for interfaces that
appear (CAP_NET_RAW) and does things that need no capability at all: socket options on
those sockets (filter, rings, all-multicast, auxdata), FIB lookups and address dumps over
netlink, SIOCGIFFLAGS, re-reading its config. So by default only CAP_NET_RAW is kept.

CAP_NET_ADMIN is not kept: with it a compromised process could rewrite routes, firewall
rules and links, while all rawfwd would lose without it is the forced netlink buffer when
the event socket is reopened after an error (it falls back to SO_RCVBUF, capped by
net.core.rmem_max, and a lost event costs a resync, never correctness). eBPF filters or
XDP would need CAP_BPF and CAP_NET_ADMIN: whoever adds them adds those to DEFAULT_KEEP.

uid 0 is kept, so root's own files stay readable through their owner bits: a root-owned
config of mode 0600 still reloads on SIGHUP (another user's file is read only if its mode
lets anyone, without CAP_DAC_OVERRIDE). The price: the owner bits also let the process
write most root-owned files and signal root's processes. The bounding set goes too, and
no_new_privs is set, so no exec can win capabilities back.

Capabilities belong to threads, not processes: capset(2) changes only the calling thread,
and a thread starts with its creator's. So the drop runs in the thread that creates the
others (trio's), and afterwards every thread is checked: one started earlier keeps what it
had, and is reported so that the caller can warn. By then trio has one already: binding the
control socket runs in a worker thread, which trio keeps for the next job (FIB lookups, the
SIGHUP reload) for 10 s. `drop_privileges_everywhere` therefore also has trio's idle
worker threads drop, each for itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, NamedTuple

import trio

#: capability(7) numbers, index = number (linux/capability.h)
CAP_NAMES: Final = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
CAP_SETPCAP: Final = 8
CAP_NET_ADMIN: Final = 12
CAP_NET_RAW: Final = 13
CAP_SYS_ADMIN: Final = 21
CAP_BPF: Final = 39

#: what forwarding needs once started: opening AF_PACKET sockets for new interfaces
DEFAULT_KEEP: Final = frozenset({CAP_NET_RAW})

#: what the caller logs instead when told not to drop anything (--keep-privileges)
KEPT_ALL: Final = "privileges: kept all (--keep-privileges)"

_PR_CAPBSET_DROP: Final = 24
_PR_SET_NO_NEW_PRIVS: Final = 38
_PR_CAP_AMBIENT: Final = 47
_PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522
_LAST_CAP_FILE: Final = Path("/proc/sys/kernel/cap_last_cap")
#: attempts at making trio's worker threads drop too (one may be busy during the first)
_WORKER_ROUNDS: Final = 3
#: seconds a worker waits for the others to be busy too (trio starts them at once)
_WORKER_WAIT: Final = 5.0


def cap_name(cap: int) -> str:
    """CAP_NET_RAW for 13; a number the table does not know yet as CAP_<n>."""
    return CAP_NAMES[cap] if 0 <= cap < len(CAP_NAMES) else f"CAP_{cap}"


def capability_mask(caps: Iterable[int]) -> int:
    """The kernel's bit mask (as in /proc/PID/status) of a set of capability numbers."""
    mask = 0
    for cap in caps:
        if cap < 0:
            raise ValueError(f"no capability {cap}")
        mask |= 1 << cap
    return mask


def capabilities(mask: int) -> frozenset[int]:
    """The capability numbers set in a kernel bit mask."""
    return frozenset(bit for bit in range(mask.bit_length()) if mask >> bit & 1)


def bounding_to_drop(keep: Iterable[int], bounding: int, last_cap: int) -> tuple[int, ...]:
    """The capabilities to remove from the bounding set `bounding`: every one the kernel
    knows (up to `last_cap`) that is in it and not in `keep`, lowest first."""
    kept = capability_mask(keep)
    return tuple(cap for cap in range(last_cap + 1) if bounding >> cap & 1 and not kept >> cap & 1)


class CapSets(NamedTuple):
    """One thread's capability sets, as bit masks."""

    effective: int
    permitted: int
    inheritable: int
    bounding: int
    ambient: int

    def exceeds(self, limit: CapSets) -> bool:
        """Whether any set holds a capability that the same set of `limit` does not."""
        return any(mine & ~theirs for mine, theirs in zip(self, limit, strict=True))


def parse_status(text: str) -> CapSets:
    """The Cap* lines of a /proc/PID/task/TID/status file (ValueError if one is missing)."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            fields[key] = int(value.strip(), 16)
    try:
        return CapSets(
            fields["CapEff"], fields["CapPrm"], fields["CapInh"], fields["CapBnd"], fields["CapAmb"]
        )
    except KeyError as exc:
        raise ValueError(f"no {exc.args[0]} line in the status") from None


@dataclass(frozen=True)
class DropResult:
    """What `drop_privileges` achieved.

    `kept`: the capabilities the calling thread holds now. `ok`: everything else is gone
    from it, bounding set included; otherwise `reason` says in a few words why not.
    `threads`: ids of other threads that still hold more than the calling thread.
    """

    kept: frozenset[int]
    ok: bool
    reason: str = ""
    threads: tuple[int, ...] = ()

    @property
    def clean(self) -> bool:
        """Nothing to warn about: log it as information."""
        return self.ok and not self.threads


def describe(result: DropResult) -> str:
    """The one log line saying what was kept, e.g.
    "privileges: kept CAP_NET_RAW; dropped the rest"."""
    kept = ", ".join(cap_name(cap) for cap in sorted(result.kept)) or "none"
    line = f"privileges: kept {kept}; "
    line += "dropped the rest" if result.ok else f"could not drop the rest: {result.reason}"
    if result.threads:
        tids = ", ".join(str(tid) for tid in result.threads)
        line += f"; threads started before still hold more: {tids}"
    return line


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


_DataPair = _Data * 2  # version 3: 64 capabilities, low 32 bits first


class _Libc:
    """The few libc calls needed, with errors as OSError."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._prctl = libc.prctl
        self._prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
        self._prctl.restype = ctypes.c_int
        self._capget = libc.capget
        self._capset = libc.capset
        for fn in (self._capget, self._capset):
            fn.argtypes = [ctypes.POINTER(_Header), ctypes.POINTER(_Data)]
            fn.restype = ctypes.c_int

    @staticmethod
    def _check(rc: int, what: str) -> int:
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return rc

    def prctl(self, option: int, arg: int = 0) -> int:
        return self._check(self._prctl(option, arg, 0, 0, 0), f"prctl({option})")

    def capget(self) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) of the calling thread."""
        header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
        data = _DataPair()
        self._check(self._capget(ctypes.byref(header), data), "capget")
        low, high = data
        return (
            low.effective | high.effective << 32,
            low.permitted | high.permitted << 32,
            low.inheritable | high.inheritable << 32,
        )

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """Set the calling thread's three sets (only lowering needs no privilege)."""
        header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
        data = _DataPair()
        for half, shift in ((0, 0), (1, 32)):
            data[half].effective = effective >> shift & 0xFFFFFFFF
            data[half].permitted = permitted >> shift & 0xFFFFFFFF
            data[half].inheritable = inheritable >> shift & 0xFFFFFFFF
        self._check(self._capset(ctypes.byref(header), data), "capset")


def _last_cap() -> int:
    try:
        return int(_LAST_CAP_FILE.read_text())
    except (OSError, ValueError):  # no /proc: the highest one this module knows
        return len(CAP_NAMES) - 1


def thread_caps(tid: int | None = None) -> CapSets:
    """The capability sets of thread `tid` of this process (the calling one by default)."""
    path = Path("/proc/thread-self" if tid is None else f"/proc/self/task/{tid}")
    return parse_status((path / "status").read_text())


def threads_exceeding(limit: CapSets) -> tuple[int, ...]:
    """Ids of this process's threads holding a capability `limit` does not (threads that
    end while being looked at are skipped)."""
    found = []
    for entry in sorted(Path("/proc/self/task").iterdir(), key=lambda p: int(p.name)):
        try:
            caps = parse_status((entry / "status").read_text())
        except (OSError, ValueError):
            continue
        if caps.exceeds(limit):
            found.append(int(entry.name))
    return tuple(found)


def drop_privileges(keep: frozenset[int] = DEFAULT_KEEP) -> DropResult:
    """Keep only `keep` (those of them held now) in the calling thread, for good.

    In order: the bounding set loses everything else (needs CAP_SETPCAP; without it, as
    when not running as root, it stays and the result is not ok), ambient capabilities are
    cleared, the effective, permitted and inheritable sets become the kept ones, and
    no_new_privs is set. It does what it can and never raises: the caller logs the result
    and goes on forwarding. Call it from the thread that starts the others (see above).
    """
    reasons: list[str] = []
    try:
        libc = _Libc()
        effective, permitted, inheritable = libc.capget()
        to_drop = bounding_to_drop(keep, thread_caps().bounding, _last_cap())
    except (OSError, AttributeError, ValueError) as exc:
        return DropResult(frozenset(), False, f"capabilities unavailable: {exc}")
    kept = capability_mask(keep) & permitted
    if to_drop and not effective >> CAP_SETPCAP & 1:
        who = "not running as root" if os.geteuid() else "running as root"
        reasons.append(f"no CAP_SETPCAP ({who}): the bounding set stays")
        to_drop = ()
    for cap in to_drop:
        try:
            libc.prctl(_PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this kernel has no such capability
                reasons.append(f"bounding set: {cap_name(cap)}: {exc.strerror}")
                break
    try:
        libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: a kernel before ambient capabilities (4.3)
            reasons.append(f"ambient set: {exc.strerror}")
    try:
        bounding = thread_caps().bounding
        # the inheritable set may not grow beyond the old one and the bounding set
        libc.capset(kept, kept, kept & (inheritable | bounding))
    except (OSError, ValueError) as exc:
        reasons.append(str(exc.strerror if isinstance(exc, OSError) else exc))
    try:
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        reasons.append(f"no_new_privs: {exc.strerror}")
    try:
        own = thread_caps()
        others = threads_exceeding(own)
    except (OSError, ValueError) as exc:
        return DropResult(capabilities(kept), False, f"cannot check the result: {exc}")
    extra = (own.effective | own.permitted | own.bounding | own.ambient) & ~capability_mask(keep)
    if extra and not reasons:
        reasons.append(f"still held: {', '.join(map(cap_name, sorted(capabilities(extra))))}")
    return DropResult(capabilities(own.effective), not reasons, "; ".join(reasons), others)


async def drop_privileges_everywhere(keep: frozenset[int] = DEFAULT_KEEP) -> DropResult:
    """`drop_privileges` in the calling thread (trio's), then in the threads that still
    hold more: trio's cached workers, made to drop each for itself.

    As many jobs as there are such threads run at once, each holding its thread until all
    have started: trio hands idle workers out before it makes new threads (a new one starts
    from the dropped trio thread, so it drops nothing), and none can take two jobs. A worker
    busy meanwhile gets another round. `threads` then lists what is left: threads that are
    not trio's, or were busy all along.
    """
    result = drop_privileges(keep)
    for _ in range(_WORKER_ROUNDS):
        if not result.threads:
            break
        await _drop_in_workers(keep, len(result.threads))
        result = replace(result, threads=threads_exceeding(thread_caps()))
    return result


async def _drop_in_workers(keep: frozenset[int], count: int) -> None:
    everyone = threading.Barrier(count)

    def drop_here() -> None:
        drop_privileges(keep)
        # one that did not start in time breaks it for all: the next round tries again
        with contextlib.suppress(threading.BrokenBarrierError):
            everyone.wait(_WORKER_WAIT)

    limiter = trio.CapacityLimiter(count)  # not shared with (nor held up by) other jobs
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(
                functools.partial(trio.to_thread.run_sync, limiter=limiter), drop_here
            )
