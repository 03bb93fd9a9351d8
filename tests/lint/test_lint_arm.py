"""``lint --arm``: roles that are not built-in are looked up in ARM (the emulator, over
HTTPS, with the service's own credential and ARM module) and checked like any other."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from integration.conftest import World, running_emulator

from emulator import Emulator
from handlers.cli import main


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    emu: Emulator
    async with running_emulator(monkeypatch, time_scale=0) as emu, World(emu) as w:
        yield w


async def custom_role(world: World, name: str, actions: list[str]) -> str:
    from azure.mgmt.authorization.v2022_04_01.models import Permission, RoleDefinition

    guid = str(uuid.uuid4())
    await world.authz.role_definitions.create_or_update(
        f"/subscriptions/{world.sub}", guid, RoleDefinition(
            role_name=name, role_type="CustomRole",
            assignable_scopes=[f"/subscriptions/{world.sub}"],
            permissions=[Permission(actions=actions, not_actions=[])]))
    return guid


def template(tmp_path: Path, tags: dict[str, str]) -> str:
    path = tmp_path / "app.json"
    path.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentTemplate.json#", "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.App/containerApps", "apiVersion": "2024-03-01",
                       "name": "app", "tags": tags}]}, indent=2))
    return str(path)


async def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    rc = await asyncio.to_thread(main, ["lint", *args])  # the emulator serves meanwhile
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


async def test_custom_roles_are_looked_up_in_arm_and_checked(
        world: World, capsys, tmp_path: Path) -> None:
    reader = await custom_role(world, "Orders Reader", ["Microsoft.Storage/*/read"])
    admin = await custom_role(world, "Orders Admin", ["Microsoft.Authorization/*"])
    path = template(tmp_path, {
        "grant:a": "Orders Reader@.",  # by name
        "grant:b": f"{reader}@.",  # by GUID
        "grant:c": "orders admin@.",  # by name, any case: under the floor
        "grant:d": f"/subscriptions/{world.sub}/providers/Microsoft.Authorization/"
                   f"roleDefinitions/{admin}@.",
        "grant:e": "No Such Role@.",
    })
    rc, lines, err = await lint(capsys, path)  # offline: every custom role is unknown
    assert rc == 1 and len(lines) == 5, lines
    assert all("looked up in ARM only with --arm" in line for line in lines)

    rc, lines, err = await lint(capsys, path, "--arm")
    assert rc == 1, err
    assert [line.split(": ")[1] for line in lines] == ["grant:c", "grant:d", "grant:e"]
    assert "role Orders Admin" in lines[0] and "privilege floor" in lines[0]
    assert "privilege floor" in lines[1]
    assert "unknown role 'No Such Role'" in lines[2] and "built-in or in ARM" in lines[2]


async def test_arm_lookup_with_the_subscription_given(world: World, capsys, tmp_path) -> None:
    await custom_role(world, "Orders Reader", ["Microsoft.Storage/*/read"])
    path = template(tmp_path, {"grant:a": "Orders Reader@."})
    rc, lines, err = await lint(capsys, path, "--arm", "--subscription", world.sub)
    assert (rc, lines) == (0, []), err


async def test_arm_that_cannot_be_reached_leaves_the_role_not_checked(
        world: World, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_ARM_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    path = template(tmp_path, {"grant:a": "Orders Reader@.", "grant:b": "Reader@."})
    rc, lines, _err = await lint(capsys, path, "--arm", "--subscription", world.sub)
    assert rc == 1
    [line] = lines
    assert ": grant:a: not checked: role 'Orders Reader' could not be looked up in ARM" in line


async def test_arm_without_any_credential_is_a_usage_error(
        world: World, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-emulator's")  # every token request fails
    path = template(tmp_path, {"grant:a": "Orders Reader@.", "grant:b": "Owner@."})
    rc, lines, err = await lint(capsys, path, "--arm", "--subscription", world.sub)
    assert rc == 2
    assert "error: --arm: no credential for ARM" in err
    assert [line.split(": ")[1] for line in lines] == ["grant:a", "grant:b"]  # still checked
    assert lines[0].endswith("grant:a: not checked: role 'Orders Reader' could not be looked "
                             "up in ARM: no credential for ARM")
