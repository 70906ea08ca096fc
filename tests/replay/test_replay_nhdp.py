"""`rawfwd replay` drives NHDP from captured HELLOs, capture time as the clock: the HELLOs
it would send go into the output pcap, and the relay set they lead to decides what it
relays (S-MPR: only for the neighbours that chose this node)."""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path

from rawfwd.config.values import Config, InterfaceSpec
from rawfwd.control import rfc5444
from rawfwd.control.nhdp import GROUP, LINK_STATUS, SYMMETRIC, NhdpPort, hello_frame
from rawfwd.control.rfc5444 import Packet
from rawfwd.replay import replay

from ..support.captures import NS, T0, pcap, read_pcap
from ..support.frames import udp_frame

DATA = "239.5.5.5"


def addr(n: int) -> bytes:
    return bytes([10, 0, 0, n])


def mac(n: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, n])


def test_replayed_hellos_make_neighbours_and_the_relay_set_decides(tmp_path: Path) -> None:
    # node 2 (replayed) between 1 and 3; 1 and 3 are NHDP ports run here to make the
    # capture: each hears 2 listed as heard in its first HELLO, then chooses 2 as MPR
    radio = InterfaceSpec(
        name="radio0",
        mac=mac(2),
        address=IPv4Interface("10.0.0.2/24"),
        manet=True,
        relay="s-mpr",
    )
    config = Config(interfaces={"radio0": radio}, routes=())
    ends = {n: NhdpPort("radio0") for n in (1, 3)}
    for n, port in ends.items():
        port.address = addr(n)
    ours = NhdpPort("radio0")  # a stand-in for node 2's HELLOs, which 1 and 3 must hear
    ours.address = addr(2)
    records: list[tuple[float, bytes]] = []
    for step in range(3):
        t = T0 + 2.0 * step
        mine = ours.hello(t)
        for n, port in ends.items():  # 1 and 3 learn of each other through 2's HELLOs
            port.on_packet(mine, addr(2), mac(2), t)
            port.settle(t)  # choose MPRs from what it heard, as its timer would
            ours.on_packet(port.hello(t), addr(n), mac(n), t)
            records.append((t + 0.1 * n, hello_frame(mac(n), addr(n), port.hello(t))))
        ours.settle(t)
    t = T0 + 5.0
    records.append((t, udp_frame("10.0.0.1", DATA, payload=b"one", ttl=8, src_mac=mac(1))))
    records.append((t + 0.1, udp_frame("10.0.0.7", DATA, payload=b"far", ttl=8, src_mac=mac(7))))
    capture = tmp_path / "radio0.pcap"
    capture.write_bytes(pcap(records))
    out = tmp_path / "out"
    replay(config, [("radio0", capture)], out)
    sent = [data for _, data in read_pcap(out / "radio0.pcap", nano=False)]
    hellos = [f for f in sent if f[30:34] == GROUP]
    data = [f for f in sent if f[30:34] != GROUP]
    assert len(hellos) >= 3  # one at the first frame, then every 2 s of capture time
    last = rfc5444.decode(hellos[-1][42:])
    assert isinstance(last, Packet)
    block = last.messages[0].blocks[1]
    assert set(block.addresses) == {addr(1), addr(3)}
    assert block.values(LINK_STATUS) == [bytes([SYMMETRIC])] * 2
    # 1 chose 2 as MPR (2 covers 3): its packet is relayed; 7 is no neighbour: not relayed
    assert [f[-3:] for f in data] == [b"one"]
    assert all(f[6:12] == mac(2) and f[22] == 7 for f in data)
    first_time, _ = read_pcap(out / "radio0.pcap", nano=False)[0]
    assert first_time // NS == T0  # the first HELLO at the first frame's time
