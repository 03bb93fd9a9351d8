"""``python -m handlers bench``: the service under a burst, against the local emulator.

Each run starts a fresh emulator in this process (a background thread),
seeds ``--apps`` new container apps (no identity yet) carrying ``--grants``
grant tags each, and hands the matching Event Grid events, as one delivery,
to the real service running alone in a child process
(``python -m handlers handle FILE``), so that the child's peak RSS is the
service's own. Figures come from the emulator's request log ("ARM requests"
as the contract counts them: token requests excluded, LRO polls are reads,
writes are PUT/PATCH/DELETE/POST) and from the service's outcome lines:

- events/s: burst size over the burst's ARM time, from the service's first
  token request to the end of its last ARM request (process start-up is
  shown separately: it is the cold start, measured on its own below);
- p50/p99 time per event: the outcome's ``duration_ms`` (queueing for a
  concurrency slot included: in a burst that is what an event waits);
- with a write bucket: that ARM time against the bucket's lower bound
  ``(writes - capacity) / refill``;
- cold start: ``import function_app`` over ``import azure.functions``,
  each timed in fresh interpreters, medians.

Figures are medians over ``--runs`` runs (peak RSS: the largest). Each is
printed next to its bound (issue 5) with PASS or FAIL; the exit status is 1
when any bound fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Bounds",
    "Check",
    "Config",
    "RunResult",
    "build_parser",
    "checks",
    "cold_start",
    "main",
    "run_burst",
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES = ("Reader", "Storage Blob Data Reader")
_WRITE_OP = "Microsoft.App/containerApps/write"
# Settings of the caller's shell that would point the service elsewhere than the emulator
# (or send its telemetry and audit events out) during a bench.
_SCRUB = ("WARDEN_POLICY", "WARDEN_DRY_RUN", "WARDEN_SUBSCRIPTIONS", "WARDEN_ARM_SCOPE",
          "WARDEN_AUDIT_TOPIC_ENDPOINT", "WARDEN_AUDIT_TOPIC_KEY",
          "APPLICATIONINSIGHTS_CONNECTION_STRING", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
          "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "MSI_ENDPOINT", "MSI_SECRET")


@dataclass(frozen=True)
class Config:
    apps: int = 1000
    grants: int = 2
    latency_ms: float = 30.0
    bucket: tuple[float, float] | None = None  # (capacity, refill per second)
    runs: int = 3
    time_scale: float = 1.0  # the emulator's pace: 1 is Azure's real pace


@dataclass
class RunResult:
    """One burst: what the service answered and what ARM saw."""

    apps: int
    wall_s: float  # the child process, start to exit
    arm_s: float  # the service's first token request to the end of its last ARM request
    exit_code: int
    peak_rss_mb: float
    results: dict[str, int]
    durations_ms: list[float]
    reads: int
    writes: int
    writes_ok: int
    throttled: int  # 429 answers
    assignments: int = 0  # role assignments in ARM after the burst
    service_cpu_s: float = 0.0  # the child's user + system CPU
    emulator_cpu_s: float = 0.0  # this process (the emulator's thread) meanwhile
    stderr_tail: str = ""

    @property
    def events_per_s(self) -> float:
        return self.apps / self.arm_s if self.arm_s > 0 else float("inf")

    @property
    def left_for_retry(self) -> int:
        return self.results.get("retry", 0) + max(0, self.apps - sum(self.results.values()))


@dataclass
class Check:
    """One figure next to its bound; ``ok`` None = reported, no bound."""

    name: str
    value: str
    bound: str = ""
    ok: bool | None = None

    def line(self, width: int = 34) -> str:
        verdict = {True: "PASS", False: "FAIL", None: ""}[self.ok]
        return f"  {self.name:<{width}} {self.value:>18}   {self.bound:<28} {verdict}".rstrip()


@dataclass
class Bounds:
    """Issue 5's bounds (the options can loosen them for smoke runs, never silently)."""

    min_events_per_s: float = 50.0
    max_rss_mb: float = 150.0
    max_429_pct: float = 2.0
    max_bucket_ratio: float = 1.05
    max_cold_start_ratio: float = 1.2


