"""What one convergence does: grants, identities, rotation, cleanup, refusals, dry run, failures."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from handlers.ids import ArmId
from handlers.model import description_for

from .conftest import delete, event, write
from .fakearm import OTHER_SUB, SUB, FakeArm, permanent, transient

READER = "Reader@."
TWO = {"grant:rg": READER, "grant:blob": "Storage Blob Data Reader@."}


def roles_of(arm: FakeArm, app: str) -> list[str]:
    return sorted(role for role, _, _ in arm.grants(app))


# --- grants --------------------------------------------------------------------------------------


async def test_grants_go_to_the_system_identity_which_is_enabled_for_them(arm: FakeArm,
                                                                          warden: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([write(app)])
    principal = arm.principal(app)
    assert principal and out.result == "applied"
    assert list(out.changes) == [  # in the plan's order: the tags' names
        "enable system-assigned identity",
        f"grant Storage Blob Data Reader on /subscriptions/{SUB}/resourceGroups/rg1 "
        "(tag grant:blob)",
        f"grant Reader on /subscriptions/{SUB}/resourceGroups/rg1 (tag grant:rg)"]
    assert {p for _, _, p in arm.grants(app)} == {principal}


async def test_a_removed_tag_revokes_only_its_grant(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.set_tags(app, {"grant:rg": READER})
    [out] = await warden.handle_payload([write(app)])
    assert list(out.changes) == [
        f"revoke Storage Blob Data Reader on /subscriptions/{SUB}/resourceGroups/rg1"]
    assert roles_of(arm, app) == ["Reader"]


async def test_one_grant_asked_for_by_two_tags_is_one_assignment_revoked_with_the_last(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:a": READER, "grant:b": "reader@."})
    [out] = await warden.handle_payload([write(app)])
    assert any("(tag grant:a, grant:b)" in c for c in out.changes)
    arm.set_tags(app, {"grant:b": READER})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "unchanged" and len(arm.ours(app)) == 1
    arm.set_tags(app, {})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and arm.ours(app) == []


async def test_a_persons_identical_assignment_is_left_alone_and_never_duplicated(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": READER}, system=True)
    hand = arm.hand_assign(arm.rg(), "Reader", arm.principal(app) or "")
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "unchanged" and "did not make" in out.notes[0]
    arm.set_tags(app, {})
    await warden.handle_payload([write(app)])
    assert hand.id.lower() in arm.assignments and arm.count("delete_assignment") == 0


async def test_a_look_alike_with_our_description_but_not_our_name_is_never_revoked(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {}, system=True)
    fake = arm.hand_assign(arm.rg(), "Contributor", arm.principal(app) or "",
                           description=description_for(app))
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "unchanged" and fake.id.lower() in arm.assignments


@pytest.mark.parametrize(("tag", "words"), [
    ("Owner@.", "privilege floor"),
    ("Contributor@.", "broad"),
    ("Tag Contributor@.", "broad"),
    ("No Such Role@.", "unknown role"),
    ("Reader@/subscriptions/" + OTHER_SUB, "outside allowed_scopes"),
    ("Reader", "'@'"),
    ("Reader@Microsoft.Storage/storageAccounts/nope", "does not exist"),
])
async def test_a_refused_grant_never_blocks_the_others(arm: FakeArm, warden: Any, tag: str,
                                                       words: str) -> None:
    app = arm.app("web", {"grant:bad": tag, "grant:rg": READER})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    [refusal] = out.refused
    assert refusal["tag"] == "grant:bad" and words in refusal["reason"], refusal


async def test_a_broad_role_named_in_allowed_roles_is_granted(arm: FakeArm, make: Any) -> None:
    app = arm.app("web", {"grant:c": "Contributor@."})
    [out] = await make(allowed_roles=("Contributor",)).handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Contributor"]


async def test_a_tightened_policy_revokes_and_reports_the_refusal(arm: FakeArm,
                                                                  make: Any) -> None:
    app = arm.app("web", TWO)
    await make().handle_payload([write(app)])
    [out] = await make(allowed_roles=("Reader",)).handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    assert [r["tag"] for r in out.refused] == ["grant:blob"]
    assert any(c.startswith("revoke Storage Blob Data Reader") for c in out.changes)


async def test_grants_refused_when_the_system_identity_may_not_be_enabled(arm: FakeArm,
                                                                          make: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await make(enable_system_identity=False).handle_payload([write(app)])
    assert out.result == "unchanged" and arm.writes == 0
    assert {r["tag"] for r in out.refused} == {"grant:rg", "grant:blob"}


@pytest.mark.parametrize(("status", "code", "words"), [
    (403, "AuthorizationFailed", "may not assign roles"),
    (404, "ResourceNotFound", "does not exist"),
    (400, "RoleAssignmentLimitExceeded", "ARM refused the assignment"),
])
async def test_a_put_arm_refuses_for_good_refuses_that_grant_only(arm: FakeArm, warden: Any,
                                                                  status: int, code: str,
                                                                  words: str) -> None:
    app = arm.app("web", TWO)
    arm.fail("create_assignment", permanent(status, code), when=lambda a: "Reader" not in a[2]
             and a[2].endswith(arm.role_guid("Reader")))
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Storage Blob Data Reader"]
    assert out.refused[0]["tag"] == "grant:rg" and words in out.refused[0]["reason"]


async def test_a_grant_arm_says_exists_under_another_name_is_noted_not_retried(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": READER}, system=True)
    hand = arm.hand_assign(arm.rg(), "Reader", arm.principal(app) or "")
    arm.unlisted.add(hand.id.lower())  # made a moment ago: the listing does not show it yet
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "unchanged" and out.refused == ()
    assert any("did not make" in n for n in out.notes)
    assert arm.count("create_assignment") == 1 and arm.ours(app) == []


# --- standard identities -------------------------------------------------------------------------


async def test_standard_identities_ride_on_the_one_patch_with_every_identity_kept(
        arm: FakeArm, make: Any) -> None:
    std, own = arm.identity("std"), arm.identity("own")
    app = arm.app("web", TWO, user=(own,))
    [out] = await make(standard_identities=(std,)).handle_payload([write(app)])
    assert arm.count("patch_app") == 1
    [(_, (_, body))] = [c for c in arm.calls if c[0] == "patch_app"]
    assert body["identity"]["type"] == "SystemAssigned,UserAssigned"
    assert {ArmId.parse(k) for k in body["identity"]["userAssignedIdentities"]} == {
        ArmId.parse(own), ArmId.parse(std)}
    assert f"attach identity {std}" in out.changes


async def test_a_missing_standard_identity_is_refused_and_the_rest_applies(arm: FakeArm,
                                                                          make: Any) -> None:
    missing = f"{arm.rg()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope"
    other = arm.identity("std")
    app = arm.app("web", {"grant:rg": READER})
    [out] = await make(standard_identities=(missing, other)).handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    assert out.refused[0]["identity"] == missing and "create_missing" in out.refused[0]["reason"]
    assert f"attach identity {other}" in out.changes


async def test_an_identity_that_cannot_be_created_is_refused_and_grants_still_apply(
        arm: FakeArm, make: Any) -> None:
    """Issue 12.6: create_missing with the identity's resource group missing."""
    nowhere = f"/subscriptions/{SUB}/resourceGroups/gone/providers/" \
              "Microsoft.ManagedIdentity/userAssignedIdentities/std"
    app = arm.app("web", {"grant:rg": READER})
    warden = make(standard_identities=(nowhere,), create_missing=True)
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    assert out.refused[0]["identity"] == nowhere
    assert "could not be created" in out.refused[0]["reason"]
    assert all("attach" not in c for c in out.changes)


