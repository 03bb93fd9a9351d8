"""Observability: ARM call counts per convergence, OpenTelemetry traces and metrics.

Two things live here, both cheap when unused:

* :class:`ArmCalls`, counted per convergence through a context variable
  (:func:`converge_scope`): the write pacer calls :func:`arm_request` for
  every HTTP request to ARM (each retry included, token requests not), and
  the outcome line of each event of that convergence reports its figures.
* :class:`Telemetry`, OpenTelemetry instruments on the ``aca_warden`` tracer
  and meter: one span per convergence (``aca_warden.converge``, ARM SDK spans
  nest under it when azure-core tracing is on) and one per event
  (``aca_warden.event``, under its convergence's, carrying every field of the
  outcome line), and the metrics
  ``aca_warden.events`` (by result), ``aca_warden.arm.requests`` (by method
  and status class), ``aca_warden.arm.throttled`` (429s) and
  ``aca_warden.event.duration`` (ms, by result).

Nothing is exported unless ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set:
then :func:`configure_from_env` (called once per process by
``Warden.from_env``) hands it to azure-monitor-opentelemetry's
``configure_azure_monitor``, imported only then. Tests install their own SDK
providers with in-memory exporters through :func:`enable`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONNECTION_STRING_ENV",
    "ArmCalls",
    "Telemetry",
    "active",
    "arm_request",
    "configure_from_env",
    "converge_scope",
    "counting",
    "current_calls",
    "enable",
]

log = logging.getLogger("aca_warden")

CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
_WRITES = frozenset({"PUT", "PATCH", "DELETE", "POST"})


@dataclass
class ArmCalls:
    """ARM requests made while handling one event."""

    requests: int = 0
    writes: int = 0
    throttled: int = 0

    def to_json(self) -> dict[str, int]:
        return {"requests": self.requests, "writes": self.writes, "throttled": self.throttled}


_calls: ContextVar[ArmCalls | None] = ContextVar("aca_warden_arm_calls", default=None)
_active: Telemetry | None = None
_configured = False


def current_calls() -> ArmCalls | None:
    """The counter of the event being handled in this context, if any."""
    return _calls.get()


@contextlib.contextmanager
def counting() -> Iterator[ArmCalls]:
    """Count the ARM requests made in this context (and tasks started from it)."""
    calls = ArmCalls()
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def arm_request(method: str, status: int | None) -> None:
    """Called by azure.py once per ARM request; ``status`` None: no answer."""
    calls = _calls.get()
    if calls is not None:
        calls.requests += 1
        calls.writes += method.upper() in _WRITES
        calls.throttled += status == 429
    if _active is not None:
        _active.record_arm(method, status)


class Telemetry:
    """aca-warden's OpenTelemetry instruments (from the given or the global providers)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        from opentelemetry import metrics, trace

        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("aca_warden")
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("aca_warden")
        self.events = meter.create_counter(
            "aca_warden.events", unit="{event}", description="Events handled, by result")
        self.arm_requests = meter.create_counter(
            "aca_warden.arm.requests", unit="{request}",
            description="HTTP requests to ARM (retries and polls included)")
        self.throttled = meter.create_counter(
            "aca_warden.arm.throttled", unit="{request}", description="ARM answers 429")
        self.duration = meter.create_histogram(
            "aca_warden.event.duration", unit="ms", description="Time to handle one event")

    def record_arm(self, method: str, status: int | None) -> None:
        klass = f"{status // 100}xx" if status else "none"
        self.arm_requests.add(1, {"http.request.method": method.upper(), "status": klass})
        if status == 429:
            self.throttled.add(1)

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[Any]:
        with self.tracer.start_as_current_span(name) as span:
            yield span

    def record_outcome(self, record: Mapping[str, Any], *, parent: Any = None,
                       started_ns: int | None = None) -> None:
        """Metrics and one ``aca_warden.event`` span for one outcome record (the log
        line's fields), nested under the convergence's span `parent` when there is one."""
        from opentelemetry import trace

        result = str(record.get("result"))
        self.events.add(1, {"result": result})
        if record.get("duration_ms") is not None:
            self.duration.record(float(record["duration_ms"]), {"result": result})
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span("aca_warden.event", context=context,
                                      start_time=started_ns)
        if span.is_recording():
            calls = record.get("arm_calls") or {}
            span.set_attributes({
                "aca_warden.event_id": record.get("event_id") or "",
                "aca_warden.app": record.get("app") or "",
                "aca_warden.correlation_id": record.get("correlation_id") or "",
                "aca_warden.caller": record.get("caller") or "",
                "aca_warden.result": result,
                "aca_warden.reason": record.get("reason") or "",
                "aca_warden.error": record.get("error") or "",
                "aca_warden.changes": [str(c) for c in record.get("changes") or []],
                "aca_warden.refused": [json.dumps(r) for r in record.get("refused") or []],
                "aca_warden.notes": [str(n) for n in record.get("notes") or []],
                "aca_warden.dry_run": bool(record.get("dry_run")),
                "aca_warden.arm_requests": calls.get("requests", 0),
            })
            if result == "retry":
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR, str(record.get("error") or "retry")))
        span.end()


def enable(telemetry: Telemetry | None) -> None:
    """Make ``telemetry`` the process's instruments (None switches them off)."""
    global _active
    _active = telemetry


def active() -> Telemetry | None:
    return _active


@contextlib.contextmanager
def converge_scope() -> Iterator[tuple[ArmCalls, Any]]:
    """Count the ARM calls of one convergence and, when telemetry is on, open its span
    (``aca_warden.converge``: the ARM SDK's spans and its events' spans nest under it)."""
    with counting() as calls:
        if _active is None:
            yield calls, None
            return
        with _active.span("aca_warden.converge") as span:
            yield calls, span


def configure_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Export to Application Insights when its connection string is set; once per process.

    True when telemetry is on. A missing azure-monitor-opentelemetry is
    reported once and leaves the service running without telemetry.
    """
    global _configured
    env = os.environ if env is None else env
    conn = env.get(CONNECTION_STRING_ENV)
    if not conn:
        return _active is not None
    if _configured:
        return _active is not None
    _configured = True
    started = time.monotonic()
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError as e:
        log.warning("%s is set but azure-monitor-opentelemetry is not installed (%s): "
                    "no telemetry", CONNECTION_STRING_ENV, e)
        return False
    configure_azure_monitor(connection_string=conn, logger_name="aca_warden")
    enable(Telemetry())
    log.info("telemetry: exporting to Application Insights (set up in %.0f ms)",
             (time.monotonic() - started) * 1000)
    return True
