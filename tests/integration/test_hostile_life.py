"""A whole app life cycle as a person drives it, against the emulator: the holes issue 12
found, each checked over the wire (the real SDK, ARM's answers, the events ARM emits), for
container apps and jobs alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from azure.core.rest import HttpRequest

from emulator import Deployment
from handlers.model import description_for

from .conftest import READER, World, both_workloads

pytestmark = both_workloads

ROOT = Path(__file__).resolve().parents[2]
UAMI = "providers/Microsoft.ManagedIdentity/userAssignedIdentities"
OTHER_SUB = "3c0ffee0-0000-4000-8000-00000000c0de"


def ours(world: World, name: str) -> list[dict[str, Any]]:
    return [a for a in world.assignments()
            if a["properties"].get("description") == description_for(world.app_id(name))]


def admitted_by_infra() -> set[tuple[str, str]]:
    """(event type, operationName) pairs the deployment's event filter admits."""
    sub = (ROOT / "infra" / "modules" / "event-subscription.bicep").read_text("utf-8")
    return {(m.group(1).lower(), op.lower())
            for m in re.finditer(r"eventType: '([^']+)'\s*operations: \[(.*?)\]", sub, re.S)
            for op in re.findall(r"'([^']+)'", m.group(2))}


async def delete_tags_as_person(world: World, name: str) -> list[dict[str, Any]]:
    """DELETE the app's whole tags resource (the Tags API), as a person would."""
    mark = world.mark()
    uri = f"{world.app_id(name)}/providers/Microsoft.Resources/tags/default"
    resp = await world.apps.send_request(
        HttpRequest("DELETE", f"{world.emu.endpoint}{uri}?api-version=2021-04-01"))
    assert resp.status_code == 200, resp.text()
    return world.events_since(mark)


async def test_deleting_the_tags_resource_revokes_every_grant_and_plan_said_so(
        world: World, warden: Any) -> None:
    tags = {"grant:rg": f"{READER}@.", "grant:st": f"{READER}@{world.storage}"}
    [out] = await warden.handle_payload(await world.create_app("app1", tags))
    assert out.result == "applied" and len(ours(world, "app1")) == 2
    events = await delete_tags_as_person(world, "app1")
    assert not world.emu.get(world.app_id("app1")).get("tags")
    [event] = events
    data = event["data"]
    assert (event["eventType"], data["operationName"]) == (
        "Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Resources/tags/delete")
    assert data["resourceUri"].endswith("/providers/Microsoft.Resources/tags/default")
    assert (event["eventType"].lower(), data["operationName"].lower()) in admitted_by_infra()
    planned = await warden.plan_app(world.app_id("app1"))
    [out] = await warden.handle_payload(events)
    assert out.result == "applied", out
    assert sorted(c for c in out.changes if c.startswith("revoke")) == sorted(
        c.removeprefix("planned: ") for c in planned.changes if "revoke" in c)
    assert len([c for c in out.changes if c.startswith("revoke")]) == 2
    assert ours(world, "app1") == []
    assert out.caller == world.emu.person_oid("alice")


