"""Every row of the contract's event table, end to end through the real SDK, for container
apps and jobs alike (``[app]`` / ``[job]``)."""

from __future__ import annotations

import uuid

from handlers.model import description_for

from .conftest import BLOB_READER, READER, both_workloads

GRANTS = {"grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1",
          "grant:rg": f"{READER}@."}


@both_workloads
async def test_app_write_event_attaches_identity_and_grants(world, make_warden):
    uami = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(uami,))
    events = await world.create_app("app1", GRANTS)
    [out] = await warden.handle_payload(events)
    assert out.result == "applied", out
    app = world.emu.get(world.app_id("app1"))
    assert app["identity"]["type"] == "SystemAssigned, UserAssigned"  # as Azure answers it
    assert [k.lower() for k in app["identity"]["userAssignedIdentities"]] == [uami.lower()]
    principal = app["identity"]["principalId"]
    got = world.assignments(principal)
    assert sorted(a["properties"]["scope"].lower() for a in got) == sorted(
        [world.rg.lower(), world.storage.lower()])
    for a in got:
        assert a["properties"]["principalType"] == "ServicePrincipal"
        assert a["properties"]["description"] == description_for(world.app_id("app1"))
    assert "enable system-assigned identity" in out.changes
    assert any(c.startswith(f"grant {BLOB_READER} on ") for c in out.changes)


@both_workloads
async def test_existing_user_assigned_identity_is_kept(world, make_warden):
    own = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/own")["id"]
    std = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(std,))
    events = await world.create_app(
        "app1", identity={"type": "UserAssigned", "userAssignedIdentities": {own: {}}})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    keys = {k.lower() for k in world.emu.get(world.app_id("app1"))["identity"][
        "userAssignedIdentities"]}
    assert keys == {own.lower(), std.lower()}


@both_workloads
async def test_tags_write_event_reconciles(world, warden):
    await world.create_app("app1")
    app_id = world.app_id("app1")
    await world.set_tags("app1", {"grant:rg": f"{READER}@."})
    for uri in (f"{app_id}/providers/Microsoft.Resources/tags/default", app_id):
        ev = world.event(app_id, op="Microsoft.Resources/tags/write", uri=uri)
        [out] = await warden.handle_payload(ev)
        assert out.result in ("applied", "unchanged"), out
    assert len(world.assignments(world.principal("app1"))) == 1


@both_workloads
async def test_resource_notifications_events(world, warden):
    await world.create_app("app1", {"grant:rg": f"{READER}@."})
    app_id = world.app_id("app1")
    ev = {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{world.sub}", "subject": app_id,
          "eventType": "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated",
          "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "1", "metadataVersion": "1",
          "data": {"resourceInfo": {"id": app_id, "name": "app1",
                                    "type": world.kind.type, "location": "eastus",
                                    "tags": {}, "properties": {}},
                   "operationalInfo": {"resourceEventTime": "2026-01-01T00:00:00Z"},
                   "apiVersion": "2026-01-01"}}
    [out] = await warden.handle_payload(ev)
    assert out.result == "applied"
    assert len(world.assignments(world.principal("app1"))) == 1
    await world.delete_app("app1")
    deleted = dict(ev, id=str(uuid.uuid4()),
                   eventType="Microsoft.ResourceNotifications.Resources.Deleted")
    [out] = await warden.handle_payload(deleted)
    assert out.result == "deleted" and len(out.changes) == 1
    assert world.assignments() == [] or all(
        a["properties"]["description"] != description_for(app_id) for a in world.assignments())


@both_workloads
async def test_cloudevents_schema_write(world, warden):
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    eg = events[0]
    ce = {"specversion": "1.0", "id": eg["id"], "source": eg["topic"], "subject": eg["subject"],
          "type": eg["eventType"], "time": eg["eventTime"], "data": eg["data"]}
    [out] = await warden.handle_payload([ce])
    assert out.result == "applied"


@both_workloads
async def test_delete_event_cleans_up(world, warden):
    events = await world.create_app("app1", GRANTS)
    await warden.handle_payload(events)
    assert len(world.assignments()) == 2
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 2
    assert world.assignments() == []
    [out] = await warden.handle_payload(world.event(
        world.app_id("app1"), op=world.op("delete"),
        event_type="Microsoft.Resources.ResourceDeleteSuccess"))
    assert out.result == "deleted" and list(out.changes) == []


@both_workloads
async def test_other_events_are_ignored_without_arm_requests(world, warden):
    app_id = world.app_id("app1")
    child = {"app": "authConfigs/current", "job": "detectors/d1"}[world.kind.name]
    items = [
        world.event(app_id, event_type="Microsoft.Resources.ResourceWriteFailure",
                    op="Microsoft.Resources/tags/write"),
        world.event(app_id, event_type="Microsoft.Resources.ResourceWriteCancel"),
        world.event(app_id, event_type="Microsoft.Resources.ResourceActionSuccess",
                    op=world.op("listSecrets/action")),
        world.event(app_id, event_type="Microsoft.Resources.ResourceDeleteFailure",
                    op=world.op("delete")),
        world.event(f"{app_id}/{child}", op=world.op(f"{child.split('/')[0]}/write")),
        world.event(world.storage, op="Microsoft.Storage/storageAccounts/write"),
        # the operation names the other workload type than the resource
        world.event(app_id, op=("Microsoft.App/jobs/write" if world.kind.name == "app"
                                else "Microsoft.App/containerApps/write")),
    ]
    world.emu.clear_log()
    outs = await warden.handle_payload(items)
    assert [o.result for o in outs] == ["ignored"] * len(items)
    assert world.emu.count() == 0


@both_workloads
async def test_malformed_item_refused_rest_of_batch_goes_on(world, warden):
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    bad = world.event(world.app_id("app1"))
    bad["data"]["resourceUri"] = f"/subscriptions/x/../{world.kind.type}/evil"
    outs = await warden.handle_payload([42, bad, *events])
    assert [o.result for o in outs] == ["refused", "refused", "applied"]
    assert outs[0].error and outs[1].error


@both_workloads
async def test_case_insensitive_ids_are_the_same_app(world, warden):
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    upper = world.app_id("app1").replace("resourceGroups", "RESOURCEGROUPS").replace(
        world.kind.type, world.kind.type.upper()).replace("rg1", "RG1")
    [out] = await warden.handle_payload(world.event(upper))
    assert out.result == "unchanged", out
