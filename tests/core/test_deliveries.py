"""Deliveries: one convergence per workload per delivery, self-caused events, call economy."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from handlers.report import exit_code

from .conftest import delete, event, failure, tags_delete, tags_write, write
from .fakearm import PERSON_OID, SERVICE_APPID, SERVICE_OID, FakeArm

READER = "Reader@."
BLOB = "Storage Blob Data Reader@."
TWO = {"grant:rg": READER, "grant:blob": BLOB}


def k_tags(k: int) -> dict[str, str]:
    roles = ["Reader", "Storage Blob Data Reader", "Storage Queue Data Reader",
             "Monitoring Reader", "Key Vault Reader"]
    return {f"grant:g{i}": f"{roles[i]}@." for i in range(k)}


# --- one convergence per workload per delivery ---------------------------------------------------


async def test_9500_copies_of_one_event_are_one_convergence_with_an_outcome_each(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    one = write(app)
    outs = await warden.handle_payload([dict(one) for _ in range(9500)])
    assert len(outs) == 9500 and {o.result for o in outs} == {"applied"}
    assert all(o.event_id == one["id"] for o in outs)
    # one read, one PATCH (accepted with no body: one read for the principal), two PUTs
    assert arm.count("get_app") == 2 and arm.count("patch_app") == 1
    assert arm.count("create_assignment") == 2
    assert len(arm.ours(app)) == 2


async def test_three_events_of_one_app_cost_no_more_than_one(arm: FakeArm, make: Any) -> None:
    single, triple = arm.app("one", TWO), arm.app("three", TWO)
    await make().handle_payload([write(single)])
    cost_one = (arm.requests, arm.writes)
    arm.clear()
    own = write(triple, oid=SERVICE_OID)
    outs = await make().handle_payload([write(triple), tags_write(triple), own])
    assert [o.result for o in outs] == ["applied", "applied", "ignored"]
    assert (arm.requests, arm.writes) == cost_one


async def test_events_of_one_delivery_share_the_convergences_result_but_not_its_identity(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:rg": READER})
    first, second = write(app, oid="0e1" + PERSON_OID[3:]), tags_write(app)
    outs = await warden.handle_payload([first, second])
    assert [o.event_id for o in outs] == [first["id"], second["id"]]
    assert [o.caller for o in outs] == ["0e1" + PERSON_OID[3:], PERSON_OID]
    assert [o.correlation_id for o in outs] == [first["data"]["correlationId"],
                                                second["data"]["correlationId"]]
    assert outs[0].changes == outs[1].changes and outs[0].result == outs[1].result


async def test_workloads_of_one_delivery_converge_concurrently_in_input_order(
        arm: FakeArm, warden: Any) -> None:
    apps = [arm.app(f"a{i}", {"grant:rg": READER}) for i in range(30)]
    events = [write(a) for a in apps]
    outs = await warden.handle_payload(events)
    assert [o.event_id for o in outs] == [e["id"] for e in events]
    assert [o.app for o in outs] == apps
    assert arm.peak_in_flight > 1


async def test_one_listing_serves_every_workload_of_a_delivery(arm: FakeArm,
                                                               warden: Any) -> None:
    apps = [arm.app(f"a{i}", TWO) for i in range(20)]
    await warden.handle_payload([write(a) for a in apps])
    assert arm.count("list_assignments") == 1


async def test_a_listing_is_not_reused_by_a_later_delivery(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    await warden.handle_payload([write(app)])
    assert arm.count("list_assignments") == 2


async def test_a_later_delivery_sees_a_grant_removed_by_hand_and_restores_it(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    gone = arm.ours(app)[0]
    del arm.assignments[gone.id.lower()]
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied" and len(arm.ours(app)) == 2


# --- self-caused events --------------------------------------------------------------------------


@pytest.mark.parametrize("claims", [{"oid": SERVICE_OID}, {"oid": None, "appid": SERVICE_APPID},
                                    {"oid": SERVICE_OID.upper()}])
async def test_events_of_aca_wardens_own_writes_are_ignored_without_arm_requests(
        arm: FakeArm, warden: Any, claims: dict[str, Any]) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([write(app, **claims)])
    assert out.result == "ignored" and out.reason == "caused by aca-warden's own write"
    assert arm.requests == 0


async def test_a_failed_write_of_aca_wardens_own_is_converged_again(arm: FakeArm,
                                                                     warden: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([failure(app, oid=SERVICE_OID)])
    assert out.result == "applied" and len(arm.ours(app)) == 2


async def test_an_event_without_claims_is_not_taken_for_aca_wardens(arm: FakeArm,
                                                                    warden: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([write(app, oid=None)])
    assert out.result == "applied" and out.caller is None
    assert arm.count("own_identity") == 0


async def test_own_and_foreign_events_of_one_app_converge_once(arm: FakeArm,
                                                              warden: Any) -> None:
    app = arm.app("web", TWO)
    outs = await warden.handle_payload([write(app, oid=SERVICE_OID), write(app)])
    assert [o.result for o in outs] == ["ignored", "applied"]
    assert arm.count("patch_app") == 1 and arm.count("list_assignments") == 1


# --- the events table ----------------------------------------------------------------------------


async def test_deleting_every_tag_revokes_the_grants_they_asked_for(arm: FakeArm,
                                                                   warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.set_tags(app, {})
    [out] = await warden.handle_payload([tags_delete(app)])
    assert out.result == "applied" and sorted(c.split(" on ")[0] for c in out.changes) == [
        "revoke Reader", "revoke Storage Blob Data Reader"]
    assert arm.ours(app) == []


async def test_a_tags_write_on_the_bare_app_id_reconciles_it(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([event(app, op="Microsoft.Resources/tags/write")])
    assert out.result == "applied"


@pytest.mark.parametrize("item", [
    {"op": "Microsoft.App/containerApps/listSecrets/action",
     "event_type": "Microsoft.Resources.ResourceActionSuccess"},
    {"op": "Microsoft.Resources/tags/write",
     "event_type": "Microsoft.Resources.ResourceWriteFailure"},
    {"op": "Microsoft.App/containerApps/write",
     "event_type": "Microsoft.Resources.ResourceWriteCancel"},
    {"op": "Microsoft.App/containerApps/delete",
     "event_type": "Microsoft.Resources.ResourceDeleteFailure"},
    {"op": "Microsoft.Storage/storageAccounts/write"},
])
async def test_events_the_table_does_not_list_cost_nothing(arm: FakeArm, warden: Any,
                                                          item: dict[str, str]) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([event(app, **item)])
    assert out.result == "ignored" and out.reason
    assert arm.requests == 0 and arm.count("own_identity") == 0


async def test_a_child_resource_event_is_ignored(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    [out] = await warden.handle_payload([event(
        f"{app}/authConfigs/current", op="Microsoft.App/containerApps/authConfigs/write")])
    assert out.result == "ignored" and arm.requests == 0


async def test_an_unusable_item_is_refused_and_the_rest_goes_on(arm: FakeArm,
                                                               warden: Any) -> None:
    app = arm.app("web", TWO)
    outs = await warden.handle_payload([{"not": "an event"}, write(app), 7])
    assert [o.result for o in outs] == ["refused", "applied", "refused"]
    assert outs[0].error and outs[2].error and exit_code(outs) == 0


async def test_a_workload_outside_the_managed_groups_costs_nothing(arm: FakeArm,
                                                                   make: Any) -> None:
    app = arm.app("web", TWO, rg="dev-1")
    [out] = await make(resource_groups=("prod-*",)).handle_payload([write(app)])
    assert out.result == "ignored" and "apps.resource_groups" in (out.reason or "")
    assert arm.requests == 0


async def test_an_opted_out_workload_costs_one_read(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {**TWO, "warden:ignore": "TRUE"})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "ignored" and "opted out" in (out.reason or "")
    assert arm.requests == 1 and arm.writes == 0


# --- call economy --------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
async def test_a_new_app_with_k_grant_tags_costs_k_plus_one_writes(arm: FakeArm, warden: Any,
                                                                    k: int) -> None:
    app = arm.app("web", k_tags(k))
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "applied"
    assert arm.writes == k + 1 and arm.count("patch_app") == 1
    assert arm.count("create_assignment") == k


@pytest.mark.parametrize("answers_body", [False, True])
async def test_a_burst_of_new_apps_costs_about_k_plus_three_requests_each(answers_body: bool,
                                                                         make: Any) -> None:
    arm = FakeArm(patch_answers_body=answers_body)
    apps = [arm.app(f"a{i}", k_tags(2)) for i in range(100)]
    from handlers.policy import Policy
    from handlers.warden import Warden

    outs = await Warden(Policy(), arm).handle_payload([write(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    per_app = 2 + 3 if not answers_body else 2 + 2  # GET, PATCH, (GET), 2 PUTs
    shared = 1 + 2  # one listing, two role definitions
    assert arm.requests == 100 * per_app + shared
    assert arm.writes == 100 * 3


async def test_the_principal_comes_from_the_patch_answer_when_arm_sends_one() -> None:
    arm = FakeArm(patch_answers_body=True)
    app = arm.app("web", TWO)
    from handlers.policy import Policy
    from handlers.warden import Warden

    await Warden(Policy(), arm).handle_payload([write(app)])
    assert arm.count("get_app") == 1  # no read after the PATCH


async def test_a_replay_costs_two_requests_and_no_write(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    events = [write(app)]
    await warden.handle_payload(events)
    arm.clear()
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged"
    assert arm.requests == 2 and arm.writes == 0


async def test_a_new_app_without_grants_or_identities_writes_nothing(arm: FakeArm,
                                                                     warden: Any) -> None:
    app = arm.app("web", {"team": "x"})
    [out] = await warden.handle_payload([write(app)])
    assert out.result == "unchanged" and arm.writes == 0 and arm.requests == 2


async def test_roles_and_identities_are_looked_up_once_per_process(arm: FakeArm,
                                                                   make: Any) -> None:
    std = arm.identity("std")
    warden = make(standard_identities=(std,))
    apps = [arm.app(f"a{i}", TWO) for i in range(40)]
    await warden.handle_payload([write(a) for a in apps])
    assert arm.count("find_role") == 2 and arm.count("get_identity") == 1
    more = [arm.app(f"m{i}", TWO) for i in range(5)]
    arm.clear()
    await warden.handle_payload([write(a) for a in more])
    assert arm.count("find_role") == 0 and arm.count("get_identity") == 0


async def test_an_unknown_role_is_asked_for_again_every_time(arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", {"grant:x": "Nope Reader@."})
    for _ in range(3):
        [out] = await warden.handle_payload([write(app)])
        assert out.result == "unchanged" and "unknown role" in out.refused[0]["reason"]
    assert arm.count("find_role") == 3


# --- concurrency ---------------------------------------------------------------------------------


async def test_at_most_concurrency_workloads_converge_at_once(arm: FakeArm, make: Any) -> None:
    apps = [arm.app(f"a{i}", {"grant:rg": READER}) for i in range(40)]
    outs = await make(concurrency=4).handle_payload([write(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    assert 1 < arm.peak_in_flight <= 4


async def test_concurrent_deliveries_of_one_app_converge_one_after_the_other(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    first, second = await asyncio.gather(warden.handle_payload([write(app)]),
                                         warden.handle_payload([tags_write(app)]))
    assert [first[0].result, second[0].result] == ["applied", "unchanged"]
    assert arm.count("create_assignment") == 2 and arm.count("patch_app") == 1


async def test_a_deletion_racing_a_write_of_the_same_app_leaves_nothing_behind(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app)])
    arm.delete(app)
    outs = await asyncio.gather(warden.handle_payload([write(app)]),
                                warden.handle_payload([delete(app)]))
    assert sorted(o[0].result for o in outs) == ["deleted", "deleted"]
    assert arm.ours(app) == []


# --- logging -------------------------------------------------------------------------------------


async def test_one_outcome_line_per_event(arm: FakeArm, warden: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aca_warden")
    app = arm.app("web", TWO)
    await warden.handle_payload([write(app), tags_write(app), {"not": "an event"}])
    lines = [r for r in caplog.records if r.getMessage().startswith("outcome ")]
    assert len(lines) == 3
    assert warden.counts == {"applied": 2, "refused": 1}
