"""The webhook's HTTP behaviour, against a scripted Warden."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from serve_helpers import APP, ScriptedWarden, cloud_event, eg_event, validation_event

from handlers.serve import MAX_BODY_BYTES

PATHS = ["/api/events", "/runtime/webhooks/eventgrid?functionName=on_event"]


@pytest.mark.parametrize("path", PATHS)
async def test_validation_handshake_announced_by_header(client: Any, path: str) -> None:
    resp = await client.post(
        path,
        json=[validation_event("abc-123")],
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert resp.status == 200
    assert await resp.json() == {"validationResponse": "abc-123"}


async def test_validation_event_recognised_without_header(
    client: Any, warden: ScriptedWarden
) -> None:
    resp = await client.post("/api/events", json=[validation_event("xyz")])
    assert resp.status == 200
    assert await resp.json() == {"validationResponse": "xyz"}
    assert warden.payloads == []


async def test_validation_header_without_code_is_400(client: Any) -> None:
    resp = await client.post(
        "/api/events", json=[eg_event("e1")], headers={"aeg-event-type": "SubscriptionValidation"}
    )
    assert resp.status == 400


@pytest.mark.parametrize("path", PATHS)
async def test_cloudevents_options_handshake_allows_origin_and_rate(client: Any, path: str) -> None:
    resp = await client.options(
        path,
        headers={"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "120"},
    )
    assert resp.status == 200
    assert resp.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert resp.headers["WebHook-Allowed-Rate"] == "*"


async def test_cloudevents_options_without_rate_omits_allowed_rate(client: Any) -> None:
    resp = await client.options("/api/events", headers={"WebHook-Request-Origin": "x.example"})
    assert resp.status == 200
    assert resp.headers["WebHook-Allowed-Origin"] == "x.example"
    assert "WebHook-Allowed-Rate" not in resp.headers


async def test_single_event_without_aeg_header_is_a_notification(
    client: Any, warden: ScriptedWarden
) -> None:
    resp = await client.post("/api/events", json=eg_event("e1"))
    assert resp.status == 200
    body = await resp.json()
    assert [o["event_id"] for o in body] == ["e1"]
    assert body[0]["result"] == "unchanged"
    assert body[0]["app"] == APP
    assert warden.payloads == [eg_event("e1")]


async def test_notification_header_batch_answers_every_event_in_order(client: Any) -> None:
    batch = [eg_event(f"e{i}") for i in range(5)]
    resp = await client.post(
        "/runtime/webhooks/eventgrid?functionName=on_event",
        data=json.dumps(batch),
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
    )
    assert resp.status == 200
    assert [o["event_id"] for o in await resp.json()] == [f"e{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/cloudevents+json; charset=utf-8", cloud_event("c1")),
        (
            "application/cloudevents-batch+json; charset=utf-8",
            [cloud_event("c1"), cloud_event("c2")],
        ),
    ],
)
async def test_cloudevents_schema_single_and_batch(
    client: Any, content_type: str, payload: Any
) -> None:
    resp = await client.post(
        "/api/events", data=json.dumps(payload), headers={"Content-Type": content_type}
    )
    assert resp.status == 200
    body = await resp.json()
    expected = [p["id"] for p in (payload if isinstance(payload, list) else [payload])]
    assert [o["event_id"] for o in body] == expected
    assert all(o["app"] == APP for o in body)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe\x00garbage", b"[1, 2"])
async def test_body_that_is_not_json_is_400(
    client: Any, warden: ScriptedWarden, raw: bytes
) -> None:
    resp = await client.post("/api/events", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "not JSON" in (await resp.json())["error"]
    assert warden.payloads == []


async def test_absurdly_nested_json_is_400_not_a_crash(client: Any, warden: ScriptedWarden) -> None:
    raw = b"[" * 200_000 + b"]" * 200_000
    resp = await client.post(
        "/api/events", data=io.BytesIO(raw), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert warden.payloads == []


async def test_body_above_one_mebibyte_is_413(client: Any, warden: ScriptedWarden) -> None:
    raw = b"[" + b" " * (MAX_BODY_BYTES - 1) + b"]"
    resp = await client.post(
        "/api/events", data=io.BytesIO(raw), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert warden.payloads == []


async def test_chunked_body_above_limit_is_413(client: Any, warden: ScriptedWarden) -> None:
    async def chunks() -> Any:
        yield b"["
        for _ in range(17):
            yield b" " * 65536
        yield b"]"

    resp = await client.post("/api/events", data=chunks())
    assert resp.status == 413
    assert warden.payloads == []


async def test_body_of_exactly_one_mebibyte_is_accepted(client: Any) -> None:
    raw = b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]"
    assert len(raw) == MAX_BODY_BYTES
    resp = await client.post(
        "/api/events", data=io.BytesIO(raw), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    assert await resp.json() == []


async def test_retry_outcome_answers_503_with_outcomes(client: Any) -> None:
    resp = await client.post("/api/events", json=[eg_event("ok1"), eg_event("retry-1")])
    assert resp.status == 503
    body = await resp.json()
    assert [o["result"] for o in body] == ["unchanged", "retry"]


async def test_ignored_and_refused_events_answer_200(client: Any) -> None:
    other = eg_event("other", operation="Microsoft.Storage/storageAccounts/write")
    broken = {"id": "broken", "eventType": "Microsoft.Resources.ResourceWriteSuccess"}
    resp = await client.post("/api/events", json=[other, broken])
    assert resp.status == 200
    assert [o["event_id"] for o in await resp.json()] == ["other", "broken"]


async def test_unfinished_events_at_deadline_answer_503_and_finish_in_background(
    make_client: Any,
) -> None:
    slow = ScriptedWarden(delay=0.6)
    client = await make_client(slow, timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.post("/api/events", json=[eg_event("slow-1")])
    assert resp.status == 503
    assert loop.time() - started < 0.55
    assert slow.finished == 0
    await asyncio.sleep(0.8)
    assert slow.finished == 1  # not cancelled half-way


async def test_healthz(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


class TestKey:
    KEY = "s3cret-key"

    @pytest.fixture
    async def keyed(self, make_client: Any, warden: ScriptedWarden) -> Any:
        return await make_client(warden, key=self.KEY)

    async def test_missing_key_is_401(self, keyed: Any, warden: ScriptedWarden) -> None:
        resp = await keyed.post("/api/events", json=[eg_event("e1")])
        assert resp.status == 401
        assert warden.payloads == []

    @pytest.mark.parametrize("given", ["wrong", "s3cret-ke", "s3cret-key2", ""])
    async def test_wrong_key_is_401(self, keyed: Any, given: str) -> None:
        resp = await keyed.post(f"/api/events?code={given}", json=[eg_event("e1")])
        assert resp.status == 401
        resp = await keyed.post(
            "/api/events", json=[eg_event("e1")], headers={"aeg-sas-key": given}
        )
        assert resp.status == 401

    async def test_code_query_parameter_is_accepted(self, keyed: Any) -> None:
        resp = await keyed.post(
            f"/runtime/webhooks/eventgrid?functionName=on_event&code={self.KEY}",
            json=[eg_event("e1")],
        )
        assert resp.status == 200

    async def test_aeg_sas_key_header_is_accepted(self, keyed: Any) -> None:
        resp = await keyed.post(
            "/api/events", json=[eg_event("e1")], headers={"aeg-sas-key": self.KEY}
        )
        assert resp.status == 200

    async def test_handshakes_need_the_key_too(self, keyed: Any) -> None:
        resp = await keyed.post("/api/events", json=[validation_event("v")])
        assert resp.status == 401
        resp = await keyed.options("/api/events", headers={"WebHook-Request-Origin": "o"})
        assert resp.status == 401
        resp = await keyed.options(
            f"/api/events?code={self.KEY}", headers={"WebHook-Request-Origin": "o"}
        )
        assert resp.status == 200

    async def test_healthz_needs_no_key(self, keyed: Any) -> None:
        assert (await keyed.get("/healthz")).status == 200
