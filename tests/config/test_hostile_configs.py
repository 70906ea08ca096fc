"""Hostile config files (issue 12): each is refused as one line `FILE:LINE: reason`.

Every case is bounded by construction: a file that would once hang (a FIFO) is checked so
that the test ends either way, and parsing is checked to be linear by counting the lines
the parser runs, never by a clock.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import rawfwd.config.toml as toml_module
from rawfwd.cli import main
from rawfwd.config.checks import MAX_CONFIG_BYTES
from rawfwd.config.load import load_config
from rawfwd.config.smcroute import load_smcroute
from rawfwd.config.toml import MAX_DOTS, MAX_LINE, parse_toml
from rawfwd.errors import ConfigError, InputError

IFACES = "[interface.eth0]\n[interface.eth1]\n"
HEX = "0x" + "f" * 4000  # 16,000 bits: str() of it raises ValueError (over 4,300 digits)
SHADOW = "s3cr3t-user:$6$c2VjcmV0$aGFzaA:19000:0:99999:7:::\n"
NOT_SMCROUTE = "not an smcroute.conf file (its first directive, line 1, is none of "


@dataclass(frozen=True)
class Case:
    """Files to write (name -> text), the one to load, and the error expected of it."""

    name: str
    files: dict[str, str | bytes]
    line: int | None
    reason: str  #: the reason starts so; "{tmp}" is the folder of the files
    where: str = ""  #: the file the error names, if not the loaded one

    @property
    def main(self) -> str:
        return next(iter(self.files))


CASES = [
    # -- integers: too long to print, too big for a float -----------------------------------
    Case(
        "decimal integer over 4,300 digits",
        {"a.toml": IFACES + "[dedup]\nmax_entries = " + "9" * 5000 + "\n"},
        4,
        f"line longer than {MAX_LINE} characters: not a rawfwd config",
    ),
    Case(
        "hex integer of 16,000 bits in a range",
        {"a.toml": IFACES + f"[dedup]\nmax_entries = {HEX}\n"},
        4,
        "[dedup] max_entries: must be from 1 to 10000000, not an integer of 16000 bits",
    ),
    Case(
        "hex integer as ttl_threshold",
        {"a.toml": f"[interface.eth0]\nttl_threshold = {HEX}\n"},
        2,
        "[interface.eth0] ttl_threshold must be an integer from 1 to 255, "
        "not an integer of 16000 bits",
    ),
    Case(
        "hex integer as IGMP version",
        {"a.toml": f"[interface.eth0]\nigmp = true\nversion = {HEX}\n"},
        3,
        "[interface.eth0] version: must be 2 or 3, not an integer of 16000 bits",
    ),
    Case(
        "integer too big for a float: query_interval",
        {"a.toml": "[interface.eth0]\nigmp = true\nquery_interval = 1" + "0" * 400 + "\n"},
        3,
        "[interface.eth0] query_interval: is out of range: an integer of 1329 bits",
    ),
    Case(
        "integer too big for a float: idle_timeout",
        {"a.toml": IFACES + "[flows]\nidle_timeout = 1" + "0" * 400 + "\n"},
        4,
        "[flows] idle_timeout: is out of range: an integer of 1329 bits",
    ),
    Case(
        "integer too big for a float: dedup window",
        {"a.toml": IFACES + "[dedup]\nwindow = 1" + "0" * 400 + "\n"},
        4,
        "[dedup] window: is out of range: an integer of 1329 bits",
    ),
    Case(
        "smcroute ttl-threshold of 5,000 digits",
        {"a.conf": "phyint eth0\nphyint eth1 ttl-threshold " + "9" * 5000 + "\n"},
        2,
        "ttl-threshold needs a number from 1 to 255",
    ),
    # -- absurd structure: refused before tomllib, whose time grows with a key's parts^2 --
    Case(
        "dotted key of 2,000 parts",
        {"a.toml": IFACES + ".".join(["a"] * 2000) + " = 1\n"},
        3,
        f"more than {MAX_DOTS} dots in keys: not a rawfwd config",
    ),
    Case(
        "dotted key of 100,000 parts",
        {"a.toml": ".".join(["a"] * 100_000) + " = 1\n"},
        1,
        f"line longer than {MAX_LINE} characters",
    ),
    Case(
        "deep dotted key in an inline table",
        {"a.toml": "x = {" + ".".join(["a"] * 50) + " = 1}\n"},
        1,
        f"more than {MAX_DOTS} dots in keys",
    ),
    Case(
        "deep dotted table header",
        {"a.toml": "\n[" + ".".join(["a"] * 20) + "]\n"},
        2,
        f"more than {MAX_DOTS} dots in keys",
    ),
    Case(
        "arrays nested 100,000 deep, one a line",
        {"a.toml": "x = " + "[\n" * 100_000},
        None,
        "not a rawfwd config: values nested too deeply",
    ),
    Case(
        # spaces after a `[` once took the line scanner minutes (backtracking: 1,000 took 2 s)
        "a multi-line string of a line of spaces after a '['",
        {"a.toml": 'x = """\n[' + " " * 4000 + '\n"""\n'},
        1,
        "unknown table or key 'x'",
    ),
    # -- the line is known: say it --------------------------------------------------------
    Case(
        "sub-table as a dotted key",
        {"a.toml": '[interface.eth0]\nmac = "02:00:00:00:00:01"\nigmp.x = 1\n'},
        3,
        "[interface.eth0] has a sub-table 'igmp'",
    ),
    Case(
        "sub-table as an inline table",
        {"a.toml": "[interface.eth0]\n\nigmp = { x = 1 }\n"},
        3,
        "[interface.eth0] has a sub-table 'igmp'",
    ),
    Case(
        "bad interface name in an inline table",
        {"a.toml": '\ninterface = { "a/b" = {} }\n'},
        2,
        "'a/b' is not a valid interface name",
    ),
    Case(
        "bad interface name with an escape",
        {"a.toml": '# x\n[interface."a\\tb"]\n'},
        2,
        "'a\\tb' is not a valid interface name",
    ),
    Case(
        "bad interface name as a dotted key",
        {"a.toml": '[interface]\n"bad name".mac = "02:00:00:00:00:01"\n'},
        2,
        "'bad name' is not a valid interface name",
    ),
    Case(
        # tomllib counts lines by "\n" only; splitlines() also splits at U+2028 and U+0085
        "line separators in a comment",
        {"a.toml": "# a\u2028b\x85c\n[interface.eth0]\nbogus = 1\n"},
        3,
        "unknown key 'bogus' in [interface.eth0]",
    ),
    Case(
        "line separators in an smcroute.conf comment",
        {"a.conf": "# note\u2028\x0c\nphyint eth0 bogus\n"},
        2,
        "phyint: unknown option 'bogus'",
    ),
    # -- files that are no config ---------------------------------------------------------
    Case("a device", {"a.conf": "include /dev/zero\n"}, 1, "/dev/zero: not a regular file"),
    Case(
        "include of a secret",
        {"a.conf": "phyint eth0\ninclude shadow\n", "shadow": SHADOW},
        2,
        f"{{tmp}}/shadow: {NOT_SMCROUTE}",
    ),
    Case(
        "include of a binary file",
        {"a.conf": "include x.bin\n", "x.bin": b"\x7fELF\x02\x01\x01\x00\xff\xfe"},
        1,
        "{tmp}/x.bin: not a text file (invalid UTF-8)",
    ),
    Case(
        "include of a file with a NUL in its name",
        {"a.conf": "phyint eth0\ninclude a\0*.conf\n"},
        2,
        "include: a file name cannot hold a NUL character",
    ),
    # -- includes without end -------------------------------------------------------------
    Case(
        "100 includes",
        {"a.conf": "phyint eth0\n" + "include e.conf\n" * 100, "e.conf": "# empty\n"},
        66,
        "include: more than 64 files included in all",
    ),
    Case(
        # 11,111 files read without a bound on their number (depth alone allows 8 levels)
        "includes fanning out",
        {
            **{f"f{i}.conf": f"include f{i + 1}.conf\n" * 10 for i in range(4)},
            "f4.conf": "# leaf\n",
        },
        7,  # f3.conf's 7th include is the 65th file
        "include: more than 64 files included in all",
        where="f3.conf",
    ),
    Case(
        "includes larger than a config together",
        {
            "a.conf": "include b.conf\ninclude c.conf\n",
            "b.conf": "#" * (MAX_CONFIG_BYTES // 2) + "\n",
            "c.conf": "#" * (MAX_CONFIG_BYTES // 2) + "\n",
        },
        2,
        f"include: {{tmp}}/c.conf makes the config and its includes larger than "
        f"{MAX_CONFIG_BYTES} bytes together",
    ),
    Case(
        "a glob over folders",
        {"a.conf": "include */*.conf\n", "d/x.conf": "phyint eth0\n"},
        1,
        "include: glob characters only in the file name, like smcroute.d/*.conf",
    ),
]


def write_case(case: Case, folder: Path) -> Path:
    for name, text in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    return folder / case.main


def assert_one_line(err: ConfigError) -> str:
    text = str(err)
    assert text.splitlines() == [text]  # nor \r, \x85, \u2028 ...: one line on any terminal
    assert text.isprintable()
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_config_is_one_line_with_its_line(case: Case, tmp_path: Path) -> None:
    main_path = write_case(case, tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(main_path)
    err = info.value
    assert (err.path, err.line) == (str(tmp_path / (case.where or case.main)), case.line)
    assert err.reason.startswith(case.reason.format(tmp=tmp_path)), err.reason
    assert_one_line(err)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_config_through_the_command_line(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_path = write_case(case, tmp_path)
    assert main(["check", "-c", str(main_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    where = f"{tmp_path / (case.where or case.main)}" + (f":{case.line}" if case.line else "")
    assert err.startswith(f"rawfwd: error: {where}: ")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert err[:-1].isprintable()


def test_included_secret_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "shadow").write_text(SHADOW)
    main_path = tmp_path / "smcroute.conf"
    main_path.write_text("include shadow\n")
    with pytest.raises(ConfigError) as info:
        load_smcroute(main_path)
    assert "s3cr3t" not in str(info.value)


def test_included_file_starting_with_a_directive_is_read(tmp_path: Path) -> None:
    (tmp_path / "routes.conf").write_text("# routes\n\nmroute from eth0 group 239.1.1.1 to eth1\n")
    (tmp_path / "empty.conf").write_text("# nothing yet\n")
    main_path = tmp_path / "smcroute.conf"
    main_path.write_text("include routes.conf\ninclude empty.conf\n")
    assert [str(r.group) for r in load_smcroute(main_path).routes] == ["239.1.1.1/32"]


def test_64_includes_are_fine(tmp_path: Path) -> None:
    (tmp_path / "e.conf").write_text("# empty\n")
    main_path = tmp_path / "smcroute.conf"
    main_path.write_text("include e.conf\n" * 64 + "mroute from eth0 group 239.1.1.1 to eth1\n")
    assert len(load_smcroute(main_path).routes) == 1


# -- FIFOs: refused without being opened --------------------------------------------------


def load_beside_fifo(load: Callable[[], Any], fifo: Path) -> tuple[BaseException, bool]:
    """What `load` raises, and whether it opened `fifo` for reading.

    A loader that opens the FIFO blocks there until a writer comes: this side becomes the
    writer as soon as a reader is there (O_NONBLOCK: ENXIO while none is), so the test ends
    either way.
    """
    raised: list[BaseException] = []

    def target() -> None:
        try:
            load()
        except BaseException as exc:  # handed to the test's thread
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    opened = False
    while thread.is_alive():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            thread.join(0.01)  # bounded poll: the loader ends, or opens the FIFO and waits
            continue
        opened = True
        os.close(fd)
        thread.join()
    assert len(raised) == 1
    return raised[0], opened


def test_fifo_as_config_is_refused_unopened(tmp_path: Path) -> None:
    fifo = tmp_path / "rawfwd.toml"
    os.mkfifo(fifo)
    err, opened = load_beside_fifo(lambda: load_config(fifo), fifo)
    assert not opened
    assert isinstance(err, ConfigError)
    assert (err.path, err.line, err.reason) == (str(fifo), None, "not a regular file")


def test_fifo_as_include_is_refused_unopened(tmp_path: Path) -> None:
    fifo = tmp_path / "routes.conf"
    os.mkfifo(fifo)
    main_path = tmp_path / "smcroute.conf"
    main_path.write_text("phyint eth0\ninclude routes.conf\n")
    err, opened = load_beside_fifo(lambda: load_config(main_path), fifo)
    assert not opened
    assert isinstance(err, ConfigError)
    assert (err.path, err.line) == (str(main_path), 2)
    assert err.reason == f"{fifo}: not a regular file"


# -- one line, whatever the names hold ----------------------------------------------------


def test_newline_in_the_config_path_stays_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad\nname\x1b[2J.toml"
    path.write_text(IFACES + "[[route]]\nto = []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = assert_one_line(info.value)
    assert text.startswith(f"{tmp_path}/bad\\nname\\x1b[2J.toml:3: [[route]] #1 needs ")
    assert info.value.path == str(path)  # the attribute keeps the name as it is
    assert main(["check", "-c", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_other_errors_are_one_line_too() -> None:
    assert str(InputError("--in a\nb")) == "--in a\\nb"


def test_warning_with_an_escape_sequence_is_escaped(tmp_path: Path) -> None:
    main_path = tmp_path / "smcroute.conf"
    main_path.write_text("include \x1b[2J*.conf\n")
    (warning,) = load_smcroute(main_path).warnings
    assert warning == f"{main_path}:1: include \\x1b[2J*.conf matched no file"


def test_int_conversion_refused_by_tomllib_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # MAX_LINE keeps integers under 4,300 digits; without it tomllib raises ValueError
    monkeypatch.setattr(toml_module, "MAX_LINE", 10_000)
    with pytest.raises(ConfigError) as info:
        parse_toml("x = " + "9" * 5000 + "\n", "a.toml")
    assert info.value.reason.startswith("not a rawfwd config: Exceeds the limit")


def test_a_float_array_is_not_a_deep_key() -> None:
    # dots of floats, strings and comments are not counted
    text = "x = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 1e3]  # a.b.c.d.e.f.g.h.i\n"
    with pytest.raises(ConfigError) as info:
        parse_toml(text + 'y = "a.b.c.d.e.f.g.h.i.j"\n', "a.toml")
    assert info.value.reason.startswith("unknown table or key 'x'")


# -- linear parsing ----------------------------------------------------------------------


def routes_doc(count: int) -> str:
    return IFACES + "".join(
        f'[[route]]\nfrom = "eth0"\ngroup = "239.1.{i >> 8}.{i & 255}"\nto = ["eth1"]\n'
        for i in range(count)
    )


def lines_run_in_toml_module(text: str) -> int:
    """How many lines of rawfwd/config/toml.py parsing `text` runs (calls, returns too)."""
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        count += 1
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == toml_module.__file__ else None

    sys.settrace(tracer)
    try:
        parse_toml(text, "routes.toml")
    finally:
        sys.settrace(None)
    return count


def test_route_parsing_is_linear() -> None:
    # each route's line was looked up by scanning every table: twice the routes took 3
    # times the work (100 -> 200 routes), and 15,000 routes took 16 s to parse
    small = lines_run_in_toml_module(routes_doc(100))
    large = lines_run_in_toml_module(routes_doc(200))
    assert large <= 2.2 * small


@pytest.mark.parametrize(
    ("value", "shown_as"),
    [
        (f"[{HEX}]", "a list holding an integer too long to print"),
        (f"{{ a = {HEX} }}", "a dict holding an integer too long to print"),
        ("[" + ", ".join(["1"] * 100) + "]", "[" + "1, " * 32 + "..."),  # 97 characters and ...
    ],
    ids=["list", "table", "long"],
)
def test_values_quoted_in_errors_are_bounded(value: str, shown_as: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_toml(f"{IFACES}[dedup]\nmax_entries = {value}\n", "a.toml")
    assert info.value.line == 4
    assert info.value.reason == f"[dedup] max_entries: must be an integer, not {shown_as}"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[interface.eth0]\nmac = 1\nmac = 2", 3, "Cannot overwrite a value"),
        ("[interface.eth0]\nx = [1,\n\n", 2, "Invalid value"),
    ],
    ids=["last line", "trailing blank lines"],
)
def test_toml_error_at_end_of_document_has_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_toml(text, "a.toml")
    assert (info.value.line, info.value.reason) == (line, f"not valid TOML: {reason}")
