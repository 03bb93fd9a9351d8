"""Resource providers, endpoint discovery, api-version validation and the built-in roles,
as ARM answers them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.catalog import NAMESPACES, namespace
from emulator.providers import provider_type_of

ROOT = Path(__file__).resolve().parents[2]
RD = "/providers/Microsoft.Authorization/roleDefinitions"


def sub(emu) -> str:
    return f"/subscriptions/{emu.subscription_id}"


async def test_provider_show_lists_the_types_with_versions_and_regions(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}/providers/Microsoft.App",
                                api_version="2024-11-01")
    assert status == 200
    assert body["id"] == f"{sub(emu)}/providers/Microsoft.App"
    assert body["namespace"] == "Microsoft.App"
    assert (body["registrationState"], body["registrationPolicy"]) == (
        "Registered", "RegistrationRequired")  # FACT 24
    types = {t["resourceType"]: t for t in body["resourceTypes"]}
    for name in ("managedEnvironments", "containerApps", "jobs"):
        assert set(types[name]) == {"resourceType", "locations", "apiVersions",
                                    "defaultApiVersion", "capabilities"}
        assert "SystemAssignedResourceIdentity" in types[name]["capabilities"]
        assert "East US" in types[name]["locations"]
        assert {"2024-03-01", "2023-04-01-preview"} <= set(types[name]["apiVersions"])
    assert "locations/containerappOperationStatuses" in types


async def test_providers_are_listed_paged_and_at_tenant_level(emu, raw) -> None:
    names, url = [], f"{sub(emu)}/providers"
    while url:
        status, page, _ = await raw("GET", url, api_version="2024-11-01" if
                                    not url.startswith("https") else None)
        assert status == 200
        names += [p["namespace"] for p in page["value"]]
        url = page.get("nextLink")
    assert names == [n.name for n in NAMESPACES]
    status, body, _ = await raw("GET", "/providers/Microsoft.ManagedIdentity",
                                api_version="2024-11-01")
    assert status == 200 and body["id"] == "/providers/Microsoft.ManagedIdentity"


async def test_register_answers_the_transition_then_shows_registered(emu, raw) -> None:
    path = f"{sub(emu)}/providers/Microsoft.OperationalInsights"
    _, before, _ = await raw("GET", path, api_version="2024-11-01")
    assert before["registrationState"] == "NotRegistered"
    status, body, _ = await raw("POST", f"{path}/register", api_version="2024-11-01")
    assert (status, body["registrationState"]) == (200, "Registering")
    _, after, _ = await raw("GET", path, api_version="2024-11-01")
    assert after["registrationState"] == "Registered"
    (event,) = emu.events
    assert event["data"]["operationName"] == "Microsoft.OperationalInsights/register/action"


async def test_unknown_namespace_is_404(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}/providers/Contoso.Nothing",
                                api_version="2024-11-01")
    assert (status, body["error"]["code"]) == (404, "InvalidResourceNamespace")


@pytest.mark.parametrize("version", ["2022-09-01", "2024-01-01"])
async def test_endpoint_discovery_needs_no_token(emu, anon, version) -> None:
    status, body, _ = await anon("GET", "/metadata/endpoints", api_version="2022-09-01")
    assert status == 200
    assert body["resourceManager"] == f"{emu.endpoint}/"
    assert body["authentication"]["audiences"][0] == f"{emu.endpoint}/"
    assert {"name", "suffixes", "authentication", "portal"} <= set(body)


async def test_endpoint_discovery_old_versions_answer_a_list(anon) -> None:
    status, body, _ = await anon("GET", "/metadata/endpoints", api_version="2019-05-01")
    assert status == 200 and isinstance(body, list) and body[0]["resourceManager"]
    status, body, _ = await anon("GET", "/metadata/endpoints", api_version="1999-01-01")
    assert (status, body["error"]["code"]) == (400, "InvalidApiVersionParameter")


async def test_unknown_api_version_of_a_provider_type_is_no_registered_provider(emu,
                                                                               raw) -> None:
    emu.seed_container_app(f"{sub(emu)}/resourceGroups/rg/providers/Microsoft.App"
                           "/containerApps/app1")
    status, body, _ = await raw("GET", f"{sub(emu)}/resourceGroups/rg/providers/Microsoft.App"
                                "/containerApps/app1", api_version="2099-01-01")
    assert (status, body["error"]["code"]) == (400, "NoRegisteredProviderFound")
    message = body["error"]["message"]
    assert message.startswith("No registered resource provider found for location 'eastus' "
                              "and API version '2099-01-01' for type 'containerApps'. The "
                              "supported api-versions are '2022-01-01-preview, 2022-03-01, ")
    assert "The supported locations are '" in message and "eastus, " in message


async def test_unknown_api_version_of_a_global_type_names_no_region(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}/providers/Microsoft.Authorization"
                                "/roleAssignments", api_version="2023-01-01")
    assert (status, body["error"]["code"]) == (400, "NoRegisteredProviderFound")
    assert body["error"]["message"].endswith("The supported locations are ''.")


async def test_unknown_api_version_of_arm_itself_is_invalid_api_version(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}/resourceGroups", api_version="2099-01-01")
    assert (status, body["error"]["code"]) == (400, "InvalidApiVersionParameter")
    assert body["error"]["message"].startswith(
        "The api-version '2099-01-01' is invalid. The supported versions are '2025-04-01,")


async def test_any_api_version_for_a_provider_the_emulator_does_not_know(emu, raw) -> None:
    emu.seed_resource_group("rg")
    status, _, _ = await raw("PUT", f"{sub(emu)}/resourceGroups/rg/providers/Contoso.Things"
                             "/widgets/w1", {"location": "eastus"}, api_version="1999-12-31")
    assert status == 201


def _sdk_default(module: str, attribute: str = "api_version") -> str:
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    marker = f'kwargs.pop("{attribute}", "'
    return source.split(marker, 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(("namespace_name", "type_name", "version"), [
    ("Microsoft.App", "containerApps", _sdk_default("azure.mgmt.appcontainers._configuration")),
    ("Microsoft.App", "jobs", _sdk_default("azure.mgmt.appcontainers._configuration")),
    ("Microsoft.ManagedIdentity", "userAssignedIdentities",
     _sdk_default("azure.mgmt.msi.v2024_11_30._configuration")),
    ("Microsoft.Authorization", "roleAssignments", "2022-04-01"),
    ("Microsoft.Authorization", "roleDefinitions", "2022-04-01"),
])
def test_every_version_the_installed_sdks_send_is_served(namespace_name, type_name,
                                                         version) -> None:
    ns = namespace(namespace_name)
    assert ns is not None
    served = ns.type(type_name)
    assert served is not None and version in served.api_versions


@pytest.mark.parametrize(("path", "expected"), [
    ("/subscriptions/s/resourceGroups/rg", ("Microsoft.Resources", "resourceGroups")),
    ("/subscriptions/s/providers", ("Microsoft.Resources", "providers")),
    ("/subscriptions/s/providers/Microsoft.App", ("Microsoft.Resources", "providers")),
    ("/subscriptions/s/providers/Microsoft.App/register", ("Microsoft.Resources", "providers")),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/a/revisions",
     ("Microsoft.App", "containerApps")),
    ("/subscriptions/s/providers/Microsoft.App/locations/eastus/containerappOperationStatuses/x",
     ("Microsoft.App", "locations/containerappOperationStatuses")),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
     "/providers/Microsoft.Authorization/roleAssignments", ("Microsoft.Authorization",
                                                            "roleAssignments")),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/a"
     "/providers/Microsoft.Resources/tags/default", ("Microsoft.Resources", "tags")),
    ("/eventsubscriptions/x", None),
])
def test_the_version_a_path_needs_is_its_providers(path, expected) -> None:
    assert provider_type_of(path) == expected


async def test_every_built_in_role_with_its_real_guid_and_permissions(emu, raw) -> None:
    catalog = json.loads((ROOT / "handlers" / "data" / "builtin-roles.json").read_text())
    emu.page_size = 500
    status, page, _ = await raw("GET", f"{sub(emu)}{RD}",
                                params={"$filter": "type eq 'BuiltInRole'"})
    assert status == 200
    got = {r["name"]: r for r in page["value"]}
    assert len(catalog) == 471
    # all but the two assignable only at /providers/Microsoft.Capacity (Reservations ...)
    assert set(got) == {r["name"] for r in catalog if "/" in r["assignableScopes"]}
    assert len(got) == 469
    for role in catalog:
        status, mine, _ = await raw("GET", f"{sub(emu)}{RD}/{role['name']}")
        assert status == 200
        assert mine["id"] == f"{sub(emu)}{RD}/{role['name']}"
        assert mine["properties"]["roleName"] == role["roleName"]
        assert mine["properties"]["permissions"] == role["permissions"]
        assert mine["properties"]["type"] == "BuiltInRole"


async def test_a_role_found_by_name_as_the_readme_names_it(emu, raw) -> None:
    status, page, _ = await raw("GET", f"{sub(emu)}{RD}",
                                params={"$filter": "roleName eq 'Storage Queue Data Reader'"})
    assert status == 200
    (role,) = page["value"]
    assert role["name"] == "19e7f393-937e-4f77-808e-94535e297925"


async def test_unknown_role_definition_is_404_as_recorded(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}{RD}/7b266cd7-0bba-4ae2-8423-90ede5e1e898",
                                api_version="2015-07-01")
    assert status == 404
    assert body == {"error": {"code": "RoleDefinitionDoesNotExist", "message": (
        "The specified role definition with ID '7b266cd7-0bba-4ae2-8423-90ede5e1e898' does "
        "not exist.")}}  # SDKRD#0


async def test_endpoint_discovery_with_a_trailing_slash_in_the_endpoint(anon) -> None:
    # az cloud register --endpoint-resource-manager https://host/ asks //metadata/endpoints
    status, body, _ = await anon("GET", "//metadata/endpoints", api_version="2022-09-01")
    assert status == 200 and body["microsoftGraphResourceId"] == body["resourceManager"]


async def test_graph_answers_the_directory_objects_the_cli_asks_for(emu, raw) -> None:
    uami = emu.seed_identity(f"{sub(emu)}/resourceGroups/rg/providers"
                             "/Microsoft.ManagedIdentity/userAssignedIdentities/id1")
    alice = emu.person_oid("alice")
    principal = uami["properties"]["principalId"]
    status, body, _ = await raw("POST", f"{emu.endpoint}/v1.0/directoryObjects/getByIds", {
        "ids": [principal, alice, "00000000-0000-0000-0000-00000000dead"],
        "types": ["user", "group", "servicePrincipal"]}, api_version=None)
    assert status == 200
    got = {o["id"]: o for o in body["value"]}
    assert set(got) == {principal, alice}
    assert got[principal]["@odata.type"] == "#microsoft.graph.servicePrincipal"
    assert got[principal]["appId"] == uami["properties"]["clientId"]
    assert got[alice]["userPrincipalName"] == "alice@emulator.example"
    status, body, _ = await raw(
        "GET", f"{emu.endpoint}/v1.0/servicePrincipals", api_version=None,
        params={"$filter": f"servicePrincipalNames/any(c:c eq '{uami['properties']['clientId']}')"})
    assert status == 200 and [o["id"] for o in body["value"]] == [principal]
    status, body, _ = await raw("GET", f"{emu.endpoint}/v1.0/users/{principal}",
                                api_version=None)
    assert status == 404  # a service principal is not a user


async def test_graph_needs_a_token(anon) -> None:
    status, body, _ = await anon("GET", "/v1.0/me", api_version=None)
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")


async def test_subscription_locations_as_az_account_list_locations_reads_them(emu, raw) -> None:
    status, body, _ = await raw("GET", f"{sub(emu)}/locations", api_version="2022-12-01")
    assert status == 200
    east = next(r for r in body["value"] if r["name"] == "eastus")
    assert east == {**east, "id": f"{sub(emu)}/locations/eastus", "displayName": "East US",
                    "type": "Region"}


async def test_a_custom_role_update_answers_201_as_the_spec_says(emu, raw) -> None:
    guid = "5f3cf3d6-3b5e-4f16-9a0e-2b0d7f4c1a11"
    props = {"roleName": "Custom reader", "assignableScopes": [sub(emu)],
             "permissions": [{"actions": ["Microsoft.App/containerApps/read"]}]}
    assert (await raw("PUT", f"{sub(emu)}{RD}/{guid}", {"properties": props}))[0] == 201
    props["description"] = "changed"
    status, body, _ = await raw("PUT", f"{sub(emu)}{RD}/{guid}", {"properties": props})
    assert (status, body["properties"]["description"]) == (201, "changed")
