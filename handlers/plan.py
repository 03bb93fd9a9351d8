"""Desired state versus current state: what one reconcile must change (pure, no I/O).

The model
---------
An app's *current* state is what ARM says right now (:class:`AppState`), plus
the role assignments that exist for its system-assigned principal
(:class:`Assignment`). Its *desired* state follows from the policy:

* every standard user-assigned identity attached, next to every identity the
  app already carries (aca-warden never detaches anything);
* the system-assigned identity enabled when a grant tag needs it;
* one role assignment per distinct (role, scope) that some grant tag asks for
  and the policy admits.

:func:`make_plan` compares the two and returns a :class:`Plan`: one identity
PATCH body carrying the *full* desired identity map (or ``None``), the
identities to create, the assignments to create and to revoke, and the
refusals. It only ever revokes assignments that are ours (see
:func:`is_ours`); an assignment a person made is never touched, even when it
is identical to a grant — the grant is then already satisfied and nothing is
written for it.

Ownership outlives the app: an assignment is ours when its ``description`` is
:func:`description_for` the app id AND its name is :func:`assignment_name` of
(app id, principal, role GUID, scope), so cleanup can find exactly an app's
grants after the app and its principal are gone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from handlers.grants import GrantRequest, Refusal, role_allowed
from handlers.policy import Policy

__all__ = [
    "WARDEN_NS",
    "AppState",
    "Assignment",
    "Create",
    "Plan",
    "ResolvedGrant",
    "RoleInfo",
    "app_id_from_description",
    "assignment_name",
    "description_for",
    "has_system_identity",
    "is_ours",
    "make_plan",
    "subscription_of",
]

WARDEN_NS = uuid.UUID("6f1c1f0e-5b1a-4c59-9a53-0d7a4a3f7c21")
_DESCRIPTION = "Managed by aca-warden for {app_id} (do not edit)"
_DESCRIPTION_RE = re.compile(r"^Managed by aca-warden for (/subscriptions/.+) \(do not edit\)$")


def assignment_name(app_id: str, principal_id: str, role_guid: str, scope: str) -> str:
    """The deterministic GUID name of the assignment of a role at a scope for an app."""
    key = "|".join([app_id.lower(), principal_id.lower(), role_guid.lower(), scope.lower()])
    return str(uuid.uuid5(WARDEN_NS, key))


def description_for(app_id: str) -> str:
    """The description that marks an assignment as made by aca-warden for ``app_id``."""
    return _DESCRIPTION.format(app_id=app_id)


def app_id_from_description(description: str | None) -> str | None:
    """The app id an aca-warden description names, else None."""
    m = _DESCRIPTION_RE.match(description or "")
    return m.group(1) if m else None


def subscription_of(resource_id: str) -> str | None:
    """The (lower-case) subscription id of an ARM id, else None."""
    parts = resource_id.split("/")
    if len(parts) > 2 and parts[0] == "" and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return None


def has_system_identity(identity_type: str | None) -> bool:
    """Whether an identity ``type`` value includes the system-assigned identity."""
    return "systemassigned" in (identity_type or "").replace(" ", "").lower()


@dataclass(frozen=True)
class AppState:
    """What ARM says about a container app right now (only what reconcile needs)."""

    app_id: str
    location: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    identity_type: str | None = None
    principal_id: str | None = None
    user_assigned: tuple[str, ...] = ()


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
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @property
    def key(self) -> tuple[str, str]:
        return (self.role_guid, self.scope.lower())


@dataclass(frozen=True)
class RoleInfo:
    """A role definition, resolved from ARM."""

    guid: str
    name: str
    id: str
    level: str  # grants.classify_role: "floor" | "broad" | "ok"
    why: str = ""  # grants.Classification.why: the action that makes it floor or broad


@dataclass(frozen=True)
class ResolvedGrant:
    """A grant tag's item with its role looked up (``role`` None: no such role)."""

    request: GrantRequest
    role: RoleInfo | None


@dataclass(frozen=True)
class Create:
    """A role assignment to create (its name needs the principal: see assignment_name)."""

    role: RoleInfo
    scope: str
    tags: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.role.guid.lower(), self.scope.lower())

    def describe(self) -> str:
        return f"grant {self.role.name} on {self.scope} (tag {', '.join(self.tags)})"


@dataclass
class Plan:
    """What one reconcile of one app changes. Empty when the app is in line."""

    app_id: str
    identity_patch: dict | None = None
    enable_system: bool = False
    attach: list[str] = field(default_factory=list)
    create_identities: list[str] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    revokes: list[Assignment] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    role_names: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.identity_patch or self.create_identities or self.creates or self.revokes)

    def describe_revoke(self, a: Assignment) -> str:
        role = self.role_names.get(a.role_guid, a.role_guid)
        return f"revoke {role} on {a.scope}"

    def changes(self) -> list[str]:
        """Short human-readable strings, one per change, in the order they are applied."""
        out = [f"create identity {i}" for i in self.create_identities]
        if self.enable_system:
            out.append("enable system-assigned identity")
        out += [f"attach identity {i}" for i in self.attach]
        out += [c.describe() for c in self.creates]
        out += [self.describe_revoke(a) for a in self.revokes]
        return out


