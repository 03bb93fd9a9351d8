"""The sweep (reconcile): every workload from the list, orphans cleaned up, one listing each."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.model import description_for

from .conftest import write
from .fakearm import OTHER_SUB, SUB, FakeArm, permanent, transient

READER = "Reader@."
TWO = {"grant:rg": READER, "grant:blob": "Storage Blob Data Reader@."}


async def test_the_sweep_converges_every_app_from_the_list_without_reading_each(
        arm: FakeArm, warden: Any) -> None:
    apps = [arm.app(f"a{i}", TWO) for i in range(5)]
    outs = await warden.reconcile_all([SUB])
    assert sorted(o.app or "" for o in outs) == sorted(apps)
    assert {o.result for o in outs} == {"applied"}
    # reads: the lists (apps, jobs), one listing, the two role definitions, the reads
    # after each PATCH
    assert arm.count("list_apps") == 2 and arm.count("list_assignments") == 1
    assert arm.count("get_app") == 5  # only to learn each new principal after its PATCH
    arm.clear()
    again = await warden.reconcile_all([SUB])
    assert {o.result for o in again} == {"unchanged"}
    assert arm.requests == 3 and arm.writes == 0  # the lists and the listing: nothing per app


async def test_the_sweep_cleans_up_the_grants_of_apps_that_are_gone(arm: FakeArm,
                                                                    warden: Any) -> None:
    keep, gone = arm.app("keep", TWO), arm.app("gone", TWO)
    await warden.handle_payload([write(keep), write(gone)])
    arm.delete(gone)  # its delete event is lost
    hand = arm.hand_assign(arm.rg(), "Reader", "0e000000-0000-0000-0000-000000000001")
    outs = {o.app: o for o in await warden.reconcile_all([SUB])}
    assert outs[gone].result == "deleted" and len(outs[gone].changes) == 2
    assert outs[keep].result == "unchanged"
    assert arm.ours(gone) == [] and len(arm.ours(keep)) == 2
    assert hand.id.lower() in arm.assignments


async def test_the_sweep_revokes_grants_of_an_earlier_principal(arm: FakeArm,
                                                                warden: Any) -> None:
    app = arm.app("web", {"grant:rg": READER})
    await warden.handle_payload([write(app)])
    arm.set_identity(app, system=False)
    arm.set_identity(app, system=True)  # its events are lost
    [out] = await warden.reconcile_all([SUB])
    assert out.result == "applied"
    assert {p for _, _, p in arm.grants(app)} == {arm.principal(app)}


async def test_the_sweep_lists_subscriptions_when_none_are_given(
        make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_SUBSCRIPTIONS", raising=False)
    arm = FakeArm(subscriptions=(SUB, OTHER_SUB))
    from handlers.policy import Policy
    from handlers.warden import Warden

    a, b = arm.app("a", {"grant:rg": READER}), arm.app("b", {"grant:rg": READER},
                                                        sub=OTHER_SUB)
    outs = await Warden(Policy(), arm).reconcile_all()
    assert sorted(o.app or "" for o in outs) == sorted([a, b])
    assert arm.count("list_subscriptions") == 1


async def test_the_sweep_takes_warden_subscriptions_from_the_environment(
        arm: FakeArm, warden: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_SUBSCRIPTIONS", f" {SUB} ,")
    arm.app("a", {"grant:rg": READER})
    outs = await warden.reconcile_all()
    assert [o.result for o in outs] == ["applied"] and arm.count("list_subscriptions") == 0


async def test_a_subscription_that_cannot_be_listed_is_one_outcome_and_the_others_go_on(
        make: Any) -> None:
    arm = FakeArm(subscriptions=(SUB, OTHER_SUB))
    from handlers.policy import Policy
    from handlers.warden import Warden

    arm.app("b", {"grant:rg": READER}, sub=OTHER_SUB)
    arm.fail("list_apps", transient(), when=lambda a: a[0] == SUB)
    outs = await Warden(Policy(), arm).reconcile_all([SUB, OTHER_SUB])
    assert [o.result for o in outs] == ["retry", "applied"]
    assert outs[0].app == f"/subscriptions/{SUB}"


async def test_a_subscription_listing_refused_for_good_is_reported(arm: FakeArm,
                                                                    warden: Any) -> None:
    arm.fail("list_assignments", permanent(403, "AuthorizationFailed"))
    [out] = await warden.reconcile_all([SUB])
    assert out.result == "refused" and "403" in (out.error or "")


async def test_a_dry_run_sweep_writes_nothing(arm: FakeArm, make: Any) -> None:
    gone = arm.app("gone", TWO)
    await make().handle_payload([write(gone)])
    arm.delete(gone)
    arm.app("new", TWO)
    arm.clear()
    outs = await make(dry_run=True).reconcile_all([SUB])
    assert arm.writes == 0 and {o.result for o in outs} == {"applied", "deleted"}
    assert all(c.startswith("planned: ") for o in outs for c in o.changes)


async def test_the_sweep_leaves_unmanaged_groups_and_opted_out_apps_alone(arm: FakeArm,
                                                                          make: Any) -> None:
    dev = arm.app("dev", TWO, rg="dev-1")
    out_app = arm.app("out", {**TWO, "warden:ignore": "true"}, rg="prod-1")
    outs = {o.app: o for o in await make(resource_groups=("prod-*",)).reconcile_all([SUB])}
    assert outs[dev].result == "ignored" and outs[out_app].result == "ignored"
    assert arm.writes == 0


async def test_orphans_in_a_named_subscription_are_cleaned_up(arm: FakeArm, make: Any) -> None:
    shared = arm.rg("shared", OTHER_SUB)
    arm.resource(f"/subscriptions/{OTHER_SUB}")
    warden = make(allowed_scopes=("/subscriptions/{subscription}/resourceGroups/"
                                  "{resourceGroup}", shared))
    gone = arm.app("gone", {"grant:far": f"Reader@{shared}"})
    await warden.handle_payload([write(gone)])
    assert len(arm.ours(gone)) == 1
    arm.delete(gone)
    outs = await warden.reconcile_all([SUB])
    assert [(o.app, o.result) for o in outs] == [(gone, "deleted")]
    assert arm.ours(gone) == []


async def test_grants_of_an_app_in_another_subscription_are_left_to_that_sweep(
        arm: FakeArm, warden: Any) -> None:
    far = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg1/providers/Microsoft.App/" \
          "containerApps/far"
    orphan = arm.hand_assign(arm.rg(), "Reader", "0e000000-0000-0000-0000-000000000002",
                             description=description_for(far))
    outs = await warden.reconcile_all([SUB])
    assert outs == [] and orphan.id.lower() in arm.assignments
