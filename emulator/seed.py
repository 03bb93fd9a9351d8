"""Seeding (state without events or log entries) and inspection of the emulator."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any, cast

from .catalog import location_display_name
from .environments import ENV_TYPE, new_environment_properties
from .identity import BOTH, IDENTITY_TYPES
from .ids import mixed_case_id, norm, parse_resource_id, segments
from .revisions import record_revision
from .state import Principal, Store, utc_now
from .views import view
from .workloads import APP, JOB, Kind, seeded_record

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["SeedMixin"]

_OLD = 86400.0  # seeded principals are a day old: past any replication delay


def _stamp() -> dict[str, Any]:
    now = utc_now()
    return {"createdBy": "seed", "createdByType": "Application", "createdAt": now,
            "lastModifiedBy": "seed", "lastModifiedByType": "Application",
            "lastModifiedAt": now}


class SeedMixin:
    if TYPE_CHECKING:
        store: Store
        deployment_keys: set[str]
        subscription_id: str
        tenant_id: str

    def _ref(self, resource_id: str, rtype: str) -> Any:
        ref = parse_resource_id(resource_id)
        if ref is None or ref.type.lower() != rtype.lower():
            raise ValueError(f"not a {rtype} id: {resource_id}")
        self.seed_resource_group(ref.resource_group, subscription=ref.subscription)
        return ref

    def seed_subscription(self, subscription: str, display_name: str | None = None) -> str:
        self.store.add_subscription(subscription, display_name)
        return f"/subscriptions/{subscription.lower()}"

    def seed_resource_group(self, name: str, location: str = "eastus",
                            subscription: str | None = None) -> str:
        sub = (subscription or self.subscription_id).lower()
        self.store.add_subscription(sub)
        key = norm(f"/subscriptions/{sub}/resourceGroups/{name}")
        if key not in self.store.groups:
            self.store.put_group(sub, name, location, {})
        return str(self.store.groups[key]["id"])

    def seed_resource(self, resource_id: str,
                      body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A plain stored resource (storage account, key vault, ...) that can be a scope."""
        ref = parse_resource_id(resource_id)
        if ref is None:
            raise ValueError(f"not a resource id: {resource_id}")
        self.seed_resource_group(ref.resource_group, subscription=ref.subscription)
        stored = copy.deepcopy(body or {})
        stored.update(id=ref.id, name=ref.name, type=ref.type)
        stored.setdefault("location", "eastus")
        stored.setdefault("tags", {})
        stored.setdefault("properties", {})
        self.store.resources[norm(ref.id)] = stored
        return copy.deepcopy(stored)

    def seed_identity(self, resource_id: str, location: str = "eastus") -> dict[str, Any]:
        ref = self._ref(resource_id, "Microsoft.ManagedIdentity/userAssignedIdentities")
        existing = self.store.resources.get(norm(ref.id))
        if existing is not None:
            return copy.deepcopy(existing)
        oid, client = str(uuid.uuid4()), str(uuid.uuid4())
        self.store.add_principal(oid, "ServicePrincipal", name=ref.name, app_id=client,
                                 kind="user-assigned", age_s=_OLD)
        stored = {
            "id": mixed_case_id(ref.id),
            "location": location,
            "name": ref.name,
            "properties": {"clientId": client, "principalId": oid,
                           "tenantId": self.tenant_id, "isolationScope": "None",
                           "assignmentRestrictions": {"providers": []}},
            "tags": {},
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        }
        self.store.resources[norm(ref.id)] = stored
        return copy.deepcopy(stored)

    def seed_environment(self, resource_id: str, location: str = "eastus",
                         workload_profiles: bool = True,
                         properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """A managed environment that finished provisioning long ago (``properties``: as a
        PUT would give them)."""
        ref = self._ref(resource_id, ENV_TYPE)
        key = norm(ref.id)
        if key not in self.store.resources:
            display = location_display_name(location) or location
            given: dict[str, Any] = copy.deepcopy(properties or {})
            if workload_profiles and "workloadProfiles" not in given:
                given["workloadProfiles"] = [{"workloadProfileType": "Consumption",
                                              "name": "Consumption"}]
            props = new_environment_properties(ref, display, given)
            props["provisioningState"] = "Succeeded"
            self.store.resources[key] = {
                "id": ref.id, "name": ref.name, "type": ENV_TYPE, "location": display,
                "tags": {}, "properties": props, "systemData": _stamp()}
        return view(self.store.resources[key])

    def _seed_workload(self, kind: Kind, resource_id: str, tags: dict[str, str] | None,
                       identity: dict[str, Any] | str | None, location: str,
                       properties: dict[str, Any] | None) -> dict[str, Any]:
        ref = self._ref(resource_id, kind.type)
        if isinstance(identity, str):
            identity = {"type": identity}
        ident: dict[str, Any] = copy.deepcopy(identity) if identity else {"type": "None"}
        given_type = str(ident.get("type"))
        itype = IDENTITY_TYPES[3] if given_type == BOTH else given_type
        if itype not in IDENTITY_TYPES:
            raise ValueError(f"identity type must be one of {IDENTITY_TYPES}")
        if "SystemAssigned" in itype:
            oid = ident.get("principalId") or str(uuid.uuid4())
            self.store.add_principal(oid, "ServicePrincipal", name=ref.name,
                                     app_id=str(uuid.uuid4()), kind="system-assigned",
                                     age_s=_OLD)
            ident["principalId"], ident["tenantId"] = oid, self.tenant_id
        resolved: dict[str, dict[str, str]] = {}
        for key in dict(ident.get("userAssignedIdentities") or {}):
            uami = self.store.resources.get(norm(key))
            if uami is None:
                raise ValueError(f"seed the user-assigned identity first: {key}")
            resolved[uami["id"]] = {"principalId": uami["properties"]["principalId"],
                                    "clientId": uami["properties"]["clientId"]}
        if "UserAssigned" in itype:
            ident["userAssignedIdentities"] = resolved
        ident["type"] = BOTH if itype == IDENTITY_TYPES[3] else itype
        given = copy.deepcopy(properties or {})
        env_id = given.get("environmentId") or given.get("managedEnvironmentId") or (
            f"{ref.rg_id}/providers/Microsoft.App/managedEnvironments/env")
        env = self.store.resources.get(norm(env_id))
        if env is None:
            self.seed_environment(env_id, location)
            env = self.store.resources[norm(env_id)]
        key = norm(ref.id)
        stored = seeded_record(kind, ref, location, tags or {}, ident, given, env, _stamp())
        self.store.resources[key] = stored
        if kind is APP:
            record_revision(cast("Emulator", self), key, stored)
        return view(stored)

    def seed_container_app(self, resource_id: str, tags: dict[str, str] | None = None,
                           identity: dict[str, Any] | str | None = None,
                           location: str = "eastus",
                           properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """A finished container app; user-assigned identities named in ``identity`` must
        exist (seed them first). A system-assigned principal is registered a day old; the
        environment (``.../managedEnvironments/env`` unless ``properties`` name one) is
        seeded too."""
        return self._seed_workload(APP, resource_id, tags, identity, location, properties)

    def seed_job(self, resource_id: str, tags: dict[str, str] | None = None,
                 identity: dict[str, Any] | str | None = None, location: str = "eastus",
                 properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """A finished Container Apps job, seeded like :meth:`seed_container_app`."""
        return self._seed_workload(JOB, resource_id, tags, identity, location, properties)

    def seed_role_definition(self, guid: str, role_name: str,
                             actions: tuple[str, ...] = ("*/read",),
                             assignable_scopes: tuple[str, ...] = ("/",)) -> dict[str, Any]:
        """A custom role that exists already (e.g. one a recording's tenant had)."""
        now = utc_now()
        stored = {
            "id": f"/providers/Microsoft.Authorization/roleDefinitions/{guid.lower()}",
            "type": "Microsoft.Authorization/roleDefinitions", "name": guid.lower(),
            "properties": {
                "roleName": role_name, "type": "CustomRole", "description": "",
                "assignableScopes": list(assignable_scopes),
                "permissions": [{"actions": list(actions), "notActions": [],
                                 "dataActions": [], "notDataActions": []}],
                "createdOn": now, "updatedOn": now, "createdBy": None, "updatedBy": None,
            },
        }
        self.store.role_definitions[guid.lower()] = stored
        return copy.deepcopy(stored)

    def seed_role_assignment(self, scope: str, role_guid: str, principal_id: str,
                             name: str | None = None, principal_type: str = "ServicePrincipal",
                             description: str | None = None) -> dict[str, Any]:
        name = (name or str(uuid.uuid4())).lower()
        scope = "/" + "/".join(segments(scope))
        now = utc_now()
        stored = {
            "properties": {
                "roleDefinitionId": f"/subscriptions/{self._subscription_in(scope)}/providers/"
                                    f"Microsoft.Authorization/roleDefinitions/"
                                    f"{role_guid.lower()}",
                "principalId": principal_id.lower(), "principalType": principal_type,
                "scope": scope, "condition": None, "conditionVersion": None,
                "createdOn": now, "updatedOn": now, "createdBy": None, "updatedBy": None,
                "delegatedManagedIdentityResourceId": None, "description": description,
            },
            "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": name,
        }
        self.store.role_assignments[norm(str(stored["id"]))] = stored
        return copy.deepcopy(stored)

    def _subscription_in(self, scope: str) -> str:
        segs = segments(scope)
        if len(segs) >= 2 and segs[0].lower() == "subscriptions":
            return segs[1].lower()
        return self.subscription_id

    def seed_principal(self, oid: str | None = None, principal_type: str = "ServicePrincipal",
                       age_s: float = _OLD, name: str = "") -> str:
        oid = oid or str(uuid.uuid4())
        self.store.add_principal(oid, principal_type, name=name, kind="seeded", age_s=age_s)
        return oid.lower()

    # -- inspection --------------------------------------------------------------
    def _settle(self) -> None:
        """Inspection sees operations that are due as ended, as the next request would."""
        operations = getattr(self, "operations", None)
        if operations is not None:
            operations.settle()

    def role_assignments(self, *, include_deployment: bool = False) -> list[dict[str, Any]]:
        """Every role assignment, except (unless asked) the deployment's own: the roles
        the template gives the service's identity (``Emulator.deploy``)."""
        self._settle()
        hidden = set() if include_deployment else self.deployment_keys
        return [copy.deepcopy(ra) for key, ra in self.store.role_assignments.items()
                if key not in hidden]

    def role_definition(self, name_or_guid: str) -> dict[str, Any] | None:
        for rd in self.store.role_definitions.values():
            if name_or_guid.lower() in (rd["name"], rd["properties"]["roleName"].lower()):
                return copy.deepcopy(rd)
        return None

    def get(self, resource_id: str) -> dict[str, Any] | None:
        """What GET answers for a subscription, group, resource or role assignment."""
        self._settle()
        body = self.store.lookup(resource_id) or self.store.role_assignments.get(
            norm(resource_id))
        if body is None:
            return None
        if "properties" in body and "roleDefinitionId" in (body.get("properties") or {}):
            return copy.deepcopy(body)
        return view(body)

    def principal(self, oid: str) -> Principal | None:
        self._settle()
        return self.store.principals.get(oid.lower())

    @property
    def principals(self) -> dict[str, Principal]:
        return self.store.principals
