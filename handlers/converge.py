"""Converge one app: read it, plan, apply; clean up after a deleted one.

:class:`Converger` holds what is worth remembering across events of one
process — role definitions (a few minutes, never "unknown") and standard
identities (whether they exist) — and makes sure a missing standard identity
is created at most once, even when a burst of apps of one resource group
needs it at the same moment (one asyncio task per identity id that every app
awaits).

Apply order: create missing identities, ONE identity PATCH carrying the full
desired map, then the role-assignment PUTs for the system-assigned principal
(deterministic names, so a repeat is harmless), then the revokes. Only
assignments that are ours (handlers.plan.is_ours) are ever revoked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.azure import Arm
from handlers.errors import Permanent, Transient
from handlers.grants import Refusal, classify_role, parse_grant_tags
from handlers.plan import (
    AppState,
    Assignment,
    Create,
    Plan,
    ResolvedGrant,
    RoleInfo,
    assignment_name,
    description_for,
    is_ours,
    make_plan,
    subscription_of,
)
from handlers.policy import Policy, expand, named_subscriptions

__all__ = ["Converger", "Result", "app_state"]

log = logging.getLogger("aca_warden")

ROLE_TTL_S = 300.0
IDENTITY_TTL_S = 3600.0
MISSING_IDENTITY_TTL_S = 60.0


@dataclass
class Result:
    """What converging (or cleaning up) one app did."""

    result: str
    changes: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None
    principal: str | None = None  # the app's system-assigned principal after the changes


def app_state(app_id: str, app: dict[str, Any]) -> AppState:
    """The parts of an app's ARM JSON that planning needs."""
    ident = app.get("identity") or {}
    tags = {k: v for k, v in (app.get("tags") or {}).items() if isinstance(v, str)}
    return AppState(app_id=app_id, location=app.get("location"), tags=tags,
                    identity_type=ident.get("type"), principal_id=ident.get("principalId"),
                    user_assigned=tuple(ident.get("userAssignedIdentities") or {}))


def _role_id_for_scope(role: RoleInfo, scope: str) -> str:
    """The role definition id as seen from the scope's subscription."""
    sub = subscription_of(scope)
    if sub and role.id.lower().startswith("/subscriptions/") and subscription_of(role.id) != sub:
        return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role.guid}"
    return role.id


