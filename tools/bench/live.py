"""`make bench`: rawfwd against the kernel's multicast routing, in network namespaces.

    S eth0 --- eth0 [R] eth1 --- eth0 A        tcpreplay in S offers more load than R can
                        eth2 --- eth0 B        forward; A and B drop at netdev ingress (nft)

R runs, in turn, with the same route: rawfwd with packet rings (`rings`: the compiled engine
where it was built, `rings-pure`: RAWFWD_PURE=1, the interpreted one), rawfwd on plain
sockets, the floor (a bare Python receive-and-send-twice loop), `cloop` (the same in C with
recvmmsg/sendmmsg, built here: the native user-space reference) and smcrouted (the kernel's
ipmr), interleaved over several rounds; packets forwarded per egress are read from A's and
B's interface counters over a fixed window after a warm-up, and medians are reported with
their ratios to the kernel and to cloop. A kernel without multicast routing
(CONFIG_IP_MROUTE unset: MRT_INIT fails with ENOPROTOOPT) has no kernel column: the table
says so and everything else runs; the latency baseline (what "added latency" is added to)
is then the XDP reference, the other forwarder that never leaves the kernel.

CPU placement: with veth, the receive softirq of R's eth0 runs on the CPU of the sender,
so tcpreplay is pinned to CPU 0 and rawfwd to CPU 1 (`rawfwd run --cpu 1`). Sharing the
softirq's CPU starves the process (it got 3-4 % user time in that measurement).

Frame sizes are 64 and 1000 bytes, over IPv4 and over IPv6 (`64v6`, `1000v6`: every path
but the kernel's, which smcroute is configured for with IPv4 only; the references, cloop
and the XDP program, take IPv6 multicast as they take IPv4's).

The generator loops over 65,536 distinct frames; the duplicate window is set to 0.1 s so
that the loop's own repetitions are not duplicates: dedup still checks and records every
packet (the cost per packet does not depend on the window), and the cache stays full.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rawfwd.core.wire6 import complete_l4_checksum6, ipv6_header
from rawfwd.errors import RawfwdError
from rawfwd.io import bpf
from rawfwd.lab.frames import udp_frame
from rawfwd.lab.netns import Lab, rawfwd_in, router_topology, socket_in, stop

GROUP = "239.1.2.3"
SOURCE = "10.0.0.5"
GROUP6 = "ff0e::1:2:3"
SOURCE6 = "2001:db8::5"
FRAMES = 65_536
RAWFWD_CONFIG = f"""\
[interface.eth0]
[interface.eth1]
[interface.eth2]

[[route]]
from = "eth0"
group = "{GROUP}"
to = ["eth1", "eth2"]

[[route]]
from = "eth0"
group = "{GROUP6}"
to = ["eth1", "eth2"]

