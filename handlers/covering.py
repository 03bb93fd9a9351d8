"""Which convergence of a workload answers an event: one that reads ARM after it arrived.

An event is a pointer, and any convergence of its workload that reads ARM after
the event *first arrived* has seen what it points at. The one the event's own
delivery starts always qualifies; :class:`Ledger` finds the others still
running, so that events share work instead of queueing it twice:

* a convergence still **waiting for its turn** (for the workload's lock or a
  concurrency slot) has read nothing yet: any event of the workload that arrives
  meanwhile joins it, whatever delivery brings it;
* a **redelivery** (an event id seen before: Event Grid delivers again after a
  5xx or a timeout, while the first delivery's convergence may still be at work)
  joins a convergence in flight that started reading after the event first
  arrived.

A finished convergence answers nothing more: every later delivery, a repeated
event included, reads ARM again (level-triggered: a state changed meanwhile is
seen). When a redelivery joins the convergence its first delivery started, that
delivery gives the changes in its outcome; the redelivery's outcome
(:func:`covered`) says so instead of listing them twice (audit records and logs
count each change once). The ledger is bounded: the first arrival of the last
:data:`MAX_EVENTS` event ids and the last convergence of the last
:data:`MAX_WORKLOADS` workloads. Times are ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from handlers.ids import ArmId
from handlers.report import Verdict

__all__ = ["COVERED", "MAX_EVENTS", "MAX_WORKLOADS", "Convergence", "Ledger", "covered"]

MAX_EVENTS = 50_000
MAX_WORKLOADS = 10_000
COVERED = ("converged by the convergence an earlier delivery of this event started "
           "(that delivery's outcome lists the changes)")


@dataclass
class Convergence:
    """One event-path convergence of a workload, shared by every event it covers."""

    future: asyncio.Future[Verdict]
    reported: set[str | None] = field(default_factory=set)  # event ids given its verdict
    started: float | None = None  # when it began reading; None: still waiting its turn

    def covers(self, received: float) -> bool:
        """Whether it is still to finish and reads ARM after an event that first arrived
        at ``received``."""
        return not self.future.done() and (self.started is None or self.started >= received)


class Ledger:
    """First arrivals of events and the last convergence of each workload."""

    def __init__(self) -> None:
        self._arrivals: OrderedDict[str, float] = OrderedDict()
        self._latest: OrderedDict[ArmId, Convergence] = OrderedDict()

    def arrived(self, event_ids: Iterable[str | None], now: float) -> float:
        """Record the events' arrival; the latest first arrival among them."""
        latest = 0.0
        for event_id in event_ids:
            if event_id is None:
                latest = now
                continue
            first = self._arrivals.setdefault(event_id, now)
            self._arrivals.move_to_end(event_id)
            latest = max(latest, first)
        while len(self._arrivals) > MAX_EVENTS:
            self._arrivals.popitem(last=False)
        return latest

    def covering(self, app: ArmId, received: float) -> Convergence | None:
        """The running convergence of ``app`` that covers events first arrived at
        ``received``, if any."""
        latest = self._latest.get(app)
        return latest if latest is not None and latest.covers(received) else None

    def start(self, app: ArmId, event_ids: Iterable[str | None]) -> Convergence:
        """A new convergence of ``app``, waiting for its turn, for these events."""
        conv = Convergence(asyncio.get_running_loop().create_future(), set(event_ids))
        self._latest[app] = conv
        self._latest.move_to_end(app)
        while len(self._latest) > MAX_WORKLOADS:
            oldest = next(iter(self._latest.values()))
            if not oldest.future.done():
                break  # still running: it is needed; the next start trims again
            self._latest.popitem(last=False)
        return conv


def covered(v: Verdict) -> Verdict:
    """The verdict for a redelivered event whose first delivery reports the changes:
    nothing written for this delivery; refusals, errors and notes as they are."""
    return replace(v, result="unchanged" if v.result == "applied" else v.result, changes=(),
                   notes=(*v.notes, COVERED))
