"""The command line: ready fast, env file usable by a plain SDK client, clean stop."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]

CLIENT = textwrap.dedent('''
    import asyncio, os, ssl, uuid
    import aiohttp
    from azure.core.credentials import AccessToken
    from azure.core.rest import HttpRequest
    from azure.identity.aio import DefaultAzureCredential
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient
    from azure.mgmt.authorization.aio import AuthorizationManagementClient
    from azure.mgmt.msi.aio import ManagedServiceIdentityClient

    class Person:
        """A person's token from the emulator's token endpoint (person=alice)."""
        async def get_token(self, *scopes, **kw):
            ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
                async with s.get(os.environ["IDENTITY_ENDPOINT"], params={
                        "resource": os.environ["WARDEN_ARM_ENDPOINT"], "person": "alice",
                        "api-version": "2019-08-01"},
                        headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}) as r:
                    body = await r.json()
            return AccessToken(body["access_token"], int(body["expires_on"]))
        async def close(self):
            pass
        async def __aenter__(self):
            return self
        async def __aexit__(self, *a):
            pass

    async def main():
        endpoint = os.environ["WARDEN_ARM_ENDPOINT"]
        sub = os.environ["AZURE_SUBSCRIPTION_ID"]
        kw = dict(base_url=endpoint, credential_scopes=[endpoint + "/.default"])
        rg = f"/subscriptions/{sub}/resourceGroups/rg1"
        async with DefaultAzureCredential() as service:  # holds only the template's roles
            async with ContainerAppsAPIClient(service, sub, **kw) as apps:
                r = await apps.send_request(HttpRequest(
                    "PUT", f"{endpoint}{rg}?api-version=2024-03-01",
                    json={"location": "eastus"}))
                assert r.status_code == 403 and "AuthorizationFailed" in r.text(), r.text()
        async with Person() as cred:
            async with ContainerAppsAPIClient(cred, sub, **kw) as apps, \\
                    ManagedServiceIdentityClient(cred, sub, **kw) as msi, \\
                    AuthorizationManagementClient(cred, sub, api_version="2022-04-01",
                                                  **kw) as authz:
                r = await apps.send_request(HttpRequest(
                    "PUT", f"{endpoint}{rg}?api-version=2024-03-01",
                    json={"location": "eastus"}))
                assert r.status_code == 201, r.text()
                uami = await msi.user_assigned_identities.create_or_update(
                    "rg1", "id1", {"location": "eastus"})
                app = await (await apps.container_apps.begin_create_or_update(
                    "rg1", "app1", {"location": "eastus"}, polling_interval=0)).result()
                app = await (await apps.container_apps.begin_update("rg1", "app1", {
                    "identity": {"type": "SystemAssigned,UserAssigned",
                                 "userAssignedIdentities": {uami.id: {}}}},
                    polling_interval=0)).result()
                principal = app.identity.principal_id
                reader = [d async for d in authz.role_definitions.list(
                    rg, filter="roleName eq 'Reader'")][0]
                ra = await authz.role_assignments.create(rg, str(uuid.uuid4()), {
                    "role_definition_id": reader.id, "principal_id": principal,
                    "principal_type": "ServicePrincipal"})
                listed = [a.name async for a in authz.role_assignments.list_for_scope(
                    f"/subscriptions/{sub}", filter=f"principalId eq '{principal}'")]
                assert listed == [ra.name], listed
                print("CLIENT-OK", principal)

    asyncio.run(main())
''')


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def _start_cli(env_file: Path, *extra: str) -> tuple[subprocess.Popen[str], float]:
    """Start ``python -m emulator``; (process, seconds until the env file exists)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--env-file", str(env_file), "--time-scale", "0",
         *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not env_file.exists() and time.monotonic() - started < 10:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    assert env_file.exists()
    return proc, time.monotonic() - started


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=10)