class Converger:
    """Read-plan-apply for single apps, with per-process caches."""

    def __init__(self, policy: Policy, arm: Arm) -> None:
        self.policy = policy
        self.arm = arm
        self._roles: dict[tuple[str, str], tuple[float, RoleInfo]] = {}
        self._role_tasks: dict[tuple[str, str], asyncio.Task[RoleInfo | None]] = {}
        self._identities: dict[str, tuple[float, bool]] = {}
        self._identity_tasks: dict[str, asyncio.Task[bool]] = {}
        self._create_tasks: dict[str, asyncio.Task[None]] = {}
        self._list_tasks: dict[str, asyncio.Task[list[Assignment]]] = {}
        # subscriptions that grants.allowed_scopes names literally: grants may lie there
        self.named_subscriptions: tuple[str, ...] = named_subscriptions(policy.allowed_scopes)

    def subscriptions_for(self, app_id: str) -> list[str]:
        """Where aca-warden may have made grants for ``app_id``: the app's own
        subscription first, then every other one the policy names."""
        own = (subscription_of(app_id) or "").lower()
        return [own] + [s for s in self.named_subscriptions if s != own]

    # -- cached look-ups -----------------------------------------------------
    async def role(self, subscription: str, role: str) -> RoleInfo | None:
        key = (subscription.lower(), role.lower())
        hit = self._roles.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        task = self._role_tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_role(subscription, role))
            self._role_tasks[key] = task
            task.add_done_callback(lambda _t: self._role_tasks.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch_role(self, subscription: str, role: str) -> RoleInfo | None:
        d = await self.arm.find_role(subscription, role)
        if d is None:
            return None  # never cache "unknown": it may be created any moment
        level = classify_role(d.get("permissions") or [])
        info = RoleInfo(guid=str(d["name"]).lower(), name=d.get("roleName") or d["name"],
                        id=d["id"], level=level.level, why=level.why)
        expires = time.monotonic() + ROLE_TTL_S
        for k in {role.lower(), info.guid, info.name.lower()}:
            self._roles[(subscription.lower(), k)] = (expires, info)
        return info

    async def identity_exists(self, identity_id: str) -> bool:
        key = identity_id.lower()
        hit = self._identities.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        task = self._identity_tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_identity(identity_id))
            self._identity_tasks[key] = task
            task.add_done_callback(lambda _t: self._identity_tasks.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch_identity(self, identity_id: str) -> bool:
        exists = await self.arm.get_identity(identity_id) is not None
        ttl = IDENTITY_TTL_S if exists else MISSING_IDENTITY_TTL_S
        self._identities[identity_id.lower()] = (time.monotonic() + ttl, exists)
        return exists

    async def create_identity_once(self, identity_id: str, location: str) -> None:
        """Create a standard identity; concurrent callers share the one PUT."""
        key = identity_id.lower()
        task = self._create_tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._create_identity(identity_id, location))
            self._create_tasks[key] = task

            def forget_failure(t: asyncio.Task[None]) -> None:
                if t.cancelled() or t.exception() is not None:
                    self._create_tasks.pop(key, None)

            task.add_done_callback(forget_failure)
        await asyncio.shield(task)

    async def _create_identity(self, identity_id: str, location: str) -> None:
        await self.arm.create_identity(identity_id, location)
        self._identities[identity_id.lower()] = (time.monotonic() + IDENTITY_TTL_S, True)

    # -- one app ---------------------------------------------------------------
    async def plan(
        self, app_id: str, app: dict[str, Any], *, dry_run: bool,
        listed: Mapping[str, list[Assignment]] | None = None,
    ) -> tuple[AppState, Plan]:
        """Read what planning needs (cached where possible) and plan.

        ``listed``: every assignment of some subscriptions (lower-case id ->
        assignments), when the caller (the sweep) has them already; saves the
        per-app listing there.
        """
        state = app_state(app_id, app)
        sub = subscription_of(app_id) or ""
        ids = [expand(t, app_id, state.location) for t in self.policy.standard_identities]
        exists = await asyncio.gather(*(self.identity_exists(i) for i in ids))
        requests, refusals = parse_grant_tags(state.tags, self.policy, app_id, state.location)
        looked_up = await asyncio.gather(*(self.role(sub, r.role) for r in requests),
                                         return_exceptions=True)
        grants: list[ResolvedGrant] = []
        for r, info in zip(requests, looked_up, strict=True):
            if isinstance(info, Permanent):  # e.g. 403 reading it: this grant only
                refusals.append(Refusal(f"cannot read role '{r.role}': {info}", r.tag))
            elif isinstance(info, BaseException):
                raise info
            else:
                grants.append(ResolvedGrant(r, info))
        existing: list[Assignment] = []
        listing_notes: list[str] = []
        if state.principal_id:
            existing = await self._principal_assignments(
                app_id, state.principal_id, grants, listed, listing_notes)
        missing: list[str] = []
        if dry_run:
            scopes = {g.request.scope.lower(): g.request.scope for g in grants if g.role}
            have = {a.scope.lower() for a in existing}
            check = [s for k, s in scopes.items() if k not in have]
            found = await asyncio.gather(*(self.arm.scope_exists(s) for s in check))
            missing = [s for s, ok in zip(check, found, strict=True) if not ok]
        plan = make_plan(state, self.policy, identities=dict(zip(ids, exists, strict=True)),
                         grants=grants, grant_refusals=refusals, existing=existing,
                         missing_scopes=missing)
        plan.notes += listing_notes
        for a in plan.revokes:
            if a.role_guid not in plan.role_names:
                plan.role_names[a.role_guid] = await self.role_name(sub, a.role_guid)
        return state, plan

    async def _principal_assignments(
        self, app_id: str, principal: str, grants: list[ResolvedGrant],
        listed: Mapping[str, list[Assignment]] | None, notes: list[str],
    ) -> list[Assignment]:
        """The role assignments of the app's principal wherever aca-warden may have
        made them: the app's subscription, every one a grant points into and, only
        when the policy names other subscriptions, those (a grant there may be
        revoked after its tag went). A subscription-scope list returns only that
        subscription's assignments, so each subscription is one list; with the
        default policy that is one request.
        """
        own = (subscription_of(app_id) or "").lower()
        targeted = {own} | {s for g in grants if (s := subscription_of(g.request.scope))}
        subs = sorted(targeted | set(self.named_subscriptions))
        low = principal.lower()
        existing: list[Assignment] = []
        fetch: list[str] = []
        for s in subs:
            if listed is not None and s in listed:
                existing += [a for a in listed[s] if a.principal_id.lower() == low]
            else:
                fetch.append(s)
        chunks = await asyncio.gather(*(self.arm.list_assignments(
            f"/subscriptions/{s}", f"principalId eq '{principal}'") for s in fetch),
            return_exceptions=True)
        for s, chunk in zip(fetch, chunks, strict=True):
            if isinstance(chunk, Permanent) and s not in targeted:
                notes.append(_unlisted(s, chunk))
            elif isinstance(chunk, BaseException):
                raise chunk
            else:
                existing += chunk
        return existing

    async def role_name(self, subscription: str, guid: str) -> str:
        """A role's display name for reports (its GUID when it cannot be read)."""
        try:
            info = await self.role(subscription, guid)
        except (Transient, Permanent):
            info = None
        return info.name if info else guid

    async def apply(self, state: AppState, plan: Plan) -> Result:
        """Write the plan; refusals found on the way (PUT 403/404...) join the result."""
        out = Result("unchanged", refused=list(plan.refusals), notes=list(plan.notes))
        app_id = state.app_id
        for ident in plan.create_identities:
            await self.create_identity_once(ident, state.location or "")
            out.changes.append(f"create identity {ident}")
        principal = state.principal_id
        if plan.identity_patch is not None:
            after = await self.arm.patch_app(app_id, plan.identity_patch)
            principal = (after.get("identity") or {}).get("principalId") or principal
            if plan.enable_system:
                out.changes.append("enable system-assigned identity")
            out.changes += [f"attach identity {i}" for i in plan.attach]
            if plan.creates and not principal:
                again = await self.arm.get_app(app_id) or {}
                principal = (again.get("identity") or {}).get("principalId")
        if plan.creates:
            if not principal:
                raise Transient(f"{app_id}: system-assigned principal not visible yet")
            results = await asyncio.gather(
                *(self._grant(app_id, principal, c, out) for c in plan.creates),
                return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    raise r
        for a in plan.revokes:
            await self.arm.delete_assignment(a)
            out.changes.append(plan.describe_revoke(a))
        out.result = "applied" if out.changes else "unchanged"
        out.principal = principal
        return out

    async def _grant(self, app_id: str, principal: str, c: Create, out: Result) -> None:
        name = assignment_name(app_id, principal, c.role.guid, c.scope)
        tag = ", ".join(c.tags)
        try:
            created = await self.arm.create_assignment(
                c.scope, name, _role_id_for_scope(c.role, c.scope), principal,
                description_for(app_id))
        except Permanent as e:
            if e.status == 404:
                reason = f"scope {c.scope} does not exist"
            elif e.status == 403:
                reason = f"aca-warden may not assign roles at {c.scope} ({e})"
            else:
                reason = f"ARM refused the assignment: {e}"
            out.refused += [Refusal(reason, t) for t in c.tags]
            return
        if created:
            out.changes.append(c.describe())
            return
        mine = await self.arm.get_assignment(c.scope, name)
        if mine is None or not is_ours(app_id, mine):
            out.notes.append(f"{c.role.name} on {c.scope} (tag {tag}) is already granted by an "
                             "assignment aca-warden did not make; left alone")

    # -- cleanup ---------------------------------------------------------------
    async def owned(self, app_id: str, notes: list[str] | None = None) -> list[Assignment]:
        """Every assignment that aca-warden made for the app, in the app's
        subscription and in every other one the policy names (subscriptions_for).

        Delete events carry neither tags nor principal, so this reads each such
        subscription's whole list. Cleanups that run at the same time share one
        read per subscription (a burst of deletes costs one listing, not one
        each); a listing is never reused once finished, so a later cleanup always
        sees the current state. A subscription other than the app's own that
        cannot be listed for good (403, 404) is skipped with a note in ``notes``.
        """
        subs = self.subscriptions_for(app_id)
        results = await asyncio.gather(*(self._list_subscription(s) for s in subs),
                                       return_exceptions=True)
        out: dict[str, Assignment] = {}
        for i, (s, r) in enumerate(zip(subs, results, strict=True)):
            if isinstance(r, Permanent) and i > 0:
                if notes is not None:
                    notes.append(_unlisted(s, r))
                continue
            if isinstance(r, BaseException):
                raise r
            for a in r:
                if is_ours(app_id, a):
                    out.setdefault(a.id.lower(), a)
        return list(out.values())

    async def _list_subscription(self, sub: str) -> list[Assignment]:
        task = self._list_tasks.get(sub)
        if task is None:
            task = asyncio.ensure_future(self.arm.list_assignments(f"/subscriptions/{sub}"))
            self._list_tasks[sub] = task
            task.add_done_callback(lambda _t: self._list_tasks.pop(sub, None))
        return await asyncio.shield(task)

    async def revoke(self, assignments: list[Assignment], *, dry_run: bool) -> list[str]:
        changes = []
        for a in assignments:
            if not dry_run:
                await self.arm.delete_assignment(a)
            role = await self.role_name(subscription_of(a.scope) or "", a.role_guid)
            changes.append(f"revoke {role} on {a.scope}")
        return changes


def _unlisted(sub: str, error: Exception) -> str:
    log.warning("cannot list role assignments in subscription %s: %s", sub, error)
    return (f"could not list role assignments in subscription {sub} ({error}); "
            "grants aca-warden made there, if any, were not checked")
