"""Least privilege, proven against an ARM that enforces RBAC and ABAC.

The service's identity holds exactly the roles of infra/roles.json (the Bicep reads the
same file). Each action of the custom role is shown to be needed (take it away and a
named scenario fails, naming the action); the ABAC condition stops what the service's
own checks would stop, even with those checks switched off; the service cannot assign
to a person, nor delete an assignment outside its delegation.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import handlers.plan
from emulator.deployment import FLOOR_ACTIONS, ROLES_FILE
from emulator.rbac import permits
from handlers.azure import Arm
from handlers.errors import Permanent
from handlers.grants import RoleDecision, classify_permissions
from handlers.ids import ArmId
from handlers.model import Assignment
from handlers.policy import Policy

from .conftest import APP, BLOB_READER, JOB, READER, Workload, World, service_warden

ROOT = Path(__file__).resolve().parents[2]
ROLES = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
CATALOG = json.loads((ROOT / "handlers" / "data" / "builtin-roles.json").read_text("utf-8"))
UAMI = "providers/Microsoft.ManagedIdentity/userAssignedIdentities"
MIC = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"


def outcome_text(outcome: Any) -> str:
    return json.dumps(outcome.to_json())


# -- each action of the custom role is needed -------------------------------------------
Scenario = Callable[[World, str, tuple[str, ...]], Awaitable[str | None]]


def gets_identity_and_grant(kind: Workload) -> Scenario:
    """A new workload of `kind` with a grant tag, created by a person: its write event
    reaches the service, which enables the system identity (a PATCH of the app or job) and
    grants. The scenario answers None when applied, else the outcome."""
    async def scenario(world: World, name: str, omit: tuple[str, ...]) -> str | None:
        warden = service_warden(world.emu, Policy(), omit_actions=omit)
        try:
            async with World(world.emu, kind) as person:
                [out] = await warden.handle_payload(
                    await person.create_app(name, {"grant:rg": f"{READER}@."}))
                principal = person.principal(name)
        finally:
            await warden.close()
        return None if out.result == "applied" and principal else outcome_text(out)

    return scenario


async def app_gets_standard_identity(world: World, name: str,
                                     omit: tuple[str, ...]) -> str | None:
    """The service attaches a standard user-assigned identity."""
    std = world.emu.seed_identity(f"{world.rg}/{UAMI}/std")["id"]
    warden = service_warden(world.emu, Policy(standard_identities=(std,)), omit_actions=omit)
    try:
        [out] = await warden.handle_payload(await world.create_app(name))
    finally:
        await warden.close()
    attached = (world.emu.get(world.app_id(name)) or {}).get("identity", {}).get(
        "userAssignedIdentities") or {}
    return None if out.result == "applied" and attached else outcome_text(out)


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    # custom role action -> (scenario, the action ARM names when it is missing)
    "Microsoft.App/containerApps/write": (gets_identity_and_grant(APP),
                                          "Microsoft.App/containerApps/write"),
    "Microsoft.App/jobs/write": (gets_identity_and_grant(JOB), "Microsoft.App/jobs/write"),
    "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action": (
        app_gets_standard_identity,
        "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"),
}


def test_every_custom_role_action_has_a_proof_that_it_is_needed() -> None:
    assert sorted(ROLES["customRole"]["actions"]) == sorted(SCENARIOS)
    assert ROLES["customRole"]["notActions"] == []


@pytest.mark.parametrize("action", ROLES["customRole"]["actions"])
async def test_each_custom_role_action_is_needed(world: World, action: str) -> None:
    scenario, named = SCENARIOS[action]
    assert await scenario(world, "with", ()) is None
    failure = await scenario(world, "without", (action,))
    assert failure is not None, f"{action} is not needed: the role is not minimal"
    assert f"'{named}'" in failure and "AuthorizationFailed" in failure, failure


# -- Managed Identity Contributor only where identities are created ---------------------
async def test_missing_identity_is_created_with_managed_identity_contributor_only(
        world: World) -> None:
    std = f"{world.rg}/{UAMI}/std"
    policy = Policy(standard_identities=(std,), create_missing=True)
    emu = world.emu
    warden = service_warden(emu, policy)  # the template with createMissingIdentities
    assert any(a["properties"]["roleDefinitionId"].endswith(MIC)
               for a in emu.role_assignments(include_deployment=True))
    [out] = await warden.handle_payload(await world.create_app("app1"))
    await warden.close()
    assert out.result == "applied" and emu.get(std) is not None
    emu.deploy(emu.deployment.__class__())  # the template without it
    std2 = f"{world.rg}/{UAMI}/std2"
    arm = Arm.from_env(emu.env)
    try:
        with pytest.raises(Permanent) as refused:
            await arm.create_identity(ArmId.parse(std2), "eastus")
    finally:
        await arm.close()
    assert refused.value.status == 403 and (
        "'Microsoft.ManagedIdentity/userAssignedIdentities/write'" in str(refused.value))
    assert emu.get(std2) is None


# -- the condition: defence in depth ------------------------------------------------------
def _admit_every_role(*args: object, **kwargs: object) -> RoleDecision:
    """The service's own role check (privilege floor, broad roles, allowed_roles) off."""
    return RoleDecision(True, "allowed_roles", "switched off by the test")


