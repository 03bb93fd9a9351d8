"""Subscriptions, resource groups, user-assigned identities, generic resources, Tags API."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from emulator import Emulator

MSI_API = "2024-11-30"
TAGS = "/providers/Microsoft.Resources/tags/default"


def uami_id(emu: Emulator, name: str = "identityName", rg: str = "rgName") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/{rg}"
            f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}")


async def test_subscriptions_list_and_get(emu, raw) -> None:
    emu.seed_subscription("11111111-2222-3333-4444-555555555555")
    status, page, _ = await raw("GET", "/subscriptions", api_version="2022-12-01")
    assert status == 200 and len(page["value"]) == 2 and "nextLink" not in page
    status, sub, _ = await raw("GET", f"/subscriptions/{emu.subscription_id.upper()}",
                               api_version="2022-12-01")
    assert status == 200
    assert sub["subscriptionId"] == emu.subscription_id and sub["tenantId"] == emu.tenant_id
    assert sub["state"] == "Enabled"
    status, err, _ = await raw("GET", "/subscriptions/00000000-0000-0000-0000-000000000000",
                               api_version="2022-12-01")
    assert (status, err["error"]["code"]) == (404, "SubscriptionNotFound")


async def test_resource_group_put_get_list_delete(emu, raw) -> None:
    path = f"/subscriptions/{emu.subscription_id}/resourceGroups/MyRG"
    status, rg, _ = await raw("PUT", path, {"location": "westeurope"}, api_version="2024-03-01")
    assert status == 201 and rg["name"] == "MyRG" and rg["location"] == "westeurope"
    status, _, _ = await raw("PUT", path, {"location": "westeurope"}, api_version="2024-03-01")
    assert status == 200
    status, _, _ = await raw("PUT", path.replace("MyRG", "nowhere"), {}, api_version="2024-03-01")
    assert status == 400
    status, got, _ = await raw("GET", path.lower(), api_version="2024-03-01")
    assert status == 200 and got["id"] == path
    status, page, _ = await raw("GET", f"/subscriptions/{emu.subscription_id}/resourcegroups",
                                api_version="2024-03-01")
    assert [g["name"] for g in page["value"]] == ["MyRG"]
    status, _, _ = await raw("DELETE", path, api_version="2024-03-01")
    assert status == 200
    status, err, _ = await raw("GET", path, api_version="2024-03-01")
    assert (status, err["error"]["code"]) == (404, "ResourceGroupNotFound")


async def test_identity_create_example_through_sdk(emu, msi_client, example) -> None:
    ex = example("IdentityCreate.json")
    emu.seed_resource_group("rgName")
    created = await msi_client.user_assigned_identities.create_or_update(
        "rgName", "identityName", ex["parameters"]["parameters"])
    expected = ex["responses"]["201"]["body"]
    assert created.name == expected["name"] and created.type == expected["type"]
    assert created.location == "eastus" and created.tags == expected["tags"]
    assert created.principal_id and created.client_id and created.tenant_id == emu.tenant_id
    assert "/resourcegroups/rgName/" in created.id  # as MSI answers, see the example
    again = await msi_client.user_assigned_identities.create_or_update(
        "rgName", "identityName", ex["parameters"]["parameters"])
    assert (again.principal_id, again.client_id) == (created.principal_id, created.client_id)
    p = emu.principal(created.principal_id)
    assert (p.type, p.kind) == ("ServicePrincipal", "user-assigned")
    got = await msi_client.user_assigned_identities.get("rgname", "IDENTITYNAME")
    assert got.principal_id == created.principal_id


async def test_identity_statuses_201_then_200(emu, raw) -> None:
    emu.seed_resource_group("rgName")
    status, _, _ = await raw("PUT", uami_id(emu), {"location": "eastus"}, api_version=MSI_API)
    assert status == 201
    status, _, _ = await raw("PUT", uami_id(emu), {"location": "eastus"}, api_version=MSI_API)
    assert status == 200


async def test_identity_without_location_is_400(emu, msi_client) -> None:
    emu.seed_resource_group("rgName")
    with pytest.raises(HttpResponseError) as err:
        await msi_client.user_assigned_identities.create_or_update("rgName", "x", {"tags": {}})
    assert err.value.status_code == 400


async def test_identity_list_delete(emu, msi_client) -> None:
    for i in range(3):
        emu.seed_identity(uami_id(emu, f"id{i}"))
    emu.seed_identity(uami_id(emu, "elsewhere", rg="other"))
    names = [i.name async for i in msi_client.user_assigned_identities.list_by_resource_group(
        "rgName")]
    assert sorted(names) == ["id0", "id1", "id2"]
    everywhere = [i async for i in msi_client.user_assigned_identities.list_by_subscription()]
    assert len(everywhere) == 4
    principal = everywhere[0].principal_id
    await msi_client.user_assigned_identities.delete("rgName", "id0")
    await msi_client.user_assigned_identities.delete("rgName", "id0")  # 204: already gone
    with pytest.raises(ResourceNotFoundError):
        await msi_client.user_assigned_identities.get("rgName", "id0")
    assert emu.principal(principal).deleted


async def test_generic_resource_is_stored_and_is_a_scope(emu, raw) -> None:
    emu.seed_resource_group("rg")
    sa = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
          "/providers/Microsoft.Storage/storageAccounts/stapp")
    status, got, _ = await raw("PUT", sa, {"location": "eastus", "kind": "StorageV2",
                                            "sku": {"name": "Standard_LRS"}},
                               api_version="2023-05-01")
    assert status == 201 and got["type"] == "Microsoft.Storage/storageAccounts"
    status, got, _ = await raw("GET", sa.upper().replace("SUBSCRIPTIONS", "subscriptions"),
                               api_version="2023-05-01")
    assert status == 200 and got["kind"] == "StorageV2"
    status, tags, _ = await raw("GET", sa + TAGS, api_version="2021-04-01")
    assert status == 200 and tags["properties"]["tags"] == {}
    status, _, _ = await raw("DELETE", sa, api_version="2023-05-01")
    assert status == 200
    status, _, _ = await raw("GET", sa, api_version="2023-05-01")
    assert status == 404


async def test_tags_api_merge_replace_delete(emu, raw) -> None:
    app = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
           "/providers/Microsoft.App/containerApps/app1")
    emu.seed_container_app(app, tags={"Env": "dev", "grant:a": "Reader@."})
    status, got, _ = await raw("PATCH", app + TAGS, {"operation": "Merge", "properties": {
        "tags": {"env": "prod", "owner": "me"}}}, api_version="2021-04-01")
    assert status == 200
    assert got["properties"]["tags"] == {"grant:a": "Reader@.", "env": "prod", "owner": "me"}
    assert emu.get(app)["tags"] == got["properties"]["tags"]
    assert got["id"] == app + TAGS and got["type"] == "Microsoft.Resources/tags"
    _, got, _ = await raw("PATCH", app + TAGS, {"operation": "Delete", "properties": {
        "tags": {"GRANT:A": ""}}}, api_version="2021-04-01")
    assert got["properties"]["tags"] == {"env": "prod", "owner": "me"}
    _, got, _ = await raw("PATCH", app + TAGS, {"properties": {"operation": "Replace",
                                                             "tags": {"only": "1"}}},
                          api_version="2021-04-01")
    assert got["properties"]["tags"] == {"only": "1"}
    _, got, _ = await raw("PUT", app + TAGS, {"properties": {"tags": {"x": "y"}}},
                          api_version="2021-04-01")
    assert emu.get(app)["tags"] == {"x": "y"}
    status, _err, _ = await raw("PATCH", app + TAGS, {"operation": "Upsert", "properties": {
        "tags": {}}}, api_version="2021-04-01")
    assert status == 400


async def test_tags_on_a_missing_scope_is_404(emu, raw) -> None:
    emu.seed_resource_group("rg")
    app = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
           "/providers/Microsoft.App/containerApps/ghost")
    status, _, _ = await raw("GET", app + TAGS, api_version="2021-04-01")
    assert status == 404


async def test_tags_on_group_and_subscription(emu, raw) -> None:
    rg = emu.seed_resource_group("rg")
    for scope in (rg, f"/subscriptions/{emu.subscription_id}"):
        status, _got, _ = await raw("PUT", scope + TAGS, {"properties": {"tags": {"a": "1"}}},
                                   api_version="2021-04-01")
        assert status == 200 and emu.get(scope)["tags"] == {"a": "1"}


async def test_resource_group_head_answers_existence(emu, raw) -> None:
    path = emu.seed_resource_group("rg")
    assert (await raw("HEAD", path, api_version="2024-03-01"))[0] == 204
    assert (await raw("HEAD", path + "x", api_version="2024-03-01"))[0] == 404


async def test_group_delete_takes_its_resources_and_emits_their_deletes(emu, raw) -> None:
    app = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
           "/providers/Microsoft.App/containerApps/app1")
    principal = emu.seed_container_app(app, identity="SystemAssigned")["identity"]["principalId"]
    status, _, _ = await raw("DELETE", emu.seed_resource_group("rg"), api_version="2024-03-01")
    assert status == 200 and emu.get(app) is None
    assert emu.principal(principal).deleted
    assert [e["data"]["operationName"] for e in emu.events] == [
        "Microsoft.App/managedEnvironments/delete",  # seeded with the app
        "Microsoft.App/containerApps/delete",
        "Microsoft.Resources/subscriptions/resourceGroups/delete"]


async def test_identity_list_matches_the_published_page(emu, raw, example) -> None:
    sample = example("IdentityListByResourceGroup.json")["responses"]["200"]["body"]
    for i in range(3):
        emu.seed_identity(uami_id(emu, f"id{i}"))
    path = (f"/subscriptions/{emu.subscription_id}/resourceGroups/rgName/providers"
            "/Microsoft.ManagedIdentity/userAssignedIdentities")
    status, page, _ = await raw("GET", path, api_version="2026-05-31")  # the sample's
    assert status == 200 and set(page) == set(sample)
    assert "$skiptoken=" in page["nextLink"]
    item = page["value"][0]
    assert set(item) >= set(sample["value"][0])
    assert set(item["properties"]) == set(sample["value"][0]["properties"])
