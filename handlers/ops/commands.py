"""The operator's commands as the command line runs them (handlers.cli dispatches here).

Results go to stdout (text for people, or JSON with ``--json``), progress and
errors to stderr. Exit codes: 0 did what was asked; 75 ARM failed transiently
(run it again); 2 usage: a malformed, missing or unreadable subscription (named;
the others are still processed), a workload that does not exist, a policy file
that cannot be used; 1 ARM refused something for good (e.g. no permission to
revoke) or an internal error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from handlers.converge import Core
from handlers.errors import Permanent, Transient
from handlers.ids import ArmId, workload_id
from handlers.observe import Survey
from handlers.ops import explain as explaining
from handlers.ops import inventory as inventories
from handlers.ops import preview, release
from handlers.ops.tenant import Progress, Subscriptions, subscriptions, unreadable, unswept
from handlers.plan import Plan
from handlers.policy import Policy, read_policy_file
from handlers.report import summary, tally
from handlers.review import review_policy
from handlers.warden import Warden, not_found

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_RETRY", "EXIT_USAGE", "Run", "run"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_RETRY = 0, 1, 2, 75
T = TypeVar("T")
A = TypeVar("A")
CONCURRENCY = 16  # workloads planned or released at once (ARM's pacing is the Arm's)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _json_line(obj: Any) -> None:
    _out(json.dumps(obj, default=str) + "\n")


class Run:
    """One command's bookkeeping: problems (exit 2), transient (75) and permanent (1)
    failures, each reported on stderr as it happens."""

    def __init__(self, command: str) -> None:
        self.progress = Progress(command)
        self.problems: list[str] = []
        self.transient = False
        self.failed = False

    def problem(self, text: str) -> None:
        self.problems.append(text)
        sys.stderr.write(f"error: {text}\n")

    def error(self, what: str, e: Exception) -> None:
        if isinstance(e, Transient):
            self.transient = True
            sys.stderr.write(f"error: {what}: {e} (transient: run the command again)\n")
        else:
            self.failed = True
            sys.stderr.write(f"error: {what}: {e}\n")

    async def subscriptions(self, warden: Warden, cli: list[str] | None) -> Subscriptions:
        subs = await subscriptions(warden.arm, cli)
        for p in subs.problems:
            self.problem(p)
        return subs

    async def survey(self, warden: Warden, sub: str, source: str) -> Survey | None:
        """The subscription's survey; None (reported) when it cannot be read."""
        self.progress.say(f"subscription {sub}: reading workloads and role assignments")
        try:
            survey = await warden.core.observer.survey(sub, not_before=time.monotonic())
        except Permanent as e:
            self.problem(unreadable(sub, source, e))
            return None
        except Transient as e:
            self.error(f"subscription {sub}", e)
            return None
        for note in survey.notes:
            self.progress.say(f"subscription {sub}: note: {note}")
        self.progress.say(f"subscription {sub}: {len(survey.listed)} workload(s), "
                          f"{len(survey.gone)} gone with grants left")
        return survey

    async def guard(self, what: str, work: Callable[[], Awaitable[T]]) -> T | None:
        """`work()`, or None when ARM failed (reported)."""
        try:
            return await work()
        except (Transient, Permanent) as e:
            self.error(what, e)
            return None

    async def each(self, items: Sequence[A], work: Callable[[A], Awaitable[T]]) -> list[T]:
        """`work(item)` for every item, a few at a time, with progress; in items' order."""
        sem = asyncio.Semaphore(CONCURRENCY)
        self.progress.expect(len(items))

        async def one(item: A) -> T:
            async with sem:
                result = await work(item)
            self.progress.tick()
            return result

        return list(await asyncio.gather(*(one(i) for i in items)))

    @property
    def exit_code(self) -> int:
        if self.problems:
            return EXIT_USAGE
        if self.transient:
            return EXIT_RETRY
        return EXIT_ERROR if self.failed else EXIT_OK


async def run(warden: Warden, args: argparse.Namespace) -> int:
    """Run the operator command `args` names; returns the exit code."""
    if args.command == "explain":
        return await _explain(warden, args)
    if args.command == "inventory":
        return await _inventory(warden, args)
    if args.command == "release":
        return await _release(warden, args)
    if getattr(args, "policy", None):
        return await _preview(warden, args)
    return await _plan_all(warden, args)


# -- explain ---------------------------------------------------------------------------


async def _explain(warden: Warden, args: argparse.Namespace) -> int:
    app = workload_id(args.app_id)
    assert app is not None  # checked by the parser's caller
    gathered = await explaining.gather(warden.core.observer, app)
    if gathered.snapshot.state is None and not gathered.snapshot.owned:
        sys.stderr.write(f"error: {not_found(app)}\n")
        return EXIT_USAGE
    e = explaining.explain(gathered, warden.policy)
    if args.json:
        _out(json.dumps(e.to_json(), indent=2) + "\n")
    else:
        _out(explaining.render(e))
    return EXIT_OK


