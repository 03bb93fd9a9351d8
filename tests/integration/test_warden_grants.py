"""Grants, refusals, ownership, policy switches: end to end against the emulator, for
container apps and jobs alike."""

from __future__ import annotations

import uuid

from handlers.model import description_for

from .conftest import BLOB_READER, READER, both_workloads

pytestmark = both_workloads


def refused_tags(out) -> dict[str, str]:
    return {r.get("tag") or r.get("identity"): r["reason"] for r in out.refused}


async def make_custom_role(world, name: str, actions: list[str], not_actions=()) -> str:
    from azure.mgmt.authorization.v2022_04_01.models import Permission, RoleDefinition

    guid = str(uuid.uuid4())
    await world.authz.role_definitions.create_or_update(
        f"/subscriptions/{world.sub}", guid, RoleDefinition(
            role_name=name, role_type="CustomRole",
            assignable_scopes=[f"/subscriptions/{world.sub}"],
            permissions=[Permission(actions=actions, not_actions=list(not_actions))]))
    return guid


async def test_refusals_name_tag_and_reason_other_grants_apply(world, warden):
    custom = await make_custom_role(world, "Sneaky Admin", ["Microsoft.Authorization/*"])
    tags = {
        "grant:ok": f"{READER}@.",
        "grant:owner": "Owner@.",
        "grant:custom": f"{custom}@.",
        "grant:broad": "Contributor@.",
        "grant:out": f"{READER}@/subscriptions/{world.sub}/resourceGroups/other",
        "grant:unknown": "No Such Role@.",
        "grant:missing": f"{READER}@Microsoft.Storage/storageAccounts/nope",
        "grant:bad": "Reader@../x",
    }
    [out] = await warden.handle_payload(await world.create_app("app1", tags))
    assert out.result == "applied", out
    refused = refused_tags(out)
    assert set(refused) == set(tags) - {"grant:ok"}
    assert "floor" in refused["grant:owner"] and "floor" in refused["grant:custom"]
    assert "broad" in refused["grant:broad"]
    assert "allowed_scopes" in refused["grant:out"]
    assert "No Such Role" in refused["grant:unknown"]
    assert "does not exist" in refused["grant:missing"]
    principal = world.principal("app1")
    assert [a["properties"]["scope"] for a in world.assignments(principal)] == [world.rg]


