"""Role definitions and role assignments, against the published examples and ARM's errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from emulator import Emulator

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
RA = "/providers/Microsoft.Authorization/roleAssignments"
RD = "/providers/Microsoft.Authorization/roleDefinitions"
BUILTINS = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": READER,
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Storage Blob Data Reader": BLOB_READER,
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Managed Identity Contributor": "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
}


def sub_scope(emu: Emulator) -> str:
    return f"/subscriptions/{emu.subscription_id}"


def rg_scope(emu: Emulator, rg: str = "rg") -> str:
    emu.seed_resource_group(rg)
    return f"{sub_scope(emu)}/resourceGroups/{rg}"


def body(emu: Emulator, principal: str, role: str = READER, **extra: Any) -> dict[str, Any]:
    props = {"roleDefinitionId": f"{sub_scope(emu)}{RD}/{role}", "principalId": principal}
    props.update(extra)
    return {"properties": props}


# -- role definitions ---------------------------------------------------------------
@pytest.mark.parametrize(("name", "guid"), sorted(BUILTINS.items()))
async def test_builtin_roles_have_their_real_guids(emu, authz_client, name, guid) -> None:
    found = [r async for r in authz_client.role_definitions.list(
        sub_scope(emu), filter=f"roleName eq '{name.upper()}'")]
    assert [r.name for r in found] == [guid]
    assert found[0].role_type == "BuiltInRole" and found[0].role_name == name
    got = await authz_client.role_definitions.get(f"{sub_scope(emu)}/resourceGroups/x", guid)
    assert got.id == f"{sub_scope(emu)}{RD}/{guid}"


async def test_role_definition_by_id_at_tenant_matches_the_docs(emu, raw, example) -> None:
    expected = example("docs.role-definitions-get.Reader.json")
    status, got, _ = await raw("GET", f"{RD}/{READER}")
    assert status == 200
    assert got["id"] == expected["id"] and got["name"] == expected["name"]
    assert got["properties"]["permissions"][0]["actions"] == ["*/read"]
    for key in ("roleName", "type", "assignableScopes"):
        assert got["properties"][key] == expected["properties"][key]
    status, _missing, _ = await raw("GET", f"{RD}/{uuid.uuid4()}")
    assert status == 404


async def test_privileged_builtins_carry_their_permissions(emu) -> None:
    owner = emu.role_definition("Owner")["properties"]["permissions"][0]
    assert owner["actions"] == ["*"]
    contributor = emu.role_definition("contributor")["properties"]["permissions"][0]
    assert "Microsoft.Authorization/*/Write" in contributor["notActions"]
    uaa = emu.role_definition("User Access Administrator")["properties"]["permissions"][0]
    assert "Microsoft.Authorization/*" in uaa["actions"]
    mio = emu.role_definition("Managed Identity Operator")["properties"]["permissions"][0]
    assert "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action" in mio["actions"]


async def test_custom_roles_by_put_and_type_filter(emu, raw, authz_client) -> None:
    guid = str(uuid.uuid4())
    scope = rg_scope(emu)
    status, created, _ = await raw("PUT", f"{scope}{RD}/{guid}", {"properties": {
        "roleName": "Blob Peeker", "description": "d", "assignableScopes": [scope],
        "permissions": [{"actions": ["*/read"], "notActions": []}]}})
    assert status == 201 and created["properties"]["type"] == "CustomRole"
    customs = [r async for r in authz_client.role_definitions.list(scope,
                                                                   filter="type eq 'CustomRole'")]
    assert [r.name for r in customs] == [guid]
    assert [r async for r in authz_client.role_definitions.list(
        sub_scope(emu), filter="type eq 'CustomRole'")] == []  # not assignable up there
    status, _err, _ = await raw("PUT", f"{scope}{RD}/{uuid.uuid4()}", {"properties": {
        "roleName": "No scopes", "assignableScopes": []}})
    assert status == 400


async def test_a_custom_role_still_assigned_cannot_be_deleted(emu, raw) -> None:
    """Azure refuses it (docs, "Find role assignments to delete a custom role"): 409
    RoleDefinitionHasAssignments; once the assignment is gone the role can be deleted."""
    guid, scope = str(uuid.uuid4()), rg_scope(emu)
    status, _, _ = await raw("PUT", f"{scope}{RD}/{guid}", {"properties": {
        "roleName": "Blob Peeker", "assignableScopes": [scope],
        "permissions": [{"actions": ["*/read"], "notActions": []}]}})
    assert status == 201
    principal = emu.seed_principal()
    ra = f"{scope}{RA}/{uuid.uuid4()}"
    status, _, _ = await raw("PUT", ra, {"properties": {
        "roleDefinitionId": f"{sub_scope(emu)}{RD}/{guid}", "principalId": principal,
        "principalType": "ServicePrincipal"}})
    assert status == 201
    status, err, _ = await raw("DELETE", f"{scope}{RD}/{guid}")
    assert status == 409 and err["error"]["code"] == "RoleDefinitionHasAssignments", err
    assert "There are existing role assignments referencing role" in err["error"]["message"]
    assert emu.store.role_definitions.get(guid) is not None
    assert (await raw("DELETE", ra))[0] == 200
    status, deleted, _ = await raw("DELETE", f"{scope}{RD}/{guid}")
    assert status == 200 and deleted["name"] == guid


async def test_role_definition_list_is_paged(emu, authz_client) -> None:
    roles = [r async for r in authz_client.role_definitions.list(sub_scope(emu))]
    assert len(roles) >= len(BUILTINS) > 2  # page size 2: every page was followed


# -- role assignments: the examples ---------------------------------------------------
async def test_create_for_resource_group_example(emu, raw, example) -> None:
    ex = example("RoleAssignments_CreateForResourceGroup.json")
    name = ex["parameters"]["roleAssignmentName"]
    principal = ex["parameters"]["parameters"]["properties"]["principalId"]
    emu.seed_principal(principal, "User")
    scope = rg_scope(emu, "testrg")
    role = ex["parameters"]["parameters"]["properties"]["roleDefinitionId"].rsplit("/", 1)[1]
    status, _, _ = await raw("PUT", f"{sub_scope(emu)}{RD}/{role}", {"properties": {
        "roleName": "Example role", "assignableScopes": [sub_scope(emu)], "permissions": []}})
    assert status == 201
    req = ex["parameters"]["parameters"]
    req["properties"]["roleDefinitionId"] = req["properties"]["roleDefinitionId"].replace(
        "a925f2f7-5c63-4b7b-8799-25a5f97bc3b2", emu.subscription_id)
    status, got, _ = await raw("PUT", f"{scope}{RA}/{name}", req)
    expected = ex["responses"]["201"]["body"]
    assert status == 201
    # Recorded Azure answers the id subscription-scoped where the published example does
    # not (recordings FACT 1: the recordings win).
    assert expected["properties"]["roleDefinitionId"] == f"{RD}/{role}"
    assert got["properties"]["roleDefinitionId"] == f"{sub_scope(emu)}{RD}/{role}"
    assert got["properties"]["principalType"] == "User"
    assert got["properties"]["scope"] == scope
    assert got["id"] == f"{scope}{RA}/{name}" and got["name"] == name
    assert got["type"] == expected["type"]
    assert {"createdOn", "updatedOn", "createdBy"} <= set(got["properties"])
    assert got["properties"]["createdBy"] is None  # FACT 2: null in the PUT's answer
    status, again, _ = await raw("PUT", f"{scope}{RA}/{name}", req)
    assert status == 200  # idempotent
    status, fetched, _ = await raw("GET", got["id"])
    assert status == 200 and fetched == again
    assert fetched == {**got, "properties": {**got["properties"],
                                             "createdBy": emu.person_oid("alice")}}


async def test_delete_example_answers_200_with_body_then_204(emu, raw, example) -> None:
    ex = example("RoleAssignments_Delete.json")
    name = ex["parameters"]["roleAssignmentName"]
    p = emu.seed_principal()
    await raw("PUT", f"{sub_scope(emu)}{RA}/{name}", body(emu, p))
    status, got, _ = await raw("DELETE", f"{sub_scope(emu)}{RA}/{name}")
    assert status == 200
    assert set(got) == set(ex["responses"]["200"]["body"])
    status, _, _ = await raw("DELETE", f"{sub_scope(emu)}{RA}/{name}")
    assert status == 204
    status, _err, _ = await raw("GET", f"{sub_scope(emu)}{RA}/{name}")
    assert status == 404


async def test_sdk_create_get_list_delete(emu, authz_client) -> None:
    p = emu.seed_principal()
    scope = rg_scope(emu)
    name = str(uuid.uuid4())
    created = await authz_client.role_assignments.create(scope, name, body(emu, p))
    assert created.principal_type == "ServicePrincipal"
    got = await authz_client.role_assignments.get_by_id(created.id)
    assert got.name == name
    listed = [a.name async for a in authz_client.role_assignments.list_for_scope(scope)]
    assert listed == [name]
    await authz_client.role_assignments.delete(scope, name)
    with pytest.raises(ResourceNotFoundError):
        await authz_client.role_assignments.get(scope, name)


# -- role assignments: ARM's errors ---------------------------------------------------
async def test_name_must_be_a_guid(emu, raw) -> None:
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/not-a-guid",
                               body(emu, emu.seed_principal()))
    assert (status, err["error"]["code"]) == (400, "InvalidRoleAssignmentId")


async def test_same_grant_under_another_name_is_409_naming_the_existing(emu, raw) -> None:
    p = emu.seed_principal()
    first = str(uuid.uuid4())
    await raw("PUT", f"{sub_scope(emu)}{RA}/{first}", body(emu, p))
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}", body(emu, p))
    assert (status, err["error"]["code"]) == (409, "RoleAssignmentExists")
    assert err["error"]["message"] == ("The role assignment already exists. The ID of the "
                                       f"existing role assignment is {first.replace('-', '')}.")


async def test_changing_an_existing_assignment_is_409(emu, raw) -> None:
    p, q = emu.seed_principal(), emu.seed_principal()
    name = str(uuid.uuid4())
    await raw("PUT", f"{sub_scope(emu)}{RA}/{name}", body(emu, p))
    for changed in (body(emu, q), body(emu, p, role=BLOB_READER)):
        status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{name}", changed)
        assert (status, err["error"]["code"]) == (409, "RoleAssignmentUpdateNotPermitted")


async def test_unknown_role_definition_is_400(emu, raw) -> None:
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                               body(emu, emu.seed_principal(), role=str(uuid.uuid4())))
    assert (status, err["error"]["code"]) == (400, "RoleDefinitionDoesNotExist")


async def test_unknown_principal_is_400_principal_not_found(emu, raw) -> None:
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                               body(emu, str(uuid.uuid4())))
    assert (status, err["error"]["code"]) == (400, "PrincipalNotFound")


async def test_new_principal_needs_principal_type_until_replicated(emu, raw) -> None:
    young = emu.seed_principal(age_s=0)
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}", body(emu, young))
    assert (status, err["error"]["code"]) == (400, "PrincipalNotFound")
    status, _, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                             body(emu, young, principalType="ServicePrincipal"))
    assert status == 201
    await asyncio.sleep(emu.principal_delay_s)
    status, _, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                             body(emu, young, role=BLOB_READER))
    assert status == 201


async def test_contradicting_principal_type_is_400(emu, raw) -> None:
    p = emu.seed_principal(principal_type="ServicePrincipal")
    status, err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                               body(emu, p, principalType="User"))
    assert (status, err["error"]["code"]) == (400, "UnmatchedPrincipalType")


@pytest.mark.parametrize("missing", ["subscription", "group", "resource"])
async def test_scope_that_does_not_exist_is_404(emu, raw, missing) -> None:
    scope = {
        "subscription": f"/subscriptions/{uuid.uuid4()}",
        "group": f"{sub_scope(emu)}/resourceGroups/ghost",
        "resource": f"{rg_scope(emu)}/providers/Microsoft.Storage/storageAccounts/ghost",
    }[missing]
    status, _, _ = await raw("PUT", f"{scope}{RA}/{uuid.uuid4()}", body(emu, emu.seed_principal()))
    assert status == 404


async def test_description_is_limited_to_2048_characters(emu, raw) -> None:
    p = emu.seed_principal()
    ok, _, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                         body(emu, p, description="x" * 2048))
    status, _err, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}",
                               body(emu, p, role=BLOB_READER, description="x" * 2049))
    assert ok == 201 and status == 400


async def test_sdk_surfaces_the_conflict(emu, authz_client) -> None:
    p = emu.seed_principal()
    await authz_client.role_assignments.create(sub_scope(emu), str(uuid.uuid4()), body(emu, p))
    with pytest.raises(HttpResponseError) as err:
        await authz_client.role_assignments.create(sub_scope(emu), str(uuid.uuid4()),
                                                   body(emu, p))
    assert err.value.status_code == 409 and err.value.error.code == "RoleAssignmentExists"


# -- listing and filters ----------------------------------------------------------------
@pytest.fixture
def layered(emu: Emulator) -> dict[str, Any]:
    """Assignments at subscription, group and resource scope for two principals."""
    p, q = emu.seed_principal(), emu.seed_principal()
    rg = rg_scope(emu)
    res = f"{rg}/providers/Microsoft.Storage/storageAccounts/st1"
    emu.seed_resource(res)
    names = {}
    for label, scope, who in (("sub", sub_scope(emu), p), ("rg", rg, q), ("res", res, p),
                              ("other", rg_scope(emu, "rg10"), p)):
        names[label] = emu.seed_role_assignment(scope, READER, who)["name"]
    return {"p": p, "q": q, "rg": rg, "res": res, "names": names}


async def _names(raw, scope: str, flt: str | None = None) -> set[str]:
    params = {"$filter": flt} if flt else None
    status, page, _ = await raw("GET", f"{scope}{RA}", params=params)
    assert status == 200, page
    out = {a["name"] for a in page["value"]}
    while page.get("nextLink"):
        status, page, _ = await raw("GET", page["nextLink"], api_version=None)
        out |= {a["name"] for a in page["value"]}
    return out


async def test_default_list_is_at_above_and_below(emu, raw, layered) -> None:
    n = layered["names"]
    assert await _names(raw, layered["rg"]) == {n["sub"], n["rg"], n["res"]}


async def test_at_scope_filter_is_at_or_above(emu, raw, layered) -> None:
    n = layered["names"]
    assert await _names(raw, layered["rg"], "atScope()") == {n["sub"], n["rg"]}


@pytest.mark.parametrize("quote", ["'", ""])
async def test_principal_filter_quoted_or_not(emu, raw, layered, quote) -> None:
    n, p = layered["names"], layered["p"]
    got = await _names(raw, sub_scope(emu), f"principalId eq {quote}{p}{quote}")
    assert got == {n["sub"], n["res"], n["other"]}


async def test_sdk_list_for_subscription_follows_next_links(emu, authz_client, layered) -> None:
    got = {a.name async for a in authz_client.role_assignments.list_for_subscription()}
    assert got == set(layered["names"].values())


async def test_unsupported_filter_is_400(emu, raw) -> None:
    status, _, _ = await raw("GET", f"{sub_scope(emu)}{RA}", params={"$filter": "bogus()"})
    assert status == 400


async def test_assignment_properties_match_the_docs_list_sample(emu, raw, example) -> None:
    sample = example("docs.role-assignments-list-rest.atScope_and_assignedTo.json")["value"][0]
    p = emu.seed_principal()
    _, got, _ = await raw("PUT", f"{sub_scope(emu)}{RA}/{uuid.uuid4()}", body(emu, p))
    assert set(got) == set(sample)
    assert set(got["properties"]) == set(sample["properties"])
    assert got["properties"]["createdBy"] is None  # on creation (FACT 2) ...
    _, fetched, _ = await raw("GET", got["id"])
    assert fetched["properties"]["createdBy"] == emu.person_oid("alice")  # ... later filled


async def test_custom_role_matches_the_docs_sample(emu, raw, example) -> None:
    sample = example("docs.role-definitions-list.type_eq_CustomRole.json")["value"][0]
    props = {k: sample["properties"][k] for k in ("roleName", "description", "permissions")}
    props["assignableScopes"] = [sub_scope(emu)]
    guid = str(uuid.uuid4())
    await raw("PUT", f"{sub_scope(emu)}{RD}/{guid}", {"properties": props})
    _status, page, _ = await raw("GET", f"{sub_scope(emu)}{RD}",
                                params={"$filter": "type eq 'CustomRole'"})
    (got,) = page["value"]
    assert set(got) == set(sample) and set(got["properties"]) == set(sample["properties"])
    assert got["id"] == f"{sub_scope(emu)}{RD}/{guid}"
    assert got["properties"]["permissions"] == sample["properties"]["permissions"]
