"""PIM end to end against FRR's pimd (the PIM-SM issue): rawfwd and FRR, each in its own
namespace on one LAN, become neighbours both ways by Hello, agree on the DR, and FRR
forgets rawfwd at once when rawfwd stops (its goodbye Hello, RFC 7761 section 4.3.1).
With FRR as the RP, rawfwd as a last-hop router joins toward it for a kernel host and
prunes when the host leaves; with rawfwd as the RP, FRR's Join for a host behind it makes
rawfwd send a source's traffic onto the LAN toward FRR.

FRR runs in a plain namespace: without the kernel's multicast routing it cannot forward,
but it exchanges PIM messages, which is all this test asks of it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawfwd.lab.netns import ip, rawfwd_in, socket_in, stop

from ..support.lab import PORT, RouterLab, drain, show_pim, udp_to, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

FRR = Path("/usr/lib/frr")
RAWFWD = "10.1.0.1"  # R's eth1
PEER = "10.1.0.2"  # A's eth0, where FRR runs


def config(priority: int) -> str:
    return f"""\
[interface.eth0]
[interface.eth1]
pim = true
hello_interval = 1
hello_holdtime = 60
dr_priority = {priority}
"""


class Frr:
    """zebra and pimd of FRR in namespace `ns`, their sockets and logs under `home`."""

    def __init__(self, ns: str, home: Path, priority: int, more: str = "") -> None:
        if not (FRR / "pimd").exists():
            pytest.fail("FRR is not installed: `make test` installs it (Debian's frr)")
        self.ns, self.home = ns, home
        shutil.chown(home, "frr", "frr")  # FRR's daemons drop to user frr
        (home / "pimd.conf").write_text(
            "frr defaults traditional\n"
            "interface eth0\n"
            " ip pim\n"
            " ip pim hello 1 4\n"
            f" ip pim drpriority {priority}\n" + more
        )
        (home / "zebra.conf").write_text("frr defaults traditional\n")
        self.logs: list[Any] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        for daemon in ("zebra", "pimd"):
            self.procs.append(self._start(daemon))

    def _start(self, daemon: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{daemon}.log").open("wb")
        self.logs.append(log)
        cmd = [
            "ip", "netns", "exec", self.ns, str(FRR / daemon),
            "-f", str(self.home / f"{daemon}.conf"),
            "-i", str(self.home / f"{daemon}.pid"),
            "-z", str(self.home / "zserv.api"),
            "--vty_socket", str(self.home),
            "-P", "0",
            "--log", "stdout",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if daemon == "zebra":
            wait_for(lambda: (self.home / "zserv.api").exists(), what="zebra's socket")
        return proc

    def show(self, command: str) -> Any:
        """`vtysh -c COMMAND` against pimd, its JSON."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, "vtysh", "--vty_socket", str(self.home),
             "-d", "pimd", "-c", command],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        if done.returncode != 0 or not done.stdout.strip():
            return None
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return None

    def configure(self, *lines: str) -> str | None:
        """Apply configuration through vtysh (FRR 8.4 drops `ip pim rp` from its startup
        file: it is applied here, and checked by the caller); None when taken, otherwise
        vtysh's complaint (pimd may not be listening yet: the caller retries)."""
        commands = ["configure terminal", *lines]
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, "vtysh", "--vty_socket", str(self.home),
             "-d", "pimd", *(x for c in commands for x in ("-c", c))],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        if done.returncode == 0:
            return None
        return (done.stdout + done.stderr).strip() or f"vtysh exit {done.returncode}"

    def set_rp(self, rp: str) -> None:
        """`ip pim rp RP`, again until FRR lists it (refused while pimd is not listening
        yet or its RIB has no path to the RP, and FRR 8.4 drops it from the startup
        file)."""
        refused: list[str] = []

        def taken() -> bool:
            complaint = self.configure(f"ip pim rp {rp} 224.0.0.0/4")
            if complaint is not None:
                refused[:] = [complaint]
                return False
            found = self.show("show ip pim rp-info json") or {}
            return any(
                entry.get("outboundInterface") not in (None, "Unknown")
                for entry in found.get(rp, [])
            )

        try:
            wait_for(taken, 20, f"FRR to take {rp} as its RP")
        except BaseException:
            if refused:
                print(f"last vtysh refusal: {refused[0]}")
            raise

    def join_state(self, interface: str, group: str) -> str | None:
        """FRR's downstream join state of (*, group) on `interface` (JOIN, NOINFO, ...)."""
        found = self.show("show ip pim join json") or {}
        state: str | None = (
            found.get(interface, {}).get(group, {}).get("*", {}).get("channelJoinName")
        )
        return state

    def neighbor(self, address: str, interface: str = "eth0") -> dict[str, Any] | None:
        found = self.show("show ip pim neighbor json") or {}
        result: dict[str, Any] | None = found.get(interface, {}).get(address)
        return result

    def dr(self) -> str | None:
        found = self.show("show ip pim interface json") or {}
        dr: str | None = found.get("eth0", {}).get("pimDesignatedRouter")
        return dr

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


