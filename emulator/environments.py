"""Container Apps managed environments (``Microsoft.App/managedEnvironments``).

Creating one is ARM's slowest write in this slice: the PUT answers 201 with
``provisioningState: Waiting`` and an ``Azure-AsyncOperation`` on
``managedEnvironmentOperationStatuses``, which stays ``InProgress`` for about ten
minutes at real pace (E2E: 190 polls). PATCH and DELETE answer 202 + ``Location``.
A second write meanwhile gets 409 ``ManagedEnvironmentOperationInProgress``.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from .common import (
    api_since,
    checked_tags,
    merge_patch,
    not_found,
    region_of,
    system_data,
    timestamp_view,
)
from .context import Ctx, Reply
from .identity import identity_view, resolve_identity
from .ids import ResourceRef, norm
from .state import ArmError

__all__ = ["ENV_TYPE", "environment_view", "handle_environment", "new_environment_properties"]

ENV_TYPE = "Microsoft.App/managedEnvironments"
_NEW_VIEWS = "2024-02-02-preview"
_WORDS = ("whitebeach", "proudisland", "calmriver", "bluemeadow", "happysky", "quietforest")


_PROFILE_KEYS = ("workloadProfileType", "name", "minimumCount", "maximumCount")


def _profiles(given: Any) -> Any:
    """Workload profiles with ACA's key spelling (the CLI sends ``Name``)."""
    if not isinstance(given, list):
        return copy.deepcopy(given)
    spelling = {k.lower(): k for k in _PROFILE_KEYS}
    return [{spelling.get(k.lower(), k): copy.deepcopy(v) for k, v in p.items()}
            if isinstance(p, dict) else p for p in given]


