"""Event Grid events: what the subscription system topic and Azure Resource
Notifications send for a completed (or, after ARM accepted it, failed) write.

``ResourceWriteSuccess`` / ``ResourceDeleteSuccess`` / ``ResourceActionSuccess``
carry ``data.status: "Succeeded"``; ``ResourceWriteFailure`` /
``ResourceDeleteFailure`` (an accepted long-running write that ended ``Failed``)
carry ``"Failed"``. Delivery to a webhook is ``delivery.py``'s.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .auth import event_claims
from .context import Ctx, PendingEvent
from .ids import parse_resource_id, segments
from .state import utc_now

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["build_arn_event", "build_event", "to_cloudevent"]


def build_event(emu: Emulator, ctx: Ctx, pending: PendingEvent) -> dict[str, Any]:
    """The Event Grid schema event for one completed write."""
    uri = pending.resource_uri
    segs = segments(uri)
    sub = segs[1].lower() if len(segs) > 1 else emu.subscription_id
    provider = pending.operation_name.split("/", 1)[0]
    data: dict[str, Any] = {
        "authorization": {
            "scope": uri,
            "action": pending.operation_name,
            "evidence": {"role": "Emulated", "principalId": ctx.caller_oid.replace("-", "")},
        },
        "claims": event_claims(ctx.claims),
        "correlationId": ctx.correlation_id,
        "httpRequest": {
            "clientRequestId": ctx.client_request_id,
            "clientIpAddress": "127.0.0.1",
            "method": ctx.method,
            "url": ctx.url,
        },
        "resourceProvider": provider,
        "resourceUri": uri,
        "operationName": pending.operation_name,
        "status": "Failed" if pending.event_type.endswith("Failure") else "Succeeded",
        "subscriptionId": sub,
        "tenantId": emu.tenant_id,
    }
    return {
        "subject": uri,
        "eventType": pending.event_type,
        "eventTime": utc_now(),
        "id": str(uuid.uuid4()),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": f"/subscriptions/{sub}",
    }


_TAGS = "/providers/microsoft.resources/tags/default"


def build_arn_event(emu: Emulator, ctx: Ctx, pending: PendingEvent) -> dict[str, Any] | None:
    """The Azure Resource Notifications (resources topic) event of a completed write
    or delete of a resource in a group; None for anything else (groups, role
    assignments, actions)."""
    uri = pending.resource_uri
    if uri.lower().endswith(_TAGS):
        uri = uri[: -len(_TAGS)]
    ref = parse_resource_id(uri)
    if ref is None or not pending.event_type.endswith(("WriteSuccess", "DeleteSuccess")):
        return None  # ARN reports changes, not actions or failures
    info: dict[str, Any] = {"id": uri, "name": ref.name, "type": ref.type}
    if pending.event_type.endswith("DeleteSuccess") and uri == pending.resource_uri:
        event_type = "Microsoft.ResourceNotifications.Resources.Deleted"
        data: dict[str, Any] = {"resourceInfo": info}
    else:
        body = emu.get(uri)
        if body is None:
            return None
        event_type = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
        info = {"tags": body.get("tags") or {}, **info, "location": body.get("location"),
                "properties": body.get("properties") or {}}
        data = {"resourceInfo": info, "apiVersion": ctx.api_version}
    now = utc_now()
    data["operationalInfo"] = {"resourceEventTime": now}
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{ref.subscription}",
        "subject": uri,
        "data": data,
        "eventType": event_type,
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": now,
    }


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 form of an Event Grid schema event (same id and data)."""
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": event["data"],
        "specversion": "1.0",
    }
