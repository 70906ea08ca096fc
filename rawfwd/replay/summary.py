"""What `rawfwd replay` reports: the result (counters, outputs, notes, IGMP) as text or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..control.igmp_router import IgmpInterfaceView, proxy_json
from ..control.proxy import ProxyView
from ..core import Snapshot
from ..core.addr import text


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay produced: final counters and, per egress interface, frames written."""

    snapshot: Snapshot  #: its flows include those the forwarder forgot, in first-seen order
    outputs: dict[str, int]  #: interface -> frames written to DIR/IFACE.pcap
    notes: tuple[str, ...]  #: things the user should know (e.g. MACs made up for replay)
    #: indexes into `snapshot.flows` of flows forgotten during the replay (idle or evicted)
    forgotten: frozenset[int] = frozenset()
    #: the IGMP state at the end: interfaces with `igmp = true`, and the proxy's upstream
    igmp: tuple[IgmpInterfaceView, ...] = ()
    proxy: ProxyView | None = None
    #: flows forgotten beyond the `[flows] max_flows` that the summary keeps: counted only
    unlisted: int = 0
    #: the PIM state at the end (`rawfwd show pim --json`'s), None without PIM
    pim: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (output files named relative to the output directory)."""
        doc = self.snapshot.to_json()
        for index in self.forgotten:
            doc["flows"][index]["forgotten"] = True
        if self.unlisted:  # only then: summaries of replays that kept every flow stay as they were
            doc["forgotten_unlisted"] = self.unlisted
        doc["outputs"] = {
            name: {"file": f"{name}.pcap", "frames": n} for name, n in self.outputs.items()
        }
        doc["notes"] = list(self.notes)
        if self.igmp or self.proxy is not None:
            doc["igmp"] = [view.to_json() for view in self.igmp]
            doc["proxy"] = proxy_json(self.proxy) if self.proxy is not None else None
        if self.pim is not None:
            doc["pim"] = self.pim
        return doc


def _drops_text(drops: Any) -> str:
    return ", ".join(f"{reason.value} {n}" for reason, n in drops.items()) or "-"


def format_summary(result: ReplayResult) -> str:
    """The per-flow and per-interface summary `rawfwd replay` prints, as plain text."""
    snap = result.snapshot
    lines = [f"flows: {len(snap.flows)}"]
    if result.unlisted:
        lines[0] += f" (and {result.unlisted} more forgotten, not listed)"
    for index, f in enumerate(snap.flows):
        out = ", ".join(f.oifs) if f.oifs else "-"
        gone = " (forgotten)" if index in result.forgotten else ""
        lines.append(
            f"  ({f.source}, {f.group}) in {f.iif} -> {out}: packets {f.packets} bytes {f.bytes} "
            f"forwarded {f.forwarded} copies {f.copies} drops: {_drops_text(f.drops)}{gone}"
        )
    lines.append("interfaces:")
    for i in snap.interfaces:
        lines.append(
            f"  {i.name}: rx {i.rx_frames} frames {i.rx_bytes} bytes, tx {i.tx_frames} frames "
            f"{i.tx_bytes} bytes, drops: {_drops_text(i.drops)}"
        )
    lines.append(f"drops: {_drops_text(snap.drops)}")
    for view in result.igmp:
        who = "we are querier" if view.is_querier else f"querier {view.querier or '?'}"
        lines.append(
            f"{view.protocol} {view.name} (v{view.version}, {who}): {len(view.groups)} groups"
        )
        for g in view.groups:
            sources = ", ".join(text(s) for s, _ in g.sources) or "-"
            excluded = ", ".join(text(s) for s in g.excluded) or "-"
            lines.append(f"  {text(g.group)} {g.mode.value} sources {sources} excluded {excluded}")
    if result.proxy is not None:
        groups = ", ".join(f"{text(g)} {m.value}" for g, m, _ in result.proxy.groups)
        lines.append(f"proxy upstream {result.proxy.interface}: {groups or 'no groups'}")
    if result.pim is not None:
        for iface in result.pim["interfaces"]:
            neighbors = ", ".join(n["address"] for n in iface["neighbors"]) or "none"
            lines.append(
                f"pim {iface['interface']} (DR {iface['dr'] or '-'}): neighbours {neighbors}"
            )
        for entry in result.pim["joins"]:
            up = entry["upstream"]
            toward = f" toward {up['neighbor']} on {up['interface']}" if up["neighbor"] else ""
            oifs = ", ".join(entry["oifs"]) or "-"
            lines.append(f"  ({entry['source']}, {entry['group']}) {up['state']}{toward} -> {oifs}")
    written = ", ".join(f"{name}.pcap ({n} frames)" for name, n in result.outputs.items())
    lines.append(f"wrote: {written or 'nothing (no frame was forwarded)'}")
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)
