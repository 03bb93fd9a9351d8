"""The managed-identity block of container apps and jobs (``ManagedServiceIdentity``).

Requests name the type as the spec's enum does (``None``, ``SystemAssigned``,
``UserAssigned``, ``SystemAssigned,UserAssigned``; the answered spelling
``SystemAssigned, UserAssigned`` is taken back too); answers spell the combined
type with a space and key user-assigned identities by their id with a lowercase
``resourcegroups``, whatever the request's casing (FACTS 13-14). A system identity
keeps its principal while it stays enabled; enabling it again makes a new one.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .context import Ctx
from .ids import mixed_case_id, norm, parse_resource_id
from .state import ArmError

__all__ = ["BOTH", "IDENTITY_TYPES", "UAMI_TYPE", "identity_view", "resolve_identity"]

UAMI_TYPE = "microsoft.managedidentity/userassignedidentities"
BOTH = "SystemAssigned, UserAssigned"
IDENTITY_TYPES = ("None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned")
_ACCEPTED = {**{t: t for t in IDENTITY_TYPES}, BOTH: "SystemAssigned,UserAssigned"}


def _requested_type(requested: dict[str, Any], prev: dict[str, Any], patch: bool) -> str:
    raw = requested.get("type", _canonical(prev.get("type")) if patch else None)
    itype = _ACCEPTED.get(raw) if isinstance(raw, str) else None
    if itype is None:
        raise ArmError(
            400,
            "InvalidIdentityType",
            f"The identity type '{raw}' is not supported. Supported values: "
            + ", ".join(f"'{t}'" for t in IDENTITY_TYPES) + ".",
        )
    return itype


def _canonical(itype: Any) -> str:
    return _ACCEPTED.get(itype, "None") if isinstance(itype, str) else "None"


def _wanted_users(requested: dict[str, Any], prev: dict[str, Any], patch: bool,
                  user: bool) -> dict[str, str]:
    """Lookup key -> id as given, of the user-assigned identities the app is to carry."""
    wanted: dict[str, str] = {}
    if patch:
        for key in prev.get("userAssignedIdentities") or {}:
            wanted[norm(key)] = key
    given = requested.get("userAssignedIdentities")
    if given is not None and not isinstance(given, dict):
        raise ArmError(
            400, "InvalidIdentity", "'userAssignedIdentities' must be an object keyed by id."
        )
    for key, value in (given or {}).items():
        if value is None and patch:
            wanted.pop(norm(key), None)
        elif isinstance(value, dict) or value is None:
            wanted[norm(key)] = key
        else:
            raise ArmError(400, "InvalidIdentity", f"The value for '{key}' must be an object.")
    if not user and patch:
        wanted = {}
    if user and not wanted:
        raise ArmError(
            400,
            "InvalidIdentityValues",
            "'userAssignedIdentities' must list at least one identity when the identity type "
            "includes 'UserAssigned'.",
        )
    if not user and wanted:
        raise ArmError(
            400,
            "InvalidIdentityValues",
            "'userAssignedIdentities' is only allowed with identity type 'UserAssigned' "
            f"(got '{requested.get('type')}').",
        )
    return wanted


def resolve_identity(
    ctx: Ctx, requested: Any, previous: dict[str, Any] | None, workload_name: str, *,
    patch: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The identity block to store, and the principals this write created.

    Validates the request, fills ``principalId`` / ``tenantId`` / ``clientId``; a
    system identity switched off leaves its principal to the caller (the write may
    still fail and be rolled back).
    """
    store = ctx.store
    prev = previous or {"type": "None"}
    if requested is None and patch:
        return copy.deepcopy(prev), []  # untouched by this PATCH
    if requested is None:
        requested = {"type": "None"}
    if not isinstance(requested, dict):
        raise ArmError(400, "InvalidIdentity", "The 'identity' property must be an object.")
    itype = _requested_type(requested, prev, patch)
    user = "UserAssigned" in itype
    resolved: dict[str, dict[str, str]] = {}
    for key, spelled in _wanted_users(requested, prev, patch, user).items():
        uami = store.resources.get(key)
        ref = parse_resource_id(spelled)
        if uami is None or ref is None or ref.type.lower() != UAMI_TYPE:
            raise ArmError(
                400,
                "FailedIdentityOperation",
                "Identity operation for resource failed with error 'Failed to perform resource "
                f"identity operation. Status: 'BadRequest'. Resource '{spelled}' was not found.'",
            )
        resolved[mixed_case_id(uami["id"])] = {
            "principalId": uami["properties"]["principalId"],
            "clientId": uami["properties"]["clientId"],
        }
    out: dict[str, Any] = {"type": BOTH if itype == IDENTITY_TYPES[3] else itype}
    created: list[str] = []
    if "SystemAssigned" in itype:
        if "SystemAssigned" in _canonical(prev.get("type")) and prev.get("principalId"):
            out["principalId"] = prev["principalId"]
        else:
            oid = str(uuid.uuid4())
            store.add_principal(oid, "ServicePrincipal", name=workload_name,
                                app_id=str(uuid.uuid4()), kind="system-assigned")
            out["principalId"] = oid
            created.append(oid)
        out["tenantId"] = store.tenant_id
    if user:
        out["userAssignedIdentities"] = resolved
    return out, created


def identity_view(identity: Any) -> Any:
    """What an answer shows: map keys with ``resourcegroups``, the spaced combined type."""
    if not isinstance(identity, dict):
        return identity
    out = copy.deepcopy(identity)
    if out.get("type") == IDENTITY_TYPES[3]:
        out["type"] = BOTH
    if out.get("userAssignedIdentities"):
        out["userAssignedIdentities"] = {
            mixed_case_id(k): v for k, v in out["userAssignedIdentities"].items()
        }
    return out