@pytest.mark.slow
def test_cli_ready_fast_and_usable_from_env_file_alone(tmp_path: Path) -> None:
    env_file = tmp_path / "emu.env"
    proc, ready_s = _start_cli(env_file, "--page-size", "1")
    if ready_s >= 2.0:  # one retry: the machine may be busy; a slow start fails twice
        _stop(proc)
        proc, ready_s = _start_cli(env_file, "--page-size", "1")
    try:
        assert ready_s < 2.0, f"ready after {ready_s:.2f}s"
        env = _read_env(env_file)
        assert set(env) == {"WARDEN_ARM_ENDPOINT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                            "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AZURE_SUBSCRIPTION_ID"}
        child_env = {k: v for k, v in os.environ.items()
                     if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
        child_env.update(env)
        client = subprocess.run([sys.executable, "-c", CLIENT], env=child_env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr[-3000:]
        assert "CLIENT-OK" in client.stdout
    finally:
        out, err = _stop(proc)
    assert proc.returncode == 0, err
    assert "listening on https://127.0.0.1:" in out
    assert not env_file.exists()  # its CA file is gone too


def test_cli_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc, _ = _start_cli(tmp_path / "emu.env")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
    assert "emulator stopped" in out


def test_cli_access_log_has_a_line_per_request_answered(tmp_path: Path) -> None:
    """``--access-log``: what a client (az) asked and how the emulator answered it."""
    log = tmp_path / "access.log"
    proc, _ = _start_cli(tmp_path / "emu.env", "--access-log", str(log))
    try:
        env = _read_env(tmp_path / "emu.env")
        context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
        base = env["WARDEN_ARM_ENDPOINT"]
        with urllib.request.urlopen(f"{base}/metadata/endpoints?api-version=2022-09-01",
                                    context=context) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/subscriptions?api-version=2022-12-01",
                                   context=context)
        refused.value.close()
        assert refused.value.code == 401
    finally:
        _stop(proc)
    assert log.read_text().splitlines() == [
        "200 GET /metadata/endpoints?api-version=2022-09-01 read None",
        "401 GET /subscriptions?api-version=2022-12-01 read None",
    ]


def test_cli_parses_its_knobs() -> None:
    args = build_parser().parse_args(["--port", "8443", "--latency-ms", "20", "--write-bucket",
                                      "200/10", "--deliver-to", "http://x/api/events"])
    assert (args.port, args.latency_ms, args.write_bucket) == (8443, 20, (200.0, 10.0))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--write-bucket", "lots"])
    assert args.time_scale == 1.0 and args.dead_letter_dir is None  # real pace by default
    assert args.retry_after is None  # ARM sends no Retry-After


@pytest.mark.parametrize(("given", "scale"), [("0.01", 0.01), ("100", 0.01), ("0", 0.0)])
def test_time_scale_option(given: str, scale: float) -> None:
    assert build_parser().parse_args(["--time-scale", given]).time_scale == scale


@pytest.mark.parametrize("bad", ["-1", "fast", "nan"])
def test_time_scale_option_refuses_nonsense(bad: str, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--time-scale", bad])
    assert "--time-scale" in capsys.readouterr().err


async def test_default_azure_credential_in_process(monkeypatch) -> None:
    from azure.identity.aio import DefaultAzureCredential
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

    async with Emulator(time_scale=0) as emu:
        emu.seed_container_app(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
                               "/providers/Microsoft.App/containerApps/app1")
        for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
                    "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT",
                    "IMDS_ENDPOINT"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", emu.env["IDENTITY_ENDPOINT"])
        monkeypatch.setenv("IDENTITY_HEADER", emu.env["IDENTITY_HEADER"])
        async with DefaultAzureCredential(connection_verify=emu.ca_path) as cred:
            token = await cred.get_token(emu.endpoint + "/.default")
            async with ContainerAppsAPIClient(cred, emu.subscription_id,
                                              **emu.client_kwargs()) as client:
                app = await client.container_apps.get("rg", "app1")
        assert app.name == "app1" and token.token
        assert emu.count(kind="token") >= 1
        assert emu.count(principal=emu.service_oid) == 1


async def test_cli_deliver_to_posts_events_to_the_webhook(tmp_path: Path, hook) -> None:
    import asyncio

    import aiohttp

    h, url = hook
    env_file = tmp_path / "emu.env"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "--env-file", str(env_file), "--deliver-to", url,
        "--time-scale", "0",
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(500):
            if await asyncio.to_thread(env_file.exists):
                break
            await asyncio.sleep(0.02)
        env = await asyncio.to_thread(_read_env, env_file)
        endpoint, sub = env["WARDEN_ARM_ENDPOINT"], env["AZURE_SUBSCRIPTION_ID"]
        ssl_ctx = await asyncio.to_thread(
            __import__("ssl").create_default_context, cafile=env["SSL_CERT_FILE"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as s:
            params = {"resource": endpoint, "api-version": "2019-08-01", "person": "alice"}
            async with s.get(env["IDENTITY_ENDPOINT"], params=params,
                             headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}) as r:
                token = (await r.json())["access_token"]
            async with s.put(f"{endpoint}/subscriptions/{sub}/resourceGroups/rg1",
                             params={"api-version": "2024-03-01"}, json={"location": "eastus"},
                             headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 201
        for _ in range(250):
            if h.notifications():
                break
            await asyncio.sleep(0.02)
        assert h.requests[0][0] == "SubscriptionValidation"
        (batch,) = h.notifications()
        assert batch[0]["data"]["operationName"] == (
            "Microsoft.Resources/subscriptions/resourceGroups/write")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)
        assert proc.returncode == 0


def test_cli_deploys_the_service_roles_the_template_would(capsys) -> None:
    from emulator.cli import _deployment, main

    args = build_parser().parse_args(["--grantable-roles", "AcrPull, Storage Blob Data Reader",
                                      "--create-missing-identities"])
    d = _deployment(args)
    assert d.grantable_roles == ("AcrPull", "Storage Blob Data Reader")
    assert d.create_missing_identities
    assert _deployment(build_parser().parse_args([])).grantable_roles == ("*",)
    assert main(["--grantable-roles", "No Such Role"]) == 2
    assert "unknown role 'No Such Role'" in capsys.readouterr().err
