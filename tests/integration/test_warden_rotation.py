"""Over the wire: grants follow the app's principal (issue 12.5) and a standard identity that
cannot be created never blocks the grants (issue 12.6), for container apps and jobs alike."""

from __future__ import annotations

from handlers.model import description_for

from .conftest import READER, both_workloads

pytestmark = both_workloads


def ours(world, app_id: str) -> list[dict]:
    return [a for a in world.assignments()
            if a["properties"]["description"] == description_for(app_id)]


async def switch_identity(world, name: str, kind: str) -> list[dict]:
    """A person switches the app's (or job's) identity (a PATCH); the events it produced."""
    return await world.set_identity(name, {"type": kind})


async def test_identity_switched_off_by_a_person_old_grant_revoked_on_the_event(
        world, warden) -> None:
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    old = world.principal("app1")
    assert [a["properties"]["principalId"] for a in ours(world, app_id)] == [old.lower()]
    events = await switch_identity(world, "app1", "None")
    planned = await warden.plan_app(app_id)
    assert planned.result == "applied"
    assert any(c.startswith("planned: revoke Reader") for c in planned.changes), planned
    [out] = await warden.handle_payload(events)
    new = world.principal("app1")
    assert out.result == "applied" and new and new != old
    assert [a["properties"]["principalId"] for a in ours(world, app_id)] == [new.lower()]
    assert any(c.startswith("revoke Reader") for c in out.changes)


async def test_identity_switched_off_and_on_again_revokes_the_old_principals_grant(
        world, warden) -> None:
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    old = world.principal("app1")
    await switch_identity(world, "app1", "None")
    events = await switch_identity(world, "app1", "SystemAssigned")
    new = world.principal("app1")
    assert new and new != old
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    assert [a["properties"]["principalId"] for a in ours(world, app_id)] == [new.lower()]


async def test_a_standard_identity_that_cannot_be_created_is_refused_grants_still_apply(
        world, make_warden) -> None:
    nowhere = (f"/subscriptions/{world.sub}/resourceGroups/missing/providers/"
               "Microsoft.ManagedIdentity/userAssignedIdentities/std")
    warden = make_warden(standard_identities=(nowhere,), create_missing=True)
    [out] = await warden.handle_payload(await world.create_app(
        "app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "applied", out
    assert [r["identity"] for r in out.refused] == [nowhere]
    assert len(ours(world, world.app_id("app1"))) == 1
    assert world.emu.get(nowhere) is None
