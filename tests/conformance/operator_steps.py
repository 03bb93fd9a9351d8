"""An operator's session with ``az`` against the emulator: every step checked.

The operator is alice, a person (an Owner, as every person is in the emulator); the
service's identity (``az login --identity``) holds only the deployment template's
roles and is refused the rest, as ARM words it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azcli import Session, claims_of, expect

__all__ = ["IMAGE", "JOB_IMAGE", "Run", "closing_steps", "operator_steps"]

QUEUE_READER = "19e7f393-937e-4f77-808e-94535e297925"  # "Storage Queue Data Reader"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # "Storage Blob Data Reader"
IMAGE = "mcr.microsoft.com/k8se/quickstart:latest"
JOB_IMAGE = "mcr.microsoft.com/k8se/quickstart-jobs:latest"

Step = tuple[str, Callable[[], str | None]]


@dataclass
class Run:
    """Everything the steps share: the signed-in sessions, the emulator, what was made."""

    person: Session  # alice
    service: Session  # the service's identity, as the emulator's env file gives it
    uami: Session  # a user-assigned identity, signed in later
    env: dict[str, str]  # the emulator's env file
    service_oid: str
    page_size: int
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def sub(self) -> str:
        return self.env["AZURE_SUBSCRIPTION_ID"]

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}"


def _register_cloud(s: Session, endpoint: str) -> None:
    s.az("cloud", "register", "-n", "AcaWardenEmulator",
         "--endpoint-resource-manager", f"{endpoint}/")  # endpoints discovered
    s.az("cloud", "set", "-n", "AcaWardenEmulator")


def operator_steps(r: Run) -> list[Step]:
    p, sub, endpoint = r.person, r.sub, r.env["WARDEN_ARM_ENDPOINT"]
    rg_id = r.rg_id("rg1")
    app_id = f"{rg_id}/providers/Microsoft.App/containerApps/app1"
    state = r.state

    def cloud_register() -> str:
        _register_cloud(p, endpoint)
        cloud = p.az("cloud", "show", "-n", "AcaWardenEmulator")
        expect(cloud["endpoints"]["resourceManager"] == f"{endpoint}/", str(cloud["endpoints"]))
        expect(cloud["endpoints"]["activeDirectoryResourceId"] == f"{endpoint}/",
               "token audience not discovered")
        for other in (r.service, r.uami):
            _register_cloud(other, endpoint)
        return "endpoints discovered from /metadata/endpoints (no token), in three profiles"

    def login_person() -> str:
        (account,) = p.az("login", "--identity")
        expect(account["id"] == sub, f"subscription {account['id']}")
        got = claims_of(p.az("account", "get-access-token")["accessToken"])
        expect(got["idtyp"] == "user" and got["upn"] == "alice@emulator.example", str(got))
        state["alice"] = got["oid"]
        return f"alice (a User, object id {got['oid'][:8]}) through the person= token endpoint"

    def service_refused() -> str:
        (account,) = r.service.az("login", "--identity")
        expect(account["user"]["assignedIdentityInfo"] == "MSI", str(account["user"]))
        token = claims_of(r.service.az("account", "get-access-token")["accessToken"])
        expect(token["oid"] == r.service_oid, "not the service identity")
        err = r.service.az_fails("group", "create", "-n", "rg-denied", "-l", "eastus")
        # word for word as az prints ARM's refusal (az's URL says "resourcegroups")
        expect(f"(AuthorizationFailed) The client '{token['appid']}' with object id "
               f"'{r.service_oid}' does not have authorization to perform action "
               "'Microsoft.Resources/subscriptions/resourcegroups/write' over scope "
               f"'/subscriptions/{sub}/resourcegroups/rg-denied' or the scope is invalid. "
               "If access was recently granted, please refresh your credentials." in err, err)
        # Its RBAC Administrator assignment's condition: never Owner, whatever the principal.
        denied = r.service.az_fails(
            "role", "assignment", "create", "--assignee-object-id", r.service_oid,
            "--assignee-principal-type", "ServicePrincipal", "--role", "Owner",
            "--scope", f"/subscriptions/{sub}")
        expect("(AuthorizationFailed)" in denied and "roleAssignments/write" in denied, denied)
        mine = r.service.az("role", "assignment", "list", "--assignee", r.service_oid, "--all")
        roles = sorted(a["roleDefinitionName"] for a in mine)
        expect("Role Based Access Control Administrator" in roles and "Owner" not in roles,
               str(roles))
        expect(all(a["principalType"] == "ServicePrincipal" for a in mine), str(mine))
        return f"group create and Owner refused (AuthorizationFailed); holds {roles}"

    def providers() -> str:
        app = p.az("provider", "show", "-n", "Microsoft.App")
        expect(app["registrationState"] == "Registered", app["registrationState"])
        types = {t["resourceType"] for t in app["resourceTypes"]}
        expect({"containerApps", "jobs", "managedEnvironments"} <= types, str(types))
        p.az("provider", "register", "-n", "Microsoft.OperationalInsights", "--wait")
        logs = p.az("provider", "show", "-n", "Microsoft.OperationalInsights")
        expect(logs["registrationState"] == "Registered", logs["registrationState"])
        return "Microsoft.App registered; Microsoft.OperationalInsights registered by az"

    def groups() -> str:
        created = p.az("group", "create", "-n", "rg1", "-l", "eastus")
        expect(created["id"] == rg_id and created["properties"]["provisioningState"]
               == "Succeeded", str(created))
        p.az("group", "create", "-n", "rg-warden", "-l", "eastus")
        names = [g["name"] for g in p.az("group", "list")]
        expect({"rg1", "rg-warden"} <= set(names), f"not listed: {names}")
        expect(p.az("group", "exists", "-n", "rg1") is True, "group exists: false")
        return f"rg1 and rg-warden created, listed ({r.page_size} a page)"

    def identities() -> str:
        ident = p.az("identity", "create", "-g", "rg1", "-n", "id1")
        expect("/resourcegroups/rg1/" in ident["id"], ident["id"])
        shown = p.az("identity", "show", "-g", "rg1", "-n", "id1")
        expect(shown["principalId"] == ident["principalId"], "principal changed")
        expect([i["name"] for i in p.az("identity", "list", "-g", "rg1")] == ["id1"], "list")
        std = p.az("identity", "create", "-g", "rg-warden", "-n", "id-standard")
        state["uami"], state["standard"] = ident, std
        return f"id1: principal {ident['principalId'][:8]}, client {ident['clientId'][:8]}"

    def environment() -> str:
        env1 = p.az("containerapp", "env", "create", "-g", "rg1", "-n", "env1", "-l", "eastus",
                    "--logs-destination", "none")
        expect(env1["properties"]["provisioningState"] == "Succeeded", str(env1["properties"]))
        shown = p.az("containerapp", "env", "show", "-g", "rg1", "-n", "env1")
        expect(shown["location"] == "East US", shown["location"])
        state["env_id"] = shown["id"]
        listed = [e["name"] for e in p.az("containerapp", "env", "list")]
        expect(listed == ["env1"], f"env list: {listed}")
        return f"env1 at {shown['properties']['defaultDomain']}; env list across the subscription"

    def create_app() -> str:
        app = p.az("containerapp", "create", "-g", "rg1", "-n", "app1", "--environment", "env1",
                   "--image", IMAGE, "--secrets", "db=hunter2",
                   "--tags", "team=a", "grant:reader=Reader@.", "--system-assigned")
        expect(app["properties"]["provisioningState"] == "Succeeded", "not provisioned")
        expect(app["identity"]["type"] == "SystemAssigned" and app["identity"]["principalId"],
               str(app["identity"]))
        expect(app["tags"] == {"team": "a", "grant:reader": "Reader@."}, str(app["tags"]))
        expect(app["properties"]["configuration"]["secrets"] == [{"name": "db"}]
               and "hunter2" not in json.dumps(app), "secret value answered")
        expect(app["id"].lower() == app_id.lower(), app["id"])
        secret = p.az("containerapp", "secret", "show", "-g", "rg1", "-n", "app1",
                      "--secret-name", "db")
        expect(secret["value"] == "hunter2", "listSecrets")
        state["principal"] = app["identity"]["principalId"]
        return f"app1 with secret and tags, principal {state['principal'][:8]}"

    def identity_assign_remove_show() -> str:
        uami = state["uami"]
        both = p.az("containerapp", "identity", "assign", "-g", "rg1", "-n", "app1",
                    "--user-assigned", "id1")
        expect(both["type"] == "SystemAssigned, UserAssigned", both["type"])
        key = f"/subscriptions/{sub}/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/" \
              "userAssignedIdentities/id1"
        expect(list(both["userAssignedIdentities"]) == [key], str(both))
        expect(both["principalId"] == state["principal"], "system principal changed")
        removed = p.az("containerapp", "identity", "remove", "-g", "rg1", "-n", "app1",
                       "--user-assigned", "id1")
        expect(removed["type"] == "SystemAssigned", removed["type"])
        off = p.az("containerapp", "identity", "remove", "-g", "rg1", "-n", "app1",
                   "--system-assigned")
        expect(off["type"] == "None", off["type"])
        on = p.az("containerapp", "identity", "assign", "-g", "rg1", "-n", "app1",
                  "--system-assigned")
        expect(on["principalId"] not in (None, state["principal"]), "no new principal")
        shown = p.az("containerapp", "identity", "show", "-g", "rg1", "-n", "app1")
        expect(shown == on, f"{shown} != {on}")
        state["principal"] = on["principalId"]
        return (f"assign/remove {uami['name']}, system off and on: new principal "
                f"{on['principalId'][:8]}")

    def update_tags_and_revisions() -> str:
        app = p.az("containerapp", "update", "-g", "rg1", "-n", "app1", "--tags", "team=b")
        expect(app["tags"]["team"] == "b" and app["tags"]["grant:reader"] == "Reader@.",
               str(app["tags"]))
        (first,) = p.az("containerapp", "revision", "list", "-g", "rg1", "-n", "app1")
        expect(first["name"] == app["properties"]["latestRevisionName"], first["name"])
        p.az("containerapp", "update", "-g", "rg1", "-n", "app1",
             "--set-env-vars", "A=1", "B=secretref:db")  # its answer hides values (az's doing)
        shown = p.az("containerapp", "show", "-g", "rg1", "-n", "app1")
        (container,) = shown["properties"]["template"]["containers"]
        expect(container["env"] == [{"name": "A", "value": "1"},
                                    {"name": "B", "secretRef": "db"}], str(container["env"]))
        revisions = p.az("containerapp", "revision", "list", "-g", "rg1", "-n", "app1", "--all")
        expect(len(revisions) == 2, f"{len(revisions)} revisions")
        active = [r["name"] for r in revisions if r["properties"]["active"]]
        expect(len(active) == 1 and active[0] != first["name"], str(active))
        shown = p.az("containerapp", "revision", "show", "-g", "rg1", "-n", "app1",
                     "--revision", active[0])
        expect(shown["name"] == active[0]
               and shown["properties"]["template"]["containers"][0]["env"] == container["env"],
               str(shown))
        return f"tags updated without a revision; --set-env-vars made {active[0]}"

    def tag_update() -> str:
        tags = p.az("tag", "update", "--resource-id", app_id, "--operation", "merge",
                    "--tags", "owner=me")
        got = tags["properties"]["tags"]
        expect(got == {"team": "b", "grant:reader": "Reader@.", "owner": "me"}, str(got))
        return "merged"

    def role_definitions() -> str:
        (queue,) = p.az("role", "definition", "list", "--name", "Storage Queue Data Reader")
        expect(queue["name"] == QUEUE_READER, queue["name"])
        everything = p.az("role", "definition", "list")
        builtin = [rd for rd in everything if rd["roleType"] == "BuiltInRole"]
        expect(len(builtin) >= 469, f"{len(builtin)} built-in roles")
        (by_guid,) = p.az("role", "definition", "list", "--name", QUEUE_READER)
        expect(by_guid["roleName"] == "Storage Queue Data Reader", str(by_guid))
        return f"{len(builtin)} built-in roles; Storage Queue Data Reader = {QUEUE_READER}"

    def role_assignments() -> str:
        principal = state["principal"]
        made = p.az("role", "assignment", "create", "--assignee-object-id", principal,
                    "--assignee-principal-type", "ServicePrincipal", "--role", "Reader",
                    "--scope", rg_id)
        expect(made["roleDefinitionId"].startswith(f"/subscriptions/{sub}/providers/"),
               made["roleDefinitionId"])
        expect(made["principalType"] == "ServicePrincipal", made["principalType"])
        again = p.az("role", "assignment", "create", "--assignee-object-id", principal,
                     "--assignee-principal-type", "ServicePrincipal", "--role", "Reader",
                     "--scope", rg_id)
        expect(again["name"] == made["name"], "a repeated create made another assignment")
        listed = p.az("role", "assignment", "list", "--assignee", principal, "--role", "Reader",
                      "--scope", rg_id)
        expect([a["name"] for a in listed] == [made["name"]], str(listed))
        p.az("role", "assignment", "delete", "--assignee", principal, "--role", "Reader",
             "--scope", rg_id)
        expect(p.az("role", "assignment", "list", "--assignee", principal, "--scope", rg_id)
               == [], "still assigned")
        return "create (twice: the same), list and delete by role name"

    def conditions() -> str:
        uami = state["uami"]
        condition = ("((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
                     "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
                     f"ForAnyOfAnyValues:GuidEquals {{{BLOB_READER}}}))")
        made = p.az("role", "assignment", "create", "--assignee-object-id", uami["principalId"],
                    "--assignee-principal-type", "ServicePrincipal",
                    "--role", "Role Based Access Control Administrator", "--scope", rg_id,
                    "--condition", condition, "--condition-version", "2.0",
                    "--description", "delegate Storage Blob Data Reader only")
        expect(made["condition"] == condition and made["conditionVersion"] == "2.0", str(made))
        bad = ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
               "StringEquals 'logs'")
        err = p.az_fails("role", "assignment", "create", "--assignee-object-id",
                         uami["principalId"], "--assignee-principal-type", "ServicePrincipal",
                         "--role", "Reader", "--scope", rg_id, "--condition", bad,
                         "--condition-version", "2.0")
        expect("(InvalidCondition)" in err and "condition is invalid" in err, err)
        # by object id, at the group only, then with what it inherits
        here = p.az("role", "assignment", "list", "--assignee", uami["principalId"],
                    "--scope", rg_id)
        expect([a["id"] for a in here] == [made["id"]], str(here))
        expect(here[0]["roleDefinitionName"] == "Role Based Access Control Administrator",
               str(here[0]))
        inherited = p.az("role", "assignment", "list", "--scope", rg_id, "--include-inherited")
        scopes = {a["scope"].lower() for a in inherited}
        expect(f"/subscriptions/{sub}" in scopes and rg_id.lower() in scopes, str(scopes))
        expect(any(a["principalId"] == r.service_oid for a in inherited),
               "the deployment's subscription-level assignments are not inherited")
        at_group = p.az("role", "assignment", "list", "--scope", rg_id)
        expect({a["scope"].lower() for a in at_group} == {rg_id.lower()}, str(at_group))
        p.az("role", "assignment", "delete", "--ids", made["id"], "--yes")
        left = p.az("role", "assignment", "list", "--assignee", uami["principalId"], "--all")
        expect(left == [], f"still there: {left}")
        return (f"ABAC condition stored; an unsupported one refused (400); {len(inherited)} "
                "with --include-inherited; delete --ids")

    def custom_roles() -> str:
        definition: dict[str, Any] = {
            "Name": "Blob Lister", "IsCustom": True,
            "Description": "List storage accounts and read blob containers.",
            "Actions": ["Microsoft.Storage/storageAccounts/read"], "NotActions": [],
            "DataActions": [], "NotDataActions": [],
            "AssignableScopes": [f"/subscriptions/{sub}"]}
        made = p.az("role", "definition", "create", "--role-definition", json.dumps(definition))
        expect(made["roleType"] == "CustomRole" and made["roleName"] == "Blob Lister", str(made))
        guid = made["name"]
        made["permissions"][0]["actions"].append(  # update takes what create / list answer
            "Microsoft.Storage/storageAccounts/blobServices/containers/read")
        updated = p.az("role", "definition", "update", "--role-definition", json.dumps(made))
        expect(updated["name"] == guid and len(updated["permissions"][0]["actions"]) == 2,
               str(updated))
        custom = {rd["roleName"]: rd["name"]
                  for rd in p.az("role", "definition", "list", "--custom-role-only")}
        # the deployment's own custom role is one too
        expect(custom == {"Blob Lister": guid, "aca-warden workload identity writer":
                          custom.get("aca-warden workload identity writer")}, str(custom))
        (by_guid,) = p.az("role", "definition", "list", "--name", guid)
        expect(by_guid["roleName"] == "Blob Lister", str(by_guid))
        dup = p.az_fails("role", "definition", "create", "--role-definition",
                         json.dumps(definition))
        expect("RoleDefinitionWithSameNameExists" in dup, dup)
        used = p.az("role", "assignment", "create", "--assignee-object-id",
                    state["uami"]["principalId"], "--assignee-principal-type",
                    "ServicePrincipal", "--role", "Blob Lister", "--scope", rg_id)
        expect(used["roleDefinitionId"].endswith(guid), used["roleDefinitionId"])
        busy = p.az_fails("role", "definition", "delete", "--name", "Blob Lister")
        expect("RoleDefinitionHasAssignments" in busy, busy)
        p.az("role", "assignment", "delete", "--ids", used["id"], "--yes")
        p.az("role", "definition", "delete", "--name", "Blob Lister")
        left = [rd["roleName"] for rd in p.az("role", "definition", "list", "--custom-role-only")]
        expect(left == ["aca-warden workload identity writer"], f"not deleted: {left}")
        return f"Blob Lister {guid[:8]} created, updated, listed, deleted"

    def login_user_assigned() -> str:
        uami = state["uami"]
        p.az("role", "assignment", "create", "--assignee-object-id", uami["principalId"],
             "--assignee-principal-type", "ServicePrincipal", "--role", "Owner",
             "--scope", f"/subscriptions/{sub}")
        (account,) = r.uami.az("login", "--identity", "--client-id", uami["clientId"])
        expect(account["user"]["assignedIdentityInfo"] == f"MSIClient-{uami['clientId']}",
               str(account["user"]))
        expect(r.uami.signed_in_oid() == uami["principalId"], "not id1's token")
        (again,) = r.uami.az("login", "--identity", "--object-id", uami["principalId"])
        expect(again["user"]["assignedIdentityInfo"] == f"MSIObject-{uami['principalId']}",
               str(again["user"]))
        expect(r.uami.signed_in_oid() == uami["principalId"], "--object-id: not id1's token")
        expect("rg1" in [g["name"] for g in r.uami.az("group", "list")], "cannot list groups")
        return f"signed in as id1 by client id and by object id (client {uami['clientId'][:8]})"

    return [
        ("az cloud register (endpoint discovery) / cloud set", cloud_register),
        ("az login --identity as a person (alice)", login_person),
        ("az login --identity (the service identity): refused outside its roles",
         service_refused),
        ("az provider show / register", providers),
        ("az group create / list / exists", groups),
        ("az identity create / show / list", identities),
        ("az containerapp env create / show / list", environment),
        ("az containerapp create (secrets, tags, system identity) / secret show", create_app),
        ("az containerapp identity assign / remove / show", identity_assign_remove_show),
        ("az containerapp update --tags / --set-env-vars / revision list / show",
         update_tags_and_revisions),
        ("az tag update", tag_update),
        ("az role definition list (by name, by GUID)", role_definitions),
        ("az role assignment create (x2) / list / delete by role name", role_assignments),
        ("az role assignment --condition (ABAC) / --include-inherited / delete --ids",
         conditions),
        ("az role definition create / update / list --custom-role-only / delete",
         custom_roles),
        ("az login --identity --client-id / --object-id (a user-assigned identity)",
         login_user_assigned),
    ]


def closing_steps(r: Run) -> list[Step]:
    p, rg_id = r.person, r.rg_id("rg1")

    def list_everywhere() -> str:
        apps = sorted(a["name"] for a in p.az("containerapp", "list"))
        expect("app1" in apps, f"containerapp list (subscription): {apps}")
        in_rg = [a["name"] for a in p.az("containerapp", "list", "-g", "rg1")]
        expect(in_rg == ["app1"], f"containerapp list -g rg1: {in_rg}")
        resources = p.az("resource", "list", "-g", "rg1")
        types = sorted({res["type"] for res in resources})
        expect({"Microsoft.App/containerApps", "Microsoft.App/managedEnvironments",
                "Microsoft.ManagedIdentity/userAssignedIdentities"} <= set(types), str(types))
        typed = [res["name"] for res in
                 p.az("resource", "list", "--resource-type", "Microsoft.App/containerApps")]
        expect(typed == ["app1"], f"resource list --resource-type: {typed}")
        tagged = [res["name"] for res in p.az("resource", "list", "--tag", "owner=me")]
        expect(tagged == ["app1"], f"resource list --tag owner=me: {tagged}")
        return (f"{len(apps)} app(s) across the subscription; resource list -g rg1: {types}; "
                "--resource-type and --tag filter")

    def delete_app() -> str:
        p.az("containerapp", "delete", "-g", "rg1", "-n", "app1", "--yes")
        err = p.az_fails("containerapp", "show", "-g", "rg1", "-n", "app1")
        expect("ResourceNotFound" in err, err)
        return "gone"

    def job() -> str:
        created = p.az("containerapp", "job", "create", "-g", "rg1", "-n", "job1",
                       "--environment", "env1", "--trigger-type", "Manual",
                       "--replica-timeout", "200", "--replica-retry-limit", "2",
                       "--replica-completion-count", "1", "--parallelism", "1",
                       "--image", JOB_IMAGE, "--cpu", "0.25", "--memory", "0.5Gi",
                       "--secrets", "s1=v1", "--tags", "team=a", "--mi-system-assigned")
        expect(created["properties"]["provisioningState"] == "Succeeded", "not provisioned")
        expect(created["id"].endswith("/providers/Microsoft.App/jobs/job1"), created["id"])
        principal = created["identity"]["principalId"]
        expect(created["identity"]["type"] == "SystemAssigned" and principal, "no identity")
        both = p.az("containerapp", "job", "identity", "assign", "-g", "rg1", "-n", "job1",
                    "--user-assigned", "id1")
        expect(both["type"] == "SystemAssigned, UserAssigned"
               and both["principalId"] == principal, str(both))
        p.az("containerapp", "job", "identity", "remove", "-g", "rg1", "-n", "job1",
             "--user-assigned", "id1", "--yes")
        shown = p.az("containerapp", "job", "identity", "show", "-g", "rg1", "-n", "job1")
        expect(shown["type"] == "SystemAssigned", shown["type"])
        secrets = p.az("containerapp", "job", "secret", "list", "-g", "rg1", "-n", "job1",
                       "--show-values")
        expect(secrets == [{"name": "s1", "value": "v1"}], str(secrets))
        expect([j["name"] for j in p.az("containerapp", "job", "list", "-g", "rg1")]
               == ["job1"], "job list")
        p.az("containerapp", "job", "delete", "-g", "rg1", "-n", "job1", "--yes")
        expect("ResourceNotFound" in p.az_fails("containerapp", "job", "show", "-g", "rg1",
                                                "-n", "job1"), "job still there")
        return "create, identity assign/remove/show, secrets, list, delete"

    def group_delete() -> str:
        p.az("containerapp", "create", "-g", "rg1", "-n", "app2", "--environment", "env1",
             "--image", IMAGE)
        p.az("group", "delete", "-n", "rg1", "--yes")
        expect(p.az("group", "exists", "-n", "rg1") is False, "rg1 still exists")
        err = p.az_fails("containerapp", "show", "-g", "rg1", "-n", "app2")
        expect("ResourceGroupNotFound" in err or "ResourceNotFound" in err, err)
        apps = [a["id"].lower() for a in p.az("containerapp", "list")]
        expect(not any(f"{rg_id.lower()}/" in a for a in apps), f"apps of rg1 listed: {apps}")
        envs = [e["name"] for e in p.az("containerapp", "env", "list")]
        expect("env1" not in envs, f"env1 still listed: {envs}")
        return "rg1 and everything in it (app2, env1, id1) gone"

    return [
        ("az containerapp list (subscription, group) / resource list (--resource-type, --tag)",
         list_everywhere),
        ("az containerapp delete", delete_app),
        ("az containerapp job create / identity / secret / list / delete", job),
        ("az group delete --yes (with an app in it)", group_delete),
    ]
