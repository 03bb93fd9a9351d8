"""Smaller ARM rules, each pinned by a test so that dropping it is noticed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from emulator import Emulator

RA = "/providers/Microsoft.Authorization/roleAssignments"
RD = "/providers/Microsoft.Authorization/roleDefinitions"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
TAGS = "/providers/Microsoft.Resources/tags/default"
API = "2026-01-01"


def sub(emu: Emulator) -> str:
    return f"/subscriptions/{emu.subscription_id}"


def assignment(principal: str, role: str = READER, **extra: Any) -> dict[str, Any]:
    return {"properties": {"principalId": principal, "roleDefinitionId": f"{RD}/{role}",
                           **extra}}


async def _custom_role(raw, scope: str, name: str, guid: str | None = None) -> tuple[int, Any]:
    status, body, _ = await raw("PUT", f"{scope}{RD}/{guid or uuid.uuid4()}", {"properties": {
        "roleName": name, "assignableScopes": [scope],
        "permissions": [{"actions": ["*/read"], "notActions": []}]}})
    return status, body


async def test_role_name_filter_unescapes_quotes(emu, raw) -> None:
    await _custom_role(raw, sub(emu), "O'Brien Reader")
    status, page, _ = await raw("GET", f"{sub(emu)}{RD}",
                                params={"$filter": "roleName eq 'o''brien reader'"})
    assert status == 200 and [r["properties"]["roleName"] for r in page["value"]] == [
        "O'Brien Reader"]


async def test_custom_role_name_must_be_unique(emu, raw) -> None:
    assert (await _custom_role(raw, sub(emu), "Twin"))[0] == 201
    status, body = await _custom_role(raw, sub(emu), "twin")
    assert (status, body["error"]["code"]) == (409, "RoleDefinitionWithSameNameExists")
    status, _ = await _custom_role(raw, sub(emu), "Reader")
    assert status == 409


async def test_builtin_roles_cannot_be_changed_or_deleted(emu, raw) -> None:
    status, _ = await _custom_role(raw, sub(emu), "Mine", guid=READER)
    assert status == 403
    status, _, _ = await raw("DELETE", f"{sub(emu)}{RD}/{READER}")
    assert status == 403


async def test_custom_role_delete(emu, raw) -> None:
    guid = str(uuid.uuid4())
    await _custom_role(raw, sub(emu), "Temp", guid)
    assert (await raw("DELETE", f"{sub(emu)}{RD}/{guid}"))[0] == 200
    assert (await raw("GET", f"{sub(emu)}{RD}/{guid}"))[0] == 404
    assert (await raw("DELETE", f"{sub(emu)}{RD}/{guid}"))[0] == 204


async def test_custom_role_outside_its_assignable_scopes_is_400(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    guid = str(uuid.uuid4())
    await _custom_role(raw, rg, "Group only", guid)
    status, body, _ = await raw("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}",
                                assignment(emu.seed_principal(), guid))
    assert (status, body["error"]["code"]) == (
        400, "RoleAssignmentScopeNotAssignableToRoleDefinition")
    status, _, _ = await raw("PUT", f"{rg}{RA}/{uuid.uuid4()}",
                             assignment(emu.seed_principal(), guid))
    assert status == 201


async def test_invalid_principal_type_is_400(emu, raw) -> None:
    status, _, _ = await raw("PUT", f"{sub(emu)}{RA}/{uuid.uuid4()}",
                             assignment(emu.seed_principal(), principalType="Robot"))
    assert status == 400


async def test_description_change_is_an_update(emu, raw) -> None:
    p = emu.seed_principal()
    path = f"{sub(emu)}{RA}/{uuid.uuid4()}"
    await raw("PUT", path, assignment(p, description="one"))
    status, body, _ = await raw("PUT", path, assignment(p, description="two"))
    assert status == 200 and body["properties"]["description"] == "two"
    assert len(emu.events) == 2


async def test_assigned_to_filter_matches_the_principal(emu, raw) -> None:
    p, q = emu.seed_principal(), emu.seed_principal()
    emu.seed_role_assignment(sub(emu), READER, p)
    emu.seed_role_assignment(sub(emu), READER, q)
    status, page, _ = await raw("GET", f"{sub(emu)}{RA}",
                                params={"$filter": f"atScope() and assignedTo('{p}')"})
    assert status == 200 and [a["properties"]["principalId"] for a in page["value"]] == [p]


async def test_tenant_level_role_assignment_list(emu, raw) -> None:
    emu.seed_role_assignment(sub(emu), READER, emu.seed_principal())
    status, page, _ = await raw("GET", RA)
    assert status == 200 and len(page["value"]) == 1


async def test_group_delete_removes_assignments_below_it(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    emu.seed_role_assignment(rg, READER, emu.seed_principal())
    kept = emu.seed_role_assignment(sub(emu), READER, emu.seed_principal())
    await raw("DELETE", rg, api_version="2024-03-01")
    assert emu.role_assignments() == [kept]


async def test_location_of_an_app_cannot_change(emu, raw) -> None:
    app = f"{sub(emu)}/resourceGroups/rg/providers/Microsoft.App/containerApps/app1"
    emu.seed_container_app(app, location="East US")
    status, _, _ = await raw("PUT", app, {"location": "eastus"}, api_version=API)
    assert status == 201  # "East US" and "eastus" are the same location
    status, _, _ = await raw("PUT", app, {"location": "westeurope"}, api_version=API)
    assert status == 400


async def test_unknown_operation_is_404(emu, raw) -> None:
    path = (f"{sub(emu)}/providers/Microsoft.App/locations/eastus"
            f"/containerappOperationStatuses/{uuid.uuid4()}")
    assert (await raw("GET", path, api_version=API))[0] == 404
    assert emu.request_log[-1].kind == "poll"


async def test_tags_delete_only_matching_values_and_verb_delete(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    await raw("PUT", rg + TAGS, {"properties": {"tags": {"a": "1", "b": "2"}}},
              api_version="2021-04-01")
    _, got, _ = await raw("PATCH", rg + TAGS, {"operation": "Delete", "properties": {
        "tags": {"a": "other", "b": "2"}}}, api_version="2021-04-01")
    assert got["properties"]["tags"] == {"a": "1"}
    status, _, _ = await raw("DELETE", rg + TAGS, api_version="2021-04-01")
    assert status == 200 and emu.get(rg)["tags"] == {}
    assert emu.events[-1]["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"


async def test_at_most_50_tags(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    tags = {f"t{i}": "v" for i in range(51)}
    status, _, _ = await raw("PUT", rg + TAGS, {"properties": {"tags": tags}},
                             api_version="2021-04-01")
    assert status == 400


# object_id: App Service's alias of principal_id, the one MSAL (az login --identity
# --object-id) and azure-identity send.
@pytest.mark.parametrize("select", ["client_id", "principal_id", "object_id", "mi_res_id"])
async def test_identity_endpoint_selects_a_user_assigned_identity(emu, session, select) -> None:
    uami = emu.seed_identity(f"{sub(emu)}/resourceGroups/rg/providers"
                             "/Microsoft.ManagedIdentity/userAssignedIdentities/u1")
    value = {"client_id": uami["properties"]["clientId"],
             "principal_id": uami["properties"]["principalId"],
             "object_id": uami["properties"]["principalId"], "mi_res_id": uami["id"]}[select]
    params = {"resource": "https://x", "api-version": "2019-08-01", select: value}
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params,
                           headers={"X-IDENTITY-HEADER": emu.identity_header}) as r:
        assert (await r.json())["client_id"] == uami["properties"]["clientId"]
    params[select] = str(uuid.uuid4())
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params,
                           headers={"X-IDENTITY-HEADER": emu.identity_header}) as r:
        assert r.status == 400


async def test_subscription_and_group_resource_lists(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/s1")
    emu.seed_resource(f"{sub(emu)}/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv")
    _, page, _ = await raw("GET", f"{sub(emu)}/resources", api_version="2021-04-01")
    assert {r["name"] for r in page["value"]} == {"s1", "kv"}
    _, page, _ = await raw("GET", f"{rg}/resources", api_version="2021-04-01")
    assert [r["name"] for r in page["value"]] == ["s1"]


async def test_resource_lists_honour_the_filters_az_resource_list_sends(emu, raw) -> None:
    """``az resource list --resource-type / --name / --location / --tag`` send ``$filter``;
    a filter the emulator cannot evaluate is refused as ARM refuses it, never ignored."""
    rg = emu.seed_resource_group("rg")
    emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/s1",
                      {"tags": {"team": "a"}})
    emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/s2",
                      {"location": "westus"})
    emu.seed_resource(f"{rg}/providers/Microsoft.KeyVault/vaults/kv", {"tags": {"team": "b"}})

    async def names(where: str, flt: str) -> list[str]:
        status, page, _ = await raw("GET", f"{where}/resources", api_version="2021-04-01",
                                    params={"$filter": flt})
        found = []
        while True:
            assert status == 200, page
            found += [r["name"] for r in page["value"]]
            if not page.get("nextLink"):
                return sorted(found)
            status, page, _ = await raw("GET", page["nextLink"], api_version=None)

    assert await names(sub(emu), "resourceType eq 'microsoft.storage/STORAGEACCOUNTS'") == [
        "s1", "s2"]
    assert await names(rg, "name eq 'kv'") == ["kv"]
    emu.seed_resource(f"{sub(emu)}/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv2")
    assert await names(sub(emu), "resourceGroup eq 'RG2'") == ["kv2"]  # az resource list -g
    assert await names(rg, "location eq 'westus'") == ["s2"]
    assert await names(rg, "tagName eq 'team'") == ["kv", "s1"]
    assert await names(rg, "tagName eq 'team' and tagValue eq 'a'") == ["s1"]
    assert await names(sub(emu), "resourceType eq 'Microsoft.Storage/storageAccounts' and "
                                 "location eq 'eastus'") == ["s1"]
    status, err, _ = await raw("GET", f"{rg}/resources", api_version="2021-04-01",
                               params={"$filter": "managedBy eq 'someone'"})
    assert status == 400 and err["error"]["code"] == "InvalidFilterInQueryString"


async def test_count_arm_excludes_tokens(emu, raw, session) -> None:
    await raw("GET", "/subscriptions", api_version="2022-12-01")
    async with session.get(emu.env["IDENTITY_ENDPOINT"],
                           params={"resource": "x", "api-version": "2019-08-01"},
                           headers={"X-IDENTITY-HEADER": emu.identity_header}):
        pass
    assert emu.count(kind="arm") == emu.count() == 1 and emu.count(kind="token") == 1


def test_count_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        Emulator().count(kind="writes")


async def test_role_definitions_at_scope_and_below(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    await _custom_role(raw, rg, "Deep")
    _, page, _ = await raw("GET", f"{sub(emu)}{RD}", params={"$filter": "atScopeAndBelow()"})
    names = set()
    while True:
        names |= {r["properties"]["roleName"] for r in page["value"]}
        if not page.get("nextLink"):
            break
        _, page, _ = await raw("GET", page["nextLink"], api_version=None)
    assert "Deep" in names and "Reader" in names


async def test_identity_and_group_patch(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    uami = emu.seed_identity(f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u")
    status, got, _ = await raw("PATCH", uami["id"], {"tags": {"a": "1"}}, api_version="2024-11-30")
    assert status == 200 and got["tags"] == {"a": "1"}
    assert got["properties"]["principalId"] == uami["properties"]["principalId"]
    status, got, _ = await raw("PATCH", rg, {"tags": {"b": "2"}}, api_version="2024-03-01")
    assert status == 200 and got["tags"] == {"b": "2"} and got["location"] == "eastus"


async def test_stop_leaves_unfinished_operations_in_progress() -> None:
    async with Emulator(time_scale=0.005) as emu:  # the app's operation: 50 ms
        token = emu.person_token()
        emu.seed_resource_group("rg")
        url = (f"{emu.endpoint}{sub(emu)}/resourceGroups/rg/providers/Microsoft.App"
               f"/containerApps/a?api-version={API}")
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=emu.client_ssl_context())) as s, \
                s.put(url, json={"location": "eastus"},
                      headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 201
    await asyncio.sleep(0.1)
    assert emu.events == []  # the timer died with the emulator
