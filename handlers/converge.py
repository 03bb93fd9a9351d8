"""One convergence of one workload: observe -> plan -> apply -> verdict.

:class:`Core` is the pipeline every entry point runs — an event's workload,
``plan APP_ID``, each workload of the sweep — so they cannot disagree::

    snapshot = observer.observe(app)        # handlers.observe: reads, shared caches
    plan = make_plan(snapshot, policy)      # handlers.plan: pure
    applied = applier.apply(plan)           # handlers.apply: the only writes
    verdict(plan, applied)                  # handlers.report: frozen

A dry run is the same without the apply. A cleanup (the workload is gone)
confirms the 404 right before it revokes; a workload that exists again
(deleted and re-created under the same name) is converged as it is now, which
revokes only the old principal's grants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.apply import Applied, Applier
from handlers.armapi import ArmApi
from handlers.ids import ArmId
from handlers.model import AssignmentIndex
from handlers.observe import Observer
from handlers.plan import Plan, make_plan
from handlers.policy import Policy
from handlers.report import Verdict, verdict

__all__ = ["UNREAD", "Core"]

UNREAD: Any = object()  # the caller has not read the workload: observe reads it
_NOTHING = Applied()  # what applying an empty plan writes


class Core:
    """The converge pipeline for one policy, with the process's shared look-ups."""

    def __init__(self, policy: Policy, arm: ArmApi) -> None:
        self.policy = policy
        self.arm = arm
        self.observer = Observer(policy, arm)
        self.applier = Applier(arm)

    async def plan(self, app: ArmId, *, not_before: float | None = None,
                   body: dict[str, Any] | None = UNREAD,
                   given: Mapping[str, AssignmentIndex] | None = None,
                   verify_scopes: bool = False) -> Plan:
        """Observe ``app`` and plan it (a cleanup re-reads the workload first)."""
        kw: dict[str, Any] = {"given": given, "not_before": not_before,
                              "verify_scopes": verify_scopes}
        if body is not UNREAD:
            kw["body"] = body
        plan = make_plan(await self.observer.observe(app, **kw), self.policy)
        if plan.action == "cleanup" and plan.revokes:
            again = await self.arm.get_app(app)  # confirm the 404 right before revoking
            if again is not None:  # re-created meanwhile: converge it as it is now
                kw["body"] = again
                plan = make_plan(await self.observer.observe(app, **kw), self.policy)
        return plan

    async def converge(self, app: ArmId, *, dry_run: bool, not_before: float | None = None,
                       body: dict[str, Any] | None = UNREAD,
                       given: Mapping[str, AssignmentIndex] | None = None) -> Verdict:
        """Plan ``app`` and, unless `dry_run`, apply the plan."""
        plan = await self.plan(app, not_before=not_before, body=body, given=given,
                               verify_scopes=dry_run)
        if dry_run or plan.action == "ignore" or plan.empty:
            return verdict(plan, None if dry_run else _NOTHING)
        applied = await self.applier.apply(plan)
        for ident in applied.created_identities:
            self.observer.identity_created(ident)
        return verdict(plan, applied)

