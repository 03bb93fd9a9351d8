"""``plan --policy FILE``: what switching to another policy would change, changing nothing.

Each workload is read once (the survey's listing, or one GET for ``plan APP_ID
--policy``) and observed and planned twice with the same pure planner: once
under the policy in force, once under the candidate (each with its own
observer, since the policy decides what is read: the grant-tag prefix, the
standard identities, the subscriptions ``allowed_scopes`` names). The effect of
switching is the difference of the two plans (:func:`effect`):

* **revoked**: assignments aca-warden made that the candidate revokes and the
  policy in force keeps;
* **newly refused**: grant-tag items and standard identities the candidate
  refuses and the policy in force does not;
* **newly granted**: grants the candidate writes and the policy in force does not
  (a grant both would write is pending either way, not an effect of switching);
* **newly attached**: standard identities the candidate attaches;
* and whether the workload is managed at all (``apps.resource_groups``, the
  opt-out tag), before and after.

Scopes are checked for existence as a dry run checks them; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handlers.grants import Refusal
from handlers.ids import ArmId
from handlers.plan import Plan, outside_resource_groups
from handlers.policy import Policy

__all__ = ["Effect", "effect", "render", "summary"]


@dataclass(frozen=True)
class Effect:
    """What switching policies changes for one workload (empty: nothing)."""

    app: ArmId
    revoked: tuple[str, ...] = ()
    newly_refused: tuple[Refusal, ...] = ()
    newly_granted: tuple[str, ...] = ()
    newly_attached: tuple[str, ...] = ()
    managed_before: bool = True
    managed_after: bool = True
    unmanaged_reason: str | None = None

    @property
    def empty(self) -> bool:
        return (not (self.revoked or self.newly_refused or self.newly_granted
                     or self.newly_attached)
                and self.managed_before == self.managed_after)

    def to_json(self) -> dict[str, Any]:
        return {"app": str(self.app), "revoked": list(self.revoked),
                "newly_refused": [r.to_json() for r in self.newly_refused],
                "newly_granted": list(self.newly_granted),
                "newly_attached": list(self.newly_attached),
                "managed": {"before": self.managed_before, "after": self.managed_after},
                "unmanaged_reason": self.unmanaged_reason}


def _managed(plan: Plan, policy: Policy) -> tuple[bool, str | None]:
    why = outside_resource_groups(plan.app, policy)
    if why is None and plan.action == "ignore":
        why = plan.reason
    return why is None, why


def _refusal_key(r: Refusal) -> tuple[str, str, int | None]:
    return (("identity", (r.identity or "").lower(), None) if r.identity is not None
            else ("tag", (r.tag or "").lower(), r.item))


def effect(before: Plan, now: Policy, after: Plan, candidate: Policy) -> Effect:
    """The difference between the plans of one workload under two policies (pure)."""
    was, _ = _managed(before, now)
    will, why = _managed(after, candidate)
    if not will:
        return Effect(after.app, managed_before=was, managed_after=False, unmanaged_reason=why)
    old = before if was else Plan(before.app, "ignore")
    old_revokes = {r.assignment.id.lower() for r in old.revokes}
    old_refused = {_refusal_key(r) for r in old.refusals}
    old_grants = {g.key for g in old.grants}
    old_attach = {i.lower() for i in old.attach}
    return Effect(
        after.app,
        revoked=tuple(f"{r.role_name} on {r.assignment.scope}" for r in after.revokes
                      if r.assignment.id.lower() not in old_revokes),
        newly_refused=tuple(r for r in after.refusals if _refusal_key(r) not in old_refused),
        newly_granted=tuple(f"{g.role.name} on {g.scope} (tag {', '.join(g.tags)})"
                            for g in after.grants if g.key not in old_grants),
        newly_attached=tuple(i for i in after.attach if i.lower() not in old_attach),
        managed_before=was, managed_after=True)


def summary(effects: Iterable[Effect], total: int) -> str:
    """One line: how many workloads change, and how."""
    changed = [e for e in effects if not e.empty]
    counts = (sum(len(e.revoked) for e in changed), sum(len(e.newly_refused) for e in changed),
              sum(len(e.newly_granted) for e in changed),
              sum(len(e.newly_attached) for e in changed))
    unmanaged = sum(1 for e in changed if e.managed_before and not e.managed_after)
    managed = sum(1 for e in changed if e.managed_after and not e.managed_before)
    text = (f"{len(changed)} of {total} workload(s) would change: {counts[0]} grant(s) revoked, "
            f"{counts[1]} newly refused, {counts[2]} newly granted, "
            f"{counts[3]} standard identit{'y' if counts[3] == 1 else 'ies'} newly attached")
    if managed or unmanaged:
        text += f"; {managed} newly managed, {unmanaged} no longer managed"
    return text


def render(e: Effect) -> str:
    """The effect on one workload, for people."""
    lines = [str(e.app)]
    if not e.managed_after:
        lines.append(f"  no longer managed  {e.unmanaged_reason} (its grants are left as "
                     "they are)")
    elif not e.managed_before:
        lines.append("  newly managed")
    lines += [f"  revoked            {r}" for r in e.revoked]
    for r in e.newly_refused:
        what = f"tag {r.tag}" if r.tag is not None else f"identity {r.identity}"
        lines.append(f"  newly refused      {what}: {r.reason}")
    lines += [f"  newly granted      {g}" for g in e.newly_granted]
    lines += [f"  newly attached     identity {i}" for i in e.newly_attached]
    return "\n".join(lines) + "\n"
