"""Raw Event Grid / CloudEvents JSON -> "what happened to which container app".

An event is a pointer, never the truth: all this module extracts is *which*
app an event is about and whether it was written or deleted. The reconciler
re-reads the app from ARM before acting, so tags, identities or statuses in
the payload are never used for decisions.

Every item of a payload becomes exactly one :class:`AppEvent`, in input order:

``write``
    ``ResourceWriteSuccess`` for ``Microsoft.App/containerApps/write``, or for
    ``Microsoft.Resources/tags/write`` on ``<app id>/providers/Microsoft.Resources/tags/default``
    (or the bare app id); ARN ``Resources.CreatedOrUpdated`` of a container app.
``delete``
    ``ResourceDeleteSuccess`` for ``Microsoft.App/containerApps/delete``; ARN
    ``Resources.Deleted`` of a container app.
``ignored``
    anything else: other event types, failures, cancels, actions, other
    resource types, child resources of an app (``containerApps/x/authConfigs/y``),
    tags of something that is not a container app, validation events, and
    ``Microsoft.Resources/tags/delete`` (the contract's table does not list it;
    grants of an app whose whole tags resource was deleted are revoked by the
    next ``reconcile`` sweep).
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

__all__ = [
    "AppEvent",
    "EventKind",
    "parse_payload",
    "parse_event",
    "is_validation_event",
    "canonical_app_id",
    "arm_path_problem",
    "WRITE_SUCCESS",
    "DELETE_SUCCESS",
    "ARN_CREATED_OR_UPDATED",
    "ARN_DELETED",
    "VALIDATION_EVENT",
]

EventKind = Literal["write", "delete", "ignored", "refused"]

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
ARN_CREATED_OR_UPDATED = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
ARN_DELETED = "Microsoft.ResourceNotifications.Resources.Deleted"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"

_APP_WRITE = "microsoft.app/containerapps/write"
_APP_DELETE = "microsoft.app/containerapps/delete"
_TAGS_WRITE = "microsoft.resources/tags/write"
_APP_TYPE = "microsoft.app/containerapps"
_TAGS_SUFFIX = ("providers", "microsoft.resources", "tags", "default")

_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_FORBIDDEN_CHARS = "%\\?#"
_MAX_ID_LENGTH = 4096


@dataclass(frozen=True)
class AppEvent:
    """What one delivered event means for aca-warden."""

    event_id: str  # "" when the item has none
    kind: EventKind
    app_id: str | None  # canonical container app id (write/delete; may be set on ignored)
    reason: str | None = None  # why ignored / refused (human readable)
    correlation_id: str | None = None
    caller_oid: str | None = None
    caller_appid: str | None = None
    event_type: str | None = None


def arm_path_problem(value: str) -> str | None:
    """Why `value` is not a well-formed absolute ARM path, or None when it is.

    Checked before anything becomes part of a URL: no empty, ``.`` or ``..``
    segments, no trailing ``/``, no whitespace or control characters, none of
    ``% \\ ? #``.
    """
    if not value:
        return "it is empty"
    if len(value) > _MAX_ID_LENGTH:
        return f"it is longer than {_MAX_ID_LENGTH} characters"
    if not value.startswith("/"):
        return "it does not start with '/'"
    for ch in value:
        if ch in _FORBIDDEN_CHARS:
            return f"it contains {ch!r}"
        if ch.isspace() or not ch.isprintable():
            return f"it contains whitespace or a control character ({ch!r})"
    if value.endswith("/") and value != "/":
        return "it ends with '/'"
    for segment in value[1:].split("/"):
        if segment == "":
            return "it has an empty segment ('//')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
    return None


def _app_segments(segments: list[str]) -> str | None:
    """The canonical app id when the first 8 segments name a container app."""
    if len(segments) < 8:
        return None
    sub, rg, name = segments[1], segments[3], segments[7]
    keywords = (segments[0], segments[2], segments[4], segments[5], segments[6])
    expected = ("subscriptions", "resourcegroups", "providers", "microsoft.app", "containerapps")
    if tuple(k.lower() for k in keywords) != expected:
        return None
    return (
        f"/subscriptions/{sub.lower()}/resourceGroups/{rg}"
        f"/providers/Microsoft.App/containerApps/{name}"
    )


def canonical_app_id(value: object) -> str | None:
    """The canonical id of the container app `value` names, or None.

    ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/containerApps/{name}``
    with the subscription lower-case and the fixed words in this spelling; the
    resource group and name are kept as given. Anything else (child resources,
    other types, malformed ids) gives None.
    """
    if not isinstance(value, str) or arm_path_problem(value) is not None:
        return None
    segments = value[1:].split("/")
    if len(segments) != 8:
        return None
    return _app_segments(segments)


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
            f"got {_kind(payload)}",
        )
    ]


def parse_event(item: object) -> AppEvent:
    """Classify one event item; never raises."""
    try:
        return _parse_event(item)
    except Exception as exc:  # pragma: no cover - defensive: a batch must never stop
        return AppEvent(
            event_id=_str_or_empty(item, "id"),
            kind="refused",
            app_id=None,
            reason=f"event could not be read: {type(exc).__name__}",
        )


def _kind(value: object) -> str:
    """A JSON-ish name for the type of `value`, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _str_or_empty(item: object, key: str) -> str:
    if isinstance(item, dict):
        value = item.get(key)
        if isinstance(value, str):
            return value
    return ""


