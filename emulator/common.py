"""Helpers shared by the resource handlers: ARM's 404, systemData, merge patch, tags."""

from __future__ import annotations

import copy
from typing import Any

from .context import Ctx
from .ids import ResourceRef
from .state import ArmError, utc_now

__all__ = ["checked_tags", "merge_patch", "not_found", "system_data"]


def checked_tags(body: dict[str, Any], default: Any = None) -> dict[str, str]:
    """``tags`` of a request body: an object of strings, else 400."""
    tags = body.get("tags", default)
    tags = {} if tags is None else tags
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ArmError(400, "InvalidRequestContent", "'tags' must be an object of strings.")
    return dict(tags)


def not_found(ref: ResourceRef) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{ref.type}/{ref.name}' under resource group '{ref.resource_group}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def system_data(ctx: Ctx, previous: dict[str, Any] | None) -> dict[str, Any]:
    who = ctx.claims.get("upn") or ctx.claims.get("appid") or ctx.caller_oid
    by_type = "User" if ctx.claims.get("idtyp") == "user" else "Application"
    now = utc_now()
    old = (previous or {}).get("systemData") or {}
    return {
        "createdBy": old.get("createdBy", who),
        "createdByType": old.get("createdByType", by_type),
        "createdAt": old.get("createdAt", now),
        "lastModifiedBy": who,
        "lastModifiedByType": by_type,
        "lastModifiedAt": now,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