# -- one burst ------------------------------------------------------------------------
def _policy_file(tmp: str) -> str:
    path = os.path.join(tmp, "policy.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# aca-warden bench: every default (no standard identities)\n[grants]\n"
                'tag_prefix = "grant:"\n')
    return path


def _seed(emu: Any, cfg: Config, person_oid: str) -> list[dict[str, Any]]:
    """Seed the apps and their grant scopes; the write events a person's creation sends."""
    sub = emu.subscription_id
    rg = f"/subscriptions/{sub}/resourceGroups/bench"
    emu.seed_resource_group("bench")
    for j in range(cfg.grants):
        emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/stbench{j}")
    tags = {f"grant:g{j}": f"{ROLES[j % len(ROLES)]}@Microsoft.Storage/storageAccounts/"
            f"stbench{j}" for j in range(cfg.grants)}
    tags["team"] = "bench"

    ids = [f"{rg}/providers/Microsoft.App/containerApps/app{i:05d}" for i in range(cfg.apps)]
    for app_id in ids:
        emu.seed_container_app(app_id, tags=tags)
    events = []
    for app_id in ids:
        events.append({
            "id": str(uuid.uuid4()), "topic": f"/subscriptions/{sub}", "subject": app_id,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": _WRITE_OP, "resourceUri": app_id, "status": "Succeeded",
                     "subscriptionId": sub, "tenantId": emu.tenant_id,
                     "correlationId": str(uuid.uuid4()),
                     "claims": {"http://schemas.microsoft.com/identity/claims/objectidentifier":
                                person_oid}},
        })
    return events


def _child_env(emu_env: dict[str, str], policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(emu_env)
    env["WARDEN_POLICY"] = policy
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# The service is started by a small launcher whose own child it is: Linux counts the
# address space a child was forked (or vforked) from in the child's peak RSS, so a
# service started straight from a large process (a test run) would be charged for it.
_LAUNCHER = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss,
               time.perf_counter() - start, usage.ru_utime + usage.ru_stime], f)
"""


def run_burst(cfg: Config) -> RunResult:
    """One burst against a fresh emulator; the service runs in a child process."""
    from emulator import EmulatorThread

    with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
            EmulatorThread(latency_ms=cfg.latency_ms, retry_after_s=0,
                           time_scale=cfg.time_scale) as emu:
        events = _seed(emu, cfg, emu.person_oid("bench"))
        path = os.path.join(tmp, "events.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(events, f)
        env = _child_env(emu.env, _policy_file(tmp))
        emu.clear_log()
        if cfg.bucket is not None:
            emu.set_write_bucket(*cfg.bucket)  # starts full
        out_path, err_path = os.path.join(tmp, "out.jsonl"), os.path.join(tmp, "err.txt")
        usage_path = os.path.join(tmp, "usage.json")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            cpu0 = time.process_time()
            subprocess.run([sys.executable, "-c", _LAUNCHER, usage_path, "-m", "handlers",
                            "handle", path], stdout=out, stderr=err, env=env, cwd=tmp,
                           check=True)
            emulator_cpu = time.process_time() - cpu0
        with open(usage_path, encoding="utf-8") as f:
            returncode, max_rss_kb, wall, service_cpu = json.load(f)
        # the service has exited: nothing adds to the log any more
        log: list[Any] = list(emu.request_log)
        assignments = len(emu.role_assignments())
        with open(out_path, encoding="utf-8") as f:
            outcomes = [json.loads(line) for line in f if line.strip()]
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr_tail = f.read()[-2000:]
    arm = [r for r in log if r.kind != "token"]
    tokens = [r.ts for r in log if r.kind == "token"]
    first = min(tokens + [r.ts for r in arm], default=0.0)
    last = max((r.ts for r in arm), default=first)
    results: dict[str, int] = {}
    for o in outcomes:
        results[o["result"]] = results.get(o["result"], 0) + 1
    writes = [r for r in arm if r.kind == "write"]
    return RunResult(
        apps=cfg.apps, wall_s=wall, arm_s=last - first, exit_code=returncode,
        peak_rss_mb=max_rss_kb / 1024,  # Linux: kilobytes
        results=results,
        durations_ms=[float(o.get("duration_ms") or 0.0) for o in outcomes],
        reads=sum(1 for r in arm if r.kind in ("read", "poll")), writes=len(writes),
        writes_ok=sum(1 for r in writes if r.status != 429),
        throttled=sum(1 for r in arm if r.status == 429), assignments=assignments,
        service_cpu_s=service_cpu, emulator_cpu_s=emulator_cpu,
        stderr_tail=stderr_tail)


# -- cold start -------------------------------------------------------------------------
_TIMER = ("import time, sys; sys.path.insert(0, {root!r}); t = time.perf_counter(); "
          "import {module}; print(time.perf_counter() - t)")


def cold_start(runs: int = 7) -> tuple[float, float]:
    """Median seconds of ``import azure.functions`` and ``import function_app``, each in
    fresh interpreters (alternating, so that both see the same machine load)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    times: dict[str, list[float]] = {"azure.functions": [], "function_app": []}
    for _ in range(runs):
        for module in times:
            code = _TIMER.format(root=ROOT, module=module)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, cwd=ROOT, check=True)
            times[module].append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times["azure.functions"]), statistics.median(times["function_app"])


