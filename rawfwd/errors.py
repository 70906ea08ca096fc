"""The exceptions rawfwd raises on purpose.

Anything else escaping from rawfwd is a bug. The command line turns these into one-line
messages; no traceback reaches the user.
"""

from __future__ import annotations


class RawfwdError(Exception):
    """Base class: an error the user can act on, printed as one line."""

    def __str__(self) -> str:
        # file names and quoted values may hold a newline or an escape sequence
        return one_line(super().__str__())


class ConfigError(RawfwdError):
    """A configuration file is wrong: carries where (file, line) and why."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class NotEthernetError(OSError):
    """The interface carries no Ethernet header (tun, ppp, loopback): rawfwd cannot use it."""


class InputError(RawfwdError):
    """An input other than the config (a pcap, a command-line argument) is unusable."""


def one_line(text: str) -> str:
    """`text` with what is not printable (newlines, escape sequences, bidi controls)
    escaped as Python does (`\\n`, `\\x1b`), so a message stays one line and cannot drive a
    terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
