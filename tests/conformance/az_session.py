"""``make conformance``: the official Azure CLI drives a whole operator session against
the emulator, and every step's answer is checked.

    python tests/conformance/az_session.py --az PATH/TO/az [--time-scale 0.01]

The emulator runs as users run it (``python -m emulator --env-file F``); ``az`` runs
with that file's environment (managed identity endpoint, CA bundle) and a config
directory of its own, so the user's own profile is never touched. The identity
``az login --identity`` signs in as is the emulator's service identity, which the
emulator gives only the deployment template's roles: a person (alice, an Owner as
every person is) makes it Owner of the subscription first, over the emulator's
public HTTP API, as an operator's admin would. Not part of ``make test``: it needs
``azure-cli`` in a virtual environment of its own (the Makefile makes one).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
QUEUE_READER = "19e7f393-937e-4f77-808e-94535e297925"  # "Storage Queue Data Reader"
IMAGE = "mcr.microsoft.com/k8se/quickstart:latest"


class AzError(Exception):
    """``az`` exited non-zero."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        super().__init__(f"az {' '.join(args)} exited {code}: {stderr.strip()[-800:]}")
        self.stderr = stderr


class Session:
    def __init__(self, az: str, env: dict[str, str], config_dir: str) -> None:
        self.az_path = az
        self.env = {**os.environ, **env, "AZURE_CONFIG_DIR": config_dir,
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
                    "AZURE_CORE_SURVEY_MESSAGE": "false"}
        for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
                    "AZURE_SUBSCRIPTION_ID"):
            self.env.pop(key, None)
        self.emulator_env = env
        self.results: list[tuple[str, bool, str]] = []

    def az(self, *args: str) -> Any:
        """Run az; its JSON answer (None when it printed nothing)."""
        cmd = [self.az_path, *args, "--only-show-errors", "-o", "json"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise AzError(list(args), done.returncode, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None

    def az_fails(self, *args: str) -> str:
        """Run az expecting it to fail; its stderr."""
        try:
            self.az(*args)
        except AzError as exc:
            return exc.stderr
        raise AssertionError(f"az {' '.join(args)} succeeded")

    def step(self, name: str, check: Callable[[], str | None]) -> None:
        started = time.monotonic()
        try:
            detail = check() or ""
            ok = True
        except (AssertionError, AzError, KeyError, IndexError, TypeError, ValueError, OSError,
                subprocess.SubprocessError) as exc:  # the step failed: say why, go on
            detail = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AssertionError | AzError):
                detail += "\n" + traceback.format_exc(limit=3)
            ok = False
        took = time.monotonic() - started
        self.results.append((name, ok, detail))
        said = f": {detail}" if detail else ""
        print(f"[{'PASS' if ok else 'FAIL'}] {name} ({took:.1f} s){said}", flush=True)

    # -- the emulator's public HTTP API (what an admin would use) ----------------------------
    def _token(self, **query: str) -> str:
        env = self.emulator_env
        query = {"resource": env["WARDEN_ARM_ENDPOINT"], "api-version": "2019-08-01", **query}
        url = env["IDENTITY_ENDPOINT"] + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        req = urllib.request.Request(url, headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]})
        with urllib.request.urlopen(req, context=self._ssl()) as r:
            return str(json.load(r)["access_token"])

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.emulator_env["SSL_CERT_FILE"])

    def service_oid(self) -> str:
        payload = self._token().split(".")[1]
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[
            "oid"])

    def make_owner_as_alice(self, principal: str) -> None:
        env = self.emulator_env
        sub = env["AZURE_SUBSCRIPTION_ID"]
        body = {"properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                                f"roleDefinitions/{OWNER}",
            "principalId": principal, "principalType": "ServicePrincipal"}}
        req = urllib.request.Request(
            f"{env['WARDEN_ARM_ENDPOINT']}/subscriptions/{sub}/providers/Microsoft.Authorization"
            f"/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01", method="PUT",
            data=json.dumps(body).encode(), headers={
                "Authorization": f"Bearer {self._token(person='alice')}",
                "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl()) as r:
            assert r.status == 201, r.status


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def run_session(s: Session) -> None:
    env = s.emulator_env
    endpoint, sub = env["WARDEN_ARM_ENDPOINT"], env["AZURE_SUBSCRIPTION_ID"]
    rg_id = f"/subscriptions/{sub}/resourceGroups/rg1"
    app_id = f"{rg_id}/providers/Microsoft.App/containerApps/app1"
    state: dict[str, Any] = {}

    def cloud_register() -> str:
        s.az("cloud", "register", "-n", "AcaWardenEmulator",
             "--endpoint-resource-manager", f"{endpoint}/")  # endpoints discovered
        cloud = s.az("cloud", "show", "-n", "AcaWardenEmulator")
        _expect(cloud["endpoints"]["resourceManager"] == f"{endpoint}/", str(cloud["endpoints"]))
        _expect(cloud["endpoints"]["activeDirectoryResourceId"] == f"{endpoint}/",
                "token audience not discovered")
        s.az("cloud", "set", "-n", "AcaWardenEmulator")
        return "endpoints discovered from /metadata/endpoints (no token)"

    def login_service() -> str:
        s.make_owner_as_alice(s.service_oid())
        accounts = s.az("login", "--identity")
        (account,) = accounts
        _expect(account["id"] == sub, f"subscription {account['id']}")
        _expect(account["user"]["type"] == "servicePrincipal"
                and account["user"]["assignedIdentityInfo"] == "MSI", str(account["user"]))
        return f"signed in as the service identity, subscription {sub}"

    def providers() -> str:
        app = s.az("provider", "show", "-n", "Microsoft.App")
        _expect(app["registrationState"] == "Registered", app["registrationState"])
        types = {t["resourceType"] for t in app["resourceTypes"]}
        _expect({"containerApps", "jobs", "managedEnvironments"} <= types, str(types))
        s.az("provider", "register", "-n", "Microsoft.OperationalInsights", "--wait")
        logs = s.az("provider", "show", "-n", "Microsoft.OperationalInsights")
        _expect(logs["registrationState"] == "Registered", logs["registrationState"])
        return "Microsoft.App registered; Microsoft.OperationalInsights registered by az"

    def groups() -> str:
        created = s.az("group", "create", "-n", "rg1", "-l", "eastus")
        _expect(created["id"] == rg_id and created["properties"]["provisioningState"]
                == "Succeeded", str(created))
        _expect("rg1" in [g["name"] for g in s.az("group", "list")], "rg1 not listed")
        return "rg1 created, shown, listed"

    def identities() -> str:
        ident = s.az("identity", "create", "-g", "rg1", "-n", "id1")
        _expect("/resourcegroups/rg1/" in ident["id"], ident["id"])
        shown = s.az("identity", "show", "-g", "rg1", "-n", "id1")
        _expect(shown["principalId"] == ident["principalId"], "principal changed")
        _expect([i["name"] for i in s.az("identity", "list", "-g", "rg1")] == ["id1"], "list")
        state["uami"] = ident
        return f"id1: principal {ident['principalId'][:8]}, client {ident['clientId'][:8]}"

    def environment() -> str:
        env1 = s.az("containerapp", "env", "create", "-g", "rg1", "-n", "env1", "-l", "eastus",
                    "--logs-destination", "none")
        _expect(env1["properties"]["provisioningState"] == "Succeeded", str(env1["properties"]))
        shown = s.az("containerapp", "env", "show", "-g", "rg1", "-n", "env1")
        _expect(shown["location"] == "East US", shown["location"])
        return f"env1 at {shown['properties']['defaultDomain']}"

    def create_app() -> str:
        app = s.az("containerapp", "create", "-g", "rg1", "-n", "app1", "--environment", "env1",
                   "--image", IMAGE, "--secrets", "db=hunter2",
                   "--tags", "team=a", "grant:reader=Reader@.", "--system-assigned")
        _expect(app["properties"]["provisioningState"] == "Succeeded", "not provisioned")
        _expect(app["identity"]["type"] == "SystemAssigned" and app["identity"]["principalId"],
                str(app["identity"]))
        _expect(app["tags"] == {"team": "a", "grant:reader": "Reader@."}, str(app["tags"]))
        _expect(app["properties"]["configuration"]["secrets"] == [{"name": "db"}]
                and "hunter2" not in json.dumps(app), "secret value answered")
        _expect(app["id"].lower() == app_id.lower(), app["id"])
        secret = s.az("containerapp", "secret", "show", "-g", "rg1", "-n", "app1",
                      "--secret-name", "db")
        _expect(secret["value"] == "hunter2", "listSecrets")
        state["principal"] = app["identity"]["principalId"]
        return f"app1 with secret and tags, principal {state['principal'][:8]}"

    def identity_assign_remove_show() -> str:
        uami = state["uami"]
        both = s.az("containerapp", "identity", "assign", "-g", "rg1", "-n", "app1",
                    "--user-assigned", "id1")
        _expect(both["type"] == "SystemAssigned, UserAssigned", both["type"])
        key = f"/subscriptions/{sub}/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/" \
              "userAssignedIdentities/id1"
        _expect(list(both["userAssignedIdentities"]) == [key], str(both))
        _expect(both["principalId"] == state["principal"], "system principal changed")
        removed = s.az("containerapp", "identity", "remove", "-g", "rg1", "-n", "app1",
                       "--user-assigned", "id1")
        _expect(removed["type"] == "SystemAssigned", removed["type"])
        off = s.az("containerapp", "identity", "remove", "-g", "rg1", "-n", "app1",
                   "--system-assigned")
        _expect(off["type"] == "None", off["type"])
        on = s.az("containerapp", "identity", "assign", "-g", "rg1", "-n", "app1",
                  "--system-assigned")
        _expect(on["principalId"] not in (None, state["principal"]), "no new principal")
        shown = s.az("containerapp", "identity", "show", "-g", "rg1", "-n", "app1")
        _expect(shown == on, f"{shown} != {on}")
        state["principal"] = on["principalId"]
        return (f"assign/remove {uami['name']}, system off and on: new principal "
                f"{on['principalId'][:8]}")

    def update_tags_and_revisions() -> str:
        app = s.az("containerapp", "update", "-g", "rg1", "-n", "app1", "--tags", "team=b")
        _expect(app["tags"]["team"] == "b" and app["tags"]["grant:reader"] == "Reader@.",
                str(app["tags"]))
        (first,) = s.az("containerapp", "revision", "list", "-g", "rg1", "-n", "app1")
        _expect(first["name"] == app["properties"]["latestRevisionName"], first["name"])
        s.az("containerapp", "update", "-g", "rg1", "-n", "app1", "--set-env-vars", "A=1")
        revisions = s.az("containerapp", "revision", "list", "-g", "rg1", "-n", "app1", "--all")
        _expect(len(revisions) == 2, f"{len(revisions)} revisions")
        active = [r["name"] for r in revisions if r["properties"]["active"]]
        _expect(len(active) == 1 and active[0] != first["name"], str(active))
        return f"tags updated without a revision; a template change made {active[0]}"

    def tag_update() -> str:
        tags = s.az("tag", "update", "--resource-id", app_id, "--operation", "merge",
                    "--tags", "owner=me")
        got = tags["properties"]["tags"]
        _expect(got == {"team": "b", "grant:reader": "Reader@.", "owner": "me"}, str(got))
        return "merged"

    def role_definitions() -> str:
        (queue,) = s.az("role", "definition", "list", "--name", "Storage Queue Data Reader")
        _expect(queue["name"] == QUEUE_READER, queue["name"])
        everything = s.az("role", "definition", "list")
        builtin = [r for r in everything if r["roleType"] == "BuiltInRole"]
        _expect(len(builtin) >= 469, f"{len(builtin)} built-in roles")
        return f"{len(builtin)} built-in roles; Storage Queue Data Reader = {QUEUE_READER}"

    def role_assignments() -> str:
        p = state["principal"]
        made = s.az("role", "assignment", "create", "--assignee-object-id", p,
                    "--assignee-principal-type", "ServicePrincipal", "--role", "Reader",
                    "--scope", rg_id)
        _expect(made["roleDefinitionId"].startswith(f"/subscriptions/{sub}/providers/"),
                made["roleDefinitionId"])
        _expect(made["principalType"] == "ServicePrincipal", made["principalType"])
        again = s.az("role", "assignment", "create", "--assignee-object-id", p,
                     "--assignee-principal-type", "ServicePrincipal", "--role", "Reader",
                     "--scope", rg_id)
        _expect(again["name"] == made["name"], "a repeated create made another assignment")
        listed = s.az("role", "assignment", "list", "--assignee", p, "--role", "Reader",
                      "--scope", rg_id)
        _expect([a["name"] for a in listed] == [made["name"]], str(listed))
        s.az("role", "assignment", "delete", "--assignee", p, "--role", "Reader",
             "--scope", rg_id)
        _expect(s.az("role", "assignment", "list", "--assignee", p, "--scope", rg_id) == [],
                "still assigned")
        return "create (twice: the same), list and delete by role name"

    def login_user_assigned() -> str:
        uami = state["uami"]
        s.az("role", "assignment", "create", "--assignee-object-id", uami["principalId"],
             "--assignee-principal-type", "ServicePrincipal", "--role", "Owner",
             "--scope", f"/subscriptions/{sub}")
        (account,) = s.az("login", "--identity", "--client-id", uami["clientId"])
        _expect(account["user"]["assignedIdentityInfo"] == f"MSIClient-{uami['clientId']}",
                str(account["user"]))
        _expect("rg1" in [g["name"] for g in s.az("group", "list")], "cannot list groups")
        return f"signed in as id1 (client {uami['clientId'][:8]})"

    def delete_app() -> str:
        s.az("containerapp", "delete", "-g", "rg1", "-n", "app1", "--yes")
        err = s.az_fails("containerapp", "show", "-g", "rg1", "-n", "app1")
        _expect("ResourceNotFound" in err, err)
        return "gone"

    def job() -> str:
        created = s.az("containerapp", "job", "create", "-g", "rg1", "-n", "job1",
                       "--environment", "env1", "--trigger-type", "Manual",
                       "--replica-timeout", "200", "--replica-retry-limit", "2",
                       "--replica-completion-count", "1", "--parallelism", "1",
                       "--image", "mcr.microsoft.com/k8se/quickstart-jobs:latest",
                       "--cpu", "0.25", "--memory", "0.5Gi", "--secrets", "s1=v1",
                       "--tags", "team=a", "--mi-system-assigned")
        _expect(created["properties"]["provisioningState"] == "Succeeded", "not provisioned")
        _expect(created["id"].endswith("/providers/Microsoft.App/jobs/job1"), created["id"])
        principal = created["identity"]["principalId"]
        _expect(created["identity"]["type"] == "SystemAssigned" and principal, "no identity")
        both = s.az("containerapp", "job", "identity", "assign", "-g", "rg1", "-n", "job1",
                    "--user-assigned", "id1")
        _expect(both["type"] == "SystemAssigned, UserAssigned"
                and both["principalId"] == principal, str(both))
        s.az("containerapp", "job", "identity", "remove", "-g", "rg1", "-n", "job1",
             "--user-assigned", "id1", "--yes")
        shown = s.az("containerapp", "job", "identity", "show", "-g", "rg1", "-n", "job1")
        _expect(shown["type"] == "SystemAssigned", shown["type"])
        secrets = s.az("containerapp", "job", "secret", "list", "-g", "rg1", "-n", "job1",
                       "--show-values")
        _expect(secrets == [{"name": "s1", "value": "v1"}], str(secrets))
        _expect([j["name"] for j in s.az("containerapp", "job", "list", "-g", "rg1")]
                == ["job1"], "job list")
        s.az("containerapp", "job", "delete", "-g", "rg1", "-n", "job1", "--yes")
        _expect("ResourceNotFound" in s.az_fails("containerapp", "job", "show", "-g", "rg1",
                                                 "-n", "job1"), "job still there")
        return "create, identity assign/remove/show, secrets, list, delete"

    for name, check in [
        ("az cloud register (endpoint discovery) / cloud set", cloud_register),
        ("az login --identity (the service identity)", login_service),
        ("az provider show / register", providers),
        ("az group create / list", groups),
        ("az identity create / show / list", identities),
        ("az containerapp env create / show", environment),
        ("az containerapp create (secrets, tags, system identity) / secret show", create_app),
        ("az containerapp identity assign / remove / show", identity_assign_remove_show),
        ("az containerapp update --tags / revision list", update_tags_and_revisions),
        ("az tag update", tag_update),
        ("az role definition list", role_definitions),
        ("az role assignment create (x2) / list / delete by role name", role_assignments),
        ("az login --identity --client-id (a user-assigned identity)", login_user_assigned),
        ("az containerapp delete", delete_app),
        ("az containerapp job create / identity / secret / list / delete", job),
    ]:
        s.step(name, check)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Drive the emulator with the official Azure CLI.")
    p.add_argument("--az", required=True, help="the az executable to use")
    p.add_argument("--time-scale", default="0.01",
                   help="the emulator's time scale (default: %(default)s)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aca-conformance-") as tmp:
        env_file = Path(tmp, "emu.env")
        emulator = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--env-file", str(env_file),
             "--time-scale", args.time_scale], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        try:
            for _ in range(300):
                if env_file.exists() or emulator.poll() is not None:
                    break
                time.sleep(0.1)
            if not env_file.exists():
                print("conformance: the emulator did not start", file=sys.stderr)
                return 1
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
            version = subprocess.run([args.az, "version", "-o", "json"], capture_output=True,
                                     text=True, check=True).stdout
            print(f"azure-cli {json.loads(version)['azure-cli']} against the emulator at "
                  f"{env['WARDEN_ARM_ENDPOINT']} (time scale {args.time_scale})", flush=True)
            session = Session(args.az, env, str(Path(tmp, "azure")))
            run_session(session)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    passed = sum(1 for _, ok, _ in session.results if ok)
    print(f"conformance: {passed}/{len(session.results)} steps passed", flush=True)
    return 0 if passed == len(session.results) else 1


if __name__ == "__main__":
    sys.exit(main())
