"""The service's roles as the deployment template gives them, from ``infra/roles.json``.

``infra/main.bicep`` and ``infra/modules/access.bicep`` read the same file
(``loadJsonContent``), so what the emulator installs here is what Azure would
hold after ``azd provision``: on every watched subscription

* the custom role (``customRole.actions``), defined once, assignable there;
* Role Based Access Control Administrator under the condition built by
  :func:`build_condition` from the grantable roles;
* Managed Identity Contributor, only with ``create_missing_identities``.

Nothing else grants the service's identity anything. :class:`Deployment` holds
the template's parameters (and, for tests, actions to leave out of the custom
role so that each can be shown to be needed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .ids import is_guid, norm
from .rbac import permits
from .state import Store, utc_now

__all__ = [
    "FLOOR_ACTIONS",
    "ROLES_FILE",
    "Deployment",
    "build_condition",
    "install",
    "load_roles",
    "role_ids",
    "uninstall",
]

ROLES_FILE = Path(__file__).resolve().parent.parent / "infra" / "roles.json"
# The privilege floor of the contract: a role allowing any of these can grant access.
FLOOR_ACTIONS = (
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
    "Microsoft.Authorization/elevateAccess/action",
)
NO_ROLE = "00000000-0000-0000-0000-000000000000"  # what a list of no grantable role allows
_NS = uuid.UUID("3b0e2f55-6c3e-4f0a-9a51-5f1f3c7d2a10")
_RD = "/providers/Microsoft.Authorization/roleDefinitions/"


@lru_cache(maxsize=1)
def load_roles() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class Deployment:
    """The template's parameters (``infra/main.bicep``), plus test knobs.

    ``grantable_roles``: the policy's ``grants.allowed_roles`` (role names, GUIDs or
    role-definition ids; ``"*"``: any role outside the never-delegable list);
    ``create_missing_identities``: also Managed Identity Contributor;
    ``subscriptions``: the watched ones, ``None`` for every subscription of the
    emulator (those added later included); ``omit_actions``: custom role actions to
    leave out (to show that each one is needed).
    """

    grantable_roles: tuple[str, ...] = ("*",)
    create_missing_identities: bool = False
    subscriptions: tuple[str, ...] | None = None
    omit_actions: tuple[str, ...] = ()
    custom_role_id: str = field(default_factory=lambda: str(uuid.uuid5(_NS, "custom-role")))

    def custom_actions(self) -> list[str]:
        omit = {a.lower() for a in self.omit_actions}
        actions: list[str] = load_roles()["customRole"]["actions"]
        unknown = omit - {a.lower() for a in actions}
        if unknown:
            raise ValueError(f"not an action of the custom role: {sorted(unknown)}")
        return [a for a in actions if a.lower() not in omit]


def role_ids(roles: Iterable[str], definitions: Mapping[str, dict[str, Any]]) -> list[str] | None:
    """Role-definition GUIDs of ``roles`` (names, GUIDs or ids); ``None`` for ``"*"``.

    A role that can grant access is left out: the condition never delegates it (in the
    Bicep, ``GuidNotEquals`` on the never-delegable list has the same effect). Raises
    ValueError for a role name that is unknown."""
    wanted = [r.strip() for r in roles]
    if "*" in wanted:
        return None
    by_name = {d["properties"]["roleName"].lower(): g for g, d in definitions.items()}
    never = {g.lower() for g in load_roles()["grantor"]["neverDelegable"]}
    out: list[str] = []
    for role in wanted:
        guid = role.rstrip("/").rsplit("/", 1)[-1].lower()
        if not is_guid(guid):
            found = by_name.get(role.lower())
            if found is None:
                raise ValueError(f"unknown role {role!r}: name a built-in role or give its GUID")
            guid = found
        definition = definitions.get(guid)
        if guid in never or (definition is not None and any(
                permits(definition["properties"].get("permissions") or [], a)
                for a in FLOOR_ACTIONS)):
            continue
        if guid not in out:
            out.append(guid)
    return out


def build_condition(grantable_ids: Sequence[str] | None) -> str:
    """The grantor's ABAC condition: the template of ``infra/roles.json`` filled in the way
    ``infra/modules/access.bicep`` fills it (``None``: any role not never-delegable).

    Writes are limited to the grantable roles; deletes only to roles that are not
    never-delegable, so that a tightened policy can still revoke what it granted."""
    grantor: dict[str, Any] = load_roles()["grantor"]
    allowed: str = "" if grantable_ids is None else grantor["allowedRolesClause"].replace(
        "$roles", ", ".join(grantable_ids or [NO_ROLE]))
    template: str = grantor["condition"]
    return (template
            .replace("$neverDelegable", ", ".join(grantor["neverDelegable"]))
            .replace("$principalTypes", grantor["principalTypes"])
            .replace("$allowedRequest", allowed))


def _assignment(scope: str, role_guid: str, principal: str, description: str,
                condition: str | None = None) -> dict[str, Any]:
    name = str(uuid.uuid5(_NS, f"{scope.lower()}|{principal}|{role_guid}"))
    now = utc_now()
    return {
        "properties": {
            "roleDefinitionId": f"{_RD}{role_guid}", "principalId": principal,
            "principalType": "ServicePrincipal", "scope": scope,
            "condition": condition, "conditionVersion": "2.0" if condition else None,
            "createdOn": now, "updatedOn": now, "createdBy": None, "updatedBy": None,
            "delegatedManagedIdentityResourceId": None, "description": description,
        },
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name,
    }


def _custom_role(d: Deployment, scopes: list[str]) -> dict[str, Any]:
    data = load_roles()["customRole"]
    now = utc_now()
    return {
        "id": f"{_RD}{d.custom_role_id}",
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": d.custom_role_id,
        "properties": {
            "roleName": data["roleName"], "type": "CustomRole",
            "description": data["description"], "assignableScopes": scopes,
            "permissions": [{"actions": d.custom_actions(),
                             "notActions": list(data["notActions"]),
                             "dataActions": [], "notDataActions": []}],
            "createdOn": now, "updatedOn": now, "createdBy": None, "updatedBy": None,
        },
    }


def install(store: Store, principal: str, d: Deployment,
            subscriptions: Iterable[str]) -> list[str]:
    """Give ``principal`` the template's roles on ``subscriptions``; the assignments' keys."""
    data = load_roles()
    ids = role_ids(d.grantable_roles, store.role_definitions)
    condition = build_condition(ids)
    subs = [s.lower() for s in subscriptions]
    rd = store.role_definitions.get(d.custom_role_id)
    scopes = list(rd["properties"]["assignableScopes"]) if rd else []
    scopes += [f"/subscriptions/{s}" for s in subs if f"/subscriptions/{s}" not in scopes]
    store.role_definitions[d.custom_role_id] = _custom_role(d, scopes)
    grantor, creator = data["grantor"], data["identityCreator"]
    keys: list[str] = []
    for sub in subs:
        scope = f"/subscriptions/{sub}"
        wanted = [
            _assignment(scope, d.custom_role_id, principal,
                        "aca-warden: attach identities to container apps and jobs"),
            _assignment(scope, grantor["id"], principal, grantor["description"], condition),
        ]
        if d.create_missing_identities:
            wanted.append(_assignment(scope, creator["id"], principal, creator["description"]))
        for ra in wanted:
            keys.append(norm(ra["id"]))
            store.role_assignments[keys[-1]] = ra
    return keys


def uninstall(store: Store, principal: str, d: Deployment) -> None:
    """Remove what :func:`install` gave (the custom role and the principal's assignments
    of the template's roles)."""
    data = load_roles()
    roles = {d.custom_role_id, data["grantor"]["id"], data["identityCreator"]["id"]}
    for key, ra in list(store.role_assignments.items()):
        p = ra["properties"]
        if (p["principalId"] == principal
                and p["roleDefinitionId"].rsplit("/", 1)[-1].lower() in roles):
            del store.role_assignments[key]
    store.role_definitions.pop(d.custom_role_id, None)
