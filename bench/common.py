"""What every bench scenario shares: figures next to bounds, seeding, child processes.

A figure is a :class:`Check`: its name, its value as printed, its bound and
whether it holds (``None``: shown, not bounded). The service (and the naive
baseline) always run in a child process started through a small launcher, so
that its CPU time and peak RSS are its own; the emulator runs in the bench's
process, in a background thread.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OID_CLAIM",
    "ROLES",
    "ROOT",
    "WRITE_OP",
    "Check",
    "Child",
    "Serve",
    "admitted",
    "child_env",
    "free_port",
    "grant_tags",
    "pct",
    "policy_file",
    "print_checks",
    "run_child",
    "seed_apps",
    "settled_ids",
    "start_serve",
    "stop_serve",
    "through_serve",
    "write_event",
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES = ("Reader", "Storage Blob Data Reader")
WRITE_OP = "Microsoft.App/containerApps/write"
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
# Settings of the caller's shell that would point the service elsewhere than the emulator
# (or send its telemetry and audit events out) during a bench.
_SCRUB = ("WARDEN_POLICY", "WARDEN_DRY_RUN", "WARDEN_SUBSCRIPTIONS", "WARDEN_ARM_SCOPE",
          "WARDEN_AUDIT_TOPIC_ENDPOINT", "WARDEN_AUDIT_TOPIC_KEY", "WARDEN_CONCURRENCY",
          "WARDEN_WEBHOOK_KEY", "APPLICATIONINSIGHTS_CONNECTION_STRING", "AZURE_CLIENT_ID",
          "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "MSI_ENDPOINT",
          "MSI_SECRET")


@dataclass
class Check:
    """One figure next to its bound; ``ok`` None = reported, no bound."""

    name: str
    value: str
    bound: str = ""
    ok: bool | None = None

    def line(self, width: int = 44) -> str:
        verdict = {True: "PASS", False: "FAIL", None: ""}[self.ok]
        return f"  {self.name:<{width}} {self.value:>22}   {self.bound:<30} {verdict}".rstrip()


def print_checks(title: str, checks: list[Check]) -> None:
    print(f"{title}:")
    for c in checks:
        print(c.line())


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest-rank (0 for no values)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


# -- seeding --------------------------------------------------------------------------
def policy_file(tmp: str) -> str:
    path = os.path.join(tmp, "policy.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# aca-warden bench: every default (no standard identities)\n[grants]\n"
                'tag_prefix = "grant:"\n')
    return path


def grant_tags(emu: Any, rg_id: str, k: int) -> dict[str, str]:
    """k grant tags, each a distinct (role, storage account) pair in the resource group."""
    tags = {"team": "bench"}
    for j in range(k):
        emu.seed_resource(f"{rg_id}/providers/Microsoft.Storage/storageAccounts/stbench{j}")
        tags[f"grant:g{j}"] = f"{ROLES[j % len(ROLES)]}@Microsoft.Storage/storageAccounts/" \
                              f"stbench{j}"
    return tags


def seed_apps(emu: Any, n: int, k: int, *, subscription: str | None = None,
              rg: str = "bench", identity: str | None = None, start: int = 0) -> list[str]:
    """Seed n container apps carrying k grant tags (new: no identity, unless given)."""
    sub = subscription or emu.subscription_id
    rg_id = f"/subscriptions/{sub}/resourceGroups/{rg}"
    emu.seed_resource_group(rg, subscription=sub)
    tags = grant_tags(emu, rg_id, k)
    ids = [f"{rg_id}/providers/Microsoft.App/containerApps/app{i:05d}"
           for i in range(start, start + n)]
    for app_id in ids:
        emu.seed_container_app(app_id, tags=tags, identity=identity)
    return ids


def write_event(emu: Any, app_id: str, caller_oid: str, *, op: str = WRITE_OP,
                uri: str | None = None) -> dict[str, Any]:
    """The ResourceWriteSuccess event the subscription system topic sends for a write."""
    sub = app_id.split("/")[2]
    return {
        "id": str(uuid.uuid4()), "topic": f"/subscriptions/{sub}", "subject": uri or app_id,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
        "data": {"operationName": op, "resourceUri": uri or app_id, "status": "Succeeded",
                 "subscriptionId": sub, "tenantId": emu.tenant_id,
                 "correlationId": str(uuid.uuid4()), "claims": {OID_CLAIM: caller_oid}},
    }


# -- child processes ----------------------------------------------------------------------
def child_env(emu_env: dict[str, str], policy: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(emu_env)
    env["WARDEN_POLICY"] = policy
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


# The child is started by a small launcher whose own child it is: Linux counts the
# address space a child was forked (or vforked) from in the child's peak RSS, so a
# process started straight from a large one (the bench, a test run) would be charged for it.
# It hands SIGTERM and SIGINT on to the child.
_LAUNCHER = """\
import json, os, signal, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
for sig in (signal.SIGTERM, signal.SIGINT):  # a stop is for the child
    signal.signal(sig, lambda s, _: os.kill(pid, s))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss,
               time.perf_counter() - start, usage.ru_utime + usage.ru_stime], f)
