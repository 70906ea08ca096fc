"""The flow table: every flow in first-seen order, bounded, forgotten when idle.

Theory of operation:

- A flow is (ingress, source, group), and a local flow (frames this host's applications
  sent) is apart from the wire's. Each lives in two dicts: its port's, keyed by the frame's
  source and group bytes (the per-packet lookup: one dict access on a slice), and this
  table's, in first-seen order (eviction, sweeps and snapshots).
- `[flows] max_flows` bounds the table: a new flow beyond it pushes the oldest out.
- The idle sweep runs every `idle_timeout / 4` (1 to 60 s) and forgets flows silent for
  longer than `idle_timeout`: a flow is gone at most one period after its timeout. Its time
  is a timer of the engine's, so it runs with no frame arriving.
- While membership decides egress, flows are also indexed by group, so that a change of one
  group's members visits its flows only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ..config.values import FlowSpec
from .state import Flow

_NEVER: Final = float("inf")


class FlowTable:
    """The flows; see the module docstring."""

    def __init__(self) -> None:
        #: every flow, oldest first (a dict for its order: a flow is its own key, by identity,
        #: which costs no key object per flow)
        self._flows: dict[Flow, None] = {}
        self._by_group: dict[int, dict[Flow, None]] | None = None  # while indexed
        self.spec = FlowSpec()
        self.evicted = 0  #: flows pushed out by `max_flows`
        self.expired = 0  #: flows forgotten after `idle_timeout` of silence
        self.next_sweep = float("-inf")
        self.due = _NEVER  #: `next_sweep` while there are flows: the timer's view
        self._sweep_every = 60.0

    def configure(self, spec: FlowSpec) -> None:
        self.spec = spec
        self._sweep_every = min(max(spec.idle_timeout / 4, 1.0), 60.0)
        self.next_sweep = float("-inf")
        self.due = self.next_sweep if self._flows else _NEVER

    def __len__(self) -> int:
        return len(self._flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self._flows)

    def index_by_group(self, on: bool) -> None:
        """Keep (or stop keeping) the index by group that `in_group` reads."""
        if not on:
            self._by_group = None
            return
        self._by_group = {}
        for flow in self._flows:
            self._by_group.setdefault(flow.group, {})[flow] = None

    def in_group(self, group: int) -> list[Flow]:
        """The flows of `group` (the index must be on)."""
        assert self._by_group is not None
        return list(self._by_group.get(group, ()))

    def add(self, flow: Flow) -> Flow | None:
        """Add a new flow; returns the oldest, removed to make room, if the table was full."""
        oldest = None
        if len(self._flows) >= self.spec.max_flows:
            oldest = next(iter(self._flows))
            self.remove(oldest)
            self.evicted += 1
        port = flow.port
        (port.local_flows if flow.local else port.flows)[flow.key] = flow
        self._flows[flow] = None
        self.due = self.next_sweep
        if self._by_group is not None:
            self._by_group.setdefault(flow.group, {})[flow] = None
        return oldest

    def remove(self, flow: Flow) -> None:
        """Forget `flow` everywhere it is kept."""
        del self._flows[flow]
        if not self._flows:
            self.due = _NEVER
        port_flows = flow.port.local_flows if flow.local else flow.port.flows
        port_flows.pop(flow.key, None)
        if self._by_group is not None:
            flows = self._by_group.get(flow.group)
            if flows is not None:
                flows.pop(flow, None)
                if not flows:
                    del self._by_group[flow.group]

    def sweep(self, now: float) -> list[Flow]:
        """Remove and return the flows idle for longer than `idle_timeout`; the next sweep
        is one period from `now`."""
        self.next_sweep = now + self._sweep_every
        horizon = now - self.spec.idle_timeout
        stale = [f for f in self._flows if f.last < horizon]
        for flow in stale:
            self.remove(flow)
        self.expired += len(stale)
        self.due = self.next_sweep if self._flows else _NEVER
        return stale
