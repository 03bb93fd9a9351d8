"""The service: events in, outcomes out (the API of cli, serve, function_app, demo).

An event is only a pointer to an app. For each one :class:`Warden`

1. answers straight from the event when it is not for us (``ignored``), is
   unusable (``refused``), or was caused by aca-warden's own write (its token's
   object id / app id in the event's claims): no ARM request at all;
2. skips apps outside ``apps.resource_groups``, then reads the app from ARM:
   gone (404) means clean up its grants (confirming the 404 right before
   revoking), opted out means ``ignored``, otherwise plan and apply
   (handlers.converge) — or only plan in a dry run;
3. for a delete event whose app exists again (re-created under the same name),
   converges the new app and revokes only the old principal's grants.

Events of one app are handled one after another (a per-app lock, so also
across concurrent batches), different apps concurrently, at most
``concurrency`` at a time. A transient ARM failure gives the outcome
``retry``; so does any unexpected exception, logged with its traceback, so
that Event Grid delivers the event again and nothing is lost. Every outcome
is logged as one JSON line on the ``aca_warden`` logger (with the ARM requests
it took), counted in OpenTelemetry when that is on (handlers.telemetry) and,
with an audit topic configured, published as one CloudEvent per change and
per refusal (handlers.audit).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers import telemetry
from handlers.audit import AuditStream
from handlers.azure import Arm
from handlers.converge import Converger, Result
from handlers.errors import ArmError, Permanent, Transient
from handlers.events import AppEvent, canonical_app_id, parse_payload
from handlers.plan import Assignment, app_id_from_description, is_ours, subscription_of
from handlers.policy import Policy, load_policy

__all__ = ["Outcome", "Warden", "exit_code"]

log = logging.getLogger("aca_warden")

ResultKind = Literal["applied", "unchanged", "ignored", "refused", "retry", "deleted"]


@dataclass
class Outcome:
    """What happened to one event (or, for reconcile, one app)."""

    event_id: str | None
    app: str | None
    result: ResultKind
    changes: list = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    error: str | None = None
    correlation_id: str | None = None
    duration_ms: float | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict:
        """The contract's keys first, extras after."""
        d: dict[str, Any] = {
            "event_id": self.event_id, "app": self.app, "result": self.result,
            "changes": list(self.changes), "refused": list(self.refused), "error": self.error,
            "correlation_id": self.correlation_id, "duration_ms": self.duration_ms,
        }
        if self.reason:
            d["reason"] = self.reason
        if self.notes:
            d["notes"] = list(self.notes)
        if self.dry_run:
            d["dry_run"] = True
        return d


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """75 when any outcome must be delivered again, else 0."""
    return 75 if any(o.result == "retry" for o in outcomes) else 0


def _rg_of(app_id: str) -> str:
    return app_id.split("/")[4]


