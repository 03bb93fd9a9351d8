"""5xx, 429 and connection resets on every kind of ARM call; answers lost after the write.

Each scenario runs the two halves of an app's life under the fault: the first
reconcile (GET app, standard identity, role definitions, assignments list,
identity PATCH, assignment PUTs; the PATCH's operation is never polled), then a
re-tag (a PUT and a DELETE). A fault that outlasts azure-core's retries makes
the outcome ``retry``; the event is delivered again (to a fresh process) until
it is not. The end state is checked every time: converged, no duplicate, no
foreign assignment touched, no grant lost. The calls on the workload's own URL (its GET and
its identity PATCH) are faulted for jobs too (``-job``).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import TAGS, assert_converged, deliver_until_done

CALLS = {  # {collection}: the workload's type in its URL (containerApps, jobs)
    "get-app": ("GET", r"/{collection}/app1$"),
    "list-assignments": ("GET", r"/roleAssignments$"),
    "role-definition": ("GET", r"/roleDefinitions"),
    "standard-identity": ("GET", r"/userAssignedIdentities/std$"),
    "identity-patch": ("PATCH", r"/{collection}/app1$"),
    "assignment-put": ("PUT", r"/roleAssignments/"),
    "assignment-delete": ("DELETE", r"/roleAssignments/"),
}
RETAG = {"grant:rg": "Reader@.", "grant:st2": "Reader@Microsoft.Storage/storageAccounts/st1"}
OWN = ("get-app", "identity-patch")  # the calls on the workload's own URL


def each(calls: list[str]) -> Any:
    """Parametrise (call, world): every call on an app, the workload's own calls on a job."""
    cases = [pytest.param(c, "app", id=c) for c in calls]
    cases += [pytest.param(c, "job", id=f"{c}-job") for c in calls if c in OWN]
    return pytest.mark.parametrize(("call", "world"), cases, indirect=["world"])


def fault_point(world: Any, call: str) -> tuple[str, str]:
    """(method, path regex) of `call` for this world's kind of workload."""
    method, path = CALLS[call]
    return method, path.replace("{collection}", world.kind.wtype.collection)


async def setup_app(world: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An app (system identity on) with grant tags, and two foreign assignments for it."""
    events = await world.create_app("app1", TAGS, identity={"type": "SystemAssigned"})
    principal = world.principal("app1")
    name = await world.hand_assign(world.rg, "Storage Blob Data Reader", principal)
    look_alike = world.emu.seed_role_assignment(  # our description, but not our name
        world.storage, world.role_guid("Contributor"), principal,
        description=f"Managed by aca-warden for {world.app_id('app1')} (do not edit)")
    foreign = [a for a in world.emu.role_assignments()
               if a["name"] in (name, look_alike["name"])]
    assert len(foreign) == 2
    return events, foreign


async def run_life(world: Any, make: Any, arm_fault: Any) -> list[int]:
    """Both halves under ``arm_fault()``; the number of deliveries each needed."""
    events, foreign = await setup_app(world)
    arm_fault()
    first = await deliver_until_done(make, events)
    world.emu.faults.clear()
    assert_converged(world, "app1", TAGS, foreign)
    events = await world.set_tags("app1", RETAG)
    arm_fault()
    second = await deliver_until_done(make, events)
    world.emu.faults.clear()
    assert_converged(world, "app1", RETAG, foreign)
    assert [o.result for o in second[-1]] == ["applied"] or second[-1][0].result == "unchanged"
    return [len(first), len(second)]


@each(list(CALLS))
@pytest.mark.parametrize(("status", "reset"), [(503, False), (0, True)], ids=["503", "reset"])
async def test_lasting_fault_on_each_call_converges_on_redelivery(world, make_warden, call,
                                                                  status, reset) -> None:
    method, path = fault_point(world, call)

    def fault() -> None:  # outlasts one delivery's retries (azure-core retries resets longer)
        world.emu.inject_fault(method, path, status or 500, "ServiceUnavailable",
                               count=10 if reset else 5, reset=reset)

    deliveries = await run_life(world, make_warden, fault)
    assert max(deliveries) >= 2, f"the fault on {call} was never met"


@each(list(CALLS))
async def test_brief_500_and_429_are_absorbed_within_one_delivery(world, make_warden,
                                                                  call) -> None:
    method, path = fault_point(world, call)

    def fault() -> None:
        world.emu.inject_fault(method, path, 500, "InternalServerError", count=1)
        world.emu.inject_fault(method, path, 429, "TooManyRequests", count=1)

    assert await run_life(world, make_warden, fault) == [1, 1]


@each(["identity-patch", "assignment-put", "assignment-delete"])
@pytest.mark.parametrize("count", [1, 5])
async def test_write_applied_but_answer_lost_carries_on(world, make_warden, call, count) -> None:
    """ARM applies the write, the answer is a 500 (or the connection drops): the retry finds
    it done ("already exists" / already gone) and carries on."""
    method, path = fault_point(world, call)

    def fault() -> None:
        world.emu.inject_fault(method, path, 500, "InternalServerError", count=count,
                               apply_first=True)

    await run_life(world, make_warden, fault)


async def test_answer_lost_by_a_dropped_connection_after_the_put(world, make_warden) -> None:
    def fault() -> None:
        world.emu.inject_fault("PUT", r"/roleAssignments/", 0, "", count=2, apply_first=True,
                               reset=True)

    await run_life(world, make_warden, fault)
