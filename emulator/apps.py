"""Microsoft.App/containerApps.

Writes are long-running (``Azure-AsyncOperation`` + ``Location`` +
``Retry-After``) as the spec declares: the state changes at once, the write
*completes* (provisioningState, event) when its operation finishes. PATCH is a
JSON merge patch. Secret values are stored but never answered, so a
read-modify-write PUT fails like on ARM. Identity map keys are answered in
ARM's mixed case (``.../resourcegroups/...``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .auth import disclose
from .common import checked_tags, merge_patch, not_found, system_data
from .context import Ctx, Reply
from .ids import ResourceRef, mixed_case_id, norm, parse_resource_id
from .state import ArmError

__all__ = ["APP_TYPE", "IDENTITY_TYPES", "UAMI_TYPE", "app_view", "handle_app"]

APP_TYPE = "microsoft.app/containerapps"
UAMI_TYPE = "microsoft.managedidentity/userassignedidentities"
IDENTITY_TYPES = ("None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned")
_READ_ONLY_PROPS = (
    "provisioningState", "runningStatus", "latestRevisionName", "latestReadyRevisionName",
    "latestRevisionFqdn", "outboundIpAddresses", "eventStreamEndpoint",
    "customDomainVerificationId",
)


# -- identity ------------------------------------------------------------------------
def resolve_identity(
    ctx: Ctx, requested: Any, previous: dict[str, Any] | None, app_name: str, *, patch: bool
) -> dict[str, Any] | None:
    """Validate an identity block and fill principalId/tenantId/clientId."""
    store = ctx.store
    prev = previous or {"type": "None"}
    if requested is None and patch:
        return copy.deepcopy(prev)  # untouched by this PATCH
    if requested is None:
        requested = {"type": "None"}
    if not isinstance(requested, dict):
        raise ArmError(400, "InvalidIdentity", "The 'identity' property must be an object.")
    itype = requested.get("type", prev.get("type") if patch else None)
    if itype not in IDENTITY_TYPES:
        raise ArmError(
            400,
            "InvalidIdentityType",
            f"The identity type '{itype}' is not supported. Supported values: "
            + ", ".join(f"'{t}'" for t in IDENTITY_TYPES) + ".",
        )
    wanted: dict[str, Any] = {}
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
    user = "UserAssigned" in itype
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
            f"'userAssignedIdentities' is only allowed with identity type 'UserAssigned' "
            f"(got '{itype}').",
        )
    resolved: dict[str, dict[str, str]] = {}
    for key, spelled in wanted.items():
        uami = store.resources.get(key)
        ref = parse_resource_id(spelled)
        if uami is None or ref is None or ref.type.lower() != UAMI_TYPE:
            raise ArmError(
                400,
                "FailedIdentityOperation",
                "Identity operation for resource failed with error 'Failed to perform resource "
                f"identity operation. Status: 'BadRequest'. Resource '{spelled}' was not found.'",
            )
        resolved[uami["id"]] = {
            "principalId": uami["properties"]["principalId"],
            "clientId": uami["properties"]["clientId"],
        }
    out: dict[str, Any] = {"type": itype}
    had_system = "SystemAssigned" in str(prev.get("type"))
    if "SystemAssigned" in itype:
        if had_system and prev.get("principalId"):
            out["principalId"] = prev["principalId"]
        else:
            oid = str(uuid.uuid4())
            store.add_principal(
                oid, "ServicePrincipal", name=app_name, app_id=str(uuid.uuid4()),
                kind="system-assigned",
            )
            out["principalId"] = oid
        out["tenantId"] = store.tenant_id
    elif had_system:
        store.delete_principal(prev.get("principalId"))
    if user:
        out["userAssignedIdentities"] = resolved
    return out


def app_view(stored: dict[str, Any]) -> dict[str, Any]:
    """What GET answers: no secret values, identity keys in ARM's mixed case."""
    body = copy.deepcopy(stored)
    secrets = (body.get("properties") or {}).get("configuration", {}) or {}
    for secret in secrets.get("secrets") or []:
        if isinstance(secret, dict):
            disclose("secret value", secret.pop("value", None))
    ident = body.get("identity")
    if isinstance(ident, dict) and ident.get("userAssignedIdentities"):
        ident["userAssignedIdentities"] = {
            mixed_case_id(k): v for k, v in ident["userAssignedIdentities"].items()
        }
    return body


def check_secrets(props: dict[str, Any]) -> None:
    config = props.get("configuration")
    config = {} if config is None else config
    if not isinstance(config, dict) or not isinstance(config.get("secrets") or [], list):
        raise ArmError(400, "InvalidRequestContent",
                       "'properties.configuration.secrets' must be a list.")
    bad = [
        str(s.get("name") if isinstance(s, dict) else s)
        for s in (config.get("secrets") or [])
        if not isinstance(s, dict) or not s.get("name")
        or not (s.get("value") or (s.get("keyVaultUrl") and s.get("identity")))
    ]
    for s in config.get("secrets") or []:
        if isinstance(s, dict):
            disclose("secret value", s.get("value"))
    if bad:
        raise ArmError(
            400,
            "ContainerAppSecretInvalid",
            "Invalid Request: Container app secret(s) with name(s) '"
            + ", ".join(bad)
            + "' are invalid: value or keyVaultUrl and identity should be provided.",
        )


