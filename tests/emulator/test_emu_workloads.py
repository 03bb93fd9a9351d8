"""Container Apps jobs, managed environments and revisions as real resources, through the
real aio SDK and raw HTTPS (shapes as the recordings show them)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from emulator import Emulator

API = "2024-03-01"


def rid(emu: Emulator, kind: str, name: str, rg: str = "rg") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/{rg}/providers/Microsoft.App"
            f"/{kind}/{name}")


@pytest.fixture
def env_id(emu: Emulator) -> str:
    return emu.seed_environment(rid(emu, "managedEnvironments", "env1"))["id"]


@pytest.fixture
def uami(emu: Emulator) -> dict[str, Any]:
    return emu.seed_identity(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg/providers"
                             "/Microsoft.ManagedIdentity/userAssignedIdentities/u1")


def job_body(env_id: str, **extra: Any) -> dict[str, Any]:
    return {"location": "East US", "properties": {
        "environmentId": env_id,
        "configuration": {"triggerType": "manual", "replicaTimeout": 200,
                          "secrets": [{"name": "testsecret", "value": "testsecretvalue"}]},
        "template": {"containers": [{"name": "job1", "image": "mcr.microsoft.com/k8se/quickstart"
                                                              "-jobs:latest"}]}}, **extra}


# -- jobs ---------------------------------------------------------------------------------
async def test_job_put_answers_like_the_recording(emu, raw, env_id) -> None:
    status, body, headers = await raw("PUT", rid(emu, "jobs", "job1"), job_body(
        env_id, identity={"type": "SystemAssigned"}), api_version=API)
    assert status == 201
    assert "/containerappsjobOperationStatuses/" in headers["Azure-AsyncOperation"]
    assert body["id"] == rid(emu, "jobs", "job1")  # job ids keep "jobs" (FACT 15)
    assert body["type"] == "Microsoft.App/jobs"
    assert body["identity"]["principalId"] and body["identity"]["tenantId"] == emu.tenant_id
    props = body["properties"]
    assert set(props) == {"provisioningState", "environmentId", "workloadProfileName",
                          "configuration", "template", "eventStreamEndpoint"}  # JOB#4
    assert props["provisioningState"] == "InProgress"
    assert props["configuration"]["triggerType"] == "Manual"
    assert props["configuration"]["secrets"] == [{"name": "testsecret"}]
    assert "/containerApps/job1/eventstream" in props["eventStreamEndpoint"]


async def test_job_list_secrets_answers_the_values(emu, raw, env_id) -> None:
    await raw("PUT", rid(emu, "jobs", "job1"), job_body(env_id), api_version=API)
    status, body, _ = await raw("POST", rid(emu, "jobs", "job1") + "/listSecrets",
                                api_version=API)
    assert status == 200
    assert body == {"value": [{"name": "testsecret", "value": "testsecretvalue"}]}  # JOB#13


async def test_job_identity_changes_like_an_apps(emu, raw, env_id, uami) -> None:
    job = rid(emu, "jobs", "job1")
    _, created, _ = await raw("PUT", job, job_body(env_id, identity={"type": "SystemAssigned"}),
                              api_version=API)
    _, got, _ = await raw("GET", job, api_version=API)
    got["properties"]["configuration"]["secrets"] = [
        {"name": "testsecret", "value": "testsecretvalue"}]  # inlined, as the CLI does
    lower = uami["id"].lower()  # an all-lowercase key is normalised (FACT 14)
    got["identity"] = {**got["identity"], "type": "SystemAssigned,UserAssigned",
                       "userAssignedIdentities": {lower: {}}}
    status, body, _ = await raw("PUT", job, got, api_version=API)
    assert status == 201
    ident = body["identity"]
    assert ident["type"] == "SystemAssigned, UserAssigned"
    assert ident["principalId"] == created["identity"]["principalId"]
    assert list(ident["userAssignedIdentities"]) == [uami["id"]]
    assert ident["userAssignedIdentities"][uami["id"]] == {
        "principalId": uami["properties"]["principalId"],
        "clientId": uami["properties"]["clientId"]}


async def test_jobs_through_the_sdk(emu, apps_client, env_id) -> None:
    poller = await apps_client.jobs.begin_create_or_update(
        "rg", "job1", job_body(env_id, tags={"grant:a": "Reader@."}), polling_interval=0)
    job = await poller.result()
    assert job.provisioning_state == "Succeeded" and job.tags == {"grant:a": "Reader@."}
    emu.seed_job(rid(emu, "jobs", "job2", rg="other"))
    by_rg = [j.name async for j in apps_client.jobs.list_by_resource_group("rg")]
    by_sub = [j.name async for j in apps_client.jobs.list_by_subscription()]
    assert by_rg == ["job1"] and sorted(by_sub) == ["job1", "job2"]
    poller = await apps_client.jobs.begin_update("rg", "job1", {"tags": {"x": "y"}},
                                                 polling_interval=0)
    assert (await poller.result()).tags == {"grant:a": "Reader@.", "x": "y"}
    poller = await apps_client.jobs.begin_delete("rg", "job1", polling_interval=0)
    await poller.result()
    with pytest.raises(ResourceNotFoundError):
        await apps_client.jobs.get("rg", "job1")


async def test_job_events_name_the_job(emu, raw, env_id) -> None:
    job = rid(emu, "jobs", "job1")
    await raw("PUT", job, job_body(env_id), api_version=API)
    await raw("PATCH", job + "/providers/Microsoft.Resources/tags/default", {
        "operation": "Merge", "properties": {"tags": {"grant:a": "Reader@."}}},
        api_version="2019-10-01")
    await raw("DELETE", job, api_version=API)
    emu.get(job)  # let the delete's operation end
    assert [e["data"]["operationName"] for e in emu.events] == [
        "Microsoft.App/jobs/write", "Microsoft.Resources/tags/write", "Microsoft.App/jobs/delete"]
    assert [e["data"]["resourceInfo"]["type"] for e in emu.arn_events] == [
        "Microsoft.App/jobs"] * 3


async def test_job_start_answers_an_execution(emu, raw, env_id) -> None:
    job = rid(emu, "jobs", "job1")
    emu.seed_job(job)
    status, body, headers = await raw("POST", job + "/start", api_version=API)
    assert status == 202 and "Location" in headers
    assert body["name"].startswith("job1-") and body["id"].endswith(f"/executions/{body['name']}")


# -- managed environments -------------------------------------------------------------------
async def test_environment_put_answers_waiting_and_the_recorded_shape(emu, raw) -> None:
    emu.seed_resource_group("rg")
    status, body, headers = await raw("PUT", rid(emu, "managedEnvironments", "env1"), {
        "location": "eastus", "properties": {"appLogsConfiguration": {
            "destination": "log-analytics", "logAnalyticsConfiguration": {
                "customerId": "c", "sharedKey": "abc123"}}, "zoneRedundant": False}},
        api_version=API)
    assert status == 201
    assert "/managedEnvironmentOperationStatuses/" in headers["Azure-AsyncOperation"]
    assert body["location"] == "East US"  # E2E#1: "eastus" comes back "East US"
    props = body["properties"]
    assert props["provisioningState"] == "Waiting"
    assert props["appLogsConfiguration"]["logAnalyticsConfiguration"]["sharedKey"] is None
    assert set(props) == {  # SYS#1 (2024-03-01)
        "provisioningState", "daprAIInstrumentationKey", "daprAIConnectionString",
        "vnetConfiguration", "defaultDomain", "staticIp", "appLogsConfiguration",
        "zoneRedundant", "kedaConfiguration", "daprConfiguration", "eventStreamEndpoint",
        "customDomainConfiguration", "workloadProfiles", "infrastructureResourceGroup",
        "peerAuthentication", "peerTrafficConfiguration"}


async def test_environments_through_the_sdk(emu, apps_client) -> None:
    emu.seed_resource_group("rg")
    poller = await apps_client.managed_environments.begin_create_or_update(
        "rg", "env1", {"location": "eastus"}, polling_interval=0)
    env = await poller.result()
    assert env.provisioning_state == "Succeeded"
    names = [e.name async for e in apps_client.managed_environments.list_by_subscription()]
    assert names == ["env1"]


async def test_an_app_in_an_environment_that_does_not_exist_is_404(emu, raw) -> None:
    emu.seed_resource_group("rg")
    status, body, _ = await raw("PUT", rid(emu, "containerApps", "a1"), {
        "location": "eastus", "properties": {
            "environmentId": rid(emu, "managedEnvironments", "ghost")}}, api_version=API)
    assert (status, body["error"]["code"]) == (404, "ManagedEnvironmentNotFound")


@pytest.mark.parametrize("location", ["Atlantis", "moon-1"])
async def test_a_region_azure_does_not_have_is_refused(emu, raw, location) -> None:
    emu.seed_resource_group("rg")
    status, body, _ = await raw("PUT", rid(emu, "containerApps", "a1"), {"location": location},
                                api_version=API)
    assert (status, body["error"]["code"]) == (400, "LocationNotAvailableForResourceType")


# -- revisions ------------------------------------------------------------------------------
async def _revisions(raw: Any, app: str) -> list[dict[str, Any]]:
    status, page, _ = await raw("GET", app + "/revisions", api_version=API)
    assert status == 200
    return list(page["value"])


async def test_only_template_changes_make_revisions(emu, raw, env_id, uami) -> None:
    emu.page_size = 50
    app = rid(emu, "containerApps", "a1")
    body = {"location": "eastus", "properties": {"environmentId": env_id, "template": {
        "containers": [{"name": "a1", "image": "img:1"}]}}}
    await raw("PUT", app, body, api_version=API)
    (first,) = await _revisions(raw, app)
    assert first["name"].startswith("a1--") and len(first["name"]) == len("a1--") + 7
    assert first["type"] == "Microsoft.App/containerApps/revisions"
    assert first["properties"]["active"] and first["properties"]["trafficWeight"] == 100
    _, got, _ = await raw("GET", app, api_version=API)
    assert got["properties"]["latestRevisionName"] == first["name"]
    await raw("PATCH", app, {"tags": {"grant:x": "Reader@."}}, api_version=API)
    await raw("PATCH", app, {"identity": {"type": "SystemAssigned,UserAssigned",
                                          "userAssignedIdentities": {uami["id"]: {}}}},
              api_version=API)
    await raw("PATCH", app + "/providers/Microsoft.Resources/tags/default",
              {"operation": "Merge", "properties": {"tags": {"b": "c"}}},
              api_version="2019-10-01")
    assert len(await _revisions(raw, app)) == 1  # identity, tags: no new revision
    await raw("PATCH", app, {"properties": {"template": {
        "containers": [{"name": "a1", "image": "img:2"}]}}}, api_version=API)
    first_again, second = await _revisions(raw, app)
    assert not first_again["properties"]["active"] and second["properties"]["active"]
    assert second["properties"]["template"]["containers"][0]["image"] == "img:2"
    status, one, _ = await raw("GET", f"{app}/revisions/{second['name']}", api_version=API)
    assert status == 200 and one == second


async def test_revision_suffix_names_the_revision(emu, apps_client, env_id) -> None:
    poller = await apps_client.container_apps.begin_create_or_update("rg", "a1", {
        "location": "eastus", "properties": {"environmentId": env_id, "template": {
            "revisionSuffix": "v1", "containers": [{"name": "a1", "image": "img:1"}]}}},
        polling_interval=0)
    await poller.result()
    names = [r.name async for r in apps_client.container_apps_revisions.list_revisions(
        "rg", "a1")]
    assert names == ["a1--v1"]
    await apps_client.container_apps_revisions.deactivate_revision("rg", "a1", "a1--v1")
    revision = await apps_client.container_apps_revisions.get_revision("rg", "a1", "a1--v1")
    assert revision.active is False


async def test_revisions_of_an_unknown_app_or_revision_are_404(emu, raw) -> None:
    app = rid(emu, "containerApps", "a1")
    assert (await raw("GET", app + "/revisions", api_version=API))[0] == 404
    emu.seed_container_app(app)
    status, body, _ = await raw("GET", app + "/revisions/a1--nope", api_version=API)
    assert (status, body["error"]["code"]) == (404, "ContainerAppRevisionNotFound")


async def test_a_seeded_app_has_its_first_revision(emu, raw) -> None:
    app = rid(emu, "containerApps", "a1")
    seeded = emu.seed_container_app(app)
    (revision,) = await _revisions(raw, app)
    assert revision["name"] == seeded["properties"]["latestRevisionName"]


async def test_workload_profiles_come_back_spelled_as_aca_spells_them(emu, raw) -> None:
    emu.seed_resource_group("rg")
    _, body, _ = await raw("PUT", rid(emu, "managedEnvironments", "env1"), {
        "location": "eastus", "properties": {"workloadProfiles": [
            {"Name": "Consumption", "workloadProfileType": "Consumption"}]}}, api_version=API)
    assert body["properties"]["workloadProfiles"] == [
        {"name": "Consumption", "workloadProfileType": "Consumption"}]


async def test_job_executions_are_listed_and_can_be_stopped(emu, raw, env_id) -> None:
    job = rid(emu, "jobs", "job1")
    emu.seed_job(job)
    emu.time_scale = 1  # the start's operation (and the execution) runs for 5 s
    _, first, _ = await raw("POST", job + "/start", api_version=API)
    _, second, _ = await raw("POST", job + "/start", api_version=API)
    status, page, _ = await raw("GET", job + "/executions", api_version=API)
    assert status == 200
    assert [(e["name"], e["properties"]["status"]) for e in page["value"]] == [
        (second["name"], "Running"), (first["name"], "Running")]
    assert (await raw("POST", f"{job}/stop/{first['name']}", api_version=API))[0] == 200
    status, stopped, _ = await raw("POST", job + "/stop", api_version=API)
    assert status == 202 and stopped == {"value": [{"name": second["name"],
                                                    "id": second["id"]}]}
    status, one, _ = await raw("GET", f"{job}/executions/{first['name']}", api_version=API)
    assert status == 200 and one["properties"]["status"] == "Stopped"
    emu.time_scale = 0
    assert (await raw("GET", f"{job}/executions/nope", api_version=API))[0] == 404
