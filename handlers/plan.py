"""Desired state versus observed state: what one convergence must change (pure, no I/O).

:func:`make_plan` takes one :class:`Snapshot` (everything observe read about
one workload) and the policy, and returns one frozen :class:`Plan`. The event
path, ``plan APP_ID``, the sweep and a dry run all call it; nothing changes a
plan once made.

The workload's *desired* state follows from the policy:

* every standard user-assigned identity attached, next to every identity the
  workload already carries (aca-warden never detaches anything);
* the system-assigned identity enabled when a grant tag needs it;
* one role assignment per distinct (role, scope) that some grant tag asks for
  and the policy admits, for the workload's *current* system principal.

Compared with what exists, that gives the identities to create, one identity
PATCH carrying the full desired map, the assignments to create, and the
assignments to revoke: aca-warden's own (handlers.model.is_ours) that no tag
asks for any more, that the policy no longer admits, or that hold a principal
the workload no longer has (its system identity was switched off, or off and
on again: principal rotation). A workload that is gone (404) is cleaned up:
every assignment aca-warden made for it is revoked. An assignment a person
made is never revoked; when it already grants what a tag asks for, nothing is
written for that tag (a note says so).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers.grants import GrantRequest, Refusal, role_decision
from handlers.ids import ArmId
from handlers.model import AppState, Assignment, RoleInfo, role_name
from handlers.policy import Policy

__all__ = [
    "Action",
    "Grant",
    "Held",
    "Plan",
    "ResolvedGrant",
    "Revoke",
    "Snapshot",
    "identity_body",
    "make_plan",
    "opt_out_key",
    "opted_out",
    "outside_resource_groups",
    "release_plan",
]

Action = Literal["converge", "cleanup", "ignore", "release"]


@dataclass(frozen=True)
class ResolvedGrant:
    """A grant tag's item with its role looked up (``role`` None: no such role)."""

    request: GrantRequest
    role: RoleInfo | None


@dataclass(frozen=True)
class Snapshot:
    """Everything one decision about one workload needs, read once (handlers.observe)."""

    app: ArmId
    state: AppState | None  # None: the workload is gone (ARM answered 404)
    identities: Mapping[str, bool] = field(default_factory=dict)  # standard id -> exists
    grants: tuple[ResolvedGrant, ...] = ()
    grant_refusals: tuple[Refusal, ...] = ()
    owned: tuple[Assignment, ...] = ()  # aca-warden's for this workload, any principal
    held: tuple[Assignment, ...] = ()  # every assignment of the current system principal
    missing_scopes: frozenset[str] = frozenset()  # lower-case; checked only when asked
    role_names: Mapping[str, str] = field(default_factory=dict)  # role GUID -> name
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grant:
    """A role assignment to create for the workload's system principal."""

    role: RoleInfo
    scope: str
    tags: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.role.guid.lower(), self.scope.lower())

    def describe(self) -> str:
        return f"grant {self.role.name} on {self.scope} (tag {', '.join(self.tags)})"


@dataclass(frozen=True)
class Revoke:
    """An assignment of aca-warden's to delete.

    ``unless_current``: it holds a principal the workload did not show when observed,
    for a grant still wanted; it stays if that principal turns out to be the one the
    identity PATCH leaves (another process enabled it meanwhile).
    """

    assignment: Assignment
    role_name: str
    unless_current: bool = False

    def describe(self) -> str:
        return f"revoke {self.role_name} on {self.assignment.scope}"


@dataclass(frozen=True)
class Held:
    """A grant the tags ask for that an assignment already holds: aca-warden's own
    (``ours``), or one somebody else made, which is left alone."""

    grant: Grant
    assignment: Assignment
    ours: bool