# -- report -------------------------------------------------------------------------------
def _pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest-rank."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def checks(cfg: Config, runs: list[RunResult], bounds: Bounds) -> list[Check]:
    """Every figure of the runs next to its bound."""
    med = statistics.median
    n = cfg.apps
    out: list[Check] = []
    eps = med(r.events_per_s for r in runs)
    if cfg.bucket is None:
        out.append(Check("events/s (burst ARM time)", f"{eps:.1f}",
                         f">= {bounds.min_events_per_s:g}", eps >= bounds.min_events_per_s))
    else:
        out.append(Check("events/s (burst ARM time)", f"{eps:.1f}", "bucket-bound"))
    out.append(Check("service wall time, s (start-up incl.)", f"{med(r.wall_s for r in runs):.2f}"))
    for p in (50, 99):
        value = med(_pct(r.durations_ms, p) for r in runs)
        out.append(Check(f"p{p} time per event, ms", f"{value:.0f}"))
    reads = med(r.reads / n for r in runs)
    out.append(Check("ARM reads per event (polls incl.)", f"{reads:.2f}"))
    writes_ok = med(r.writes_ok / n for r in runs)
    want = cfg.grants + 1
    out.append(Check("ARM writes per event (429s excl.)", f"{writes_ok:.2f}",
                     f"= {want} (k + 1)", all(r.writes_ok == want * n for r in runs)))
    throttled = max(r.throttled for r in runs)
    pct = max(100 * r.throttled / r.writes if r.writes else 0.0 for r in runs)
    out.append(Check("429 answers (worst run)", f"{throttled} ({pct:.2f}% of writes)",
                     f"< {bounds.max_429_pct:g}% of writes", pct < bounds.max_429_pct))
    left = max(r.left_for_retry for r in runs)
    out.append(Check("events left for retry (worst run)", str(left), "0 (one delivery)",
                     left == 0 and all(r.exit_code == 0 for r in runs)))
    applied = min(r.results.get("applied", 0) for r in runs)
    out.append(Check("events applied (worst run)", f"{applied}/{n}", f"{n}/{n}", applied == n))
    granted = min(r.assignments for r in runs)
    out.append(Check("role assignments in ARM after", str(granted), f"{n * cfg.grants} (apps x k)",
                     all(r.assignments == n * cfg.grants for r in runs)))
    if cfg.bucket is not None:
        cap, refill = cfg.bucket
        lower = med(max(0.0, (r.writes_ok - cap) / refill) for r in runs)
        out.append(Check("bucket lower bound, s", f"{lower:.2f}", "(writes - capacity) / refill"))
        arm_s = med(r.arm_s for r in runs)
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
                     f"< {bounds.max_rss_mb:g}", rss < bounds.max_rss_mb))
    return out


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
        description="Benchmark the service against the local emulator: a burst of new apps "
        "delivered as one batch to 'python -m handlers handle' in a child process. Prints "
        "each figure next to its bound (issue 5); exit 1 when a bound fails.")
    p.add_argument("--apps", type=int, default=1000, help="burst size (default: %(default)s)")
    p.add_argument("--grants", type=int, default=2, metavar="K",
                   help="grant tags per app (default: %(default)s)")
    p.add_argument("--latency-ms", type=float, default=30.0,
                   help="latency added to every ARM request (default: %(default)s)")
    p.add_argument("--bucket", type=_bucket_arg, default=None, metavar="off|CAP/REFILL",
                   help="ARM write token bucket, e.g. 20/10 or 200/10 (default: off)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="the emulator's pace: fraction of Azure's real time its operations "
                   "take (default: %(default)s, real pace; 0: at once)")
    p.add_argument("--runs", type=int, default=3,
                   help="bursts to take medians over (default: %(default)s)")
    p.add_argument("--cold-start-runs", type=int, default=7, metavar="N",
                   help="fresh interpreters per import timed; 0 skips (default: %(default)s)")
    g = p.add_argument_group("bounds (issue 5's by default)")
    b = Bounds()
    g.add_argument("--min-events-per-s", type=float, default=b.min_events_per_s, metavar="N",
                   help="throughput without a bucket (default: %(default)s)")
    g.add_argument("--max-rss-mb", type=float, default=b.max_rss_mb, metavar="MB",
                   help="peak RSS of the service (default: %(default)s)")
    g.add_argument("--max-429-pct", type=float, default=b.max_429_pct, metavar="PCT",
                   help="429 answers, in %% of writes (default: %(default)s)")
    g.add_argument("--max-bucket-ratio", type=float, default=b.max_bucket_ratio, metavar="X",
                   help="burst time over the bucket's lower bound (default: %(default)s)")
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
    if args.apps < 1 or args.grants < 0 or args.runs < 1 or args.cold_start_runs < 0:
        parser.print_usage(sys.stderr)
        sys.stderr.write("bench: --apps and --runs must be >= 1, --grants >= 0\n")
        return 2
    cfg = Config(args.apps, args.grants, args.latency_ms, args.bucket, args.runs,
                 args.time_scale)
    bounds = Bounds(args.min_events_per_s, args.max_rss_mb, args.max_429_pct,
                    args.max_bucket_ratio, args.max_cold_start_ratio)
    bucket = "off" if cfg.bucket is None else f"{cfg.bucket[0]:g}/{cfg.bucket[1]:g} " \
        "(capacity/refill per s)"
    print(f"aca-warden bench: burst of {cfg.apps} new apps, {cfg.grants} grant tags each, "
          f"latency {cfg.latency_ms:g} ms per ARM request, write bucket {bucket}, "
          f"time scale {cfg.time_scale:g}; "
          f"{cfg.runs} run(s), medians", flush=True)
    runs: list[RunResult] = []
    for i in range(cfg.runs):
        r = run_burst(cfg)
        runs.append(r)
        print(f"  run {i + 1}: {r.events_per_s:.1f} events/s, ARM time {r.arm_s:.2f} s, "
              f"wall {r.wall_s:.2f} s, {r.reads} reads, {r.writes} writes, "
              f"{r.throttled} x 429, RSS {r.peak_rss_mb:.1f} MB, CPU service "
              f"{r.service_cpu_s:.1f} s / emulator {r.emulator_cpu_s:.1f} s, exit {r.exit_code}, "
              f"{json.dumps(r.results, sort_keys=True)}", flush=True)
        if r.exit_code not in (0, 75):
            sys.stderr.write(f"bench: the service exited {r.exit_code}:\n{r.stderr_tail}\n")
    results = checks(cfg, runs, bounds)
    if args.cold_start_runs:
        af, fa = cold_start(args.cold_start_runs)
        ratio = fa / af if af > 0 else float("inf")
        results += [
            Check("cold start: import azure.functions, ms", f"{af * 1000:.0f}",
                  f"median of {args.cold_start_runs} fresh processes"),
            Check("cold start: import function_app, ms", f"{fa * 1000:.0f}",
                  f"median of {args.cold_start_runs} fresh processes"),
            Check("cold start ratio", f"{ratio:.2f}x",
                  f"<= {bounds.max_cold_start_ratio:g}x", ratio <= bounds.max_cold_start_ratio),
        ]
    print("figures (medians over runs unless noted):")
    for c in results:
        print(c.line())
    failed = [c.name for c in results if c.ok is False]
    print("bench: " + ("FAIL: " + ", ".join(failed) if failed else "every bound holds"),
          flush=True)
    return 1 if failed else 0