@pytest.fixture(params=[10, 1], ids=["rawfwd-priority-10", "equal-priorities"])
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[RouterLab, Frr]]:
    # outside tmp_path, whose parents only root may enter: FRR runs as user frr
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-frr-") as scratch,
        RouterLab(tmp_path, config(priority=request.param)) as router,
    ):
        frr = Frr(router.ns("A"), Path(scratch), priority=1)
        try:
            router.start()
            yield router, frr
        finally:
            frr.close()


def rawfwd_interface(router: RouterLab) -> dict[str, Any]:
    (found,) = [i for i in router.show()["pim"]["interfaces"] if i["interface"] == "eth1"]
    return found  # type: ignore[no-any-return]


def test_neighbours_both_ways_and_one_dr(lab: tuple[RouterLab, Frr]) -> None:
    router, frr = lab
    priority = 10 if "dr_priority = 10" in router.config.read_text() else 1
    theirs = wait_for(lambda: frr.neighbor(RAWFWD), 20, "FRR to list rawfwd as a neighbour")
    assert theirs["drPriority"] == priority
    assert theirs["holdTimeMax"] == 60

    def ours() -> dict[str, Any] | None:
        found = rawfwd_interface(router)["neighbors"]
        return found[0] if found else None

    neighbor = wait_for(ours, 20, "rawfwd to list FRR as a neighbour")
    assert neighbor["address"] == PEER
    assert neighbor["dr_priority"] == 1
    assert neighbor["holdtime"] == 4  # `ip pim hello 1 4`
    assert isinstance(neighbor["generation_id"], int)
    # RFC 7761 4.3.2: priority 10 beats 1; equal priorities, the higher address (FRR's)
    dr = RAWFWD if priority == 10 else PEER
    wait_for(lambda: frr.dr() == dr, 10, f"FRR to elect {dr}")
    iface = rawfwd_interface(router)
    assert (iface["dr"], iface["is_dr"]) == (dr, dr == RAWFWD)
    # rawfwd stops: its goodbye (holdtime 0) makes FRR forget it at once, not in 60 s
    router.stop()
    wait_for(lambda: frr.neighbor(RAWFWD) is None, 3, "FRR to forget rawfwd")
    wait_for(lambda: frr.dr() == PEER, 5, "FRR to be the DR alone")


GROUP = "239.1.1.1"
LAST_HOP = """\
[interface.eth0]
[interface.eth1]
pim = true
hello_interval = 1
[interface.eth2]
pim = true
igmp = true
version = 2
last_member_query_interval = 0.3
[interface.eth3]

[[pim.rp]]
address = "10.1.0.2"
"""