@dataclass(frozen=True)
class Plan:
    """What one convergence of one workload changes; empty when it is in line."""

    app: ArmId
    action: Action
    reason: str | None = None  # why it is left alone (action "ignore")
    location: str | None = None
    principal: str | None = None  # current system principal; None: the PATCH makes one
    system: bool = False  # the system identity is wanted on after the PATCH
    enable_system: bool = False
    user_assigned: tuple[str, ...] = ()  # identities the workload carries already
    attach: tuple[str, ...] = ()
    create_identities: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    revokes: tuple[Revoke, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()
    held: tuple[Held, ...] = ()  # admitted grants already in place (nothing to write)
    detach: tuple[str, ...] = ()  # release: standard identities to take off
    opt_out: str | None = None  # release: the opt-out tag to set to "true" (its spelling)

    def identity_patch(self, leaving_out: Iterable[str] = ()) -> dict[str, Any] | None:
        """The identity PATCH body (the full desired map), or None when none is needed.

        ``leaving_out``: standard identities of :attr:`attach` that apply could not create
        or may not attach (case ignored); the PATCH carries the rest, and is not needed
        when that leaves nothing to change."""
        gone = {i.lower() for i in leaving_out}
        attach = tuple(i for i in self.attach if i.lower() not in gone)
        if not (self.enable_system or attach):
            return None
        return identity_body(self.system, (*self.user_assigned, *attach))

    @property
    def release_patch(self) -> dict[str, Any] | None:
        """Release's one PATCH of the workload (a JSON merge patch: only the opt-out tag
        and the detached identities change), or None when none is needed."""
        if self.opt_out is None and not self.detach:
            return None
        body: dict[str, Any] = {}
        if self.opt_out is not None:
            body["tags"] = {self.opt_out: "true"}
        if self.detach:
            gone = {i.lower() for i in self.detach}
            keep = [i for i in self.user_assigned if i.lower() not in gone]
            body.update(identity_body(self.system, keep))
            users: dict[str, dict[str, Any] | None] = {i: {} for i in keep}
            users.update({i: None for i in self.detach})
            body["identity"]["userAssignedIdentities"] = users if keep else None
        return body

    @property
    def empty(self) -> bool:
        return not (self.identity_patch() or self.create_identities or self.grants
                    or self.revokes or self.release_patch)

    def release_changes(self) -> tuple[str, ...]:
        """What :attr:`release_patch` changes, one string each."""
        out = [f"tag {self.opt_out}=true (opt out)"] if self.opt_out is not None else []
        return (*out, *(f"detach identity {i}" for i in self.detach))

    def changes(self) -> tuple[str, ...]:
        """One short human-readable string per change, in the order apply makes them."""
        out = [f"create identity {i}" for i in self.create_identities]
        if self.enable_system:
            out.append("enable system-assigned identity")
        out += [f"attach identity {i}" for i in self.attach]
        out += [g.describe() for g in self.grants]
        out += [r.describe() for r in self.revokes]
        return (*out, *self.release_changes())  # release: the opt-out tag after the revokes


def identity_body(system: bool, user_assigned: Iterable[str]) -> dict[str, Any]:
    """An identity PATCH body carrying the full map (ARM replaces what it is sent)."""
    ua = list(user_assigned)
    kind = {(True, True): "SystemAssigned,UserAssigned", (True, False): "SystemAssigned",
            (False, True): "UserAssigned", (False, False): "None"}[(system, bool(ua))]
    body: dict[str, Any] = {"type": kind}
    if ua:
        body["userAssignedIdentities"] = {i: {} for i in ua}
    return {"identity": body}


def outside_resource_groups(app: ArmId, policy: Policy) -> str | None:
    """Why ``app`` is outside ``apps.resource_groups``, else None (decided with no ARM call)."""
    rg = (app.resource_group or "").lower()
    if any(fnmatch.fnmatchcase(rg, p.lower()) for p in policy.resource_groups):
        return None
    return f"resource group {app.resource_group} is not in apps.resource_groups"


def opted_out(tags: Mapping[str, Any], policy: Policy) -> str | None:
    """Why a workload with these tags is left entirely alone (the opt-out tag), else None."""
    want = policy.opt_out_tag.lower()
    if any(k.lower() == want and str(v).strip().lower() == "true" for k, v in tags.items()):
        return f"opted out by tag {policy.opt_out_tag}"
    return None


def _revoke(a: Assignment, names: Mapping[str, str], *, unless_current: bool = False) -> Revoke:
    """Revoke `a`, worded with its role's name (its GUID when the name is unknown)."""
    return Revoke(a, role_name(names, a.role_guid), unless_current)


def make_plan(snap: Snapshot, policy: Policy) -> Plan:
    """Compare ``snap`` with what ``policy`` asks for and return the changes."""
    if snap.state is None:  # gone: every grant aca-warden made for it goes
        return Plan(snap.app, "cleanup",
                    revokes=tuple(_revoke(a, snap.role_names) for a in snap.owned),
                    notes=snap.notes)
    state = snap.state
    why = opted_out(state.tags, policy)
    if why is not None:
        return Plan(snap.app, "ignore", reason=why)
    refusals: list[Refusal] = list(snap.grant_refusals)
    notes: list[str] = list(snap.notes)
    attach, create, refused_ids = _standard_identities(snap, policy)
    refusals += refused_ids

    admitted, items = _admitted(snap, policy, refusals)
    system = state.system_identity
    enable = False
    if admitted and not system:
        if policy.enable_system_identity:
            enable = system = True
        else:
            refusals += [Refusal(tag=tag, reason="grants go to the workload's system-assigned "
                                 "identity, which is off, and [grants] enable_system_identity "
                                 "is false", rule="system_identity", item=items.get((key, tag)))
                         for key, g in admitted.items() for tag in g.tags]
            admitted = {}

    principal = state.principal_id if state.system_identity else None
    grants, held = _against_held(snap, admitted, principal, notes)
    keep = {h.assignment.id.lower() for h in held if h.ours}
    revokes = tuple(_revoke(a, snap.role_names, unless_current=enable and a.key in admitted)
                    for a in snap.owned if a.id.lower() not in keep)
    return Plan(snap.app, "converge", location=state.location, principal=principal,
                system=system, enable_system=enable, user_assigned=state.user_assigned,
                attach=tuple(attach), create_identities=tuple(create), grants=grants,
                revokes=revokes, refusals=tuple(refusals), notes=tuple(notes), held=held)


def _standard_identities(snap: Snapshot, policy: Policy
                         ) -> tuple[list[str], list[str], list[Refusal]]:
    """(identities to attach, of which to create first, refusals)."""
    assert snap.state is not None
    have = {k.lower() for k in snap.state.user_assigned}
    attach: list[str] = []
    create: list[str] = []
    refusals: list[Refusal] = []
    for ident, exists in snap.identities.items():
        if ident.lower() in have:
            continue
        if not exists:
            if not policy.create_missing:
                refusals.append(Refusal(
                    reason="the standard identity does not exist "
                    "(set [identities] create_missing = true to create it)", identity=ident))
                continue
            parsed = ArmId.try_parse(ident)
            if parsed is None or parsed.subscription != snap.app.subscription:
                refusals.append(Refusal(
                    reason="the standard identity does not exist and lies outside the "
                    "workload's subscription, so it is not created", identity=ident))
                continue
            create.append(ident)
        have.add(ident.lower())
        attach.append(ident)
    return attach, create, refusals


_Key = tuple[str, str]  # (role GUID, scope), lower-case


def _admitted(snap: Snapshot, policy: Policy, refusals: list[Refusal]
              ) -> tuple[dict[_Key, Grant], dict[tuple[_Key, str], int | None]]:
    """One grant per distinct (role, scope) the tags ask for and the policy admits, and
    the item of each (grant, tag) pair; each refusal names the rule that decided it."""
    admitted: dict[_Key, Grant] = {}
    items: dict[tuple[_Key, str], int | None] = {}
    for g in snap.grants:
        req = g.request
        if g.role is None:
            refusals.append(Refusal(
                tag=req.tag, reason=f"unknown role '{req.role}': no role definition with "
                "that name, GUID or id; use a role name as Azure shows it or its GUID",
                rule="role", item=req.item))
            continue
        decision = role_decision(g.role.name, g.role.guid, g.role.level, policy, g.role.why)
        if not decision.allowed:
            refusals.append(Refusal(tag=req.tag, reason=decision.reason, rule=decision.rule,
                                    item=req.item))
            continue
        if req.scope.lower() in snap.missing_scopes:
            refusals.append(Refusal(tag=req.tag, reason=f"scope {req.scope} does not exist",
                                    rule="scope_exists", item=req.item))
            continue
        key = (g.role.guid.lower(), req.scope.lower())
        items.setdefault((key, req.tag), req.item)
        old = admitted.get(key)
        if old is None:
            admitted[key] = Grant(g.role, req.scope, (req.tag,))
        elif req.tag not in old.tags:
            admitted[key] = Grant(old.role, old.scope, (*old.tags, req.tag))
    return admitted, items


def _against_held(snap: Snapshot, admitted: Mapping[tuple[str, str], Grant],
                  principal: str | None, notes: list[str]
                  ) -> tuple[tuple[Grant, ...], tuple[Held, ...]]:
    """(grants still to create, grants an assignment already holds)."""
    owned = {a.id.lower() for a in snap.owned}
    ours: dict[tuple[str, str], Assignment] = {}
    foreign: dict[tuple[str, str], Assignment] = {}
    if principal is not None:
        for a in snap.held:
            if a.principal_id.lower() == principal:
                (ours if a.id.lower() in owned else foreign).setdefault(a.key, a)
    grants: list[Grant] = []
    held: list[Held] = []
    for key, g in admitted.items():
        if key in ours:
            held.append(Held(g, ours[key], True))
        elif key in foreign:
            held.append(Held(g, foreign[key], False))
            notes.append(f"{g.role.name} on {g.scope} is already granted by an assignment "
                         f"aca-warden did not make ({foreign[key].name}); left alone")
        else:
            grants.append(g)
    return tuple(grants), tuple(held)


def opt_out_key(tags: Mapping[str, Any], policy: Policy) -> str:
    """The opt-out tag's name as the workload spells it (Azure tag names ignore case), or
    as the policy does when the workload does not carry it."""
    want = policy.opt_out_tag.lower()
    return next((k for k in tags if k.lower() == want), policy.opt_out_tag)


def release_plan(snap: Snapshot, policy: Policy, *, detach_identities: bool = False) -> Plan:
    """Offboarding (``release``): revoke every assignment aca-warden made for the workload
    (whatever principal holds it; never anybody else's), optionally detach the standard
    identities the policy attaches, and set the opt-out tag so it is left alone from then
    on. A workload that is gone only has its grants revoked."""
    revokes = tuple(_revoke(a, snap.role_names) for a in snap.owned)
    if snap.state is None:
        return Plan(snap.app, "cleanup", revokes=revokes, notes=snap.notes)
    state = snap.state
    detach: tuple[str, ...] = ()
    if detach_identities:
        standard = {i.lower() for i in snap.identities}
        detach = tuple(i for i in state.user_assigned if i.lower() in standard)
    opt_out = None if opted_out(state.tags, policy) else opt_out_key(state.tags, policy)
    return Plan(snap.app, "release", location=state.location, principal=state.principal_id,
                system=state.system_identity, user_assigned=state.user_assigned,
                revokes=revokes, notes=snap.notes, detach=detach, opt_out=opt_out)