def _app_write(ctx: Ctx, ref: ResourceRef, body: dict[str, Any], previous: dict | None) -> Reply:
    store = ctx.store
    if not isinstance(body.get("location"), str) or not body["location"]:
        raise ArmError(400, "LocationRequired", "The location property is required for this "
                       "definition.")
    if previous and previous["location"].replace(" ", "").lower() != body["location"].replace(
        " ", ""
    ).lower():
        raise ArmError(400, "LocationNotAvailableForResourceType",
                       "The location of an existing container app cannot be changed.")
    props = body.get("properties")
    props = {} if props is None else props
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    check_secrets(props)
    tags = checked_tags(body)
    patching = ctx.method == "PATCH"
    identity = resolve_identity(
        ctx, body.get("identity"), (previous or {}).get("identity"), ref.name, patch=patching
    )
    props = {k: v for k, v in props.items() if k not in _READ_ONLY_PROPS}
    env = props.get("environmentId") or props.get("managedEnvironmentId")
    if env:
        props["environmentId"] = props["managedEnvironmentId"] = env
    old_props = (previous or {}).get("properties") or {}
    revision = f"{ref.name.lower()}--{uuid.uuid4().hex[:7]}"
    props.update(
        provisioningState="InProgress",
        runningStatus="Running",
        latestRevisionName=revision,
        latestReadyRevisionName=revision,
        latestRevisionFqdn=f"{revision}.emulated.{ref.subscription[:8]}.azurecontainerapps.io",
        outboundIpAddresses=["20.1.2.3"],
        eventStreamEndpoint=f"https://emulated/{ref.name}/eventstream",
        customDomainVerificationId=old_props.get("customDomainVerificationId")
        or uuid.uuid4().hex.upper(),
    )
    stored: dict[str, Any] = {
        "id": previous["id"] if previous else ref.id,
        "name": previous["name"] if previous else ref.name,
        "type": "Microsoft.App/containerApps",
        "location": body["location"],
        "tags": tags,
        "identity": identity,
        "properties": props,
        "systemData": system_data(ctx, previous),
    }
    for extra in ("kind", "managedBy", "extendedLocation"):
        if extra in body:
            stored[extra] = body[extra]
    key = norm(ref.id)
    store.resources[key] = stored
    ctx.event("Microsoft.App/containerApps/write", ctx.path)

    def complete() -> None:
        if store.resources.get(key) is stored:
            stored["properties"]["provisioningState"] = "Succeeded"

    headers = ctx.emu.start_operation(ctx, ref, complete, final=lambda: store.resources.get(key))
    if patching:
        return Reply(202, None, headers)
    return Reply(200 if previous else 201, app_view(stored), headers)


def _app_action(ctx: Ctx, ref: ResourceRef, current: dict[str, Any], action: str) -> Reply:
    """POST listSecrets (answers values), start and stop (long-running, Location)."""
    verb = action.lower()
    if verb == "listsecrets":
        ctx.event("Microsoft.App/containerApps/listSecrets/action", ctx.path, "action")
        config = current["properties"].get("configuration") or {}
        return Reply(200, {"value": copy.deepcopy(config.get("secrets") or [])})
    if verb in ("start", "stop"):
        ctx.event(f"Microsoft.App/containerApps/{verb}/action", ctx.path, "action")
        status = "Running" if verb == "start" else "Stopped"

        def complete() -> None:
            current["properties"]["runningStatus"] = status

        headers = ctx.emu.start_operation(ctx, ref, complete, final=lambda: current)
        headers.pop("Azure-AsyncOperation")  # final-state-via: location
        return Reply(202, None, headers)
    raise ArmError(400, "InvalidAction", f"The action '{action}' is not supported.")


def handle_app(ctx: Ctx, ref: ResourceRef, action: str | None) -> Reply:
    store = ctx.store
    key = norm(ref.id)
    current = store.resources.get(key)
    if action is not None:
        if ctx.method != "POST" or current is None:
            raise not_found(ref)
        return _app_action(ctx, ref, current, action)
    if ctx.method == "GET":
        if current is None:
            raise not_found(ref)
        return Reply(200, app_view(current))
    if ctx.method == "PUT":
        store.require_group(ref.subscription, ref.resource_group)
        return _app_write(ctx, ref, ctx.json_object(), current)
    if ctx.method == "PATCH":
        if current is None:
            raise not_found(ref)
        patch = ctx.json_object()
        merged = merge_patch(current, {k: v for k, v in patch.items() if k != "identity"})
        merged["identity"] = patch.get("identity")
        if "location" not in patch:
            merged["location"] = current["location"]
        return _app_write(ctx, ref, merged, current)
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        current["properties"]["provisioningState"] = "Deleting"
        ctx.event("Microsoft.App/containerApps/delete", ctx.path, kind="delete")

        def complete() -> None:
            if store.resources.get(key) is current:
                del store.resources[key]
                store.delete_principal((current.get("identity") or {}).get("principalId"))

        return Reply(202, None, ctx.emu.start_operation(ctx, ref, complete, final=None))
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
