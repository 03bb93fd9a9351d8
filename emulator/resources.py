"""Microsoft.ManagedIdentity/userAssignedIdentities, plain stored resources of any
other type (so storage accounts and vaults can be scopes), resource lists, and the
dispatch to container apps, jobs and managed environments.

A user-assigned identity's PUT answers 201 with a ``Location`` header naming the
identity itself (FACT 8), its id spelled ``.../resourcegroups/...``; DELETE 200
with no body.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

from .common import checked_tags, merge_patch, not_found, system_data
from .context import Ctx, Reply
from .environments import ENV_TYPE, handle_environment
from .identity import UAMI_TYPE
from .ids import ResourceRef, mixed_case_id, norm
from .state import ArmError
from .views import identity_resource_view, view
from .workloads import KINDS, handle_workload

__all__ = ["handle_resource", "list_resources"]


_Record = dict[str, Any]


def _handle_stored(
    ctx: Ctx,
    ref: ResourceRef,
    operation_type: str,
    write: Callable[[Ctx, ResourceRef, _Record, _Record | None], _Record],
    forget: Callable[[Ctx, _Record], None] | None = None,
    answer: Callable[[_Record, str], _Record] = lambda r, _v: r,
    created_location: bool = False,
) -> Reply:
    """GET, PUT, PATCH and DELETE of one stored resource.

    `write` makes the record to store from the request body and the current
    record (None on create; never None for PATCH); `forget` undoes what a
    deleted record held besides itself. Events are `<operation_type>/write|delete`.
    """
    store = ctx.store
    key = norm(ref.id)
    current = store.resources.get(key)
    if ctx.method == "GET":
        if current is None:
            raise not_found(ref)
        return Reply(200, answer(current, ctx.api_version))
    if ctx.method in ("PUT", "PATCH"):
        store.require_group(ref.subscription, ref.resource_group)
        body = ctx.json_object()
        if ctx.method == "PATCH" and current is None:
            raise not_found(ref)
        stored = write(ctx, ref, body, current)
        store.resources[key] = stored
        ctx.event(f"{operation_type}/write", ctx.path)
        headers = {"Location": stored["id"]} if created_location and current is None else {}
        return Reply(200 if current else 201, answer(stored, ctx.api_version), headers)
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        del store.resources[key]
        if forget is not None:
            forget(ctx, current)
        ctx.event(f"{operation_type}/delete", ctx.path, "delete")
        return Reply(200)
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")


def _identity_record(ctx: Ctx, ref: ResourceRef, body: _Record, current: _Record | None) -> _Record:
    """A user-assigned identity; a new one gets its own service principal."""
    store = ctx.store
    if ctx.method == "PATCH" and current is not None:
        body = {"location": current["location"], **body}
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise ArmError(400, "LocationRequired",
                       "The location property is required for this definition.")
    if current is None:
        oid, client = str(uuid.uuid4()), str(uuid.uuid4())
        store.add_principal(oid, "ServicePrincipal", name=ref.name, app_id=client,
                            kind="user-assigned")
    else:
        oid = current["properties"]["principalId"]
        client = current["properties"]["clientId"]
    return {
        "id": current["id"] if current else mixed_case_id(ref.id),
        "location": location,
        "name": ref.name,
        "properties": {
            "tenantId": store.tenant_id, "principalId": oid, "clientId": client,
            "isolationScope": "None", "assignmentRestrictions": {"providers": []},
        },
        "tags": checked_tags(body, current.get("tags") if current else None),
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
    }


def _forget_principal(ctx: Ctx, identity: _Record) -> None:
    ctx.store.delete_principal(identity["properties"]["principalId"])


def _generic_record(ctx: Ctx, ref: ResourceRef, body: _Record, current: _Record | None) -> _Record:
    """Any other type: the well-known top-level properties, kept as sent."""
    if ctx.method == "PATCH" and current is not None:
        body = merge_patch(current, body)
    if not isinstance(body.get("properties", {}), dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    stored = {
        k: copy.deepcopy(v) for k, v in body.items()
        if k in ("location", "properties", "kind", "sku", "identity", "zones")
    }
    stored["tags"] = checked_tags(body)
    stored.update(
        id=current["id"] if current else ref.id, name=ref.name, type=ref.type,
        systemData=system_data(ctx, current),
    )
    stored.setdefault("properties", {})
    return stored


def handle_resource(ctx: Ctx, ref: ResourceRef, action: str | None = None) -> Reply:
    kind = ref.type.lower()
    if kind in KINDS and len(ref.types) == 1:
        return handle_workload(ctx, KINDS[kind], ref, action)
    if kind == ENV_TYPE.lower():
        return handle_environment(ctx, ref, action)
    if action is not None:
        raise ArmError(400, "InvalidAction", f"The action '{action}' is not supported.")
    if kind == UAMI_TYPE:
        return _handle_stored(ctx, ref, "Microsoft.ManagedIdentity/userAssignedIdentities",
                              _identity_record, _forget_principal,
                              answer=identity_resource_view, created_location=True)
    return _handle_stored(ctx, ref, ref.type, _generic_record)


# ``$filter`` of a generic resource list (``az resource list -g / --resource-type / --name /
# --location / --tag``): ``field eq 'value'`` joined by ``and``.
_FILTER_FIELDS = {"resourcetype": "type", "name": "name", "location": "location",
                  "resourcegroup": "resourceGroup", "tagname": "tagName",
                  "tagvalue": "tagValue"}


def _resource_filter(text: str) -> dict[str, str]:
    """{field: value} of a list's ``$filter``; 400 as ARM for one it cannot evaluate (an
    ignored filter would answer everything, and read as a result)."""
    wanted: dict[str, str] = {}
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I) if text.strip() else []:
        m = re.fullmatch(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*", part, flags=re.I)
        field = _FILTER_FIELDS.get(m.group(1).lower()) if m else None
        if m is None or field is None:
            raise ArmError(400, "InvalidFilterInQueryString",
                           f"The filter '{text}' is not valid: only resourceType, name, "
                           "location, resourceGroup, tagName and tagValue with 'eq', joined "
                           "by 'and', are supported here.")
        wanted[field] = m.group(2).replace("''", "'")
    if "tagValue" in wanted and "tagName" not in wanted:
        raise ArmError(400, "InvalidFilterInQueryString",
                       f"The filter '{text}' is not valid: tagValue needs tagName.")
    return wanted


def _admits(wanted: dict[str, str], body: _Record) -> bool:
    for field in ("type", "name", "location"):
        if field in wanted and str(body.get(field, "")).replace(" ", "").lower() != \
                wanted[field].replace(" ", "").lower():
            return False
    if "resourceGroup" in wanted:
        segs = str(body.get("id", "")).split("/")
        if len(segs) < 5 or segs[4].lower() != wanted["resourceGroup"].lower():
            return False
    if "tagName" in wanted:
        tags = {k.lower(): v for k, v in (body.get("tags") or {}).items()}
        value = tags.get(wanted["tagName"].lower())
        if value is None or ("tagValue" in wanted and value != wanted["tagValue"]):
            return False
    return True


def list_resources(ctx: Ctx, sub: str, rg: str | None, rtype: str | None) -> Reply:
    """List by subscription or group, optionally of one type, in creation order."""
    store = ctx.store
    if rg is None:
        store.require_subscription(sub)
    else:
        store.require_group(sub, rg)
    wanted = _resource_filter(ctx.query.get("$filter", "")) if rtype is None else {}
    prefix = norm(f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")) + "/"
    items = []
    for key, body in store.resources.items():
        if not key.startswith(prefix):
            continue
        if rtype is not None and str(body.get("type", "")).lower() != rtype.lower():
            continue
        if wanted and not _admits(wanted, body):
            continue
        items.append(body)
    return ctx.page(items, lambda body: view(body, ctx.api_version))
