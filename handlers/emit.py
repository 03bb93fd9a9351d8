"""Emit: every outcome, once built, to the outcome log line, OpenTelemetry and the audit stream.

One record per outcome — the outcome line (handlers.report.Outcome.to_json)
plus the ARM calls it took — is what all three read; none of them changes
the outcome. The log line is ``outcome {json}`` on the ``aca_warden``
logger: info, warning for ``retry``, debug for events that were never for
aca-warden.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from handlers import telemetry
from handlers.audit import AuditStream
from handlers.report import Outcome

__all__ = ["Reporter"]

log = logging.getLogger("aca_warden")


class Reporter:
    """Hands every outcome to the log, telemetry and the audit stream; counts results."""

    def __init__(self, audit: AuditStream | None = None) -> None:
        self.audit = audit
        self.counts: Counter[str] = Counter()  # outcomes by result, for operators and tests

    def emit(self, out: Outcome, calls: telemetry.ArmCalls | None = None, *,
             span: Any = None, started_ns: int | None = None, quiet: bool = False) -> Outcome:
        """Record `out` (with the ARM calls it took) everywhere; returns it unchanged.

        `span`: the convergence's span the event's span nests under; `quiet`: an event
        that was never for aca-warden (logged at debug only)."""
        self.counts[out.result] += 1
        record = {**out.to_json(),
                  "arm_calls": (calls or telemetry.ArmCalls()).to_json()}
        level = (logging.DEBUG if quiet else logging.WARNING if out.result == "retry"
                 else logging.INFO)
        if log.isEnabledFor(level):
            log.log(level, "outcome %s", json.dumps(record, default=str))
        tel = telemetry.active()
        if tel is not None:
            tel.record_outcome(record, parent=span, started_ns=started_ns)
        if self.audit is not None:
            self.audit.submit(record)
        return out
