"""The emulator's in-memory ARM state, and the error type every handler raises.

Everything is keyed by the lower-cased id (``ids.norm``). Handlers check and
mutate the state without awaiting in between, so each request's change is
atomic under asyncio even with many concurrent clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ids import norm, parse_resource_id, segments
from .roles import builtin_role_definitions

__all__ = ["ArmError", "AssignmentTable", "Principal", "Store", "utc_now"]


def utc_now(ts: float | None = None) -> str:
    """ISO 8601 with 7 fractional digits and ``Z``, as ARM writes timestamps."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class ArmError(Exception):
    """An ARM error answer: ``{"error": {"code", "message"}}`` with a status."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class Principal:
    """A directory object that role assignments can name."""

    object_id: str
    type: str  # ServicePrincipal | User | Group
    created: float
    display_name: str = ""
    app_id: str | None = None
    deleted: bool = False
    kind: str = ""  # service | system-assigned | user-assigned | person


class AssignmentTable(dict[str, dict[str, Any]]):
    """Role assignments by lower-cased id, indexed by principal for authorization."""

    def __init__(self) -> None:
        super().__init__()
        self._by_principal: dict[str, dict[str, dict[str, Any]]] = {}

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        if key in self:
            self.__delitem__(key)
        super().__setitem__(key, value)
        oid = str(value["properties"]["principalId"]).lower()
        self._by_principal.setdefault(oid, {})[key] = value

    def __delitem__(self, key: str) -> None:
        value = self[key]
        super().__delitem__(key)
        mine = self._by_principal.get(str(value["properties"]["principalId"]).lower(), {})
        mine.pop(key, None)

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        value = self[key]
        self.__delitem__(key)
        return value

    def for_principal(self, oid: str) -> list[dict[str, Any]]:
        return list(self._by_principal.get(oid.lower(), {}).values())


@dataclass
class Store:
    tenant_id: str
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    role_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_assignments: AssignmentTable = field(default_factory=AssignmentTable)
    # called with a subscription id when one is added (the deployment's roles follow)
    subscription_listeners: list[Callable[[str], None]] = field(default_factory=list)
    revisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by app key
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by job key
    provider_states: dict[str, dict[str, str]] = field(default_factory=dict)  # sub -> ns -> state

    def __post_init__(self) -> None:
        for rd in builtin_role_definitions():
            self.role_definitions[rd["name"].lower()] = rd

    # -- subscriptions and resource groups ------------------------------------
    def add_subscription(self, sub: str, display_name: str | None = None) -> dict[str, Any]:
        sub = sub.lower()
        body = self.subscriptions.get(sub)
        if body is None:
            body = {
                "id": f"/subscriptions/{sub}",
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "subscriptionId": sub,
                "tenantId": self.tenant_id,
                "displayName": display_name or f"Emulated subscription {sub[:8]}",
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off",
                },
                "tags": {},
            }
            self.subscriptions[sub] = body
            for listener in list(self.subscription_listeners):
                listener(sub)
        return body

    def require_subscription(self, sub: str) -> dict[str, Any]:
        body = self.subscriptions.get(sub.lower())
        if body is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        return body

    def require_group(self, sub: str, rg: str) -> dict[str, Any]:
        self.require_subscription(sub)
        body = self.groups.get(norm(f"/subscriptions/{sub}/resourceGroups/{rg}"))
        if body is None:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
            )
        return body

    def put_group(self, sub: str, rg: str, location: str, tags: dict[str, str] | None) -> bool:
        """Create or update; True when created."""
        key = norm(f"/subscriptions/{sub}/resourceGroups/{rg}")
        existing = self.groups.get(key)
        if existing is not None:
            existing["tags"] = dict(tags or {})
            return False
        self.groups[key] = {
            "id": f"/subscriptions/{sub.lower()}/resourceGroups/{rg}",
            "name": rg,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": dict(tags or {}),
            "properties": {"provisioningState": "Succeeded"},
        }
        return True

    # -- principals -------------------------------------------------------------
    def add_principal(
        self,
        oid: str,
        ptype: str,
        *,
        name: str = "",
        app_id: str | None = None,
        kind: str = "",
        age_s: float = 0.0,
    ) -> Principal:
        p = Principal(oid.lower(), ptype, time.time() - age_s, name, app_id, kind=kind)
        self.principals[p.object_id] = p
        return p

    def principal(self, oid: str) -> Principal | None:
        p = self.principals.get(oid.lower())
        return None if p is None or p.deleted else p

    def delete_principal(self, oid: str | None) -> None:
        if oid and oid.lower() in self.principals:
            self.principals[oid.lower()].deleted = True

    # -- scopes -------------------------------------------------------------------
    def lookup(self, resource_id: str) -> dict[str, Any] | None:
        """The stored body of a subscription, group or resource."""
        segs = segments(resource_id)
        low = [s.lower() for s in segs]
        if len(segs) == 2 and low[0] == "subscriptions":
            return self.subscriptions.get(low[1])
        if len(segs) == 4 and low[0] == "subscriptions" and low[2] == "resourcegroups":
            return self.groups.get(norm(resource_id))
        return self.resources.get(norm(resource_id))

    def require_scope(self, scope: str) -> None:
        """404 unless the scope (tenant root, subscription, group or resource) exists."""
        segs = segments(scope)
        low = [s.lower() for s in segs]
        if not segs:
            return
        if low[0] != "subscriptions" or len(segs) < 2:
            raise ArmError(404, "ScopeNotFound", f"The scope '{scope}' is not valid.")
        self.require_subscription(segs[1])
        if len(segs) == 2:
            return
        if low[2] != "resourcegroups" or len(segs) < 4:
            raise ArmError(404, "ScopeNotFound", f"The scope '{scope}' is not valid.")
        self.require_group(segs[1], segs[3])
        if len(segs) == 4:
            return
        if self.resources.get(norm(scope)) is None:
            ref = parse_resource_id(scope)
            what = f"{ref.type}/{ref.name}" if ref else scope
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{what}' under resource group '{segs[3]}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