class Warden:
    """aca-warden's service object: one per process, shared by every event."""

    def __init__(self, policy: Policy, arm: Arm, *, concurrency: int = 64,
                 audit: AuditStream | None = None) -> None:
        self.policy = policy
        self.arm = arm
        self.audit = audit
        self.converger = Converger(policy, arm)
        self._concurrency = concurrency
        self._sem: asyncio.Semaphore | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.counts: Counter[str] = Counter()  # outcomes by result, for operators and tests
        self._lock_users: dict[str, int] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Warden:
        """Load and validate the policy (PolicyError) and set up ARM access lazily."""
        env = os.environ if env is None else env
        policy = load_policy(env)
        try:
            concurrency = max(1, int(env.get("WARDEN_CONCURRENCY") or 64))
        except ValueError:
            concurrency = 64
        telemetry.configure_from_env(env)
        return cls(policy, Arm.from_env(env), concurrency=concurrency,
                   audit=AuditStream.from_env(env))

    async def close(self) -> None:
        if self.audit is not None:
            await self.audit.close()
        await self.arm.close()

    async def __aenter__(self) -> Warden:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- events ----------------------------------------------------------------
    async def handle_payload(self, payload: object) -> list[Outcome]:
        """One outcome per event of ``payload`` (one event or a batch), in input order."""
        events = parse_payload(payload)
        outcomes: list[Outcome | None] = [None] * len(events)
        groups: dict[str, list[int]] = {}
        for i, ev in enumerate(events):
            key = ev.app_id.lower() if ev.app_id and ev.kind in ("write", "delete") else f"#{i}"
            groups.setdefault(key, []).append(i)

        async def run(indices: list[int]) -> None:
            for i in indices:
                outcomes[i] = await self._event(events[i])

        await asyncio.gather(*(run(ix) for ix in groups.values()))
        return [o for o in outcomes if o is not None]

    async def _event(self, ev: AppEvent) -> Outcome:
        with telemetry.event_scope():  # counts this event's ARM calls; its span
            return await self._event_inner(ev)

    async def _event_inner(self, ev: AppEvent) -> Outcome:
        start = time.monotonic()
        if ev.kind in ("ignored", "refused"):
            out = Outcome(ev.event_id, ev.app_id, ev.kind,
                          error=ev.reason if ev.kind == "refused" else None,
                          reason=ev.reason if ev.kind == "ignored" else None)
            if ev.kind == "ignored":
                log.debug("ignored event %s: %s", ev.event_id, ev.reason)
            return self._done(out, ev.correlation_id, start, quiet=ev.kind == "ignored")
        assert ev.app_id is not None
        out = await self._guarded(ev.event_id, ev.app_id, self._dispatch(ev))
        return self._done(out, ev.correlation_id, start)

    async def _dispatch(self, ev: AppEvent) -> Outcome:
        app_id = ev.app_id or ""
        if await self._self_caused(ev):
            return Outcome(ev.event_id, app_id, "ignored",
                           reason="caused by aca-warden's own write")
        return await self._app(ev.event_id, app_id, delete=ev.kind == "delete")

    async def _self_caused(self, ev: AppEvent) -> bool:
        if not (ev.caller_oid or ev.caller_appid):
            return False
        oid, appid = await self.arm.own_identity()
        return bool((oid and (ev.caller_oid or "").lower() == oid)
                    or (appid and (ev.caller_appid or "").lower() == appid))

    async def _guarded(self, event_id: str | None, app_id: str, work: Any) -> Outcome:
        """Run ``work`` under the app's lock and the concurrency bound; map failures."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        key = app_id.lower()
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock, self._sem:
                return await work
        except Transient as e:
            return Outcome(event_id, app_id, "retry", error=str(e))
        except Permanent as e:
            return Outcome(event_id, app_id, "refused", error=str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not lose the event: retry it
            log.exception("unexpected error handling %s for %s", event_id, app_id)
            return Outcome(event_id, app_id, "retry", error=f"internal error: {e!r}")
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key]
                self._locks.pop(key, None)

    def _done(self, out: Outcome, correlation_id: str | None, start: float,
              quiet: bool = False) -> Outcome:
        self.counts[out.result] += 1
        out.correlation_id = correlation_id
        out.duration_ms = round((time.monotonic() - start) * 1000, 1)
        level = logging.WARNING if out.result == "retry" else logging.INFO
        if quiet:
            level = logging.DEBUG
        calls = telemetry.current_calls()
        record = {
            "event_id": out.event_id, "app": out.app, "correlation_id": correlation_id,
            "result": out.result, "duration_ms": out.duration_ms, "changes": list(out.changes),
            "refused": list(out.refused), "error": out.error,
            "arm_calls": calls.to_json() if calls is not None else None}
        if out.dry_run:
            record["dry_run"] = True
        if log.isEnabledFor(level):
            log.log(level, "outcome %s", json.dumps(record, default=str))
        tel = telemetry.active()
        if tel is not None:
            from opentelemetry import trace

            tel.record_outcome(record, trace.get_current_span())
        if self.audit is not None:
            self.audit.submit(record)
        return out

    # -- one app ---------------------------------------------------------------
    def _managed_rg(self, app_id: str) -> bool:
        rg = _rg_of(app_id).lower()
        return any(fnmatch.fnmatchcase(rg, p.lower()) for p in self.policy.resource_groups)

    def _opted_out(self, app: dict[str, Any]) -> bool:
        want = self.policy.opt_out_tag.lower()
        return any(k.lower() == want and str(v).strip().lower() == "true"
                   for k, v in (app.get("tags") or {}).items())

    async def _app(self, event_id: str | None, app_id: str, *, delete: bool,
                   dry_run: bool | None = None, app: dict[str, Any] | None = None,
                   listed: Mapping[str, list[Assignment]] | None = None) -> Outcome:
        dry = self.policy.dry_run if dry_run is None else dry_run
        if not self._managed_rg(app_id):
            return Outcome(event_id, app_id, "ignored", reason=f"resource group "
                           f"{_rg_of(app_id)} is not in apps.resource_groups")
        if app is None:
            app = await self.arm.get_app(app_id)
        if app is None:
            return await self._cleanup(event_id, app_id, dry)
        if self._opted_out(app):
            return Outcome(event_id, app_id, "ignored",
                           reason=f"opted out by tag {self.policy.opt_out_tag}")
        state, plan = await self.converger.plan(app_id, app, dry_run=dry, listed=listed)
        if dry:
            res = Result("applied" if not plan.empty else "unchanged",
                         [f"planned: {c}" for c in plan.changes()], list(plan.refusals),
                         list(plan.notes), principal=state.principal_id)
        else:
            res = await self.converger.apply(state, plan)
        if delete:  # the app exists again: only the old principal's grants go
            current = (res.principal or "").lower()
            old = [a for a in await self.converger.owned(app_id, res.notes)
                   if a.principal_id.lower() != current]
            revoked = await self.converger.revoke(old, dry_run=dry)
            res.changes += [f"planned: {c}" for c in revoked] if dry else revoked
            if revoked:
                res.result = "applied"
        return self._outcome(event_id, app_id, res, dry)

    async def _cleanup(self, event_id: str | None, app_id: str, dry: bool,
                       owned: list | None = None, notes: list[str] | None = None) -> Outcome:
        notes = list(notes or [])
        if owned is None:
            owned = await self.converger.owned(app_id, notes)
        if owned:
            again = await self.arm.get_app(app_id)  # confirm the 404 right before revoking
            if again is not None:  # re-created meanwhile
                return await self._app(event_id, app_id, delete=True, dry_run=dry, app=again)
        changes = await self.converger.revoke(owned, dry_run=dry)
        if dry:
            changes = [f"planned: {c}" for c in changes]
        return self._outcome(event_id, app_id, Result("deleted", changes, notes=notes), dry)

    @staticmethod
    def _outcome(event_id: str | None, app_id: str, res: Result, dry: bool) -> Outcome:
        return Outcome(event_id, app_id, res.result, res.changes,  # type: ignore[arg-type]
                       [r.to_json() for r in res.refused], notes=list(dict.fromkeys(res.notes)),
                       reason=res.reason,
                       dry_run=dry)

    async def plan_app(self, app_id: str) -> Outcome:
        """What a reconcile of one app would change; writes nothing."""
        start = time.monotonic()
        canonical = canonical_app_id(app_id)
        if canonical is None:
            out = Outcome(None, None, "refused", error=f"not a container app id: {app_id!r}")
        else:
            out = await self._guarded(None, canonical,
                                      self._app(None, canonical, delete=False, dry_run=True))
        return self._done(out, None, start)

    # -- the sweep -------------------------------------------------------------
    async def reconcile_all(self, subscriptions: list[str] | None = None) -> list[Outcome]:
        """Converge every app of the subscriptions, then remove grants of apps that are gone."""
        subs = list(subscriptions or [])
        if not subs:
            subs = [s.strip() for s in os.environ.get("WARDEN_SUBSCRIPTIONS", "").split(",")
                    if s.strip()]
        if not subs:
            start = time.monotonic()
            try:
                subs = await self.arm.list_subscriptions()
            except ArmError as e:
                kind: ResultKind = "retry" if isinstance(e, Transient) else "refused"
                return [self._done(Outcome(None, None, kind, error=str(e)), None, start)]
        outcomes: list[Outcome] = []
        for sub in subs:
            outcomes += await self._sweep(sub)
        return outcomes

    async def _sweep(self, sub: str) -> list[Outcome]:
        start = time.monotonic()
        sub = sub.lower()
        others = [s for s in self.converger.named_subscriptions if s != sub]
        notes: list[str] = []
        try:
            apps = await self.arm.list_apps(sub)
            by_sub = {sub: await self.arm.list_assignments(f"/subscriptions/{sub}")}
            # grants of this subscription's apps may lie in the ones the policy names
            found = await asyncio.gather(
                *(self.arm.list_assignments(f"/subscriptions/{s}") for s in others),
                return_exceptions=True)
            for s, r in zip(others, found, strict=True):
                if isinstance(r, Permanent):  # skipped; apps list it themselves (with a note)
                    notes.append(f"could not list role assignments in subscription {s} ({r})")
                    log.warning("sweep of %s: %s", sub, notes[-1])
                elif isinstance(r, BaseException):
                    raise r
                else:
                    by_sub[s] = r
        except ArmError as e:
            kind: ResultKind = "retry" if isinstance(e, Transient) else "refused"
            out = Outcome(None, f"/subscriptions/{sub}", kind, error=str(e))
            return [self._done(out, None, start)]
        assignments = list({a.id.lower(): a for chunk in by_sub.values()
                            for a in chunk}.values())
        listed: dict[str, dict[str, Any]] = {}
        for app in apps:
            canonical = canonical_app_id(app.get("id"))
            if canonical:
                listed[canonical.lower()] = {**app, "_canonical": canonical}

        gone: dict[str, list[Assignment]] = {}
        stale: dict[str, list[Assignment]] = {}
        for a in assignments:
            owner = canonical_app_id(app_id_from_description(a.description))
            if not owner or subscription_of(owner) != sub.lower() or not is_ours(owner, a):
                continue
            current = listed.get(owner.lower())
            if current is None:
                gone.setdefault(owner, []).append(a)
            elif a.principal_id.lower() != str(
                    (current.get("identity") or {}).get("principalId") or "").lower():
                stale.setdefault(owner.lower(), []).append(a)  # an earlier incarnation's

        async def converge(app: dict[str, Any]) -> Outcome:
            app_id = app["_canonical"]
            out = await self._app(None, app_id, delete=False, app=app, listed=by_sub)
            old = stale.get(app_id.lower())
            if old and out.result in ("applied", "unchanged"):
                revoked = await self.converger.revoke(old, dry_run=self.policy.dry_run)
                out.changes += [f"planned: {c}" for c in revoked] if out.dry_run else revoked
                out.result = "applied"
            return out

        async def one(app: dict[str, Any]) -> Outcome:
            t0 = time.monotonic()
            out = await self._guarded(None, app["_canonical"], converge(app))
            return self._done(out, None, t0)

        outcomes = list(await asyncio.gather(*(one(a) for a in listed.values())))

        async def gc(app_id: str, owned: list) -> Outcome:
            t0 = time.monotonic()
            out = await self._guarded(None, app_id,
                                      self._cleanup(None, app_id, self.policy.dry_run, owned,
                                                    notes))
            return self._done(out, None, t0)

        outcomes += await asyncio.gather(*(gc(k, v) for k, v in gone.items()))
        return outcomes
