"""The failure path: identity changes that ARM accepts and then fails.

Every app's first identity PATCH is accepted (202) and its operation ends
``Failed`` after Azure's real time (the emulator's ``fail_operation``): the app
is rolled back, its new principal gone, and ARM sends
``Microsoft.Resources.ResourceWriteFailure``. The service runs as ``serve`` and
gets every event the deployment's subscriptions admit, from the emulator's
Event Grid delivery, in Event Grid-sized batches: the apps' writes, then the
failures (and its own writes, which it ignores).

Figures: failure events delivered, every app converged again (its current
principal holds its k grants), no assignment left for a principal an app does
not have, nothing dead-lettered, the time from the first delivery to the last
write, and what it cost in ARM requests.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from .burst import Config, analyse
from .common import Check, seed_apps, settled_ids, through_serve, write_event

__all__ = ["FailureResult", "failure_checks", "run_failure"]

FAILURE = "Microsoft.Resources.ResourceWriteFailure"
MAX_WAIT_S = 600.0


@dataclass
class FailureResult:
    apps: int
    failures: int = 0  # ResourceWriteFailure events ARM sent
    acknowledged: int = 0  # of the burst's and the failures' events
    expected: int = 0
    dead_lettered: int = 0
    converged: int = 0
    stray: int = 0
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0  # first delivery -> last write
    exit_code: int = 0
    stderr_tail: str = ""


def run_failure(cfg: Config) -> FailureResult:
    from emulator import EmulatorThread

    with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
            EmulatorThread(latency_ms=cfg.latency_ms, time_scale=cfg.time_scale) as emu:
        apps = seed_apps(emu, cfg.apps, cfg.grants)
        person = emu.person_oid("bench")
        events = [write_event(emu, a, person) for a in apps]
        ids = {e["id"] for e in events}
        emu.fail_operation("PATCH", r"/containerApps/app\d+$", "ContainerAppProvisioningFailed",
                           "The identity could not be applied.", count=cfg.apps)
        mark = len(emu.events)

        def failures() -> set[str]:
            return {e["id"] for e in emu.events[mark:] if e["eventType"] == FAILURE}

        def done(delivery: Any) -> bool:
            failed = failures()
            return (len(failed) >= cfg.apps and (ids | failed) <= settled_ids(delivery)
                    and _converged(emu, apps, cfg.grants))

        delivery, child, _ = through_serve(emu, tmp, events, done=done, max_wait_s=MAX_WAIT_S)
        log = list(emu.request_log)
        figures = analyse(log, apps, {a: emu.get(a) for a in apps}, emu.role_assignments(),
                          cfg.grants)
        wanted = ids | failures()
        arm = [r for r in log if r.kind != "token"]
        first = min((a.started for a in delivery.history), default=0.0)
        last = max((r.ts for r in arm if r.kind == "write"), default=first)
        return FailureResult(
            apps=cfg.apps, failures=len(wanted - ids),
            acknowledged=len(wanted & {e["id"] for e in delivery.delivered}),
            expected=len(wanted),
            dead_lettered=len(wanted & {e["id"] for e, _ in delivery.dead_letters}),
            converged=figures["converged"], stray=figures["stray"],
            requests=len(arm), writes=sum(1 for r in arm if r.kind == "write"),
            seconds=last - first, exit_code=child.exit_code, stderr_tail=child.stderr_tail)


def _converged(emu: Any, apps: list[str], k: int) -> bool:
    """Every app's current principal holds k grants, and no other principal holds any."""
    f = analyse([], apps, {a: emu.get(a) for a in apps}, emu.role_assignments(), k)
    return bool(f["converged"] == len(apps) and f["stray"] == 0)


def failure_checks(cfg: Config, r: FailureResult) -> list[Check]:
    n, k = cfg.apps, cfg.grants
    return [
        Check("identity changes failed after accepted", str(r.failures), f"{n} (one per app)",
              r.failures == n),
        Check("events acknowledged (writes + failures)", f"{r.acknowledged}/{r.expected}",
              "all, none lost", r.acknowledged == r.expected and r.dead_lettered == 0),
        Check("apps converged again", f"{r.converged}/{n}", f"{n}/{n}", r.converged == n),
        Check("grants left for a principal gone", str(r.stray), "0", r.stray == 0),
        Check("first delivery -> last write, s", f"{r.seconds:.1f}",
              "failures come after Azure's ~10 s"),
        Check("ARM writes per app", f"{r.writes / n:.2f}",
              f"{3 * k + 2} = (k + 1) + k revokes + (k + 1)"),
        Check("ARM requests per app", f"{r.requests / n:.2f}"),
    ]
