"""Secrets stay secret: tokens, IDENTITY_HEADER, claims beyond ids and container app
secret values never appear in logs (captured at DEBUG, every logger, the Azure SDK's
included) or in outcomes, in process and through the CLI.

The emulator's token issuer is wrapped so that every token it hands out (to the
service and to the person) is known; each is scanned for whole and by its
payload and signature parts.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, EmulatorThread
from handlers.azure import Arm
from handlers.policy import Policy
from handlers.warden import Warden

# No __init__.py here: a package named "secrets" on sys.path would shadow the standard
# library's. The integration suite's World lives one level up.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.conftest import WORKLOADS, World

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex
TAGS = {"grant:rg": "Reader@.",
        "grant:st": "Storage Blob Data Reader@Microsoft.Storage/storageAccounts/st1"}
CLAIMS = {  # what a real event's claims carry beyond the ids
    "name": "Alice Claimsworth-" + uuid.uuid4().hex[:6],
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":
        f"alice.{uuid.uuid4().hex[:8]}@contoso.example",
    "ipaddr": "203.0.113.177",
    "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa-" + uuid.uuid4().hex[:6],
    "aud": "https://management.core.windows.net/",
    "iss": "https://sts.windows.net/tenant-" + uuid.uuid4().hex[:6] + "/",
}
SECRET_APP = {"configuration": {"secrets": [{"name": "db-password", "value": SECRET_VALUE}],
                                "activeRevisionsMode": "Single"},
              "template": {"containers": [{"name": "web", "image": "nginx",
                                           "env": [{"name": "DB", "secretRef": "db-password"}]}]}}


def record_tokens(emu: Any) -> list[str]:
    issued: list[str] = []
    issuer = emu.issuer
    original = issuer.mint

    def mint(**kwargs: Any) -> tuple[str, int]:
        token, exp = original(**kwargs)
        issued.append(token)
        return token, exp

    issuer.mint = mint
    return issued


def needles(emu: Any, tokens: list[str]) -> dict[str, str]:
    found = {"IDENTITY_HEADER": emu.identity_header, "secret value": SECRET_VALUE}
    for i, t in enumerate(tokens):
        found[f"token {i}"] = t
        _header, payload, signature = t.split(".")
        found[f"token {i} payload"] = payload
        found[f"token {i} signature"] = signature
    for key, value in CLAIMS.items():
        found[f"claim {key}"] = value
    return found


def scan(text: str, secrets: dict[str, str]) -> None:
    leaked = [what for what, value in secrets.items() if value and value in text]
    assert not leaked, f"leaked: {leaked}"


def with_claims(event: dict[str, Any]) -> dict[str, Any]:
    event["data"]["claims"].update(CLAIMS)
    return event


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(time_scale=0, page_size=2, principal_delay_s=0.3, retry_after_s=0) as e:
        for key, value in e.env.items():
            monkeypatch.setenv(key, value)
        yield e


@pytest.mark.parametrize("kind", list(WORKLOADS))  # a container app, a job
async def test_scenarios_at_debug_leak_nothing(emu, caplog, capsys, kind) -> None:
    tokens = record_tokens(emu)
    caplog.set_level(logging.DEBUG)  # root: every logger, azure-core and azure-identity too
    world = World(emu, WORKLOADS[kind])
    outcomes = []
    arm = Arm.from_env(emu.env)
    arm.retry_backoff_s = 0.01
    warden = Warden(Policy(), arm)
    try:
        poller = await world.ops.begin_create_or_update(
            "rg1", "app1", {"location": "eastus", "tags": TAGS, "properties": SECRET_APP})
        await poller.result()
        assert SECRET_VALUE in json.dumps(emu.store.resources)  # stored, so it could leak
        app_id = world.app_id("app1")
        write = with_claims(world.event(app_id))
        outcomes += await warden.handle_payload([write, write])  # applied, unchanged
        emu.inject_fault("PUT", r"/roleAssignments/", 503, "ServiceUnavailable", count=5)
        await world.set_tags("app1", {"grant:rg": "Reader@.", "grant:x": "Owner@.",
                                      "grant:y": "Reader@Microsoft.Storage/storageAccounts/no"})
        outcomes += await warden.handle_payload([with_claims(world.event(app_id))])  # retry
        emu.faults.clear()
        outcomes += await warden.handle_payload([with_claims(world.event(app_id))])
        outcomes.append(await warden.plan_app(app_id))
        outcomes += await warden.reconcile_all([emu.subscription_id])
        await world.delete_app("app1")
        outcomes += await warden.handle_payload([with_claims(world.event(
            app_id, op=world.op("delete"),
            event_type="Microsoft.Resources.ResourceDeleteSuccess"))])
    finally:
        await warden.close()
        await world.close()
    results = [o.result for o in outcomes]
    assert {"applied", "unchanged", "retry", "deleted"} <= set(results), results
    assert any(o.refused for o in outcomes)
    assert len(tokens) >= 2 and any(r.name.startswith("azure") for r in caplog.records)
    secrets = needles(emu, tokens)
    text = "\n".join(r.getMessage() for r in caplog.records)
    text += "\n".join(json.dumps(o.to_json(), default=str) for o in outcomes)
    captured = capsys.readouterr()
    scan(text + captured.out + captured.err, secrets)
    # The scan is not vacuous: the same values are found where they really are.
    scan_hit = needles(emu, tokens)
    assert any(v in json.dumps(write) for k, v in scan_hit.items() if k.startswith("claim"))


@pytest.fixture(scope="module")
def emu_thread() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3) as e:
        yield e


def cli(emu: Any, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(emu.env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "handlers", "-vv", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_at_debug_leaks_nothing(emu_thread, tmp_path) -> None:
    emu = emu_thread
    tokens = record_tokens(emu)
    world = World(emu)
    app_id = world.app_id("cliapp")
    emu.seed_container_app(app_id, tags=TAGS, properties=SECRET_APP)
    f = tmp_path / "events.json"
    f.write_text(json.dumps([with_claims(world.event(app_id))]))
    runs = [cli(emu, tmp_path, "handle", str(f)), cli(emu, tmp_path, "plan", app_id),
            cli(emu, tmp_path, "reconcile", "--subscription", emu.subscription_id)]
    emu.inject_fault("GET", r"/containerApps/cliapp$", 403, "AuthorizationFailed")  # transient
    runs.append(cli(emu, tmp_path, "handle", str(f)))
    emu.faults.clear()
    assert [p.returncode for p in runs] == [0, 0, 0, 75], [p.stderr[-2000:] for p in runs]
    assert "DEBUG" in runs[0].stderr  # -vv really logged at debug
    assert tokens, "the CLI fetched no token from the emulator?"
    secrets = needles(emu, tokens)
    for p in runs:
        scan(p.stdout + p.stderr, secrets)
