"""``python -m handlers bench [SCENARIO ...]``: the service at Azure's real pace, against
the local emulator, every figure next to its bound (issue 15).

The emulator runs in this process (a background thread) at the recorded real
pace unless ``--time-scale`` says otherwise: an identity change stays
``InProgress`` for about 10 s, as in Azure. The service runs alone in a child
process, so its CPU time and peak RSS are its own. Scenarios:

``burst`` (default)
    ``--apps`` new apps with ``--grants`` grant tags, one delivery, to
    ``handle`` and, side by side, to the naive baseline (bench/naive.py); then
    the same delivery replayed to a fresh process; and the cold start
    (bench/burst.py).
``triple``
    the same apps delivered with three events each (app write, tags write, the
    service's own write) and with one: three cost no more than one.
``failure``
    every identity change fails after ARM accepted it (``ResourceWriteFailure``):
    the apps converge again, and no grant is left for a principal an app does not
    have (bench/failure.py).
``throttled``
    a burst in one delivery through ARM's write bucket (``--bucket``, 20/10 by
    default for 100 apps): paced, not retried.
``deadline``
    ARM's real bucket (200, 10/s) and a burst delivered through ``serve`` in
    Event Grid-sized batches: every answer within 25 s, no event lost
    (bench/deadline.py).
``sweep``
    ``reconcile`` over 10,000 converged apps in 20 subscriptions (bench/sweep.py).
``all``
    every scenario above (what ``make bench`` runs).

Figures are medians over ``--runs`` runs (peak RSS and worst cases: the
largest). The exit status is 1 when any bound fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from .burst import (
    Bounds,
    Config,
    RunResult,
    burst_checks,
    replay_checks,
    run_burst,
    run_triple,
    triple_checks,
)
from .common import _SCRUB, ROOT, Check, print_checks

R = TypeVar("R")

__all__ = [
    "SCENARIOS",
    "Bounds",
    "Check",
    "Config",
    "RunResult",
    "build_parser",
    "burst_checks",
    "cold_start",
    "main",
    "run_burst",
]

SCENARIOS = ("burst", "triple", "failure", "throttled", "deadline", "sweep")


# -- cold start -------------------------------------------------------------------------
_TIMER = ("import time, sys; sys.path.insert(0, {root!r}); t = time.perf_counter(); "
          "import {module}; print(time.perf_counter() - t)")


def cold_start(runs: int = 7) -> tuple[float, float]:
    """Median seconds of ``import azure.functions`` and ``import function_app``, each in
    fresh interpreters (alternating, so that both see the same machine load)."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    times: dict[str, list[float]] = {"azure.functions": [], "function_app": []}
    for _ in range(runs):
        for module in times:
            code = _TIMER.format(root=ROOT, module=module)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, cwd=ROOT, check=True)
            times[module].append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times["azure.functions"]), statistics.median(times["function_app"])


def _cold_start_checks(runs: int, bounds: Bounds) -> list[Check]:
    af, fa = cold_start(runs)
    ratio = fa / af if af > 0 else float("inf")
    return [
        Check("cold start: import azure.functions, ms", f"{af * 1000:.0f}",
              f"median of {runs} fresh processes"),
        Check("cold start: import function_app, ms", f"{fa * 1000:.0f}",
              f"median of {runs} fresh processes"),
        Check("cold start ratio", f"{ratio:.2f}x", f"<= {bounds.max_cold_start_ratio:g}x",
              ratio <= bounds.max_cold_start_ratio),
    ]


# -- scenarios ----------------------------------------------------------------------------
def _run_line(label: str, r: RunResult) -> str:
    return (f"  {label}: {r.events_per_s:.1f} events/s, ARM time {r.arm_s:.2f} s, "
            f"wall {r.wall_s:.2f} s, {r.requests} requests ({r.reads} reads, {r.polls} polls, "
            f"{r.writes} writes, {r.throttled} x 429), RSS {r.peak_rss_mb:.1f} MB, "
            f"CPU {r.cpu_s:.1f} s (emulator {r.emulator_cpu_s:.1f} s), exit {r.exit_code}, "
            f"{r.results}")


def _burst(cfg: Config, bounds: Bounds, args: argparse.Namespace) -> list[Check]:
    naive_too = cfg.naive and cfg.bucket is None
    runs: list[RunResult] = []
    replays: list[RunResult] = []
    naive: list[RunResult] = []
    for i in range(cfg.runs):
        if naive_too:
            r, _ = run_burst(cfg, "naive")
            naive.append(r)
            print(_run_line(f"run {i + 1} naive  ", r), flush=True)
            _complain(r)
        r, again = run_burst(cfg, replay=cfg.bucket is None)
        runs.append(r)
        print(_run_line(f"run {i + 1} service", r), flush=True)
        _complain(r)
        if again is not None:
            replays.append(again)
            print(f"  run {i + 1} replay : {again.requests} requests, {again.writes} writes, "
                  f"{again.results}", flush=True)
    checks = burst_checks(cfg, runs, bounds, naive or None)
    if replays:
        checks += replay_checks(cfg, replays, bounds)
    if args.cold_start_runs and cfg.bucket is None:
        checks += _cold_start_checks(args.cold_start_runs, bounds)
    return checks


