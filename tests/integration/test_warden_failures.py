"""Transient and permanent failures, throttling: retry, exit 75, converge on redelivery,
for container apps and jobs alike."""

from __future__ import annotations

from handlers.warden import exit_code

from .conftest import READER, both_workloads

pytestmark = both_workloads

ONE = {"grant:rg": f"{READER}@."}


async def test_transient_503_gives_retry_then_redelivery_converges(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PUT", r"roleAssignments", 503, "ServiceUnavailable", count=4)
    [out] = await warden.handle_payload(events)
    assert out.result == "retry" and "503" in out.error
    assert exit_code([out]) == 75
    [out] = await warden.handle_payload(events)  # Event Grid delivers again
    assert out.result == "applied", out
    assert len(world.assignments(world.principal("app1"))) == 1
    [out] = await warden.handle_payload(events)
    assert out.result == "unchanged"


async def test_transient_errors_are_retried_within_budget(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PUT", r"roleAssignments", 503, "ServiceUnavailable", count=2)
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"


async def test_contract_transient_cases_give_retry(world, warden):
    app_id = world.app_id("app1")
    events = await world.create_app("app1", ONE)
    path = f"{world.kind.wtype.collection}/app1$"
    cases = [
        ("GET", path, 403, "AuthorizationFailed"),
        ("PATCH", path, 403, "AuthorizationFailed"),
        ("PATCH", path, 409, "AnotherOperationInProgress"),
        ("PATCH", path, 408, "RequestTimeout"),
        ("PUT", r"roleAssignments", 400, "PrincipalNotFound"),
    ]
    for method, path, status, code in cases:
        world.emu.inject_fault(method, path, status, code, count=4)
        [out] = await warden.handle_payload(events)
        assert out.result == "retry", (code, out)
        world.emu.faults.clear()
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and out.app == app_id


async def test_permanent_app_failure_is_reported_not_retried(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PATCH", f"{world.kind.wtype.collection}/app1$", 400,
                           "InvalidRequestContent")
    [out] = await warden.handle_payload(events)
    assert out.result == "refused" and "400" in out.error
    assert exit_code([out]) == 0


async def test_forbidden_grant_scope_is_refused(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PUT", r"roleAssignments", 403, "AuthorizationFailed")
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"  # the identity PATCH went through
    assert [r["tag"] for r in out.refused] == ["grant:rg"]


async def test_role_assignment_limit_is_refused(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PUT", r"roleAssignments", 400, "RoleAssignmentLimitExceeded")
    [out] = await warden.handle_payload(events)
    assert [r["tag"] for r in out.refused] == ["grant:rg"]


async def test_throttled_burst_converges_in_one_delivery(world, warden):
    apps = [world.app_id(f"app{i}") for i in range(10)]
    for app_id in apps:
        world.seed(app_id, tags=ONE)
    world.emu.set_write_bucket(5, 10)
    world.emu.clear_log()
    outs = await warden.handle_payload([world.event(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    throttled = sum(1 for r in world.emu.request_log if r.status == 429)
    assert world.emu.count(kind="write") - throttled == 20
    assert throttled == 0


async def test_unreadable_role_refuses_only_that_grant(world, warden):
    events = await world.create_app("app1", {**ONE, "grant:blob": "Storage Blob Data Reader@."})
    world.emu.inject_fault("GET", r"roleDefinitions", 403, "AuthorizationFailed", count=1)
    [out] = await warden.handle_payload(events)
    assert out.result == "applied"
    assert len(out.refused) == 1 and "cannot read role" in out.refused[0]["reason"]
    assert len(world.assignments(world.principal("app1"))) == 1


async def test_conflicting_foreign_assignment_is_reported_not_retried(world, warden):
    events = await world.create_app("app1", ONE)
    world.emu.inject_fault("PUT", r"roleAssignments", 409, "RoleAssignmentExists", count=1)
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and list(out.refused) == []
    assert out.notes and "did not make" in out.notes[0]
    assert exit_code([out]) == 0
