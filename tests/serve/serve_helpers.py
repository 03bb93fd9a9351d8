"""Helpers for the webhook tests: event payloads as Event Grid delivers them, a scripted Warden."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.events import parse_payload
from handlers.warden import Outcome

SUB = "00000000-0000-0000-0000-0000000000aa"
APP = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.App/containerApps/web"
WRITE = "Microsoft.App/containerApps/write"


def eg_event(event_id: str, app: str = APP, operation: str = WRITE) -> dict[str, Any]:
    """A ResourceWriteSuccess in the Event Grid schema."""
    return {
        "id": event_id,
        "topic": f"/subscriptions/{SUB}",
        "subject": app,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-11-26T15:00:00.0000000Z",
        "data": {"operationName": operation, "resourceUri": app, "status": "Succeeded"},
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def cloud_event(event_id: str, app: str = APP, operation: str = WRITE) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"/subscriptions/{SUB}",
        "subject": app,
        "type": "Microsoft.Resources.ResourceWriteSuccess",
        "time": "2026-11-26T15:00:00.0000000Z",
        "data": {"operationName": operation, "resourceUri": app, "status": "Succeeded"},
    }


def validation_event(code: str = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6") -> dict[str, Any]:
    return {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "topic": f"/subscriptions/{SUB}",
        "subject": "",
        "data": {"validationCode": code, "validationUrl": "https://example.invalid/validate"},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-26T15:00:00.0000000Z",
        "metadataVersion": "1",
        "dataVersion": "1",
    }


class ScriptedWarden:
    """Stands in for Warden: one outcome per parsed event, scripted by event id.

    An id starting with ``retry`` yields a "retry" outcome; ``slow`` sleeps
    ``delay`` seconds first. Everything else is "unchanged".
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.payloads: list[Any] = []
        self.finished = 0
        self.closed = False

    async def handle_payload(self, payload: object) -> list[Outcome]:
        self.payloads.append(payload)
        events = parse_payload(payload)
        if any(e.event_id.startswith("slow") for e in events):
            await asyncio.sleep(self.delay)
        outcomes = [
            Outcome(
                event_id=e.event_id,
                app=e.app_id,
                result="retry" if e.event_id.startswith("retry") else "unchanged",
            )
            for e in events
        ]
        self.finished += 1
        return outcomes

    async def close(self) -> None:
        self.closed = True
