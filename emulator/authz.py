"""Microsoft.Authorization: role definitions and role assignments at any scope.

Strict where ARM is strict: GUID names, RoleAssignmentExists for the same
principal + role + scope under another name, PrincipalNotFound while a new
principal "replicates" (unless principalType is given), UnmatchedPrincipalType,
RoleDefinitionDoesNotExist, 404 for a scope that does not exist.

Answers as the recordings show them (FACTS 1-6): ``roleDefinitionId`` always
subscription-scoped (the request's subscription, also for assignments inherited
from ``/``), ``principalType`` filled in, ``createdBy`` null in the PUT's answer
and filled in on later reads, DELETE 200 with the deleted assignment; the
``condition``, ``conditionVersion``, ``delegatedManagedIdentityResourceId`` and
``description`` properties only since api-version 2020-04-01-preview.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from . import abac
from .common import api_since
from .context import Ctx, Reply
from .ids import is_guid, norm, scope_contains, segments
from .state import ArmError, utc_now

__all__ = ["handle_authorization"]

PRINCIPAL_TYPES = (
    "User", "Group", "ServicePrincipal", "ForeignGroup", "Device",
    "AgentUser", "AgentServicePrincipal",
)
MAX_DESCRIPTION = 2048
_RD = "/providers/Microsoft.Authorization/roleDefinitions/"
_SINCE_2020 = ("condition", "conditionVersion", "delegatedManagedIdentityResourceId",
               "description")


def _subscription_of(path: str) -> str | None:
    segs = segments(path)
    return segs[1].lower() if len(segs) >= 2 and segs[0].lower() == "subscriptions" else None


def _ra_view(ctx: Ctx, ra: dict[str, Any], *, creating: bool = False) -> dict[str, Any]:
    """An assignment as this request's answer shows it."""
    out = copy.deepcopy(ra)
    p = out["properties"]
    guid = segments(p["roleDefinitionId"])[-1]
    sub = (_subscription_of(ctx.path) or _subscription_of(p["scope"])
           or ctx.emu.subscription_id)
    p["roleDefinitionId"] = f"/subscriptions/{sub}{_RD}{guid}"
    if creating:
        p["createdBy"] = None
    if not api_since(ctx.api_version, "2020-04-01-preview"):
        for key in _SINCE_2020:
            p.pop(key, None)
    return out


def _scope_of(segs: list[str]) -> str:
    return "/" + "/".join(segs)


def _role_def_view(rd: dict[str, Any], scope: str) -> dict[str, Any]:
    segs = segments(scope)
    out = dict(rd)
    if len(segs) >= 2 and segs[0].lower() == "subscriptions":
        out["id"] = f"/subscriptions/{segs[1].lower()}{_RD}{rd['name']}"
    return out


def _find_role(ctx: Ctx, role_definition_id: str) -> dict[str, Any]:
    guid = str(role_definition_id).rstrip("/").rsplit("/", 1)[-1]
    if _RD.lower() not in str(role_definition_id).lower() and not is_guid(str(role_definition_id)):
        raise ArmError(400, "InvalidRoleDefinitionId",
                       f"The role definition ID '{role_definition_id}' is not valid.")
    rd = ctx.store.role_definitions.get(guid.lower())
    if rd is None:
        raise ArmError(400, "RoleDefinitionDoesNotExist",
                       f"The specified role definition with ID '{guid.replace('-', '')}' does "
                       "not exist.")
    return rd


def _parse_filter(text: str) -> tuple[bool, str | None]:
    """(atScope, principalId) from ``$filter``; 400 for anything else."""
    at_scope, principal = False, None
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        part = part.strip()
        if not part:
            continue
        if re.fullmatch(r"atScope\(\)", part, flags=re.I):
            at_scope = True
            continue
        m = re.fullmatch(r"(?:principalId\s+eq\s+'?|assignedTo\(')([0-9a-fA-F-]{32,36})'?\)?",
                         part, flags=re.I)
        if m:
            principal = m.group(1).lower()
            continue
        raise ArmError(400, "InvalidFilter", f"The filter '{text}' is not supported.")
    return at_scope, principal


