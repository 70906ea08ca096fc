"""The libbpf binding (rawfwd.io.bpf): a program clang built is loaded, its verdicts checked
in the kernel with BPF_PROG_TEST_RUN, its maps read and written, and an XDP program
attached through a link that the kernel removes when its process dies (nothing pinned, no
forwarding left without its control plane)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawfwd.core.wire6 import ipv6_header
from rawfwd.io import bpf
from rawfwd.lab.frames import udp_frame
from rawfwd.lab.netns import Lab, ip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")

REFERENCE = Path(__file__).parents[2] / "tools" / "bench" / "xdp_broadcast.bpf.c"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpf.compile_object(REFERENCE, tmp_path_factory.mktemp("bpf") / "broadcast.o")


@pytest.fixture
def loaded(built: Path) -> Iterator[bpf.BpfObject]:
    with bpf.BpfObject(built) as obj:
        yield obj


def _frame(group: str) -> bytes:
    return udp_frame(socket.inet_aton("10.0.0.5"), socket.inet_aton(group), b"payload")


def test_verdicts_on_frames(loaded: bpf.BpfObject) -> None:
    prog = loaded.program("broadcast")
    multicast = _frame("239.1.2.3")
    verdict, out = prog.test_run(multicast)
    assert verdict == bpf.XDP_REDIRECT
    assert out == multicast  # the reference program leaves the frame as it is
    assert prog.test_run(_frame("10.9.9.9"))[0] == bpf.XDP_PASS  # unicast
    arp = multicast[:12] + b"\x08\x06" + multicast[14:]
    assert prog.test_run(arp)[0] == bpf.XDP_PASS
    assert prog.test_run(multicast[:33])[0] == bpf.XDP_PASS  # too short to hold a header


def _frame6(group: str) -> bytes:
    udp = b"\x9c\x40\x13\x88\x00\x0a\x00\x00ab"
    dst = socket.inet_pton(socket.AF_INET6, group)
    header = ipv6_header(socket.inet_pton(socket.AF_INET6, "2001:db8::5"), dst, len(udp))
    return b"\x33\x33" + dst[12:] + b"\x02\x00\x00\x00\xaa\x01\x86\xdd" + header + udp


def test_verdicts_on_ipv6_frames(loaded: bpf.BpfObject) -> None:
    """The reference takes IPv6 multicast (ff00::/8) as it takes IPv4's: `make bench` has
    IPv6 rows."""
    prog = loaded.program("broadcast")
    multicast = _frame6("ff0e::1:1")
    assert prog.test_run(multicast) == (bpf.XDP_REDIRECT, multicast)
    assert prog.test_run(_frame6("2001:db8::9"))[0] == bpf.XDP_PASS  # unicast
    assert prog.test_run(multicast[:53])[0] == bpf.XDP_PASS  # too short for its header


def test_map_entries_round_trip(loaded: bpf.BpfObject) -> None:
    egress = loaded.map("egress")
    assert (egress.key_size, egress.value_size) == (4, 4)
    key = (1).to_bytes(4, "little")  # lo: always there
    assert egress.lookup(key) is None
    egress.update(key, key)
    assert egress.lookup(key) == key
    assert egress.delete(key) is True
    assert egress.delete(key) is False
    with pytest.raises(ValueError, match="key of 3 bytes, not 4"):
        egress.lookup(b"abc")
    with pytest.raises(bpf.BpfError, match="update egress"):
        egress.update((999_999).to_bytes(4, "little"), (999_999).to_bytes(4, "little"))


def test_errors_are_one_line(tmp_path: Path, built: Path) -> None:
    with pytest.raises(bpf.BpfError, match=r"eBPF: open missing\.o: No such file"):
        bpf.BpfObject(tmp_path / "missing.o")
    bad = tmp_path / "bad.bpf.c"
    bad.write_text("int broken( {\n")
    with pytest.raises(bpf.BpfError, match=r"cannot build bad\.bpf\.c: .*error") as err:
        bpf.compile_object(bad, tmp_path / "bad.o")
    assert "\n" not in str(err.value)
    with bpf.BpfObject(built) as obj, pytest.raises(bpf.BpfError, match="has no program nope"):
        obj.program("nope")


def _xdp_attached(ns: str, ifname: str) -> bool:
    out = subprocess.run(
        ["ip", "-n", ns, "-j", "link", "show", ifname], capture_output=True, text=True, check=True
    ).stdout
    return "xdp" in json.loads(out)[0]


def _wait(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_a_link_detaches_when_destroyed_or_when_its_process_dies(built: Path) -> None:
    with Lab("rfbpf") as lab:
        ns = lab.host("X")
        ip("link", "add", "v0", "type", "veth", "peer", "name", "v1", netns=ns)
        ip("link", "set", "v0", "up", netns=ns)
        script = textwrap.dedent(
            f"""
            import os, socket, sys, time
            from pathlib import Path
            from rawfwd.io import bpf
            obj = bpf.BpfObject(Path({str(built)!r}))
            link = obj.program("broadcast").attach_xdp(socket.if_nametoindex("v0"))
            if sys.argv[1] == "destroy":
                link.destroy()
            print("attached", flush=True)
            time.sleep(60)
            """
        )
        for how in ("destroy", "kill"):
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", script, how],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "attached"
                if how == "destroy":
                    assert not _xdp_attached(ns, "v0")
                else:
                    assert _xdp_attached(ns, "v0")
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=5)
                    assert _wait(lambda: not _xdp_attached(ns, "v0"))
            finally:
                proc.kill()
                proc.wait()
                assert proc.stdout is not None
                proc.stdout.close()