"""


@dataclass
class Child:
    """How a child process ended: exit code, peak RSS (MB), wall and CPU seconds, output."""

    exit_code: int
    peak_rss_mb: float
    wall_s: float
    cpu_s: float
    stdout: str
    stderr_tail: str

    def lines(self) -> list[dict[str, Any]]:
        """The JSON objects it printed, one per line (other lines skipped)."""
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def launch(args: list[str], env: dict[str, str], tmp: str, tag: str) -> tuple[Any, str, str]:
    """Start ``python ARGS`` through the launcher; (Popen, stdout path, usage path)."""
    out_path = os.path.join(tmp, f"{tag}.out")
    usage_path = os.path.join(tmp, f"{tag}.usage.json")
    out = open(out_path, "wb")  # noqa: SIM115 - closed by finish()
    err = open(os.path.join(tmp, f"{tag}.err"), "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, usage_path, *args], stdout=out,
                            stderr=err, env=env, cwd=tmp)
    proc._bench_files = (out, err)  # type: ignore[attr-defined]
    return proc, out_path, usage_path


def finish(proc: Any, out_path: str, usage_path: str) -> Child:
    """Wait for a launched child and read what it left."""
    proc.wait()
    for f in proc._bench_files:
        f.close()
    with open(usage_path, encoding="utf-8") as f:
        code, max_rss_kb, wall, cpu = json.load(f)
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(out_path[:-4] + ".err", encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    return Child(code, max_rss_kb / 1024, wall, cpu, stdout, stderr[-3000:])  # Linux: KB


def run_child(args: list[str], env: dict[str, str], tmp: str, tag: str) -> Child:
    """Run ``python ARGS`` through the launcher to its end."""
    return finish(*launch(args, env, tmp, tag))


def infra_batch_size() -> int:
    """The event subscription's ``maxEventsPerBatch`` default, as ``infra/`` deploys it."""
    path = os.path.join(ROOT, "infra", "events.bicep")
    with open(path, encoding="utf-8") as f:
        m = re.search(r"param\s+maxEventsPerBatch\s+int\s*=\s*(\d+)", f.read())
    if m is None:
        raise RuntimeError(f"{path}: no maxEventsPerBatch default")
    return int(m.group(1))


# -- serve and Event Grid -------------------------------------------------------------
# What the deployment's three event subscriptions admit (infra/README.md): the event
# types of the contract's table with their data.operationName values.
_ADMITTED = {
    "microsoft.resources.resourcewritesuccess": {
        "microsoft.app/containerapps/write", "microsoft.app/jobs/write",
        "microsoft.resources/tags/write"},
    "microsoft.resources.resourcedeletesuccess": {
        "microsoft.app/containerapps/delete", "microsoft.app/jobs/delete",
        "microsoft.resources/tags/delete"},
    "microsoft.resources.resourcewritefailure": {
        "microsoft.app/containerapps/write", "microsoft.app/jobs/write"},
}


def admitted(event: dict[str, Any]) -> bool:
    """Whether the deployment's event subscriptions deliver this event."""
    ops = _ADMITTED.get(str(event.get("eventType", "")).lower())
    op = str((event.get("data") or {}).get("operationName", "")).lower()
    return ops is not None and op in ops


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: Any, limit_s: float = 30.0) -> None:
    until = time.monotonic() + limit_s
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode} before it listened")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"serve did not listen on {port} within {limit_s:g} s")



@dataclass
class Serve:
    """``python -m handlers serve`` running in a child process."""

    proc: Any
    out_path: str
    usage_path: str
    url: str


def start_serve(env: dict[str, str], tmp: str, timeout: float = 25.0) -> Serve:
    """Start ``serve`` on a free loopback port and wait until it answers."""
    port = free_port()
    proc, out_path, usage_path = launch(
        ["-m", "handlers", "serve", "--port", str(port), "--timeout", f"{timeout:g}"],
        env, tmp, "serve")
    try:
        _wait_ready(port, proc)
    except BaseException:
        proc.kill()
        raise
    return Serve(proc, out_path, usage_path, f"http://127.0.0.1:{port}/api/events")


def stop_serve(serve: Serve) -> Child:
    """Stop ``serve`` as a host would (SIGTERM) and read what it left."""
    serve.proc.send_signal(signal.SIGTERM)
    return finish(serve.proc, serve.out_path, serve.usage_path)


def settled_ids(delivery: Any) -> set[str]:
    """Ids of the events a delivery acknowledged (2xx) or dead-lettered so far."""
    done = {e["id"] for e in list(delivery.delivered)}
    return done | {e["id"] for e, _ in list(delivery.dead_letters)}


def through_serve(emu: Any, tmp: str, events: list[dict[str, Any]], *, timeout: float = 25.0,
                  bucket: tuple[float, float] | None = None,
                  done: Callable[[Any], bool] | None = None,
                  max_wait_s: float = 7200.0) -> tuple[Any, Child, float]:
    """Deliver ``events`` to ``serve`` in a child process as the deployment's Event Grid
    subscriptions would (what they admit, in batches of infra's ``maxEventsPerBatch``,
    retried on Event Grid's schedule), starting the write bucket (if any) with the first
    delivery; wait until ``done(delivery)`` (default: each of ``events`` acknowledged or
    dead-lettered), then stop ``serve``. (delivery, serve's Child, when it was stopped.)"""
    ids = {e["id"] for e in events}
    finished = done or (lambda d: ids <= settled_ids(d))
    serve = start_serve(child_env(emu.env, policy_file(tmp)), tmp, timeout)
    try:
        delivery = emu.deliver_to(serve.url, batch_size=infra_batch_size(), admits=admitted)
        while not delivery.validated:  # the handshake goes first, as Event Grid's does
            time.sleep(0.05)
        emu.clear_log()
        if bucket is not None:
            emu.set_write_bucket(*bucket)  # starts full
        emu.publish(events)
        until = time.monotonic() + max_wait_s
        while not finished(delivery) and time.monotonic() < until:
            time.sleep(0.5)
    finally:
        stopped = time.time()
        child = stop_serve(serve)
    return delivery, child, stopped