def new_environment_properties(ref: ResourceRef, location: str, given: dict[str, Any],
                               old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The properties ACA answers for an environment (FACTS: E2E#1, SYS#1)."""
    old = old or {}
    region = location.replace(" ", "").lower()
    logs = copy.deepcopy(given.get("appLogsConfiguration")) or {
        "destination": None, "logAnalyticsConfiguration": None}
    if isinstance(logs.get("logAnalyticsConfiguration"), dict):
        logs["logAnalyticsConfiguration"]["sharedKey"] = None  # never answered
    domain_config = {"customDomainVerificationId": uuid.uuid4().hex.upper() * 2,
                     "dnsSuffix": None, "certificateValue": None, "certificatePassword": None,
                     "thumbprint": None, "subjectName": None, "expirationDate": None}
    domain_config.update(old.get("customDomainConfiguration") or {})
    domain_config.update({k: v for k, v in (given.get("customDomainConfiguration") or {}).items()
                          if k in domain_config and k != "customDomainVerificationId"})
    default_domain = old.get("defaultDomain") or (
        f"{random.choice(_WORDS)}-{uuid.uuid4().hex[:8]}.{region}.azurecontainerapps.io")
    props: dict[str, Any] = {
        "provisioningState": "Waiting",
        "daprAIInstrumentationKey": given.get("daprAIInstrumentationKey"),
        "daprAIConnectionString": given.get("daprAIConnectionString"),
        "vnetConfiguration": copy.deepcopy(given.get("vnetConfiguration")),
        "defaultDomain": default_domain,
        "staticIp": old.get("staticIp") or f"20.{random.randint(1, 254)}."
                                           f"{random.randint(1, 254)}.{random.randint(1, 254)}",
        "appLogsConfiguration": logs,
        "zoneRedundant": bool(given.get("zoneRedundant", False)),
        "kedaConfiguration": {"version": "2.15.1"},
        "daprConfiguration": {"version": "1.12.5"},
        "eventStreamEndpoint": f"https://{region}.azurecontainerapps.dev/subscriptions/"
                               f"{ref.subscription}/resourceGroups/{ref.resource_group}"
                               f"/managedEnvironments/{ref.name}/eventstream",
        "customDomainConfiguration": domain_config,
        "workloadProfiles": _profiles(given.get("workloadProfiles")),
        "infrastructureResourceGroup": given.get("infrastructureResourceGroup"),
        "peerAuthentication": copy.deepcopy(given.get("peerAuthentication"))
        or {"mtls": {"enabled": False}},
        "peerTrafficConfiguration": copy.deepcopy(given.get("peerTrafficConfiguration"))
        or {"encryption": {"enabled": False}},
        "firstPartyConfiguration": None,
    }
    return props


def environment_view(stored: dict[str, Any], api_version: str = "", *,
                     accepted: bool = False) -> dict[str, Any]:
    props = copy.deepcopy(stored["properties"])
    if api_since(api_version, _NEW_VIEWS):
        props.pop("firstPartyConfiguration", None)
    else:
        props.pop("peerTrafficConfiguration", None)
    body: dict[str, Any] = {"id": stored["id"], "name": stored["name"], "type": ENV_TYPE,
                            "location": stored["location"]}
    if stored.get("tags"):
        body["tags"] = dict(stored["tags"])
    body["systemData"] = timestamp_view(stored.get("systemData"), zulu=accepted)
    body["properties"] = props
    if stored.get("identity") and stored["identity"].get("type") != "None":
        body["identity"] = identity_view(stored["identity"])
    return body


def _write(ctx: Ctx, ref: ResourceRef, body: dict[str, Any],
           previous: dict[str, Any] | None) -> Reply:
    store = ctx.store
    key = norm(ref.id)
    location = region_of(body, ENV_TYPE)
    given = body.get("properties") or {}
    if not isinstance(given, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    identity = None
    if body.get("identity") is not None or (previous or {}).get("identity"):
        identity, _ = resolve_identity(ctx, body.get("identity"),
                                       (previous or {}).get("identity"), ref.name,
                                       patch=ctx.method == "PATCH")
    stored: dict[str, Any] = {
        "id": previous["id"] if previous else ref.id, "name": ref.name, "type": ENV_TYPE,
        "location": location, "tags": checked_tags(body),
        "properties": new_environment_properties(ref, location, given,
                                                 (previous or {}).get("properties")),
        "systemData": system_data(ctx, previous),
    }
    if identity is not None:
        stored["identity"] = identity
    store.resources[key] = stored
    ctx.event(f"{ENV_TYPE}/write", ctx.path)

    def complete() -> None:
        stored["properties"]["provisioningState"] = "Succeeded"

    def rollback() -> None:
        if previous is not None:
            store.resources[key] = previous
        (previous or stored)["properties"]["provisioningState"] = "Failed"

    pace = "managedEnvironments.create" if previous is None else "managedEnvironments.write"
    return ctx.emu.operations.accept_write(
        ctx, key=key, family="managedEnvironment", location=location, pace=pace,
        stored=stored, view=environment_view, complete=complete, rollback=rollback)


def handle_environment(ctx: Ctx, ref: ResourceRef, action: str | None) -> Reply:
    store = ctx.store
    key = norm(ref.id)
    current = store.resources.get(key)
    if action is not None or (ctx.method != "GET" and current is None
                              and ctx.method not in ("PUT", "DELETE")):
        raise not_found(ref)
    if ctx.method == "GET":
        if current is None:
            raise not_found(ref)
        return Reply(200, environment_view(current, ctx.api_version))
    if current is not None and ctx.method in ("PUT", "PATCH", "DELETE"):
        op = ctx.emu.operations.busy(key)
        if op is not None:
            raise ArmError(409, "ManagedEnvironmentOperationInProgress",
                           f"Cannot modify Container Apps environment {current['name']} "
                           "because another operation is in progress.")
    if ctx.method == "PUT":
        store.require_group(ref.subscription, ref.resource_group)
        return _write(ctx, ref, ctx.json_object(), current)
    if ctx.method == "PATCH":
        assert current is not None
        base = copy.deepcopy(current)
        merged = merge_patch(base, {k: v for k, v in ctx.json_object().items()
                                    if k != "identity"})
        return _write(ctx, ref, merged, current)
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        current["properties"]["provisioningState"] = "ScheduledForDelete"
        ctx.event(f"{ENV_TYPE}/delete", ctx.path, kind="delete")

        def complete() -> None:
            if store.resources.get(key) is current:
                del store.resources[key]

        return Reply(202, None, ctx.emu.operations.start(
            ctx, key=key, family="managedEnvironment", location=current["location"],
            pace="managedEnvironments.delete", complete=complete,
            rollback=None, final=None, via="location"))
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
