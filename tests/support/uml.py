"""FRR in a User-Mode Linux guest, for tests that need a PIM peer that forwards.

The kernels these tests run on may have no multicast routing (CONFIG_IP_MROUTE unset),
so FRR in a plain namespace exchanges PIM messages but cannot forward, register or
decapsulate. Debian's user-mode-linux kernel (6.1) has multicast routing: the guest boots
with the host's / as a read-only hostfs root, tmpfs on /run, /var/tmp and /var/log, and its
interfaces attached to host veth ends by the `vec` raw transport. A classic BPF filter
(`bpffile=`) drops the guest's own frames, which the raw socket would otherwise hand back
to it (FRR would hear its own Hellos and assert against itself). The console is the
channel: the guest's init reads vtysh commands line by line and answers each with its
output and an end marker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import textwrap
import time
from pathlib import Path

UML = "/usr/bin/linux.uml"
END = "__rawfwd_end__"
#: pimd on both of a guest's interfaces, Hellos every second (held 4 s)
FRR_CONF = """\
frr defaults traditional
interface vec0
 ip pim
 ip pim hello 1 4
interface vec1
 ip pim
 ip pim hello 1 4
"""

_INIT = """\
#!/bin/sh
# rawfwd test guest: FRR's zebra and pimd, then vtysh commands from the console
mount -t proc proc /proc
mount -t sysfs sys /sys
for d in /run /var/tmp /var/log; do mount -t tmpfs tmpfs "$d"; done  # not /tmp: home is there
mkdir -p /run/frr && chown frr:frr /run/frr
ip link set lo up
{links}
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.conf.all.rp_filter=0
{routes}
cd /run/frr
/usr/lib/frr/zebra -d -f {home}/zebra.conf -i /run/frr/zebra.pid -z /run/frr/zserv.api \\
    --vty_socket /run/frr -P 0 --log file:/run/frr/zebra.log
sleep 0.5
/usr/lib/frr/pimd -d -f {home}/pimd.conf -i /run/frr/pimd.pid -z /run/frr/zserv.api \\
    --vty_socket /run/frr -P 0 --log file:/run/frr/pimd.log
echo {ready}
while read -r line; do
    case "$line" in
        "sh "*) sh -c "${{line#sh }}" 2>&1 ;;
        *) vtysh --vty_socket /run/frr -c "$line" 2>&1 ;;
    esac
    echo {end}
done
"""


def available() -> bool:
    return os.path.exists(UML) and os.path.exists("/usr/lib/frr/pimd")


def not_from(mac: bytes) -> bytes:
    """A classic BPF program (struct sock_filter array) passing every frame but those
    whose Ethernet source is `mac`."""
    hi, lo = struct.unpack("!HI", mac)
    code = [
        (0x20, 0, 0, 8),  # ld [8]: source MAC bytes 2-5
        (0x15, 0, 3, lo),  # jeq lo ? next : accept
        (0x28, 0, 0, 6),  # ldh [6]: source MAC bytes 0-1
        (0x15, 0, 1, hi),  # jeq hi ? drop : accept
        (0x06, 0, 0, 0),  # ret 0: drop
        (0x06, 0, 0, 0x40000),  # ret: accept
    ]
    # jeq lo: true -> next (ldh), false -> skip 3 to accept (index 5)
    return b"".join(struct.pack("=HBBI", *c) for c in code)


class FrrGuest:
    """A UML guest running FRR, its interfaces on host veth ends (in namespace `ns`)."""

    def __init__(
        self,
        home: Path,
        ns: str,
        links: list[tuple[str, str, str]],
        pimd_conf: str,
        routes: tuple[str, ...] = (),
    ) -> None:
        """`links`: (host interface in `ns`, guest address/prefix, guest MAC) each."""
        self.home = home
        shutil.chown(home, "frr", "frr")
        home.chmod(0o755)
        (home / "zebra.conf").write_text("frr defaults traditional\n")
        (home / "pimd.conf").write_text(pimd_conf)
        setup = []
        args = [UML, "mem=384M", "rootfstype=hostfs", "rootflags=/", "ro", "con0=fd:0,fd:1",
                "con=null", f"init={home / 'init'}"]  # fmt: skip
        for n, (ifname, address, mac) in enumerate(links):
            bpf = home / f"filter{n}.bpf"
            bpf.write_bytes(not_from(bytes.fromhex(mac.replace(":", ""))))
            args.append(f"vec{n}:transport=raw,ifname={ifname},mac={mac},bpffile={bpf}")
            setup.append(f"ip addr add {address} dev vec{n} && ip link set vec{n} up")
        init = _INIT.format(
            links="\n".join(setup),
            routes="\n".join(f"ip route add {r}" for r in routes),
            home=home,
            ready="__rawfwd_ready__",
            end=END,
        )
        (home / "init").write_text(textwrap.dedent(init))
        (home / "init").chmod(0o755)
        self.log = (home / "console.log").open("w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the guest's processes are one group: killed together
            cwd=home,
        )
        self._wait_for("__rawfwd_ready__", 60.0)

    def _wait_for(self, marker: str, timeout: float) -> list[str]:
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), True)
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the UML guest ended: {''.join(lines[-20:])}")
            self.log.write(line)
            if line.strip() == marker:
                return lines
            lines.append(line)
        raise AssertionError(f"the UML guest did not say {marker!r}")

    def run(self, command: str, timeout: float = 20.0) -> str:
        """A vtysh command (or `sh ...`) in the guest; its output."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return "".join(self._wait_for(END, timeout))

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.log.close()


def set_rp(guest: FrrGuest, rp: str, *extra: str) -> None:
    """`ip pim rp RP` (and `extra` lines) through vtysh, again until FRR lists the RP with
    its interface: FRR 8.4 drops it from its startup file and cannot use it while its RIB
    has no path there (its next-hop tracking does not resolve over a default route)."""
    lines = " ".join(f"-c '{line}'" for line in (f"ip pim rp {rp} 224.0.0.0/4", *extra))

    def taken() -> bool:  # listed with an outgoing interface: FRR has a path to it
        guest.run(f"sh vtysh --vty_socket /run/frr -c 'conf t' {lines}")
        rows = guest.run("show ip pim rp-info").splitlines()
        return any(rp in row.split() and "Unknown" not in row for row in rows[1:])

    deadline = time.monotonic() + 30
    while not taken():
        if time.monotonic() > deadline:
            raise AssertionError(f"FRR did not take {rp} as its RP")
        time.sleep(0.2)
