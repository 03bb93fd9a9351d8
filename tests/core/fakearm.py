"""An in-memory ARM that the core's unit tests own (handlers.armapi.ArmApi, no HTTP).

It answers the calls the service makes the way the emulator (and Azure) does:

* a workload read answers 404 (None) once it is gone; a PATCH is a JSON merge
  patch of its tags and identity map (an identity sent as null is detached; only
  one being attached meets the linked check), keeps the system principal while the
  system identity stays on, makes a new one when it is switched on again, and
  answers 202 with no body (``patch_answers_body`` switches to 200 + body);
* role definitions are Azure's built-in catalogue (handlers/data) plus custom
  ones, looked up by name (any case), GUID or id; an assignment PUT of the
  same grant under another name is 409 ``RoleAssignmentExists`` (False, as
  handlers.azure answers it), at a scope that does not exist 404, for the
  same name again 200; a DELETE of an assignment already gone succeeds;
  ``unlisted`` assignments exist but listings do not show them yet;
* a user-assigned identity in a resource group that does not exist cannot be
  created (404); attaching one the service may not assign is 403
  ``LinkedAuthorizationFailed`` naming it.

Every call is recorded (``calls``; ``count()``), with ``writes`` as the
contract counts them, and any call can be made to fail (``fail``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.errors import ArmError, Permanent, Transient
from handlers.ids import ArmId, WorkloadType, is_guid
from handlers.model import Assignment, description_for

SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
OTHER_SUB = "0b0b0b0b-1111-2222-3333-444444444444"
SERVICE_OID = "5e1f0000-0000-0000-0000-00000000aaaa"
SERVICE_APPID = "5e1f0000-0000-0000-0000-00000000bbbb"
PERSON_OID = "a11ce000-0000-0000-0000-000000000001"
ROLES = json.loads((Path(__file__).resolve().parents[2] / "handlers" / "data" /
                    "builtin-roles.json").read_text(encoding="utf-8"))
WRITES = frozenset({"patch_app", "create_identity", "create_assignment", "delete_assignment"})


@dataclass
class Fault:
    method: str
    error: ArmError
    count: int
    when: Callable[[tuple[Any, ...]], bool] | None = None


class FakeArm:
    """In-memory ARM for the calls aca-warden makes."""

    def __init__(self, *, subscriptions: tuple[str, ...] = (SUB,),
                 patch_answers_body: bool = False) -> None:
        self.subscriptions = list(subscriptions)
        self.patch_answers_body = patch_answers_body
        self.apps: dict[ArmId, dict[str, Any]] = {}
        self.identities: dict[ArmId, dict[str, Any]] = {}
        self.scopes: set[ArmId] = {ArmId.parse(f"/subscriptions/{s}") for s in subscriptions}
        self.roles: list[dict[str, Any]] = copy.deepcopy(ROLES)
        self.assignments: dict[str, Assignment] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.faults: list[Fault] = []
        self.denied_identities: set[ArmId] = set()
        self.unlisted: set[str] = set()  # assignment ids listings do not show yet (lag)
        self.pause: asyncio.Event | None = None  # set: calls wait until it is set
        self.in_flight = 0
        self.peak_in_flight = 0
        self.closed = False

    # -- seeding (no calls recorded) ------------------------------------------------------
    def rg(self, name: str = "rg1", sub: str = SUB) -> str:
        rg = ArmId.parse(f"/subscriptions/{sub}/resourceGroups/{name}")
        self.scopes.add(rg)
        return str(rg)

    def resource(self, rid: str) -> str:
        self.scopes.add(ArmId.parse(rid))
        return rid

    def app(self, name: str, tags: dict[str, str] | None = None, *, rg: str = "rg1",
            system: bool = False, user: tuple[str, ...] = (), sub: str = SUB,
            kind: str = "Microsoft.App/containerApps", location: str = "eastus") -> str:
        """Create (or replace) a workload as a person would; its id."""
        self.rg(rg, sub)
        app = ArmId.parse(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{kind}/{name}")
        identity: dict[str, Any] = {"type": "None"}
        if system or user:
            identity = _identity(system, user, None)
        self.apps[app] = {"id": str(app), "name": name, "type": kind, "location": location,
                          "tags": dict(tags or {}), "identity": identity, "properties": {}}
        self.scopes.add(app)
        return str(app)

    def identity(self, name: str, rg: str = "rg1", sub: str = SUB) -> str:
        self.rg(rg, sub)
        rid = ArmId.parse(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                          f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}")
        self.identities[rid] = {"id": str(rid), "principalId": str(uuid.uuid4()),
                                "clientId": str(uuid.uuid4())}
        self.scopes.add(rid)
        return str(rid)

    def set_tags(self, app: str, tags: dict[str, str]) -> None:
        self.apps[ArmId.parse(app)]["tags"] = dict(tags)

    def set_identity(self, app: str, *, system: bool, user: tuple[str, ...] = ()) -> None:
        body = self.apps[ArmId.parse(app)]
        body["identity"] = _identity(system, user, body["identity"])

    def delete(self, app: str) -> None:
        self.apps.pop(ArmId.parse(app), None)

    def principal(self, app: str) -> str | None:
        body = self.apps.get(ArmId.parse(app)) or {}
        found = (body.get("identity") or {}).get("principalId")
        return str(found) if found else None

    def custom_role(self, name: str, actions: list[str], not_actions: list[str] | None = None,
                    guid: str | None = None) -> str:
        guid = guid or str(uuid.uuid4())
        self.roles.append({
            "id": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "name": guid, "roleName": name, "roleType": "CustomRole",
            "permissions": [{"actions": actions, "notActions": not_actions or [],
                             "dataActions": [], "notDataActions": []}]})
        return guid

    def role_guid(self, name: str) -> str:
        return next(r["name"] for r in self.roles if r["roleName"].lower() == name.lower())

    def hand_assign(self, scope: str, role: str, principal: str,
                    description: str | None = None, name: str | None = None) -> Assignment:
        """A role assignment a person made (or anything with the given description)."""
        name = name or str(uuid.uuid4())
        a = Assignment(id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                       name=name, scope=scope, role_definition_id=_role_id(
                           ArmId.parse(scope).subscription, self.role_guid(role)),
                       principal_id=principal.lower(), description=description)
        self.assignments[a.id.lower()] = a
        return a

    def ours(self, app: str) -> list[Assignment]:
        """The assignments whose description says aca-warden made them for ``app``."""
        want = description_for(ArmId.parse(app)).lower()
        return [a for a in self.assignments.values() if (a.description or "").lower() == want]

    def grants(self, app: str) -> set[tuple[str, str, str]]:
        """(role name, scope, principal) of aca-warden's assignments for ``app``."""
        names = {r["name"]: r["roleName"] for r in self.roles}
        return {(names[a.role_guid], a.scope, a.principal_id) for a in self.ours(app)}

    # -- faults and counting ---------------------------------------------------------------
    def fail(self, method: str, error: ArmError, count: int = 1,
             when: Callable[[tuple[Any, ...]], bool] | None = None) -> None:
        self.faults.append(Fault(method, error, count, when))

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.calls if method is None or m == method)

    @property
    def writes(self) -> int:
        return sum(1 for m, _ in self.calls if m in WRITES)

    @property
    def requests(self) -> int:
        """ARM requests as the contract counts them (own_identity is a token, not one)."""
        return sum(1 for m, _ in self.calls if m not in ("own_identity", "close"))

    def clear(self) -> None:
        self.calls.clear()

    async def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        if method == "own_identity":  # the token's claims: not an ARM request
            await self._faults(method, args)
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if self.pause is not None:
                await self.pause.wait()
        finally:
            self.in_flight -= 1
        await self._faults(method, args)

    async def _faults(self, method: str, args: tuple[Any, ...]) -> None:
        for f in self.faults:
            if f.method == method and f.count > 0 and (f.when is None or f.when(args)):
                f.count -= 1
                raise f.error

    # -- ArmApi ------------------------------------------------------------------------------
    async def own_identity(self) -> tuple[str | None, str | None]:
        await self._call("own_identity")
        return SERVICE_OID, SERVICE_APPID

    async def get_app(self, app: ArmId) -> dict[str, Any] | None:
        await self._call("get_app", app)
        body = self.apps.get(app)
        return copy.deepcopy(body) if body is not None else None

    async def patch_app(self, app: ArmId, body: dict[str, Any]) -> dict[str, Any] | None:
        await self._call("patch_app", app, copy.deepcopy(body))
        current = self.apps.get(app)
        if current is None:
            raise Permanent(f"patching {app}: 404 ResourceNotFound", status=404,
                            code="ResourceNotFound")
        tags = body.get("tags")
        if isinstance(tags, dict):  # a JSON merge patch: null removes a tag
            merged = dict(current.get("tags") or {})
            for k, v in tags.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            current["tags"] = merged
        ident = body.get("identity")
        if ident is not None:
            kind = ident.get("type", "None").replace(" ", "").lower()
            had = {ArmId.parse(k): k for k in
                   (current["identity"].get("userAssignedIdentities") or {})}
            wanted = dict(had)  # merged: kept unless sent as null
            for u, value in (ident.get("userAssignedIdentities") or {}).items():
                uid = ArmId.parse(u)
                if value is None:
                    wanted.pop(uid, None)
                    continue
                wanted[uid] = u
                if uid in had:
                    continue  # ARM's linked check is for identities being attached
                if uid in self.denied_identities:
                    raise Permanent(
                        f"patching {app}: 403 LinkedAuthorizationFailed The client has "
                        f"permission to perform action 'Microsoft.App/containerApps/write' on "
                        f"scope '{app}'; however, it does not have permission to perform "
                        "action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/"
                        f"action' on the linked scope(s) '{u}'", status=403,
                        code="LinkedAuthorizationFailed")
                if uid not in self.identities:
                    raise Permanent(f"patching {app}: 400 the identity {u} does not exist",
                                    status=400, code="InvalidUserAssignedIdentity")
            user = tuple(wanted.values()) if "userassigned" in kind else ()
            current["identity"] = _identity("systemassigned" in kind, user, current["identity"])
        return copy.deepcopy(current) if self.patch_answers_body else None

    async def list_apps(self, subscription: str, wtype: WorkloadType) -> list[dict[str, Any]]:
        await self._call("list_apps", subscription, wtype)
        return [copy.deepcopy(b) for a, b in self.apps.items()
                if a.subscription == subscription.lower() and a.workload_type == wtype]

    async def list_subscriptions(self) -> list[str]:
        await self._call("list_subscriptions")
        return list(self.subscriptions)

    async def get_identity(self, identity: ArmId) -> dict[str, Any] | None:
        await self._call("get_identity", identity)
        found = self.identities.get(identity)
        return dict(found) if found else None

    async def create_identity(self, identity: ArmId, location: str) -> dict[str, Any]:
        await self._call("create_identity", identity, location)
        group = identity.parent
        if group is None or group not in self.scopes:
            raise Permanent(f"creating identity {identity}: 404 ResourceGroupNotFound",
                            status=404, code="ResourceGroupNotFound")
        if identity not in self.identities:
            self.identities[identity] = {"id": str(identity), "principalId": str(uuid.uuid4()),
                                         "clientId": str(uuid.uuid4())}
            self.scopes.add(identity)
        return dict(self.identities[identity])

    async def find_role(self, subscription: str, role: str) -> dict[str, Any] | None:
        await self._call("find_role", subscription, role)
        wanted = role.lower()
        if wanted.startswith("/"):
            parsed = ArmId.try_parse(role)
            wanted = (parsed.name or "").lower() if parsed else ""
        for r in self.roles:
            if wanted in (r["name"].lower(), r["roleName"].lower()) and (
                    is_guid(wanted) or not role.startswith("/")):
                out = copy.deepcopy(r)
                out["id"] = _role_id(subscription, r["name"])
                return out
        return None

    async def list_assignments(self, scope: str, filter: str | None = None
                               ) -> list[Assignment]:
        await self._call("list_assignments", scope, filter)
        at = ArmId.parse(scope)
        if at not in self.scopes:
            raise Permanent(f"listing role assignments at {scope}: 404 SubscriptionNotFound",
                            status=404, code="SubscriptionNotFound")
        out = [a for a in self.assignments.values() if at.contains(ArmId.parse(a.scope))
               and a.id.lower() not in self.unlisted]
        if filter and filter.startswith("principalId eq "):
            principal = filter.split("'")[1].lower()
            out = [a for a in out if a.principal_id == principal]
        return out

    async def scope_exists(self, scope: str) -> bool:
        await self._call("scope_exists", scope)
        return ArmId.parse(scope) in self.scopes

    async def create_assignment(self, scope: str, name: str, role_definition_id: str,
                                principal_id: str, description: str) -> bool:
        await self._call("create_assignment", scope, name, role_definition_id, principal_id,
                         description)
        at = ArmId.parse(scope)
        if at not in self.scopes:
            raise Permanent(f"granting at {scope}: 404 ResourceNotFound", status=404,
                            code="ResourceNotFound")
        guid = (ArmId.parse(role_definition_id).name or "").lower()
        aid = f"{at}/providers/Microsoft.Authorization/roleAssignments/{name}"
        for a in self.assignments.values():
            if (a.principal_id == principal_id.lower() and a.role_guid == guid
                    and ArmId.parse(a.scope) == at and a.name.lower() != name.lower()):
                return False  # 409 RoleAssignmentExists, as handlers.azure maps it
        self.assignments[aid.lower()] = Assignment(
            id=aid, name=name, scope=str(at), role_definition_id=_role_id(at.subscription, guid),
            principal_id=principal_id.lower(), description=description)
        return True

    async def delete_assignment(self, assignment: Assignment) -> None:
        await self._call("delete_assignment", assignment)
        self.assignments.pop(assignment.id.lower(), None)

    async def close(self) -> None:
        self.closed = True