def _list_assignments(ctx: Ctx, scope: str) -> Reply:
    ctx.store.require_scope(scope)
    at_scope, principal = _parse_filter(ctx.query.get("$filter", ""))
    items = []
    for ra in ctx.store.role_assignments.values():
        ra_scope = ra["properties"]["scope"]
        above = scope_contains(ra_scope, scope)
        below = scope_contains(scope, ra_scope)
        if at_scope and not above:
            continue
        if not (above or below):
            continue
        if principal and ra["properties"]["principalId"].lower() != principal:
            continue
        items.append(ra)
    return ctx.page(items, lambda ra: _ra_view(ctx, ra))


def _put_assignment(ctx: Ctx, scope: str, name: str) -> Reply:
    store = ctx.store
    if not is_guid(name):
        raise ArmError(400, "InvalidRoleAssignmentId",
                       f"The role assignment ID '{name}' is not valid. The role assignment ID "
                       "must be a GUID.")
    store.require_scope(scope)
    body = ctx.json_object()
    props = body.get("properties")
    if not isinstance(props, dict) or not props.get("roleDefinitionId") or not props.get(
        "principalId"
    ):
        raise ArmError(400, "InvalidRequestContent",
                       "properties.roleDefinitionId and properties.principalId are required.")
    rd = _find_role(ctx, props["roleDefinitionId"])
    if not any(scope_contains(s, scope) for s in rd["properties"]["assignableScopes"]):
        raise ArmError(400, "RoleAssignmentScopeNotAssignableToRoleDefinition",
                       f"The role {rd['properties']['roleName']} is not available for assignment "
                       f"at the requested scope '{scope}'.")
    principal_id = str(props["principalId"]).lower()
    if not is_guid(principal_id):
        raise ArmError(400, "InvalidPrincipalId", "The principal ID is not a valid GUID.")
    description = props.get("description")
    if description is not None and len(str(description)) > MAX_DESCRIPTION:
        raise ArmError(400, "RoleAssignmentDescriptionTooLong",
                       f"The description exceeds the limit of {MAX_DESCRIPTION} characters.")
    condition = props.get("condition")
    if condition:  # one it cannot evaluate is refused, never stored unenforced (abac.py)
        props["conditionVersion"] = props.get("conditionVersion") or abac.SUPPORTED_VERSION
        try:
            abac.check(str(condition), str(props["conditionVersion"]))
        except abac.ConditionError as exc:
            raise ArmError(400, "InvalidCondition",
                           f"The given role assignment condition is invalid. {exc}.") from None
    given_type = props.get("principalType")
    if given_type is not None and given_type not in PRINCIPAL_TYPES:
        raise ArmError(400, "InvalidPrincipalType",
                       f"The principal type '{given_type}' is not valid.")
    p = store.principal(principal_id)
    young = p is not None and time.time() - p.created < ctx.emu.principal_delay_s
    if given_type is None and (p is None or young):
        raise ArmError(
            400, "PrincipalNotFound",
            f"Principal {principal_id.replace('-', '')} does not exist in the directory "
            f"{store.tenant_id}. Check that you have the correct principal ID. If you are creating "
            "this principal and then immediately assigning a role, this error might be related to "
            "a replication delay. In this case, set the role assignment principalType property to "
            "a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
        )
    if given_type is not None and p is not None and p.type != given_type:
        raise ArmError(
            400, "UnmatchedPrincipalType",
            f"The PrincipalId '{principal_id.replace('-', '')}' has type '{p.type}' , which is "
            f"different from specified PrincipalType '{given_type}'.",
        )
    ptype = given_type or (p.type if p else "User")
    scope_key = norm(scope)
    key = norm(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
    role_guid = rd["name"].lower()
    same = store.role_assignments.get(key)
    for other in store.role_assignments.for_principal(principal_id):  # indexed: no scan
        op = other["properties"]
        if (
            other is not same
            and norm(op["scope"]) == scope_key
            and op["roleDefinitionId"].rsplit("/", 1)[-1].lower() == role_guid
        ):
            raise ArmError(409, "RoleAssignmentExists",
                           "The role assignment already exists. The ID of the existing role "
                           f"assignment is {other['name'].replace('-', '')}.")
    existing = store.role_assignments.get(key)
    if existing is not None:
        ep = existing["properties"]
        if (
            ep["principalId"].lower() != principal_id
            or ep["roleDefinitionId"].rsplit("/", 1)[-1].lower() != role_guid
            or (given_type is not None and ep["principalType"] != given_type)
        ):
            raise ArmError(409, "RoleAssignmentUpdateNotPermitted",
                           "Tenant ID, application ID, principal ID, and scope are not allowed "
                           "to be updated.")
        changed = any(ep.get(k) != props.get(k) for k in ("description", "condition"))
        if not changed:
            return Reply(200, _ra_view(ctx, existing))
        for k in ("description", "condition", "conditionVersion"):
            ep[k] = props.get(k)
        ep["updatedOn"] = utc_now()
        ep["updatedBy"] = ctx.caller_oid
        ctx.event("Microsoft.Authorization/roleAssignments/write", ctx.path)
        return Reply(200, _ra_view(ctx, existing))
    now = utc_now()
    sub = _subscription_of(scope) or _subscription_of(str(props["roleDefinitionId"])) \
        or ctx.emu.subscription_id
    stored = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub}{_RD}{rd['name']}",
            "principalId": principal_id,
            "principalType": ptype,
            "scope": scope,
            "condition": props.get("condition"),
            "conditionVersion": props.get("conditionVersion"),
            "createdOn": now,
            "updatedOn": now,
            "createdBy": ctx.caller_oid,
            "updatedBy": ctx.caller_oid,
            "delegatedManagedIdentityResourceId": None,
            "description": description,
        },
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/"
              f"{name.lower()}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name.lower(),
    }
    store.role_assignments[key] = stored
    ctx.event("Microsoft.Authorization/roleAssignments/write", ctx.path)
    return Reply(201, _ra_view(ctx, stored, creating=True))


