"""report (frozen verdicts and outcomes), apply (the only writes) and observe (one read)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import pytest

from handlers.apply import Applied, Applier
from handlers.errors import Permanent, Transient
from handlers.grants import Refusal
from handlers.ids import ArmId
from handlers.model import Assignment, AssignmentIndex, role_definition_id, role_name
from handlers.observe import Observer
from handlers.plan import Plan, make_plan
from handlers.policy import Policy
from handlers.report import (
    Outcome,
    Verdict,
    exit_code,
    failed,
    outcome,
    summary,
    tally,
    verdict,
)

from .fakearm import SUB, FakeArm, permanent, transient

READER = "Reader@."
APP = ArmId.parse(f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.App/"
                  "containerApps/web")


# --- report ---------------------------------------------------------------------------------------


def test_the_outcome_line_has_the_contracts_keys_first_and_its_extras_after() -> None:
    out = Outcome("e1", "/app", "applied", ("grant x",), ({"tag": "t", "reason": "r"},), None,
                  "c1", 1.5, None, ("a note",), True, "oid-1")
    line = out.to_json()
    assert list(line)[:6] == ["event_id", "app", "result", "changes", "refused", "error"]
    assert line["caller"] == "oid-1" and line["notes"] == ["a note"] and line["dry_run"]
    assert "reason" not in line
    json.dumps(line)


def test_an_outcome_is_frozen_all_the_way_down() -> None:
    v = Verdict("/app", "applied", ("x",), (Refusal("why", tag="t"),))
    out = outcome(v, event_id="e", started=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.result = "retry"  # type: ignore[misc]
    with pytest.raises(TypeError):
        out.refused[0]["reason"] = "patched"  # type: ignore[index]
    assert isinstance(out.changes, tuple) and out.refused[0] == {"tag": "t", "reason": "why"}


@pytest.mark.parametrize(("error", "result"), [
    (Transient("net"), "retry"), (Permanent("no"), "refused"), (KeyError("bug"), "retry"),
])
def test_failures_map_to_retry_or_refused(error: BaseException, result: str) -> None:
    v = failed("/app", error)
    assert v.result == result and v.error
    if isinstance(error, KeyError):
        assert "internal error" in (v.error or "")


def test_a_dry_run_verdict_prefixes_planned_once_and_keeps_the_plans_refusals() -> None:
    plan = Plan(APP, "converge", enable_system=True, system=True,
                refusals=(Refusal("r", tag="t"),), notes=("n", "n"))
    v = verdict(plan, None)
    assert v.changes == ("planned: enable system-assigned identity",) and v.dry_run
    assert v.result == "applied" and v.refused == plan.refusals and v.notes == ("n",)


def test_an_applied_verdict_adds_what_arm_refused_on_the_way() -> None:
    plan = Plan(APP, "converge", refusals=(Refusal("a", tag="t1"),))
    v = verdict(plan, Applied((), (Refusal("b", tag="t2"),), ("note",)))
    assert v.result == "unchanged" and [r.tag for r in v.refused] == ["t1", "t2"]
    assert v.notes == ("note",) and not v.dry_run


@pytest.mark.parametrize(("action", "changes", "result"), [
    ("cleanup", (), "deleted"), ("cleanup", ("revoke x",), "deleted"),
    ("converge", (), "unchanged"), ("converge", ("grant x",), "applied"),
])
def test_the_result_follows_the_action_and_the_changes(action: Any, changes: tuple[str, ...],
                                                       result: str) -> None:
    assert verdict(Plan(APP, action), Applied(changes)).result == result


def test_exit_code_is_75_exactly_when_something_must_be_retried() -> None:
    def o(result: Any) -> Outcome:
        return Outcome(None, None, result)
    assert exit_code([o("applied"), o("refused"), o("ignored")]) == 0
    assert exit_code([o("applied"), o("retry")]) == 75
    assert exit_code([]) == 0


def test_tally_counts_results_by_name_and_summary_words_them() -> None:
    counts = tally(["unchanged", "applied", "unchanged", "retry"])
    assert counts == {"applied": 1, "retry": 1, "unchanged": 2}
    assert list(counts) == ["applied", "retry", "unchanged"]
    assert summary(counts) == "1 applied, 1 retry, 2 unchanged"
    assert summary(counts, {"applied": "would change"}).startswith("1 would change, ")
    assert tally([]) == {} and summary({}) == ""


# --- apply ----------------------------------------------------------------------------------------


async def plan_for(arm: FakeArm, app: str, policy: Policy | None = None) -> Plan:
    observer = Observer(policy or Policy(), arm)
    return make_plan(await observer.observe(ArmId.parse(app)), policy or Policy())


async def test_apply_writes_in_order_identities_patch_grants_revokes(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER})
    await Applier(arm).apply(await plan_for(arm, app))
    arm.set_identity(app, system=False)  # the next plan: enable, grant, and revoke the old
    plan = await plan_for(arm, app)
    arm.clear()
    await Applier(arm).apply(plan)
    assert [m for m, _ in arm.calls] == ["patch_app", "get_app", "create_assignment",
                                         "delete_assignment"]


async def test_apply_never_reads_but_for_the_new_principal(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER}, system=True)
    plan = await plan_for(arm, app)
    arm.clear()
    applied = await Applier(arm).apply(plan)
    assert [m for m, _ in arm.calls] == ["create_assignment"] and applied.changes


async def test_apply_of_an_empty_plan_writes_nothing(arm: FakeArm) -> None:
    applied = await Applier(arm).apply(Plan(APP, "converge"))
    assert applied == Applied() and arm.calls == []


async def test_a_failed_creation_is_forgotten_and_a_success_remembered(arm: FakeArm) -> None:
    std = f"/subscriptions/{SUB}/resourceGroups/later/providers/" \
          "Microsoft.ManagedIdentity/userAssignedIdentities/std"
    plan = Plan(APP, "converge", create_identities=(std,), attach=(std,), location="eastus")
    arm.app("web", {})
    applier = Applier(arm)
    first = await applier.apply(plan)
    assert first.refusals[0].identity == std and first.created_identities == ()
    arm.rg("later")
    second = await applier.apply(plan)
    assert second.created_identities == (std,) and second.refusals == ()
    await applier.apply(plan)
    assert arm.count("create_identity") == 2  # the success is not repeated


async def test_a_transient_failure_creating_an_identity_propagates(arm: FakeArm) -> None:
    std = arm.identity("std")
    del arm.identities[ArmId.parse(std)]
    arm.fail("create_identity", transient())
    with pytest.raises(Transient):
        await Applier(arm).apply(Plan(APP, "converge", create_identities=(std,),
                                      attach=(std,), location="eastus"))


async def test_a_patch_refused_for_another_reason_propagates(arm: FakeArm) -> None:
    arm.app("web", {})
    arm.fail("patch_app", permanent(400, "InvalidRequest"))
    with pytest.raises(Permanent):
        await Applier(arm).apply(Plan(APP, "converge", enable_system=True, system=True))


async def test_when_every_identity_to_attach_is_denied_and_nothing_else_is_patched(
        arm: FakeArm) -> None:
    std = arm.identity("std")
    arm.denied_identities.add(ArmId.parse(std))
    arm.app("web", {}, system=True)
    applied = await Applier(arm).apply(Plan(APP, "converge", system=True, attach=(std,),
                                            principal="p"))
    assert applied.changes == () and [r.identity for r in applied.refusals] == [std]
    assert arm.count("patch_app") == 1


async def test_apply_patches_exactly_the_plans_identity_patch(arm: FakeArm) -> None:
    std = arm.identity("std")
    app = arm.app("web", {"grant:a": READER}, user=(arm.identity("own"),))
    plan = await plan_for(arm, app, Policy(standard_identities=(std,)))
    assert plan.enable_system and plan.attach == (std,)
    arm.clear()
    await Applier(arm).apply(plan)
    assert [args[1] for m, args in arm.calls if m == "patch_app"] == [plan.identity_patch()]


async def test_an_identity_arm_denies_is_left_out_of_the_plans_patch_and_the_rest_sent(
        arm: FakeArm) -> None:
    std, denied = arm.identity("std"), arm.identity("denied")
    arm.denied_identities.add(ArmId.parse(denied))
    arm.app("web", {}, system=True)
    plan = Plan(APP, "converge", system=True, attach=(std, denied), principal="p")
    applied = await Applier(arm).apply(plan)
    sent = [args[1] for m, args in arm.calls if m == "patch_app"]
    assert sent == [plan.identity_patch(), plan.identity_patch([denied.upper()])]
    assert list(sent[1]["identity"]["userAssignedIdentities"]) == [std]
    assert applied.changes == (f"attach identity {std}",)
    assert [r.identity for r in applied.refusals] == [denied]


async def test_grants_without_a_principal_are_retried_not_made(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER})
    plan = await plan_for(arm, app, Policy(enable_system_identity=True))
    plan = dataclasses.replace(plan, enable_system=False, system=False)
    with pytest.raises(Transient, match="principal not visible"):
        await Applier(arm).apply(plan)
    assert arm.count("create_assignment") == 0


# --- observe --------------------------------------------------------------------------------


async def test_observe_reads_everything_a_decision_needs_once(arm: FakeArm) -> None:
    std = arm.identity("std")
    app = arm.app("web", {"grant:a": READER, "grant:bad": "Nope@."}, system=True)
    observer = Observer(Policy(standard_identities=(std,)), arm)
    snap = await observer.observe(ArmId.parse(app))
    assert snap.state is not None and snap.identities == {std: True}
    assert [g.role.name if g.role else None for g in snap.grants] == ["Reader", None]
    assert snap.owned == () and snap.held == ()
    assert sorted(m for m, _ in arm.calls) == ["find_role", "find_role", "get_app",
                                               "get_identity", "list_assignments"]


async def test_observe_stops_after_the_workload_when_it_opted_out(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER, "warden:ignore": "true"})
    snap = await Observer(Policy(), arm).observe(ArmId.parse(app))
    assert snap.state is not None and snap.grants == () and arm.count() == 1


async def test_observe_uses_the_body_and_listings_it_is_given(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER})
    body = await arm.get_app(ArmId.parse(app))
    arm.clear()
    snap = await Observer(Policy(), arm).observe(ArmId.parse(app), body=body,
                                                 given={SUB: AssignmentIndex()})
    assert snap.state is not None and [m for m, _ in arm.calls] == ["find_role"]


async def test_observe_of_a_gone_workload_reads_its_grants_and_their_role_names(
        arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER})
    from handlers.warden import Warden

    from .conftest import write

    await Warden(Policy(), arm).handle_payload([write(app)])
    arm.delete(app)
    observer = Observer(Policy(), arm)
    snap = await observer.observe(ArmId.parse(app))
    assert snap.state is None and len(snap.owned) == 1
    assert set(snap.role_names.values()) == {"Reader"}


async def test_role_names_are_read_once_each_and_an_unknown_role_is_its_guid(
        arm: FakeArm) -> None:
    reader, blob, gone = ("acdd72a7-3385-48ef-bd42-f606fba81ae7",
                          "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", str(uuid.uuid4()))

    def assigned(guid: str) -> Assignment:
        return Assignment(f"/a/{guid}", guid, str(APP), role_definition_id(SUB, guid), "p")

    names = await Observer(Policy(), arm).role_names(
        SUB, [assigned(reader), assigned(blob), assigned(gone), assigned(reader)],
        known={blob: "known already"})
    assert names == {reader: "Reader", blob: "known already", gone: gone}
    assert arm.count("find_role") == 2  # Reader and the gone one; blob was known
    assert [role_name(names, g) for g in (reader, "never-listed")] == ["Reader", "never-listed"]


async def test_a_role_that_cannot_be_read_refuses_its_grant_only(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": READER, "grant:b": "Storage Blob Data Reader@."})
    arm.fail("find_role", permanent(403), when=lambda a: a[1] == "Reader")
    snap = await Observer(Policy(), arm).observe(ArmId.parse(app))
    assert [r.tag for r in snap.grant_refusals] == ["grant:a"]
    assert "cannot read role" in snap.grant_refusals[0].reason
    assert [g.request.tag for g in snap.grants] == ["grant:b"]


async def test_observe_verifies_scopes_only_when_asked(arm: FakeArm) -> None:
    app = arm.app("web", {"grant:a": "Reader@Microsoft.Storage/storageAccounts/no"})
    observer = Observer(Policy(), arm)
    assert (await observer.observe(ArmId.parse(app))).missing_scopes == frozenset()
    snap = await observer.observe(ArmId.parse(app), verify_scopes=True)
    assert len(snap.missing_scopes) == 1 and arm.count("scope_exists") == 1


async def test_the_listing_of_the_apps_own_subscription_must_be_readable(arm: FakeArm) -> None:
    app = arm.app("web", {})
    arm.fail("list_assignments", permanent(403))
    with pytest.raises(Permanent):
        await Observer(Policy(), arm).observe(ArmId.parse(app))


async def test_concurrent_observations_share_one_listing_and_one_role_read(
        arm: FakeArm) -> None:
    apps = [arm.app(f"a{i}", {"grant:a": READER}) for i in range(10)]
    observer = Observer(Policy(), arm)
    start = observer.clock()
    await asyncio.gather(*(observer.observe(ArmId.parse(a), not_before=start) for a in apps))
    assert arm.count("list_assignments") == 1 and arm.count("find_role") == 1


async def test_a_listing_started_before_not_before_is_never_reused(arm: FakeArm) -> None:
    app = arm.app("web", {})
    observer = Observer(Policy(), arm)
    await observer.observe(ArmId.parse(app), not_before=observer.clock())
    await asyncio.sleep(0.001)
    await observer.observe(ArmId.parse(app), not_before=observer.clock())
    assert arm.count("list_assignments") == 2


async def test_role_aliases_share_the_cache(arm: FakeArm) -> None:
    observer = Observer(Policy(), arm)
    info = await observer.role(SUB, "READER")
    assert info is not None
    assert await observer.role(SUB, info.guid) is info
    assert await observer.role(SUB, "reader") is info
    assert arm.count("find_role") == 1
    assert await observer.role_name(SUB, "00000000-0000-0000-0000-00000000dead") == (
        "00000000-0000-0000-0000-00000000dead")
