"""The sweep at scale: ``reconcile`` over apps that are already converged.

The emulator is seeded with ``apps`` container apps spread over
``--subscriptions`` subscriptions, each app with its system-assigned identity
and the role assignments aca-warden makes for its k grant tags (their
deterministic names and descriptions: the steady state a converged tenant is in;
if the bench got it wrong, the sweep would write and the figures would say so).
Lists are paged as ARM pages them (100 a page). The service runs
``python -m handlers reconcile --subscription ...`` in a child process.

Figures: ARM requests per app (the steady state reads the lists only), writes
(none), every app ``unchanged``, the sweep's time (the child's wall time,
start-up included) and its peak RSS.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .burst import Config
from .common import ROLES, Check, child_env, grant_tags, policy_file, run_child

__all__ = ["SweepResult", "run_sweep", "sweep_checks"]

MAX_REQUESTS_PER_APP = 0.1
MAX_SECONDS = 60.0
MAX_RSS_MB = 250.0


@dataclass
class SweepResult:
    apps: int
    subscriptions: int
    wall_s: float = 0.0
    arm_s: float = 0.0
    requests: int = 0
    writes: int = 0
    pages: int = 0  # list requests that followed a nextLink
    results: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    exit_code: int = 0
    seed_s: float = 0.0
    stderr_tail: str = ""


def seed_converged(emu: Any, subscription: str, n: int, k: int, start: int = 0) -> None:
    """n apps in a subscription as a sweep leaves them: identity on, grants in place."""
    from handlers.model import assignment_name, description_for

    rg = f"/subscriptions/{subscription}/resourceGroups/bench"
    emu.seed_resource_group("bench", subscription=subscription)
    tags = grant_tags(emu, rg, k)
    guids = [emu.role_definition(ROLES[j % len(ROLES)])["name"] for j in range(k)]
    scopes = [f"{rg}/providers/Microsoft.Storage/storageAccounts/stbench{j}" for j in range(k)]
    for i in range(start, start + n):
        app = f"{rg}/providers/Microsoft.App/containerApps/app{i:05d}"
        principal = str(uuid.uuid4())
        emu.seed_container_app(app, tags=tags,
                               identity={"type": "SystemAssigned", "principalId": principal})
        for guid, scope in zip(guids, scopes, strict=True):
            emu.seed_role_assignment(scope, guid, principal,
                                     name=assignment_name(app, principal, guid, scope),
                                     description=description_for(app))


def run_sweep(cfg: Config, subscriptions: int) -> SweepResult:
    from emulator import EmulatorThread
    from handlers.report import tally

    subs = [str(uuid.uuid4()) for _ in range(subscriptions)]
    with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
            EmulatorThread(latency_ms=cfg.latency_ms, time_scale=cfg.time_scale) as emu:
        t0 = time.monotonic()
        done = 0
        for i, sub in enumerate(subs):
            emu.seed_subscription(sub)
            n = cfg.apps // subscriptions + (1 if i < cfg.apps % subscriptions else 0)
            emu._call(seed_converged, emu.emulator, sub, n, cfg.grants, done)
            done += n
        seed_s = time.monotonic() - t0
        emu.clear_log()
        args = ["-m", "handlers", "reconcile"]
        for sub in subs:
            args += ["--subscription", sub]
        child = run_child(args, child_env(emu.env, policy_file(tmp)), tmp, "sweep")
        log = list(emu.request_log)
    arm = [r for r in log if r.kind != "token"]
    results = tally(o["result"] for o in child.lines())
    return SweepResult(
        apps=cfg.apps, subscriptions=subscriptions, wall_s=child.wall_s,
        arm_s=max((r.ts for r in arm), default=0.0) - min((r.started for r in log), default=0.0),
        requests=len(arm), writes=sum(1 for r in arm if r.kind == "write"),
        pages=sum(1 for r in arm if "skiptoken" in r.query.lower()), results=results,
        peak_rss_mb=child.peak_rss_mb, cpu_s=child.cpu_s, exit_code=child.exit_code,
        seed_s=seed_s, stderr_tail=child.stderr_tail)


def sweep_checks(cfg: Config, runs: list[SweepResult]) -> list[Check]:
    """The sweep's time: the median over the runs; requests, writes, RSS: the worst run."""
    n = cfg.apps
    worst = max(runs, key=lambda r: r.requests)
    per_app = worst.requests / n
    unchanged = min(r.results.get("unchanged", 0) for r in runs)
    wall = statistics.median(r.wall_s for r in runs)
    rss = max(r.peak_rss_mb for r in runs)
    return [
        Check("subscriptions swept", str(worst.subscriptions), f"{n} apps, 100 a page"),
        Check("ARM requests per app", f"{per_app:.4f}",
              f"<= {MAX_REQUESTS_PER_APP:g} ({worst.requests} requests, {worst.pages} next "
              "pages)", per_app <= MAX_REQUESTS_PER_APP),
        Check("writes", str(max(r.writes for r in runs)), "0 (steady state)",
              all(r.writes == 0 for r in runs)),
        Check("apps unchanged", f"{unchanged}/{n}", f"{n}/{n}",
              unchanged == n and all(r.exit_code == 0 for r in runs)),
        Check("sweep time, s (start-up incl.)", f"{wall:.1f}", f"<= {MAX_SECONDS:g}",
              wall <= MAX_SECONDS),
        Check("  of it ARM time, s", f"{statistics.median(r.arm_s for r in runs):.1f}",
              f"CPU {statistics.median(r.cpu_s for r in runs):.1f} s"),
        Check("peak RSS of the sweep, MB", f"{rss:.1f}", f"<= {MAX_RSS_MB:g}",
              rss <= MAX_RSS_MB),
    ]
