"""The webhook in front of a real Warden and the emulator: outcomes, retries, and
delivery by azure-eventgrid's EventGridPublisherClient (any client can deliver)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent
from azure.eventgrid.aio import EventGridPublisherClient

READER = "Reader"


def seed_app(emu: Any, name: str, tags: dict[str, str], kind: str = "app") -> str:
    """A container app (or a job: `kind`), seeded without events."""
    rg = emu.seed_resource_group("rg-web")
    wtype = "Microsoft.App/jobs" if kind == "job" else "Microsoft.App/containerApps"
    app_id = f"{rg}/providers/{wtype}/{name}"
    (emu.seed_job if kind == "job" else emu.seed_container_app)(app_id, tags=tags)
    return app_id


def write_event(emu: Any, app_id: str) -> dict[str, Any]:
    wtype = "Microsoft.App/jobs" if "/Microsoft.App/jobs/" in app_id else (
        "Microsoft.App/containerApps")
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{emu.subscription_id}",
        "subject": app_id,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-11-26T15:00:00Z",
        "dataVersion": "2",
        "metadataVersion": "1",
        "data": {
            "operationName": f"{wtype}/write",
            "resourceUri": app_id,
            "status": "Succeeded",
            "subscriptionId": emu.subscription_id,
        },
    }


def grants_of(emu: Any, app_id: str) -> list[dict[str, Any]]:
    principal = ((emu.get(app_id) or {}).get("identity") or {}).get("principalId")
    if not principal:
        return []
    return [a for a in emu.role_assignments() if a["properties"]["principalId"] == principal]


@pytest.mark.parametrize("kind", ["app", "job"])
async def test_write_event_is_applied_then_unchanged(
    emu: Any, real_warden: Any, make_client: Any, kind: str
) -> None:
    app_id = seed_app(emu, "web", {"grant:rg": f"{READER}@."}, kind)
    client = await make_client(real_warden)
    resp = await client.post("/api/events", json=[write_event(emu, app_id)])
    assert resp.status == 200
    [out] = await resp.json()
    assert out["result"] == "applied", out
    assert out["app"].lower() == app_id.lower()
    assert len(grants_of(emu, app_id)) == 1

    resp = await client.post("/api/events", json=write_event(emu, app_id))
    assert resp.status == 200
    assert [o["result"] for o in await resp.json()] == ["unchanged"]


async def test_transient_arm_failure_answers_503_and_redelivery_succeeds(
    emu: Any, real_warden: Any, make_client: Any
) -> None:
    app_id = seed_app(emu, "web", {"grant:rg": f"{READER}@."})
    client = await make_client(real_warden)
    emu.inject_fault("GET", r"/containerApps/web", 503, "ServiceUnavailable", count=20)
    event = write_event(emu, app_id)
    resp = await client.post("/api/events", json=[event])
    assert resp.status == 503
    [out] = await resp.json()
    assert out["result"] == "retry"
    assert grants_of(emu, app_id) == []

    emu.faults.clear()  # ARM recovered: Event Grid delivers the same event again
    resp = await client.post("/api/events", json=[event])
    assert resp.status == 200, await resp.text()
    assert [o["result"] for o in await resp.json()] == ["applied"]
    assert len(grants_of(emu, app_id)) == 1


@pytest.mark.parametrize("key", [None, "k3y"])
async def test_eventgrid_publisher_client_delivers_event_grid_events(
    emu: Any, real_warden: Any, make_client: Any, key: str | None
) -> None:
    app_id = seed_app(emu, "web", {"grant:rg": f"{READER}@."})
    client = await make_client(real_warden, key=key)
    endpoint = str(client.make_url("/api/events"))
    event = write_event(emu, app_id)
    publisher = EventGridPublisherClient(endpoint, AzureKeyCredential(key or "unused"))
    async with publisher:
        await publisher.send(
            EventGridEvent(
                subject=event["subject"],
                event_type=event["eventType"],
                data=event["data"],
                data_version=event["dataVersion"],
                topic=event["topic"],
                event_time=dt.datetime.now(dt.UTC),
            )
        )
    assert len(grants_of(emu, app_id)) == 1


async def test_eventgrid_publisher_client_delivers_cloudevents(
    emu: Any, real_warden: Any, make_client: Any
) -> None:
    app_id = seed_app(emu, "web", {"grant:rg": f"{READER}@."})
    client = await make_client(real_warden)
    event = write_event(emu, app_id)
    publisher = EventGridPublisherClient(
        str(client.make_url("/api/events")), AzureKeyCredential("unused")
    )
    async with publisher:
        await publisher.send(
            [
                CloudEvent(
                    source=event["topic"],
                    type=event["eventType"],
                    subject=event["subject"],
                    data=event["data"],
                )
            ]
        )
    assert len(grants_of(emu, app_id)) == 1


async def test_publisher_client_sees_the_wrong_key_rejected(
    emu: Any, real_warden: Any, make_client: Any
) -> None:
    app_id = seed_app(emu, "web", {"grant:rg": f"{READER}@."})
    client = await make_client(real_warden, key="right")
    publisher = EventGridPublisherClient(
        str(client.make_url("/api/events")), AzureKeyCredential("wrong")
    )
    event = write_event(emu, app_id)
    async with publisher:
        with pytest.raises(HttpResponseError) as info:
            await publisher.send([event])
    assert info.value.status_code == 401
    assert grants_of(emu, app_id) == []
