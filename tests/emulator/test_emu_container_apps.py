"""Container apps: the published examples replayed through the real aio SDK and raw HTTPS."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from emulator import Emulator

API = "2026-01-01"


FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _example_body(emu: Emulator) -> dict[str, Any]:
    """ContainerApps_CreateOrUpdate's request, moved into the emulator's subscription."""
    example = load_fixture("ContainerApps_CreateOrUpdate.json")["parameters"]
    text = json.dumps(example["containerAppEnvelope"])
    body = json.loads(text.replace("34adfa4f-cedf-4dc0-ba29-b6d1a69ab345", emu.subscription_id))
    uamis = body["identity"]["userAssignedIdentities"]
    body["identity"]["userAssignedIdentities"] = {key: {} for key in uamis}
    return body


def _app_id(emu: Emulator, rg: str = "rg", name: str = "testcontainerapp0") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/{rg}"
            f"/providers/Microsoft.App/containerApps/{name}")


@pytest.fixture
def uami(emu: Emulator) -> dict[str, Any]:
    emu.seed_environment(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
                         "/providers/Microsoft.App/managedEnvironments/demokube")
    return emu.seed_identity(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
                             "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/myidentity")


async def test_create_example_through_sdk_poller(emu, apps_client, uami) -> None:
    poller = await apps_client.container_apps.begin_create_or_update(
        "rg", "testcontainerapp0", _example_body(emu), polling_interval=0)
    app = await poller.result()
    expected = load_fixture("ContainerApps_CreateOrUpdate.json")["responses"]["200"]["body"]
    assert app.name == expected["name"] and app.type == expected["type"]
    assert app.location == expected["location"]
    assert app.provisioning_state == "Succeeded"
    # the published example says "SystemAssigned,UserAssigned"; Azure answers it with a
    # space (recordings FACT 13, which win)
    assert app.identity.type == expected["identity"]["type"].replace(",", ", ")
    assert app.identity.principal_id and app.identity.tenant_id == emu.tenant_id
    (key, value), = app.identity.user_assigned_identities.items()
    assert "/resourcegroups/rg/" in key  # ARM's mixed case, as in the example
    assert value.principal_id == uami["properties"]["principalId"]
    assert value.client_id == uami["properties"]["clientId"]
    assert app.managed_environment_id.endswith("/managedEnvironments/demokube")
    assert emu.count(kind="poll") >= 1


async def test_create_answers_201_in_progress_with_async_operation(emu, raw, uami) -> None:
    status, body, headers = await raw("PUT", _app_id(emu), _example_body(emu), api_version=API)
    assert status == 201
    assert body["properties"]["provisioningState"] == "InProgress"
    assert body["identity"]["principalId"]  # already there (FACT 12)
    assert headers["Azure-AsyncOperation"].startswith(emu.endpoint)
    assert "/containerappOperationStatuses/" in headers["Azure-AsyncOperation"]
    assert "Retry-After" not in headers and "Location" not in headers  # FACT 11
    status, op, _ = await raw("GET", headers["Azure-AsyncOperation"], api_version=None)
    assert status == 200 and op["status"] == "Succeeded"
    assert set(op) == {"id", "name", "status", "startTime"}  # FACT 18
    status, again, _ = await raw("PUT", _app_id(emu), _example_body(emu), api_version=API)
    assert status == 201  # also on an existing app (FACT 11)
    assert again["identity"]["principalId"] == body["identity"]["principalId"]


async def test_get_matches_the_published_shape(emu, raw, uami) -> None:
    await raw("PUT", _app_id(emu), _example_body(emu), api_version=API)
    status, body, _ = await raw("GET", _app_id(emu).replace("resourceGroups", "RESOURCEGROUPS")
                                .replace("containerApps", "containerapps"), api_version=API)
    expected = load_fixture("ContainerApps_Get.json")["responses"]["200"]["body"]
    assert status == 200
    assert set(expected) - {"identity"} <= set(body)
    assert set(expected["identity"]) == set(body["identity"])
    for key in ("provisioningState", "runningStatus", "managedEnvironmentId",
                "latestRevisionFqdn", "configuration", "template"):
        assert key in body["properties"]
    assert body["id"] == _app_id(emu).replace("/containerApps/", "/containerapps/")  # FACT 15


async def test_get_unknown_app_is_404(apps_client) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        await apps_client.container_apps.get("rg", "nope")
    assert err.value.status_code == 404


async def test_put_in_missing_group_is_404(emu, raw) -> None:
    status, body, _ = await raw("PUT", _app_id(emu, rg="ghost"), {"location": "eastus"},
                                api_version=API)
    assert (status, body["error"]["code"]) == (404, "ResourceGroupNotFound")


async def test_secret_values_never_come_back_and_are_required_on_put(emu, raw) -> None:
    emu.seed_resource_group("rg")
    body = {"location": "eastus", "properties": {"configuration": {
        "secrets": [{"name": "db", "value": "hunter2"}]}}}
    status, created, _ = await raw("PUT", _app_id(emu), body, api_version=API)
    assert status == 201
    assert "hunter2" not in str(created)
    _, got, _ = await raw("GET", _app_id(emu), api_version=API)
    assert got["properties"]["configuration"]["secrets"] == [{"name": "db"}]
    assert "hunter2" not in str(emu.get(_app_id(emu)))
    status, err, _ = await raw("PUT", _app_id(emu), got, api_version=API)  # read-modify-write
    assert (status, err["error"]["code"]) == (400, "ContainerAppSecretInvalid")
    status, _, _ = await raw("PATCH", _app_id(emu), {"tags": {"a": "b"}}, api_version=API)
    assert status == 202  # a PATCH without secrets keeps the stored values


@pytest.mark.parametrize("itype", ["systemassigned", "SystemAssigned ,UserAssigned", "Both", ""])
async def test_identity_type_outside_the_enum_is_400(emu, raw, itype) -> None:
    emu.seed_resource_group("rg")
    status, body, _ = await raw("PUT", _app_id(emu),
                                {"location": "eastus", "identity": {"type": itype}},
                                api_version=API)
    assert status == 400, body


async def test_unknown_user_assigned_identity_is_400(emu, raw) -> None:
    emu.seed_resource_group("rg")
    ghost = (f"/subscriptions/{emu.subscription_id}/resourcegroups/rg/providers"
             "/Microsoft.ManagedIdentity/userAssignedIdentities/ghost")
    status, body, _ = await raw("PUT", _app_id(emu), {"location": "eastus", "identity": {
        "type": "UserAssigned", "userAssignedIdentities": {ghost: {}}}}, api_version=API)
    assert status == 400
    assert body["error"]["code"] == "FailedIdentityOperation"


async def test_patch_is_merge_patch_and_keeps_system_principal(emu, apps_client, uami) -> None:
    app_id = _app_id(emu, name="app1")
    seeded = emu.seed_container_app(app_id, tags={"keep": "1", "drop": "2"},
                                    identity="SystemAssigned")
    principal = seeded["identity"]["principalId"]
    poller = await apps_client.container_apps.begin_update("rg", "app1", {
        "location": "eastus", "tags": {"keep": "1", "new": "3"},
        "identity": {"type": "SystemAssigned,UserAssigned",
                     "userAssignedIdentities": {uami["id"]: {}}}}, polling_interval=0)
    app = await poller.result()
    assert app.identity.principal_id == principal
    assert app.tags == {"keep": "1", "drop": "2", "new": "3"}  # merged, not replaced
    assert app.template.containers[0].image  # untouched by the patch
    raw_patch = {"identity": {"type": "SystemAssigned", "userAssignedIdentities": None}}
    poller = await apps_client.container_apps.begin_update("rg", "app1", raw_patch,
                                                          polling_interval=0)
    app = await poller.result()
    assert app.identity.type == "SystemAssigned" and not app.identity.user_assigned_identities
    assert app.identity.principal_id == principal


async def test_patch_null_removes_a_member(emu, raw) -> None:
    app_id = _app_id(emu, name="app1")
    emu.seed_container_app(app_id, tags={"keep": "1", "drop": "2"})
    status, _, _ = await raw("PATCH", app_id, {"tags": {"drop": None}}, api_version=API)
    assert status == 202
    assert emu.get(app_id)["tags"] == {"keep": "1"}


async def test_system_principal_is_new_after_reenabling(emu, raw) -> None:
    app_id = _app_id(emu, name="app1")
    old = emu.seed_container_app(app_id, identity="SystemAssigned")["identity"]["principalId"]
    await raw("PATCH", app_id, {"identity": {"type": "None"}}, api_version=API)
    assert emu.get(app_id)["identity"] == {"type": "None"}
    assert emu.principal(old).deleted
    await raw("PATCH", app_id, {"identity": {"type": "SystemAssigned"}}, api_version=API)
    new = emu.get(app_id)["identity"]["principalId"]
    assert new != old
    p = emu.principal(new)
    assert (p.type, p.kind) == ("ServicePrincipal", "system-assigned")


async def test_delete_through_sdk_poller_then_404(emu, apps_client) -> None:
    emu.seed_container_app(_app_id(emu, name="app1"), identity="SystemAssigned")
    poller = await apps_client.container_apps.begin_delete("rg", "app1", polling_interval=0)
    assert await poller.result() is None
    assert emu.get(_app_id(emu, name="app1")) is None
    with pytest.raises(ResourceNotFoundError):
        await apps_client.container_apps.get("rg", "app1")


async def test_delete_answers_202_with_location_then_204(emu, raw) -> None:
    emu.seed_container_app(_app_id(emu, name="app1"))
    status, _, headers = await raw("DELETE", _app_id(emu, name="app1"), api_version=API)
    assert status == 202
    assert "Location" in headers and "Azure-AsyncOperation" not in headers
    status, _, _ = await raw("GET", headers["Location"], api_version=None)
    assert status == 204
    status, _, _ = await raw("DELETE", _app_id(emu, name="app1"), api_version=API)
    assert status == 204


async def test_lists_are_paged_by_subscription_and_group(emu, apps_client) -> None:
    for i in range(5):
        emu.seed_container_app(_app_id(emu, rg="rg" if i < 3 else "other", name=f"app{i}"))
    names = [a.name async for a in apps_client.container_apps.list_by_subscription()]
    assert sorted(names) == [f"app{i}" for i in range(5)]
    in_rg = [a.name async for a in apps_client.container_apps.list_by_resource_group("rg")]
    assert sorted(in_rg) == ["app0", "app1", "app2"]
    assert emu.count(kind="read", path_contains="/containerApps") >= 5  # page size 2


async def test_list_first_page_has_next_link_with_skiptoken(emu, raw) -> None:
    for i in range(3):
        emu.seed_container_app(_app_id(emu, name=f"app{i}"))
    path = f"/subscriptions/{emu.subscription_id}/providers/Microsoft.App/containerApps"
    status, body, _ = await raw("GET", path, api_version=API)
    assert status == 200 and len(body["value"]) == 2
    assert "$skiptoken=" in body["nextLink"]
    status, page2, _ = await raw("GET", body["nextLink"], api_version=None)
    assert [a["name"] for a in page2["value"]] == ["app2"] and "nextLink" not in page2


async def test_sdk_raises_on_refused_create(emu, apps_client) -> None:
    emu.seed_resource_group("rg")
    with pytest.raises(HttpResponseError) as err:
        await apps_client.container_apps.begin_create_or_update(
            "rg", "app1", {"location": "eastus", "identity": {"type": "Both"}})
    assert err.value.status_code == 400


@pytest.mark.parametrize("itype", ["None", "SystemAssigned", "UserAssigned",
                                   "SystemAssigned,UserAssigned"])
async def test_every_identity_type_of_the_enum_is_accepted(emu, raw, uami, itype) -> None:
    identity: dict[str, Any] = {"type": itype}
    if "UserAssigned" in itype:
        identity["userAssignedIdentities"] = {uami["id"]: {}}
    status, body, _ = await raw("PUT", _app_id(emu), {"location": "eastus",
                                                       "identity": identity}, api_version=API)
    assert status == 201
    # the combined type comes back with a space (FACT 13)
    assert body["identity"]["type"] == itype.replace(",", ", ")
    assert ("principalId" in body["identity"]) == ("SystemAssigned" in itype)


async def test_user_assigned_type_without_identities_is_400(emu, raw) -> None:
    emu.seed_resource_group("rg")
    status, _, _ = await raw("PUT", _app_id(emu), {"location": "eastus",
                                                    "identity": {"type": "UserAssigned"}},
                             api_version=API)
    assert status == 400


async def test_retry_after_is_configurable(emu, raw) -> None:
    emu.retry_after_s = 3
    emu.seed_resource_group("rg")
    _, _, headers = await raw("PUT", _app_id(emu), {"location": "eastus"}, api_version=API)
    assert headers["Retry-After"] == "3"


async def test_system_principal_is_registered_with_type_and_time(emu, raw) -> None:
    import time

    emu.seed_resource_group("rg")
    before = time.time()
    _, body, _ = await raw("PUT", _app_id(emu), {"location": "eastus", "identity": {
        "type": "SystemAssigned"}}, api_version=API)
    p = emu.principal(body["identity"]["principalId"])
    assert p.type == "ServicePrincipal" and before <= p.created <= time.time()
    assert emu.principal(emu.service_oid).type == "ServicePrincipal"


async def test_seeded_system_principal_is_past_the_replication_delay(emu, raw) -> None:
    emu.principal_delay_s = 3600
    app = emu.seed_container_app(_app_id(emu), identity="SystemAssigned")
    assignment = (f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization"
                  "/roleAssignments/6f1c1f0e-5b1a-4c59-9a53-0d7a4a3f7c21")
    status, body, _ = await raw("PUT", assignment, {"properties": {
        "principalId": app["identity"]["principalId"],
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
                            "acdd72a7-3385-48ef-bd42-f606fba81ae7"}})
    assert status == 201, body
    assert body["properties"]["principalType"] == "ServicePrincipal"


async def test_start_stop_and_list_secrets_actions(emu, apps_client) -> None:
    emu.seed_container_app(_app_id(emu, name="app1"), properties={"configuration": {
        "secrets": [{"name": "db", "value": "hunter2"}]}})
    await (await apps_client.container_apps.begin_stop("rg", "app1", polling_interval=0)).result()
    assert emu.get(_app_id(emu, name="app1"))["properties"]["runningStatus"] == "Stopped"
    await (await apps_client.container_apps.begin_start("rg", "app1",
                                                        polling_interval=0)).result()
    assert emu.get(_app_id(emu, name="app1"))["properties"]["runningStatus"] == "Running"
    secrets = await apps_client.container_apps.list_secrets("rg", "app1")
    assert [(s.name, s.value) for s in secrets.value] == [("db", "hunter2")]
    assert [e["eventType"] for e in emu.events] == ["Microsoft.Resources.ResourceActionSuccess"] * 3


async def test_refused_write_leaves_principals_alone(emu, raw) -> None:
    app_id = _app_id(emu, name="app1")
    old = emu.seed_container_app(app_id, identity="SystemAssigned")["identity"]["principalId"]
    status, _, _ = await raw("PUT", app_id, {"location": "eastus", "tags": {"a": 1},
                                             "identity": {"type": "None"}}, api_version=API)
    assert status == 400
    assert not emu.principal(old).deleted
    assert emu.get(app_id)["identity"]["principalId"] == old


async def test_patch_without_identity_keeps_it_even_if_an_identity_is_gone(emu, raw) -> None:
    uami = emu.seed_identity(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
                             "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1")
    app_id = _app_id(emu, name="app1")
    emu.seed_container_app(app_id, identity={"type": "UserAssigned",
                                             "userAssignedIdentities": {uami["id"]: {}}})
    await raw("DELETE", uami["id"], api_version="2024-11-30")
    status, _, _ = await raw("PATCH", app_id, {"tags": {"x": "y"}}, api_version=API)
    assert status == 202
    assert list(emu.get(app_id)["identity"]["userAssignedIdentities"]) == [uami["id"]]