def is_ours(app_id: str, a: Assignment) -> bool:
    """Whether aca-warden made assignment ``a`` for app ``app_id`` (description AND name)."""
    if (a.description or "").lower() != description_for(app_id).lower():
        return False  # ARM names are case-insensitive: so is the app id in the description
    return a.name.lower() == assignment_name(app_id, a.principal_id, a.role_guid, a.scope)


def _identity_body(system: bool, user_assigned: Iterable[str]) -> dict:
    ua = list(user_assigned)
    if system and ua:
        kind = "SystemAssigned,UserAssigned"
    elif system:
        kind = "SystemAssigned"
    elif ua:
        kind = "UserAssigned"
    else:
        kind = "None"
    body: dict = {"type": kind}
    if ua:
        body["userAssignedIdentities"] = {i: {} for i in ua}
    return {"identity": body}


def make_plan(
    state: AppState,
    policy: Policy,
    *,
    identities: Mapping[str, bool],
    grants: Iterable[ResolvedGrant],
    grant_refusals: Iterable[Refusal] = (),
    existing: Iterable[Assignment] = (),
    missing_scopes: Iterable[str] = (),
) -> Plan:
    """Compare ``state`` with what ``policy`` asks for and return the changes.

    ``identities`` maps each expanded standard identity id to whether it exists.
    ``grants`` are the syntactically valid, in-scope grant items with their roles
    resolved; ``grant_refusals`` the ones grants.parse_grant_tags refused already.
    ``existing`` are the role assignments of the app's current system principal
    (ours and others'); ``missing_scopes`` scopes known not to exist (dry run).
    """
    app_id = state.app_id
    plan = Plan(app_id=app_id, refusals=list(grant_refusals))
    app_sub = subscription_of(app_id)

    # -- standard identities --------------------------------------------------
    have = {k.lower() for k in state.user_assigned}
    wanted_ua: list[str] = list(state.user_assigned)
    for ident, exists in identities.items():
        if ident.lower() in have:
            continue
        if not exists:
            if not policy.create_missing:
                plan.refusals.append(Refusal(
                    reason="the standard identity does not exist "
                    "(set [identities] create_missing = true to create it)",
                    identity=ident))
                continue
            if subscription_of(ident) != app_sub:
                plan.refusals.append(Refusal(
                    reason="the standard identity does not exist and lies outside the "
                    "app's subscription, so it is not created", identity=ident))
                continue
            plan.create_identities.append(ident)
        have.add(ident.lower())
        wanted_ua.append(ident)
        plan.attach.append(ident)

    # -- grants: roles, policy, one assignment per distinct (role, scope) --------
    missing = {s.lower() for s in missing_scopes}
    admitted: dict[tuple[str, str], Create] = {}
    for g in grants:
        req = g.request
        if g.role is None:
            plan.refusals.append(Refusal(
                tag=req.tag, reason=f"unknown role '{req.role}': no role definition with "
                "that name, GUID or id; use a role name as Azure shows it or its GUID"))
            continue
        plan.role_names[g.role.guid.lower()] = g.role.name
        why = role_allowed(g.role.name, g.role.guid, g.role.level, policy, g.role.why)
        if why is not None:
            plan.refusals.append(Refusal(tag=req.tag, reason=why))
            continue
        if req.scope.lower() in missing:
            plan.refusals.append(Refusal(tag=req.tag, reason=f"scope {req.scope} does not exist"))
            continue
        key = (g.role.guid.lower(), req.scope.lower())
        if key in admitted:
            old = admitted[key]
            if req.tag not in old.tags:
                admitted[key] = Create(old.role, old.scope, old.tags + (req.tag,))
        else:
            admitted[key] = Create(g.role, req.scope, (req.tag,))

    system = has_system_identity(state.identity_type)
    if admitted and not system:
        if policy.enable_system_identity:
            plan.enable_system = True
            system = True
        else:
            for c in admitted.values():
                for tag in c.tags:
                    plan.refusals.append(Refusal(
                        tag=tag, reason="grants go to the app's system-assigned identity, which "
                        "is off, and [grants] enable_system_identity is false"))
            admitted = {}

    if plan.enable_system or plan.attach:
        plan.identity_patch = _identity_body(system, wanted_ua)

    # -- compare with what exists for the current principal ----------------------
    ours: dict[tuple[str, str], Assignment] = {}
    foreign: dict[tuple[str, str], Assignment] = {}
    for a in existing:
        if state.principal_id and a.principal_id.lower() != state.principal_id.lower():
            continue
        (ours if is_ours(app_id, a) else foreign).setdefault(a.key, a)
    for key, c in admitted.items():
        if key in ours:
            continue
        if key in foreign:
            plan.notes.append(f"{c.role.name} on {c.scope} is already granted by an assignment "
                              f"aca-warden did not make ({foreign[key].name}); left alone")
            continue
        plan.creates.append(c)
    plan.revokes = [a for key, a in ours.items() if key not in admitted]
    return plan