def test_a_last_hop_join_reaches_the_frr_rp_and_a_leave_prunes_it(tmp_path: Path) -> None:
    """A kernel host behind rawfwd (B on eth2) joins: rawfwd, DR there, sends Join(*,G)
    toward the RP, FRR; FRR records the join on its interface; the host leaves: after the
    last member queries rawfwd prunes, and FRR's state goes (RFC 7761 4.5.2, 4.5.6)."""
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-frr-") as scratch,
        RouterLab(tmp_path, LAST_HOP) as router,
    ):
        frr = Frr(router.ns("A"), Path(scratch), priority=1)
        try:
            frr.set_rp(PEER)
            router.start()
            wait_for(lambda: frr.neighbor(RAWFWD), 20, "FRR to list rawfwd as a neighbour")
            host = router.receiver("B", GROUP)
            wait_for(lambda: frr.join_state("eth0", GROUP) == "JOIN", 10, "FRR to hear the join")
            (entry,) = router.show()["pim"]["joins"]
            assert (entry["source"], entry["group"], entry["rp"]) == ("*", GROUP, PEER)
            assert entry["upstream"]["state"] == "Joined"
            assert (entry["upstream"]["interface"], entry["upstream"]["neighbor"]) == (
                "eth1",
                PEER,
            )
            assert entry["oifs"] == ["eth2"]
            host.close()  # the kernel sends a leave
            wait_for(
                lambda: frr.join_state("eth0", GROUP) in (None, "NOINFO"),
                10,
                "FRR to hear the prune",
            )
            assert router.show()["pim"]["joins"] == []
        finally:
            frr.close()


RP_HERE = """\
[interface.eth0]
pim = true
hello_interval = 1
[interface.eth1]
pim = true
hello_interval = 1
[interface.eth2]
[interface.eth3]

[[pim.rp]]
address = "10.0.0.1"
"""


LAST_HOP_BEHIND_FRR = """\
[interface.eth0]
pim = true
hello_interval = 1
[interface.eth1]
pim = true
igmp = true
version = 2
last_member_query_interval = 0.3

[[pim.rp]]
address = "10.0.0.1"
"""


def test_frr_relays_a_join_between_two_rawfwd_routers(tmp_path: Path) -> None:
    """A chain: S - rawfwd (R, the RP) - FRR (A) - rawfwd (H, last hop) - host K. K joins
    by IGMP; H joins toward the RP through FRR (RPF' = its one neighbour there); FRR, with
    H's Join as downstream state, joins toward the RP in turn; R then sends S's traffic
    onto the LAN toward FRR (captured on FRR's interface: FRR itself cannot forward here,
    the kernel has no multicast routing), TTL decremented once."""
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-frr-") as scratch,
        RouterLab(tmp_path, RP_HERE) as router,
    ):
        lab = router.lab
        lab.host("H")
        lab.host("K")
        lab.link("A", "eth1", "10.8.0.1/24", "H", "eth0", "10.8.0.2/24")
        lab.link("H", "eth1", "10.9.0.1/24", "K", "eth0", "10.9.0.2/24")
        # FRR's next-hop tracking does not resolve over a default route: a route to the RP
        ip("route", "add", "10.0.0.0/24", "via", RAWFWD, netns=router.ns("A"))
        ip("route", "add", "default", "via", "10.8.0.1", netns=router.ns("H"))
        ip("route", "add", "default", "via", "10.9.0.1", netns=router.ns("K"))
        frr = Frr(router.ns("A"), Path(scratch), priority=1, more="interface eth1\n ip pim\n")
        last_hop: subprocess.Popen[bytes] | None = None
        try:
            router.start()
            wait_for(lambda: frr.neighbor(RAWFWD), 20, "FRR to list rawfwd as a neighbour")
            frr.set_rp("10.0.0.1")  # FRR resolves the RP once rawfwd is its PIM neighbour
            config = tmp_path / "last-hop.toml"
            config.write_text(LAST_HOP_BEHIND_FRR)
            with (tmp_path / "last-hop.log").open("wb") as log:
                last_hop = subprocess.Popen(
                    rawfwd_in(router.ns("H"), "run", "-c", str(config), "--no-ui"), stderr=log
                )
            wait_for(lambda: frr.neighbor("10.8.0.2", "eth1"), 20, "FRR to list the last hop")
            joiner = socket_in(router.ns("K"), socket.AF_INET, socket.SOCK_DGRAM)
            router.sockets.append(joiner)
            joiner.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(GROUP) + socket.inet_aton("10.9.0.2"),
            )
            wait_for(lambda: frr.join_state("eth1", GROUP) == "JOIN", 20, "H's join at FRR")
            h_entry = show_pim(router.ns("H"))["joins"][0]
            assert h_entry["upstream"]["neighbor"] == "10.8.0.1"  # through FRR

            def joined() -> dict[str, Any] | None:
                for entry in router.show()["pim"]["joins"]:
                    if entry["group"] == GROUP and "eth1" in entry["oifs"]:
                        return entry  # type: ignore[no-any-return]
                return None

            entry = wait_for(joined, 20, "FRR's Join(*,G) to reach the RP")
            assert entry["downstream"]["eth1"]["state"] == "Join"
            assert entry["upstream"]["state"] == "NotJoined"  # we are the RP
            capture = router.capture("A")
            sender = router.sender("S", ttl=8)

            def arrived() -> list[bytes]:
                sender.sendto(b"down the RP tree", (GROUP, PORT))
                return udp_to(drain(capture, 0.2), GROUP)

            frames = wait_for(arrived, 10, "S's traffic on FRR's LAN")
            assert frames[0][22] == 7  # TTL 8, one router crossed
        finally:
            if last_hop is not None:
                stop([last_hop])
            frr.close()