def foreign_and_near_identities(world: World) -> tuple[str, str]:
    """A standard identity in another subscription, where the service holds none of the
    template's roles, and one next to the apps."""
    emu = world.emu
    emu.seed_resource_group("rg-id", subscription=OTHER_SUB)
    far = emu.seed_identity(f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-id/{UAMI}/far")
    near = emu.seed_identity(f"{world.rg}/{UAMI}/near")
    return far["id"], near["id"]


async def converge_with_a_foreign_identity(world: World, make_warden: Any,
                                           far: str, near: str) -> dict[str, str]:
    """The refusals of the first convergence of an app with a grant tag; asserts that the
    grant and the other identity were applied, and again on the next event."""
    emu = world.emu
    warden = make_warden(standard_identities=(far, near))
    emu.deploy(Deployment(subscriptions=(world.sub,)))  # the template's roles: this sub only
    [out] = await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "applied", out.error
    attached = emu.get(world.app_id("app1"))["identity"]["userAssignedIdentities"]
    assert [k.lower() for k in attached] == [near.lower()]
    assert len(ours(world, "app1")) == 1
    [again] = await warden.handle_payload([world.event(world.app_id("app1"))])
    assert again.result == "unchanged"
    assert [r.get("identity") for r in again.refused] == [far]
    return {r.get("identity") or "": r["reason"] for r in out.refused}


async def test_a_standard_identity_the_service_may_not_attach_is_refused_the_rest_applies(
        world: World, make_warden: Any) -> None:
    """ARM's 403 LinkedAuthorizationFailed on the PATCH names one identity (the service
    may read it, not assign it): that one is refused, the grants and the other identity
    still apply, and nothing is retried."""
    far, near = foreign_and_near_identities(world)
    reader = world.role_guid(READER)
    world.emu.seed_role_assignment(f"/subscriptions/{OTHER_SUB}", reader, world.emu.service_oid)
    refused = await converge_with_a_foreign_identity(world, make_warden, far, near)
    assert list(refused) == [far] and "LinkedAuthorizationFailed" in refused[far]


async def test_a_standard_identity_the_service_may_not_even_read_is_refused_the_rest_applies(
        world: World, make_warden: Any) -> None:
    far, near = foreign_and_near_identities(world)
    refused = await converge_with_a_foreign_identity(world, make_warden, far, near)
    assert list(refused) == [far] and "AuthorizationFailed" in refused[far]


async def test_switching_the_system_identity_off_revokes_the_old_principals_grant(
        world: World, warden: Any) -> None:
    [out] = await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    old = world.principal("app1")
    assert out.result == "applied" and old
    events = (await world.set_identity("app1", {"type": "None"}))[-1:]
    planned = await warden.plan_app(world.app_id("app1"))
    assert planned.result == "applied" and any("revoke" in c for c in planned.changes)
    [out] = await warden.handle_payload(events)
    new = world.principal("app1")
    assert out.result == "applied" and new and new != old
    holders = {a["properties"]["principalId"] for a in ours(world, "app1")}
    assert holders == {new}
    [again] = await warden.handle_payload(events)
    assert again.result == "unchanged"
    assert (await warden.plan_app(world.app_id("app1"))).result == "unchanged"


async def test_an_identity_that_cannot_be_created_is_refused_and_a_new_grant_still_applies(
        world: World, make_warden: Any) -> None:
    missing_group = f"/subscriptions/{world.sub}/resourceGroups/rg-gone/{UAMI}/std"
    warden = make_warden(standard_identities=(missing_group,), create_missing=True)
    [out] = await warden.handle_payload(await world.create_app("app1", {"grant:rg": f"{READER}@."}))
    assert out.result == "applied", out
    assert [r.get("identity") for r in out.refused] == [missing_group]
    assert len(ours(world, "app1")) == 1
    events = await world.set_tags("app1", {"grant:rg": f"{READER}@.",
                                           "grant:st": f"{READER}@{world.storage}"})
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and len(ours(world, "app1")) == 2
    assert [r.get("identity") for r in out.refused] == [missing_group]


async def test_a_validation_event_in_a_batch_never_drops_the_app_event(
        world: World, warden: Any) -> None:
    validation = {"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                  "subject": "", "data": {"validationCode": "c"}, "dataVersion": "1",
                  "eventTime": "2026-01-01T00:00:00Z"}
    events = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    outs = await warden.handle_payload([validation, *events])
    assert [o.result for o in outs] == ["ignored", "applied"]
    assert len(ours(world, "app1")) == 1


async def test_thousands_of_copies_of_one_event_are_one_convergence(
        world: World, warden: Any) -> None:
    [event] = await world.create_app("app1", {"grant:rg": f"{READER}@."})
    world.emu.clear_log()
    outs = await warden.handle_payload([event] * 2000)
    assert {o.result for o in outs} == {"applied"} and len(outs) == 2000
    assert world.emu.count(method="GET",
                           path_contains=f"/{world.kind.wtype.collection}/app1") <= 2
    assert world.emu.count(kind="write") == 2  # one identity PATCH, one grant
