"""Authorization over the wire: ARM's 403s, role assignments at the scope or above,
notActions, linked checks, ABAC conditions, persons, and the service's deployment."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator import Deployment, Emulator

ROOT = Path(__file__).resolve().parents[2]
ROLES = json.loads((ROOT / "infra" / "roles.json").read_text(encoding="utf-8"))
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
MI_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
API = "2024-03-01"
RA = "/providers/Microsoft.Authorization/roleAssignments"
RD = "/providers/Microsoft.Authorization/roleDefinitions"


def denied(client: str, oid: str, action: str, scope: str) -> dict[str, Any]:
    return {"error": {"code": "AuthorizationFailed", "message": (
        f"The client '{client}' with object id '{oid}' does not have authorization to perform "
        f"action '{action}' over scope '{scope}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials.")}}


def sub(emu: Emulator) -> str:
    return f"/subscriptions/{emu.subscription_id}"


def assignment(emu: Emulator, role: str, principal: str, ptype: str = "ServicePrincipal",
               condition: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "roleDefinitionId": f"{sub(emu)}{RD}/{role}", "principalId": principal,
        "principalType": ptype}
    if condition is not None:
        props.update(condition=condition, conditionVersion="2.0")
    return {"properties": props}


@pytest.fixture
def nobody(emu: Emulator, make_raw: Any) -> Any:
    """A service principal with no role assignment at all, and raw HTTPS as it."""
    oid = emu.seed_principal(name="nobody")
    client = make_raw(emu.principal_token(oid))
    client.oid = oid
    return client


async def test_a_principal_without_roles_gets_arms_403_naming_caller_action_and_scope(
        emu, nobody) -> None:
    rg = emu.seed_resource_group("rg1")
    status, body, _ = await nobody("GET", rg, api_version="2021-04-01")
    assert status == 403
    assert body == denied(nobody.oid, nobody.oid,
                          "Microsoft.Resources/subscriptions/resourceGroups/read", rg)
    status, body, _ = await nobody("PUT", f"{sub(emu)}/resourceGroups/new",
                                   {"location": "eastus"}, api_version="2021-04-01")
    assert status == 403 and body["error"]["code"] == "AuthorizationFailed"
    assert "'Microsoft.Resources/subscriptions/resourceGroups/write'" in body["error"]["message"]
    assert emu.get(f"{sub(emu)}/resourceGroups/new") is None and emu.events == []
    status, body, _ = await nobody("GET", "/subscriptions", api_version="2022-12-01")
    assert (status, body["value"]) == (200, [])
    status, body, _ = await nobody("GET", sub(emu), api_version="2022-12-01")
    assert status == 403 and "Microsoft.Resources/subscriptions/read" in body["error"]["message"]


async def test_a_subscription_that_does_not_exist_is_404_before_authorization(
        emu, nobody) -> None:
    status, body, _ = await nobody("GET", f"/subscriptions/{uuid.uuid4()}/resourceGroups/x",
                                   api_version="2021-04-01")
    assert status == 404 and body["error"]["code"] == "SubscriptionNotFound"


async def test_a_role_at_a_scope_applies_there_and_below_only(emu, nobody) -> None:
    rg1, rg2 = emu.seed_resource_group("rg1"), emu.seed_resource_group("rg2")
    emu.seed_role_assignment(rg1, READER, nobody.oid)
    assert (await nobody("GET", rg1, api_version="2021-04-01"))[0] == 200
    assert (await nobody("GET", f"{rg1}/resources", api_version="2021-04-01"))[0] == 200
    assert (await nobody("GET", rg2, api_version="2021-04-01"))[0] == 403
    assert (await nobody("PATCH", rg1, {"tags": {}}, api_version="2021-04-01"))[0] == 403
    _status, body, _ = await nobody("GET", "/subscriptions", api_version="2022-12-01")
    assert [s["subscriptionId"] for s in body["value"]] == [emu.subscription_id]


async def test_not_actions_are_honoured_and_data_actions_never_authorize(emu, nobody) -> None:
    rg = emu.seed_resource_group("rg1")
    emu.seed_role_assignment(rg, CONTRIBUTOR, nobody.oid)
    assert (await nobody("PUT", f"{rg}/providers/Microsoft.Storage/storageAccounts/st1",
                         {"location": "eastus"}, api_version="2023-01-01"))[0] == 201
    status, body, _ = await nobody("PUT", f"{rg}{RA}/{uuid.uuid4()}",
                                   assignment(emu, READER, nobody.oid))
    assert status == 403 and "'Microsoft.Authorization/roleAssignments/write'" in (
        body["error"]["message"])
    reader_of_data = emu.seed_principal(name="data-only")
    emu.seed_role_assignment(sub(emu), BLOB_READER, reader_of_data)
    emu.store.role_definitions[BLOB_READER]["properties"]["permissions"][0]["dataActions"] = ["*"]
    raw = nobody.__class__(emu, nobody.session, emu.principal_token(reader_of_data))
    assert (await raw("GET", rg, api_version="2021-04-01"))[0] == 403


async def test_attaching_a_user_assigned_identity_needs_assign_on_it(emu, nobody) -> None:
    rg = emu.seed_resource_group("rg1")
    uami = emu.seed_identity(f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1")
    role = str(uuid.uuid4())
    await emu_put_role(emu, role, rg, ["Microsoft.App/containerApps/*"])
    emu.seed_role_assignment(rg, role, nobody.oid)
    app = f"{rg}/providers/Microsoft.App/containerApps/app1"
    assert (await nobody("PUT", app, {"location": "eastus"}, api_version=API))[0] == 201
    add = {"identity": {"type": "UserAssigned", "userAssignedIdentities": {uami["id"]: {}}}}
    status, body, _ = await nobody("PATCH", app, add, api_version=API)
    assert status == 403
    assert body == {"error": {"code": "LinkedAuthorizationFailed", "message": (
        f"The client '{nobody.oid}' with object id '{nobody.oid}' has permission to perform "
        f"action 'Microsoft.App/containerApps/write' on scope '{app}'; however, it does not "
        "have permission to perform action(s) "
        "'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked "
        f"scope(s) '{uami['id']}' (respectively) or the linked scope(s) are invalid.")}}
    assert (emu.get(app) or {})["identity"]["type"] == "None" and len(emu.events) == 1
    emu.seed_role_assignment(uami["id"], MI_OPERATOR, nobody.oid)
    assert (await nobody("PATCH", app, add, api_version=API))[0] == 202
    emu.store.role_assignments.clear()  # already attached: no linked check on it again
    emu.seed_role_assignment(rg, role, nobody.oid)
    assert (await nobody("PATCH", app, {"tags": {"a": "b"}, **add}, api_version=API))[0] == 202


async def test_naming_the_managed_environment_needs_join_on_it(emu, nobody) -> None:
    rg = emu.seed_resource_group("rg1")
    env = f"{rg}/providers/Microsoft.App/managedEnvironments/env1"
    emu.seed_resource(env)
    role = str(uuid.uuid4())
    await emu_put_role(emu, role, rg, ["Microsoft.App/containerApps/write"])
    emu.seed_role_assignment(rg, role, nobody.oid)
    app = f"{rg}/providers/Microsoft.App/containerApps/app1"
    body = {"location": "eastus", "properties": {"environmentId": env}}
    status, answer, _ = await nobody("PUT", app, body, api_version=API)
    assert status == 403 and answer["error"]["code"] == "LinkedAuthorizationFailed"
    assert "'Microsoft.App/managedEnvironments/join/action'" in answer["error"]["message"]


async def emu_put_role(emu: Emulator, guid: str, scope: str, actions: list[str]) -> None:
    """A custom role, written straight into the store."""
    emu.store.role_definitions[guid] = {
        "id": f"{RD}/{guid}", "name": guid, "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {"roleName": f"test role {guid[:8]}", "type": "CustomRole",
                       "assignableScopes": [scope], "description": "",
                       "permissions": [{"actions": actions, "notActions": []}]}}


@pytest.mark.parametrize(("condition", "version"), [
    ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
     "StringEquals 'logs'", "2.0"),
    ("((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
     f"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
     f"ForAnyOfAnyValues:GuidEquals {{{ACR_PULL}}}))", "1.0"),
    ("a AND b OR c", "2.0"),
])
async def test_a_condition_it_cannot_evaluate_is_refused_at_put(emu, raw, condition,
                                                                version) -> None:
    principal = emu.seed_principal()
    body = assignment(emu, RBAC_ADMIN, principal)
    body["properties"].update(condition=condition, conditionVersion=version)
    status, answer, _ = await raw("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}", body)
    assert status == 400 and answer["error"]["code"] == "InvalidCondition"
    assert answer["error"]["message"].startswith("The given role assignment condition is invalid.")
    assert emu.role_assignments() == []


async def test_a_condition_constrains_role_assignment_writes_and_deletes(emu, raw,
                                                                         nobody) -> None:
    acr_only = (  # Microsoft Learn, "Example: Constrain ACR management"
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ACR_PULL}}} AND @Request[Microsoft.Authorization/"
        "roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase "
        "{'ServicePrincipal'})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/"
        f"delete'}})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ACR_PULL}}} AND @Resource[Microsoft.Authorization/"
        "roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase "
        "{'ServicePrincipal'}))")
    status, _, _ = await raw("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}",
                             assignment(emu, RBAC_ADMIN, nobody.oid, condition=acr_only))
    assert status == 201
    app_identity, person = emu.seed_principal(), emu.person_oid("carol")
    mine = f"{sub(emu)}{RA}/{uuid.uuid4()}"
    assert (await nobody("PUT", mine, assignment(emu, ACR_PULL, app_identity)))[0] == 201
    for role, principal, ptype in ((OWNER, app_identity, "ServicePrincipal"),
                                   (READER, app_identity, "ServicePrincipal"),
                                   (ACR_PULL, person, "User")):
        status, body, _ = await nobody("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}",
                                       assignment(emu, role, principal, ptype))
        assert status == 403, (role, ptype)
        assert "'Microsoft.Authorization/roleAssignments/write'" in body["error"]["message"]
    no_type = assignment(emu, ACR_PULL, person)
    del no_type["properties"]["principalType"]  # ARM knows it is a User
    assert (await nobody("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}", no_type))[0] == 403
    someone_elses = f"{sub(emu)}{RA}/{uuid.uuid4()}"
    assert (await raw("PUT", someone_elses, assignment(emu, READER, app_identity)))[0] == 201
    status, body, _ = await nobody("DELETE", someone_elses)
    assert status == 403 and "'Microsoft.Authorization/roleAssignments/delete'" in (
        body["error"]["message"])
    assert (await nobody("DELETE", mine))[0] == 200
    assert (await nobody("DELETE", mine))[0] == 204  # already gone: nothing to judge


async def test_persons_are_owners_until_a_test_demotes_them(emu, make_raw) -> None:
    alice = make_raw(emu.person_token("alice"))
    assert (await alice("PUT", f"{sub(emu)}/resourceGroups/a", {"location": "eastus"},
                        api_version="2021-04-01"))[0] == 201
    oid = emu.demote_person("bob")
    bob = make_raw(emu.person_token("bob"))
    status, body, _ = await bob("PUT", f"{sub(emu)}/resourceGroups/b", {"location": "eastus"},
                                api_version="2021-04-01")
    assert status == 403 and body == denied(
        "bob@emulator.example", oid, "Microsoft.Resources/subscriptions/resourceGroups/write",
        f"{sub(emu)}/resourceGroups/b")


async def test_the_service_holds_exactly_the_templates_roles(emu, make_raw) -> None:
    emu.deploy(Deployment())
    service = make_raw(emu.service_token())
    status, body, _ = await service("GET", f"{sub(emu)}{RA}",
                                    params={"$filter": f"principalId eq '{emu.service_oid}'"})
    assert status == 200
    held = {a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]: a["properties"]
            for a in body["value"]}
    custom = emu.deployment.custom_role_id
    assert set(held) == {custom, RBAC_ADMIN}
    assert held[RBAC_ADMIN]["conditionVersion"] == "2.0"
    assert "ForAnyOfAllValues:GuidNotEquals" in held[RBAC_ADMIN]["condition"]
    status, role, _ = await service("GET", f"{sub(emu)}{RD}/{custom}")
    assert role["properties"]["permissions"][0]["actions"] == ROLES["customRole"]["actions"]
    assert role["properties"]["roleName"] == ROLES["customRole"]["roleName"]
    # it may read what it needs, and write nothing else
    rg = emu.seed_resource_group("rg1")
    assert (await service("GET", rg, api_version="2021-04-01"))[0] == 200
    assert (await service("PUT", f"{sub(emu)}/resourceGroups/x", {"location": "eastus"},
                          api_version="2021-04-01"))[0] == 403
    assert (await service("PUT", f"{rg}/providers/Microsoft.ManagedIdentity/"
                          "userAssignedIdentities/u1", {"location": "eastus"},
                          api_version="2023-01-31"))[0] == 403


async def test_managed_identity_contributor_only_where_identities_are_created(emu) -> None:
    mic = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"

    def roles_held() -> set[str]:
        return {a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
                for a in emu.role_assignments(include_deployment=True)
                if a["properties"]["principalId"] == emu.service_oid}

    emu.deploy(Deployment(create_missing_identities=True))
    assert mic in roles_held()
    emu.deploy(Deployment())
    assert mic not in roles_held() and RBAC_ADMIN in roles_held()
    emu.deploy(None)
    assert roles_held() == set()


async def test_watched_subscriptions_and_those_added_later(emu) -> None:
    other, unwatched = str(uuid.uuid4()), str(uuid.uuid4())
    emu.deploy(Deployment())
    emu.seed_subscription(other)
    scopes = {a["properties"]["scope"] for a in emu.role_assignments(include_deployment=True)}
    assert scopes == {sub(emu), f"/subscriptions/{other}"}
    emu.deploy(Deployment(subscriptions=(emu.subscription_id,)))
    emu.seed_subscription(unwatched)
    scopes = {a["properties"]["scope"] for a in emu.role_assignments(include_deployment=True)}
    assert scopes == {sub(emu)}
    assert emu.role_assignments() == []  # the inspection helper leaves the deployment out


def test_the_condition_comes_from_the_policys_roles_and_never_delegates_access(emu) -> None:
    from emulator import abac
    from emulator.deployment import build_condition, role_ids

    attr = "microsoft.authorization/roleassignments:"

    def ctx(action: str, role: str, ptype: str = "ServicePrincipal") -> abac.Context:
        attrs = {attr + "roledefinitionid": role, attr + "principaltype": ptype}
        return abac.Context(f"Microsoft.Authorization/roleAssignments/{action}", attrs, attrs)

    named = role_ids(("AcrPull", "Owner", "User Access Administrator"), emu.store.role_definitions)
    assert named == [ACR_PULL]  # roles that can grant access never enter the condition
    condition = abac.check(build_condition(named), "2.0")
    assert condition.allows(ctx("write", ACR_PULL))
    assert not condition.allows(ctx("write", ACR_PULL, "User"))
    assert not condition.allows(ctx("write", READER))
    assert not condition.allows(ctx("write", OWNER))
    assert condition.allows(ctx("delete", READER))  # a tightened policy can still revoke
    assert not condition.allows(ctx("delete", OWNER))
    assert not condition.allows(ctx("delete", READER, "User"))
    any_role = abac.check(build_condition(role_ids(("*",), emu.store.role_definitions)), "2.0")
    assert any_role.allows(ctx("write", READER)) and any_role.allows(ctx("write", CONTRIBUTOR))
    for never in ROLES["grantor"]["neverDelegable"]:
        assert not any_role.allows(ctx("write", never))
        assert not any_role.allows(ctx("delete", never))
    nothing = abac.check(build_condition(role_ids(("Owner",), emu.store.role_definitions)),
                         "2.0")
    assert not nothing.allows(ctx("write", READER)) and not nothing.allows(ctx("write", OWNER))
    with pytest.raises(ValueError, match="unknown role"):
        role_ids(("Nobody's Role",), emu.store.role_definitions)
