"""Raw Event Grid / CloudEvents JSON -> "what happened to which workload" (pure).

An event is a pointer, never the truth: all this module extracts is *which*
workload (a container app, or any type of ``handlers.ids.WORKLOAD_TYPES``) an
event is about and whether it was written or deleted. The service re-reads
the workload from ARM before acting, so tags, identities or statuses in the
payload are never used for decisions.

Every item of a payload becomes exactly one :class:`AppEvent`, in input order
(the contract's table "Events it reacts to"; ``<type>`` is the workload's
resource type, e.g. ``Microsoft.App/containerApps``):

``write``
    ``ResourceWriteSuccess`` for ``<type>/write``, or for
    ``Microsoft.Resources/tags/write`` on
    ``<workload id>/providers/Microsoft.Resources/tags/default`` (or the bare
    workload id); ``ResourceDeleteSuccess`` for
    ``Microsoft.Resources/tags/delete`` on that tags resource (every tag removed:
    the grants go with them); ``ResourceWriteFailure`` for ``<type>/write`` (an
    accepted write that failed later, aca-warden's own included: ``failure`` is
    set and the event is never taken as self-caused); ARN
    ``Resources.CreatedOrUpdated`` of a workload.
``delete``
    ``ResourceDeleteSuccess`` for ``<type>/delete``; ARN ``Resources.Deleted``
    of a workload.
``ignored``
    anything else: other event types, other failures, cancels, actions, other
    resource types, child resources of a workload (``containerApps/x/authConfigs/y``),
    tags of something that is not a workload, validation events.
``refused``
    the item itself is unusable: not an object, a required field missing or of
    the wrong type, a resource id that is not a well-formed ARM id.

Both the Event Grid schema (``eventType``/``subject``/``data``/``id``) and
CloudEvents 1.0 (``type``/``source``/``data``/``id``/``specversion``; published
samples also spell it ``specVersion``) are accepted. ARM names compare
case-insensitively. Unknown fields are ignored, so dead-lettered events can be
fed back. Parsing never raises and one bad item never stops a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from handlers.ids import (
    WORKLOAD_TYPES,
    ArmId,
    WorkloadType,
    arm_path_problem,
    workload_id,
    workload_operation,
    workload_type,
)

__all__ = [
    "ARN_CREATED_OR_UPDATED",
    "ARN_DELETED",
    "DELETE_SUCCESS",
    "JSON_TYPES",
    "VALIDATION_EVENT",
    "WRITE_FAILURE",
    "WRITE_SUCCESS",
    "AppEvent",
    "EventKind",
    "is_validation_event",
    "parse_event",
    "parse_payload",
    "type_name",
]

EventKind = Literal["write", "delete", "ignored", "refused"]

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
WRITE_FAILURE = "Microsoft.Resources.ResourceWriteFailure"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
ARN_CREATED_OR_UPDATED = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
ARN_DELETED = "Microsoft.ResourceNotifications.Resources.Deleted"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"

_TAGS_WRITE = "microsoft.resources/tags/write"
_TAGS_DELETE = "microsoft.resources/tags/delete"
_TAGS_TYPE = "microsoft.resources/tags"

_KINDS = ", ".join(w.type for w in WORKLOAD_TYPES)
_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")


@dataclass(frozen=True)
class AppEvent:
    """What one delivered event means for aca-warden."""

    event_id: str  # "" when the item has none
    kind: EventKind
    app_id: str | None  # canonical workload id (write/delete; may be set on ignored)
    reason: str | None = None  # why ignored / refused (human readable)
    correlation_id: str | None = None
    caller_oid: str | None = None  # who made the change (data.claims), when the event says
    caller_appid: str | None = None
    event_type: str | None = None
    failure: bool = False  # a ResourceWriteFailure: never taken as aca-warden's own write

    @property
    def workload(self) -> ArmId | None:
        """The workload the event is about, parsed (None for ignored / refused items)."""
        return workload_id(self.app_id) if self.kind in ("write", "delete") else None


def is_validation_event(item: object) -> str | None:
    """The validationCode of an Event Grid SubscriptionValidationEvent, else None.

    Accepts one event, or a batch (the code of the first validation event in it).
    """
    if isinstance(item, list):
        for element in item:
            code = is_validation_event(element) if isinstance(element, dict) else None
            if code is not None:
                return code
        return None
    if not isinstance(item, dict):
        return None
    event_type = item.get("eventType", item.get("type"))
    if not isinstance(event_type, str) or event_type.lower() != VALIDATION_EVENT.lower():
        return None
    data = item.get("data")
    if not isinstance(data, dict):
        return None
    code = data.get("validationCode")
    return code if isinstance(code, str) and code else None


def parse_payload(payload: object) -> list[AppEvent]:
    """One :class:`AppEvent` per event of `payload` (one event object or a JSON array).

    Never raises: a malformed item becomes a ``refused`` event with a reason.
    """
    if isinstance(payload, list):
        return [parse_event(item) for item in payload]
    if isinstance(payload, dict):
        return [parse_event(payload)]
    return [
        AppEvent(
            event_id="",
            kind="refused",
            app_id=None,
            reason="payload must be an event object or a JSON array of events, "
            f"got {type_name(payload)}",
        )
    ]


def parse_event(item: object) -> AppEvent:
    """Classify one event item; never raises."""
    try:
        return _parse_event(item)
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - a batch must never stop
        return AppEvent(
            event_id=_str_or_empty(item, "id"),
            kind="refused",
            app_id=None,
            reason=f"event could not be read: {type(exc).__name__}",
        )


# JSON's names of the types json.loads gives (bool before int: a bool is an int).
JSON_TYPES: tuple[tuple[type, str], ...] = (
    (type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"),
    (str, "string"), (list, "array"), (dict, "object"))


def type_name(value: object, names: tuple[tuple[type, str], ...] = JSON_TYPES) -> str:
    """The name `names` gives the type of `value`, for messages (Python's name else)."""
    return next((name for kind, name in names if isinstance(value, kind)),
                type(value).__name__)


def _str_or_empty(item: object, key: str) -> str:
    if isinstance(item, dict):
        value = item.get(key)
        if isinstance(value, str):
            return value
    return ""


def _got(container: dict[str, Any], key: str) -> str:
    """What a refusal says was found at `container[key]`."""
    return "missing" if key not in container else type_name(container[key])


def _string_problem(
    container: dict[str, Any], key: str, name: str, *, non_empty: bool = False
) -> str | None:
    """Why `container[key]` (called `name`) is not a string (non-empty one), or None."""
    value = container.get(key)
    if isinstance(value, str) and (value or not non_empty):
        return None
    expected = "a non-empty string" if non_empty else "a string"
    return f"{name} must be {expected}, got {_got(container, key)}"


def _refused(event_id: str, reason: str, event_type: str | None = None) -> AppEvent:
    return AppEvent(
        event_id=event_id, kind="refused", app_id=None, reason=reason, event_type=event_type
    )


def _parse_event(item: object) -> AppEvent:
    if not isinstance(item, dict):
        return _refused("", f"event must be a JSON object, got {type_name(item)}")

    if "eventType" in item:
        type_key, schema = "eventType", "Event Grid"
    elif "specversion" in item or "specVersion" in item:
        type_key, schema = "type", "CloudEvents"
        version = item.get("specversion", item.get("specVersion"))
        if version != "1.0":
            return _refused(
                _str_or_empty(item, "id"),
                f"unsupported CloudEvents specversion {version!r}; expected '1.0'",
            )
    else:
        return _refused(
            _str_or_empty(item, "id"),
            "event is neither Event Grid schema (no 'eventType') "
            "nor CloudEvents 1.0 (no 'specversion')",
        )

    problem = _string_problem(item, "id", f"{schema} event 'id'", non_empty=True)
    if problem:
        return _refused("", problem)
    event_id: str = item["id"]
    problem = _string_problem(item, type_key, f"{schema} event {type_key!r}", non_empty=True)
    if problem:
        return _refused(event_id, problem)
    event_type: str = item[type_key]
    for key in ("subject", "topic", "source", "eventTime", "time"):
        if key in item and not isinstance(item[key], str):
            return _refused(
                event_id, f"event {key!r} must be a string, got {type_name(item[key])}", event_type
            )

    lowered = event_type.lower()
    if lowered == VALIDATION_EVENT.lower():
        return AppEvent(
            event_id,
            "ignored",
            None,
            reason="subscription validation event (answered by the webhook handshake)",
            event_type=event_type,
        )
    handled = {
        t.lower()
        for t in (WRITE_SUCCESS, WRITE_FAILURE, DELETE_SUCCESS, ARN_CREATED_OR_UPDATED,
                  ARN_DELETED)
    }
    if lowered not in handled:
        return AppEvent(
            event_id,
            "ignored",
            None,
            reason=f"event type {event_type} is not handled",
            event_type=event_type,
        )

    data = item.get("data")
    if not isinstance(data, dict):
        return _refused(event_id, f"event 'data' must be an object, got {_got(item, 'data')}",
                        event_type)

    if lowered in (ARN_CREATED_OR_UPDATED.lower(), ARN_DELETED.lower()):
        return _parse_arn(event_id, event_type, data)
    return _parse_resource_event(event_id, event_type, data)


def _claims(data: dict[str, Any]) -> tuple[str | None, str | None]:
    claims = data.get("claims")
    if not isinstance(claims, dict):
        return None, None
    oid = None
    for key in _OID_CLAIMS:
        value = claims.get(key)
        if isinstance(value, str) and value:
            oid = value
            break
    appid = claims.get("appid")
    return oid, appid if isinstance(appid, str) and appid else None


def _operation(event_type: str, operation: str) -> tuple[EventKind, WorkloadType | None, bool]:
    """What a system-topic event's (type, operationName) asks for: (kind, the workload
    type the operation names or None for the Tags API, whether the resource is the
    tags resource); kind "ignored" for anything the table does not list."""
    lowered, op = event_type.lower(), operation.lower()
    if lowered == WRITE_SUCCESS.lower() and op == _TAGS_WRITE:
        return "write", None, True
    if lowered == DELETE_SUCCESS.lower() and op == _TAGS_DELETE:
        return "write", None, True
    found = workload_operation(op)
    if found is None:
        return "ignored", None, False
    wtype, verb = found
    if lowered in (WRITE_SUCCESS.lower(), WRITE_FAILURE.lower()) and verb == "write":
        return "write", wtype, False
    if lowered == DELETE_SUCCESS.lower() and verb == "delete":
        return "delete", wtype, False
    return "ignored", None, False


def _parse_resource_event(event_id: str, event_type: str, data: dict[str, Any]) -> AppEvent:
    """ResourceWriteSuccess / ResourceWriteFailure / ResourceDeleteSuccess from a
    subscription or resource-group system topic."""
    problem = _string_problem(data, "operationName", "data.operationName", non_empty=True)
    problem = problem or _string_problem(data, "resourceUri", "data.resourceUri")
    if problem:
        return _refused(event_id, problem, event_type)
    operation: str = data["operationName"]
    uri: str = data["resourceUri"]
    correlation = data.get("correlationId")
    correlation = correlation if isinstance(correlation, str) and correlation else None
    oid, appid = _claims(data)
    failure = event_type.lower() == WRITE_FAILURE.lower()

    def event(kind: EventKind, app: ArmId | None, reason: str | None = None) -> AppEvent:
        return AppEvent(event_id, kind, str(app) if app is not None else None, reason,
                        correlation, oid, appid, event_type, failure and kind == "write")

    wanted, wtype, tags_op = _operation(event_type, operation)
    deleting_tags = tags_op and event_type.lower() == DELETE_SUCCESS.lower()
    if wanted == "ignored":
        return event("ignored", None, f"operation {operation} of {event_type} is not handled")

    problem = arm_path_problem(uri)
    if problem is not None:
        return event("refused", None, f"data.resourceUri {uri!r} is not a valid ARM id: {problem}")
    resource = ArmId.try_parse(uri)
    if resource is None:
        return event("ignored", None, f"resource {uri} is not a workload ({_KINDS})")
    # <workload>/providers/Microsoft.Resources/tags/default stands for the workload in a tags
    # event, and in a workload's (successful) write event too
    on_tags = tags_op or (wanted == "write" and not failure)
    if on_tags and (resource.type or "").lower() == _TAGS_TYPE and resource.parent is not None:
        target = resource.parent
    elif deleting_tags:  # the contract names the tags resource only
        return event("ignored", None, f"resource {uri} is not the tags resource of a workload")
    else:
        target = resource
    owner = _owning_workload(target)
    if owner is None:
        return event("ignored", None, f"resource {uri} is not a workload ({_KINDS})")
    if owner != target:
        return event("ignored", owner, f"resource {uri} is a child resource of a workload")
    if wtype is not None and owner.workload_type != wtype:
        return event("ignored", None,
                     f"operation {operation} does not match resource {uri}")
    return event(wanted, owner)


def _owning_workload(resource: ArmId) -> ArmId | None:
    """The workload `resource` is, or lies below (a child resource), else None."""
    current: ArmId | None = resource
    while current is not None and current.providers:
        if current.workload_type is not None:
            return current
        current = current.parent
    return None


def _parse_arn(event_id: str, event_type: str, data: dict[str, Any]) -> AppEvent:
    """Azure Resource Notifications: the resource's type and id are in data.resourceInfo."""
    info = data.get("resourceInfo")
    if not isinstance(info, dict):
        got = _got(data, "resourceInfo")
        return _refused(event_id, f"data.resourceInfo must be an object, got {got}", event_type)
    problem = _string_problem(info, "type", "data.resourceInfo.type", non_empty=True)
    problem = problem or _string_problem(info, "id", "data.resourceInfo.id")
    if problem:
        return _refused(event_id, problem, event_type)
    resource_type: str = info["type"]
    resource_id: str = info["id"]
    wtype = workload_type(resource_type)
    if wtype is None:
        return AppEvent(
            event_id,
            "ignored",
            None,
            reason=f"resource type {resource_type} is not a workload type",
            event_type=event_type,
        )
    problem = arm_path_problem(resource_id)
    if problem is not None:
        return _refused(
            event_id,
            f"data.resourceInfo.id {resource_id!r} is not a valid ARM id: {problem}",
            event_type,
        )
    app = workload_id(resource_id)
    if app is None or app.workload_type != wtype:
        return _refused(
            event_id,
            f"data.resourceInfo.id {resource_id} is not a {wtype.type} id "
            f"(/subscriptions/<sub>/resourceGroups/<rg>/providers/{wtype.type}/<name>)",
            event_type,
        )
    kind: EventKind = "write" if event_type.lower() == ARN_CREATED_OR_UPDATED.lower() else "delete"
    return AppEvent(event_id, kind, str(app), None, None, None, None, event_type)