def _got(container: dict[str, Any], key: str) -> str:
    """What a refusal says was found at `container[key]`."""
    return "missing" if key not in container else _kind(container[key])


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
        return _refused("", f"event must be a JSON object, got {_kind(item)}")

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
                event_id, f"event {key!r} must be a string, got {_kind(item[key])}", event_type
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
        t.lower() for t in (WRITE_SUCCESS, DELETE_SUCCESS, ARN_CREATED_OR_UPDATED, ARN_DELETED)
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


def _parse_resource_event(event_id: str, event_type: str, data: dict[str, Any]) -> AppEvent:
    """ResourceWriteSuccess / ResourceDeleteSuccess from a subscription or RG system topic."""
    is_write = event_type.lower() == WRITE_SUCCESS.lower()
    problem = _string_problem(data, "operationName", "data.operationName", non_empty=True)
    problem = problem or _string_problem(data, "resourceUri", "data.resourceUri")
    if problem:
        return _refused(event_id, problem, event_type)
    operation: str = data["operationName"]
    uri: str = data["resourceUri"]
    correlation = data.get("correlationId")
    correlation = correlation if isinstance(correlation, str) and correlation else None
    oid, appid = _claims(data)

    def event(kind: EventKind, app_id: str | None, reason: str | None = None) -> AppEvent:
        return AppEvent(event_id, kind, app_id, reason, correlation, oid, appid, event_type)

    op = operation.lower()
    wanted: EventKind
    if is_write and op in (_APP_WRITE, _TAGS_WRITE):
        wanted = "write"
    elif not is_write and op == _APP_DELETE:
        wanted = "delete"
    else:
        return event("ignored", None, f"operation {operation} of {event_type} is not handled")

    problem = arm_path_problem(uri)
    if problem is not None:
        return event("refused", None, f"data.resourceUri {uri!r} is not a valid ARM id: {problem}")
    segments = uri[1:].split("/")
    app_id = _app_segments(segments)
    if app_id is None:
        return event("ignored", None, f"resource {uri} is not a container app")
    rest = tuple(s.lower() for s in segments[8:])
    if not rest:
        return event(wanted, app_id)
    if wanted == "write" and rest == _TAGS_SUFFIX:
        return event("write", app_id)
    return event("ignored", app_id, f"resource {uri} is a child resource of a container app")


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
    if resource_type.lower() != _APP_TYPE:
        return AppEvent(
            event_id,
            "ignored",
            None,
            reason=f"resource type {resource_type} is not Microsoft.App/containerApps",
            event_type=event_type,
        )
    problem = arm_path_problem(resource_id)
    if problem is not None:
        return _refused(
            event_id,
            f"data.resourceInfo.id {resource_id!r} is not a valid ARM id: {problem}",
            event_type,
        )
    app_id = canonical_app_id(resource_id)
    if app_id is None:
        return _refused(
            event_id,
            f"data.resourceInfo.id {resource_id} is not a container app id "
            "(/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.App/containerApps/<name>)",
            event_type,
        )
    kind: EventKind = "write" if event_type.lower() == ARN_CREATED_OR_UPDATED.lower() else "delete"
    return AppEvent(event_id, kind, app_id, None, None, None, None, event_type)
