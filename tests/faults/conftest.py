"""Fault-injection fixtures: the in-process emulator, a person's World, fresh Wardens.

Every scenario ends with :func:`assert_converged`: the app carries its
identities, every grant its tags ask for exists exactly once, nothing else of
ours exists, and every hand-made (foreign) assignment is still there, unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from integration.conftest import WORKLOADS, World, running_emulator, warden_factory

from emulator import Emulator
from handlers.warden import Outcome, Warden

STD = "std"
TAGS = {"grant:rg": "Reader@.",
        "grant:st": "Storage Blob Data Reader@Microsoft.Storage/storageAccounts/st1"}


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with running_emulator(monkeypatch, time_scale=0, page_size=2, principal_delay_s=0.3,
                                retry_after_s=0) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """A person's World of container apps, or of jobs (``indirect`` parameter "job")."""
    async with World(emu, WORKLOADS[getattr(request, "param", "app")]) as w:
        w.std = emu.seed_identity(f"{w.rg}/providers/Microsoft.ManagedIdentity/"
                                  f"userAssignedIdentities/{STD}")["id"]
        yield w


@pytest.fixture
async def make_warden(emu: Emulator, world: World) -> AsyncIterator[Callable[..., Warden]]:
    """A fresh Warden (a fresh process: empty caches) with the standard identity policy."""
    async with warden_factory(emu, retry_backoff_s=0.01,
                              standard_identities=(world.std,)) as make:
        yield make


async def deliver_until_done(make: Callable[..., Warden], events: list[dict[str, Any]],
                             *, attempts: int = 12) -> list[list[Outcome]]:
    """Deliver ``events`` like Event Grid: again (to a fresh Warden) while any says retry."""
    history: list[list[Outcome]] = []
    for _ in range(attempts):
        warden = make()
        outs = await warden.handle_payload(events)
        await warden.close()
        history.append(outs)
        if all(o.result != "retry" for o in outs):
            return history
    raise AssertionError(f"not converged after {attempts} deliveries: {history[-1]}")


def ours(world: World, app: str) -> list[dict[str, Any]]:
    from handlers.model import description_for

    app_id = world.app_id(app)
    return [a for a in world.emu.role_assignments()
            if a["properties"].get("description") == description_for(app_id)]


def assert_converged(world: World, app: str, tags: dict[str, str],
                     foreign: list[dict[str, Any]] = ()) -> None:
    """The final state every fault scenario must reach."""
    app_json = world.emu.get(world.app_id(app))
    assert app_json is not None
    ident = app_json["identity"]
    assert "SystemAssigned" in ident["type"]
    assert world.std.lower() in {k.lower() for k in ident.get("userAssignedIdentities") or {}}
    principal = ident["principalId"]
    want = set()
    for value in tags.values():
        role, _, scope = value.partition("@")
        scope = world.rg if scope == "." else f"{world.rg}/providers/{scope}"
        want.add((world.role_guid(role), scope.lower()))
    foreign_ids = {f["id"].lower() for f in foreign}
    mine = [a for a in ours(world, app) if a["id"].lower() not in foreign_ids]
    got = [(a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1],
            a["properties"]["scope"].lower()) for a in mine]
    assert sorted(got) == sorted(want), (got, want)  # no grant lost, none left over
    assert all(a["properties"]["principalId"] == principal for a in mine)
    everything = world.emu.role_assignments()
    keys = [(a["properties"]["principalId"],
             a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
             a["properties"]["scope"].lower()) for a in everything]
    assert len(keys) == len(set(keys)), "duplicate role assignment"
    by_id = {a["id"].lower(): a for a in everything}
    for f in foreign:
        assert by_id.get(f["id"].lower()) == f, f"foreign assignment touched: {f['id']}"