async def test_with_the_privilege_floor_off_arm_still_refuses_owner(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.plan, "role_decision", _admit_every_role)  # floor off
    warden = service_warden(world.emu, Policy())
    [out] = await warden.handle_payload(await world.create_app("app1", {
        "grant:own": "Owner@.", "grant:uaa": "User Access Administrator@.",
        "grant:read": f"{READER}@."}))
    await warden.close()
    principal = world.principal("app1")
    held = {a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
            for a in world.assignments(principal)}
    assert held == {world.role_guid(READER)}  # only what the delegation admits
    refused = {r["tag"]: r["reason"] for r in out.refused}
    for tag in ("grant:own", "grant:uaa"):
        assert "'Microsoft.Authorization/roleAssignments/write'" in refused[tag], refused
        assert "AuthorizationFailed" in refused[tag]


async def test_with_the_policy_check_off_arm_admits_only_the_policys_roles(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.plan, "role_decision", _admit_every_role)
    warden = service_warden(world.emu, Policy(allowed_roles=(BLOB_READER,)))
    [out] = await warden.handle_payload(await world.create_app("app1", {
        "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1",
        "grant:read": f"{READER}@."}))
    await warden.close()
    held = {a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
            for a in world.assignments(world.principal("app1"))}
    assert held == {world.role_guid(BLOB_READER)}
    assert [r["tag"] for r in out.refused] == ["grant:read"]
    assert "'Microsoft.Authorization/roleAssignments/write'" in out.refused[0]["reason"]


async def test_the_service_cannot_assign_a_role_to_a_user(world: World) -> None:
    emu = world.emu
    service_warden(emu, Policy())  # deploys the template's roles
    person = emu.person_oid("mallory")
    reader = f"/subscriptions/{world.sub}/providers/Microsoft.Authorization/roleDefinitions/" \
             f"{world.role_guid(READER)}"
    arm = Arm.from_env(emu.env)
    try:
        for ptype, status in (("User", 403), (None, 403), ("ServicePrincipal", 400)):
            props: dict[str, Any] = {"roleDefinitionId": reader, "principalId": person}
            if ptype:
                props["principalType"] = ptype
            resp = await arm._send(
                "PUT", f"{world.rg}/providers/Microsoft.Authorization/roleAssignments/"
                f"{uuid.uuid4()}", params={"api-version": "2022-04-01"},
                body={"properties": props})
            assert resp.status_code == status, (ptype, resp.text())
    finally:
        await arm.close()
    assert world.assignments(person) == []


