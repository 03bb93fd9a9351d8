"""Events of the subscription system topic, and delivery like an Event Grid subscription."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from emulator import Deployment, Emulator

OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
API = "2026-01-01"


def app_id(emu: Emulator, name: str = "app1") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
            f"/providers/Microsoft.App/containerApps/{name}")


async def test_container_app_write_event_has_the_published_shape(emu, raw, example) -> None:
    emu.seed_resource_group("rg")
    await raw("PUT", app_id(emu), {"location": "eastus"}, api_version=API,
              headers={"x-ms-correlation-request-id": "corr-1"})
    await asyncio.sleep(0)  # the operation completes right after the answer
    (event,) = emu.events
    published = example("event-grid-schema.resource_write_success.json")
    assert set(published) == set(event)
    assert set(published["data"]) <= set(event["data"]) | {"httpRequest"}
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert event["topic"] == f"/subscriptions/{emu.subscription_id}"
    assert event["subject"] == event["data"]["resourceUri"] == app_id(emu)
    data = event["data"]
    assert data["operationName"] == "Microsoft.App/containerApps/write"
    assert data["resourceProvider"] == "Microsoft.App" and data["status"] == "Succeeded"
    assert data["subscriptionId"] == emu.subscription_id and data["tenantId"] == emu.tenant_id
    assert data["correlationId"] == "corr-1"
    assert data["claims"][OBJECT_ID] == emu.person_oid("alice")
    assert data["claims"]["appid"] != emu.service_appid  # a person, through a client app
    assert event["dataVersion"] == "2" and event["metadataVersion"] == "1"


async def test_service_writes_carry_its_oid_and_appid(emu, make_raw) -> None:
    emu.deploy(Deployment())  # the service may write container apps
    emu.seed_resource_group("rg")
    await make_raw(emu.service_token())("PUT", app_id(emu), {"location": "eastus"},
                                        api_version=API)
    await asyncio.sleep(0)
    claims = emu.events[-1]["data"]["claims"]
    assert claims[OBJECT_ID] == emu.service_oid and claims["appid"] == emu.service_appid


async def test_event_is_emitted_when_the_operation_completes(emu, raw) -> None:
    emu.time_scale = 1  # real pace: the app's operation takes 10 s
    emu.seed_resource_group("rg")
    _, _, headers = await raw("PUT", app_id(emu), {"location": "eastus"}, api_version=API)
    op_url = headers["Azure-AsyncOperation"]
    await asyncio.sleep(0.05)
    assert emu.events == []
    _, op, _ = await raw("GET", op_url, api_version=None)
    assert op["status"] == "InProgress"
    assert emu.get(app_id(emu))["properties"]["provisioningState"] == "InProgress"
    emu.time_scale = 0  # the running operation ends on the new pace
    _, op, _ = await raw("GET", op_url, api_version=None)
    assert op["status"] == "Succeeded"
    assert len(emu.events) == 1
    assert emu.get(app_id(emu))["properties"]["provisioningState"] == "Succeeded"


@pytest.mark.parametrize(
    ("method", "path", "body", "event_type", "operation"),
    [
        ("DELETE", "", None, "ResourceDeleteSuccess", "Microsoft.App/containerApps/delete"),
        ("PATCH", "", {"tags": {"a": "b"}}, "ResourceWriteSuccess",
         "Microsoft.App/containerApps/write"),
        ("PATCH", "/providers/Microsoft.Resources/tags/default",
         {"operation": "Merge", "properties": {"tags": {"a": "b"}}}, "ResourceWriteSuccess",
         "Microsoft.Resources/tags/write"),
    ],
)
async def test_each_write_emits_its_event(emu, raw, method, path, body, event_type,
                                          operation) -> None:
    emu.seed_container_app(app_id(emu))
    status, _, _ = await raw(method, app_id(emu) + path, body,
                             api_version="2019-10-01" if path else API)
    assert status < 300
    await asyncio.sleep(0)
    (event,) = emu.events
    assert event["eventType"] == f"Microsoft.Resources.{event_type}"
    assert event["data"]["operationName"] == operation
    assert event["data"]["resourceUri"] == app_id(emu) + path


async def test_role_assignment_write_and_delete_events(emu, raw) -> None:
    p = emu.seed_principal()
    ra = (f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization"
          f"/roleAssignments/{uuid.uuid4()}")
    body = {"properties": {"principalId": p, "roleDefinitionId":
                           "/providers/Microsoft.Authorization/roleDefinitions/"
                           "acdd72a7-3385-48ef-bd42-f606fba81ae7"}}
    await raw("PUT", ra, body)
    await raw("PUT", ra, body)  # unchanged: no second event
    await raw("DELETE", ra)
    assert [e["data"]["operationName"] for e in emu.events] == [
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
    ]
    assert emu.events[0]["data"]["resourceUri"] == ra


async def test_failed_writes_and_reads_emit_nothing(emu, raw) -> None:
    emu.seed_resource_group("rg")
    await raw("PUT", app_id(emu), {"location": "eastus", "identity": {"type": "bad"}},
              api_version=API)
    await raw("GET", app_id(emu), api_version=API)
    await asyncio.sleep(0)
    assert emu.events == []


async def test_seeding_emits_no_events_and_logs_nothing(emu) -> None:
    emu.seed_container_app(app_id(emu), identity="SystemAssigned")
    assert emu.events == [] and emu.request_log == []


# -- delivery ---------------------------------------------------------------------------
def _writes(emu: Emulator, raw: Callable, n: int) -> list[Any]:
    emu.seed_resource_group("rg")
    return [raw("PUT", f"{emu.seed_resource_group('rg')}/providers/Microsoft.Storage"
                f"/storageAccounts/st{i}", {"location": "eastus"}, api_version="2023-05-01")
            for i in range(n)]


async def test_delivery_validates_then_sends_small_batches(emu, raw, hook) -> None:
    h, url = hook
    delivery = emu.deliver_to(url, batch_size=10)
    for call in _writes(emu, raw, 23):
        await call
    await emu.drain_deliveries()
    assert h.requests[0][0] == "SubscriptionValidation"
    assert h.requests[0][1][0]["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    batches = h.notifications()
    assert all(1 <= len(b) <= 10 for b in batches)
    assert [e["id"] for b in batches for e in b] == [e["id"] for e in emu.events]
    assert delivery.validated and len(delivery.delivered) == 23


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_delivery_retries_transient_answers(emu, raw, hook, status) -> None:
    h, url = hook
    h.script = [status, status]
    delivery = emu.deliver_to(url)
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert len(h.notifications()) == 3
    assert len(delivery.delivered) == 1 and delivery.dead_letters == []


async def test_delivery_retries_timeouts(emu, raw, hook) -> None:
    h, url = hook
    h.script = ["sleep"]
    delivery = emu.deliver_to(url, timeout_s=0.5)
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert len(h.notifications()) >= 2 and len(delivery.delivered) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 413])
async def test_delivery_does_not_retry_other_4xx(emu, raw, hook, status) -> None:
    h, url = hook
    h.script = [status]
    delivery = emu.deliver_to(url)
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert len(h.notifications()) == 1
    assert len(delivery.dead_letters) == 1 and delivery.delivered == []


async def test_delivery_gives_up_after_bounded_attempts(emu, raw, hook) -> None:
    h, url = hook
    h.script = [500] * 10
    delivery = emu.deliver_to(url, max_attempts=4)
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert len(h.notifications()) == 4 and len(delivery.dead_letters) == 1


async def test_validation_event_has_the_docs_shape(emu, hook, example) -> None:
    h, url = hook
    emu.deliver_to(url)
    for _ in range(100):
        if h.requests:
            break
        await asyncio.sleep(0.01)
    sample = example("docs.subscription_validation_event.json")[0]
    got = h.requests[0][1][0]
    assert set(got) == set(sample) and set(got["data"]) == set(sample["data"])
    assert got["topic"] == f"/subscriptions/{emu.subscription_id}"
    assert got["data"]["validationUrl"].startswith(emu.endpoint)


async def test_validation_by_get_of_validation_url(emu, raw, hook, session) -> None:
    h, url = hook
    h.validate_by_url = True
    delivery = emu.deliver_to(url)
    for _ in range(200):
        if h.requests:
            break
        await asyncio.sleep(0.01)
    async with session.get(h.requests[0][1][0]["data"]["validationUrl"]) as r:
        assert r.status == 200
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert delivery.validated and len(delivery.delivered) == 1


async def test_unvalidated_subscription_delivers_nothing(emu, raw, hook) -> None:
    h, url = hook
    h.validate_by_url = True
    delivery = emu.deliver_to(url, validation_wait_s=0.1)
    for call in _writes(emu, raw, 1):
        await call
    await emu.drain_deliveries()
    assert not delivery.validated and h.notifications() == []
    assert len(delivery.dead_letters) == 1


async def test_cloudevents_delivery_uses_the_options_handshake(emu, raw, hook, example) -> None:
    h, url = hook
    delivery = emu.deliver_to(url, schema="cloudevents")
    for call in _writes(emu, raw, 2):
        await call
    await emu.drain_deliveries()
    assert h.requests[0][0] == "OPTIONS"
    assert h.requests[0][1]["WebHook-Request-Origin"] == "eventgrid.azure.net"
    sample = example("cloud-events-schema.resource_write_success.json")
    batch = [e for b in h.notifications() for e in b]
    assert len(batch) == 2 and delivery.validated
    assert set(batch[0]) == set(sample)
    assert batch[0]["id"] == emu.events[0]["id"] and batch[0]["specversion"] == "1.0"
    assert batch[0]["type"] == "Microsoft.Resources.ResourceWriteSuccess"


def test_unknown_delivery_schema_is_refused() -> None:
    with pytest.raises(ValueError):
        Emulator().deliver_to("http://x", schema="xml")


async def test_resource_notifications_events_for_resources(emu, raw, hook, example) -> None:
    h, url = hook
    delivery = emu.deliver_to(url, source="arn")
    app = app_id(emu)
    emu.seed_resource_group("rg")
    await raw("PUT", app, {"location": "eastus", "properties": {"configuration": {
        "secrets": [{"name": "s", "value": "hunter2"}]}}}, api_version=API)
    await raw("PATCH", app + "/providers/Microsoft.Resources/tags/default",
              {"operation": "Merge", "properties": {"tags": {"grant:a": "Reader@."}}},
              api_version="2021-04-01")
    await raw("DELETE", app, api_version=API)
    await asyncio.sleep(0.05)
    await emu.drain_deliveries()
    got = [e for b in h.notifications() for e in b]
    assert [e["eventType"].rsplit(".", 1)[1] for e in got] == [
        "CreatedOrUpdated", "CreatedOrUpdated", "Deleted"]
    assert got == emu.arn_events and len(delivery.delivered) == 3
    created = example("docs.arn-resources.CreatedOrUpdated.json")
    deleted = example("docs.arn-resources.Deleted.json")
    assert set(got[1]) == set(created) and set(got[1]["data"]) == set(created["data"])
    assert set(got[1]["data"]["resourceInfo"]) == set(created["data"]["resourceInfo"])
    assert got[1]["data"]["resourceInfo"]["tags"] == {"grant:a": "Reader@."}
    assert "hunter2" not in str(got)
    assert set(got[2]["data"]["resourceInfo"]) == set(deleted["data"]["resourceInfo"])
    assert got[2]["subject"] == app and got[2]["topic"] == f"/subscriptions/{emu.subscription_id}"


async def test_role_assignments_and_groups_make_no_resource_notifications(emu, raw) -> None:
    p = emu.seed_principal()
    await raw("PUT", f"/subscriptions/{emu.subscription_id}/resourceGroups/rgx", {
        "location": "eastus"}, api_version="2024-03-01")
    await raw("PUT", f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization"
              f"/roleAssignments/{uuid.uuid4()}", {"properties": {
                  "principalId": p, "roleDefinitionId": "/providers/Microsoft.Authorization/"
                  "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"}})
    assert len(emu.events) == 2 and emu.arn_events == []


def _reserved_port() -> socket.socket:
    """A port bound but not listening (connections are refused), kept from other
    processes until the webhook binds it too (SO_REUSEADDR; Linux allows that while
    nothing listens)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
async def test_handshake_waits_for_a_webhook_that_starts_later(
    emu, raw, start_webhook, schema
) -> None:
    with _reserved_port() as reserved:
        port = int(reserved.getsockname()[1])
        delivery = emu.deliver_to(f"http://127.0.0.1:{port}/api/events", schema=schema,
                                  listen_wait_s=10.0, max_attempts=2)
        await asyncio.sleep(1.0)
        assert not delivery.validated
        await start_webhook(port)
    for call in _writes(emu, raw, 2):
        await call
    await emu.drain_deliveries()
    assert delivery.validated and len(delivery.delivered) == 2


async def test_handshake_without_patience_gives_up_on_a_silent_url(emu, raw) -> None:
    with _reserved_port() as silent:
        port = int(silent.getsockname()[1])
        delivery = emu.deliver_to(f"http://127.0.0.1:{port}/api/events", max_attempts=2)
        for call in _writes(emu, raw, 1):
            await call
        await emu.drain_deliveries()
    assert not delivery.validated and len(delivery.dead_letters) == 1
