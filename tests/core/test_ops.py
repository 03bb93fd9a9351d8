"""The operator's commands on the core (handlers.ops): rules, release plans, policy effects,
explanations — against the fake ARM, with no HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.converge import Core
from handlers.errors import ArmError, Transient
from handlers.ids import ArmId
from handlers.observe import Observer
from handlers.ops import explain as explaining
from handlers.ops import inventory, preview
from handlers.ops import release as releasing
from handlers.plan import make_plan, release_plan
from handlers.policy import Policy
from handlers.warden import Warden

from .conftest import write
from .fakearm import OTHER_SUB, SUB, FakeArm, permanent, transient

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

STD = "/subscriptions/{subscription}/resourceGroups/rg1/providers/" \
      "Microsoft.ManagedIdentity/userAssignedIdentities/std"


async def plan_of(arm: FakeArm, app: str, policy: Policy, *, past: bool = False) -> Any:
    snap = await Observer(policy, arm).observe(ArmId.parse(app), verify_scopes=True,
                                               past_opt_out=past)
    return snap, make_plan(snap, policy)


# --- every refusal names the rule that decided it, and its item --------------------------------


async def test_each_refusal_names_its_rule_and_item(arm: FakeArm) -> None:
    arm.resource(f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/"
                 "storageAccounts/st1")
    app = arm.app("web", {
        "grant:": "Reader@.",
        "grant:grammar": "Reader",
        "grant:scope": "Reader@a//b",
        "grant:outside": f"Reader@/subscriptions/{OTHER_SUB}/resourceGroups/rg2",
        "grant:role": "No Such Role@.",
        "grant:floor": "Reader@.; Owner@.",
        "grant:broad": "Contributor@.",
        "grant:missing": "Reader@Microsoft.Storage/storageAccounts/nope",
        "grant:ok": "Reader@Microsoft.Storage/storageAccounts/st1"})
    _, plan = await plan_of(arm, app, Policy())
    got = {(r.tag, r.item): r.rule for r in plan.refusals}
    assert got == {
        ("grant:", None): "grammar", ("grant:grammar", 0): "grammar",
        ("grant:scope", 0): "scope", ("grant:outside", 0): "allowed_scopes",
        ("grant:role", 0): "role", ("grant:floor", 1): "privilege_floor",
        ("grant:broad", 0): "broad_role", ("grant:missing", 0): "scope_exists"}
    assert sorted(t for g in plan.grants for t in g.tags) == ["grant:floor", "grant:ok"]

    _, plan = await plan_of(arm, arm.app("b", {"grant:x": "Storage Blob Data Reader@."}),
                            Policy(allowed_roles=("Reader",)))
    assert [(r.tag, r.item, r.rule) for r in plan.refusals] == [("grant:x", 0, "allowed_roles")]
    _, plan = await plan_of(arm, arm.app("c", {"grant:x": "Reader@."}),
                            Policy(enable_system_identity=False))
    assert [(r.tag, r.item, r.rule) for r in plan.refusals] == [
        ("grant:x", 0, "system_identity")]


# --- release --------------------------------------------------------------------------------


async def test_release_plan_revokes_only_aca_wardens_and_detaches_only_standard_identities(
        arm: FakeArm, make: Any) -> None:
    std = arm.identity("std")
    other = arm.identity("other")
    app = arm.app("web", {"grant:rg": "Reader@.", "team": "x"}, user=(other,))
    policy = Policy(standard_identities=(STD,))
    await make(standard_identities=(STD,)).handle_payload([write(app)])
    principal = arm.principal(app)
    assert principal and len(arm.ours(app)) == 1
    rg = f"/subscriptions/{SUB}/resourceGroups/rg1"
    mine = arm.hand_assign(rg, "Storage Blob Data Reader", principal)
    same = arm.hand_assign(rg, "Reader", principal, name="0a0a0a0a-0000-0000-0000-000000000000")

    snap, _ = await plan_of(arm, app, policy)
    plan = release_plan(snap, policy, detach_identities=True)
    assert plan.action == "release" and plan.opt_out == "warden:ignore"
    assert [r.assignment.id for r in plan.revokes] == [a.id for a in arm.ours(app)]
    assert mine.id not in {r.assignment.id for r in plan.revokes}
    assert same.id not in {r.assignment.id for r in plan.revokes}
    assert [ArmId.parse(i) for i in plan.detach] == [ArmId.parse(std)]
    assert plan.release_patch is not None
    assert plan.release_patch["tags"] == {"warden:ignore": "true"}
    assert not release_plan(snap, policy).detach  # without --detach-identities: none

    applied = await Core(policy, arm).applier.apply(plan)
    writes = [m for m, _ in arm.calls if m in ("patch_app", "delete_assignment")]
    assert writes[-2:] == ["delete_assignment", "patch_app"]  # the revokes, then the tag
    assert applied.changes == tuple(r.describe() for r in plan.revokes) + plan.release_changes()
    assert plan.changes() == applied.changes  # what a dry run shows, in the same order
    body = arm.apps[ArmId.parse(app)]
    assert body["tags"] == {"grant:rg": "Reader@.", "team": "x", "warden:ignore": "true"}
    assert [ArmId.parse(k) for k in body["identity"]["userAssignedIdentities"]] == [
        ArmId.parse(other)]
    assert arm.ours(app) == [] and {mine.id.lower(), same.id.lower()} <= set(arm.assignments)

    arm.clear()  # released again: nothing left to do, nothing written
    snap, _ = await plan_of(arm, app, policy, past=True)
    again = release_plan(snap, policy, detach_identities=True)
    assert again.empty and arm.writes == 0


@pytest.mark.parametrize("error", [transient("DELETE"), permanent(403)])
async def test_a_release_whose_revoke_fails_does_not_tag_the_workload(
        arm: FakeArm, warden: Any, error: ArmError) -> None:
    app = arm.app("web", {"grant:rg": "Reader@.", "grant:b": "Storage Blob Data Reader@."})
    await warden.handle_payload([write(app)])
    assert len(arm.ours(app)) == 2
    arm.clear()
    arm.fail("delete_assignment", error, when=lambda args: args[0].role_guid == READER)
    r = await releasing.release(Core(Policy(), arm), ArmId.parse(app), yes=True,
                                detach_identities=False)
    assert r.verdict.result == ("retry" if isinstance(error, Transient) else "refused")
    assert r.verdict.error and "could not revoke Reader on" in r.verdict.error
    assert "1 of 2 revoked" in r.verdict.error and "Storage Blob Data Reader" in r.verdict.error
    assert arm.count("patch_app") == 0  # not tagged: the workload stays managed
    assert "warden:ignore" not in arm.apps[ArmId.parse(app)]["tags"]
    assert [a.role_guid for a in arm.ours(app)] == [READER]

    r = await releasing.release(Core(Policy(), arm), ArmId.parse(app), yes=True,
                                detach_identities=False)  # the rerun finishes it
    assert r.verdict.result == "applied" and arm.ours(app) == []
    assert arm.apps[ArmId.parse(app)]["tags"]["warden:ignore"] == "true"


async def test_a_release_whose_tag_fails_says_what_was_revoked_before_and_reruns(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": "Reader@."})
    await warden.handle_payload([write(app)])
    arm.fail("patch_app", transient("PATCH"))
    r = await releasing.release(Core(Policy(), arm), ArmId.parse(app), yes=True,
                                detach_identities=False)
    assert r.verdict.result == "retry" and r.verdict.error is not None
    assert "tag warden:ignore=true (opt out) failed" in r.verdict.error
    assert "revoke Reader on" in r.verdict.error and arm.ours(app) == []
    r = await releasing.release(Core(Policy(), arm), ArmId.parse(app), yes=True,
                                detach_identities=False)  # the rerun finishes it
    assert r.verdict.result == "applied"
    assert r.verdict.changes == ("tag warden:ignore=true (opt out)",)


async def test_release_revokes_what_a_racing_convergence_granted_before_the_tag(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": "Reader@."})
    await warden.handle_payload([write(app)])
    patch = arm.patch_app

    async def racing(target: ArmId, body: dict[str, Any]) -> dict[str, Any] | None:
        # a convergence that read the workload untagged grants again after the revokes
        out = await Warden(Policy(), arm).handle_payload([write(app)])
        assert [o.result for o in out] == ["applied"] and len(arm.ours(app)) == 1
        return await patch(target, body)

    arm.patch_app = racing  # type: ignore[method-assign]
    r = await releasing.release(Core(Policy(), arm), ArmId.parse(app), yes=True,
                                detach_identities=False)
    assert r.verdict.result == "applied" and arm.ours(app) == []
    assert [c.split(" on ")[0] for c in r.verdict.changes] == [
        "revoke Reader", "tag warden:ignore=true (opt out)", "revoke Reader"]


async def test_releasing_many_re_reads_once_for_all_and_still_revokes_a_racing_grant(
        arm: FakeArm, warden: Any) -> None:
    apps = [arm.app(f"w{i}", {"grant:rg": "Reader@."}) for i in range(4)]
    await warden.handle_payload([write(a) for a in apps])
    patch = arm.patch_app

    async def racing(target: ArmId, body: dict[str, Any]) -> dict[str, Any] | None:
        if target == ArmId.parse(apps[0]):  # a convergence that read it untagged
            out = await Warden(Policy(), arm).handle_payload([write(apps[0])])
            assert [o.result for o in out] == ["applied"]
        return await patch(target, body)

    arm.patch_app = racing  # type: ignore[method-assign]
    core = Core(Policy(), arm)
    done = [await releasing.release(core, ArmId.parse(a), yes=True, detach_identities=False,
                                    settle=False) for a in apps]
    assert all(r.unsettled is not None for r in done)
    assert len(arm.ours(apps[0])) == 1  # granted again meanwhile, not revoked yet
    arm.clear()
    done = await releasing.settle(core, done)
    assert arm.count("list_assignments") == 1  # one fresh listing for all four
    assert all(arm.ours(a) == [] for a in apps)
    assert done[0].verdict.changes[-1].startswith("revoke Reader on")
    assert [len(r.verdict.changes) for r in done[1:]] == [2, 2, 2]  # revoke, tag
    assert all(r.unsettled is None and r.verdict.result == "applied" for r in done)


async def test_release_keeps_the_opt_out_tags_spelling_and_does_not_tag_twice(
        arm: FakeArm) -> None:
    policy = Policy()
    snap, _ = await plan_of(arm, arm.app("a", {"Warden:IGNORE": "false"}), policy)
    assert release_plan(snap, policy).release_patch == {"tags": {"Warden:IGNORE": "true"}}
    snap, _ = await plan_of(arm, arm.app("b", {"warden:ignore": "TRUE"}), policy, past=True)
    assert release_plan(snap, policy).release_patch is None


async def test_release_of_a_gone_workload_only_revokes_its_grants(arm: FakeArm,
                                                                  warden: Any) -> None:
    app = arm.app("web", {"grant:rg": "Reader@."})
    await warden.handle_payload([write(app)])
    arm.delete(app)
    snap, _ = await plan_of(arm, app, Policy())
    plan = release_plan(snap, Policy(), detach_identities=True)
    assert plan.action == "cleanup" and len(plan.revokes) == 1 and plan.release_patch is None


# --- the effect of switching policies -----------------------------------------------------------


async def test_effect_lists_revoked_newly_refused_and_newly_granted(arm: FakeArm,
                                                                   warden: Any) -> None:
    app = arm.app("web", {"grant:blob": "Storage Blob Data Reader@.",
                          "grant:ct": "Contributor@.", "grant:rg": "Reader@."})
    await warden.handle_payload([write(app)])
    now = Policy()
    candidate = Policy(allowed_roles=("Reader", "Contributor"))
    _, before = await plan_of(arm, app, now)
    _, after = await plan_of(arm, app, candidate)
    e = preview.effect(before, now, after, candidate)
    assert e.revoked == (f"Storage Blob Data Reader on /subscriptions/{SUB}/resourceGroups/rg1",)
    assert [(r.tag, r.rule) for r in e.newly_refused] == [("grant:blob", "allowed_roles")]
    assert e.newly_granted == (
        f"Contributor on /subscriptions/{SUB}/resourceGroups/rg1 (tag grant:ct)",)
    assert preview.effect(before, now, before, now).empty

    gone = Policy(resource_groups=("rg-other",))
    _, after = await plan_of(arm, app, gone)
    e = preview.effect(before, now, after, gone)
    assert not e.managed_after and not e.revoked and "apps.resource_groups" in str(
        e.unmanaged_reason)
    assert "1 no longer managed" in preview.summary([e], 1)


# --- explain --------------------------------------------------------------------------------


async def test_explain_holds_refuses_and_lists_what_it_did_not_make(arm: FakeArm,
                                                                    make: Any) -> None:
    other = arm.identity("other")
    app = arm.app("web", {"grant:rg": "Reader@.", "grant:admin": "Owner@.",
                          "grant:kv": "Storage Blob Data Reader@."}, user=(other,))
    policy = Policy(standard_identities=(STD,))
    await make(standard_identities=(STD,)).handle_payload([write(app)])
    principal = arm.principal(app)
    assert principal
    rg = f"/subscriptions/{SUB}/resourceGroups/rg1"
    person = arm.hand_assign(rg, "Monitoring Reader", principal)
    ua = arm.hand_assign(rg, "Reader", arm.apps[ArmId.parse(app)]["identity"][
        "userAssignedIdentities"][next(iter(arm.apps[ArmId.parse(app)]["identity"][
            "userAssignedIdentities"]))]["principalId"])
    arm.set_tags(app, {"grant:rg": "Reader@.", "grant:admin": "Owner@.",
                       "grant:mon": "Monitoring Reader@.", "grant:new": "Storage Queue Data "
                       "Reader@."})
    arm.clear()
    e = explaining.explain(await explaining.gather(Observer(policy, arm), ArmId.parse(app)),
                           policy)
    assert arm.writes == 0
    items = {t.name: t.items for t in e.tags}
    [rg_item] = items["grant:rg"]
    assert rg_item.status == "granted" and rg_item.held_by_us and rg_item.rule is None
    assert [p.rule for p in rg_item.passed] == [
        "grammar", "scope", "allowed_scopes", "role", "privilege_floor", "broad_role",
        "allowed_roles", "scope_exists", "system_identity"]
    [admin] = items["grant:admin"]
    assert (admin.status, admin.rule) == ("refused", "privilege_floor")
    assert "no setting allows it" in admin.reason
    assert [p.rule for p in admin.passed] == ["grammar", "scope", "allowed_scopes", "role"]
    [mon] = items["grant:mon"]
    assert mon.status == "granted" and not mon.held_by_us and mon.holder == person
    [new] = items["grant:new"]
    assert new.status == "pending"
    assert sorted((o.role, o.keep) for o in e.owned) == [("Reader", True),
                                                         ("Storage Blob Data Reader", False)]
    revoked = next(o for o in e.owned if not o.keep)
    assert revoked.reason == "no grant tag asks for it any more"
    assert {(o.assignment.id, o.identity) for o in e.others} == {
        (person.id, "system-assigned"), (ua.id, next(iter(arm.apps[ArmId.parse(app)][
            "identity"]["userAssignedIdentities"])))}
    assert [i.status for i in e.identities] == ["refused"]  # std does not exist
    assert e.pending == (
        f"grant Storage Queue Data Reader on {rg} (tag grant:new)",
        f"revoke Storage Blob Data Reader on {rg}")
    assert "REFUSED (privilege floor)" in explaining.render(e)
    assert e.to_json()["grant_tags"][0]["items"][0]["item"] == 1
    owned = {o["role"]: o for o in e.to_json()["owned_assignments"]}
    assert list(owned["Reader"]) == ["id", "role", "role_id", "scope", "principal_id", "tags",
                                     "status", "reason"]
    assert owned["Storage Blob Data Reader"]["status"] == "revoke"


async def test_explain_of_an_opted_out_workload_evaluates_nothing_and_shows_its_grants(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": "Reader@."})
    await warden.handle_payload([write(app)])
    arm.set_tags(app, {"grant:rg": "Reader@.", "warden:ignore": "true"})
    e = explaining.explain(await explaining.gather(Observer(Policy(), arm), ArmId.parse(app)),
                           Policy())
    assert e.unmanaged == "opted out by tag warden:ignore" and e.pending == ()
    assert [i.status for t in e.tags for i in t.items] == ["not evaluated"]
    assert [o.keep for o in e.owned] == [True]


async def test_inventory_rows_name_tags_and_orphans(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": "Reader@.", "grant:b": "reader@."})
    gone = arm.app("old", {"grant:rg": "Reader@."})
    await warden.handle_payload([write(app), write(gone)])
    arm.delete(gone)
    observer = Observer(Policy(), arm)
    rows = await inventory.rows_of(observer, await observer.survey(SUB, None))
    assert [(str(r.workload), r.status) for r in rows] == [(str(ArmId.parse(app)), "managed"),
                                                          (str(ArmId.parse(gone)), "gone")]
    assert [(o.role, o.tags) for o in rows[0].assignments] == [("Reader", ("grant:b",
                                                                          "grant:rg"))]
    assert rows[1].orphan and [o.role for o in rows[1].assignments] == ["Reader"]
    [line] = rows[0].to_json()["assignments"]
    assert list(line) == ["id", "name", "role", "role_id", "scope", "principal_id", "tags"]
    assert (line["role"], line["tags"]) == ("Reader", ["grant:b", "grant:rg"])
    assert line["name"] == rows[0].assignments[0].assignment.name
    assert "orphan (gone)" in inventory.render_table(rows)


# --- the sweep's outcome for a subscription it could not read ---------------------------------


def test_an_unswept_subscription_is_told_by_its_outcome() -> None:
    from handlers.ops.tenant import unswept
    from handlers.report import Outcome

    assert unswept(Outcome(None, f"/subscriptions/{SUB.upper()}", "refused")) == SUB.lower()
    for app in (None, f"/subscriptions/{SUB}/resourceGroups/rg1",
                f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.App/"
                "containerApps/web", "/providers/Microsoft.Management/managementGroups/mg"):
        assert unswept(Outcome(None, app, "refused")) is None, app
    assert unswept(Outcome(None, f"/subscriptions/{SUB}", "retry")) == SUB  # transient too