async def test_the_service_cannot_delete_assignments_outside_its_delegation(
        world: World) -> None:
    emu = world.emu
    service_warden(emu, Policy())
    app_identity = emu.seed_principal()
    person = emu.person_oid("carol")
    owner_name = await world.hand_assign(world.rg, "Owner", app_identity)
    reader_name = str(uuid.uuid4())
    from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
    await world.authz.role_assignments.create(world.rg, reader_name, RoleAssignmentCreateParameters(
        role_definition_id=f"/subscriptions/{world.sub}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{world.role_guid(READER)}", principal_id=person, principal_type="User"))
    arm = Arm.from_env(emu.env)
    try:
        for name, principal in ((owner_name, app_identity), (reader_name, person)):
            target = Assignment(
                id=f"{world.rg}/providers/Microsoft.Authorization/roleAssignments/{name}",
                name=name, scope=world.rg, role_definition_id="", principal_id=principal)
            with pytest.raises(Permanent) as refused:
                await arm.delete_assignment(target)
            assert refused.value.status == 403
            assert "'Microsoft.Authorization/roleAssignments/delete'" in str(refused.value)
    finally:
        await arm.close()
    names = {a["name"] for a in world.assignments()}
    assert {owner_name, reader_name} <= names


# -- one source of truth --------------------------------------------------------------------
def test_the_never_delegable_roles_are_every_builtin_role_that_can_grant_access() -> None:
    by_floor = {r["name"] for r in CATALOG
                if any(permits(r["permissions"], a) for a in FLOOR_ACTIONS)}
    by_service = {r["name"] for r in CATALOG if classify_permissions(r["permissions"]) == "floor"}
    never = ROLES["grantor"]["neverDelegable"]
    assert set(never) == by_floor == by_service
    names = {r["name"]: r["roleName"] for r in CATALOG}
    assert [names[g] for g in never] == ROLES["grantor"]["neverDelegableNames"]
    assert never[:3] == ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
                         "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",  # User Access Administrator
                         "f58310d9-a9f6-439a-9e8d-f62e7b41a168"]  # RBAC Administrator


def test_the_bicep_reads_the_roles_from_the_data_file_and_hard_codes_none() -> None:
    main = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    access = (ROOT / "infra" / "modules" / "access.bicep").read_text(encoding="utf-8")
    assert "loadJsonContent('roles.json')" in main
    assert "loadJsonContent('../roles.json')" in access
    assert "actions: roles.customRole.actions" in main
    assert "roles.grantor.condition" in access and "roles.identityCreator.id" in access
    for text in (main, access):
        for action in ROLES["customRole"]["actions"]:
            assert action not in text
        for guid in [*ROLES["grantor"]["neverDelegable"], ROLES["identityCreator"]["id"]]:
            assert guid not in text
    # the one optional role is granted only with createMissingIdentities
    assert re.search(r"resource identityCreator [^\n]*= if \(createMissingIdentities\)", access)
    assert "reader" not in access.lower().replace("readers", "")  # no Reader any more


def test_the_readme_table_is_the_data_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for need in ROLES["needs"]:
        row = f"| `{need['action']}` | {need['why']} | {need['grantedBy']} |"
        assert row in readme, row


async def test_the_service_holds_every_action_of_the_table_and_no_more(world: World) -> None:
    from emulator import abac

    emu, attr = world.emu, "microsoft.authorization/roleassignments:"
    scope = f"/subscriptions/{world.sub}"
    reader = {attr + "roledefinitionid": world.role_guid(READER),
              attr + "principaltype": "ServicePrincipal"}

    def holds(action: str) -> bool:
        ctx = abac.Context(action, request=reader, resource=reader)
        return emu.authorizer.holds(emu.service_oid, action, scope, ctx)

    service_warden(emu, Policy(create_missing=True))
    assert all(holds(n["action"]) for n in ROLES["needs"])
    service_warden(emu, Policy())
    assert [n["action"] for n in ROLES["needs"] if not holds(n["action"])] == [
        "Microsoft.ManagedIdentity/userAssignedIdentities/write"]
    for action in ("Microsoft.Resources/subscriptions/resourceGroups/write",
                   "Microsoft.Resources/tags/write", "Microsoft.App/containerApps/delete",
                   "Microsoft.App/containerApps/listSecrets/action",
                   "Microsoft.Authorization/roleDefinitions/write",
                   "Microsoft.ManagedIdentity/userAssignedIdentities/delete"):
        assert not holds(action), action
