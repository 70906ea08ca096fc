"""Reverse-path answers: which interface each source's packets must arrive on.

Theory of operation (RFC 1812 section 5.2.1.2's RPF check; Linux ipmr's unresolved queue):

- `[[rpf]]` entries come first: they override the unicast routes, like `ip mroute`.
- Replay (`from_fib=False`): a source's interface is the configured interface whose
  `address` network holds it; the answer is immediate.
- Live (`from_fib=True`): the kernel FIB decides. This module cannot ask it (no sockets
  here): a source without an answer is RPF_PENDING and joins the lookups the engine hands
  to the shell, at most MAX_RPF_PENDING outstanding at once; an answer that does not come
  within UNRESOLVED_TIMEOUT is asked for again. Answers are kept per source (bounded, least
  recently answered forgotten first): a lookup per source, not per flow or packet.
- Frames of a flow whose answer is pending are held, UNRESOLVED_HOLD per flow for
  UNRESOLVED_TIMEOUT at most (ipmr's figures); `Held` keeps them and knows when the
  oldest expires, so the engine's timer covers it without any frame arriving.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from ..config.values import Config
from .table import RPF_PENDING, RpfAnswer, prefix_list

if TYPE_CHECKING:
    from .state import Flow

#: ipmr's unresolved queue: frames held per flow while its RPF lookup is pending, how long
#: they may wait, and how many lookups may be outstanding at once.
UNRESOLVED_HOLD: Final = 4
UNRESOLVED_TIMEOUT: Final = 10.0
MAX_RPF_PENDING: Final = 64
_NEVER: Final = float("inf")


class RpfAnswers:
    """The interface toward each source; see the module docstring."""

    def __init__(self, *, from_fib: bool) -> None:
        self.from_fib = from_fib
        self._static: list[tuple[int, int, str]] = []
        self._connected: list[tuple[int, int, str]] = []
        #: FIB answers by source, in the order they were answered (the oldest answer is
        #: forgotten first beyond `_most`: a plain dict, a fraction of an LRU's memory)
        self._known: dict[int, str | None] = {}
        self._most = 1
        self._asked: dict[int, float] = {}  # sources handed to the shell, and when
        #: when the oldest of them is asked for again (infinity: none is out); it may be
        #: earlier than that, never later, once answers came
        self.retry = _NEVER
        self._new: list[int] = []  # sources not yet handed to the shell

    def configure(self, config: Config) -> None:
        """Take the `[[rpf]]` entries and interface networks of `config`."""
        self._static = prefix_list((r.prefix, r.iif) for r in config.rpf)
        self._connected = prefix_list(
            (spec.address.network, name)
            for name, spec in config.interfaces.items()
            if spec.address is not None
        )
        # one answer per flow at most is worth keeping: flows beyond max_flows are gone
        self._most = config.flows.max_flows
        self._trim()

    def _trim(self) -> None:
        known = self._known
        while len(known) > self._most:
            del known[next(iter(known))]

    def toward(self, source: int, now: float) -> RpfAnswer:
        """The interface toward `source`, None for no route back, or RPF_PENDING (then it
        is asked for, if there is room among the outstanding lookups)."""
        for net, mask, iif in self._static:
            if source & mask == net:
                return iif
        if not self.from_fib:
            for net, mask, iif in self._connected:
                if source & mask == net:
                    return iif
            return None
        known = self._known.get(source, RPF_PENDING)
        if (
            known is RPF_PENDING
            and source not in self._asked
            and len(self._asked) < MAX_RPF_PENDING
        ):
            self._asked[source] = now
            self.retry = min(self.retry, now + UNRESOLVED_TIMEOUT)
            self._new.append(source)
        return known

    def knows(self, source: int) -> bool:
        """True if `source` has an answer or is being looked up."""
        return source in self._known or source in self._asked

    @property
    def room(self) -> bool:
        """True while another lookup may be asked for."""
        return len(self._asked) < MAX_RPF_PENDING

    @property
    def outstanding(self) -> bool:
        """True while lookups are out (their answers may never come: see `ask_again`)."""
        return bool(self._asked)

    def take_requests(self) -> Sequence[int]:
        """Sources to look up that were not handed out yet."""
        if not self._new:
            return ()  # the common case costs no list
        new, self._new = self._new, []
        return new

    def record(self, answers: Mapping[int, str | None]) -> tuple[set[int], bool]:
        """Keep FIB answers. Returns the sources answered for the first time, and whether
        a known source's answer changed (a unicast route moved: decide every flow again)."""
        newly: set[int] = set()
        moved = False
        known = self._known
        for source, iif in answers.items():
            if self._asked.pop(source, None) is not None and not self._asked:
                self.retry = _NEVER
            old = known.pop(source, RPF_PENDING)
            known[source] = iif  # to the back: the newest answer
            if old is RPF_PENDING:
                newly.add(source)
            elif old != iif:
                moved = True
        self._trim()
        return newly, moved

    def ask_again(self, now: float) -> None:
        """Lookups out for UNRESOLVED_TIMEOUT without an answer are asked for again."""
        for source, asked in self._asked.items():
            if asked + UNRESOLVED_TIMEOUT <= now:  # the sum `retry` holds, to the bit
                self._asked[source] = now
                self._new.append(source)
        self.retry = min(self._asked.values()) + UNRESOLVED_TIMEOUT if self._asked else _NEVER

    def known_sources(self, sources: Iterable[int]) -> list[int]:
        """Those of `sources` with a FIB answer: what to look up again after the unicast
        routes changed (answers no flow uses are not worth a lookup)."""
        known = self._known
        return list({s for s in sources if s in known})


class Held:
    """Flows waiting on an RPF answer and the frames they hold (ipmr's unresolved queue).

    `due` is when the oldest held frame expires (UNRESOLVED_TIMEOUT after it came), so
    that the engine's timer drops it on time with no frame arriving.
    """

    def __init__(self) -> None:
        self.flows: dict[Flow, None] = {}  # in the order they began to wait
        #: flows a static route forwards while the RPF answer that would let members have
        #: them too is pending: decided again when it comes, never held back meanwhile
        self.member_wait: dict[Flow, None] = {}
        self.due = _NEVER

    def hold(self, flow: Flow, frame: bytes, end: int, now: float) -> bool:
        """Keep a frame of a waiting flow; False if its queue is full (the frame is lost)."""
        queue = flow.queue
        if queue is None or len(queue) >= UNRESOLVED_HOLD:
            return False
        queue.append((frame, end, now))
        self.due = min(self.due, now + UNRESOLVED_TIMEOUT)
        return True

    def forget(self, flow: Flow) -> None:
        self.flows.pop(flow, None)
        self.member_wait.pop(flow, None)

    def waiting(self) -> list[Flow]:
        """Every flow that an RPF answer would decide."""
        return [*self.flows, *self.member_wait]

    def expire(self, now: float) -> list[tuple[Flow, int]]:
        """Drop frames held UNRESOLVED_TIMEOUT or longer: (flow, how many) for each."""
        if now < self.due:
            return []
        expired = []
        due = _NEVER
        for flow in self.flows:
            queue = flow.queue
            if not queue:
                continue
            # compared as `due` was computed (t + timeout), so the timer always moves on
            kept = [held for held in queue if held[2] + UNRESOLVED_TIMEOUT > now]
            if len(kept) < len(queue):
                expired.append((flow, len(queue) - len(kept)))
                flow.queue = kept
            if kept:
                due = min(due, kept[0][2] + UNRESOLVED_TIMEOUT)
        self.due = due
        return expired