# -- inventory -------------------------------------------------------------------------


async def _inventory(warden: Warden, args: argparse.Namespace) -> int:
    run_ = Run("inventory")
    subs = await run_.subscriptions(warden, args.subscriptions)
    totals = [0, 0, 0]
    for sub in subs.ids:
        survey = await run_.survey(warden, sub, subs.source)
        if survey is None:
            continue
        rows = await run_.guard(f"subscription {sub}", partial(
            inventories.rows_of, warden.core.observer, survey, run_.progress))
        if rows is None:
            continue
        n_assign = sum(len(r.assignments) for r in rows)
        n_orphans = sum(1 for r in rows if r.orphan)
        totals = [totals[0] + len(rows) - n_orphans, totals[1] + n_assign, totals[2] + n_orphans]
        if args.json:
            for row in rows:
                _json_line(row.to_json())
        else:
            _out(f"subscription {sub}: {len(rows) - n_orphans} workload(s), {n_assign} "
                 f"assignment(s) made by aca-warden, {n_orphans} orphan(s)\n")
            if rows:
                _out(inventories.render_table(rows))
            _out("\n")
    run_.progress.say(f"done: {totals[0]} workload(s), {totals[1]} assignment(s) made by "
                      f"aca-warden, {totals[2]} orphan(s) in {len(subs.ids)} subscription(s)")
    return run_.exit_code


# -- plan --all --------------------------------------------------------------------------


async def _plan_all(warden: Warden, args: argparse.Namespace) -> int:
    """Every workload's dry-run outcome line, as `plan APP_ID` prints one."""
    run_ = Run("plan")
    subs = await run_.subscriptions(warden, args.subscriptions)
    results: list[str] = []
    for sub in subs.ids:
        run_.progress.say(f"subscription {sub}: planning")
        for o in await warden.reconcile_all([sub], dry_run=True):
            if unswept(o) is not None:  # the subscription itself failed
                if o.result == "retry":
                    run_.error(f"subscription {sub}", Transient(o.error or "transient"))
                else:
                    run_.problem(unreadable(sub, subs.source, o.error))
                continue
            results.append(o.result)
            if o.result == "retry":
                run_.transient = True
            _json_line(o.to_json())
    shown = summary(tally(results), {"applied": "would change",
                                     "deleted": "gone (grants to clean up)"})
    run_.progress.say(f"done: {len(results)} workload(s){': ' + shown if shown else ''}; "
                      "nothing written")
    return run_.exit_code


# -- plan --policy ------------------------------------------------------------------------


async def _both(now: Core, candidate: Core, app: ArmId, body: dict[str, Any] | None,
                survey: Survey | None) -> tuple[Plan, Plan]:
    """The workload's plan under the policy now and under the candidate (as dry runs)."""
    given = survey.given if survey is not None else None
    return (await now.plan(app, body=body, given=given, verify_scopes=True),
            await candidate.plan(app, body=body, given=given, verify_scopes=True))


async def _both_guarded(run_: Run, now: Core, candidate: Core, survey: Survey,
                        target: tuple[ArmId, dict[str, Any]]) -> tuple[Plan, Plan] | None:
    app, body = target
    return await run_.guard(str(app), partial(_both, now, candidate, app, body, survey))


async def _preview(warden: Warden, args: argparse.Namespace) -> int:
    run_ = Run("plan")
    candidate_policy: Policy = read_policy_file(args.policy)  # PolicyError: exit 2
    for warning in review_policy(candidate_policy):  # reviewed as the service reviews its own
        sys.stderr.write(f"warning: {warning}\n")
    now, candidate = warden.core, Core(candidate_policy, warden.arm)
    effects: list[preview.Effect] = []
    if not args.json:
        _out(f"Switching policy from {warden.policy.source or 'the defaults'} to "
             f"{candidate_policy.source}: changes nothing now, shows what would change.\n\n")

    def show(e: preview.Effect) -> None:
        effects.append(e)
        if e.empty:
            return
        if args.json:
            _json_line(e.to_json())
        else:
            _out(preview.render(e) + "\n")

    if args.app_id:
        app = workload_id(args.app_id)
        assert app is not None
        body = await warden.arm.get_app(app)
        if body is None:
            sys.stderr.write(f"error: not found: {app} does not exist\n")
            return EXIT_USAGE
        both = await _both(now, candidate, app, body, None)
        show(preview.effect(both[0], warden.policy, both[1], candidate_policy))
    else:
        subs = await run_.subscriptions(warden, args.subscriptions)
        for sub in subs.ids:
            survey = await run_.survey(warden, sub, subs.source)
            if survey is None:
                continue
            twice = partial(_both_guarded, run_, now, candidate, survey)
            for plans in await run_.each(list(survey.listed.items()), twice):
                if plans is not None:
                    show(preview.effect(plans[0], warden.policy, plans[1], candidate_policy))
    text = preview.summary(effects, len(effects))
    if args.json:
        run_.progress.say(text + "; nothing written")
    else:
        _out(text + ". Nothing was written.\n")
    return run_.exit_code