def _complain(r: RunResult) -> None:
    if r.exit_code not in (0, 75):
        sys.stderr.write(f"bench: {r.impl} exited {r.exit_code}:\n{r.stderr_tail}\n")


def _triple(cfg: Config, bounds: Bounds, args: argparse.Namespace) -> list[Check]:
    one, three = run_triple(cfg)
    print(_run_line("one event per app   ", one), flush=True)
    print(_run_line("three events per app", three), flush=True)
    return triple_checks(cfg, one, three)


def _repeated(cfg: Config, run: Callable[[], R], line: Callable[[R], str]) -> list[R]:
    """`cfg.runs` runs of a scenario, each worded by `line` as it ends."""
    runs = []
    for i in range(cfg.runs):
        runs.append(run())
        print(f"  run {i + 1}: {line(runs[-1])}", flush=True)
    return runs


def _failure(cfg: Config, bounds: Bounds, args: argparse.Namespace) -> list[Check]:
    from .failure import failure_checks, run_failure

    return failure_checks(cfg, run_failure(cfg))


def _deadline(cfg: Config, bounds: Bounds, args: argparse.Namespace) -> list[Check]:
    from .deadline import deadline_checks, run_deadline

    runs = _repeated(cfg, lambda: run_deadline(cfg, args.timeout), lambda r: (
        f"{len(r.answers)} POSTs, {r.delivered} events acknowledged, last write after "
        f"{r.arm_s:.1f} s, last acknowledgement after {r.last_ack_s:.1f} s, "
        f"exit {r.exit_code}"))
    return deadline_checks(cfg, runs, args.timeout, bounds.max_deadline_ratio)


def _sweep(cfg: Config, bounds: Bounds, args: argparse.Namespace) -> list[Check]:
    from .sweep import run_sweep, sweep_checks

    runs = _repeated(cfg, lambda: run_sweep(cfg, args.subscriptions), lambda r: (
        f"{r.wall_s:.1f} s, {r.requests} requests, {r.writes} writes, RSS "
        f"{r.peak_rss_mb:.1f} MB, seeding {r.seed_s:.1f} s, exit {r.exit_code}, {r.results}"))
    return sweep_checks(cfg, runs)


# Each scenario's own defaults; the options given on the command line win.
_DEFAULTS: dict[str, dict[str, object]] = {
    "burst": {},
    "triple": {"apps": 200, "runs": 1},
    "failure": {"apps": 100, "runs": 1},
    "throttled": {"apps": 100, "bucket": (20.0, 10.0), "runs": 1},
    "deadline": {"apps": 1000, "bucket": (200.0, 10.0), "runs": 1},
    "sweep": {"apps": 10000, "runs": 3},
}
_RUNNERS: dict[str, Callable[[Config, Bounds, argparse.Namespace], list[Check]]] = {
    "burst": _burst, "triple": _triple, "failure": _failure, "throttled": _burst,
    "deadline": _deadline, "sweep": _sweep,
}