async def test_custom_role_with_not_actions_passes_floor(world, warden):
    custom = await make_custom_role(world, "Tame", ["Microsoft.Storage/*/read", "*/read"],
                                    not_actions=[])
    events = await world.create_app("app1", {"grant:c": f"{custom}@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and list(out.refused) == []


async def test_broad_role_allowed_when_named(world, make_warden):
    warden = make_warden(allowed_roles=("Contributor",))
    events = await world.create_app("app1", {"grant:c": "Contributor@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and list(out.refused) == []


async def test_role_that_writes_tags_is_refused_by_default_so_no_self_escalation(world, warden):
    # Issue 12 item 1: the app's identity must not get a role that rewrites its own grant tags.
    events = await world.create_app("app1", {"grant:tags": "Tag Contributor@.",
                                             "grant:ok": f"{READER}@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied", out
    reason = refused_tags(out)["grant:tags"]
    assert "broad" in reason and "Microsoft.Resources/tags/write" in reason, reason
    assert "grants.allowed_roles" in reason, reason
    principal = world.principal("app1")
    roles = [a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
             for a in world.assignments(principal)]
    assert roles == ["acdd72a7-3385-48ef-bd42-f606fba81ae7"]  # Reader's, and nothing else


async def test_role_that_writes_tags_is_granted_when_named(world, make_warden):
    warden = make_warden(allowed_roles=("*", "Tag Contributor"))
    events = await world.create_app("app1", {"grant:t": "Tag Contributor@."})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and list(out.refused) == [], out


async def test_removed_tag_revokes_only_its_grant(world, warden):
    tags = {"grant:rg": f"{READER}@.",
            "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1"}
    await warden.handle_payload(await world.create_app("app1", tags))
    principal = world.principal("app1")
    assert len(world.assignments(principal)) == 2
    [out] = await warden.handle_payload(await world.set_tags("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "applied"
    assert list(out.changes) == [f"revoke {BLOB_READER} on {world.storage}"]
    assert [a["properties"]["scope"] for a in world.assignments(principal)] == [world.rg]


async def test_same_grant_in_two_tags_is_one_assignment_kept_until_both_gone(world, warden):
    tags = {"grant:a": f"{READER}@.",
            "grant:b": f"{READER}@/subscriptions/{world.sub}/resourceGroups/RG1"}
    await warden.handle_payload(await world.create_app("app1", tags))
    principal = world.principal("app1")
    assert len(world.assignments(principal)) == 1
    [out] = await warden.handle_payload(await world.set_tags("app1", {"grant:b": tags["grant:b"]}))
    assert out.result == "unchanged" and len(world.assignments(principal)) == 1
    [out] = await warden.handle_payload(await world.set_tags("app1", {}))
    assert out.result == "applied" and world.assignments(principal) == []


async def test_hand_made_identical_assignment_survives_revoke_and_delete(world, warden):
    await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    principal = world.principal("app1")
    # a person grants the same role on the storage account by hand, then tags it too
    hand = await world.hand_assign(world.storage, BLOB_READER, principal)
    tags = {"grant:rg": f"{READER}@.",
            "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1"}
    [out] = await warden.handle_payload(await world.set_tags("app1", tags))
    assert out.result == "unchanged" and out.notes, out
    [out] = await warden.handle_payload(await world.set_tags("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "unchanged"
    assert hand in {a["name"] for a in world.assignments(principal)}
    [out] = await warden.handle_payload(await world.delete_app("app1"))
    assert out.result == "deleted" and len(out.changes) == 1
    assert [a["name"] for a in world.assignments()] == [hand]


async def test_tightened_policy_revokes_and_reports(world, make_warden):
    await make_warden().handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    strict = make_warden(allowed_roles=(BLOB_READER,))
    [out] = await strict.handle_payload(world.event(world.app_id("app1")))
    assert out.result == "applied"
    assert list(out.changes) == [f"revoke {READER} on {world.rg}"]
    assert "grant:rg" in refused_tags(out)
    assert world.assignments(world.principal("app1")) == []


async def test_system_identity_not_enabled_when_policy_says_no(world, make_warden):
    warden = make_warden(enable_system_identity=False)
    [out] = await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "unchanged" and "grant:rg" in refused_tags(out)
    assert world.emu.get(world.app_id("app1"))["identity"]["type"] == "None"


async def test_missing_standard_identity_reported_others_attached(world, make_warden):
    std = world.emu.seed_identity(
        f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std")["id"]
    missing = f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gone"
    warden = make_warden(standard_identities=(std, missing))
    [out] = await warden.handle_payload(await world.create_app("app1"))
    assert out.result == "applied" and set(refused_tags(out)) == {missing}
    keys = world.emu.get(world.app_id("app1"))["identity"]["userAssignedIdentities"]
    assert [k.lower() for k in keys] == [std.lower()]


async def test_opt_out_and_resource_group_filter(world, make_warden):
    world.emu.seed_resource_group("other")
    warden = make_warden(resource_groups=("rg*",))
    world.emu.clear_log()
    [out] = await warden.handle_payload(world.event(world.app_id("x", rg="other")))
    assert out.result == "ignored" and "resource group" in out.reason
    assert world.emu.count() == 0
    events = await world.create_app("app1", {"grant:rg": f"{READER}@.", "Warden:Ignore": "TRUE"})
    [out] = await warden.handle_payload(events)
    assert out.result == "ignored" and "opted out" in out.reason
    assert world.assignments() == []


async def test_dry_run_plans_and_writes_nothing(world, make_warden):
    std = f"{world.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std"
    warden = make_warden(dry_run=True, standard_identities=(std,), create_missing=True)
    events = await world.create_app("app1", {
        "grant:rg": f"{READER}@.",
        "grant:missing": f"{READER}@Microsoft.Storage/storageAccounts/nope"})
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and out.dry_run
    assert all(c.startswith("planned: ") for c in out.changes) and len(out.changes) == 4
    assert "grant:missing" in refused_tags(out)
    assert world.emu.count(kind="write") == 0
    assert world.assignments() == []


async def test_plan_app_writes_nothing(world, warden):
    await world.create_app("app1", {"grant:rg": f"{READER}@."})
    world.emu.clear_log()
    out = await warden.plan_app(world.app_id("app1"))
    assert out.result == "applied" and out.changes
    assert world.emu.count(kind="write") == 0
    out = await warden.plan_app("/not/an/app")
    assert out.result == "refused" and out.error


async def test_assignment_description_marks_ownership(world, warden):
    await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    [a] = world.assignments()
    assert a["properties"]["description"] == description_for(world.app_id("app1"))


async def test_grant_in_another_subscription_replays_without_writes(world, make_warden):
    other = "11111111-2222-3333-4444-555555555555"
    world.emu.seed_subscription(other)
    rg = world.emu.seed_resource_group("shared", subscription=other)
    warden = make_warden(allowed_scopes=(
        "/subscriptions/{subscription}/resourceGroups/{resourceGroup}", rg))
    events = await world.create_app("app1", {"grant:x": f"{READER}@{rg}"})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied", out
    [a] = world.assignments(world.principal("app1"))
    assert a["properties"]["scope"].lower() == rg.lower()
    world.emu.clear_log()
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged" and world.emu.count(kind="write") == 0


async def test_custom_tag_prefix_and_opt_out_tag(world, make_warden):
    warden = make_warden(tag_prefix="access/", opt_out_tag="hands-off")
    tags = {"Access/rg": f"{READER}@.", "grant:ignored": "Owner@."}
    [out] = await warden.handle_payload(await world.create_app("app1", tags))
    assert out.result == "applied" and list(out.refused) == []
    assert len(world.assignments(world.principal("app1"))) == 1
    events = await world.create_app("app2", {"access/x": f"{READER}@.", "HANDS-OFF": "True"})
    [out] = await warden.handle_payload(events)
    assert out.result == "ignored"
