"""Fuzzing event parsing: any JSON, truncated and oversized events, wrong types, both schemas.

Properties, whatever the input:

* ``parse_payload`` never raises and gives one event per item, in order;
* every event that is not a write or delete says why (``reason``);
* a write or delete names exactly the container app an independent, simple
  oracle (a regular expression over the resource id) finds in the event, in
  canonical form, and never a malformed id;
* the whole service path (``Warden.handle_payload`` over a recording stand-in
  for ARM) never raises, answers one outcome per event, calls ARM only for
  writes and deletes, and every refused outcome carries its error.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from handlers.events import arm_path_problem, parse_payload
from handlers.policy import Policy
from handlers.warden import Warden

from .conftest import budget

SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
FAILURE = "Microsoft.Resources.ResourceWriteFailure"
ARN_W = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
ARN_D = "Microsoft.ResourceNotifications.Resources.Deleted"
KINDS = ("write", "delete", "ignored", "refused")

# --- generators ---------------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text() | st.text(min_size=300, max_size=5000)
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=25,
)

# Segments an attacker (or a bug upstream) may put into a resource id.
hostile_segments = st.sampled_from([
    "rg1", "RG1", "app1", "App-1", "subscriptions", "resourceGroups", "resourcegroups",
    "providers", "Microsoft.App", "microsoft.app", "MICROSOFT.APP", "containerApps",
    "containerapps", "authConfigs", "current", "Microsoft.Resources", "tags", "default",
    SUB, SUB.upper(), "..", ".", "", "%2F", "%2f", "a%2Fb", "a b", "a\tb", "a\nb", "\x00",
    "\u041eapp", "\uff0f", "\u2215", "r\u0065\u0301", "\u200b", "x?y", "x#y", "x\\y",
    "\U0001f600", "a" * 256,
])
prefixes = st.sampled_from(["/", "", "//", "/ ", "https://management.azure.com/"])


def uri_from(parts: list[str], prefix: str) -> str:
    return prefix + "/".join(parts)


app_like_uris = st.builds(
    lambda sub, rg, prov, typ, name, tail, prefix, upper: (
        (prefix + "/".join(["subscriptions", sub, "resourceGroups", rg, "providers", prov, typ,
                            name, *tail])).upper() if upper else
        prefix + "/".join(["subscriptions", sub, "resourceGroups", rg, "providers", prov, typ,
                           name, *tail])
    ),
    st.sampled_from([SUB, SUB.upper(), "other-sub", "..", "", "%2F"]),
    st.sampled_from(["rg1", "RG1", "rg.1", "..", ".", "", "rg%2F1", "\u0440g1", "a" * 90]),
    st.sampled_from(["Microsoft.App", "microsoft.app", "Microsoft.Web", "Microsoft.\u0410pp"]),
    st.sampled_from(["containerApps", "CONTAINERAPPS", "managedEnvironments", "containerApp"]),
    st.sampled_from(["app1", "App1", "..", "", "app 1", "app1/", "app%2F1", "\u0430pp1"]),
    st.lists(hostile_segments, max_size=4) | st.just(
        ["providers", "Microsoft.Resources", "tags", "default"]),
    st.sampled_from(["/", "/", "/", "", "//"]),
    st.booleans(),
)
resource_uris = app_like_uris | st.builds(uri_from, st.lists(hostile_segments, max_size=10),
                                          prefixes) | st.text(max_size=300)
operations = st.sampled_from([
    "Microsoft.App/containerApps/write", "microsoft.app/containerapps/WRITE",
    "Microsoft.App/containerApps/delete", "Microsoft.Resources/tags/write",
    "Microsoft.Resources/tags/delete",
    "Microsoft.App/containerApps/listSecrets/action", "Microsoft.Storage/storageAccounts/write",
    "Microsoft.App/containerApps/write ", "",
]) | st.text(max_size=60)
event_types = st.sampled_from([
    WRITE, DELETE, WRITE.lower(), DELETE.upper(), ARN_W, ARN_D,
    FAILURE, "Microsoft.Resources.ResourceActionSuccess",
    "Microsoft.EventGrid.SubscriptionValidationEvent", "",
]) | st.text(max_size=40)
maybe = st.sampled_from(["keep", "drop", "garble"])


@st.composite
def structured_events(draw: st.DrawFn) -> dict[str, Any]:
    """An event in either schema whose fields are each valid, missing or of the wrong type."""
    cloud = draw(st.booleans())
    etype = draw(event_types)
    uri = draw(resource_uris)
    if etype.lower() in (ARN_W.lower(), ARN_D.lower()):
        data: dict[str, Any] = {"resourceInfo": {
            "id": uri, "type": draw(st.sampled_from(
                ["Microsoft.App/containerApps", "microsoft.app/CONTAINERAPPS",
                 "Microsoft.Storage/storageAccounts", ""]))}}
    else:
        data = {"operationName": draw(operations), "resourceUri": uri,
                "correlationId": str(uuid.uuid4()), "status": "Succeeded",
                "claims": {"oid": "c0ffee00-0000-0000-0000-000000000001",
                           "appid": "c0ffee00-0000-0000-0000-000000000002"}}
    event: dict[str, Any] = {"id": draw(st.uuids().map(str) | st.text(max_size=40)),
                             "subject": uri, "data": data}
    if cloud:
        event.update(specversion=draw(st.sampled_from(["1.0", "1.0", "0.3", 1.0])), type=etype,
                     source=f"/subscriptions/{SUB}", time="2026-01-01T00:00:00Z")
    else:
        event.update(eventType=etype, topic=f"/subscriptions/{SUB}",
                     eventTime="2026-01-01T00:00:00Z", dataVersion="2", metadataVersion="1")
    # Drop or garble any field, at the top level or in data.
    for holder in (event, data, data.get("resourceInfo") or {}):
        for key in list(holder):
            what = draw(maybe)
            if what == "drop" and draw(st.integers(0, 4)) == 0:
                del holder[key]
            elif what == "garble" and draw(st.integers(0, 4)) == 0:
                holder[key] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:  # dead-lettered: extra fields must not matter
        event.update(deadLetterReason="MaxDeliveryAttemptsExceeded", deliveryAttempts=30,
                     lastDeliveryOutcome="Probation", publishTime="2026-01-01T00:00:01Z")
    return event


# --- the oracle ----------------------------------------------------------------------------------

_SEG = r"[^/%\\?#\s]+"
_ORACLE = re.compile(
    rf"^/subscriptions/({_SEG})/resourcegroups/({_SEG})/providers/microsoft\.app/"
    rf"containerapps/({_SEG})(/providers/microsoft\.resources/tags/default)?$",
    re.IGNORECASE | re.ASCII,
)


def oracle_app(uri: object, tags_allowed: bool, tags_only: bool = False) -> str | None:
    """The canonical app a resource id names, by a regular expression (independent code)."""
    if not isinstance(uri, str) or len(uri) > 4096:
        return None
    m = _ORACLE.match(uri)
    if not m or (m.group(4) and not tags_allowed) or (tags_only and not m.group(4)):
        return None
    sub, rg, name = m.group(1), m.group(2), m.group(3)
    if any(s in (".", "..") or not s.isprintable() for s in (sub, rg, name)):
        return None
    if any(not ch.isprintable() or ch.isspace() for ch in uri):
        return None
    return f"/subscriptions/{sub.lower()}/resourceGroups/{rg}/providers/Microsoft.App/" \
           f"containerApps/{name}"


def expected_app(item: object) -> tuple[str | None, str | None]:
    """(kind "write"/"delete" or None, app id) per the contract's table, for a well-typed item."""
    if not isinstance(item, dict):
        return None, None
    data = item.get("data")
    etype = item.get("eventType", item.get("type"))
    if not isinstance(etype, str) or not isinstance(data, dict):
        return None, None
    et = etype.lower()
    if et in (ARN_W.lower(), ARN_D.lower()):
        info = data.get("resourceInfo")
        if not isinstance(info, dict) or not isinstance(info.get("type"), str) \
                or info["type"].lower() != "microsoft.app/containerapps":
            return None, None
        return ("write" if et == ARN_W.lower() else "delete"), oracle_app(info.get("id"), False)
    op = data.get("operationName")
    if not isinstance(op, str):
        return None, None
    if et in (WRITE.lower(), FAILURE.lower()) and op.lower() == "microsoft.app/containerapps/write":
        return "write", oracle_app(data.get("resourceUri"), et == WRITE.lower())
    if et == WRITE.lower() and op.lower() == "microsoft.resources/tags/write":
        return "write", oracle_app(data.get("resourceUri"), True)
    if et == DELETE.lower() and op.lower() == "microsoft.app/containerapps/delete":
        return "delete", oracle_app(data.get("resourceUri"), False)
    if et == DELETE.lower() and op.lower() == "microsoft.resources/tags/delete":
        return "write", oracle_app(data.get("resourceUri"), True, tags_only=True)
    return None, None


