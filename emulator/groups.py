"""Subscriptions, resource groups and the Tags API at any scope."""

from __future__ import annotations

from typing import Any

from .catalog import location_key, locations
from .common import checked_tags
from .context import Ctx, Reply
from .ids import norm, segments
from .state import ArmError

__all__ = ["list_groups", "resource_group", "subscription_locations", "subscriptions",
           "tags_at_scope"]

TAGS_SUFFIX = "/providers/Microsoft.Resources/tags/default"


def subscription_locations(ctx: Ctx, sub: str) -> Reply:
    """``GET /subscriptions/{s}/locations``: the regions, as ``az account list-locations``
    shows them."""
    ctx.store.require_subscription(sub)
    items = [{"id": f"/subscriptions/{sub.lower()}/locations/{location_key(name)}",
              "name": location_key(name), "type": "Region", "displayName": name,
              "regionalDisplayName": name,
              "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}
             for name in locations()]
    return Reply(200, {"value": items})


def subscriptions(ctx: Ctx, sub: str | None) -> Reply:
    if ctx.method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
    if sub is None:  # only those the caller has access in, as ARM lists them
        seen = ctx.emu.authorizer.sees_subscription
        return ctx.page([s for s in ctx.store.subscriptions.values()
                         if seen(ctx.caller_oid, s["subscriptionId"])])
    return Reply(200, ctx.store.require_subscription(sub))


def list_groups(ctx: Ctx, sub: str) -> Reply:
    ctx.store.require_subscription(sub)
    prefix = norm(f"/subscriptions/{sub}") + "/"
    return ctx.page([g for k, g in ctx.store.groups.items() if k.startswith(prefix)])


def resource_group(ctx: Ctx, sub: str, rg: str) -> Reply:
    store = ctx.store
    key = norm(f"/subscriptions/{sub}/resourceGroups/{rg}")
    if ctx.method == "GET":
        return Reply(200, store.require_group(sub, rg))
    if ctx.method == "HEAD":
        store.require_group(sub, rg)
        return Reply(204)
    if ctx.method in ("PUT", "PATCH"):
        store.require_subscription(sub)
        body = ctx.json_object()
        current = store.groups.get(key)
        if ctx.method == "PATCH":
            current = store.require_group(sub, rg)
            body = {"location": current["location"], "tags": current["tags"], **body}
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired",
                           "The location property is required for this definition.")
        created = store.put_group(sub, rg, location, checked_tags(body))
        ctx.event("Microsoft.Resources/subscriptions/resourceGroups/write", ctx.path)
        return Reply(201 if created else 200, store.groups[key])
    if ctx.method == "DELETE":
        if key not in store.groups:
            store.require_group(sub, rg)
        for rkey in [k for k in store.resources if k.startswith(key + "/")]:
            body = store.resources.pop(rkey)
            store.revisions.pop(rkey, None)
            store.executions.pop(rkey, None)
            ident = body.get("identity") or {}
            store.delete_principal(ident.get("principalId") if isinstance(ident, dict) else None)
            if "principalId" in (body.get("properties") or {}):
                store.delete_principal(body["properties"]["principalId"])
            ctx.event(f"{body['type']}/delete", body["id"], "delete")
        for akey in [k for k in store.role_assignments if k.startswith(key + "/")]:
            del store.role_assignments[akey]
        del store.groups[key]
        ctx.event("Microsoft.Resources/subscriptions/resourceGroups/delete", ctx.path, "delete")
        return Reply(200)
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")


def _tags_view(scope: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "id": scope + TAGS_SUFFIX,
        "name": "default",
        "type": "Microsoft.Resources/tags",
        "properties": {"tags": dict(tags)},
    }


def _tag_dict(body: dict[str, Any]) -> dict[str, str]:
    props = body.get("properties")
    tags = props.get("tags") if isinstance(props, dict) else None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ArmError(400, "InvalidRequestContent",
                       "'properties.tags' must be an object of string values.")
    return tags


def _without(tags: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.lower() != name.lower()}


def tags_at_scope(ctx: Ctx, scope: str) -> Reply:
    store = ctx.store
    scope = "/" + "/".join(segments(scope))
    store.require_scope(scope)
    target = store.lookup(scope)
    if target is None:
        raise ArmError(400, "InvalidScope", f"Tags are not supported at scope '{scope}'.")
    current: dict[str, str] = dict(target.get("tags") or {})
    if ctx.method == "GET":
        return Reply(200, _tags_view(scope, current))
    if ctx.method == "DELETE":
        target["tags"] = {}
        ctx.event("Microsoft.Resources/tags/delete", scope + TAGS_SUFFIX, "delete")
        return Reply(200)
    body = ctx.json_object()
    given = _tag_dict(body)
    if ctx.method == "PUT":
        new = dict(given)
    elif ctx.method == "PATCH":
        props = body.get("properties")
        nested = props.get("operation") if isinstance(props, dict) else None
        operation = str(body.get("operation") or nested or "")
        if operation.lower() == "merge":
            new = current
            for name, value in given.items():
                new = _without(new, name)
                new[name] = value
        elif operation.lower() == "replace":
            new = dict(given)
        elif operation.lower() == "delete":
            new = current
            for name, value in given.items():
                old = {k.lower(): v for k, v in new.items()}.get(name.lower())
                if old is not None and (not value or value == old):
                    new = _without(new, name)
        else:
            raise ArmError(400, "InvalidTagOperation",
                           f"The tag operation '{operation}' is not one of Merge, Replace, Delete.")
    else:
        raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
    if len(new) > 50:
        raise ArmError(400, "InvalidTagCount", "A resource can have at most 50 tags.")
    target["tags"] = new
    ctx.event("Microsoft.Resources/tags/write", scope + TAGS_SUFFIX)
    return Reply(200, _tags_view(scope, new))
