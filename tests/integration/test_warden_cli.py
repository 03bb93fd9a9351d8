"""The CLI as users run it: ``python -m handlers ...`` in a subprocess against the emulator,
for container apps and jobs (``[app]`` / ``[job]``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorThread

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3) as e:
        e.seed_resource_group("rg1")
        yield e


def run(emu: Any, *args: str, policy: str | None = None, tmp: Path | None = None,
        extra: dict[str, str] | None = None, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(emu.env)
    env["PYTHONPATH"] = str(ROOT)
    if policy is not None:
        assert tmp is not None
        path = tmp / f"policy-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(policy)
        env["WARDEN_POLICY"] = str(path)
    env.update(extra or {})
    return subprocess.run([sys.executable, "-m", "handlers", *args], cwd=tmp or ROOT, env=env,
                          capture_output=True, text=True, timeout=60, input=stdin)


TYPES = {"app": "Microsoft.App/containerApps", "job": "Microsoft.App/jobs"}
both_workloads = pytest.mark.parametrize("kind", list(TYPES))


def app_id(emu: Any, name: str, kind: str = "app") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg1/providers/"
            f"{TYPES[kind]}/{name}")


def seed(emu: Any, target: str, tags: dict[str, str]) -> None:
    """A workload of the type `target` names, seeded without events."""
    if "/Microsoft.App/jobs/" in target:
        emu.seed_job(target, tags=tags)
    else:
        emu.seed_container_app(target, tags=tags)


def event(emu: Any, target: str) -> dict[str, Any]:
    wtype = TYPES["job"] if "/Microsoft.App/jobs/" in target else TYPES["app"]
    return {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{emu.subscription_id}",
            "subject": target, "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": f"{wtype}/write", "resourceUri": target,
                     "status": "Succeeded", "subscriptionId": emu.subscription_id,
                     "correlationId": str(uuid.uuid4()),
                     "claims": {"http://schemas.microsoft.com/identity/claims/objectidentifier":
                                emu.person_oid("alice")}}}


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@both_workloads
def test_handle_applies_then_replay_is_unchanged(emu, tmp_path, kind):
    target = app_id(emu, "cli1", kind)
    seed(emu, target, {"grant:rg": "Reader@."})
    f = tmp_path / "events.json"
    f.write_text(json.dumps([event(emu, target), {"not": "an event"}]))
    p = run(emu, "handle", str(f), tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    out = lines(p.stdout)
    assert [o["result"] for o in out] == ["applied", "refused"]
    assert list(out[0])[:6] == ["event_id", "app", "result", "changes", "refused", "error"]
    p = run(emu, "handle", "-", tmp=tmp_path, stdin=json.dumps(event(emu, target)))
    assert p.returncode == 0 and lines(p.stdout)[0]["result"] == "unchanged"


def test_handle_exit_75_on_transient_then_converges(emu, tmp_path):
    target = app_id(emu, "cli2")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    f = tmp_path / "events.json"
    f.write_text(json.dumps(event(emu, target)))
    emu.inject_fault("GET", r"containerApps/cli2$", 503, "ServiceUnavailable", count=4)
    p = run(emu, "handle", str(f), tmp=tmp_path)
    assert p.returncode == 75, p.stderr
    assert lines(p.stdout)[0]["result"] == "retry"
    p = run(emu, "handle", str(f), tmp=tmp_path)
    assert p.returncode == 0 and lines(p.stdout)[0]["result"] == "applied"


def test_handle_usage_errors_exit_2(emu, tmp_path):
    p = run(emu, "handle", str(tmp_path / "missing.json"), tmp=tmp_path)
    assert p.returncode == 2 and "missing.json" in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    p = run(emu, "handle", str(bad), tmp=tmp_path)
    assert p.returncode == 2 and "bad.json" in p.stderr and "not JSON" in p.stderr
    p = run(emu, "handle", tmp=tmp_path)
    assert p.returncode == 2
    ok = tmp_path / "ok.json"
    ok.write_text("[]")
    p = run(emu, "handle", str(ok), tmp=tmp_path, policy="[grants]\nallowed_roles = 3\n")
    assert p.returncode == 2 and "allowed_roles" in p.stderr
    emu.clear_log()
    p = run(emu, "handle", str(ok), tmp=tmp_path, extra={"WARDEN_POLICY": "/nope.toml"})
    assert p.returncode == 2 and "nope.toml" in p.stderr
    assert emu.count() == 0


def test_dry_run_env_writes_nothing(emu, tmp_path):
    target = app_id(emu, "cli3")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    f = tmp_path / "events.json"
    f.write_text(json.dumps(event(emu, target)))
    emu.clear_log()
    p = run(emu, "handle", str(f), tmp=tmp_path, extra={"WARDEN_DRY_RUN": "1"})
    assert p.returncode == 0, p.stderr
    assert lines(p.stdout)[0]["result"] == "applied"
    assert emu.count(kind="write") == 0


@both_workloads
def test_plan_prints_changes_and_writes_nothing(emu, tmp_path, kind):
    target = app_id(emu, "cli4", kind)
    seed(emu, target, {"grant:rg": "Reader@."})
    emu.clear_log()
    p = run(emu, "plan", target, tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    [out] = lines(p.stdout)
    assert out["app"] == target and out["changes"]
    assert emu.count(kind="write") == 0
    p = run(emu, "plan", "/subscriptions/x/resourceGroups/rg1", tmp=tmp_path)
    assert p.returncode == 2 and "not a container app or job id" in p.stderr
    assert "Microsoft.App/jobs/<name>" in p.stderr


def test_reconcile_sweeps_the_subscription(emu, tmp_path):
    app, job = app_id(emu, "cli5"), app_id(emu, "cli5", "job")
    seed(emu, app, {"grant:rg": "Reader@."})
    seed(emu, job, {"grant:rg": "Reader@."})
    p = run(emu, "reconcile", "--subscription", emu.subscription_id, tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    results = {o["app"]: o["result"] for o in lines(p.stdout)}
    assert results[app] == results[job] == "applied"
    assert "reconcile: sweeping container apps and jobs" in p.stderr


@pytest.mark.parametrize("cmd", ["", "handle", "plan", "reconcile", "serve", "demo", "emulator"])
def test_help_exits_zero(cmd):
    p = subprocess.run([sys.executable, "-m", "handlers", *([cmd] if cmd else []), "--help"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "usage" in p.stdout.lower()


@pytest.mark.parametrize("cmd", ["", "plan", "reconcile"])
def test_help_names_container_apps_and_jobs(cmd):
    p = subprocess.run([sys.executable, "-m", "handlers", *([cmd] if cmd else []), "--help"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    text = " ".join(p.stdout.split())
    assert "container app" in text.lower() and "job" in text, text
