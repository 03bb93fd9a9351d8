"""Helpers shared by the resource handlers: ARM's 404, systemData, merge patch, tags."""

from __future__ import annotations

import copy
from typing import Any

from .catalog import location_display_name
from .context import Ctx
from .ids import ResourceRef
from .state import ArmError, utc_now

__all__ = ["api_since", "checked_tags", "merge_patch", "not_found", "region_of",
           "system_data", "timestamp_view"]


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


def api_since(api_version: str, first: str) -> bool:
    """True when ``api_version`` is ``first`` or newer (by date; no version = newest)."""
    return not api_version or api_version[:10] >= first[:10]


def timestamp_view(system: Any, *, zulu: bool) -> Any:
    """systemData as answered: a PUT's answer stamps with a trailing ``Z``, later reads
    without (FACT 16)."""
    if not isinstance(system, dict):
        return system
    out = dict(system)
    for key in ("createdAt", "lastModifiedAt"):
        value = out.get(key)
        if isinstance(value, str) and not zulu:
            out[key] = value.rstrip("Z")
    return out


def region_of(body: dict[str, Any], resource_type: str) -> str:
    """The display name of a body's ``location`` ("eastus" -> "East US"); ARM's 400s for a
    missing one or one Azure does not have."""
    given = body.get("location")
    if not isinstance(given, str) or not given:
        raise ArmError(400, "LocationRequired",
                       "The location property is required for this definition.")
    display = location_display_name(given)
    if display is None:
        raise ArmError(400, "LocationNotAvailableForResourceType",
                       f"The provided location '{given}' is not available for resource type "
                       f"'{resource_type}'.")
    return display
