"""Knobs: injected faults, the write token bucket, latency, the request log."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError

from emulator import Emulator

API = "2026-01-01"


def app_id(emu: Emulator, name: str = "app1") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
            f"/providers/Microsoft.App/containerApps/{name}")


async def test_fault_answers_the_next_n_matching_requests(emu, raw) -> None:
    emu.seed_container_app(app_id(emu))
    emu.inject_fault("GET", r"/containerApps/app1$", 503, "ServiceUnavailable", count=2)
    for _ in range(2):
        status, body, _ = await raw("GET", app_id(emu), api_version=API)
        assert (status, body["error"]["code"]) == (503, "ServiceUnavailable")
    status, _, _ = await raw("GET", app_id(emu), api_version=API)
    assert status == 200


async def test_clear_faults_disarms_them(emu, raw) -> None:
    emu.inject_fault("GET", "subscriptions", 500, "InternalServerError", count=5)
    emu.clear_faults()
    assert (await raw("GET", "/subscriptions", api_version="2022-12-01"))[0] == 200


async def test_fault_matches_method(emu, raw) -> None:
    emu.seed_container_app(app_id(emu))
    emu.inject_fault("PATCH", "containerApps", 409, "Conflict")
    status, _, _ = await raw("GET", app_id(emu), api_version=API)
    assert status == 200
    status, _, _ = await raw("PATCH", app_id(emu), {"tags": {}}, api_version=API)
    assert status == 409


async def test_fault_without_apply_first_changes_nothing(emu, raw) -> None:
    p = emu.seed_principal()
    ra = (f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization"
          f"/roleAssignments/{uuid.uuid4()}")
    emu.inject_fault("PUT", "roleAssignments", 500, "InternalServerError")
    body = {"properties": {"principalId": p, "roleDefinitionId":
                           "/providers/Microsoft.Authorization/roleDefinitions/"
                           "acdd72a7-3385-48ef-bd42-f606fba81ae7"}}
    status, _, _ = await raw("PUT", ra, body)
    assert status == 500
    assert emu.role_assignments() == [] and emu.events == []


async def test_apply_first_performs_the_write_and_loses_the_answer(emu, raw) -> None:
    p = emu.seed_principal()
    ra = (f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization"
          f"/roleAssignments/{uuid.uuid4()}")
    emu.inject_fault("PUT", "roleAssignments", 500, "InternalServerError", apply_first=True)
    body = {"properties": {"principalId": p, "roleDefinitionId":
                           "/providers/Microsoft.Authorization/roleDefinitions/"
                           "acdd72a7-3385-48ef-bd42-f606fba81ae7"}}
    status, _, _ = await raw("PUT", ra, body)
    assert status == 500
    assert len(emu.role_assignments()) == 1 and len(emu.events) == 1
    status, _, _ = await raw("PUT", ra, body)
    assert status == 200  # the retry finds it done


async def test_reset_drops_the_connection(emu, raw) -> None:
    emu.seed_container_app(app_id(emu))
    emu.inject_fault("PATCH", "app1", 0, "", reset=True)
    # PATCH: aiohttp would silently retry an idempotent method once
    with pytest.raises(aiohttp.ClientError):
        await raw("PATCH", app_id(emu), {"tags": {"a": "b"}}, api_version=API)
    assert emu.request_log[-1].status == 0
    assert emu.get(app_id(emu)).get("tags") is None  # still none
    status, _, _ = await raw("PATCH", app_id(emu), {"tags": {"a": "b"}}, api_version=API)
    assert status == 202


async def test_sdk_retries_an_injected_503(emu, apps_client) -> None:
    emu.seed_container_app(app_id(emu))
    emu.inject_fault("GET", "app1", 503, "ServiceUnavailable")
    app = await apps_client.container_apps.get("rg", "app1")
    assert app.name == "app1"
    assert emu.count(method="GET", path_contains="app1") == 2


async def test_write_bucket_throttles_with_retry_after(emu, raw) -> None:
    emu.seed_resource_group("rg")
    emu.set_write_bucket(3, 0.01)
    statuses, remaining = [], []
    for i in range(4):
        status, body, headers = await raw(
            "PUT", f"{emu.seed_resource_group('rg')}/providers/Microsoft.Storage"
            f"/storageAccounts/st{i}", {"location": "eastus"}, api_version="2023-05-01")
        statuses.append(status)
        remaining.append(headers["x-ms-ratelimit-remaining-subscription-writes"])
    assert statuses == [201, 201, 201, 429]
    assert remaining == ["2", "1", "0", "0"]
    assert int(headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "SubscriptionRequestsThrottled"
    status, _, headers = await raw("GET", app_id(emu), api_version=API)
    assert "x-ms-ratelimit-remaining-subscription-writes" not in headers  # reads are free
    emu.set_write_bucket(None)
    status, _, headers = await raw("PUT", emu.seed_resource_group("rg2") + "/providers/"
                                   "Microsoft.Storage/storageAccounts/x", {"location": "e"},
                                   api_version="2023-05-01")
    assert status == 201 and "x-ms-ratelimit-remaining-subscription-writes" in headers


async def test_write_bucket_refills(emu, raw) -> None:
    emu.seed_resource_group("rg")
    emu.set_write_bucket(1, 2)  # a token every 0.5 s
    path = f"{emu.seed_resource_group('rg')}/providers/Microsoft.Storage/storageAccounts/s"
    assert (await raw("PUT", path, {"location": "e"}, api_version="2023-05-01"))[0] == 201
    assert (await raw("PUT", path, {"location": "e"}, api_version="2023-05-01"))[0] == 429
    await asyncio.sleep(0.6)
    assert (await raw("PUT", path, {"location": "e"}, api_version="2023-05-01"))[0] == 200


async def test_latency_is_added_to_arm_requests(emu, raw) -> None:
    emu.latency_ms = 150
    start = time.perf_counter()
    await raw("GET", "/subscriptions", api_version="2022-12-01")
    assert time.perf_counter() - start >= 0.15


async def test_request_log_counts_by_kind_method_path_and_principal(emu, raw, apps_client) -> None:
    emu.seed_resource_group("rg")
    poller = await apps_client.container_apps.begin_create_or_update(
        "rg", "app1", {"location": "eastus"}, polling_interval=0)
    await poller.result()
    await raw("GET", app_id(emu), api_version=API)
    alice = emu.person_oid("alice")
    assert emu.count(kind="write") == 1
    assert emu.count(kind="poll") >= 1
    polls = emu.count(kind="poll")
    assert emu.count(kind="read") == 1 + polls + 1  # final GET of the poller + raw GET + polls
    assert emu.count() == emu.count(kind="read") + emu.count(kind="write")
    assert emu.count(method="PUT", path_contains="CONTAINERAPPS/app1") == 1
    assert emu.count(principal=alice) == emu.count()
    assert emu.count(kind="token") == 0
    record = emu.request_log[0]
    assert (record.method, record.kind, record.status) == ("PUT", "write", 201)
    assert record.query.startswith("api-version=")
    emu.clear_log()
    assert emu.count() == 0


async def test_unauthenticated_requests_are_logged_without_principal(emu, anon) -> None:
    await anon("GET", "/subscriptions")
    assert emu.request_log[-1].status == 401 and emu.request_log[-1].principal_oid is None


async def test_sdk_gives_up_on_persistent_throttling(emu, apps_client) -> None:
    emu.seed_resource_group("rg")
    emu.set_write_bucket(0, 0.001)
    with pytest.raises(HttpResponseError) as err:
        await apps_client.container_apps.begin_create_or_update(
            "rg", "app1", {"location": "eastus"}, retry_total=0)
    assert err.value.status_code == 429
