"""The command line given bad input, as a hostile user gives it: exit codes and messages.

Every case runs ``python -m handlers ...`` in a subprocess against the emulator and
checks the contract's exit code (2 usage, 75 retry, 0 done), that the message names
what was wrong, and that nothing was written that should not have been.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Deployment, EmulatorThread

from .test_warden_cli import ROOT, app_id, both_workloads, event, lines, run, seed

OTHER_SUB = "7d1c9e53-8f0a-4c2b-9d3e-5a6b7c8d9e0f"


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3) as e:
        e.seed_resource_group("rg1")
        yield e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tagged_app_and_its_event(emu: Any, tmp_path: Path, name: str) -> tuple[str, Path]:
    """A new app with one grant tag, and a file holding a write event for it."""
    target = app_id(emu, f"{name}-{uuid.uuid4().hex[:4]}")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    f = tmp_path / "events.json"
    f.write_text(json.dumps(event(emu, target)))
    return target, f


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_an_absurdly_nested_file_is_a_usage_error_not_a_traceback(emu: Any, tmp_path: Path,
                                                                  text: str) -> None:
    f = tmp_path / "deep.json"
    f.write_text(text)
    p = run(emu, "handle", str(f), tmp=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr[-500:])
    assert "deep.json" in p.stderr and "Traceback" not in p.stderr


# -- WARDEN_DRY_RUN -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["on", "ON", "Yes", "true", "1"])
def test_every_documented_dry_run_value_writes_nothing(emu: Any, tmp_path: Path,
                                                       value: str) -> None:
    _, f = tagged_app_and_its_event(emu, tmp_path, f"dry-{value.lower()}")
    emu.clear_log()
    p = run(emu, "handle", str(f), tmp=tmp_path, extra={"WARDEN_DRY_RUN": value})
    assert p.returncode == 0, p.stderr
    [out] = lines(p.stdout)
    assert out["result"] == "applied" and out["dry_run"] is True
    assert all(c.startswith("planned: ") for c in out["changes"])
    assert emu.count(kind="write") == 0


@pytest.mark.parametrize("command", ["handle", "plan", "reconcile", "serve"])
def test_an_unknown_dry_run_value_stops_every_command_with_exit_2(emu: Any, tmp_path: Path,
                                                                  command: str) -> None:
    target, f = tagged_app_and_its_event(emu, tmp_path, f"dry-bad-{command}")
    args = {"handle": [str(f)], "plan": [target], "reconcile": [],
            "serve": ["--port", str(free_port())]}
    emu.clear_log()
    p = run(emu, command, *args[command], tmp=tmp_path, extra={"WARDEN_DRY_RUN": "maybe"})
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "WARDEN_DRY_RUN" in p.stderr and "'maybe'" in p.stderr
    assert "on" in p.stderr and "off" in p.stderr
    assert "Traceback" not in p.stderr
    assert emu.count() == 0


# -- reconcile --subscription --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "x", "../../providers", "not-a-guid", "%2e%2e",
                                 "00000000-0000-0000-0000-00000000000g", " "])
def test_a_malformed_subscription_is_named_never_sent_and_the_others_are_swept(
        emu: Any, tmp_path: Path, bad: str) -> None:
    target = app_id(emu, "sweep-ok")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    emu.clear_log()
    p = run(emu, "reconcile", "--subscription", bad, "--subscription", emu.subscription_id,
            tmp=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert repr(bad) in p.stderr and "subscription" in p.stderr
    assert "Traceback" not in p.stderr
    results = {o["app"]: o["result"] for o in lines(p.stdout)}
    assert results.get(target) in ("applied", "unchanged"), p.stdout
    sent = {r.path.split("/")[2] for r in emu.request_log if r.path.startswith("/subscriptions/")}
    assert sent <= {emu.subscription_id}, sent


def test_malformed_subscriptions_in_the_environment_are_usage_errors_too(
        emu: Any, tmp_path: Path) -> None:
    p = run(emu, "reconcile", tmp=tmp_path,
            extra={"WARDEN_SUBSCRIPTIONS": f"{emu.subscription_id}, ../x"})
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "'../x'" in p.stderr and "WARDEN_SUBSCRIPTIONS" in p.stderr


def test_a_subscription_that_does_not_exist_is_named_with_exit_2_others_swept(
        emu: Any, tmp_path: Path) -> None:
    target = app_id(emu, "sweep-ok2")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    missing = str(uuid.uuid4())
    p = run(emu, "reconcile", "--subscription", missing, "--subscription", emu.subscription_id,
            tmp=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert missing in p.stderr and "not found" in p.stderr.lower()
    results = {o["app"]: o["result"] for o in lines(p.stdout)}
    assert results.get(target) in ("applied", "unchanged")


def test_a_subscription_the_service_cannot_read_is_named_with_exit_2(tmp_path: Path) -> None:
    with EmulatorThread(time_scale=0, principal_delay_s=0.3) as emu:
        emu.seed_resource_group("rg1")
        emu.seed_resource_group("rg-other", subscription=OTHER_SUB)
        emu.deploy(Deployment(subscriptions=(emu.subscription_id,)))
        target = app_id(emu, "readable")
        emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
        p = run(emu, "reconcile", "--subscription", OTHER_SUB, "--subscription",
                emu.subscription_id, tmp=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert OTHER_SUB in p.stderr and "AuthorizationFailed" in p.stderr
    results = {o["app"]: o["result"] for o in lines(p.stdout)}
    assert results.get(target) == "applied"


def test_a_transient_failure_of_one_subscription_is_75_not_2(emu: Any, tmp_path: Path) -> None:
    emu.inject_fault("GET", r"providers/Microsoft\.App/containerApps$", 503,
                     "ServiceUnavailable", count=8)
    try:
        p = run(emu, "reconcile", "--subscription", emu.subscription_id, tmp=tmp_path)
    finally:
        emu.faults.clear()
    assert p.returncode == 75, (p.stdout, p.stderr)


def delete_as_person(emu: Any, resource_id: str) -> None:
    """DELETE a container app or job over HTTPS as a person, and wait until it is gone."""
    request = urllib.request.Request(
        f"{emu.endpoint}{resource_id}?api-version=2024-03-01", method="DELETE",
        headers={"Authorization": f"Bearer {emu.person_token('alice')}"})
    with urllib.request.urlopen(request, context=emu.client_ssl_context(), timeout=10) as r:
        assert r.status in (200, 202, 204)
    deadline = time.monotonic() + 10
    while emu.get(resource_id) is not None:
        assert time.monotonic() < deadline, "the app was not deleted"
        time.sleep(0.05)


# -- plan ----------------------------------------------------------------------------------


@both_workloads
def test_plan_of_an_app_that_never_existed_says_not_found(emu: Any, tmp_path: Path,
                                                         kind: str) -> None:
    target = app_id(emu, "never-was", kind)
    emu.clear_log()
    p = run(emu, "plan", target, tmp=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "not found" in p.stderr and target in p.stderr
    [out] = lines(p.stdout)
    assert out["result"] != "deleted" and "not found" in (out["error"] or "")
    assert emu.count(kind="write") == 0


@both_workloads
def test_plan_of_a_deleted_app_with_grants_left_plans_their_cleanup(emu: Any, tmp_path: Path,
                                                                    kind: str) -> None:
    target = app_id(emu, "was-here", kind)
    seed(emu, target, {"grant:rg": "Reader@."})
    f = tmp_path / "events.json"
    f.write_text(json.dumps(event(emu, target)))
    assert run(emu, "handle", str(f), tmp=tmp_path).returncode == 0
    delete_as_person(emu, target)  # its delete event is never delivered
    p = run(emu, "plan", target, tmp=tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    [out] = lines(p.stdout)
    assert out["result"] == "deleted" and any("revoke" in c for c in out["changes"])


# -- no credential at all ------------------------------------------------------------------


class _NoIdentityImds(http.server.BaseHTTPRequestHandler):
    """An instance metadata endpoint of a machine without a managed identity (400)."""

    def do_GET(self) -> None:
        body = json.dumps({"error": "invalid_request",
                           "error_description": "Identity not found"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def no_credential_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An environment with no Azure credential of any kind: no azure-identity variables,
    no az / azd / pwsh on PATH, and an IMDS that knows no identity."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoIdentityImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    empty = tmp_path_factory.mktemp("empty-bin")
    yield {"PATH": str(empty), "HOME": str(empty),
           "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{server.server_port}",
           "WARDEN_ARM_ENDPOINT": "https://127.0.0.1:9", "IDENTITY_ENDPOINT": "",
           "IDENTITY_HEADER": "", "MSI_ENDPOINT": "", "MSI_SECRET": ""}
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("command", ["plan", "reconcile", "handle", "plan --all", "explain",
                                     "inventory", "release"])
def test_no_credential_at_all_exits_2_saying_what_was_tried(
        emu: Any, tmp_path: Path, no_credential_env: dict[str, str], command: str) -> None:
    target = app_id(emu, "no-cred")
    f = tmp_path / "events.json"
    f.write_text(json.dumps(event(emu, target)))
    sub = ["--subscription", emu.subscription_id]
    args = {"plan": [target], "reconcile": sub, "handle": [str(f)], "plan --all": sub,
            "explain": [target], "inventory": sub, "release": [target, "--yes"]}
    p = run(emu, *command.split(), *args[command], tmp=tmp_path, extra=no_credential_env)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "credential" in p.stderr.lower()
    for tried in ("EnvironmentCredential", "ManagedIdentityCredential", "AzureCliCredential"):
        assert tried in p.stderr
    assert "Traceback" not in p.stderr


def test_events_that_need_no_arm_are_answered_without_a_credential(
        emu: Any, tmp_path: Path, no_credential_env: dict[str, str]) -> None:
    f = tmp_path / "events.json"
    f.write_text(json.dumps([{"not": "an event"}]))
    p = run(emu, "handle", str(f), tmp=tmp_path, extra=no_credential_env)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert [o["result"] for o in lines(p.stdout)] == ["refused"]


def test_serve_without_any_credential_keeps_the_events_for_event_grid(
        emu: Any, tmp_path: Path, no_credential_env: dict[str, str]) -> None:
    """Where handle exits 2 (no credential at all), serve, a long-running host, answers the
    events 503 (each outcome retry, saying what was tried): acknowledging them unprocessed
    would lose them. The validation handshake needs no credential."""
    target = app_id(emu, f"no-cred-serve-{uuid.uuid4().hex[:4]}")
    emu.seed_container_app(target, tags={"grant:rg": "Reader@."})
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update({**emu.env, **no_credential_env, "PYTHONPATH": str(ROOT)})
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "handlers", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/events"
        assert proc.stderr is not None
        while "listening on" not in (line := proc.stderr.readline()):
            assert line, "serve stopped before it listened"

        def post(body: Any) -> tuple[int, Any]:
            request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, body = post([{"id": "v1", "eventType": "Microsoft.EventGrid."
                              "SubscriptionValidationEvent", "subject": "", "eventTime":
                              "2026-11-29T00:00:00Z", "dataVersion": "1", "data":
                              {"validationCode": "abc"}}])
        assert (status, body["validationResponse"]) == (200, "abc")
        emu.clear_log()
        status, body = post([event(emu, target)])
        assert status == 503, body
        [outcome] = body["outcomes"] if isinstance(body, dict) else body
        assert outcome["result"] == "retry" and "ManagedIdentityCredential" in outcome["error"]
        assert emu.count() == 0  # nothing reached ARM
    finally:
        proc.kill()
        proc.communicate(timeout=30)  # reaps it and closes its pipes


# -- policies that can never work ----------------------------------------------------------


def test_a_policy_that_can_never_grant_stops_the_command_naming_file_and_key(
        emu: Any, tmp_path: Path) -> None:
    _, f = tagged_app_and_its_event(emu, tmp_path, "floor-policy")
    emu.clear_log()
    p = run(emu, "handle", str(f), tmp=tmp_path, policy='[grants]\nallowed_roles = ["Owner"]\n')
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "policy-" in p.stderr and "grants.allowed_roles" in p.stderr
    assert "privilege floor" in p.stderr and emu.count() == 0


def test_a_policy_that_manages_nothing_runs_with_a_warning(emu: Any, tmp_path: Path) -> None:
    target, f = tagged_app_and_its_event(emu, tmp_path, "no-groups")
    p = run(emu, "handle", str(f), tmp=tmp_path, policy="[apps]\nresource_groups = []\n")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "apps.resource_groups is empty" in p.stderr
    assert lines(p.stdout)[0]["result"] == "ignored" and emu.get(target) is not None


# -- the Environment table: WARDEN_ARM_SCOPE, SSL_CERT_FILE, REQUESTS_CA_BUNDLE ---------------


def _token_resources(emu: Any) -> set[str]:
    from urllib.parse import parse_qs
    return {v for r in emu.request_log if r.kind == "token"
            for v in parse_qs(r.query).get("resource", [])}


def test_warden_arm_scope_is_the_token_scope_for_arm_else_the_endpoints(emu: Any,
                                                                       tmp_path: Path) -> None:
    _, f = tagged_app_and_its_event(emu, tmp_path, "scope")
    emu.clear_log()
    p = run(emu, "handle", str(f), tmp=tmp_path)  # default: <endpoint>/.default
    assert p.returncode == 0, p.stderr
    assert _token_resources(emu) == {emu.env["WARDEN_ARM_ENDPOINT"]}
    _, f = tagged_app_and_its_event(emu, tmp_path, "scope")
    emu.clear_log()
    p = run(emu, "handle", str(f), tmp=tmp_path,
            extra={"WARDEN_ARM_SCOPE": "https://management.core.windows.net//.default"})
    assert p.returncode == 0, p.stderr
    assert [o["result"] for o in lines(p.stdout)] == ["applied"]
    assert _token_resources(emu) == {"https://management.core.windows.net/"}


@pytest.mark.parametrize("given", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", None])
def test_either_ca_bundle_variable_alone_is_honoured_for_tls_to_arm(
        emu: Any, tmp_path: Path, given: str | None) -> None:
    """The emulator's certificate is trusted only through the CA bundle variables: either
    one alone is enough; with neither (system CAs) TLS to it fails, transiently (75)."""
    _, f = tagged_app_and_its_event(emu, tmp_path, "ca")
    bundle = emu.env["SSL_CERT_FILE"]
    extra = {"SSL_CERT_FILE": "", "REQUESTS_CA_BUNDLE": ""}
    if given:
        extra[given] = bundle
    p = run(emu, "handle", str(f), tmp=tmp_path, extra=extra)
    if given:
        assert p.returncode == 0, p.stderr
        assert [o["result"] for o in lines(p.stdout)] == ["applied"]
    else:
        assert p.returncode == 75, (p.stdout, p.stderr)
        assert [o["result"] for o in lines(p.stdout)] == ["retry"]


# -- identities.create_missing: only in the workload's own subscription ----------------------


def test_create_missing_creates_only_identities_of_the_workloads_own_subscription(
        tmp_path: Path) -> None:
    """The service may create identities in both subscriptions (Managed Identity
    Contributor everywhere), yet creates only the one in the workload's subscription; the
    other is refused as an identity, and the grant and the own identity still apply."""
    with EmulatorThread(time_scale=0, principal_delay_s=0.3) as emu:
        emu.seed_resource_group("rg1")
        emu.seed_subscription(OTHER_SUB)
        emu.seed_resource_group("rg-std", subscription=OTHER_SUB)
        emu.deploy(Deployment(create_missing_identities=True))
        mine = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg1/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/std")
        theirs = (f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-std/providers/"
                  "Microsoft.ManagedIdentity/userAssignedIdentities/std")
        policy = f'[identities]\nstandard = ["{mine}", "{theirs}"]\ncreate_missing = true\n'
        target, f = tagged_app_and_its_event(emu, tmp_path, "create-missing")
        p = run(emu, "handle", str(f), tmp=tmp_path, policy=policy)
        assert p.returncode == 0, p.stderr
        [out] = lines(p.stdout)
        assert out["result"] == "applied", out  # grant and own identity despite the refusal
        assert f"create identity {mine}" in out["changes"], out
        assert f"attach identity {mine}" in out["changes"], out
        assert any(c.startswith("grant Reader on") for c in out["changes"]), out
        [refused] = out["refused"]
        assert refused["identity"] == theirs and "subscription" in refused["reason"]
        assert "tag" not in refused
        assert emu.get(mine) is not None and emu.get(theirs) is None
        attached = {k.lower() for k in emu.get(target)["identity"]["userAssignedIdentities"]}
        assert attached == {mine.lower()}
