"""``release``: offboard workloads from aca-warden, removing only what it made.

For each workload (one id, every workload of a resource group, or of whole
subscriptions) the planner's :func:`handlers.plan.release_plan` decides, from
one snapshot read past the opt-out tag:

* revoke every role assignment aca-warden made for the workload (its ownership
  marks: description AND deterministic name), whatever principal holds it, and
  nothing else: an assignment a person made, even for the same role and scope,
  is left alone and listed as such;
* with ``--detach-identities``, take off the standard identities the policy
  would attach (and only those: other user-assigned identities and the
  system-assigned identity stay);
* set the opt-out tag (``apps.opt_out_tag`` = ``"true"``) so that aca-warden
  leaves the workload alone from then on.

Without ``--yes`` that is all: shown, nothing written. With it, in the order the
contract words it (handlers.apply.Applier.release writes it):

1. revoke aca-warden's assignments (at once). When any revoke fails (403,
   transient), nothing more is written: the workload is NOT tagged, so it stays
   managed, and the verdict names what failed (``retry``: exit 75; ``refused``:
   exit 1); running release again finishes it;
2. ONE PATCH of the workload: a JSON merge patch carrying only the opt-out tag
   and the detached identities, so nothing else on the workload changes and no
   revision is made. It needs ``Microsoft.App/containerApps/write``
   (``jobs/write``), which the service's identity holds, not the Tags API's
   ``Microsoft.Resources/tags/write``, which it does not: the merge patch
   changes exactly what a Tags API merge would;
3. re-read aca-warden's assignments for the workload once (fresh listings) and
   revoke any that a convergence granted between the snapshot and the tag (it
   read the workload before it was opted out); from the tag on, every
   convergence finds the workload opted out and grants nothing. Releasing many
   workloads (``--resource-group``, ``--subscription``), :func:`settle` does
   this re-read once for all of them, after the last tag: one fresh listing per
   subscription, not one per workload.

The PATCH's event (a workload write) is harmless: the service ignores its own
writes without reading anything, and a write by anybody else finds the workload
opted out. A workload that is gone only has its grants revoked, once one more read
right before confirms it is gone (404), as every cleanup does; one that exists again
is released as it is. Every step is idempotent: running release again finishes an
interrupted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from handlers.apply import Applied
from handlers.converge import UNREAD, Core
from handlers.errors import ArmError
from handlers.flight import gather_all
from handlers.ids import ArmId
from handlers.model import Assignment, AssignmentIndex, role_name
from handlers.plan import Plan, Revoke, release_plan
from handlers.report import PLANNED, Verdict, failed, verdict

__all__ = ["Released", "release", "render", "settle", "summary"]

_NOTHING = Applied()


@dataclass(frozen=True)
class Released:
    """One workload's release: its plan, what came of it, and what was left alone."""

    plan: Plan | None  # None: it could not even be read (see verdict.error)
    verdict: Verdict
    left_alone: tuple[tuple[Assignment, str], ...] = ()  # (a person's assignment, role)
    # tagged opted out just now, the re-read still to do (release(settle=False)): what
    # was written so far
    unsettled: Applied | None = None


async def release(core: Core, app: ArmId, *, yes: bool, detach_identities: bool,
                  body: dict[str, Any] | None = UNREAD,
                  given: dict[str, AssignmentIndex] | None = None,
                  settle: bool = True) -> Released:
    """Plan (and with `yes`, apply) the release of one workload; failures are verdicts.

    `body`: the workload's JSON when a survey listed it (None: known gone); not given:
    it is read. `settle` False: the re-read after the tag is left to :func:`settle`, which
    does it once for many workloads."""
    observer = core.observer
    pending: Applied | None = None
    try:
        kw: dict[str, Any] = {"given": given, "past_opt_out": True}
        if body is not UNREAD:
            kw["body"] = body
        snap = await observer.observe(app, **kw)
        plan = release_plan(snap, core.policy, detach_identities=detach_identities)
        if yes and plan.action == "cleanup" and plan.revokes:
            again = await core.arm.get_app(app)  # confirm the 404 right before revoking
            if again is not None:  # (re-)created since it was listed: release it as it is
                snap = await observer.observe(app, **{**kw, "body": again})
                plan = release_plan(snap, core.policy, detach_identities=detach_identities)
        if not yes:
            v = verdict(plan, None)
        elif plan.empty:
            v = verdict(plan, _NOTHING)
        else:
            applied = await core.applier.apply(plan)
            if plan.opt_out is not None and settle:  # just tagged: the re-read, now
                applied = await _revoke_late(core, plan, applied, observer.clock())
            elif plan.opt_out is not None:
                pending = applied
            v = verdict(plan, applied)
    except ArmError as e:
        return Released(None, failed(str(app), e))
    owned = {a.id.lower() for a in snap.owned}
    others = [a for a in snap.held if a.id.lower() not in owned]
    names = await observer.role_names(app.subscription or "", others)
    return Released(plan, v, tuple((a, role_name(names, a.role_guid)) for a in others), pending)