async def test_an_identity_the_service_may_not_attach_is_refused_and_the_rest_applies(
        arm: FakeArm, make: Any) -> None:
    """Issue 12.6: 403 LinkedAuthorizationFailed on the identity."""
    denied, fine = arm.identity("denied"), arm.identity("fine")
    arm.denied_identities.add(ArmId.parse(denied))
    app = arm.app("web", {"grant:rg": READER})
    [out] = await make(standard_identities=(denied, fine)).handle_payload([write(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    assert [r["identity"] for r in out.refused] == [denied]
    assert "may not attach" in out.refused[0]["reason"]
    assert f"attach identity {fine}" in out.changes
    assert arm.count("patch_app") == 2  # refused, then again without it


async def test_a_missing_identity_is_created_once_for_a_burst(arm: FakeArm, make: Any) -> None:
    template = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/std-{location}")
    apps = [arm.app(f"a{i}", {"grant:rg": READER}, rg="rg1" if i % 2 else "rg2")
            for i in range(30)]
    warden = make(standard_identities=(template,), create_missing=True)
    outs = await warden.handle_payload([write(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    assert arm.count("create_identity") == 2
    arm.clear()
    late = arm.app("late", {"grant:rg": READER})
    await warden.handle_payload([write(late)])
    assert arm.count("get_identity") == 0 and arm.count("create_identity") == 0


async def test_an_identity_outside_the_apps_subscription_is_never_created(arm: FakeArm,
                                                                          make: Any) -> None:
    far = f"/subscriptions/{OTHER_SUB}/resourceGroups/x/providers/" \
          "Microsoft.ManagedIdentity/userAssignedIdentities/std"
    app = arm.app("web", {})
    [out] = await make(standard_identities=(far,), create_missing=True).handle_payload(
        [write(app)])
    assert out.refused[0]["identity"] == far and arm.count("create_identity") == 0


# --- principal rotation --------------------------------------------------------------------------


async def test_switching_the_system_identity_off_and_on_revokes_the_old_principals_grants(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    old = arm.principal(app)
    arm.set_identity(app, system=False)
    arm.set_identity(app, system=True)
    new = arm.principal(app)
    assert new != old
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and arm.count("patch_app") == 1
    assert {p for _, _, p in arm.grants(app)} == {new}
    assert sum(c.startswith("revoke") for c in out.changes) == 2


async def test_a_system_identity_switched_off_is_re_enabled_and_the_old_grants_go(
        arm: FakeArm, warden: Any) -> None:
    """Issue 12.5: the event path revokes what the sweep would."""
    app = arm.app("web", {"grant:rg": READER})
    await warden.handle_payload([write(app)])
    old = arm.principal(app)
    arm.set_identity(app, system=False)
    [out] = await warden.handle_payload([write(app)])
    new = arm.principal(app)
    assert new and new != old
    assert arm.grants(app) == {("Reader", f"/subscriptions/{SUB}/resourceGroups/rg1", new)}
    assert "enable system-assigned identity" in out.changes


async def test_with_the_identity_off_for_good_the_old_grants_still_go(arm: FakeArm,
                                                                      make: Any) -> None:
    app = arm.app("web", {"grant:rg": READER})
    await make().handle_payload([write(app)])
    arm.set_identity(app, system=False)
    [out] = await make(enable_system_identity=False).handle_payload([write(app)])
    assert out.result == "applied" and arm.ours(app) == [] and out.refused


async def test_plan_shows_exactly_what_the_next_event_does(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": READER})
    await warden.handle_payload([write(app)])
    arm.set_identity(app, system=False)
    arm.set_identity(app, system=True)
    arm.clear()
    planned = await warden.plan_app(app)
    assert arm.writes == 0 and planned.dry_run
    [out] = await warden.handle_payload([write(app)])
    assert list(planned.changes) == [f"planned: {c}" for c in out.changes]
    assert planned.result == out.result == "applied"


async def test_a_convergence_that_lost_a_race_to_enable_the_identity_revokes_nothing(
        arm: FakeArm, warden: Any) -> None:
    """Another process enabled the identity and granted between this one's read and its
    PATCH: the assignments of the principal the PATCH leaves are kept."""
    app = arm.app("web", {"grant:rg": READER})
    stale = await arm.get_app(ArmId.parse(app))
    await warden.handle_payload([write(app)])  # the other process's convergence
    principal = arm.principal(app)
    from handlers.converge import Core

    core = Core(warden.policy, arm)
    verdict = await core.converge(ArmId.parse(app), dry_run=False, body=stale)
    assert arm.count("delete_assignment") == 0
    assert {p for _, _, p in arm.grants(app)} == {principal}
    assert verdict.result == "applied"


# --- cleanup -------------------------------------------------------------------------------------


async def test_a_deleted_app_has_every_grant_cleaned_up_after_a_second_look(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.delete(app)
    arm.clear()
    [out] = await warden.handle_payload([delete(app)])
    assert out.result == "deleted" and len(out.changes) == 2 and arm.ours(app) == []
    assert arm.count("get_app") == 2  # the 404 is confirmed right before revoking


async def test_a_late_write_event_of_a_deleted_app_cleans_up(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    events = [write(app)]
    await warden.handle_payload(events)
    arm.delete(app)
    [out] = await warden.handle_payload(events)
    assert out.result == "deleted" and arm.ours(app) == []


async def test_an_app_that_never_had_grants_is_deleted_with_no_change(arm: FakeArm,
                                                                      warden: Any) -> None:
    app = f"{arm.rg()}/providers/Microsoft.App/containerApps/never"
    [out] = await warden.handle_payload([delete(app)])
    assert out.result == "deleted" and out.changes == () and arm.count("get_app") == 1


async def test_an_app_recreated_before_its_delete_event_keeps_its_new_grants(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    old = arm.principal(app)
    arm.delete(app)
    app = arm.app("web", {"grant:rg": READER})
    [out] = await warden.handle_payload([delete(app)])
    new = arm.principal(app)
    assert out.result == "applied" and new != old
    assert {p for _, _, p in arm.grants(app)} == {new} and roles_of(arm, app) == ["Reader"]


async def test_an_app_recreated_between_the_listing_and_the_revoke_is_converged(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.delete(app)
    reads = 0
    real = arm.get_app

    async def get_app(target: Any) -> Any:
        nonlocal reads
        reads += 1
        if reads == 2:  # right before revoking, it exists again
            arm.app("web", {"grant:rg": READER})
        return await real(target)

    arm.get_app = get_app  # type: ignore[method-assign]
    [out] = await warden.handle_payload([delete(app)])
    assert out.result == "applied" and roles_of(arm, app) == ["Reader"]
    assert {p for _, _, p in arm.grants(app)} == {arm.principal(app)}


async def test_grants_in_a_subscription_the_policy_names_are_made_and_cleaned_up(
        arm: FakeArm, make: Any) -> None:
    shared = arm.resource(f"/subscriptions/{OTHER_SUB}/resourceGroups/shared")
    arm.scopes.add(ArmId.parse(f"/subscriptions/{OTHER_SUB}"))
    scopes = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}", shared)
    warden = make(allowed_scopes=scopes)
    app = arm.app("web", {"grant:far": f"Reader@{shared}", "grant:rg": READER})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and len(arm.ours(app)) == 2
    arm.delete(app)
    [out] = await warden.handle_payload([delete(app)])
    assert out.result == "deleted" and arm.ours(app) == []
    assert {a[1] for a in arm.calls if a[0] == "list_assignments"} >= {
        (f"/subscriptions/{SUB}", None), (f"/subscriptions/{OTHER_SUB}", None)}


async def test_a_named_subscription_that_cannot_be_listed_is_noted_and_skipped(
        arm: FakeArm, make: Any) -> None:
    far = "/subscriptions/0badbad0-0000-4000-8000-000000000000/resourceGroups/x"
    warden = make(allowed_scopes=("/subscriptions/{subscription}/resourceGroups/"
                                  "{resourceGroup}", far))
    app = arm.app("web", {"grant:rg": READER})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and any("0badbad0" in n for n in out.notes)


# --- dry run -------------------------------------------------------------------------------------


async def test_a_dry_run_plans_and_writes_nothing(arm: FakeArm, make: Any) -> None:
    app = arm.app("web", {**TWO, "grant:bad": "Reader@Microsoft.Storage/storageAccounts/no"})
    [out] = await make(dry_run=True).handle_payload([write(app)])
    assert out.result == "applied" and out.dry_run and arm.writes == 0
    assert all(c.startswith("planned: ") for c in out.changes)
    assert out.refused[0]["tag"] == "grant:bad" and "does not exist" in out.refused[0]["reason"]
    assert out.to_json()["dry_run"] is True


async def test_a_dry_run_of_a_deleted_app_plans_the_cleanup(arm: FakeArm, make: Any) -> None:
    app = arm.app("web", TWO)
    await make().handle_payload([write(app)])
    arm.delete(app)
    [out] = await make(dry_run=True).handle_payload([delete(app)])
    assert out.result == "deleted" and len(out.changes) == 2 and len(arm.ours(app)) == 2
    assert all(c.startswith("planned: revoke") for c in out.changes)


async def test_plan_of_something_that_is_not_a_workload_is_refused(warden: Any) -> None:
    out = await warden.plan_app("/subscriptions/x/resourceGroups/rg")
    assert out.result == "refused" and "not a workload id" in (out.error or "")


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get_app", "list_assignments", "find_role", "patch_app",
                                    "create_assignment"])
async def test_a_transient_failure_anywhere_is_retried_and_a_redelivery_converges(
        arm: FakeArm, make: Any, method: str) -> None:
    app = arm.app("web", TWO)
    arm.fail(method, transient(method))
    events = [write(app)]
    [out] = await make().handle_payload(events)
    assert out.result == "retry" and "503" in (out.error or "")
    [out] = await make().handle_payload(events)
    assert out.result == "applied"
    assert roles_of(arm, app) == ["Reader", "Storage Blob Data Reader"]
    assert len(arm.ours(app)) == 2  # nothing twice


async def test_a_transient_failure_on_a_revoke_is_retried(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.set_tags(app, {})
    arm.fail("delete_assignment", transient())
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "retry"
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and arm.ours(app) == []


async def test_a_permanent_failure_reading_the_app_is_reported(arm: FakeArm,
                                                              warden: Any) -> None:
    app = arm.app("web", TWO)
    arm.fail("get_app", permanent(400, "BadRequest"))
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "refused" and "400" in (out.error or "")


async def test_a_bug_is_retried_and_logged_never_lost(arm: FakeArm, warden: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    app = arm.app("web", TWO)

    async def broken(*args: Any) -> Any:
        raise KeyError("surprise")

    arm.list_assignments = broken  # type: ignore[method-assign]
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "retry" and "internal error" in (out.error or "")
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


async def test_no_token_means_retry_for_events_with_claims(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    arm.fail("own_identity", transient("token"))
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "retry" and arm.requests == 0


async def test_a_principal_not_visible_after_the_patch_is_retried(arm: FakeArm,
                                                                  warden: Any) -> None:
    app = arm.app("web", TWO)
    real = arm.get_app
    reads = 0

    async def get_app(target: Any) -> Any:
        nonlocal reads
        reads += 1
        body = await real(target)
        if reads == 2 and body:  # the read right after the PATCH: no principal yet
            body["identity"] = {"type": "SystemAssigned"}
        return body

    arm.get_app = get_app  # type: ignore[method-assign]
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "retry" and "not visible yet" in (out.error or "")


# --- workload types ------------------------------------------------------------------------------


async def test_an_app_and_a_job_of_one_name_never_share_a_grant(arm: FakeArm,
                                                                warden: Any) -> None:
    """Jobs: their events, plan, grants and cleanup work as an app's, and an app and a job
    of the same name are different workloads."""
    app = arm.app("same", {"grant:rg": READER})
    job = arm.app("same", {"grant:rg": READER}, kind="Microsoft.App/jobs")
    outs = await warden.handle_payload([write(app),
                                        event(job, op="Microsoft.App/jobs/write")])
    assert [o.result for o in outs] == ["applied", "applied"]
    assert len(arm.ours(app)) == 1 and len(arm.ours(job)) == 1
    assert arm.ours(app)[0].name != arm.ours(job)[0].name
    arm.delete(job)
    [out] = await warden.handle_payload([event(
        job, op="Microsoft.App/jobs/delete",
        event_type="Microsoft.Resources.ResourceDeleteSuccess")])
    assert out.result == "deleted" and arm.ours(job) == [] and len(arm.ours(app)) == 1
    planned = await warden.plan_app(app)
    assert planned.result == "unchanged"


async def test_a_bug_reading_the_services_identity_retries_the_events_never_loses_them(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)

    async def broken() -> Any:
        raise RuntimeError("surprise")

    arm.own_identity = broken  # type: ignore[method-assign]
    outs = await warden.handle_payload([write(app), {"not": "an event"}])
    assert [o.result for o in outs] == ["retry", "refused"]
    assert "internal error" in (outs[0].error or "")
