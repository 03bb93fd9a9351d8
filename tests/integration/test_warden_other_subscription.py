"""Grants in a subscription other than the workload's own (one that allowed_scopes names).

A subscription-scope list of role assignments returns only that subscription's,
so cleanup, revokes and the sweep must search every subscription the policy
names literally, besides the workload's own. For container apps and jobs alike.
"""

from __future__ import annotations

from handlers.ids import ArmId
from handlers.model import description_for

from .conftest import READER, both_workloads

pytestmark = both_workloads

OTHER = "0e7e0e7e-1111-4222-8333-944444444444"
SHARED = f"/subscriptions/{OTHER}/resourceGroups/shared"
SCOPES = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}", SHARED)
BOTH = {"grant:rg": f"{READER}@.", "grant:shared": f"{READER}@{SHARED}"}


def ours(world, app_id: str) -> list[dict]:
    return [a for a in world.assignments()
            if a["properties"]["description"] == description_for(app_id)]


def subs_of(assignments: list[dict]) -> list[str]:
    return sorted(ArmId.parse(a["properties"]["scope"]).subscription or "" for a in assignments)


def setup(world, make_warden):
    world.emu.seed_resource_group("shared", subscription=OTHER)
    return make_warden(allowed_scopes=SCOPES)


async def test_grant_in_other_subscription_is_made_then_revoked_on_tag_removal(
        world, make_warden):
    warden = setup(world, make_warden)
    app_id = world.app_id("app1")
    [out] = await warden.handle_payload(await world.create_app("app1", BOTH))
    assert out.result == "applied" and not out.refused, out
    assert subs_of(ours(world, app_id)) == sorted([world.sub, OTHER])
    [out] = await warden.handle_payload(await world.set_tags("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "applied"
    assert list(out.changes) == [f"revoke {READER} on {SHARED}"]
    assert subs_of(ours(world, app_id)) == [world.sub]


async def test_delete_event_cleans_up_grants_in_other_subscription(world, make_warden):
    warden = setup(world, make_warden)
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", BOTH))
    principal = world.principal("app1")
    hand = await world.hand_assign(SHARED, "Storage Blob Data Reader", principal)
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 2, out
    assert f"revoke {READER} on {SHARED}" in out.changes
    assert ours(world, app_id) == []
    assert hand in {a["name"] for a in world.assignments()}  # a person's: never touched


async def test_late_write_event_after_delete_cleans_up_other_subscription(world, make_warden):
    warden = setup(world, make_warden)
    created = await world.create_app("app1", {"grant:shared": f"{READER}@{SHARED}"})
    await warden.handle_payload(created)
    assert subs_of(ours(world, world.app_id("app1"))) == [OTHER]
    await world.delete_app("app1")
    [out] = await warden.handle_payload(created)
    assert out.result == "deleted" and list(out.changes) == [f"revoke {READER} on {SHARED}"]
    assert ours(world, world.app_id("app1")) == []


async def test_delete_event_for_recreated_app_revokes_old_principal_in_other_subscription(
        world, make_warden):
    warden = setup(world, make_warden)
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1", BOTH))
    deleted = await world.delete_app("app1")
    await world.create_app("app1", BOTH)  # its event is not seen yet
    [out] = await warden.handle_payload(deleted)
    new = world.principal("app1")
    assert out.result == "applied"
    assert sorted(c for c in out.changes if c.startswith("revoke")) == sorted(
        [f"revoke {READER} on {SHARED}", f"revoke {READER} on {world.rg}"]), out
    left = ours(world, app_id)
    assert subs_of(left) == sorted([world.sub, OTHER])
    assert {a["properties"]["principalId"] for a in left} == {new.lower()}


async def test_sweep_collects_garbage_in_other_subscription(world, make_warden):
    warden = setup(world, make_warden)
    gone, keep = world.app_id("gone"), world.app_id("keep")
    await warden.handle_payload(await world.create_app("gone", BOTH))
    await world.delete_app("gone")  # its delete event is lost
    await warden.handle_payload(await world.create_app("keep", BOTH))
    await world.set_tags("keep", {"grant:rg": f"{READER}@."})  # this event is lost too
    outs = await warden.reconcile_all([world.sub])
    by_app = {o.app: o for o in outs}
    assert by_app[gone].result == "deleted" and len(by_app[gone].changes) == 2, by_app[gone]
    assert by_app[keep].result == "applied"
    assert list(by_app[keep].changes) == [f"revoke {READER} on {SHARED}"]
    assert ours(world, gone) == [] and subs_of(ours(world, keep)) == [world.sub]
    world.emu.clear_log()
    again = await warden.reconcile_all([world.sub])
    assert {o.result for o in again} == {"unchanged"}
    # one list per subscription for the whole sweep, none per app
    assert not any("principalid" in str(r.query).lower() for r in world.emu.request_log)


async def test_sweep_of_several_apps_lists_the_other_subscription_once(world, make_warden):
    warden = setup(world, make_warden)
    for i in range(3):
        world.seed(world.app_id(f"app{i}"), tags=BOTH)
    outs = await warden.reconcile_all([world.sub])
    assert [o.result for o in outs] == ["applied"] * 3
    world.emu.clear_log()
    outs = await warden.reconcile_all([world.sub])
    assert [o.result for o in outs] == ["unchanged"] * 3
    lists = [r for r in world.emu.request_log if r.method == "GET"
             and r.path.lower().endswith("/roleassignments")]
    assert {r.path.split("/")[2].lower() for r in lists} == {world.sub, OTHER}
    assert all("$filter" not in str(r.query) for r in lists)


def pages(world, sub: str) -> int:
    """The pages of one listing of a subscription's role assignments (page size 2)."""
    found = [a for a in world.emu.role_assignments(include_deployment=True)
             if ArmId.parse(a["properties"]["scope"]).subscription == sub.lower()]
    return max(1, -(-len(found) // 2))


async def test_noop_event_with_default_policy_costs_the_app_and_one_listing(world, warden):
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    await warden.handle_payload(events)
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged"
    assert world.emu.count(kind="write") == 0
    assert world.emu.count(method="GET", path_contains="roleAssignments") == pages(world, world.sub)
    assert world.emu.count() == 1 + pages(world, world.sub)


async def test_noop_event_with_other_subscription_adds_one_list(world, make_warden):
    warden = setup(world, make_warden)
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    await warden.handle_payload(events)
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged"
    assert world.emu.count(kind="write") == 0
    # the app, its subscription's listing, the other one's
    assert world.emu.count() == 1 + pages(world, world.sub) + pages(world, OTHER)


async def test_unreadable_named_subscription_does_not_block_cleanup(world, make_warden):
    # the policy names a subscription ARM will not list (here: it does not exist)
    missing = "/subscriptions/0badbad0-0000-4000-8000-000000000000/resourceGroups/x"
    warden = make_warden(allowed_scopes=(SCOPES[0], missing))
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    [out] = await warden.handle_payload(events)  # the app has a principal now: lists
    assert out.result == "unchanged"
    assert any("0badbad0" in n for n in out.notes), out.notes
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 1, out
    assert any("0badbad0" in n for n in out.notes), out.notes
    assert ours(world, world.app_id("app1")) == []
