"""The operator's commands as users run them: ``python -m handlers explain | inventory |
plan --all [--policy] | release`` in a subprocess, as the service's identity (exactly the
roles of infra/roles.json), against the emulator over HTTPS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorThread
from handlers.ids import WORKLOAD_TYPES, ArmId
from handlers.model import assignment_name, description_for

from .test_warden_cli import lines, run

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
STD_POLICY = ("[identities]\nstandard = [\"/subscriptions/{subscription}/resourceGroups/"
              "{resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std\"]\n")


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3) as e:
        yield e


class Tenant:
    """A subscription of its own in the shared emulator (so counts are this test's),
    seeded the way a person would have built it."""

    def __init__(self, emu: Any, tmp: Path) -> None:
        self.emu, self.tmp = emu, tmp
        self.sub = str(uuid.uuid4())
        emu.seed_subscription(self.sub)

    def rg(self, name: str = "rg-apps") -> str:
        return self.emu.seed_resource_group(name, subscription=self.sub)

    def workload(self, name: str, tags: dict[str, str], *, rg: str = "rg-apps",
                 wtype: str = "Microsoft.App/containerApps", identity: Any = None) -> str:
        rid = f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/{wtype}/{name}"
        seed = self.emu.seed_job if wtype.endswith("/jobs") else self.emu.seed_container_app
        seed(rid, tags=tags, identity=identity)
        return str(ArmId.parse(rid))

    def identity(self, name: str, rg: str = "rg-apps") -> str:
        rid = (f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/"
               "Microsoft.ManagedIdentity/userAssignedIdentities/" + name)
        return str(self.emu.seed_identity(rid)["id"])

    def cli(self, *args: str, policy: str | None = "", **kw: Any) -> Any:
        return run(self.emu, *args, policy=policy, tmp=self.tmp, **kw)

    def converge(self, *apps: str, policy: str = "") -> None:
        """Deliver a person's write event for each workload to `handle`."""
        events = []
        for app in apps:
            wtype = ArmId.parse(app).type
            events.append({
                "id": str(uuid.uuid4()), "topic": f"/subscriptions/{self.sub}",
                "subject": app, "eventType": "Microsoft.Resources.ResourceWriteSuccess",
                "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2",
                "metadataVersion": "1",
                "data": {"operationName": f"{wtype}/write", "resourceUri": app,
                         "status": "Succeeded", "subscriptionId": self.sub,
                         "claims": {"http://schemas.microsoft.com/identity/claims/"
                                    "objectidentifier": self.emu.person_oid("alice")}}})
        path = self.tmp / f"events-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(events))
        p = self.cli("handle", str(path), policy=policy)
        assert p.returncode == 0, p.stderr
        assert all(o["result"] in ("applied", "unchanged", "ignored")
                   for o in lines(p.stdout)), p.stdout

    def principal(self, app: str) -> str:
        return str(((self.emu.get(app) or {}).get("identity") or {})["principalId"])

    def person_assigns(self, scope: str, role_guid: str, principal: str) -> str:
        return str(self.emu.seed_role_assignment(scope, role_guid, principal)["id"])

    def ours(self, app: str) -> list[dict[str, Any]]:
        want = description_for(ArmId.parse(app)).lower()
        return [a for a in self.emu.role_assignments()
                if (a["properties"].get("description") or "").lower() == want]

    def assignment_ids(self) -> set[str]:
        return {a["id"].lower() for a in self.emu.role_assignments()}


@pytest.fixture
def tenant(emu: Any, tmp_path: Path) -> Tenant:
    return Tenant(emu, tmp_path)


def orphan(t: Tenant, name: str, role_guid: str = READER,
           wtype: str = "Microsoft.App/containerApps") -> str:
    """An assignment aca-warden made for a workload that is gone (never cleaned up)."""
    app = str(ArmId.parse(f"/subscriptions/{t.sub}/resourceGroups/rg-apps/providers/"
                          f"{wtype}/{name}"))
    principal = str(uuid.uuid4())
    scope = t.rg()
    t.emu.seed_role_assignment(scope, role_guid, principal,
                               name=assignment_name(app, principal, role_guid, scope),
                               description=description_for(app))
    return app


# --- explain -------------------------------------------------------------------------------


def test_explain_says_item_by_item_why_and_changes_nothing(tenant: Tenant) -> None:
    t = tenant
    rg = t.rg()
    t.emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/stapp")
    std, other = t.identity("std"), t.identity("other")
    app = t.workload("web", {
        "grant:blob": "Storage Blob Data Reader@Microsoft.Storage/storageAccounts/stapp; "
                      "Reader@Microsoft.Storage/storageAccounts/nope",
        "grant:admin": "Owner@.", "grant:bad": "Reader", "grant:ct": "Contributor@.",
        "grant:mon": "Monitoring Reader@.", "grant:far": "Reader@/subscriptions/"
        f"{uuid.uuid4()}/resourceGroups/rg", "grant:typo": "Storage Blob Data Raeder@.",
        "team": "payments"},
        identity={"type": "SystemAssigned,UserAssigned",
                  "userAssignedIdentities": {other: {}}})
    principal = t.principal(app)
    person = t.person_assigns(rg, MONITORING_READER, principal)
    other_principal = t.emu.get(other)["properties"]["principalId"]
    on_other = t.person_assigns(rg, READER, other_principal)
    t.converge(app, policy=STD_POLICY)
    t.emu.clear_log()

    p = t.cli("explain", app, policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert "Container app web" in text and "managed: yes" in text
    assert "REFUSED (privilege floor)" in text and "REFUSED (broad-role rule)" in text
    assert "REFUSED (grammar)" in text and "REFUSED (scope existence)" in text
    assert "REFUSED (allowed_scopes)" in text and "REFUSED (role resolution)" in text
    assert "held by aca-warden's assignment" in text
    assert "held by somebody else's (left alone) assignment" in text
    assert f"ATTACHED      {std}".lower() in text.lower()
    assert "nothing: it is in line with the policy" in text

    p = t.cli("explain", "--json", app, policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    items = {(g["tag"], i["item"]): i for g in doc["grant_tags"] for i in g["items"]}
    assert {k: (i["status"], i["rule"]) for k, i in items.items()} == {
        ("grant:admin", 1): ("refused", "privilege_floor"),
        ("grant:bad", 1): ("refused", "grammar"),
        ("grant:blob", 1): ("granted", None),
        ("grant:blob", 2): ("refused", "scope_exists"),
        ("grant:ct", 1): ("refused", "broad_role"),
        ("grant:far", 1): ("refused", "allowed_scopes"),
        ("grant:mon", 1): ("granted", None),
        ("grant:typo", 1): ("refused", "role")}
    assert items[("grant:blob", 1)]["assignment"]["made_by"] == "aca-warden"
    assert items[("grant:mon", 1)]["assignment"] == {
        "id": person, "name": person.rsplit("/", 1)[1], "made_by": "someone else"}
    assert "name it in grants.allowed_roles" in items[("grant:ct", 1)]["reason"]
    assert "allowed: /subscriptions/" in items[("grant:far", 1)]["reason"]
    assert [(i["identity"].lower(), i["attached"]) for i in doc["standard_identities"]] == [
        (std.lower(), True)]
    assert {(o["id"], o["identity"]) for o in doc["other_assignments"]} == {
        (person, "system-assigned"), (on_other, other)}
    assert [o["role"] for o in doc["owned_assignments"]] == ["Storage Blob Data Reader"]
    assert doc["owned_assignments"][0]["tags"] == ["grant:blob"]
    assert doc["pending"] == [] and doc["managed"] is True
    assert t.emu.count(kind="write") == 0


@pytest.mark.parametrize("wtype", [w.type for w in WORKLOAD_TYPES])
def test_explain_shows_what_the_next_event_would_change(tenant: Tenant, wtype: str) -> None:
    t = tenant
    app = t.workload("api", {"grant:rg": "Reader@."}, wtype=wtype)
    t.emu.clear_log()
    p = t.cli("explain", "--json", app)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["pending"] == ["enable system-assigned identity",
                              f"grant Reader on {t.rg()} (tag grant:rg)"]
    assert doc["grant_tags"][0]["items"][0]["status"] == "pending"
    assert t.emu.count(kind="write") == 0


def test_explain_of_a_missing_app_a_bad_id_and_a_transient_failure(tenant: Tenant) -> None:
    t = tenant
    t.rg()
    missing = (f"/subscriptions/{t.sub}/resourceGroups/rg-apps/providers/"
               "Microsoft.App/containerApps/nope")
    p = t.cli("explain", missing)
    assert p.returncode == 2 and "not found" in p.stderr and "nope" in p.stderr
    p = t.cli("explain", "/subscriptions/x/not-an-app")
    assert p.returncode == 2 and "not-an-app" in p.stderr
    gone = orphan(t, "ghost")
    p = t.cli("explain", gone)
    assert p.returncode == 0 and "does not exist (any more)" in p.stdout
    assert "revoke Reader on" in p.stdout  # the next event cleans it up
    app = t.workload("flaky", {"grant:rg": "Reader@."})
    t.emu.inject_fault("GET", r"containerApps/flaky$", 503, "ServiceUnavailable", count=8)
    p = t.cli("explain", app)
    assert p.returncode == 75, p.stderr
    t.emu.clear_faults()


# --- inventory -------------------------------------------------------------------------------


def test_inventory_lists_identities_assignments_tags_and_orphans(tenant: Tenant) -> None:
    t = tenant
    rg = t.rg()
    std = t.identity("std")
    web = t.workload("web", {"grant:rg": "Reader@.", "grant:also": "reader@."})
    quiet = t.workload("quiet", {"warden:ignore": "true", "grant:rg": "Reader@."})
    t.converge(web, quiet, policy=STD_POLICY)
    person = t.person_assigns(rg, BLOB_READER, t.principal(web))
    ghost = orphan(t, "ghost")
    t.emu.clear_log()

    p = t.cli("inventory", "--subscription", t.sub, "--json", policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    rows = {r["workload"]: r for r in lines(p.stdout)}
    assert set(rows) == {web, quiet, ghost}
    assert [(a["role"], a["tags"]) for a in rows[web]["assignments"]] == [
        ("Reader", ["grant:also", "grant:rg"])]
    assert person not in {a["id"] for r in rows.values() for a in r["assignments"]}
    assert [i.lower() for i in rows[web]["identities"]] == [std.lower()]
    assert rows[quiet]["status"] == "opted out" and rows[quiet]["assignments"] == []
    assert rows[ghost]["orphan"] and rows[ghost]["status"] == "gone"
    assert "1 orphan(s)" in p.stderr and "reading workloads" in p.stderr

    p = t.cli("inventory", policy=STD_POLICY, extra={"WARDEN_SUBSCRIPTIONS": t.sub})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith(f"subscription {t.sub}: 2 workload(s), "
                                               "2 assignment(s) made by aca-warden, 1 orphan")
    header = p.stdout.splitlines()[1].split()
    assert header[:4] == ["WORKLOAD", "KIND", "STATUS", "WHAT"]
    assert "rg-apps/web" in p.stdout and "orphan (gone)" in p.stdout
    assert "grant:also, grant:rg" in p.stdout
    assert t.emu.count(kind="write") == 0


def test_inventory_names_bad_subscriptions_and_still_lists_the_others(tenant: Tenant) -> None:
    t = tenant
    web = t.workload("web", {"grant:rg": "Reader@."})
    t.converge(web)
    missing = str(uuid.uuid4())
    p = t.cli("inventory", "--json", "--subscription", "not-a-sub", "--subscription", t.sub,
              "--subscription", missing)
    assert p.returncode == 2
    assert "'not-a-sub'" in p.stderr and "--subscription" in p.stderr
    assert missing in p.stderr and "cannot read subscription" in p.stderr
    assert [r["workload"] for r in lines(p.stdout)] == [web]
    p = t.cli("inventory", extra={"WARDEN_SUBSCRIPTIONS": f"{t.sub},bad/../sub"})
    assert p.returncode == 2 and "WARDEN_SUBSCRIPTIONS" in p.stderr and "bad/../sub" in p.stderr


# --- plan --all and plan --policy --------------------------------------------------------------


def test_plan_all_is_a_dry_run_of_every_workload(tenant: Tenant) -> None:
    t = tenant
    done = t.workload("done", {"grant:rg": "Reader@."})
    t.converge(done)
    new = t.workload("new", {"grant:rg": "Reader@."})
    ghost = orphan(t, "ghost")
    t.emu.clear_log()
    p = t.cli("plan", "--all", "--subscription", t.sub)
    assert p.returncode == 0, p.stderr
    out = {o["app"]: o for o in lines(p.stdout)}
    assert {k: o["result"] for k, o in out.items()} == {
        done: "unchanged", new: "applied", ghost: "deleted"}
    assert out[new]["changes"][0] == "planned: enable system-assigned identity"
    assert all(o["dry_run"] for o in out.values())
    assert "nothing written" in p.stderr
    assert t.emu.count(kind="write") == 0


def test_plan_policy_shows_the_effect_of_switching_and_writes_nothing(tenant: Tenant) -> None:
    t = tenant
    app = t.workload("web", {"grant:blob": "Storage Blob Data Reader@.",
                             "grant:ct": "Contributor@.", "grant:rg": "Reader@."})
    t.converge(app)
    candidate = t.tmp / "candidate.toml"
    candidate.write_text('[grants]\nallowed_roles = ["Reader", "Contributor"]\n')
    t.emu.clear_log()
    p = t.cli("plan", "--all", "--subscription", t.sub, "--policy", str(candidate))
    assert p.returncode == 0, p.stderr
    assert f"revoked            Storage Blob Data Reader on {t.rg()}" in p.stdout
    assert ("newly refused      tag grant:blob: role Storage Blob Data Reader "
            f"({BLOB_READER}) is not in grants.allowed_roles") in p.stdout
    assert f"newly granted      Contributor on {t.rg()} (tag grant:ct)" in p.stdout
    assert ("1 of 1 workload(s) would change: 1 grant(s) revoked, 1 newly refused, "
            "1 newly granted") in p.stdout
    p = t.cli("plan", app, "--policy", str(candidate), "--json")
    assert p.returncode == 0, p.stderr
    [effect] = lines(p.stdout)
    assert effect["app"] == app and len(effect["revoked"]) == 1
    assert [r["tag"] for r in effect["newly_refused"]] == ["grant:blob"]
    assert t.emu.count(kind="write") == 0

    bad = t.tmp / "bad.toml"
    bad.write_text("[grants]\nallowed_roles = 3\n")
    p = t.cli("plan", "--all", "--subscription", t.sub, "--policy", str(bad))
    assert p.returncode == 2 and "bad.toml" in p.stderr and "allowed_roles" in p.stderr
    p = t.cli("plan", "--all", "--policy", str(t.tmp / "none.toml"))
    assert p.returncode == 2 and "none.toml" in p.stderr
    owner_only = t.tmp / "owner.toml"  # reviewed as the service's own: it can never apply
    owner_only.write_text('[grants]\nallowed_roles = ["Owner"]\n')
    p = t.cli("plan", "--all", "--subscription", t.sub, "--policy", str(owner_only))
    assert p.returncode == 2 and "owner.toml" in p.stderr and "allowed_roles" in p.stderr


def test_plan_usage_errors(tenant: Tenant) -> None:
    t = tenant
    app = t.workload("web", {})
    for args in (("plan",), ("plan", app, "--all"), ("plan", app, "--subscription", t.sub),
                 ("release",), ("release", app, "--subscription", t.sub)):
        p = t.cli(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr


# --- release ---------------------------------------------------------------------------------


def _seed_for_release(t: Tenant, wtype: str) -> tuple[str, str, str, str, str]:
    rg = t.rg()
    std, other = t.identity("std"), t.identity("other")
    app = t.workload("web", {"grant:rg": "Reader@.", "grant:blob": "Storage Blob Data "
                             "Reader@.", "team": "payments"}, wtype=wtype,
                     identity={"type": "SystemAssigned,UserAssigned",
                               "userAssignedIdentities": {other: {}}})
    t.converge(app, policy=STD_POLICY)
    assert len(t.ours(app)) == 2
    person = t.person_assigns(rg, MONITORING_READER, t.principal(app))
    # a look-alike: aca-warden's description, but not its deterministic name
    t.emu.seed_role_assignment(rg, READER, t.principal(app), description=description_for(
        ArmId.parse(app)))
    return app, std, other, person, rg


@pytest.mark.parametrize("wtype", [w.type for w in WORKLOAD_TYPES])
def test_release_shows_then_removes_only_its_own_and_opts_out(tenant: Tenant,
                                                              wtype: str) -> None:
    t = tenant
    app, std, other, person, _ = _seed_for_release(t, wtype)
    [lookalike] = [a for a in t.ours(app) if a["properties"]["roleDefinitionId"].endswith(
        READER) and a["name"] != assignment_name(
        ArmId.parse(app), t.principal(app), READER, t.rg())]
    before = t.emu.get(app)
    revisions = len(t.emu.store.revisions.get(app.lower(), []))
    t.emu.clear_log()

    p = t.cli("release", app, "--detach-identities", policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    assert "Dry run: nothing is written" in p.stdout
    assert "would tag warden:ignore=true (opt out)" in p.stdout
    assert "would revoke Reader on" in p.stdout and "would detach identity" in p.stdout
    assert "left alone: Monitoring Reader on" in p.stdout
    assert t.emu.count(kind="write") == 0 and len(t.ours(app)) == 3

    mark = len(t.emu.events)
    t.emu.clear_log()
    p = t.cli("release", app, "--detach-identities", "--yes", policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    assert "done: revoke Reader on" in p.stdout and "done: tag warden:ignore=true" in p.stdout
    # the contract's order: revoke aca-warden's assignments, then tag the app
    assert p.stdout.index("done: revoke") < p.stdout.index("done: tag warden:ignore=true")
    writes = [(r.method, r.path) for r in t.emu.request_log if r.kind == "write"]
    assert [m for m, _ in writes] == ["DELETE", "DELETE", "PATCH"], writes
    after = t.emu.get(app)
    assert [a["name"] for a in t.ours(app)] == [lookalike["name"]]  # only it is left
    assert person.lower() in t.assignment_ids()
    assert after["tags"] == {**before["tags"], "warden:ignore": "true"}
    assert {ArmId.parse(k) for k in after["identity"]["userAssignedIdentities"]} == {
        ArmId.parse(other)}
    assert after["identity"]["principalId"] == before["identity"]["principalId"]
    assert after["properties"]["template"] == before["properties"]["template"]
    assert len(t.emu.store.revisions.get(app.lower(), [])) == revisions
    assert ArmId.parse(std) not in {ArmId.parse(k) for k in after["identity"][
        "userAssignedIdentities"]}

    # the events release caused are harmless: the service ignores them, writing nothing
    events = t.tmp / "release-events.json"
    events.write_text(json.dumps(t.emu.events[mark:]))
    t.emu.clear_log()
    p = t.cli("handle", str(events), policy=STD_POLICY)
    assert p.returncode == 0, p.stderr
    assert {o["result"] for o in lines(p.stdout)} == {"ignored"}
    assert t.emu.count(kind="write") == 0
    # and so is a person's later write: the app is opted out
    t.converge(app, policy=STD_POLICY)
    assert len(t.ours(app)) == 1 and t.emu.count(kind="write") == 0

    p = t.cli("release", app, "--detach-identities", "--yes", policy=STD_POLICY)
    assert p.returncode == 0 and "nothing to do" in p.stdout
    assert t.emu.count(kind="write") == 0


def test_release_a_resource_group_or_a_subscription(tenant: Tenant) -> None:
    t = tenant
    a = t.workload("a", {"grant:rg": "Reader@."})
    b = t.workload("b", {"grant:rg": "Reader@."})
    c = t.workload("c", {"grant:rg": "Reader@."}, rg="rg-other")
    t.converge(a, b, c)
    ghost = orphan(t, "ghost")
    p = t.cli("release", "--resource-group", "rg-apps", "--subscription", t.sub, "--yes",
              "--json")
    assert p.returncode == 0, p.stderr
    assert sorted(o["app"] for o in lines(p.stdout)) == sorted([a, b, ghost])
    assert t.ours(a) == t.ours(b) == t.ours(ghost) == [] and len(t.ours(c)) == 1
    assert t.emu.get(c)["tags"] == {"grant:rg": "Reader@."}

    p = t.cli("release", "--resource-group", f"/subscriptions/{t.sub}/resourceGroups/rg-other")
    assert p.returncode == 0 and "would revoke Reader on" in p.stdout and len(t.ours(c)) == 1
    p = t.cli("release", "--subscription", t.sub, "--yes")
    assert p.returncode == 0, p.stderr
    assert t.ours(c) == [] and t.emu.get(c)["tags"]["warden:ignore"] == "true"
    assert "3 workload(s)" in p.stdout  # a and b: nothing left to do; c: released

    p = t.cli("release", "--resource-group", "rg-nope", "--subscription", t.sub)
    assert p.returncode == 2 and "rg-nope" in p.stderr
    p = t.cli("release", "--subscription", "nope", "--yes")
    assert p.returncode == 2 and "'nope'" in p.stderr


def test_release_that_arm_fails_exits_75_or_1_names_the_app_and_reruns(tenant: Tenant) -> None:
    t = tenant
    app = t.workload("web", {"grant:rg": "Reader@."})
    t.converge(app)
    t.emu.inject_fault("DELETE", r"roleAssignments/", 503, "ServiceUnavailable", count=8)
    p = t.cli("release", app, "--yes")
    assert p.returncode == 75 and "web" in p.stderr and "run the command again" in p.stderr
    assert "could not revoke Reader on" in p.stderr
    # the revoke failed: the app is not tagged, it stays managed
    assert "warden:ignore" not in t.emu.get(app)["tags"] and len(t.ours(app)) == 1
    t.emu.clear_faults()
    t.emu.inject_fault("DELETE", r"roleAssignments/", 403, "AuthorizationFailed", count=1)
    p = t.cli("release", app, "--yes")  # refused for good: exit 1, named
    assert p.returncode == 1 and "web" in p.stderr and "AuthorizationFailed" in p.stderr
    assert "warden:ignore" not in t.emu.get(app)["tags"] and len(t.ours(app)) == 1
    p = t.cli("release", app, "--yes")  # idempotent: the rerun finishes it
    assert p.returncode == 0, p.stderr
    assert t.ours(app) == [] and t.emu.get(app)["tags"]["warden:ignore"] == "true"


@pytest.mark.parametrize("how", ["env", "policy"])
def test_release_yes_in_a_dry_run_writes_nothing(tenant: Tenant, how: str) -> None:
    """WARDEN_DRY_RUN (or [run] dry_run) "plans and reports, writing nothing": release --yes
    too only shows what it would do, and says why."""
    t = tenant
    t.rg()
    app = t.workload("web", {"grant:rg": "Reader@."})
    t.converge(app)
    t.emu.clear_log()
    env = {"WARDEN_DRY_RUN": "1"} if how == "env" else {}
    policy = "[run]\ndry_run = true\n" if how == "policy" else ""
    p = t.cli("release", app, "--yes", policy=policy, extra=env)
    assert p.returncode == 0, p.stderr
    assert "would revoke Reader on" in p.stdout and "would tag warden:ignore=true" in p.stdout
    assert "dry run" in p.stderr.lower() and "nothing is written" in p.stderr
    assert t.emu.count(kind="write") == 0 and len(t.ours(app)) == 1
    assert "warden:ignore" not in t.emu.get(app)["tags"]
    p = t.cli("release", app, "--yes", "--json", policy=policy, extra=env)
    assert p.returncode == 0 and [o["dry_run"] for o in lines(p.stdout)] == [True]
    assert t.emu.count(kind="write") == 0


# every command of the contract's "Command line" table
@pytest.mark.parametrize("command", ["handle", "serve", "reconcile", "plan", "explain",
                                     "inventory", "release", "lint", "demo", "emulator"])
def test_each_command_has_help_with_an_example(command: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from handlers.cli import main

    try:
        code = main([command, "--help"])
    except SystemExit as done:
        code = int(done.code or 0)
    assert code == 0
    text = capsys.readouterr().out
    assert f"usage: python -m handlers {command}" in text
    assert f"python -m handlers {command} " in text.partition("example")[2]
    if command in ("handle", "reconcile", "plan", "explain", "inventory", "release", "lint"):
        assert "exit codes:" in text
    if command in ("handle", "reconcile", "plan", "explain", "inventory", "release"):
        assert "75" in text


# --- jobs: workloads of their own ----------------------------------------------------------------


def test_every_operator_command_sees_an_app_and_a_job_of_one_name_apart(tenant: Tenant) -> None:
    t = tenant
    rg = t.rg()
    app = t.workload("same", {"grant:rg": "Reader@."})
    job = t.workload("same", {"grant:rg": "Reader@.", "grant:blob": "Storage Blob Data "
                              "Reader@."}, wtype="Microsoft.App/jobs")
    t.converge(app, job)
    gone = orphan(t, "nightly", wtype="Microsoft.App/jobs")  # a job deleted, delete event lost
    assert len(t.ours(app)) == 1 and len(t.ours(job)) == 2
    t.emu.clear_log()

    p = t.cli("explain", job)
    assert p.returncode == 0, p.stderr
    assert "Job same" in p.stdout and "held by aca-warden's assignment" in p.stdout
    doc = json.loads(t.cli("explain", "--json", job).stdout)
    assert {a["id"].lower() for a in doc["owned_assignments"]} == {
        a["id"].lower() for a in t.ours(job)}

    p = t.cli("inventory", "--subscription", t.sub, "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["workload"]: r for r in lines(p.stdout)}
    assert set(rows) == {app, job, gone} and rows[gone]["orphan"]
    assert [a["role"] for a in rows[app]["assignments"]] == ["Reader"]
    assert sorted(a["role"] for a in rows[job]["assignments"]) == [
        "Reader", "Storage Blob Data Reader"]
    p = t.cli("inventory", "--subscription", t.sub)
    assert "rg-apps/same" in p.stdout and " job " in p.stdout, p.stdout

    p = t.cli("plan", "--all", "--subscription", t.sub)
    assert p.returncode == 0, p.stderr
    assert {o["app"]: o["result"] for o in lines(p.stdout)} == {
        app: "unchanged", job: "unchanged", gone: "deleted"}
    assert t.emu.count(kind="write") == 0

    p = t.cli("release", job, "--yes")
    assert p.returncode == 0, p.stderr
    assert t.ours(job) == [] and len(t.ours(app)) == 1
    assert t.emu.get(job)["tags"]["warden:ignore"] == "true"
    assert "warden:ignore" not in t.emu.get(app)["tags"]
    p = t.cli("release", "--resource-group", rg, "--yes", "--json")
    assert p.returncode == 0, p.stderr
    assert t.ours(app) == [] and t.ours(gone) == []