def _assignment(ctx: Ctx, scope: str, name: str) -> Reply:
    store = ctx.store
    key = norm(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
    if ctx.method == "PUT":
        return _put_assignment(ctx, scope, name)
    current = store.role_assignments.get(key)
    if ctx.method == "GET":
        if current is None:
            raise ArmError(404, "RoleAssignmentNotFound",
                           f"The role assignment '{name}' is not found.")
        return Reply(200, _ra_view(ctx, current))
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        del store.role_assignments[key]
        ctx.event("Microsoft.Authorization/roleAssignments/delete", ctx.path, "delete")
        return Reply(200, _ra_view(ctx, current))
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")


def _list_definitions(ctx: Ctx, scope: str) -> Reply:
    """``$filter``: ``roleName eq '...'``, ``type eq '...'`` or ``atScopeAndBelow()``."""
    text = ctx.query.get("$filter", "").strip()
    want_name = want_type = None
    below = False
    if re.fullmatch(r"atScopeAndBelow\(\)", text, flags=re.I):
        below, text = True, ""
    if text:
        m = re.fullmatch(r"(roleName|type)\s+eq\s+'(.*)'", text, flags=re.I | re.S)
        if not m:
            raise ArmError(400, "InvalidFilter", f"The filter '{text}' is not supported.")
        if m.group(1).lower() == "rolename":
            want_name = m.group(2).replace("''", "'").lower()
        else:
            want_type = m.group(2).lower()
    items = []
    for rd in ctx.store.role_definitions.values():
        p = rd["properties"]
        if want_name is not None and p["roleName"].lower() != want_name:
            continue
        if want_type is not None and p["type"].lower() != want_type:
            continue
        if segments(scope) and not any(
            scope_contains(s, scope) or (below and scope_contains(scope, s))
            for s in p["assignableScopes"]
        ):
            continue
        items.append(_role_def_view(rd, scope))
    return ctx.page(items)


def _definition(ctx: Ctx, scope: str, guid: str) -> Reply:
    store = ctx.store
    current = store.role_definitions.get(guid.lower())
    if ctx.method == "GET":
        if current is None:
            raise ArmError(404, "RoleDefinitionDoesNotExist",
                           f"The specified role definition with ID '{guid}' does not exist.")
        return Reply(200, _role_def_view(current, scope))
    if ctx.method == "PUT":
        if not is_guid(guid):
            raise ArmError(400, "InvalidRoleDefinitionId",
                           f"The role definition ID '{guid}' is not a GUID.")
        if current is not None and current["properties"]["type"] == "BuiltInRole":
            raise ArmError(403, "RoleDefinitionUpdateNotPermitted",
                           "Built-in role definitions cannot be changed.")
        props = ctx.json_object().get("properties")
        if not isinstance(props, dict) or not props.get("roleName"):
            raise ArmError(400, "InvalidRequestContent", "properties.roleName is required.")
        scopes = props.get("assignableScopes")
        if not isinstance(scopes, list) or not scopes:
            raise ArmError(400, "AssignableScopesRequired",
                           "The role definition must have at least one assignable scope.")
        for s in scopes:
            store.require_scope(str(s))
        for other in store.role_definitions.values():
            if (other["name"] != guid.lower()
                    and other["properties"]["roleName"].lower() == props["roleName"].lower()):
                raise ArmError(409, "RoleDefinitionWithSameNameExists",
                               "A role definition cannot be updated with a name that already "
                               "exists.")
        now = utc_now()
        stored = {
            "id": f"{_RD}{guid.lower()}",
            "type": "Microsoft.Authorization/roleDefinitions",
            "name": guid.lower(),
            "properties": {
                "roleName": props["roleName"],
                "type": "CustomRole",
                "description": props.get("description", ""),
                "assignableScopes": list(scopes),
                "permissions": props.get("permissions") or [],
                "createdOn": current["properties"]["createdOn"] if current else now,
                "updatedOn": now,
                "createdBy": ctx.caller_oid,
                "updatedBy": ctx.caller_oid,
            },
        }
        store.role_definitions[guid.lower()] = stored
        ctx.event("Microsoft.Authorization/roleDefinitions/write", ctx.path)
        return Reply(201, _role_def_view(stored, scope))  # also an update: 201 (spec)
    if ctx.method == "DELETE":
        if current is None:
            return Reply(204)
        if current["properties"]["type"] == "BuiltInRole":
            raise ArmError(403, "RoleDefinitionDeleteNotPermitted",
                           "Built-in role definitions cannot be deleted.")
        if any(ra["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower() == guid.lower()
               for ra in store.role_assignments.values()):
            # Azure's words (docs: "Find role assignments to delete a custom role")
            raise ArmError(409, "RoleDefinitionHasAssignments",
                           "There are existing role assignments referencing role")
        del store.role_definitions[guid.lower()]
        ctx.event("Microsoft.Authorization/roleDefinitions/delete", ctx.path, "delete")
        return Reply(200, _role_def_view(current, scope))
    raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")


def handle_authorization(ctx: Ctx, scope_segs: list[str], rest: list[str]) -> Reply:
    """``{scope}/providers/Microsoft.Authorization/<rest>``."""
    scope = _scope_of(scope_segs)
    low = [s.lower() for s in rest]
    if low == ["roleassignments"] and ctx.method == "GET":
        return _list_assignments(ctx, scope)
    if len(low) == 2 and low[0] == "roleassignments":
        return _assignment(ctx, scope, rest[1])
    if low == ["roledefinitions"] and ctx.method == "GET":
        return _list_definitions(ctx, scope)
    if len(low) == 2 and low[0] == "roledefinitions":
        return _definition(ctx, scope, rest[1])
    raise ArmError(404, "NotFound", f"No route for '{ctx.method} {ctx.path}'.")