def _role_id(subscription: str | None, guid: str) -> str:
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _identity(system: bool, user: tuple[str, ...], previous: dict[str, Any] | None
              ) -> dict[str, Any]:
    """An identity block as ARM answers it (``"SystemAssigned, UserAssigned"``)."""
    had = previous or {}
    kinds = [k for k, on in (("SystemAssigned", system), ("UserAssigned", bool(user))) if on]
    out: dict[str, Any] = {"type": ", ".join(kinds) or "None"}
    if system:
        keep = "systemassigned" in str(had.get("type", "")).replace(" ", "").lower()
        out["principalId"] = had.get("principalId") if keep and had.get("principalId") \
            else str(uuid.uuid4())
        out["tenantId"] = "7e570000-0000-0000-0000-000000000000"
    if user:
        out["userAssignedIdentities"] = {
            str(ArmId.parse(u)).replace("/resourceGroups/", "/resourcegroups/"): {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, u.lower())),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, u.lower()))} for u in user}
    return out


def transient(what: str = "ARM") -> Transient:
    return Transient(f"{what}: 503 ServiceUnavailable", status=503, code="ServiceUnavailable")


def permanent(status: int = 403, code: str = "AuthorizationFailed", what: str = "ARM"
              ) -> Permanent:
    return Permanent(f"{what}: {status} {code}", status=status, code=code)
