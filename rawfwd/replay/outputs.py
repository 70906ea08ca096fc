"""Writing a replay's outputs: DIR/IFACE.pcap per egress, renamed into place only when the
whole replay succeeded (temporary files until then); the MACs replay makes up."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.values import Config
from ..core.wire import format_mac
from ..errors import InputError
from .captures import DLT_EN10MB, NS_PER_S


def with_replay_macs(config: Config) -> tuple[Config, tuple[str, ...]]:
    """Give every interface without a `mac` a stable, locally administered one for replay."""
    notes = []
    interfaces = dict(config.interfaces)
    for index, (name, spec) in enumerate(config.interfaces.items(), start=1):
        if spec.mac is None:
            mac = bytes((0x02, 0x72, 0x66, 0x00, index >> 8 & 0xFF, index & 0xFF))
            notes.append(
                f"interface {name} has no mac in the config; replay uses {format_mac(mac)}"
            )
            interfaces[name] = replace(spec, mac=mac)
    if not notes:
        return config, ()
    return replace(config, interfaces=interfaces), tuple(notes)


def _same_file(a: Path, b: Path) -> bool:
    """True if `a` and `b` are (or, once created, would be) the same file."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def refuse_overwriting_inputs(
    config: Config, inputs: Sequence[tuple[str, Path]], out_dir: Path
) -> None:
    """An input must not be one of the DIR/IFACE.pcap files the replay could write."""
    for iface, path in inputs:
        for name in config.interfaces:
            target = out_dir / f"{name}.pcap"
            if _same_file(path, target):
                raise InputError(
                    f"--in {iface}={path}: it is the output file {target} of interface {name}; "
                    "choose another --out-dir"
                )


class Outputs:
    """DIR/IFACE.pcap writers that write to temporary files until `commit`."""

    def __init__(self, out_dir: Path, nano: bool) -> None:
        self.out_dir = out_dir
        self.nano = nano
        self.writers: dict[str, Any] = {}
        self.temps: dict[str, Path] = {}
        self.counts: dict[str, int] = {}

    def write(self, egress: str, data: bytes, time_ns: int) -> None:
        writer = self.writers.get(egress)
        if writer is None:
            writer = self._open(egress)
        sec, frac = divmod(time_ns, NS_PER_S)
        writer.write_packet(data, sec=sec, usec=frac if self.nano else frac // 1000)
        self.counts[egress] += 1

    def _open(self, egress: str) -> Any:
        from scapy.utils import RawPcapWriter

        for _ in range(100):
            temp = self.out_dir / f".{egress}.pcap.{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(f"no free temporary file name in {self.out_dir}")
        self.temps[egress] = temp
        stream = os.fdopen(fd, "wb")
        writer = RawPcapWriter(stream, linktype=DLT_EN10MB, nano=self.nano)
        self.writers[egress] = writer
        self.counts[egress] = 0
        writer.write_header(None)
        return writer

    def _close_writers(self) -> None:
        writers, self.writers = self.writers, {}
        error: OSError | None = None
        for writer in writers.values():
            try:
                writer.close()
            except OSError as exc:
                error = error or exc
        if error is not None:
            raise error

    def commit(self) -> None:
        """Close the temporary files and rename them to DIR/IFACE.pcap."""
        self._close_writers()
        for egress in self.temps:
            target = self.out_dir / f"{egress}.pcap"
            if target.is_dir() and not target.is_symlink():
                raise IsADirectoryError(0, f"{target} is a directory")
        for egress, temp in list(self.temps.items()):
            os.replace(temp, self.out_dir / f"{egress}.pcap")
            del self.temps[egress]

    def discard(self) -> None:
        """Remove whatever `commit` did not rename into place."""
        with contextlib.suppress(OSError):
            self._close_writers()
        for temp in self.temps.values():
            with contextlib.suppress(OSError):
                temp.unlink()
        self.temps.clear()
