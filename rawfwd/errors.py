"""The exceptions rawfwd raises on purpose.

Anything else escaping from rawfwd is a bug. The command line turns these into one-line
messages; no traceback reaches the user.
"""

from __future__ import annotations


class RawfwdError(Exception):
    """Base class: an error the user can act on, printed as one line."""


class ConfigError(RawfwdError):
    """A configuration file is wrong: carries where (file, line) and why."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class InputError(RawfwdError):
    """An input other than the config (a pcap, a command-line argument) is unusable."""


def first_leaf(exc: BaseException) -> BaseException:
    """The exception that matters inside (possibly nested) exception groups from trio.

    A RawfwdError anywhere wins (it is the user's problem, with a message for them);
    otherwise the first leaf.
    """
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            leaves.append(e)

    walk(exc)
    for leaf in leaves:
        if isinstance(leaf, RawfwdError):
            return leaf
    return leaves[0] if leaves else exc
