"""Bad input never crashes or hangs the emulator; many concurrent clients are safe."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest

from emulator import Emulator, EmulatorThread

API = "2026-01-01"


def app_id(emu: Emulator, name: str = "app1") -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
            f"/providers/Microsoft.App/containerApps/{name}")


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2", b"\xff\xfe", b"", b"[]", b"42"])
async def test_malformed_or_non_object_json_is_400(emu, raw, data) -> None:
    emu.seed_resource_group("rg")
    status, body, _ = await raw("PUT", app_id(emu), data=data, api_version=API,
                                headers={"Content-Type": "application/json"})
    assert status == 400
    assert body["error"]["code"] == "InvalidRequestContent"


@pytest.mark.parametrize("path", ["/", "/nothing/here", "/subscriptions/x/unknown/y",
                                  "/subscriptions/{sub}/resourceGroups/rg/providers/A"])
async def test_unknown_routes_answer_an_arm_error(emu, raw, path) -> None:
    emu.seed_resource_group("rg")
    status, body, _ = await raw("GET", path.format(sub=emu.subscription_id))
    assert status in (400, 404)
    assert set(body["error"]) == {"code", "message"}


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_4_mb_is_413(emu, raw, chunked) -> None:
    emu.seed_resource_group("rg")
    big = b'{"location": "eastus", "tags": {"a": "' + b"x" * (4 * 1024 * 1024) + b'"}}'

    async def chunks():
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    data = chunks() if chunked else io.BytesIO(big)
    status, body, _ = await raw("PUT", app_id(emu), data=data, api_version=API)
    assert status == 413 and body["error"]["code"] == "RequestEntityTooLarge"
    status, _, _ = await raw("GET", "/subscriptions", api_version="2022-12-01")
    assert status == 200


async def test_an_emulator_bug_answers_500_not_a_crash(emu, raw, monkeypatch) -> None:
    import emulator.core

    def boom(ctx):
        raise RuntimeError("bug")

    monkeypatch.setattr(emulator.core, "dispatch", boom)
    status, body, _ = await raw("GET", "/subscriptions", api_version="2022-12-01")
    assert status == 500 and body["error"]["code"] == "InternalServerError"


async def test_wrong_json_types_are_400_not_500(emu, raw) -> None:
    emu.seed_resource_group("rg")
    for bad in ({"location": 5}, {"location": "eastus", "properties": []},
                {"location": "eastus", "tags": "x"},
                {"location": "eastus", "identity": "SystemAssigned"},
                {"location": "eastus", "identity": {"type": "UserAssigned",
                                                    "userAssignedIdentities": []}}):
        status, _, _ = await raw("PUT", app_id(emu), bad, api_version=API)
        assert status == 400, bad
    rg = emu.seed_resource_group("rg")
    for path in (rg, f"{rg}/providers/Microsoft.Storage/storageAccounts/s",
                 f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"):
        for bad in ({"location": "eastus", "tags": "x"}, {"location": "e", "tags": {"a": 1}}):
            status, _, _ = await raw("PUT", path, bad, api_version=API)
            assert status == 400, (path, bad)
    ra = f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization/roleAssignments"
    for bad in ({"properties": "x"}, {"properties": {"principalId": 1}}, {}):
        status, _, _ = await raw("PUT", f"{ra}/{uuid.uuid4()}", bad)
        assert status == 400, bad


async def test_hundred_concurrent_clients(emu, raw) -> None:
    emu.seed_resource_group("rg")
    principal = emu.seed_principal()
    ra = f"/subscriptions/{emu.subscription_id}/providers/Microsoft.Authorization/roleAssignments"
    body = {"properties": {"principalId": principal, "roleDefinitionId":
                           "/providers/Microsoft.Authorization/roleDefinitions/"
                           "acdd72a7-3385-48ef-bd42-f606fba81ae7"}}

    async def client(i: int) -> int:
        if i % 2:
            return (await raw("PUT", app_id(emu, f"app{i}"), {"location": "eastus"},
                              api_version=API))[0]
        return (await raw("PUT", f"{ra}/{uuid.uuid4()}", body))[0]

    statuses = await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(100))), 30)
    assert sorted(set(statuses)) == [201, 409]
    assert statuses.count(201) == 51  # 50 apps and exactly one of 50 racing assignments
    assert len(emu.role_assignments()) == 1
    await asyncio.sleep(0)
    assert len(emu.events) == 51


def test_emulator_thread_serves_sync_users() -> None:
    import json
    import ssl
    import urllib.request

    with EmulatorThread(time_scale=0, page_size=1) as emu:
        emu.seed_resource_group("rg")
        emu.seed_container_app(app_id(emu))
        req = urllib.request.Request(f"{emu.endpoint}{app_id(emu)}?api-version={API}",
                                     headers={"Authorization": f"Bearer {emu.person_token()}"})
        ctx = ssl.create_default_context(cafile=emu.ca_path)
        with urllib.request.urlopen(req, context=ctx) as resp:
            assert json.loads(resp.read())["name"] == "app1"
        assert emu.count() == 1
        emu.drain_deliveries()
        endpoint = emu.endpoint
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{endpoint}/subscriptions", context=ctx, timeout=2)
