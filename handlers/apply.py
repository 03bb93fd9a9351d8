"""Apply: the only place that writes to ARM.

:meth:`Applier.apply` carries out one :class:`~handlers.plan.Plan`, in this
order:

1. create the missing standard identities it names (one PUT per identity per
   process, however many workloads need it at once: a shared look-up that
   keeps its success);
2. ONE identity PATCH carrying the full desired map (system-assigned on, every
   identity kept, the standard ones added). The PATCH is not waited for: the
   principal comes from ARM's answer or, when ARM accepts it with no body
   (202), from one GET of the workload right after. An identity operation
   that fails later comes back as a ``ResourceWriteFailure`` event;
3. the role-assignment PUTs for the system principal (deterministic names and
   ``principalType: ServicePrincipal``, so a repeat is harmless and a new
   principal needs no replication wait);
4. the revokes.

A standard identity that cannot be created (its resource group missing, no
permission) or attached (403 ``LinkedAuthorizationFailed``: no
``.../assign/action`` on it) is refused in the result and the rest goes on;
so is a grant ARM refuses for good (403, 404, ``RoleAssignmentLimitExceeded``).
Transient failures propagate: the event is delivered again, and every step is
idempotent. Apply reads nothing but that one GET, and decides nothing the plan
did not.

A ``release`` plan is written the other way round (:meth:`Applier.release`):
every revoke first, and only when all of them are done ONE PATCH of the
workload that sets the opt-out tag and detaches the standard identities; a
revoke that fails leaves the workload untagged, still managed, and names what
failed. (handlers.ops.release then re-reads aca-warden's assignments once, for
what a convergence granted meanwhile, and revokes them through
:meth:`Applier.revoke`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from handlers.armapi import ArmApi
from handlers.errors import ArmError, Permanent, Transient
from handlers.flight import Shared, gather_all, gather_settled
from handlers.grants import Refusal
from handlers.ids import ArmId
from handlers.model import assignment_name, description_for, role_definition_id
from handlers.plan import Grant, Plan, Revoke

__all__ = ["Applied", "Applier"]

_LINKED = "linkedauthorizationfailed"


@dataclass(frozen=True)
class Applied:
    """What applying one plan wrote, and what ARM refused on the way."""

    changes: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()
    created_identities: tuple[str, ...] = ()


class Applier:
    """Writes plans; shares identity creation between concurrent workloads."""

    def __init__(self, arm: ArmApi) -> None:
        self.arm = arm
        self._creations: Shared[str, None] = Shared(math.inf)  # success is kept for good

    async def apply(self, plan: Plan) -> Applied:
        if plan.action == "release":
            return await self.release(plan)
        changes: list[str] = []
        refusals: list[Refusal] = []
        notes: list[str] = []
        created = await self._create_identities(plan, changes, refusals)
        failed = {r.identity.lower() for r in refusals if r.identity}
        principal = plan.principal
        if plan.identity_patch(failed) is not None:
            principal, attach = await self._patch_identity(plan, failed, refusals)
            if plan.enable_system:
                changes.append("enable system-assigned identity")
            changes += [f"attach identity {i}" for i in attach]
        if plan.grants:
            if not principal:
                raise Transient(f"{plan.app}: system-assigned principal not visible yet")
            for change, refused, note in await gather_all(
                    self._grant(plan.app, principal, g) for g in plan.grants):
                changes += change  # in the plan's order, whatever order ARM answered in
                refusals += refused
                notes += note
        for r in plan.revokes:
            if r.unless_current and r.assignment.principal_id.lower() == principal:
                continue  # the principal the PATCH left: still the workload's, still wanted
            await self.arm.delete_assignment(r.assignment)
            changes.append(r.describe())
        return Applied(tuple(changes), tuple(refusals), tuple(notes), tuple(created))

    # -- release -----------------------------------------------------------------------
    async def release(self, plan: Plan) -> Applied:
        """Release's writes: every revoke, then (only when all of them are done) the ONE
        PATCH that sets the opt-out tag and detaches the standard identities."""
        changes = list(await self.revoke(plan.app, plan.revokes))
        if plan.release_patch is not None:
            try:
                await self.arm.patch_app(plan.app, plan.release_patch)
            except ArmError as e:  # say what was revoked before it
                done = f" ({'; '.join(changes)} done before)" if changes else ""
                raise type(e)(f"{plan.app}: {', '.join(plan.release_changes())} failed: "
                              f"{e}{done}", status=e.status, code=e.code) from e
            changes += plan.release_changes()
        return Applied(tuple(changes))

    async def revoke(self, app: ArmId, revokes: tuple[Revoke, ...]) -> tuple[str, ...]:
        """Delete `revokes` (at once): what was revoked, one string each. When any of them
        fails, the error raised (transient when any failure is) names every failure and
        what was revoked nevertheless."""
        results = await gather_settled(
            (self.arm.delete_assignment(r.assignment) for r in revokes), ArmError)
        failures = [(r, e) for r, e in zip(revokes, results, strict=True)
                    if isinstance(e, ArmError)]
        done = tuple(r.describe() for r, e in zip(revokes, results, strict=True)
                     if not isinstance(e, ArmError))
        if not failures:
            return done
        what = "; ".join(f"could not {r.describe()} ({e})" for r, e in failures)
        text = (f"{app}: {what}; {len(done)} of {len(revokes)} revoked"
                + (f" ({', '.join(done)})" if done else ""))
        first = next((e for _, e in failures if isinstance(e, Transient)), failures[0][1])
        raise type(first)(text, status=first.status, code=first.code)

    # -- identities ------------------------------------------------------------------
    async def _create_identities(self, plan: Plan, changes: list[str],
                                 refusals: list[Refusal]) -> list[str]:
        location = plan.location or ""

        def create(ident: str) -> Any:
            async def put() -> None:
                await self.arm.create_identity(ArmId.parse(ident), location)
            return self._creations.get(ident.lower(), put)

        results = await gather_settled((create(i) for i in plan.create_identities), Permanent)
        done: list[str] = []
        for ident, r in zip(plan.create_identities, results, strict=True):
            if isinstance(r, Permanent):
                refusals.append(Refusal(f"the standard identity could not be created: {r}",
                                        identity=ident))
            else:
                done.append(ident)
                changes.append(f"create identity {ident}")
        return done

    async def _patch_identity(self, plan: Plan, failed: set[str],
                              refusals: list[Refusal]) -> tuple[str | None, tuple[str, ...]]:
        """The plan's identity PATCH, leaving out the identities in `failed` (lower-case)
        and those ARM says aca-warden may not attach: (the system principal after the
        PATCH, the identities attached)."""
        left_out = set(failed)
        while True:
            body = plan.identity_patch(left_out)
            if body is None:  # every identity to attach was denied, and nothing else changes
                return plan.principal, ()
            attach = tuple(i for i in plan.attach if i.lower() not in left_out)
            try:
                answer = await self.arm.patch_app(plan.app, body)
                break
            except Permanent as e:
                denied = _linked_denials(e, attach)
                if not denied:
                    raise
                refusals += [Refusal(f"aca-warden may not attach this identity ({e})",
                                     identity=i) for i in denied]
                left_out.update(i.lower() for i in denied)
        if not plan.system:
            return None, attach
        principal = _principal(answer) or (None if plan.enable_system else plan.principal)
        if principal is None:  # a new principal, accepted with no body: one GET shows it
            principal = _principal(await self.arm.get_app(plan.app))
        return principal, attach

    # -- grants ----------------------------------------------------------------------
    async def _grant(self, app: ArmId, principal: str, g: Grant
                     ) -> tuple[list[str], list[Refusal], list[str]]:
        """One PUT: (the change made, refusals, notes)."""
        name = assignment_name(app, principal, g.role.guid, g.scope)
        scope = ArmId.try_parse(g.scope)
        role_id = role_definition_id(scope.subscription if scope else None, g.role.guid)
        try:
            created = await self.arm.create_assignment(g.scope, name, role_id, principal,
                                                       description_for(app))
        except Permanent as e:
            if e.status == 404:
                reason = f"scope {g.scope} does not exist"
            elif e.status == 403:
                reason = f"aca-warden may not assign roles at {g.scope} ({e})"
            else:
                reason = f"ARM refused the assignment: {e}"
            return [], [Refusal(reason, t) for t in g.tags], []
        if created:
            return [g.describe()], [], []
        return [], [], [f"{g.role.name} on {g.scope} (tag {', '.join(g.tags)}) is already "
                        "granted by an assignment aca-warden did not make; left alone"]


def _principal(app: dict[str, Any] | None) -> str | None:
    principal = ((app or {}).get("identity") or {}).get("principalId")
    return str(principal).lower() if principal else None


def _linked_denials(e: Permanent, attach: tuple[str, ...]) -> tuple[str, ...]:
    """The identities a 403 LinkedAuthorizationFailed names (all of `attach` when it names
    none of them); () for any other failure."""
    if e.status != 403 or (e.code or "").lower() != _LINKED or not attach:
        return ()
    text = str(e).lower()
    named = tuple(i for i in attach if i.lower() in text)
    return named or attach
