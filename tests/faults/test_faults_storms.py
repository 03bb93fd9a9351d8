"""429 storms, a timeout in the middle of the identity PATCH's long-running operation,
and the process killed in the middle of a reconcile."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from integration.conftest import World

from emulator import EmulatorThread

from .conftest import STD, TAGS, assert_converged, deliver_until_done

ROOT = Path(__file__).resolve().parents[2]


async def test_429_storm_on_every_call_converges_without_duplicates(world, make_warden) -> None:
    apps = [f"app{i}" for i in range(6)]
    events = []
    for name in apps:
        events += await world.create_app(name, TAGS)
    world.emu.inject_fault("*", r"^/subscriptions/", 429, "TooManyRequests", count=60)
    history = await deliver_until_done(make_warden, events, attempts=20)
    assert len(history) > 1, "the storm was absorbed: it did not test redelivery"
    assert sum(1 for r in world.emu.request_log if r.status == 429) == 60
    for name in apps:
        assert_converged(world, name, TAGS)


async def test_write_throttling_by_arms_bucket_converges(world, make_warden) -> None:
    apps = [f"app{i}" for i in range(5)]
    events = []
    for name in apps:
        events += await world.create_app(name, TAGS)
    world.emu.set_write_bucket(3, 10)  # 5 apps x 3 writes against a bucket of 3
    await deliver_until_done(make_warden, events, attempts=10)
    world.emu.set_write_bucket(None)
    for name in apps:
        assert_converged(world, name, TAGS)


async def test_identity_patch_whose_operation_never_finishes_does_not_hold_the_event(
        world, make_warden) -> None:
    """The PATCH is accepted and its operation hangs InProgress: the principal ARM shows
    right away is enough; the grants are made at once and the operation is never polled."""
    events = await world.create_app("app1", TAGS)
    world.emu.time_scale = 1  # real pace: the operation stays InProgress for 10 s
    warden = make_warden()
    world.emu.clear_log()
    start = time.monotonic()
    [out] = await asyncio.wait_for(warden.handle_payload(events), 30)
    assert out.result == "applied", out
    assert time.monotonic() - start < 5
    assert world.emu.count(path_contains="containerappOperation") == 0
    assert_converged(world, "app1", TAGS)


# --- the process killed in the middle of a reconcile ---------------------------------------------


def _run(emu: Any, tmp: Path, events: Path, **kw: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(emu.env, PYTHONPATH=str(ROOT), WARDEN_POLICY=str(tmp / "policy.toml"))
    return subprocess.Popen([sys.executable, "-m", "handlers", "handle", str(events)],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def test_process_killed_after_the_first_write_then_redelivered_converges(tmp_path) -> None:
    many = {f"grant:r{i}": f"Reader@Microsoft.Storage/storageAccounts/st{i}" for i in range(6)}
    many.update(TAGS)
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3, latency_ms=60) as emu:
        world = World(emu)
        for i in range(6):
            emu.seed_resource(f"{world.rg}/providers/Microsoft.Storage/storageAccounts/st{i}")
        std = emu.seed_identity(f"{world.rg}/providers/Microsoft.ManagedIdentity/"
                                f"userAssignedIdentities/{STD}")["id"]
        world.std = std
        (tmp_path / "policy.toml").write_text(f'[identities]\nstandard = ["{std}"]\n')
        app = world.app_id("app1")
        emu.seed_container_app(app, tags=many)
        person = emu.seed_role_assignment(world.rg, world.role_guid("Contributor"),
                                          emu.person_oid("alice"), principal_type="User")
        f = tmp_path / "events.json"
        f.write_text(json.dumps([world.event(app)]))
        emu.clear_log()
        proc = _run(emu, tmp_path, f)
        deadline = time.monotonic() + 30
        while not any(r.kind == "write" and r.status for r in list(emu.request_log)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no write seen"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        writes_before = emu.count(kind="write")
        assert writes_before < 9, "the kill came too late to interrupt anything"
        # Event Grid had no answer: it delivers the event again.
        proc = _run(emu, tmp_path, f)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        [line] = [json.loads(x) for x in out.splitlines()]
        assert line["result"] in ("applied", "unchanged"), line
        assert_converged(world, "app1", many, [person])
        # And once more: nothing left to do.
        proc = _run(emu, tmp_path, f)
        out, _ = proc.communicate(timeout=60)
        assert json.loads(out)["result"] == "unchanged"
