"""Observe: one read of everything a decision about one workload needs -> a frozen Snapshot.

:class:`Observer` reads, through caches shared by every event of the process
(handlers.flight.Shared: concurrent look-ups of one key share one request):

* the workload itself (never cached: an event is a pointer, the state is read);
* whether each standard identity exists (an hour when it does, a minute when not);
* each grant's role definition, classified by the privilege floor (five
  minutes; "unknown" never: a role may be created any moment);
* every role assignment of the workload's subscription and of every other one
  the policy names (:class:`~handlers.model.AssignmentIndex`): aca-warden's
  own for this workload, whatever principal they hold (principal rotation and
  cleanup need them), and every one of its current principal. One listing
  serves every workload converged at the same time: a caller passes
  ``not_before`` (when it took the workload's lock), and a listing that
  started earlier is never reused for it, so a later event always sees the
  writes of the earlier ones. A finished listing is kept only briefly.

An opted-out workload stops the read after the workload itself (unless the
caller asks past it: ``explain``, ``inventory`` and ``release`` show what
aca-warden still holds for it). :meth:`Observer.survey` reads a whole
subscription at once: every workload, the role-assignment listings and the
workloads aca-warden holds grants for that are gone (the sweep, ``plan --all``,
``inventory``, ``release --subscription``). A
subscription other than the workload's own that cannot be listed for good
(403, 404) is skipped with a note; a role or a standard identity that cannot
be read for good refuses that grant or that identity only; every other
failure propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.armapi import ArmApi
from handlers.errors import ArmError, Permanent
from handlers.flight import Shared, gather_all, gather_settled
from handlers.grants import Refusal, classify_role, parse_grant_tags
from handlers.ids import WORKLOAD_TYPES, ArmId, workload_id
from handlers.model import AppState, Assignment, AssignmentIndex, RoleInfo, app_state
from handlers.plan import ResolvedGrant, Snapshot, opted_out
from handlers.policy import Policy, expand, named_subscriptions

__all__ = [
    "IDENTITY_TTL_S",
    "LISTING_TTL_S",
    "MISSING_IDENTITY_TTL_S",
    "ROLE_TTL_S",
    "Observer",
    "Survey",
]

log = logging.getLogger("aca_warden")

ROLE_TTL_S = 300.0
IDENTITY_TTL_S = 3600.0
MISSING_IDENTITY_TTL_S = 60.0
LISTING_TTL_S = 30.0

_UNREAD: Any = object()  # "the caller did not read the workload for us"


@dataclass(frozen=True)
class Survey:
    """One subscription read at once (:meth:`Observer.survey`)."""

    subscription: str
    listed: Mapping[ArmId, dict[str, Any]]  # every workload of every type -> its JSON
    given: Mapping[str, AssignmentIndex]  # role-assignment listings, by subscription
    gone: tuple[ArmId, ...]  # workloads of this subscription aca-warden holds grants for
    notes: tuple[str, ...] = ()


class Observer:
    """Reads snapshots for one policy, with the process's shared look-ups."""

    def __init__(self, policy: Policy, arm: ArmApi, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.arm = arm
        self.clock = clock
        self._roles: Shared[tuple[str, str], RoleInfo | None] = Shared(
            lambda info: ROLE_TTL_S if info is not None else None, clock=clock)
        self._identities: Shared[str, bool] = Shared(
            lambda exists: IDENTITY_TTL_S if exists else MISSING_IDENTITY_TTL_S, clock=clock)
        self._listings: Shared[str, AssignmentIndex] = Shared(LISTING_TTL_S, clock=clock)
        # subscriptions that grants.allowed_scopes names literally: grants may lie there
        self.named_subscriptions: tuple[str, ...] = named_subscriptions(policy.allowed_scopes)

    def subscriptions_for(self, app: ArmId) -> list[str]:
        """Where aca-warden may have made grants for ``app``: its own subscription first,
        then every other one the policy names."""
        own = app.subscription or ""
        return [own] + [s for s in self.named_subscriptions if s != own]

    # -- shared look-ups ------------------------------------------------------------
    async def role(self, subscription: str, role: str) -> RoleInfo | None:
        """A role definition by name, GUID or id, classified; None when there is none."""
        key = (subscription.lower(), role.lower())

        async def fetch() -> RoleInfo | None:
            d = await self.arm.find_role(subscription, role)
            if d is None:
                return None
            level = classify_role(d.get("permissions") or [])
            info = RoleInfo(guid=str(d["name"]).lower(), name=d.get("roleName") or d["name"],
                            id=d["id"], level=level.level, why=level.why)
            for alias in {info.guid, info.name.lower()} - {key[1]}:
                self._roles.put((key[0], alias), info, ROLE_TTL_S)
            return info

        return await self._roles.get(key, fetch)

    async def role_name(self, subscription: str, guid: str) -> str:
        """A role's display name for reports (its GUID when it cannot be read)."""
        try:
            info = await self.role(subscription, guid)
        except ArmError:
            info = None
        return info.name if info else guid

    async def identity_exists(self, identity: str) -> bool:
        async def fetch() -> bool:
            return await self.arm.get_identity(ArmId.parse(identity)) is not None

        return await self._identities.get(identity.lower(), fetch)

    def identity_created(self, identity: str) -> None:
        """What apply just established: the identity exists now."""
        self._identities.put(identity.lower(), True, IDENTITY_TTL_S)

    async def listing(self, subscription: str, not_before: float | None) -> AssignmentIndex:
        """Every role assignment of a subscription, indexed (shared; see the module doc)."""
        async def fetch() -> AssignmentIndex:
            return AssignmentIndex(
                await self.arm.list_assignments(f"/subscriptions/{subscription}"))

        return await self._listings.get(subscription.lower(), fetch, not_before=not_before)

    async def listings(self, subscriptions: Iterable[str], not_before: float | None,
                       given: Mapping[str, AssignmentIndex] | None = None
                       ) -> tuple[dict[str, AssignmentIndex], list[str]]:
        """The listings of `subscriptions` (the first one must be readable) and notes for
        the others that cannot be read for good; `given` ones are used as they are."""
        subs = list(subscriptions)
        given = given or {}
        got = await gather_settled(
            (self._given_or_listed(s, given, not_before) for s in subs), Permanent)
        out: dict[str, AssignmentIndex] = {}
        notes: list[str] = []
        for i, (s, r) in enumerate(zip(subs, got, strict=True)):
            if isinstance(r, Permanent):
                if i == 0:
                    raise r
                notes.append(unlisted(s, r))
            else:
                out[s] = r
        return out, notes

    async def _given_or_listed(self, sub: str, given: Mapping[str, AssignmentIndex],
                               not_before: float | None) -> AssignmentIndex:
        return given[sub] if sub in given else await self.listing(sub, not_before)

    async def survey(self, subscription: str, not_before: float | None) -> Survey:
        """Every workload of `subscription` and the role assignments of it and of every
        subscription the policy names (two requests per subscription and type in the
        steady state); the workloads it lists are observed from this, with no read each."""
        sub = subscription.lower()
        lists = await gather_all(self.arm.list_apps(sub, w) for w in WORKLOAD_TYPES)
        subs = [sub] + [s for s in self.named_subscriptions if s != sub]
        given, notes = await self.listings(subs, not_before)
        listed: dict[ArmId, dict[str, Any]] = {}
        for body in (b for chunk in lists for b in chunk):
            app = workload_id(body.get("id"))
            if app is not None:
                listed[app] = body
        gone = {owner for index in given.values() for owner in index.owners()
                if owner.subscription == sub and owner not in listed}
        return Survey(sub, listed, given, tuple(sorted(gone, key=str)), tuple(notes))

    # -- the snapshot -------------------------------------------------------------
    async def observe(self, app: ArmId, *, body: dict[str, Any] | None = _UNREAD,
                      given: Mapping[str, AssignmentIndex] | None = None,
                      not_before: float | None = None, verify_scopes: bool = False,
                      past_opt_out: bool = False) -> Snapshot:
        """Read everything a decision about ``app`` needs.

        ``body``: the workload's JSON when the caller has it (the sweep's list; None:
        known gone); ``given``: listings the caller holds (subscription -> index);
        ``not_before``: the oldest start a shared listing may have; ``verify_scopes``:
        check that each grant's scope exists (a dry run, which cannot learn it from PUT);
        ``past_opt_out``: read an opted-out workload whole all the same (it is still
        planned as left alone).
        """
        if body is _UNREAD:
            body = await self.arm.get_app(app)
        sub = app.subscription or ""
        if body is None:
            indexes, notes = await self.listings(self.subscriptions_for(app), not_before, given)
            owned = _owned(app, indexes.values())
            names = await self.role_names(sub, owned)
            return Snapshot(app, None, owned=owned, role_names=names, notes=tuple(notes))
        state = app_state(app, body)
        if not past_opt_out and opted_out(state.tags, self.policy) is not None:
            return Snapshot(app, state)
        idents = [expand(t, str(app), state.location) for t in self.policy.standard_identities]
        requests, refusals = parse_grant_tags(state.tags, self.policy, str(app), state.location)
        exists, looked, (indexes, notes) = await asyncio.gather(
            gather_settled((self.identity_exists(i) for i in idents), Permanent),
            gather_settled((self.role(sub, r.role) for r in requests), Permanent),
            self.listings(self.subscriptions_for(app), not_before, given))
        identities: dict[str, bool] = {}
        attached = {k.lower() for k in state.user_assigned}
        for ident, found in zip(idents, exists, strict=True):
            if not isinstance(found, Permanent):
                identities[ident] = found
            elif ident.lower() not in attached:  # e.g. 403 reading it: this identity only
                refusals.append(Refusal(f"cannot read the standard identity: {found}",
                                        identity=ident))
        grants: list[ResolvedGrant] = []
        for r, info in zip(requests, looked, strict=True):
            if isinstance(info, Permanent):  # e.g. 403 reading it: this grant only
                refusals.append(Refusal(f"cannot read role '{r.role}': {info}", r.tag,
                                        rule="role", item=r.item))
            else:
                grants.append(ResolvedGrant(r, info))
        owned = _owned(app, indexes.values())
        held = _held(state, indexes.values())
        known = {g.role.guid: g.role.name for g in grants if g.role is not None}
        missing = await self._missing_scopes(grants, held) if verify_scopes else frozenset()
        return Snapshot(app, state, identities=identities,
                        grants=tuple(grants), grant_refusals=tuple(refusals), owned=owned,
                        held=held, missing_scopes=missing,
                        role_names=await self.role_names(sub, owned, known),
                        notes=tuple(notes))

    async def owned(self, app: ArmId, *, not_before: float | None
                    ) -> tuple[tuple[Assignment, ...], dict[str, str]]:
        """aca-warden's assignments for `app` (any principal) and their roles' names, from
        listings no older than `not_before`; the workload itself is not read."""
        indexes, _ = await self.listings(self.subscriptions_for(app), not_before)
        owned = _owned(app, indexes.values())
        return owned, await self.role_names(app.subscription or "", owned)

    async def role_names(self, subscription: str, assignments: Iterable[Assignment],
                         known: Mapping[str, str] | None = None) -> dict[str, str]:
        """Role GUID -> display name for the roles of `assignments`, and every one of `known`
        (those are not looked up again); read with handlers.model.role_name."""
        known = dict(known or {})
        guids = sorted({a.role_guid for a in assignments} - set(known))
        names = await asyncio.gather(*(self.role_name(subscription, g) for g in guids))
        return {**known, **dict(zip(guids, names, strict=True))}

    async def _missing_scopes(self, grants: Iterable[ResolvedGrant],
                              held: Iterable[Assignment]) -> frozenset[str]:
        have = {a.scope.lower() for a in held}
        scopes = {g.request.scope.lower(): g.request.scope for g in grants if g.role}
        check = [s for k, s in scopes.items() if k not in have]
        found = await asyncio.gather(*(self.arm.scope_exists(s) for s in check))
        return frozenset(s.lower() for s, ok in zip(check, found, strict=True) if not ok)


def _owned(app: ArmId, indexes: Iterable[AssignmentIndex]) -> tuple[Assignment, ...]:
    seen: dict[str, Assignment] = {}
    for index in indexes:
        for a in index.owned_by(app):
            seen.setdefault(a.id.lower(), a)
    return tuple(seen.values())


def _held(state: AppState, indexes: Iterable[AssignmentIndex]) -> tuple[Assignment, ...]:
    if not (state.system_identity and state.principal_id):
        return ()
    seen: dict[str, Assignment] = {}
    for index in indexes:
        for a in index.of_principal(state.principal_id):
            seen.setdefault(a.id.lower(), a)
    return tuple(seen.values())


def unlisted(sub: str, error: Exception) -> str:
    """The note for a subscription whose role assignments cannot be listed for good."""
    log.warning("cannot list role assignments in subscription %s: %s", sub, error)
    return (f"could not list role assignments in subscription {sub} ({error}); "
            "grants aca-warden made there, if any, were not checked")
