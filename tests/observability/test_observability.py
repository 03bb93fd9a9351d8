"""Observability: the outcome log line, OpenTelemetry traces and metrics, the audit stream.

Everything is asserted from what an operator would receive: log lines parsed
as JSON, spans and metric points from in-memory OpenTelemetry exporters, and
CloudEvents as received by the emulator's Event Grid topic endpoint.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from integration.conftest import World, running_emulator, service_warden

from emulator import Emulator
from handlers import telemetry
from handlers.audit import CHANGE, REFUSAL, AuditStream
from handlers.warden import Warden

TAGS = {"grant:rg": "Reader@.", "grant:bad": "Owner@.", "grant:far": "Reader@/subscriptions/x"}


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    unset = ("WARDEN_POLICY", "WARDEN_DRY_RUN", "WARDEN_AUDIT_TOPIC_ENDPOINT",
             "WARDEN_AUDIT_TOPIC_KEY", telemetry.CONNECTION_STRING_ENV)
    async with running_emulator(monkeypatch, unset=unset, time_scale=0, page_size=2,
                                principal_delay_s=0.3, retry_after_s=0) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator) -> AsyncIterator[World]:
    async with World(emu) as w:
        yield w


def make(emu: Emulator, **kw: Any) -> Warden:
    return service_warden(emu, retry_backoff_s=0.01, **kw)


def outcome_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    out = []
    for r in caplog.records:
        if r.name == "aca_warden" and r.getMessage().startswith("outcome "):
            out.append(json.loads(r.getMessage()[len("outcome "):]))
    return out


# --- the structured log line ------------------------------------------------------------------


async def test_one_json_log_line_per_outcome_with_arm_calls(world, emu, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="aca_warden")
    events = await world.create_app("app1", TAGS)
    emu.clear_log()
    warden = make(emu)
    try:
        outs = await warden.handle_payload([*events, {"not": "an event"}])
        emu.inject_fault("GET", r"/containerApps/app1$", 429, "TooManyRequests", count=1)
        again = await warden.handle_payload(events)
    finally:
        await warden.close()
    lines = outcome_lines(caplog)
    assert len(lines) == 3  # in the order they finished: the refused one needs no ARM
    bad = next(x for x in lines if x["result"] == "refused")
    first, second = [x for x in lines if x is not bad]
    assert set(first) >= {"event_id", "app", "correlation_id", "result", "changes", "refused",
                          "duration_ms", "arm_calls", "error"}
    assert first["event_id"] == outs[0].event_id and first["app"] == outs[0].app
    assert first["correlation_id"] == events[0]["data"]["correlationId"]
    assert first["result"] == "applied" and first["changes"] == list(outs[0].changes)
    assert sorted(r["tag"] for r in first["refused"]) == ["grant:bad", "grant:far"]
    assert all(r["reason"] for r in first["refused"])
    assert first["duration_ms"] >= 0
    # The event's ARM requests, as the emulator counted them (tokens excluded).
    arm_first = first["arm_calls"]
    assert arm_first["requests"] > 0 and arm_first["writes"] == 2  # PATCH + one PUT
    assert bad["result"] == "refused" and bad["arm_calls"] == {"requests": 0, "writes": 0,
                                                               "throttled": 0}
    assert second["result"] == "unchanged" and second["arm_calls"]["throttled"] == 1
    assert arm_first["requests"] + second["arm_calls"]["requests"] == emu.count()
    assert again[0].result == "unchanged"


# --- OpenTelemetry -------------------------------------------------------------------------------


@pytest.fixture
def otel() -> Iterator[tuple[Any, Any]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.enable(telemetry.Telemetry(tracer_provider, meter_provider))
    try:
        yield spans, reader
    finally:
        telemetry.enable(None)
        meter_provider.shutdown()
        tracer_provider.shutdown()


def points(reader: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


async def test_traces_and_metrics_reach_the_exporters(world, emu, otel) -> None:
    spans, reader = otel
    events = await world.create_app("app1", {"grant:rg": "Reader@."})
    emu.clear_log()
    warden = make(emu)
    try:
        emu.inject_fault("PUT", r"/roleAssignments/", 429, "TooManyRequests", count=1)
        await warden.handle_payload([*events, {"not": "an event"}])
        emu.inject_fault("GET", r"/containerApps/app1$", 503, "ServiceUnavailable", count=4)
        [retry] = await warden.handle_payload(events)
    finally:
        await warden.close()
    assert retry.result == "retry"
    finished = [s for s in spans.get_finished_spans() if s.name == "aca_warden.event"]
    finished.sort(key=lambda s: ["applied", "refused", "retry"].index(
        s.attributes["aca_warden.result"]))
    assert [s.attributes["aca_warden.result"] for s in finished] == ["applied", "refused",
                                                                     "retry"]
    applied = finished[0]
    assert applied.attributes["aca_warden.app"] == world.app_id("app1")
    assert applied.attributes["aca_warden.event_id"] == events[0]["id"]
    assert applied.attributes["aca_warden.arm_requests"] > 0
    assert finished[2].status.status_code.name == "ERROR"
    metrics = points(reader)
    by_result = {dict(p.attributes)["result"]: p.value for p in metrics["aca_warden.events"]}
    assert by_result == {"applied": 1, "refused": 1, "retry": 1}
    assert sum(p.value for p in metrics["aca_warden.arm.requests"]) == emu.count()
    assert sum(p.value for p in metrics["aca_warden.arm.throttled"]) == 1
    statuses = {dict(p.attributes)["status"] for p in metrics["aca_warden.arm.requests"]}
    assert {"2xx", "4xx", "5xx"} <= statuses
    assert sum(p.count for p in metrics["aca_warden.event.duration"]) == 3


def test_connection_string_switches_on_azure_monitor(monkeypatch) -> None:
    import types

    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("azure.monitor.opentelemetry")
    fake.configure_azure_monitor = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", fake)
    monkeypatch.setattr(telemetry, "_configured", False)
    try:
        assert telemetry.configure_from_env({}) is False
        assert calls == []
        conn = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
        assert telemetry.configure_from_env({telemetry.CONNECTION_STRING_ENV: conn})
        assert telemetry.configure_from_env({telemetry.CONNECTION_STRING_ENV: conn})
        assert calls == [{"connection_string": conn, "logger_name": "aca_warden"}]  # once
        assert isinstance(telemetry.active(), telemetry.Telemetry)
    finally:
        telemetry.enable(None)


def test_azure_monitor_is_really_importable_for_the_deployment() -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    assert callable(configure_azure_monitor)


# --- the audit stream ----------------------------------------------------------------------------


async def test_audit_stream_publishes_one_cloudevent_per_change_and_refusal(world, emu) -> None:
    stream = AuditStream(emu.topics.endpoint("audit"), emu.topics.key, ca_bundle=emu.ca_path)
    events = await world.create_app("app1", TAGS)
    warden = make(emu, audit=stream)
    try:
        [out] = await warden.handle_payload(events)
        await world.set_tags("app1", {"grant:bad": "Owner@."})
        [out2] = await warden.handle_payload([world.event(world.app_id("app1"))])
    finally:
        await warden.close()  # flushes
    received = emu.topics.received("audit")
    changes = [e for e in received if e["type"] == CHANGE]
    refusals = [e for e in received if e["type"] == REFUSAL]
    assert [e["data"]["change"] for e in changes] == list(out.changes + out2.changes)
    assert [e["data"]["refusal"] for e in refusals] == list(out.refused + out2.refused)
    assert len(received) == len(out.changes) + len(out.refused) + len(out2.changes) + len(
        out2.refused)
    for e in received:
        assert e["specversion"] == "1.0" and e["source"] == "/aca-warden" and e["id"]
        assert e["subject"] == world.app_id("app1")
        assert e["data"]["event_id"] in (out.event_id, out2.event_id)
        assert e["data"]["correlation_id"]
    assert stream.sent == len(received) and stream.dropped == 0


async def test_audit_stream_from_env_and_a_wrong_key_never_breaks_events(world, emu,
                                                                          monkeypatch,
                                                                          caplog) -> None:
    monkeypatch.setenv("WARDEN_AUDIT_TOPIC_ENDPOINT", emu.topics.endpoint("audit"))
    monkeypatch.setenv("WARDEN_AUDIT_TOPIC_KEY", "wrong-key")
    warden = Warden.from_env()
    assert warden.audit is not None and warden.audit.endpoint == emu.topics.endpoint("audit")
    events = await world.create_app("app1", {"grant:rg": "Reader@."})
    try:
        [out] = await warden.handle_payload(events)
    finally:
        await warden.close()
    assert out.result == "applied"
    assert emu.topics.received("audit") == []
    assert warden.audit.dropped == len(out.changes)
    assert any("not published" in r.getMessage() for r in caplog.records)
    monkeypatch.delenv("WARDEN_AUDIT_TOPIC_ENDPOINT")
    assert Warden.from_env().audit is None


async def test_audit_stream_with_a_token_credential(world, emu, monkeypatch) -> None:
    """No key: the service's own identity (DefaultAzureCredential) authenticates."""
    stream = AuditStream(emu.topics.endpoint("tokened"), None, ca_bundle=emu.ca_path)
    events = await world.create_app("app1", {"grant:rg": "Reader@."})
    warden = make(emu, audit=stream)
    try:
        [out] = await warden.handle_payload(events)
    finally:
        await warden.close()
    assert [e["data"]["change"] for e in emu.topics.received("tokened")] == list(out.changes)


