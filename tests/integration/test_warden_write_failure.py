"""An identity change ARM accepted and then failed: the emulator's ``fail_operation``
knob, end to end through the service (contract: "An identity operation that fails after
it was accepted comes back as a ResourceWriteFailure event and is converged again"), for
container apps and jobs alike."""

from __future__ import annotations

from .conftest import READER, both_workloads

ONE = {"grant:rg": f"{READER}@."}


@both_workloads
async def test_an_accepted_identity_change_that_fails_comes_back_and_converges(world, warden):
    events = await world.create_app("app1", ONE)  # no identity yet: the service enables it
    world.emu.fail_operation("PATCH", f"/{world.kind.wtype.collection}/app1$",
                             "ContainerAppProvisioningFailed",
                             "The identity could not be applied.")
    world.emu.time_scale = 1  # Azure's pace: the change stays InProgress for seconds
    [out] = await warden.handle_payload(events)
    assert out.result == "applied", out  # granted to the principal ARM showed at once
    mark = world.mark()
    world.emu.time_scale = 0  # ... and then fails
    app = world.emu.get(world.app_id("app1"))  # Failed, rolled back
    assert app["properties"]["provisioningState"] == "Failed"
    assert app["identity"]["type"] == "None"
    [failure] = world.events_since(mark)
    assert failure["eventType"] == "Microsoft.Resources.ResourceWriteFailure"
    assert failure["data"]["operationName"] == world.op("write")
    claims = failure["data"]["claims"]  # the service's own write: never taken as self-caused
    oid_claim = "http://schemas.microsoft.com/identity/claims/objectidentifier"
    assert world.emu.service_oid in (claims.get("oid"), claims.get(oid_claim)), claims
    [out] = await warden.handle_payload([failure])  # delivered like any event
    assert out.result == "applied", out
    principal = world.principal("app1")
    assert principal is not None
    assert len(world.assignments(principal)) == 1
    orphans = [a for a in world.assignments() if a["properties"]["principalId"] != principal]
    assert orphans == []  # the vanished principal's grant went with it