FIRST_HOP = RP_HERE.replace('address = "10.0.0.1"', f'address = "{PEER}"')  # FRR is RP


def test_the_first_hop_dr_registers_to_frr_and_obeys_its_register_stop(
    tmp_path: Path,
) -> None:
    """S beside rawfwd sends; rawfwd, DR there, puts the packets into Registers to the RP,
    FRR (RFC 7761 4.4.1). FRR has no receivers for the group, so it answers with a
    Register-Stop, and rawfwd stops registering (its pimreg tunnel falls silent)."""
    with (
        tempfile.TemporaryDirectory(prefix="rawfwd-frr-") as scratch,
        RouterLab(tmp_path, FIRST_HOP) as router,
    ):
        ip("route", "add", "10.0.0.0/24", "via", RAWFWD, netns=router.ns("A"))
        frr = Frr(router.ns("A"), Path(scratch), priority=1)
        try:
            router.start()
            wait_for(lambda: frr.neighbor(RAWFWD), 20, "FRR to list rawfwd as a neighbour")
            frr.set_rp(PEER)
            sender = router.sender("S", ttl=8)

            def stopped() -> dict[str, Any] | None:
                sender.sendto(b"registered", (GROUP, PORT))
                registers = router.show()["pim"]["registers"]
                if registers["counters"].get("register_stop_in"):
                    return registers  # type: ignore[no-any-return]
                return None

            registers = wait_for(stopped, 15, "FRR's Register-Stop")
            assert registers["counters"]["register_out"] >= 1
            (state,) = registers["states"]
            assert (state["source"], state["group"], state["state"]) == (
                "10.0.0.5",
                GROUP,
                "Prune",
            )
            assert 20 <= state["timer"] <= 85  # rand(0.5, 1.5) x 60 s - 5 s

            def tunnel() -> int:
                (found,) = [i for i in router.show()["interfaces"] if i["name"] == "pimreg"]
                return int(found["tx_frames"])

            before = tunnel()
            seen = router.flow("eth0", "10.0.0.5", GROUP)
            assert seen is not None
            for _ in range(5):
                sender.sendto(b"after the stop", (GROUP, PORT))

            def counted() -> bool:
                now = router.flow("eth0", "10.0.0.5", GROUP)
                return now is not None and now["packets"] >= seen["packets"] + 5

            wait_for(counted, 5, "the packets after the stop to be counted")
            assert tunnel() == before
        finally:
            frr.close()