# --- every record carries every field of the outcome line ---------------------------------------


async def test_log_line_span_and_audit_event_carry_every_outcome_field(world, emu, otel,
                                                                      caplog) -> None:
    """caller (data.claims), reason and notes included (the contract's Outcome records)."""
    spans, _ = otel
    caplog.set_level(logging.INFO, logger="aca_warden")
    stream = AuditStream(emu.topics.endpoint("full"), emu.topics.key, ca_bundle=emu.ca_path)
    events = await world.create_app("app1", {"grant:rg": "Reader@.", "grant:bad": "Owner@."},
                                    identity={"type": "SystemAssigned"})
    await world.hand_assign(world.rg, "Reader", world.principal("app1"))  # a note: left alone
    opted = world.event(world.app_id("out"))
    emu.seed_container_app(world.app_id("out"), tags={"warden:ignore": "true"})
    warden = make(emu, audit=stream)
    try:
        outs = await warden.handle_payload([*events, opted])
    finally:
        await warden.close()
    noted, ignored = outs[0], outs[-1]
    assert noted.caller == emu.person_oid("alice") and noted.notes and noted.refused
    assert ignored.result == "ignored" and ignored.reason and ignored.caller
    lines = {x["event_id"]: x for x in outcome_lines(caplog)}
    by_span = {s.attributes["aca_warden.event_id"]: s for s in spans.get_finished_spans()
               if s.name == "aca_warden.event"}
    for out in (noted, ignored):
        line = out.to_json()
        assert "caller" in line and ("reason" in line or "notes" in line)
        logged = lines[out.event_id]
        assert {k: logged[k] for k in line if k != "duration_ms"} == {
            k: v for k, v in line.items() if k != "duration_ms"}
        span = by_span[out.event_id].attributes
        assert span["aca_warden.caller"] == out.caller
        assert span["aca_warden.reason"] == (out.reason or "")
        assert list(span["aca_warden.notes"]) == list(out.notes)
        assert list(span["aca_warden.changes"]) == list(out.changes)
        assert [json.loads(r) for r in span["aca_warden.refused"]] == line["refused"]
    received = emu.topics.received("full")
    assert received and all(e["data"]["event_id"] == noted.event_id for e in received)
    for e in received:
        for key, value in noted.to_json().items():
            if key != "duration_ms":
                assert e["data"][key] == value, key