def _bucket_arg(text: str) -> tuple[float, float] | None:
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        cap, refill = (float(x) for x in text.split("/", 1))
    except ValueError:
        raise argparse.ArgumentTypeError("expected off or CAPACITY/REFILL_PER_S, e.g. 20/10")\
            from None
    if cap < 1 or refill <= 0:
        raise argparse.ArgumentTypeError("capacity must be >= 1 and refill > 0")
    return cap, refill


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m handlers bench",
        description="Benchmark the service against the local emulator at Azure's real pace; "
        "each figure next to its bound (issue 15); exit 1 when a bound fails.",
        epilog="Scenarios: " + ", ".join(SCENARIOS) + ", all. See bench/__init__.py.")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", default=["burst"],
                   help="what to run (default: burst)")
    p.add_argument("--apps", type=int, default=None,
                   help="apps per burst (defaults: burst and deadline 1000, triple 200, "
                   "failure and throttled 100, sweep 10000)")
    p.add_argument("--grants", type=int, default=2, metavar="K",
                   help="grant tags per app (default: %(default)s)")
    p.add_argument("--latency-ms", type=float, default=30.0,
                   help="latency added to every ARM request (default: %(default)s)")
    p.add_argument("--bucket", type=_bucket_arg, default=None, metavar="off|CAP/REFILL",
                   help="ARM write token bucket, e.g. 20/10 or 200/10 (defaults: throttled "
                   "20/10, deadline 200/10, the others off)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="the emulator's pace: fraction of Azure's real time its operations "
                   "take (default: %(default)s, real pace; 0: at once)")
    p.add_argument("--runs", type=int, default=None,
                   help="runs to take medians over (defaults: burst and sweep 3, the others 1)")
    p.add_argument("--cold-start-runs", type=int, default=7, metavar="N",
                   help="fresh interpreters per import timed in the burst; 0 skips "
                   "(default: %(default)s)")
    p.add_argument("--no-naive", dest="naive", action="store_false",
                   help="skip the naive baseline in the burst")
    p.add_argument("--naive-poll-s", type=float, default=1.0, metavar="S",
                   help="the naive baseline's poll interval (default: %(default)s)")
    p.add_argument("--subscriptions", type=int, default=20, metavar="N",
                   help="subscriptions of the sweep (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=25.0, metavar="S",
                   help="serve's answer deadline in the deadline scenario (default: %(default)s)")
    g = p.add_argument_group("bounds (issue 15's by default)")
    b = Bounds()
    g.add_argument("--min-events-per-s", type=float, default=b.min_events_per_s, metavar="N",
                   help="throughput without a bucket (default: %(default)s)")
    g.add_argument("--min-naive-ratio", type=float, default=b.min_naive_ratio, metavar="X",
                   help="events/s over the naive baseline's (default: %(default)s)")
    g.add_argument("--max-p50-s", type=float, default=b.max_p50_s, metavar="S",
                   help="median latency, taken up -> granted (default: %(default)s)")
    g.add_argument("--max-p99-s", type=float, default=b.max_p99_s, metavar="S",
                   help="99th percentile latency (default: %(default)s)")
    g.add_argument("--max-rss-mb", type=float, default=b.max_rss_mb, metavar="MB",
                   help="peak RSS of the service in a burst (default: %(default)s)")
    g.add_argument("--max-429-pct", type=float, default=b.max_429_pct, metavar="PCT",
                   help="429 answers, in %% of writes (default: %(default)s)")
    g.add_argument("--max-bucket-ratio", type=float, default=b.max_bucket_ratio, metavar="X",
                   help="burst time over the bucket's lower bound (default: %(default)s)")
    g.add_argument("--max-deadline-ratio", type=float, default=b.max_deadline_ratio,
                   metavar="X", help="deadline: first delivery to last write over the "
                   "bucket's lower bound (default: %(default)s)")
    g.add_argument("--max-cold-start-ratio", type=float, default=b.max_cold_start_ratio,
                   metavar="X", help="import function_app over import azure.functions "
                   "(default: %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m handlers bench``; 0 when every bound holds."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    names = list(SCENARIOS) if "all" in args.scenarios else list(dict.fromkeys(args.scenarios))
    unknown = [n for n in names if n not in SCENARIOS]
    problems = [f"unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)}, "
                "all)"] if unknown else []
    if (args.apps is not None and args.apps < 1) or args.grants < 0 or \
            (args.runs is not None and args.runs < 1) or args.cold_start_runs < 0:
        problems.append("--apps and --runs must be >= 1, --grants and --cold-start-runs >= 0")
    if args.subscriptions < 1 or args.timeout <= 0 or args.naive_poll_s <= 0:
        problems.append("--subscriptions must be >= 1, --timeout and --naive-poll-s > 0")
    if problems:
        parser.print_usage(sys.stderr)
        sys.stderr.write("".join(f"bench: {p}\n" for p in problems))
        return 2
    bounds = Bounds(args.min_events_per_s, args.min_naive_ratio, args.max_p50_s,
                    args.max_p99_s, args.max_rss_mb, args.max_429_pct, args.max_bucket_ratio,
                    args.max_cold_start_ratio, max_deadline_ratio=args.max_deadline_ratio)
    failed: list[str] = []
    for name in names:
        cfg = _config(name, args)
        bucket = "off" if cfg.bucket is None else f"{cfg.bucket[0]:g}/{cfg.bucket[1]:g} " \
            "(capacity/refill per s)"
        print(f"aca-warden bench {name}: {cfg.apps} new apps, {cfg.grants} grant tags each, "
              f"latency {cfg.latency_ms:g} ms per ARM request, write bucket {bucket}, "
              f"time scale {cfg.time_scale:g}; {cfg.runs} run(s), medians", flush=True)
        checks = _RUNNERS[name](cfg, bounds, args)
        print_checks(f"{name} figures", checks)
        failed += [f"{name}: {c.name.strip()}" for c in checks if c.ok is False]
    print("bench: " + ("FAIL: " + "; ".join(failed) if failed else "every bound holds"),
          flush=True)
    return 1 if failed else 0


def _config(name: str, args: argparse.Namespace) -> Config:
    base = Config(grants=args.grants, latency_ms=args.latency_ms, time_scale=args.time_scale,
                  naive=args.naive, naive_poll_s=args.naive_poll_s)
    cfg = replace(base, **_DEFAULTS[name])  # type: ignore[arg-type]
    if args.apps is not None:
        cfg = replace(cfg, apps=args.apps)
    if args.runs is not None:
        cfg = replace(cfg, runs=args.runs)
    if args.bucket is not None or name == "burst":
        cfg = replace(cfg, bucket=args.bucket)
    return cfg