[dedup]
window = 0.1
"""
SMCROUTE_CONF = f"""\
phyint eth0 enable
phyint eth1 enable
phyint eth2 enable
mroute from eth0 group {GROUP} to eth1 eth2
"""
#: the --busy-poll of the latency variant: longer than the 100 us between packets at 10k/s
BUSY_POLL_US = 1000
LATENCY_KINDS = ("ebpf", "rings", "rings+busy-poll")  # after the baseline: kernel, else xdp
TOOLS = ("tcpreplay", "smcrouted", "nft", "taskset", "cc", "ethtool")
_MRT_INIT = 200  # linux/mroute.h
_MRT_DONE = 201
_CLOOP = Path(__file__).with_name("cloop.c")
_XDP = Path(__file__).with_name("xdp_broadcast.bpf.c")
_SO_TIMESTAMPNS = 35  # asm-generic/socket.h
_SO_RCVBUFFORCE = 33
_SO_NO_CHECK = 11


def bench_frame(size: int, n: int, v6: bool = False) -> bytes:
    """An Ethernet frame of `size` bytes (no FCS): UDP to GROUP (GROUP6 from SOURCE6 with
    `v6`), payload numbered `n`."""
    payload_len = size - 14 - (40 if v6 else 20) - 8
    # the low bytes first: a 64-byte IPv6 frame has 2 bytes of payload, and no IP ID
    # tells its packets apart, so those must (or every one is a duplicate of the first)
    payload = (n.to_bytes(4, "little") * (payload_len // 4 + 1))[:payload_len]
    if v6:
        group = socket.inet_pton(socket.AF_INET6, GROUP6)
        udp = struct.pack("!HHHH", 40000, 5000, 8 + payload_len, 0) + payload
        header = ipv6_header(socket.inet_pton(socket.AF_INET6, SOURCE6), group, len(udp))
        mac = b"\x33\x33" + group[12:] + bytes.fromhex("020000be0001") + b"\x86\xdd"
        return complete_l4_checksum6(mac + header + udp)
    return udp_frame(
        socket.inet_aton(SOURCE),
        socket.inet_aton(GROUP),
        payload,
        ident=n,
        src_mac=bytes.fromhex("020000be0001"),
    )


def write_pcap(path: Path, size: int, v6: bool = False) -> None:
    """The generator's input: FRAMES distinct frames of `size` bytes."""
    from scapy.utils import RawPcapWriter

    writer = RawPcapWriter(str(path), linktype=1)
    writer.write_header(None)
    for n in range(FRAMES):
        writer.write_packet(bench_frame(size, n, v6), sec=0, usec=n % 1_000_000)
    writer.close()


