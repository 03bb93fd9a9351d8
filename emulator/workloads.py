"""Container apps and Container Apps jobs (``Microsoft.App/containerApps``, ``/jobs``).

Both have the same identity model and the same long-running writes, as the
recorded traffic shows them (``tests/emulator/recordings``, FACTS 10-19):

* PUT answers **201** (also on an existing resource) with the accepted resource
  (``provisioningState: InProgress``, a new system principal already in
  ``identity``) and only an ``Azure-AsyncOperation`` header; PATCH (a JSON merge
  patch) answers **202** with only ``Location``; DELETE 202 + ``Location``. The
  operation stays ``InProgress`` for the kind's real duration (``pace.REAL``, scaled
  by the time scale); the resource's event goes out when it ends. A second write
  meanwhile is refused with 409 ``...OperationInProgress``.
* Since api-version 2024-02-02-preview the PUT answer carries only what was accepted
  (no running status, revision names or template defaults; SYS, USR, JOB); older
  versions answer the whole resource (E2E). A GET answers the resource as provisioned:
  template defaults filled in, empty secret lists as ``null``, no secret values.
* App ids are spelled ``.../containerapps/{name}``, job ids ``.../jobs/{name}``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from .catalog import location_display_name
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
from .executions import finish_execution, start_execution, stop_executions
from .identity import identity_view, resolve_identity
from .ids import ResourceRef, norm
from .revisions import record_revision
from .state import ArmError

__all__ = [
    "APP",
    "JOB",
    "KINDS",
    "Kind",
    "handle_workload",
    "kind_of",
    "secret_values",
    "stripped_secrets",
    "workload_view",
]

_NEW_VIEWS = "2024-02-02-preview"  # the first api-version with the slim PUT answer


@dataclass(frozen=True)
class Kind:
    type: str  # as answered in "type"
    id_type: str  # as spelled in answered ids
    family: str  # prefix of its operation-status resource types
    pace: str  # key prefix in pace.REAL
    config_keys: tuple[str, ...]
    template_keys: tuple[str, ...]
    conflict_code: str
    noun: str  # in the 409 message

    @property
    def low(self) -> str:
        return self.type.lower()

    def canonical_id(self, ref: ResourceRef) -> str:
        return (f"/subscriptions/{ref.subscription}/resourceGroups/{ref.resource_group}"
                f"/providers/Microsoft.App/{self.id_type}/{ref.name}")


APP = Kind("Microsoft.App/containerApps", "containerapps", "containerapp", "containerApps",
           ("secrets", "activeRevisionsMode", "ingress", "registries", "dapr",
            "maxInactiveRevisions", "service"),
           ("revisionSuffix", "terminationGracePeriodSeconds", "containers", "initContainers",
            "scale", "volumes", "serviceBinds"),
           "ContainerAppOperationInProgress", "container app")
JOB = Kind("Microsoft.App/jobs", "jobs", "containerappsjob", "jobs",
           ("secrets", "triggerType", "replicaTimeout", "replicaRetryLimit",
            "manualTriggerConfig", "scheduleTriggerConfig", "eventTriggerConfig",
            "registries", "dapr"),
           ("containers", "initContainers", "volumes"),
           "ContainerAppsJobOperationInProgress", "container apps job")
KINDS = {APP.low: APP, JOB.low: JOB}
_APP_DEFAULT_RESOURCES = {"cpu": 0.5, "memory": "1Gi", "ephemeralStorage": "2Gi"}
_APP_DEFAULT_SCALE = {"minReplicas": None, "maxReplicas": 10, "rules": None}
# Internal bookkeeping kept beside the answered properties.
_PRIVATE = "_emulator"


def kind_of(body: dict[str, Any] | None) -> Kind | None:
    return KINDS.get(str((body or {}).get("type", "")).lower())


# -- request normalisation ------------------------------------------------------------
def _containers(given: Any) -> list[Any]:
    """Containers as ACA keeps them: keys with null values and empty resources dropped."""
    out: list[Any] = []
    for c in given if isinstance(given, list) else []:
        if not isinstance(c, dict):
            out.append(c)
            continue
        c = {k: copy.deepcopy(v) for k, v in c.items() if v is not None}
        if isinstance(c.get("resources"), dict):
            c["resources"] = {k: v for k, v in c["resources"].items() if v not in (None, "")}
        out.append(c)
    return out


def _keyed(given: Any, keys: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the request's object or {}, its copy with every key of ``keys`` present (null when
    not given) and other keys only when not null), as ACA keeps these objects."""
    given = given if isinstance(given, dict) else {}
    out = {k: copy.deepcopy(given.get(k)) for k in keys}
    out.update({k: copy.deepcopy(v) for k, v in given.items() if k not in out and v is not None})
    return given, out