async def settle(core: Core, done: Sequence[Released]) -> list[Released]:
    """The re-read after the tag for every workload of `done` released with
    ``settle=False``, at once: their listings are read fresh once per subscription (shared
    look-ups started after the last tag), not once per workload."""
    not_before = core.observer.clock()

    async def one(r: Released) -> Released:
        if r.unsettled is None or r.plan is None:
            return r
        try:
            applied = await _revoke_late(core, r.plan, r.unsettled, not_before)
        except ArmError as e:
            return replace(r, verdict=failed(str(r.plan.app), e), unsettled=None)
        return replace(r, verdict=verdict(r.plan, applied), unsettled=None)

    return list(await gather_all(one(r) for r in done))


async def _revoke_late(core: Core, plan: Plan, applied: Applied, not_before: float) -> Applied:
    """Re-read aca-warden's assignments for the just-tagged workload once (listings started
    at `not_before` or later) and revoke those a convergence granted after the snapshot (it
    had read the workload untagged)."""
    owned, names = await core.observer.owned(plan.app, not_before=not_before)
    # (a grant made again has the deterministic name of the one revoked: ids do not tell
    # them apart, and revoking one already gone is harmless)
    late = tuple(Revoke(a, names.get(a.role_guid, a.role_guid)) for a in owned)
    if not late:
        return applied
    return replace(applied, changes=applied.changes + await core.applier.revoke(plan.app, late))


def render(r: Released, *, yes: bool) -> str:
    """One workload's release, for people."""
    v = r.verdict
    lines = [str(v.app)]
    if v.result in ("retry", "refused"):
        lines.append(f"  FAILED: {v.error}" + ("  (transient: run release again)"
                                              if v.result == "retry" else ""))
        return "\n".join(lines) + "\n"
    assert r.plan is not None
    if r.plan.action == "cleanup":
        lines.append("  the workload is gone: only its grants are revoked")
    for change in v.changes:
        lines.append(f"  would {change.removeprefix(PLANNED)}" if not yes else f"  done: {change}")
    if not v.changes:
        lines.append("  nothing to do: aca-warden holds no assignment for it"
                     + (" and it is opted out already" if r.plan.action == "release" else ""))
    for a, role in r.left_alone:
        lines.append(f"  left alone: {role} on {a.scope} (assignment {a.name}, not made by "
                     "aca-warden)")
    return "\n".join(lines) + "\n"


def summary(done: Iterable[Released], *, yes: bool) -> str:
    """One line: what release did (or would do) in all."""
    done = list(done)
    plans = [r.plan for r in done if r.plan is not None and r.verdict.result not in
             ("retry", "refused")]
    revokes = sum(len(p.revokes) for p in plans)
    detached = sum(len(p.detach) for p in plans)
    tagged = sum(1 for p in plans if p.opt_out is not None)
    alone = sum(len(r.left_alone) for r in done)
    failures = sum(1 for r in done if r.verdict.result in ("retry", "refused"))
    verb = "" if yes else "to be "
    text = (f"{len(done)} workload(s): {revokes} assignment(s) {verb}revoked, {detached} "
            f"identit{'y' if detached == 1 else 'ies'} {verb}detached, {tagged} {verb}tagged "
            f"opted out; {alone} assignment(s) aca-warden did not make left alone")
    if failures:
        text += f"; {failures} failed"
    if not yes:
        text += "; dry run: nothing written (add --yes to do it)"
    return text
