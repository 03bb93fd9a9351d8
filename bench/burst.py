"""The burst: new apps, one delivery, the service and the naive baseline side by side.

Each run seeds a fresh emulator with ``apps`` new container apps (no identity
yet) carrying ``grants`` grant tags each and hands their write events, as one
delivery, to a child process: ``python -m handlers handle FILE`` (the service)
or ``python -m bench.naive FILE`` (the naive baseline, bench/naive.py). Every
figure comes from the emulator's request log and state, never from the child's
own clock:

- events/s: apps over the burst's ARM time, from the arrival of the child's first
  request (its token) to the answer of its last ARM request;
- latency of an app: from the arrival of the first request about it (the GET of
  the app: the service has taken the event up) to the answer of its last grant
  PUT (the grant is in place); "from the delivery" measures the same end from the
  child's first request instead, so in a burst it includes the wait for a turn;
- requests per app: its own (the app's GET, PATCH and read back, its k PUTs) and
  those the burst shares (role-assignment listings, role definitions);
- converged: the app's current principal holds its k grants and no assignment is
  left for a principal no app has.

After the service's burst the same delivery is replayed to a fresh service
process (as Event Grid redelivers to another instance): a replay must cost at
most 2 requests per event and no write.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .common import (
    ROLES,
    Check,
    Child,
    child_env,
    pct,
    policy_file,
    run_child,
    seed_apps,
    write_event,
)

__all__ = ["Bounds", "Config", "RunResult", "analyse", "burst_checks", "replay_checks",
           "run_burst", "run_triple", "triple_checks"]

_TAGS_OP = "Microsoft.Resources/tags/write"


@dataclass(frozen=True)
class Config:
    apps: int = 1000
    grants: int = 2
    latency_ms: float = 30.0
    bucket: tuple[float, float] | None = None  # (capacity, refill per second)
    runs: int = 3
    time_scale: float = 1.0  # the emulator's pace: 1 is Azure's real pace
    naive: bool = True  # run the naive baseline side by side (no bucket only)
    naive_poll_s: float = 1.0


@dataclass
class Bounds:
    """Issue 15's bounds (options can loosen them for smoke runs, never silently)."""

    min_events_per_s: float = 150.0
    min_naive_ratio: float = 1.5
    max_p50_s: float = 0.5
    max_p99_s: float = 2.0
    max_rss_mb: float = 150.0
    max_429_pct: float = 2.0
    max_bucket_ratio: float = 1.05
    max_cold_start_ratio: float = 1.2
    max_replay_requests: float = 2.0
    max_deadline_ratio: float = 1.1


@dataclass
class RunResult:
    """One burst of one implementation: what it answered and what ARM saw."""

    apps: int
    arm_s: float
    exit_code: int = 0
    impl: str = "service"
    wall_s: float = 0.0  # the child process, start to exit
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0  # the child's user + system CPU
    emulator_cpu_s: float = 0.0  # the bench process (the emulator's thread) meanwhile
    results: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # ARM requests (tokens excluded, polls included)
    reads: int = 0  # GETs, polls included
    polls: int = 0
    writes: int = 0
    writes_ok: int = 0  # writes not answered 429
    throttled: int = 0
    own_max: int = 0  # the most requests about one app (its GETs, PATCH, grant PUTs)
    shared: int = 0  # requests about no app in particular (listings, role definitions, polls)
    latency_s: list[float] = field(default_factory=list)
    delivery_latency_s: list[float] = field(default_factory=list)
    converged: int = 0
    stray: int = 0  # assignments for a principal no app has
    assignments: int = 0
    stderr_tail: str = ""

    @property
    def events_per_s(self) -> float:
        return self.apps / self.arm_s if self.arm_s > 0 else float("inf")

    @property
    def left_for_retry(self) -> int:
        return self.results.get("retry", 0) + max(0, self.apps - sum(self.results.values()))


# -- analysis ----------------------------------------------------------------------------
def _principal(app: dict[str, Any] | None) -> str | None:
    p = ((app or {}).get("identity") or {}).get("principalId")
    return str(p).lower() if p else None