def _configuration(kind: Kind, given: Any) -> dict[str, Any]:
    _, out = _keyed(given, kind.config_keys)
    for key, default in (("activeRevisionsMode", "Single"), ("triggerType", "Manual")):
        if key in out:
            value = out[key] if isinstance(out[key], str) and out[key] else default
            out[key] = value[:1].upper() + value[1:]
    return out


def _template(kind: Kind, given: Any) -> dict[str, Any]:
    given, out = _keyed(given, kind.template_keys)
    out["containers"] = _containers(given.get("containers"))
    if "initContainers" in out and given.get("initContainers") is not None:
        out["initContainers"] = _containers(given.get("initContainers"))
    return out


def _provisioned(kind: Kind, template: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The template as it runs: what ACA fills in when it provisions it."""
    out = copy.deepcopy(template)
    for c in out.get("containers") or []:
        if not isinstance(c, dict):
            continue
        if kind is APP and not c.get("resources"):
            c["resources"] = dict(_APP_DEFAULT_RESOURCES)
        elif kind is JOB and creating:
            c["resources"] = {**(c.get("resources") or {"cpu": 0.5, "memory": "1Gi"}),
                              "ephemeralStorage": (c.get("resources") or {}).get(
                                  "ephemeralStorage", "")}
    if kind is APP:
        out["revisionSuffix"] = out.get("revisionSuffix") or ""
        if out.get("scale") is None:
            out["scale"] = dict(_APP_DEFAULT_SCALE)
    return out


def _check_secrets(config: dict[str, Any]) -> None:
    """Secret values are required on PUT (never answered, so a read-modify-write without
    listSecrets fails as on ARM)."""
    secrets = config.get("secrets")
    if secrets is None:
        return
    if not isinstance(secrets, list):
        raise ArmError(400, "InvalidRequestContent",
                       "'properties.configuration.secrets' must be a list.")
    bad = [str(s.get("name") if isinstance(s, dict) else s) for s in secrets
           if not isinstance(s, dict) or not s.get("name")
           or not (s.get("value") or (s.get("keyVaultUrl") and s.get("identity")))]
    for s in secrets:
        if isinstance(s, dict):
            _disclose(s.get("value"))
    if bad:
        raise ArmError(
            400, "ContainerAppSecretInvalid",
            "Invalid Request: Container app secret(s) with name(s) '" + ", ".join(bad)
            + "' are invalid: value or keyVaultUrl and identity should be provided.")


def _disclose(value: Any) -> None:
    from .auth import disclose

    disclose("secret value", value)


# -- views --------------------------------------------------------------------------------
def stripped_secrets(secrets: Any) -> Any:
    """Secrets as answered: names (and Key Vault references), never values."""
    if not isinstance(secrets, list):
        return secrets
    out = []
    for s in secrets:
        if isinstance(s, dict):
            _disclose(s.get("value"))
            s = {k: v for k, v in s.items() if k != "value" and v not in (None, "")}
        out.append(s)
    return out


def secret_values(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """What listSecrets answers: names with values."""
    config = stored["properties"].get("configuration") or {}
    return [{"name": s.get("name"), "value": s.get("value")}
            if s.get("value") is not None else
            {k: v for k, v in s.items() if v not in (None, "")}
            for s in config.get("secrets") or [] if isinstance(s, dict)]


def workload_view(stored: dict[str, Any], api_version: str = "", *,
                  accepted: bool = False) -> dict[str, Any]:
    """The answer for a stored app or job: GET (``accepted=False``) or PUT (``True``)."""
    kind = kind_of(stored) or APP
    new = api_since(api_version, _NEW_VIEWS)
    slim = accepted and new
    private = stored.get(_PRIVATE) or {}
    props = copy.deepcopy(stored["properties"])
    config = props.get("configuration")
    if isinstance(config, dict):
        secrets = stripped_secrets(config.get("secrets"))
        config["secrets"] = secrets if (slim or kind is JOB or secrets) else None
        if kind is APP and new and config.get("maxInactiveRevisions") is None:
            config["maxInactiveRevisions"] = 100
    if slim:
        props["template"] = copy.deepcopy(private.get("accepted_template", props["template"]))
        for key in ("runningStatus", "latestRevisionName", "latestReadyRevisionName",
                    "latestRevisionFqdn", "eventStreamEndpoint"):
            if kind is APP:
                props.pop(key, None)
    if kind is APP and not new:
        props.pop("delegatedIdentities", None)
    body: dict[str, Any] = {"id": stored["id"], "name": stored["name"], "type": stored["type"],
                            "location": stored["location"]}
    if stored.get("tags"):
        body["tags"] = dict(stored["tags"])
    for extra in ("kind", "managedBy", "extendedLocation"):
        if extra in stored:
            body[extra] = copy.deepcopy(stored[extra])
    body["systemData"] = timestamp_view(stored.get("systemData"), zulu=accepted)
    body["properties"] = props
    body["identity"] = identity_view(stored.get("identity") or {"type": "None"})
    return body


# -- writes -------------------------------------------------------------------------------
def _environment(ctx: Ctx, props: dict[str, Any]) -> dict[str, Any] | None:
    env_id = props.get("environmentId") or props.get("managedEnvironmentId")
    if not env_id:
        return None
    env = ctx.store.resources.get(norm(str(env_id)))
    if env is None or str(env.get("type", "")).lower() != "microsoft.app/managedenvironments":
        raise ArmError(404, "ManagedEnvironmentNotFound",
                       f"The managed environment '{env_id}' was not found.")
    return env


def _location(body: dict[str, Any], previous: dict[str, Any] | None, kind: Kind) -> str:
    display = region_of(body, kind.type)
    if previous and location_display_name(previous["location"]) != display:
        raise ArmError(400, "LocationNotAvailableForResourceType",
                       f"The location of an existing {kind.noun} cannot be changed.")
    return display


def _props(ctx: Ctx, kind: Kind, ref: ResourceRef, given: dict[str, Any],
           previous: dict[str, Any] | None, location: str) -> dict[str, Any]:
    env = _environment(ctx, given)
    old = (previous or {}).get("properties") or {}
    config = _configuration(kind, given.get("configuration"))
    _check_secrets(config)
    template = _template(kind, given.get("template"))
    region = location.replace(" ", "").lower()
    env_props = (env or {}).get("properties") or {}
    profile = given.get("workloadProfileName") or (
        "Consumption" if env_props.get("workloadProfiles") else None)
    env_id = (env or {}).get("id") or given.get("environmentId") or given.get(
        "managedEnvironmentId")
    stream = (f"https://{region}.azurecontainerapps.dev/subscriptions/{ref.subscription}"
              f"/resourceGroups/{ref.resource_group}/containerApps/{ref.name}/eventstream")
    props: dict[str, Any] = {"provisioningState": "InProgress"}
    if kind is APP:
        domain = (env_props.get("customDomainConfiguration") or {}).get(
            "customDomainVerificationId") or old.get("customDomainVerificationId") or \
            uuid.uuid4().hex.upper() * 2
        props.update(
            runningStatus=old.get("runningStatus", "Running"),
            managedEnvironmentId=env_id, environmentId=env_id, workloadProfileName=profile,
            outboundIpAddresses=old.get("outboundIpAddresses") or ["20.1.2.3"],
            latestRevisionName=old.get("latestRevisionName", ""),
            latestReadyRevisionName=old.get("latestReadyRevisionName", ""),
            latestRevisionFqdn=old.get("latestRevisionFqdn", ""),
            customDomainVerificationId=domain,
            configuration=config, template=template, eventStreamEndpoint=stream,
            delegatedIdentities=copy.deepcopy(given.get("delegatedIdentities") or []),
        )
    else:
        props.update(environmentId=env_id, workloadProfileName=profile,
                     configuration=config, template=template, eventStreamEndpoint=stream)
    known = set(props) | {"managedEnvironmentId", "environmentId", "provisioningState"}
    props.update({k: copy.deepcopy(v) for k, v in given.items()
                  if k not in known and v is not None and not k.startswith("latest")
                  and k not in ("runningStatus", "outboundIpAddresses",
                                "customDomainVerificationId", "eventStreamEndpoint")})
    return props


def _write(ctx: Ctx, kind: Kind, ref: ResourceRef, body: dict[str, Any],
           previous: dict[str, Any] | None) -> Reply:
    store = ctx.store
    key = norm(ref.id)
    location = _location(body, previous, kind)
    given = body.get("properties")
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    props = _props(ctx, kind, ref, given, previous, location)
    tags = checked_tags(body)
    identity, created = resolve_identity(ctx, body.get("identity"),
                                         (previous or {}).get("identity"), ref.name,
                                         patch=ctx.method == "PATCH")
    accepted_template = props["template"]
    props["template"] = _provisioned(kind, accepted_template, previous is None)
    stored: dict[str, Any] = {
        "id": previous["id"] if previous else kind.canonical_id(ref),
        "name": previous["name"] if previous else ref.name,
        "type": kind.type, "location": location, "tags": tags, "identity": identity,
        "properties": props, "systemData": system_data(ctx, previous),
        _PRIVATE: {"accepted_template": accepted_template},
    }
    for extra in ("kind", "managedBy", "extendedLocation"):
        if body.get(extra) is not None:
            stored[extra] = copy.deepcopy(body[extra])
    store.resources[key] = stored
    ctx.event(f"{kind.type}/write", ctx.path)
    old_principal = ((previous or {}).get("identity") or {}).get("principalId")
    new_template = previous is None or (previous["properties"].get("template")
                                        != props["template"])

    def complete() -> None:
        stored["properties"]["provisioningState"] = "Succeeded"
        if old_principal and old_principal != identity.get("principalId"):
            store.delete_principal(old_principal)
        if kind is APP and new_template:
            record_revision(ctx.emu, key, stored)

    def rollback() -> None:
        for oid in created:
            store.delete_principal(oid)
        if previous is not None:
            store.resources[key] = previous
        previous_or_new = previous or stored
        previous_or_new["properties"]["provisioningState"] = "Failed"

    return ctx.emu.operations.accept_write(
        ctx, key=key, family=kind.family, location=location, pace=f"{kind.pace}.write",
        stored=stored, view=workload_view, complete=complete, rollback=rollback)


def _final_view(ctx: Ctx, key: str) -> dict[str, Any] | None:
    current = ctx.store.resources.get(key)
    return None if current is None else workload_view(current, ctx.api_version)


def _delete(ctx: Ctx, kind: Kind, key: str, current: dict[str, Any]) -> Reply:
    store = ctx.store
    before = current["properties"]["provisioningState"]
    current["properties"]["provisioningState"] = "Deleting"
    ctx.event(f"{kind.type}/delete", ctx.path, kind="delete")

    def complete() -> None:
        if store.resources.get(key) is current:
            del store.resources[key]
            store.revisions.pop(key, None)
            store.executions.pop(key, None)
            store.delete_principal((current.get("identity") or {}).get("principalId"))

    def rollback() -> None:
        current["properties"]["provisioningState"] = before

    return Reply(202, None, ctx.emu.operations.start(
        ctx, key=key, family=kind.family, location=current["location"],
        pace=f"{kind.pace}.delete", complete=complete,
        rollback=rollback, final=None, via="location"))


def _action(ctx: Ctx, kind: Kind, key: str, current: dict[str, Any], action: str) -> Reply:
    """POST listSecrets (answers values); start / stop (long-running, Location)."""
    verb = action.lower()
    if verb == "listsecrets":
        ctx.event(f"{kind.type}/listSecrets/action", ctx.path, "action")
        return Reply(200, {"value": secret_values(current)})
    if verb not in ("start", "stop"):
        raise ArmError(400, "InvalidAction", f"The action '{action}' is not supported.")
    if kind is APP:
        _refuse_if_busy(ctx, kind, key, current)
    ctx.event(f"{kind.type}/{verb}/action", ctx.path, "action")
    body: dict[str, Any] | None = None
    if kind is APP:
        status = "Running" if verb == "start" else "Stopped"

        def complete() -> None:
            current["properties"]["runningStatus"] = status
    elif verb == "start":
        body = start_execution(ctx, key, current)
        started = body["name"]

        def complete() -> None:
            finish_execution(ctx, key, started)
    else:
        body = {"value": stop_executions(ctx, key)}

        def complete() -> None:
            return None

    answer = body
    headers = ctx.emu.operations.start(
        ctx, key=key, family=kind.family, location=current["location"],
        pace=f"{kind.pace}.action", complete=complete, rollback=None,
        final=(lambda: answer) if answer else (lambda: _final_view(ctx, key)),
        via="location", lock=kind is APP)  # a job runs executions side by side
    return Reply(202, body, headers)


def _refuse_if_busy(ctx: Ctx, kind: Kind, key: str, current: dict[str, Any]) -> None:
    op = ctx.emu.operations.busy(key)
    if op is not None:
        raise ArmError(409, kind.conflict_code,
                       f"Cannot modify a {kind.noun} '{current['name']}' because there is an "
                       f"active provisioning operation in progress. OperationId: '{op.id}'.")


def handle_workload(ctx: Ctx, kind: Kind, ref: ResourceRef, action: str | None) -> Reply:
    store = ctx.store
    key = norm(ref.id)
    current = store.resources.get(key)
    if action is not None:
        if ctx.method != "POST" or current is None:
            raise not_found(ref)
        return _action(ctx, kind, key, current, action)
    if ctx.method == "GET":
        if current is None:
            raise not_found(ref)
        return Reply(200, workload_view(current, ctx.api_version))
    if ctx.method in ("PUT", "PATCH", "DELETE") and current is not None:
        _refuse_if_busy(ctx, kind, key, current)
    if ctx.method == "PUT":
        store.require_group(ref.subscription, ref.resource_group)
        return _write(ctx, kind, ref, ctx.json_object(), current)
    if ctx.method == "PATCH":
        if current is None:
            raise not_found(ref)
        patch = ctx.json_object()
        base = {k: v for k, v in current.items() if k != _PRIVATE}
        base["properties"] = copy.deepcopy(current["properties"])
        merged = merge_patch(base, {k: v for k, v in patch.items() if k != "identity"})
        merged["identity"] = patch.get("identity")
        if "location" not in patch:
            merged["location"] = current["location"]
        return _write(ctx, kind, ref, merged, current)
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        return _delete(ctx, kind, key, current)
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")



def seeded_record(kind: Kind, ref: ResourceRef, location: str, tags: dict[str, str],
                  identity: dict[str, Any], given: dict[str, Any], env: dict[str, Any],
                  stamp: dict[str, Any]) -> dict[str, Any]:
    """A finished app or job as if it had been created long ago (no operation, no event)."""
    display = location_display_name(location) or location
    region = display.replace(" ", "").lower()
    config = _configuration(kind, given.get("configuration") or (
        {"activeRevisionsMode": "Single"} if kind is APP else {"triggerType": "Manual"}))
    template = _template(kind, given.get("template") or {"containers": [
        {"name": ref.name.lower(), "image": "mcr.microsoft.com/k8se/quickstart:latest"}]})
    stream = (f"https://{region}.azurecontainerapps.dev/subscriptions/{ref.subscription}"
              f"/resourceGroups/{ref.resource_group}/containerApps/{ref.name}/eventstream")
    props: dict[str, Any] = {"provisioningState": "Succeeded"}
    if kind is APP:
        props.update(runningStatus="Running", managedEnvironmentId=env["id"],
                     environmentId=env["id"], workloadProfileName="Consumption",
                     outboundIpAddresses=["20.1.2.3"], latestRevisionName="",
                     latestReadyRevisionName="", latestRevisionFqdn="",
                     customDomainVerificationId=env["properties"][
                         "customDomainConfiguration"]["customDomainVerificationId"])
    else:
        props.update(environmentId=env["id"], workloadProfileName="Consumption")
    props.update(configuration=config, template=_provisioned(kind, template, True),
                 eventStreamEndpoint=stream)
    if kind is APP:
        props["delegatedIdentities"] = []
    props.update({k: copy.deepcopy(v) for k, v in given.items()
                  if k not in ("configuration", "template")})
    return {"id": kind.canonical_id(ref), "name": ref.name, "type": kind.type,
            "location": display, "tags": dict(tags), "identity": identity,
            "properties": props, "systemData": stamp,
            _PRIVATE: {"accepted_template": template}}