def check_events(payload: object) -> None:
    events = parse_payload(payload)
    items = payload if isinstance(payload, list) else [payload]
    assert len(events) == len(items)
    for item, ev in zip(items, events, strict=True):
        assert ev.kind in KINDS
        if ev.kind in ("ignored", "refused"):
            assert isinstance(ev.reason, str) and ev.reason.strip(), ev
        if ev.kind in ("write", "delete"):
            assert ev.app_id is not None and arm_path_problem(ev.app_id) is None
            kind, app = expected_app(item)
            # Anything the parser acts on, the oracle finds too, identically.
            assert (kind, app) == (ev.kind, ev.app_id), (item, ev)
        else:
            kind, app = expected_app(item)
            well_typed = isinstance(item, dict) and isinstance(item.get("id"), str) \
                and item.get("id") and all(
                    isinstance(item.get(k), str) for k in
                    ("subject", "topic", "source", "eventTime", "time") if k in item) \
                and (("eventType" in item) or item.get("specversion",
                                                        item.get("specVersion")) == "1.0")
            if well_typed and kind is not None and app is not None:
                raise AssertionError(f"oracle finds {kind} of {app}, parser said {ev}")


# --- properties ----------------------------------------------------------------------------------


@budget(0.14)
@given(json_values)
def test_any_json_value_is_classified_never_raises(value: object) -> None:
    check_events(value)


