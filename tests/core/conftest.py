"""The core's unit tests: the converge pipeline against an in-memory ARM (fakearm.FakeArm).

No HTTP, no emulator: each test builds the ARM state it needs, delivers
events (or runs a piece of the pipeline) and reads the fake's state and call
log. The over-the-wire behaviour stays with tests/integration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from handlers.policy import Policy
from handlers.warden import Warden

from .fakearm import PERSON_OID, SUB, FakeArm

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
FAILURE = "Microsoft.Resources.ResourceWriteFailure"
TAGS = "/providers/Microsoft.Resources/tags/default"


def event(uri: str, *, op: str = "Microsoft.App/containerApps/write", event_type: str = WRITE,
          oid: str | None = PERSON_OID, appid: str | None = None,
          event_id: str | None = None) -> dict[str, Any]:
    """An Event Grid schema event as a subscription system topic sends it."""
    claims: dict[str, str] = {}
    if oid:
        claims["http://schemas.microsoft.com/identity/claims/objectidentifier"] = oid
    if appid:
        claims["appid"] = appid
    return {"id": event_id or str(uuid.uuid4()), "topic": f"/subscriptions/{SUB}",
            "subject": uri, "eventType": event_type, "eventTime": "2026-01-01T00:00:00Z",
            "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": op, "resourceUri": uri, "status": "Succeeded",
                     "correlationId": str(uuid.uuid4()), "claims": claims}}


def write(app: str, **kw: Any) -> dict[str, Any]:
    return event(app, **kw)


def delete(app: str, **kw: Any) -> dict[str, Any]:
    return event(app, op="Microsoft.App/containerApps/delete", event_type=DELETE, **kw)


def tags_write(app: str, **kw: Any) -> dict[str, Any]:
    return event(app + TAGS, op="Microsoft.Resources/tags/write", **kw)


def tags_delete(app: str, **kw: Any) -> dict[str, Any]:
    return event(app + TAGS, op="Microsoft.Resources/tags/delete", event_type=DELETE, **kw)


def failure(app: str, **kw: Any) -> dict[str, Any]:
    return event(app, event_type=FAILURE, **kw)


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm()


@pytest.fixture
def make(arm: FakeArm) -> Callable[..., Warden]:
    """``make(**policy)``: a Warden over the fake ARM with those policy keys."""
    def build(concurrency: int = 64, **policy: Any) -> Warden:
        return Warden(Policy(**policy), arm, concurrency=concurrency)
    return build


@pytest.fixture
def warden(make: Callable[..., Warden]) -> Warden:
    return make()
