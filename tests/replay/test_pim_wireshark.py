"""What the PIM golden replays (sparse and dense) send, decoded by Wireshark's PIM
dissector (tshark, installed by `make test`): every PIM message of the expected type with a
checksum tshark calls good (a Register's over its first 8 bytes, RFC 7761 4.9.3), to
ALL-PIM-ROUTERS, the RP or the upstream neighbour."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXPECTED = Path(__file__).parents[1] / "data" / "pim" / "expected"
GOOD = "1"  # tshark's checksum status: good


def pim_fields(pcap: Path) -> list[tuple[str, str, str]]:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is not installed: `make test` installs it (Debian's tshark)")
    done = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "pim", "-T", "fields",
         "-e", "pim.type", "-e", "pim.cksum.status", "-e", "ip.dst"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [tuple(line.split("\t")) for line in done.stdout.splitlines()]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("interface", "types", "destination"),
    [
        ("eth0", ["0", "3", "3", "3"], "224.0.0.13"),  # Hello, Join, Join, Prune
        ("eth1", ["0"], "224.0.0.13"),
        ("eth2", ["0"], "224.0.0.13"),
        ("pimreg", ["1"], "10.0.0.2,239.4.4.4"),  # the Register to the RP, and its inner
    ],
)
def test_tshark_decodes_what_the_pim_replay_sends(
    interface: str, types: list[str], destination: str
) -> None:
    found = pim_fields(EXPECTED / f"{interface}.pcap")
    assert [t for t, _, _ in found] == types
    assert all(status == GOOD for _, status, _ in found)
    assert {dst for _, _, dst in found} == {destination}


@pytest.mark.parametrize(
    ("interface", "types", "destination"),
    [
        ("eth0", ["0", "3"], "224.0.0.13"),  # Hello, then Prune(S,G) to U
        ("eth1", ["0", "3"], "224.0.0.13"),  # Hello, Prune(S,G) off the RPF interface
        ("pimreg", ["6"], "10.0.0.2"),  # the Graft, unicast to U
    ],
)
def test_tshark_decodes_what_the_pim_dense_replay_sends(
    interface: str, types: list[str], destination: str
) -> None:
    found = pim_fields(EXPECTED.parents[1] / "pim_dense" / "expected" / f"{interface}.pcap")
    assert [t for t, _, _ in found] == types
    assert all(status == GOOD for _, status, _ in found)
    assert {dst for _, _, dst in found} == {destination}