def analyse(log: list[Any], apps: list[str], bodies: dict[str, dict[str, Any] | None],
            assignments: list[dict[str, Any]], grants: int) -> dict[str, Any]:
    """Figures of one burst from the emulator's request log and its state afterwards."""
    arm = [r for r in log if r.kind != "token"]
    start = min((r.started for r in log), default=0.0)
    end = max((r.ts for r in arm), default=start)
    by_path = {a.lower(): a for a in apps}
    app_of_principal = {p: a for a in apps if (p := _principal(bodies.get(a)))}
    app_of_name: dict[str, str] = {}
    held: dict[str, set[tuple[str, str]]] = {a: set() for a in apps}
    stray = 0
    for ra in assignments:
        props = ra["properties"]
        owner = app_of_principal.get(str(props["principalId"]).lower())
        if owner is None:
            stray += 1
            continue
        app_of_name[ra["name"].lower()] = owner
        held[owner].add((props["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
                         props["scope"].lower()))
    own: dict[str, int] = dict.fromkeys(apps, 0)
    first: dict[str, float] = {}
    done: dict[str, float] = {}
    shared = 0
    for r in arm:
        path = r.path.lower()
        app = by_path.get(path)
        if app is None and r.method == "PUT" and "/roleassignments/" in path:
            app = app_of_name.get(path.rsplit("/", 1)[-1])
            if app is not None and r.status < 300:
                done[app] = max(done.get(app, 0.0), r.ts)
        if app is None:
            shared += 1
            continue
        own[app] += 1
        first[app] = min(first.get(app, r.started), r.started)
    latency = [done[a] - first[a] for a in apps if a in done and a in first]
    return {
        "arm_s": end - start,
        "requests": len(arm),
        "reads": sum(1 for r in arm if r.kind in ("read", "poll")),
        "polls": sum(1 for r in arm if r.kind == "poll"),
        "writes": sum(1 for r in arm if r.kind == "write"),
        "writes_ok": sum(1 for r in arm if r.kind == "write" and r.status != 429),
        "throttled": sum(1 for r in arm if r.status == 429),
        "own_max": max(own.values(), default=0),
        "shared": shared,
        "latency_s": latency,
        "delivery_latency_s": [done[a] - start for a in apps if a in done],
        "converged": sum(1 for a in apps if len(held[a]) == grants
                         and _principal(bodies.get(a)) is not None),
        "stray": stray,
        "assignments": len(assignments),
    }


def _results(lines: Iterable[dict[str, Any]]) -> dict[str, int]:
    from handlers.report import tally

    return tally(o["result"] for o in lines)


# -- one burst ----------------------------------------------------------------------------
def _child_args(impl: str, path: str, cfg: Config) -> list[str]:
    if impl == "naive":
        return ["-m", "bench.naive", path, "--poll-s", str(cfg.naive_poll_s)]
    return ["-m", "handlers", "handle", path]


def run_burst(cfg: Config, impl: str = "service", *, replay: bool = False
              ) -> tuple[RunResult, RunResult | None]:
    """One burst against a fresh emulator (and, asked for, its replay by a fresh service)."""
    from emulator import EmulatorThread

    with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
            EmulatorThread(latency_ms=cfg.latency_ms, time_scale=cfg.time_scale) as emu:
        apps = seed_apps(emu, cfg.apps, cfg.grants)
        person = emu.person_oid("bench")
        path = os.path.join(tmp, "events.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump([write_event(emu, a, person) for a in apps], f)
        env = child_env(emu.env, policy_file(tmp))
        emu.clear_log()
        if cfg.bucket is not None:
            emu.set_write_bucket(*cfg.bucket)  # starts full
        cpu0 = time.process_time()
        child = run_child(_child_args(impl, path, cfg), env, tmp, impl)
        emulator_cpu = time.process_time() - cpu0
        run = _result(emu, cfg, impl, apps, child, emulator_cpu)
        again = None
        if replay:
            emu.clear_log()
            child = run_child(_child_args("service", path, cfg), env, tmp, "replay")
            again = _result(emu, cfg, "replay", apps, child, 0.0)
    return run, again


def _result(emu: Any, cfg: Config, impl: str, apps: list[str], child: Child,
            emulator_cpu: float) -> RunResult:
    log = list(emu.request_log)  # the child has exited: nothing adds to it any more
    bodies = {a: emu.get(a) for a in apps}
    figures = analyse(log, apps, bodies, emu.role_assignments(), cfg.grants)
    return RunResult(apps=cfg.apps, impl=impl, exit_code=child.exit_code, wall_s=child.wall_s,
                     peak_rss_mb=child.peak_rss_mb, cpu_s=child.cpu_s,
                     emulator_cpu_s=emulator_cpu, results=_results(child.lines()),
                     stderr_tail=child.stderr_tail, **figures)


# -- three events per app ----------------------------------------------------------------
def run_triple(cfg: Config) -> tuple[RunResult, RunResult]:
    """The same new apps delivered once with one event each and once with three (the app
    write, its tags write, the service's own write), each to a fresh emulator."""
    from emulator import EmulatorThread

    out: list[RunResult] = []
    for per_app in (1, 3):
        with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
                EmulatorThread(latency_ms=cfg.latency_ms, time_scale=cfg.time_scale) as emu:
            apps = seed_apps(emu, cfg.apps, cfg.grants)
            person = emu.person_oid("bench")
            events = []
            for a in apps:
                events.append(write_event(emu, a, person))
                if per_app == 3:
                    events.append(write_event(emu, a, person, op=_TAGS_OP,
                                              uri=f"{a}/providers/Microsoft.Resources/tags/default"))
                    events.append(write_event(emu, a, emu.service_oid))
            path = os.path.join(tmp, "events.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(events, f)
            emu.clear_log()
            child = run_child(_child_args("service", path, cfg),
                              child_env(emu.env, policy_file(tmp)), tmp, f"x{per_app}")
            out.append(_result(emu, cfg, f"{per_app} per app", apps, child, 0.0))
    return out[0], out[1]


# -- figures next to bounds -------------------------------------------------------------
def _med(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def burst_checks(cfg: Config, runs: list[RunResult], bounds: Bounds,
                 naive: list[RunResult] | None = None) -> list[Check]:
    """Every figure of the service's runs (and of the naive ones) next to its bound."""
    n, k = cfg.apps, cfg.grants
    out: list[Check] = []
    eps = _med(r.events_per_s for r in runs)
    if cfg.bucket is None:
        out.append(Check("events/s (burst ARM time)", f"{eps:.1f}",
                         f">= {bounds.min_events_per_s:g}", eps >= bounds.min_events_per_s))
    else:
        out.append(Check("events/s (burst ARM time)", f"{eps:.1f}", "bucket-bound"))
    if naive:
        neps = _med(r.events_per_s for r in naive)
        ratio = eps / neps if neps > 0 else float("inf")
        out += [
            Check("naive baseline events/s", f"{neps:.1f}",
                  f"poll every {cfg.naive_poll_s:g} s"),
            Check("  service over naive", f"{ratio:.2f}x", f">= {bounds.min_naive_ratio:g}x",
                  ratio >= bounds.min_naive_ratio),
            Check("  naive: requests per app", f"{_med(r.requests / n for r in naive):.2f}",
                  f"{_med(r.polls / n for r in naive):.2f} polls"),
            Check("  naive: p50 / p99 latency, s",
                  f"{_med(pct(r.latency_s, 50) for r in naive):.2f} / "
                  f"{_med(pct(r.latency_s, 99) for r in naive):.2f}"),
        ]
    out.append(Check("service wall time, s (start-up incl.)",
                     f"{_med(r.wall_s for r in runs):.2f}"))
    if k:
        for p, bound in ((50, bounds.max_p50_s), (99, bounds.max_p99_s)):
            value = _med(pct(r.latency_s, p) for r in runs)
            ok = None if cfg.bucket is not None else value <= bound
            out.append(Check(f"p{p} latency, taken up -> granted, s", f"{value:.3f}",
                             "bucket-bound" if ok is None else f"<= {bound:g}", ok))
        out.append(Check("p50 / p99 from the delivery, s",
                         f"{_med(pct(r.delivery_latency_s, 50) for r in runs):.2f} / "
                         f"{_med(pct(r.delivery_latency_s, 99) for r in runs):.2f}",
                         "(the burst's queue included)"))
    writes_ok = _med(r.writes_ok / n for r in runs)
    out.append(Check("ARM writes per app (429s excl.)", f"{writes_ok:.2f}",
                     f"= {k + 1} (k + 1)", all(r.writes_ok == (k + 1) * n for r in runs)))
    own = max(r.own_max for r in runs)
    out.append(Check("ARM requests per app, its own (max)", str(own), f"<= {k + 3} (k + 3)",
                     own <= k + 3))
    shared = max(r.shared for r in runs)
    allowed = 1 + min(k, len(ROLES))
    out.append(Check("ARM requests shared by the burst", str(shared),
                     f"<= {allowed} (1 listing, each role once)", shared <= allowed))
    out.append(Check("ARM requests per app, all", f"{_med(r.requests / n for r in runs):.3f}",
                     f"{_med(r.polls / n for r in runs):.2f} polls"))
    throttled = max(r.throttled for r in runs)
    share = max(100 * r.throttled / r.writes if r.writes else 0.0 for r in runs)
    out.append(Check("429 answers (worst run)", f"{throttled} ({share:.2f}% of writes)",
                     f"< {bounds.max_429_pct:g}% of writes", share < bounds.max_429_pct))
    left = max(r.left_for_retry for r in runs)
    out.append(Check("events left for retry (worst run)", str(left), "0 (one delivery)",
                     left == 0 and all(r.exit_code == 0 for r in runs)))
    converged = min(r.converged for r in runs)
    out.append(Check("apps converged (worst run)", f"{converged}/{n}", f"{n}/{n}",
                     converged == n and all(r.stray == 0 for r in runs)))
    if cfg.bucket is not None:
        cap, refill = cfg.bucket
        lower = _med(max(0.0, (r.writes_ok - cap) / refill) for r in runs)
        out.append(Check("bucket lower bound, s", f"{lower:.2f}", "(writes - capacity) / refill"))
        arm_s = _med(r.arm_s for r in runs)
        if lower > 0:
            ratio = arm_s / lower
            out.append(Check("burst ARM time, s", f"{arm_s:.2f}",
                             f"<= {bounds.max_bucket_ratio:g} x lower bound",
                             ratio <= bounds.max_bucket_ratio))
            out.append(Check("  ratio to lower bound", f"{ratio:.3f}"))
        else:
            out.append(Check("burst ARM time, s", f"{arm_s:.2f}", "no bound: writes <= capacity"))
    rss = max(r.peak_rss_mb for r in runs)
    out.append(Check("peak RSS of the service, MB (max)", f"{rss:.1f}",
                     f"<= {bounds.max_rss_mb:g}", rss <= bounds.max_rss_mb))
    return out


def replay_checks(cfg: Config, replays: list[RunResult], bounds: Bounds) -> list[Check]:
    """A replay of the burst, by a fresh process: reads only, each event unchanged."""
    n = cfg.apps
    per_event = max(r.requests / n for r in replays)
    unchanged = min(r.results.get("unchanged", 0) for r in replays)
    return [
        Check("replay: ARM requests per event (worst)", f"{per_event:.3f}",
              f"<= {bounds.max_replay_requests:g}", per_event <= bounds.max_replay_requests),
        Check("replay: writes", str(max(r.writes for r in replays)), "0",
              all(r.writes == 0 for r in replays)),
        Check("replay: events unchanged (worst run)", f"{unchanged}/{n}", f"{n}/{n}",
              unchanged == n and all(r.exit_code == 0 for r in replays)),
    ]


def triple_checks(cfg: Config, one: RunResult, three: RunResult) -> list[Check]:
    """Three events per app cost no more than one."""
    n = cfg.apps
    return [
        Check("one event per app: ARM requests", str(one.requests), f"{n} apps"),
        Check("three events per app: ARM requests", str(three.requests),
              f"<= {one.requests} (one per app)", three.requests <= one.requests),
        Check("three events per app: writes", str(three.writes), f"= {one.writes} (one per app)",
              three.writes == one.writes),
        Check("three events per app: outcomes", str(sum(three.results.values())),
              f"= {3 * n} (one per event)", sum(three.results.values()) == 3 * n
              and three.results.get("retry", 0) == 0),
        Check("apps converged (both)", f"{min(one.converged, three.converged)}/{n}", f"{n}/{n}",
              one.converged == three.converged == n and one.stray == three.stray == 0),
    ]
