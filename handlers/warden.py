"""The service: deliveries in, outcomes out (the API of cli, serve, function_app).

:meth:`Warden.handle_payload` takes one delivery (one event or a batch;
:meth:`Warden.handle_events` the same, parsed already):

1. every event is parsed (handlers.events); one that is not for aca-warden
   (``ignored``) or unusable (``refused``) is answered at once, with no ARM
   request;
2. the others are grouped by workload: each workload is converged ONCE per
   delivery, however many of its events the delivery carries (a deployment
   sends the app write, a tags write and aca-warden's own writes together; a
   9,500-copy delivery of one event is one convergence). An event caused by
   aca-warden's own write (its token's object id or app id in the event's
   claims; never a ``ResourceWriteFailure``) is ``ignored`` with no ARM
   request; a workload outside ``apps.resource_groups`` too;
3. every event gets its own outcome line from its workload's verdict
   (handlers.report), in input order.

Across deliveries, an event joins a convergence of its workload that has not
read anything yet (one waiting for its turn), and a redelivered event (Event
Grid sends it again after a 5xx or a timeout) joins one in flight that started
reading after the event first arrived (handlers.covering); a finished
convergence answers nothing more.

Convergences of one workload never overlap (a per-workload lock, across
concurrent deliveries too); different workloads run concurrently, at most
``concurrency`` at a time. A convergence reads only listings that started
after it took its lock, so it sees every earlier convergence's writes. A
transient ARM failure gives ``retry``; so does any unexpected exception,
logged with its traceback, so that Event Grid delivers the event again and
nothing is lost.

:meth:`Warden.reconcile_all` sweeps subscriptions: every workload listed is
converged from the list (no read each), and the grants of workloads that are
gone are cleaned up; a subscription that is not a GUID is refused with no
request. :meth:`Warden.plan_app` is a dry run of one workload; one that does not
exist and has no grants left is refused as "not found".
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from handlers import telemetry
from handlers.armapi import ArmApi
from handlers.audit import AuditStream
from handlers.converge import Core
from handlers.covering import Ledger, covered
from handlers.emit import Reporter
from handlers.errors import ArmError
from handlers.events import AppEvent, parse_payload
from handlers.ids import WORKLOAD_TYPES, ArmId, subscription_problem, workload_id
from handlers.plan import outside_resource_groups
from handlers.policy import Policy, load_policy, subscriptions_from_env
from handlers.report import Outcome, Verdict, exit_code, failed, outcome
from handlers.review import review_policy

__all__ = ["Outcome", "Warden", "exit_code", "not_found"]

log = logging.getLogger("aca_warden")

SELF_CAUSED = "caused by aca-warden's own write"


def not_found(app: ArmId) -> str:
    """What a command says of a workload that does not exist and holds no grants."""
    return f"not found: {app} does not exist and aca-warden holds no grants for it"


class Warden:
    """aca-warden's service object: one per process, shared by every event."""

    def __init__(self, policy: Policy, arm: ArmApi, *, concurrency: int = 64,
                 audit: AuditStream | None = None) -> None:
        self.policy = policy
        self.arm = arm
        self.audit = audit
        self.core = Core(policy, arm)
        self.reporter = Reporter(audit)
        self._concurrency = concurrency
        self._sem: asyncio.Semaphore | None = None
        self._locks: dict[ArmId, tuple[asyncio.Lock, int]] = {}
        self.ledger = Ledger()  # which convergence answers which event (handlers.covering)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Warden:
        """Load, validate and review the policy (PolicyError; warnings are logged) and set
        up ARM access lazily."""
        from handlers.azure import Arm

        env = os.environ if env is None else env
        policy = load_policy(env)
        for warning in review_policy(policy):  # PolicyError for what can never apply
            log.warning("%s", warning)
        try:
            concurrency = max(1, int(env.get("WARDEN_CONCURRENCY") or 64))
        except ValueError:
            concurrency = 64
        telemetry.configure_from_env(env)
        return cls(policy, Arm.from_env(env), concurrency=concurrency,
                   audit=AuditStream.from_env(env))

    @property
    def counts(self) -> Mapping[str, int]:
        """Outcomes so far, by result (for operators and tests)."""
        return self.reporter.counts

    async def close(self) -> None:
        if self.audit is not None:
            await self.audit.close()
        await self.arm.close()

    async def __aenter__(self) -> Warden:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- deliveries ----------------------------------------------------------------
    async def handle_payload(self, payload: object) -> list[Outcome]:
        """One outcome per event of ``payload`` (one event or a batch), in input order."""
        return await self.handle_events(parse_payload(payload))

    async def handle_events(self, events: Sequence[AppEvent]) -> list[Outcome]:
        """One outcome per event of a delivery already parsed (handlers.events.parse_payload),
        in input order."""
        started, started_ns = time.monotonic(), time.time_ns()
        outcomes: list[Outcome | None] = [None] * len(events)
        groups: dict[ArmId, list[int]] = {}
        for i, ev in enumerate(events):
            app = ev.workload
            if app is not None:
                groups.setdefault(app, []).append(i)
                continue
            v = (Verdict(ev.app_id, "ignored", reason=ev.reason) if ev.kind == "ignored"
                 else Verdict(ev.app_id, "refused", error=ev.reason))
            if ev.kind == "ignored":
                log.debug("ignored event %s: %s", ev.event_id, ev.reason)
            outcomes[i] = self._emit(v, ev, started, started_ns, quiet=ev.kind == "ignored")

        async def group(app: ArmId, indices: list[int]) -> None:
            done = await self._workload(app, [events[i] for i in indices], started, started_ns)
            for i, out in zip(indices, done, strict=True):
                outcomes[i] = out

        await asyncio.gather(*(group(app, ix) for app, ix in groups.items()))
        return [o for o in outcomes if o is not None]

    async def _workload(self, app: ArmId, events: list[AppEvent], started: float,
                        started_ns: int) -> list[Outcome]:
        """Converge one workload once for all its events of a delivery."""
        with telemetry.converge_scope() as (calls, span):
            try:
                mine = await self._self_caused(events)
            except Exception as e:  # no token, no ARM either: retry them
                if not isinstance(e, ArmError):
                    log.exception("unexpected error reading the service's own identity")
                v = failed(str(app), e)
                return [self._emit(v, ev, started, started_ns, calls, span) for ev in events]
            shared: Verdict | None = None
            echoes: set[str] = set()
            if not all(mine):
                shared, echoes = await self._converge(
                    app, [ev.event_id for ev, m in zip(events, mine, strict=True) if not m])
        own = Verdict(str(app), "ignored", reason=SELF_CAUSED)
        return [self._emit(own, ev, started, started_ns, None, span) if m or shared is None
                else self._emit(covered(shared) if ev.event_id in echoes else shared, ev,
                                started, started_ns, calls, span)
                for ev, m in zip(events, mine, strict=True)]

    async def _converge(self, app: ArmId, ids: list[str | None]
                        ) -> tuple[Verdict, set[str]]:
        """The verdict for these events of ``app``, and those of them whose changes an
        earlier delivery reports: from a running convergence that reads ARM after they
        first arrived (handlers.covering), else from a new one."""
        received = self.ledger.arrived(ids, time.monotonic())
        conv = self.ledger.covering(app, received)
        if conv is not None:
            echoes = {i for i in ids if i is not None and i in conv.reported}
            conv.reported.update(ids)
            try:
                return await asyncio.shield(conv.future), echoes
            except asyncio.CancelledError:
                if not conv.future.cancelled():
                    raise  # this delivery was cancelled, not the convergence it joined
        conv = self.ledger.start(app, ids)

        async def work(not_before: float) -> Verdict:
            conv.started = time.monotonic()
            return await self.core.converge(app, dry_run=self.policy.dry_run,
                                            not_before=not_before)

        try:
            v = await self._run(app, work)
        except BaseException:
            conv.future.cancel()  # the events that joined it converge on their own
            raise
        conv.future.set_result(v)
        return v, set()

    async def _self_caused(self, events: list[AppEvent]) -> list[bool]:
        """Which events report aca-warden's own writes (read from its token: no ARM call)."""
        if not any((ev.caller_oid or ev.caller_appid) and not ev.failure for ev in events):
            return [False] * len(events)
        oid, appid = await self.arm.own_identity()
        return [not ev.failure and bool((oid and (ev.caller_oid or "").lower() == oid)
                                        or (appid and (ev.caller_appid or "").lower() == appid))
                for ev in events]

    def _emit(self, v: Verdict, ev: AppEvent, started: float, started_ns: int,
              calls: telemetry.ArmCalls | None = None, span: Any = None,
              quiet: bool = False) -> Outcome:
        out = outcome(v, event_id=ev.event_id, correlation_id=ev.correlation_id,
                      caller=ev.caller_oid, started=started)
        return self.reporter.emit(out, calls, span=span, started_ns=started_ns, quiet=quiet)

    async def _run(self, app: ArmId, work: Callable[[float], Awaitable[Verdict]]) -> Verdict:
        """Run `work(lock time)` under the workload's lock and the concurrency bound;
        a workload outside apps.resource_groups is ignored; failures become verdicts."""
        why = outside_resource_groups(app, self.policy)
        if why is not None:
            return Verdict(str(app), "ignored", reason=why)
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        lock, users = self._locks.get(app) or (asyncio.Lock(), 0)
        self._locks[app] = (lock, users + 1)
        try:
            async with lock:
                not_before = time.monotonic()
                async with self._sem:
                    return await work(not_before)
        except Exception as e:
            if not isinstance(e, ArmError):
                log.exception("unexpected error converging %s", app)
            return failed(str(app), e)
        finally:
            lock, users = self._locks[app]
            if users > 1:
                self._locks[app] = (lock, users - 1)
            else:
                del self._locks[app]

    # -- one workload, on request ----------------------------------------------------
    async def plan_app(self, app_id: str) -> Outcome:
        """What a reconcile of one workload would change; writes nothing."""
        started, started_ns = time.monotonic(), time.time_ns()
        app = workload_id(app_id)
        with telemetry.converge_scope() as (calls, span):
            if app is None:
                kinds = ", ".join(w.type for w in WORKLOAD_TYPES)
                v = Verdict(None, "refused", error=f"not a workload id ({kinds}): {app_id!r}")
            else:
                v = await self._run(app, lambda not_before: self.core.converge(
                    app, dry_run=True, not_before=not_before))
                if v.result == "deleted" and not v.changes:
                    v = Verdict(str(app), "refused", error=not_found(app))
        return self.reporter.emit(outcome(v, started=started), calls, span=span,
                                  started_ns=started_ns)

    # -- the sweep -------------------------------------------------------------------
    async def reconcile_all(self, subscriptions: list[str] | None = None, *,
                            dry_run: bool | None = None) -> list[Outcome]:
        """Converge every workload of the subscriptions, then remove grants of those gone
        (`dry_run`: plan only; default: the policy's)."""
        dry = self.policy.dry_run if dry_run is None else dry_run
        subs = list(subscriptions or [])
        if not subs:
            subs = subscriptions_from_env(os.environ)
        if not subs:
            started = time.monotonic()
            try:
                subs = await self.arm.list_subscriptions()
            except ArmError as e:
                return [self.reporter.emit(outcome(failed(None, e), started=started))]
        outcomes: list[Outcome] = []
        for sub in subs:
            outcomes += await self._sweep(sub.lower(), dry)
        return outcomes

    async def _sweep(self, sub: str, dry_run: bool) -> list[Outcome]:
        started = time.monotonic()
        if (problem := subscription_problem(sub)) is not None:  # never part of a URL
            v = Verdict(None, "refused", error=problem)
            return [self.reporter.emit(outcome(v, started=started))]
        try:
            survey = await self.core.observer.survey(sub, not_before=started)
        except ArmError as e:
            v = failed(f"/subscriptions/{sub}", e)
            return [self.reporter.emit(outcome(v, started=started))]
        for note in survey.notes:
            log.warning("sweep of %s: %s", sub, note)
        given = survey.given

        async def one(app: ArmId, body: dict[str, Any] | None) -> Outcome:
            t0, t0_ns = time.monotonic(), time.time_ns()
            with telemetry.converge_scope() as (calls, span):
                v = await self._run(app, lambda not_before: self.core.converge(
                    app, dry_run=dry_run, not_before=not_before, body=body, given=given))
            return self.reporter.emit(outcome(v, started=t0), calls, span=span,
                                      started_ns=t0_ns)

        outcomes = list(await asyncio.gather(*(one(a, b) for a, b in survey.listed.items())))
        outcomes += await asyncio.gather(*(one(a, None) for a in survey.gone))
        return outcomes
