"""The webhook given what a hostile or careless sender gives it: mixed batches, odd bodies
and headers. Nothing acknowledged is dropped; every rejection is logged for operators."""

from __future__ import annotations

import io
import logging
import math
from typing import Any

import pytest
from serve_helpers import ScriptedWarden, cloud_event, eg_event, validation_event

from handlers.serve import MAX_BODY_BYTES, make_app


@pytest.mark.parametrize("header", [{}, {"aeg-event-type": "SubscriptionValidation"},
                                    {"aeg-event-type": "Notification"}])
async def test_a_validation_in_a_batch_is_answered_and_every_other_event_processed(
        client: Any, warden: ScriptedWarden, header: dict[str, str]) -> None:
    batch = [eg_event("before"), validation_event("code-7"), eg_event("after")]
    resp = await client.post("/api/events", json=batch, headers=header)
    assert resp.status == 200
    body = await resp.json()
    assert body["validationResponse"] == "code-7"
    assert [o["event_id"] for o in body["outcomes"]] == [
        "before", validation_event()["id"], "after"]
    assert warden.payloads == [batch]


async def test_a_validation_batch_whose_other_events_need_a_retry_answers_503(
        client: Any) -> None:
    resp = await client.post("/api/events", json=[validation_event("c"), eg_event("retry-1")])
    assert resp.status == 503
    body = await resp.json()
    assert body["validationResponse"] == "c"
    assert [o["result"] for o in body["outcomes"]][-1] == "retry"


async def test_a_lone_validation_is_answered_exactly_as_event_grid_expects(
        client: Any, warden: ScriptedWarden) -> None:
    for body in (validation_event("only"), [validation_event("only")],
                 [validation_event("only"), validation_event("second")]):
        resp = await client.post("/api/events", json=body)
        assert resp.status == 200 and await resp.json() == {"validationResponse": "only"}
    assert warden.payloads == []


async def test_cloudevents_in_a_batch_with_a_validation_are_processed(
        client: Any, warden: ScriptedWarden) -> None:
    resp = await client.post("/api/events", json=[validation_event("v"), cloud_event("ce-1")])
    assert resp.status == 200
    assert [o["event_id"] for o in (await resp.json())["outcomes"]][-1] == "ce-1"


# -- odd bodies: answered, never a crash, and logged --------------------------------------


@pytest.mark.parametrize(("body", "content_type"), [
    (b"", "application/json"), (b"null", "application/json"), (b"42", "application/json"),
    (b'"text"', "application/json"), (b"{}", "application/json"), (b"[[]]", "application/json"),
    (b"[null, 1, true]", "application/json"), (b'{"id": 1}', "text/plain"),
    (b"\xff\xfe", "application/json"), (b"[" * 100_000, "application/json"),
])
async def test_odd_bodies_get_a_4xx_or_refused_outcomes_never_a_5xx(
        make_client: Any, real_warden: Any, body: bytes, content_type: str) -> None:
    client = await make_client(real_warden)
    resp = await client.post("/api/events", data=body, headers={"Content-Type": content_type})
    assert resp.status in (200, 400), await resp.text()
    answer = await resp.json()
    if resp.status == 200:
        assert all(o["result"] in ("refused", "ignored") for o in answer)
    else:
        assert "error" in answer


@pytest.mark.parametrize(("status", "send"), [
    (400, {"data": b"{not json"}),
    (400, {"json": [eg_event("e")], "headers": {"aeg-event-type": "SubscriptionValidation"}}),
    (413, {"data": "big"}),
])
async def test_rejected_requests_are_logged_at_info(
        client: Any, caplog: pytest.LogCaptureFixture, status: int, send: dict[str, Any]) -> None:
    if send.get("data") == "big":
        send = {"data": io.BytesIO(b"[" + b" " * MAX_BODY_BYTES + b"]")}
    with caplog.at_level(logging.INFO, logger="handlers.serve"):
        resp = await client.post("/api/events", **send)
    assert resp.status == status
    rejected = [r for r in caplog.records
                if r.name == "handlers.serve" and r.levelno == logging.INFO
                and "rejected" in r.getMessage() and str(status) in r.getMessage()]
    assert rejected, [r.getMessage() for r in caplog.records]
    assert "/api/events" in rejected[0].getMessage()


async def test_a_request_without_the_key_is_logged_at_info(
        make_client: Any, warden: ScriptedWarden, caplog: pytest.LogCaptureFixture) -> None:
    keyed = await make_client(warden, key="k")
    with caplog.at_level(logging.INFO, logger="handlers.serve"):
        resp = await keyed.post("/api/events?code=nope", json=[eg_event("e")])
    assert resp.status == 401
    [record] = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert record.levelno == logging.INFO and "401" in record.getMessage()
    assert "nope" not in record.getMessage()  # a wrong key is never logged


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_make_app_refuses_a_timeout_that_is_not_positive_and_finite(
        warden: ScriptedWarden, timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        make_app(warden, timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_body_that_cannot_be_decoded_is_400_and_logged(
        client: Any, warden: ScriptedWarden, caplog: pytest.LogCaptureFixture,
        encoding: str) -> None:
    with caplog.at_level(logging.INFO, logger="handlers.serve"):
        resp = await client.post("/api/events", data=b"[not compressed]",
                                 headers={"Content-Encoding": encoding,
                                          "Content-Type": "application/json"})
    assert resp.status == 400 and warden.payloads == []
    if resp.content_type == "application/json":  # else aiohttp refused it before the handler
        assert "error" in await resp.json()
        assert any("rejected" in r.getMessage() and "400" in r.getMessage()
                   for r in caplog.records)
    else:
        assert encoding != "gzip"


async def test_a_gzipped_delivery_is_read(client: Any, warden: ScriptedWarden) -> None:
    import gzip
    import json

    body = gzip.compress(json.dumps([eg_event("zipped")]).encode())
    resp = await client.post("/api/events", data=body,
                             headers={"Content-Encoding": "gzip",
                                      "Content-Type": "application/json"})
    assert resp.status == 200
    assert [o["event_id"] for o in await resp.json()] == ["zipped"]
