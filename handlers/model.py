"""The plain data the converge pipeline passes along, and ownership (pure; no I/O).

A workload's ARM JSON becomes an :class:`AppState` (only what decisions
need); a role assignment an :class:`Assignment`; a role definition a
:class:`RoleInfo`. Every role assignment of a subscription, as listed once,
becomes an :class:`AssignmentIndex` that answers "which did aca-warden make
for this workload" and "which hold this principal" without a scan.

Ownership outlives the workload: an assignment is aca-warden's for workload
``W`` when its ``description`` is :func:`description_for` ``W`` AND its name
is :func:`assignment_name` of (``W``, principal, role GUID, scope) — so
cleanup finds exactly a workload's grants after the workload and its
principal are gone, and an assignment a person made (even an identical one)
is never taken for ours. Both include the workload's resource type, so an
app and a job of the same name never share a grant.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers.ids import ArmId, role_definition_guid, workload_id

__all__ = [
    "WARDEN_NS",
    "AppState",
    "Assignment",
    "AssignmentIndex",
    "Level",
    "RoleInfo",
    "app_state",
    "assignment_name",
    "description_for",
    "has_system_identity",
    "is_ours",
    "owner_of",
    "role_definition_id",
    "role_name",
]

Level = Literal["floor", "broad", "ok"]

WARDEN_NS = uuid.UUID("6f1c1f0e-5b1a-4c59-9a53-0d7a4a3f7c21")
_DESCRIPTION = "Managed by aca-warden for {app_id} (do not edit)"
_DESCRIPTION_RE = re.compile(r"^Managed by aca-warden for (/subscriptions/.+) \(do not edit\)$",
                             re.IGNORECASE)


def assignment_name(app: ArmId | str, principal_id: str, role_guid: str, scope: str) -> str:
    """The deterministic GUID name of the assignment of a role at a scope for a workload."""
    key = "|".join([str(app).lower(), principal_id.lower(), role_guid.lower(), scope.lower()])
    return str(uuid.uuid5(WARDEN_NS, key))


def description_for(app: ArmId | str) -> str:
    """The description that marks an assignment as made by aca-warden for ``app``."""
    return _DESCRIPTION.format(app_id=str(app))


def owner_of(description: str | None) -> ArmId | None:
    """The workload an aca-warden description names, else None."""
    m = _DESCRIPTION_RE.match(description or "")
    return workload_id(m.group(1)) if m else None


def has_system_identity(identity_type: str | None) -> bool:
    """Whether an identity ``type`` value includes the system-assigned identity."""
    return "systemassigned" in (identity_type or "").replace(" ", "").lower()


def role_definition_id(subscription: str | None, guid: str) -> str:
    """A role definition's id as ARM answers it: subscription-scoped when there is one."""
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


@dataclass(frozen=True)
class AppState:
    """What ARM says about a workload right now (only what decisions need)."""

    app: ArmId
    location: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    identity_type: str | None = None
    principal_id: str | None = None
    user_assigned: tuple[str, ...] = ()

    @property
    def system_identity(self) -> bool:
        return has_system_identity(self.identity_type)


def app_state(app: ArmId, body: Mapping[str, Any]) -> AppState:
    """The parts of a workload's ARM JSON that decisions need."""
    ident = body.get("identity") or {}
    tags = {k: v for k, v in (body.get("tags") or {}).items() if isinstance(v, str)}
    principal = ident.get("principalId")
    return AppState(app=app, location=body.get("location"), tags=tags,
                    identity_type=ident.get("type"),
                    principal_id=str(principal).lower() if principal else None,
                    user_assigned=tuple(ident.get("userAssignedIdentities") or {}))


@dataclass(frozen=True)
class Assignment:
    """A role assignment as listed by ARM."""

    id: str
    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    description: str | None = None

    @property
    def role_guid(self) -> str:
        return role_definition_guid(self.role_definition_id) or ""

    @property
    def key(self) -> tuple[str, str]:
        """(role GUID, scope), lower-case: what makes two assignments the same grant."""
        return (self.role_guid, self.scope.lower())


def is_ours(app: ArmId | str, a: Assignment) -> bool:
    """Whether aca-warden made assignment ``a`` for workload ``app`` (description AND name)."""
    if (a.description or "").lower() != description_for(app).lower():
        return False  # ARM names are case-insensitive: so is the id in the description
    return a.name.lower() == assignment_name(app, a.principal_id, a.role_guid, a.scope)


@dataclass(frozen=True)
class RoleInfo:
    """A role definition, resolved from ARM."""

    guid: str
    name: str
    id: str
    level: Level  # grants.classify_role: "floor" | "broad" | "ok"
    why: str = ""  # grants.Classification.why: the action that makes it floor or broad


def role_name(names: Mapping[str, str], guid: str) -> str:
    """A role's display name for people, from `names` (role GUID -> name, as observe read
    them): the GUID itself when the name is unknown (the role is gone or unreadable)."""
    return names.get(guid, guid)


class AssignmentIndex:
    """Role assignments of some subscriptions, indexed by owning workload and by principal."""

    def __init__(self, assignments: Iterable[Assignment] = ()) -> None:
        self._by_owner: dict[ArmId, list[Assignment]] = {}
        self._by_principal: dict[str, list[Assignment]] = {}
        self._seen: set[str] = set()
        self.add(assignments)

    def add(self, assignments: Iterable[Assignment]) -> None:
        for a in assignments:
            if a.id.lower() in self._seen:
                continue
            self._seen.add(a.id.lower())
            self._by_principal.setdefault(a.principal_id.lower(), []).append(a)
            owner = owner_of(a.description)
            if owner is not None and is_ours(owner, a):
                self._by_owner.setdefault(owner, []).append(a)

    def owned_by(self, app: ArmId) -> tuple[Assignment, ...]:
        """Every assignment aca-warden made for ``app`` (whatever principal it holds)."""
        return tuple(self._by_owner.get(app, ()))

    def of_principal(self, principal_id: str) -> tuple[Assignment, ...]:
        return tuple(self._by_principal.get(principal_id.lower(), ()))

    def owners(self) -> tuple[ArmId, ...]:
        """Every workload some listed assignment was made for."""
        return tuple(self._by_owner)

    def __len__(self) -> int:
        return len(self._seen)
