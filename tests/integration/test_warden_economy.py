"""Call economy (issue 5), asserted through the emulator's request log, for container apps
and jobs alike."""

from __future__ import annotations

from handlers.ids import WORKLOAD_TYPES

from .conftest import BLOB_READER, READER, both_workloads

pytestmark = both_workloads

TWO = {"grant:rg": f"{READER}@.",
       "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1"}


async def test_new_app_with_two_grants_costs_one_patch_two_puts(world, warden):
    events = await world.create_app("app1", TWO)
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    assert world.emu.count(kind="write") == 3
    assert world.emu.count(kind="write", method="PATCH") == 1
    assert world.emu.count(kind="write", method="PUT", path_contains="roleAssignments") == 2


async def test_templated_identity_created_once_per_resource_group(world, make_warden):
    template = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/std-{location}")
    warden = make_warden(standard_identities=(template,), create_missing=True)
    world.emu.seed_resource_group("rg2")
    apps = [world.app_id(f"app{i}", rg="rg1" if i % 2 else "rg2") for i in range(100)]
    for app_id in apps:
        world.seed(app_id, tags={"grant:rg": f"{READER}@."})
    world.emu.clear_log()
    outs = await warden.handle_payload([world.event(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}, [o for o in outs if o.result != "applied"][:1]
    assert world.emu.count(kind="write", path_contains="userAssignedIdentities") == 2
    assert world.emu.count(kind="write", method="PATCH") == 100
    assert world.emu.count(kind="write") == 2 + 100 * 2
    # looked up once per process, not once per event
    assert world.emu.count(kind="read", path_contains="roleDefinitions") == 1


async def test_new_app_with_k_grants_and_created_identity(world, make_warden):
    std = f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std"
    warden = make_warden(standard_identities=(std,), create_missing=True)
    events = await world.create_app("app1", TWO)
    world.emu.clear_log()
    await warden.handle_payload(events)
    assert world.emu.count(kind="write") == 2 + 1 + 1


def listing_pages(world) -> int:
    """The pages of one listing of the subscription's role assignments (page size 2)."""
    return max(1, -(-len(world.emu.role_assignments(include_deployment=True)) // 2))


async def test_replay_and_noop_cost_no_writes_and_at_most_two_requests(world, make_warden):
    std = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(std,))
    events = await world.create_app("app1", TWO)
    await warden.handle_payload(events)
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged"
    assert world.emu.count(kind="write") == 0
    # the GET and one listing of the subscription (two requests when it fits one page)
    assert world.emu.count(path_contains="roleAssignments") == listing_pages(world)
    assert world.emu.count() == 1 + listing_pages(world)
    # an app with no grants and no principal: the same (grants of a principal it had
    # before are revoked: the contract's principal rotation)
    more = await world.create_app("plain", identity={
        "type": "UserAssigned", "userAssignedIdentities": {std: {}}})
    world.emu.clear_log()
    [out] = await warden.handle_payload(more)
    assert out.result == "unchanged" and world.emu.count() == 1 + listing_pages(world)


async def test_self_caused_event_costs_no_request(world, warden):
    events = await world.create_app("app1", TWO)
    mark = world.mark()
    await warden.handle_payload(events)
    own = [e for e in world.events_since(mark)
           if e["data"]["operationName"].lower() == world.op("write").lower()]
    assert own, "the warden's own PATCH produced no event"
    world.emu.clear_log()
    outs = await warden.handle_payload(own)
    assert all(o.result == "ignored" and "own write" in o.reason for o in outs)
    assert world.emu.count() == 0


async def test_role_definitions_and_identities_looked_up_once(world, make_warden):
    std = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(std,))
    world.emu.clear_log()
    for name in ("a", "b", "c"):
        await warden.handle_payload(await world.create_app(name, TWO))
    assert world.emu.count(method="GET", path_contains="roleDefinitions",
                           principal=world.emu.service_oid) == 2
    assert world.emu.count(method="GET", path_contains="userAssignedIdentities/std",
                           principal=world.emu.service_oid) == 1


async def test_burst_of_deletes_shares_one_subscription_listing(world, warden):
    apps = [world.app_id(f"app{i}") for i in range(10)]
    for app_id in apps:
        world.seed(app_id, tags={"grant:rg": f"{READER}@."})
    await warden.handle_payload([world.event(a) for a in apps])
    assert len(world.assignments()) == 10
    deletes = []
    for i in range(10):
        deletes += await world.delete_app(f"app{i}")
    world.emu.clear_log()
    outs = await warden.handle_payload(deletes)
    assert [o.result for o in outs] == ["deleted"] * 10
    assert world.assignments() == []
    pages = -(-10 // 2)  # page size 2
    assert world.emu.count(method="GET", path_contains="roleAssignments") <= pages + 1


async def test_sweep_reads_the_subscription_once_not_per_app(world, warden):
    apps = [world.app_id(f"app{i}") for i in range(4)]
    for app_id in apps:
        world.seed(app_id, tags={"grant:rg": f"{READER}@."})
    await warden.reconcile_all([world.sub])
    world.emu.clear_log()
    outs = await warden.reconcile_all([world.sub])
    assert [o.result for o in outs] == ["unchanged"] * 4
    assert world.emu.count(kind="write") == 0
    # one list per workload type (the 4 workloads on 2 pages of 2, the other type's empty
    # one) and one listing of the role assignments: nothing per workload
    lists = -(-len(apps) // 2) + len(WORKLOAD_TYPES) - 1
    assert world.emu.count(path_contains=world.kind.type) == -(-len(apps) // 2)
    assert world.emu.count() == lists + listing_pages(world)
    assert not any("principalid" in str(r.query).lower() for r in world.emu.request_log)
