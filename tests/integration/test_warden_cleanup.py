"""Cleanup: delete, late writes, re-created workloads, and the reconcile sweep, for container
apps and jobs alike."""

from __future__ import annotations

from handlers.model import description_for

from .conftest import BLOB_READER, READER, both_workloads

pytestmark = both_workloads

TWO = {"grant:rg": f"{READER}@.",
       "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1"}


def ours(world, app_id: str) -> list[dict]:
    return [a for a in world.assignments()
            if a["properties"]["description"] == description_for(app_id)]


async def test_late_write_event_after_delete_cleans_up(world, warden):
    created = await world.create_app("app1", TWO)
    await warden.handle_payload(created)
    await world.delete_app("app1")
    [out] = await warden.handle_payload(created)  # the write event arrives late
    assert out.result == "deleted" and len(out.changes) == 2
    assert ours(world, world.app_id("app1")) == []


async def test_delete_then_recreate_keeps_new_grants_revokes_old(world, warden):
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", TWO))
    old_principal = world.principal("app1")
    deleted = await world.delete_app("app1")
    # the re-created app's own event already revokes the old principal's grants
    [out] = await warden.handle_payload(
        await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    new_principal = world.principal("app1")
    assert new_principal != old_principal
    assert out.result == "applied"
    assert sorted(c.split(" on ")[0] for c in out.changes if c.startswith(("grant", "revoke"))
                  ) == sorted([f"grant {READER}", f"revoke {BLOB_READER}", f"revoke {READER}"])
    [out] = await warden.handle_payload(deleted)  # the delete event arrives after re-creation
    assert out.result == "unchanged", out
    left = ours(world, app_id)
    assert [a["properties"]["principalId"] for a in left] == [new_principal.lower()]


async def test_delete_of_app_outside_managed_groups_is_ignored(world, make_warden):
    warden = make_warden(resource_groups=("prod-*",))
    [out] = await warden.handle_payload(world.event(
        world.app_id("x"), op=world.op("delete"),
        event_type="Microsoft.Resources.ResourceDeleteSuccess"))
    assert out.result == "ignored"


async def test_cleanup_reads_every_page(world, warden):
    tags = {f"grant:{i}": f"{READER}@Microsoft.Storage/storageAccounts/s{i}" for i in range(5)}
    for i in range(5):
        world.emu.seed_resource(f"{world.rg}/providers/Microsoft.Storage/storageAccounts/s{i}")
    await warden.handle_payload(await world.create_app("app1", tags))
    assert len(ours(world, world.app_id("app1"))) == 5
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 5  # page size is 2
    assert ours(world, world.app_id("app1")) == []


async def test_reconcile_sweep_converges_and_collects_garbage(world, warden):
    keep, gone = world.app_id("keep"), world.app_id("gone")
    await warden.handle_payload(await world.create_app("gone", TWO))
    await world.delete_app("gone")  # its delete event is lost
    world.seed(keep, tags={"grant:rg": f"{READER}@."})
    world.seed(world.app_id("other"), tags={})
    hand_principal = world.emu.seed_principal()
    hand = await world.hand_assign(world.rg, READER, hand_principal)
    outs = await warden.reconcile_all([world.sub])
    by_app = {o.app: o for o in outs}
    assert by_app[keep].result == "applied"
    assert by_app[gone].result == "deleted" and len(by_app[gone].changes) == 2
    assert ours(world, gone) == [] and len(ours(world, keep)) == 1
    assert hand in {a["name"] for a in world.assignments()}
    again = await warden.reconcile_all([world.sub])
    assert {o.result for o in again} == {"unchanged"}


async def test_reconcile_lists_subscriptions_when_none_given(world, warden, monkeypatch):
    world.seed(world.app_id("a"), tags={"grant:rg": f"{READER}@."})
    world.emu.clear_log()
    outs = await warden.reconcile_all()
    assert any(r.path.rstrip("/") == "/subscriptions" for r in world.emu.request_log)
    assert [o.result for o in outs] == ["applied"]
    monkeypatch.setenv("WARDEN_SUBSCRIPTIONS", world.sub)
    world.emu.clear_log()
    outs = await warden.reconcile_all()
    assert [o.result for o in outs] == ["unchanged"]
    assert not any(r.path.rstrip("/") == "/subscriptions" for r in world.emu.request_log)


async def test_reconcile_revokes_grants_of_an_earlier_incarnation(world, warden):
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", TWO))
    old = world.principal("app1")
    await world.delete_app("app1")  # the delete event is lost
    await world.create_app("app1", {"grant:rg": f"{READER}@.", "team": "x"},
                           identity={"type": "SystemAssigned"})  # and so is this one
    new = world.principal("app1")
    [out] = await warden.reconcile_all([world.sub])
    assert out.result == "applied"
    assert sorted(c.split(" on ")[0] for c in out.changes if c.startswith(("grant", "revoke"))
                  ) == sorted([f"grant {READER}", f"revoke {BLOB_READER}", f"revoke {READER}"])
    assert {a["properties"]["principalId"] for a in ours(world, app_id)} == {new.lower()}
    assert old != new


async def test_cleanup_finds_grants_made_under_another_spelling_of_the_id(world, warden):
    await world.create_app("app1", {"grant:rg": f"{READER}@."})
    shouting = world.app_id("app1").replace("rg1", "RG1")
    [out] = await warden.handle_payload(world.event(shouting))
    assert out.result == "applied"
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 1
    assert world.assignments() == []


async def test_delete_event_for_recreated_app_not_yet_reconciled(world, warden):
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", TWO))
    old = world.principal("app1")
    deleted = await world.delete_app("app1")
    await world.create_app("app1", {"grant:rg": f"{READER}@."})  # its event not yet seen
    [out] = await warden.handle_payload(deleted)
    assert out.result == "applied", out
    new = world.principal("app1")
    assert new and new != old
    assert [a["properties"]["principalId"] for a in ours(world, app_id)] == [new.lower()]