# -- release -----------------------------------------------------------------------------


async def _release(warden: Warden, args: argparse.Namespace) -> int:
    run_ = Run("release")
    detach = args.detach_identities
    yes = _writes(warden, args)
    if args.yes and not yes:
        sys.stderr.write("release: dry run is on (WARDEN_DRY_RUN or [run] dry_run): nothing "
                         "is written; --yes is ignored\n")
    elif not yes and not args.json:
        _out("Dry run: nothing is written. Run again with --yes to do it.\n\n")
    done: list[release.Released] = []

    def show(r: release.Released) -> None:
        done.append(r)
        if r.verdict.result in ("retry", "refused"):
            run_.error(f"releasing {r.verdict.app}", (Transient if r.verdict.result == "retry"
                                                      else Permanent)(r.verdict.error or ""))
        if args.json:
            out = r.verdict
            _json_line({"app": out.app, "result": out.result, "changes": list(out.changes),
                        "error": out.error, "dry_run": not yes,
                        "left_alone": [{"id": a.id, "role": role, "scope": a.scope}
                                       for a, role in r.left_alone]})
        else:
            _out(release.render(r, yes=yes) + "\n")

    if args.app_id:
        app = workload_id(args.app_id)
        assert app is not None
        r = await release.release(warden.core, app, yes=yes, detach_identities=detach)
        if r.plan is not None and r.plan.action == "cleanup" and not r.plan.revokes:
            sys.stderr.write(f"error: {not_found(app)}\n")
            return EXIT_USAGE
        show(r)
    else:
        await _release_many(warden, args, run_, show)
    summary = release.summary(done, yes=yes)
    if args.json:
        run_.progress.say(summary)
    else:
        _out(summary + "\n")
    return run_.exit_code


async def _release_one(warden: Warden, args: argparse.Namespace,
                       given: dict[str, Any], target: tuple[ArmId, dict[str, Any] | None]
                       ) -> release.Released:
    app, body = target
    return await release.release(warden.core, app, yes=_writes(warden, args), body=body,
                                 given=given, detach_identities=args.detach_identities,
                                 settle=False)


def _writes(warden: Warden, args: argparse.Namespace) -> bool:
    """Whether release writes: --yes, unless a dry run (WARDEN_DRY_RUN or [run] dry_run) is
    on, which writes nothing, --yes or not."""
    return bool(args.yes) and not warden.policy.dry_run


def _group_filter(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(subscription the --resource-group id names, resource-group name), or (None, None)."""
    rg = args.resource_group
    if not rg:
        return None, None
    parsed = ArmId.try_parse(rg) if rg.startswith("/") else None
    if parsed is not None and parsed.resource_group and parsed.name == parsed.resource_group:
        return parsed.subscription, parsed.resource_group
    return None, rg


async def _release_many(warden: Warden, args: argparse.Namespace, run_: Run,
                        show: Callable[[release.Released], None]) -> None:
    sub_of_rg, group = _group_filter(args)
    cli = [sub_of_rg] if sub_of_rg else args.subscriptions
    subs = await run_.subscriptions(warden, cli)
    found = 0
    for sub in subs.ids:
        survey = await run_.survey(warden, sub, subs.source)
        if survey is None:
            continue
        targets: list[tuple[ArmId, dict[str, Any] | None]] = [
            *survey.listed.items(), *((a, None) for a in survey.gone)]
        if group is not None:
            targets = [(a, b) for a, b in targets
                       if (a.resource_group or "").lower() == group.lower()]
        found += len(targets)
        one = partial(_release_one, warden, args, dict(survey.given))
        done = await run_.each(sorted(targets, key=lambda t: str(t[0]).lower()), one)
        for r in await release.settle(warden.core, done):  # one re-read for them all
            show(r)
    if group is not None and not found and not run_.problems and not run_.transient:
        exists = [await warden.arm.scope_exists(f"/subscriptions/{s}/resourceGroups/{group}")
                  for s in subs.ids]
        if not any(exists):
            run_.problem(f"resource group {group!r} not found in "
                         f"{', '.join(subs.ids) or 'any readable subscription'}")