@budget(0.14)
@given(st.lists(structured_events(), min_size=1, max_size=6))
def test_structured_events_of_both_schemas_match_the_oracle(batch: list[dict[str, Any]]) -> None:
    check_events(batch)
    for event in batch:
        check_events(event)


@budget(0.10)
@given(structured_events(), st.data())
def test_truncated_events_are_unreadable_or_classified(event: dict[str, Any],
                                                       data: st.DataObject) -> None:
    text = json.dumps(event)
    cut = data.draw(st.integers(0, len(text)))
    try:
        value = json.loads(text[:cut])
    except ValueError:
        return  # the CLI reports "not JSON" (exit 2), the webhook 400: nothing to classify
    check_events(value)


@budget(0.02)
@given(st.integers(4097, 70_000), st.sampled_from(["resourceUri", "id", "operationName"]),
       st.sampled_from(["a", "/", "\u041e", "%"]))
def test_oversized_fields_are_refused_or_ignored_not_acted_on(size: int, field: str,
                                                              fill: str) -> None:
    base = (f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.App/"
            "containerApps/app1")
    event = {"id": "e1", "eventType": WRITE, "subject": base,
             "data": {"operationName": "Microsoft.App/containerApps/write", "resourceUri": base}}
    huge = (base + "x" + fill * size)[: size + len(base)]
    if field == "id":
        event["id"] = huge
    else:
        event["data"][field] = huge  # type: ignore[index]
    [ev] = parse_payload(event)
    if field == "resourceUri":
        assert ev.kind == "refused" and "longer than" in (ev.reason or "")
    elif field == "operationName":
        assert ev.kind == "ignored" and ev.reason
    else:
        assert ev.kind == "write" and ev.app_id == base


# --- the whole service path over a stand-in for ARM ----------------------------------------------


class RecordingArm:
    """Answers like an empty subscription; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            if name == "own_identity":
                return ("5e1f0000-0000-0000-0000-000000000000", None)
            if name in ("list_assignments", "list_apps", "list_subscriptions"):
                return []
            return None
        return call


@budget(0.04)
@given(st.lists(structured_events() | json_values, max_size=8))
def test_service_path_never_raises_and_touches_arm_only_for_apps(batch: list[Any]) -> None:
    arm = RecordingArm()
    warden = Warden(Policy(), arm)  # type: ignore[arg-type]
    outcomes = asyncio.run(warden.handle_payload(batch))
    events = parse_payload(batch)
    assert [o.event_id for o in outcomes] == [e.event_id for e in events]
    apps = {e.app_id.lower() for e in events if e.kind in ("write", "delete") and e.app_id}
    for o, e in zip(outcomes, events, strict=True):
        assert o.result in ("applied", "unchanged", "ignored", "refused", "retry", "deleted")
        assert o.result != "retry", o  # nothing transient happened
        if o.result == "refused":
            assert o.error, o
        if e.kind in ("ignored", "refused"):
            assert o.result == e.kind
        json.dumps(o.to_json())  # every outcome can be printed
    for name, args in arm.calls:
        if name in ("get_app",):
            assert str(args[0]).lower() in apps
        assert name in ("own_identity", "get_app", "list_assignments"), name


def test_oracle_agrees_on_a_plain_write() -> None:
    """The oracle itself can fail: it finds the app in a plain write and nothing in others."""
    app = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.App/containerApps/a"
    item = {"id": "1", "eventType": WRITE,
            "data": {"operationName": "Microsoft.App/containerApps/write", "resourceUri": app}}
    assert expected_app(item) == ("write", app)
    assert oracle_app(app + "/authConfigs/x", True) is None
    assert oracle_app(app.replace("rg1", ".."), True) is None
    assert oracle_app(app.replace("rg1", "rg%2F1"), True) is None