class Bench:
    """The topology, the two forwarders and the measurements."""

    def __init__(self, lab: Lab, tmp: Path, cpu_gen: int, cpu_fwd: int) -> None:
        self.lab = lab
        self.tmp = tmp
        self.cpu_gen = cpu_gen
        self.cpu_fwd = cpu_fwd
        router_topology(lab)
        (tmp / "rawfwd.toml").write_text(RAWFWD_CONFIG)
        (tmp / "smcroute.conf").write_text(SMCROUTE_CONF)

    def kernel_routes(self) -> str | None:
        """None if R's kernel can route multicast (MRT_INIT works), else why not."""
        sock = socket_in(self.lab.ns("R"), socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        try:
            sock.setsockopt(socket.IPPROTO_IP, _MRT_INIT, 1)
            sock.setsockopt(socket.IPPROTO_IP, _MRT_DONE, 1)
        except OSError as exc:
            return f"no multicast routing in this kernel (MRT_INIT: {exc.strerror})"
        finally:
            sock.close()
        return None

    def build_references(self) -> str | None:
        """Compile the C reference loop and the XDP reference program; None if both were
        built, else why the XDP one was not (the C one is required)."""
        cmd = ["cc", "-O2", "-o", str(self.tmp / "cloop"), str(_CLOOP)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RawfwdError(f"bench: cannot build {_CLOOP.name}: {done.stderr.strip()}")
        try:
            bpf.compile_object(_XDP, self.tmp / "xdp_broadcast.o")
        except RawfwdError as exc:
            return str(exc)
        # veth hands frames redirected by XDP to a peer only with NAPI on there: GRO on
        for host in ("A", "B"):
            ethtool = ["ip", "netns", "exec", self.lab.ns(host), "ethtool", "-K", "eth0"]
            subprocess.run([*ethtool, "gro", "on"], capture_output=True, check=True)
        return None

    def sink(self, on: bool) -> None:
        """Drop at A's and B's netdev ingress (cheap; the rx counters still count)."""
        for host in ("A", "B"):
            rules = (
                'table netdev sink {\n chain drop_all {\n  type filter hook ingress device "eth0"'
                " priority 0; policy drop;\n }\n}\n"
                if on
                else "delete table netdev sink\n"
            )
            subprocess.run(
                ["ip", "netns", "exec", self.lab.ns(host), "nft", "-f", "-"],
                input=rules,
                text=True,
                check=on,
                capture_output=True,
            )

    def rx_packets(self, host: str) -> int:
        out = subprocess.run(
            ["ip", "-n", self.lab.ns(host), "-s", "-j", "link", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(json.loads(out)[0]["stats64"]["rx"]["packets"])

    @contextmanager
    def forwarder(self, kind: str) -> Iterator[int]:
        """Run rawfwd (`rings`, `rings-pure` or `sockets` I/O, `+busy-poll`), the floor,
        cloop or smcrouted (`kernel`) in R; yields the pid."""
        ns = self.lab.ns("R")
        env = None
        if kind == "cloop":
            cmd = ["ip", "netns", "exec", ns, str(self.tmp / "cloop"), "eth0", "eth1", "eth2"]
            cmd.append(str(self.cpu_fwd))
        elif kind == "xdp":
            obj = str(self.tmp / "xdp_broadcast.o")
            cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "tools.bench.xdp_ref", obj]
            cmd += ["eth0", "eth1", "eth2"]
        elif kind == "floor":
            cmd = [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "tools.bench.floor",
                "eth0",
                "eth1",
                "eth2",
                str(self.cpu_fwd),
            ]
        elif kind != "kernel":
            io, _, busy = kind.partition("+")  # "rings+busy-poll": the --busy-poll variant
            io, _, pure = io.partition("-")  # "rings-pure": the interpreted engine
            env = {**os.environ, "RAWFWD_PURE": "1"} if pure else None
            cmd = rawfwd_in(
                ns, "run", "-c", str(self.tmp / "rawfwd.toml"), "--no-ui",
                "--stats-interval", "3600", "--log-level", "WARNING",
                "--cpu", str(self.cpu_fwd), "--io", io,
                *(["--busy-poll", str(BUSY_POLL_US)] if busy else []),
            )  # fmt: skip
        else:
            cmd = [
                "ip",
                "netns",
                "exec",
                ns,
                "smcrouted",
                "-n",
                "-N",
                "-l",
                "err",
                "-f",
                str(self.tmp / "smcroute.conf"),
                "-i",
                f"{self.lab.tag}",
                "-u",
                str(self.tmp / "smcroute.sock"),
                "-P",
                str(self.tmp / "smcroute.pid"),
            ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
        try:
            self._wait_ready(kind, proc)
            yield proc.pid
        finally:
            stop([proc])

    def _wait_ready(self, kind: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RawfwdError(f"{kind} exited at start (status {proc.returncode})")
            if kind in ("floor", "cloop", "xdp"):
                time.sleep(0.5)  # nothing to ask: give it a moment to bind
                return
            if kind != "kernel":
                probe = rawfwd_in(self.lab.ns("R"), "show", "interfaces", "--json")
            else:
                probe = ["smcroutectl", "-u", str(self.tmp / "smcroute.sock"), "show"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RawfwdError(f"{kind} did not come up")

    @contextmanager
    def offer(self, pcap: Path, pps: float | None = None) -> Iterator[None]:
        """tcpreplay in S on CPU cpu_gen: top speed, or `pps` packets per second."""
        rate = ["--topspeed"] if pps is None else [f"--pps={pps:.0f}"]
        cmd = [
            "ip",
            "netns",
            "exec",
            self.lab.ns("S"),
            "taskset",
            "-c",
            str(self.cpu_gen),
            "tcpreplay",
            "-q",
            "-i",
            "eth0",
            "--loop=0",
            "--preload-pcap",
            *rate,
            str(pcap),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            proc.terminate()
            proc.wait()

    def rate(self, warmup: float, window: float, pid: int | None = None) -> dict[str, float]:
        """Packets/s arriving at A and B over `window` after `warmup` (+ CPU of `pid`)."""
        time.sleep(warmup)
        before = {h: self.rx_packets(h) for h in ("A", "B")}
        cpu0 = _cpu_seconds(pid) if pid else 0.0
        t0 = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - t0
        after = {h: self.rx_packets(h) for h in ("A", "B")}
        cpu = (_cpu_seconds(pid) - cpu0) if pid else 0.0
        rates = {h: (after[h] - before[h]) / elapsed for h in before}
        per_egress = statistics.mean(rates.values())
        result = {"per_egress_pps": per_egress, "A_pps": rates["A"], "B_pps": rates["B"]}
        if pid and per_egress:
            result["cpu_us_per_packet"] = cpu / (per_egress * elapsed) * 1e6
            result["cpu_share"] = cpu / elapsed
        return result

    def latency(self, kind: str, pps: int = 10_000, seconds: float = 2.0) -> dict[str, float]:
        """One-way delay S -> A through R at `pps`.

        The sender puts its send time (CLOCK_REALTIME, shared by all namespaces) in each
        packet; the receiver's kernel stamps arrival (SO_TIMESTAMPNS). The receiver reads
        only after the run, so Python's scheduling on this side adds nothing to the figures.
        """
        rx = socket_in(self.lab.ns("A"), socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rx.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 64 << 20)
        rx.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        rx.bind((GROUP, 5000))
        rx.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(GROUP) + socket.inet_aton("10.1.0.2"),
        )
        rx.setblocking(False)
        tx = socket_in(self.lab.ns("S"), socket.AF_INET, socket.SOCK_DGRAM)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
        # no UDP checksum (0: none, valid over IPv4, RFC 768): on veth the kernel would
        # leave it to offload, unfinished, and a forwarder that does not complete it (the
        # floor, cloop) would deliver packets the receiver drops
        tx.setsockopt(socket.SOL_SOCKET, _SO_NO_CHECK, 1)
        count = int(pps * seconds)
        gap = 1e9 / pps
        # the pacing loop spins: keep it on the generator's CPU, off the forwarder's
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.cpu_gen})
        try:
            steal0 = _steal_ms()
            start = time.monotonic_ns()
            for n in range(count):
                while time.monotonic_ns() < start + n * gap:
                    pass
                stamp = time.time_ns().to_bytes(8, "big")
                tx.sendto(stamp + n.to_bytes(4, "big") * 4, (GROUP, 5000))
        finally:
            os.sched_setaffinity(0, affinity)
        time.sleep(0.5)  # the last packets are still on their way: a fixed grace period
        # time the hypervisor ran something else on our CPUs: 10 ms of it on the
        # forwarder's CPU delays 100 packets at 10k/s, which is 0.5 % of a 2 s run
        steal = {cpu: ms - steal0.get(cpu, 0.0) for cpu, ms in _steal_ms().items()}
        delays: list[float] = []
        while True:
            try:
                data, anc, _, _ = rx.recvmsg(64, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            for level, kind_, payload in anc:
                if level == socket.SOL_SOCKET and kind_ == _SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    delays.append((sec * 10**9 + nsec - int.from_bytes(data[:8], "big")) / 1e3)
        rx.close()
        tx.close()
        if not delays:
            return {"received": 0, "sent": count}
        delays.sort()
        return {
            "steal_ms_forwarder_cpu": steal.get(self.cpu_fwd, 0.0),
            "received": len(delays),
            "sent": count,
            "p50_us": delays[len(delays) // 2],
            "p99_us": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
        }


def _steal_ms() -> dict[int, float]:
    """Steal time per CPU so far (/proc/stat, in ms): what the hypervisor took from us."""
    steal: dict[int, float] = {}
    tick = 1000 / os.sysconf("SC_CLK_TCK")
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu" and len(fields) > 7:
            steal[int(name[3:])] = int(fields[7]) * tick
    return steal


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(flows: int = 100_000, random_frames: int = 0) -> dict[str, float]:
    """Resident memory of the engine with `flows` active flows and a full dedup cache (or
    after `random_frames` of random (S,G)), measured in a fresh interpreter
    (tools.bench.memory)."""
    extra = ["--random", str(random_frames)] if random_frames else []
    out = subprocess.run(
        [sys.executable, "-m", "tools.bench.memory", "--flows", str(flows), *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    """Run the benchmark; print a table and write JSON to bench-results/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument(
        "--sizes", default="64,1000,64v6,1000v6", help="frame sizes; 'v6': IPv6 frames"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--kinds", default="", help="only these paths, comma-separated (e.g. rings,cloop)"
    )
    parser.add_argument("--quick", action="store_true", help="throughput only: no latency, memory")
    args = parser.parse_args()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)}: run `make bench`, which installs them")
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces)")
    cpus = sorted(os.sched_getaffinity(0))
    cpu_gen, cpu_fwd = cpus[0], cpus[-1]
    sizes = [s.strip() for s in args.sizes.split(",")]
    results: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": len(cpus),
        "rounds": args.rounds,
        "window_s": args.window,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="rawfwd-bench-") as tmpdir, Lab("rfbench") as lab:
        tmp = Path(tmpdir)
        bench = Bench(lab, tmp, cpu_gen, cpu_fwd)
        no_xdp = bench.build_references()
        no_kernel = bench.kernel_routes()
        results["engine"] = _engine_build()
        results["kernel"] = no_kernel or "multicast routing (smcrouted)"
        # added latency is measured over in-kernel forwarding: the kernel's own where it
        # routes, else the XDP broadcast (no logic, never leaves the kernel); cloop, a
        # user-space loop that sleeps in recvmmsg, only when neither exists
        base = "kernel" if no_kernel is None else "xdp" if no_xdp is None else "cloop"
        results["xdp"] = no_xdp or "xdp_broadcast.bpf.c"
        kinds: tuple[str, ...] = ("ebpf", "rings", "rings-pure", "sockets", "floor", "cloop")
        kinds += ("xdp",) if no_xdp is None else ()
        kinds += ("kernel",) if no_kernel is None else ()
        if args.kinds:
            kinds = tuple(k for k in kinds if k in args.kinds.split(","))
        print(
            f"engine: {results['engine']}; kernel: {results['kernel']}; xdp: {results['xdp']}",
            flush=True,
        )
        bench.sink(True)
        for size in sizes:
            pcap = tmp / f"frames-{size}.pcap"
            v6 = size.endswith("v6")
            write_pcap(pcap, int(size.removesuffix("v6")), v6)
            # the kernel's multicast routing is configured for IPv4 only (smcroute.conf)
            here = tuple(k for k in kinds if not (v6 and k == "kernel"))
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in here}
            for r in range(args.rounds):
                for kind in here if r % 2 == 0 else here[::-1]:
                    with bench.forwarder(kind) as pid, bench.offer(pcap):
                        got = bench.rate(args.warmup, args.window, pid)
                    runs[kind].append(got)
                    print(
                        f"  {size:>5} B round {r + 1} {kind:>10}: "
                        f"{got['per_egress_pps']:>10,.0f} pkt/s per egress",
                        flush=True,
                    )
            entry: dict[str, Any] = {"runs": runs}
            med = {k: statistics.median(x["per_egress_pps"] for x in runs[k]) for k in here}
            for k in here:
                entry[f"{k}_pps"] = med[k]
                for ref in ("kernel", "cloop", "xdp"):
                    if ref in med and k != ref:
                        entry[f"{k}_vs_{ref}"] = med[k] / med[ref] if med[ref] else None
                entry[f"{k}_cpu_us_per_packet"] = statistics.median(
                    x.get("cpu_us_per_packet", 0.0) for x in runs[k]
                )
            peak = med.get("rings", 0.0)
            if size == sizes[0] and peak:
                with bench.forwarder("rings") as pid, bench.offer(pcap, pps=3 * peak):
                    over = bench.rate(args.warmup, args.window, pid)
                entry["overload_3x_pps"] = over["per_egress_pps"]
                entry["overload_3x_ratio"] = over["per_egress_pps"] / peak if peak else None
            results["sizes"][size] = entry
        bench.sink(False)
        results["latency_baseline"] = base
        for kind in () if args.quick else (base, *LATENCY_KINDS):
            with bench.forwarder(kind):
                time.sleep(0.5)
                results[f"latency_{kind}"] = bench.latency(kind)
    if not args.quick:
        results["memory_100k_flows"] = memory()
        results["memory_random_300k_frames"] = memory(random_frames=300_000)
    lk = results.get(f"latency_{base}", {})
    for kind in LATENCY_KINDS:
        lr = results.get(f"latency_{kind}", {})
        if "p99_us" in lk and "p99_us" in lr:
            results[f"added_latency_us_{kind}"] = {
                "p50": lr["p50_us"] - lk["p50_us"],
                "p99": lr["p99_us"] - lk["p99_us"],
            }
    args.out.mkdir(exist_ok=True)
    path = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    _print(results)
    print(f"results: {path}")


def _engine_build() -> str:
    """Which build of the engine `rawfwd run` uses here (a fresh interpreter decides)."""
    code = "import rawfwd.native as n; print(n.status().describe())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()


def _print(results: dict[str, Any]) -> None:
    print(f"\nengine: {results['engine']}; kernel: {results['kernel']}; xdp: {results['xdp']}")
    print(
        f"{'size':>6} {'path':>11} {'pkt/s':>11} {'vs kernel':>10} {'vs cloop':>9} "
        f"{'vs xdp':>7} {'cpu us/pkt':>10}"
    )
    for size, e in results["sizes"].items():
        for kind in ("ebpf", "rings", "rings-pure", "sockets", "floor", "cloop", "xdp", "kernel"):
            if f"{kind}_pps" not in e:
                continue
            vs_kernel = e.get(f"{kind}_vs_kernel")
            vs_cloop = e.get(f"{kind}_vs_cloop")
            vs_xdp = e.get(f"{kind}_vs_xdp")
            cpu = e.get(f"{kind}_cpu_us_per_packet") or 0.0
            print(
                f"{size:>6} {kind:>11} {e[f'{kind}_pps']:>11,.0f} "
                f"{'-' if vs_kernel is None else f'{vs_kernel:.2f}x':>10} "
                f"{'-' if vs_cloop is None else f'{vs_cloop:.2f}x':>9} "
                f"{'-' if vs_xdp is None else f'{vs_xdp:.2f}x':>7} "
                f"{cpu:>10.2f}"
            )
        over = e.get("overload_3x_ratio")
        if over is not None:
            print(f"{size:>6} rings under 3x overload: {over:.0%} of its peak")
    print(
        "ebpf: rawfwd --io ebpf (the kernel fast path); "
        "rings: compiled engine (if built), rings-pure: interpreted; floor: a bare Python "
        "loop (recv_into, two sends); cloop: the same in C (recvmmsg/sendmmsg), no logic; "
        "xdp: an XDP program broadcasting every multicast frame through a devmap, no logic"
    )
    base = results["latency_baseline"]
    for kind in (base, *LATENCY_KINDS):
        lat = results.get(f"latency_{kind}", {})
        if "p50_us" in lat:
            add = results.get(f"added_latency_us_{kind}")
            print(
                f"latency {kind:>15} at 10k pkt/s: p50 {lat['p50_us']:4.0f} us, "
                f"p99 {lat['p99_us']:4.0f} us ({lat['received']}/{lat['sent']} received, "
                f"{lat['steal_ms_forwarder_cpu']:.0f} ms stolen from the forwarder's CPU)"
                + (
                    f"; added over {base}: p50 {add['p50']:.0f} us, p99 {add['p99']:.0f} us"
                    if add
                    else ""
                )
            )
    for key, what in (
        ("memory_100k_flows", "100,000 flows"),
        ("memory_random_300k_frames", "300,000 random (S,G) frames"),
    ):
        mem = results.get(key)
        if mem is None:
            continue
        print(
            f"memory, {what}: {mem['rss_mb']:.0f} MB resident with {mem['flows']:,} flows and "
            f"{mem['dedup_entries']:,} dedup entries "
            f"(interpreter alone {mem['baseline_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
