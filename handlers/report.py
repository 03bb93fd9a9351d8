"""Report: one frozen Outcome per event; logging, telemetry and audit only read it.

A convergence ends in one :class:`Verdict` (built by :func:`verdict` from the
plan and what apply wrote, or from the plan alone in a dry run, or from a
failure by :func:`failed`). Every event of the workload in that delivery gets
its own :class:`Outcome` from it (:func:`outcome`), with its own event id,
correlation id, caller and time; events answered without ARM (ignored,
refused, self-caused) get theirs from a verdict of their own. Nothing here
does I/O: handlers.emit hands each outcome, once built, to the outcome log
line, OpenTelemetry and the audit stream — all of them read the same record,
which carries every field of the outcome line.

``changes`` are prefixed ``planned:`` in a dry run here, and only here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from handlers.apply import Applied
from handlers.errors import Permanent, Transient
from handlers.grants import Refusal
from handlers.plan import Plan

__all__ = ["Outcome", "ResultKind", "Verdict", "exit_code", "failed", "outcome", "summary",
           "tally", "verdict"]

ResultKind = Literal["applied", "unchanged", "ignored", "refused", "retry", "deleted"]
PLANNED = "planned: "


@dataclass(frozen=True)
class Verdict:
    """What handling one workload (or one event on its own) came to."""

    app: str | None
    result: ResultKind
    changes: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    error: str | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    dry_run: bool = False


def verdict(plan: Plan, applied: Applied | None) -> Verdict:
    """The verdict of one convergence: ``applied`` None means a dry run (planned only)."""
    app = str(plan.app)
    if plan.action == "ignore":
        return Verdict(app, "ignored", reason=plan.reason, dry_run=applied is None)
    if applied is None:
        changes = tuple(PLANNED + c for c in plan.changes())
        refused, notes = plan.refusals, plan.notes
    else:
        changes = applied.changes
        refused, notes = plan.refusals + applied.refusals, plan.notes + applied.notes
    result: ResultKind = ("deleted" if plan.action == "cleanup"
                          else "applied" if changes else "unchanged")
    return Verdict(app, result, changes, refused, notes=tuple(dict.fromkeys(notes)),
                   dry_run=applied is None)


def failed(app: str | None, error: BaseException) -> Verdict:
    """The verdict of a convergence that raised: transient (and any bug) means retry."""
    if isinstance(error, Transient):
        return Verdict(app, "retry", error=str(error))
    if isinstance(error, Permanent):
        return Verdict(app, "refused", error=str(error))
    return Verdict(app, "retry", error=f"internal error: {error!r}")


@dataclass(frozen=True)
class Outcome:
    """What happened to one event (or, for the sweep and ``plan``, one workload)."""

    event_id: str | None
    app: str | None
    result: ResultKind
    changes: tuple[str, ...] = ()
    refused: tuple[Mapping[str, str], ...] = ()
    error: str | None = None
    correlation_id: str | None = None
    duration_ms: float | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    dry_run: bool = False
    caller: str | None = None  # object id of whoever made the change (data.claims)

    def to_json(self) -> dict[str, Any]:
        """The outcome line: the contract's keys first, extras after."""
        d: dict[str, Any] = {
            "event_id": self.event_id, "app": self.app, "result": self.result,
            "changes": list(self.changes), "refused": [dict(r) for r in self.refused],
            "error": self.error, "correlation_id": self.correlation_id,
            "duration_ms": self.duration_ms, "caller": self.caller,
        }
        if self.reason:
            d["reason"] = self.reason
        if self.notes:
            d["notes"] = list(self.notes)
        if self.dry_run:
            d["dry_run"] = True
        return d


def outcome(v: Verdict, *, event_id: str | None = None, correlation_id: str | None = None,
            caller: str | None = None, started: float) -> Outcome:
    """The outcome of one event (or workload) from its verdict; `started` is monotonic time."""
    return Outcome(event_id, v.app, v.result, v.changes,
                   tuple(MappingProxyType(r.to_json()) for r in v.refused), v.error,
                   correlation_id, round((time.monotonic() - started) * 1000, 1), v.reason,
                   v.notes, v.dry_run, caller)


def tally(results: Iterable[str]) -> dict[str, int]:
    """How many outcomes of each result (``applied``, ``unchanged``...), by result name."""
    return dict(sorted(Counter(results).items()))


def summary(counts: Mapping[str, int], words: Mapping[str, str] | None = None) -> str:
    """A :func:`tally` for people: ``"2 applied, 5 unchanged"``; `words` rewords a result
    (``{"applied": "would change"}``); empty when there is nothing to count."""
    return ", ".join(f"{n} {(words or {}).get(k, k)}" for k, n in counts.items())


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """75 when any outcome must be delivered again, else 0."""
    return 75 if any(o.result == "retry" for o in outcomes) else 0
