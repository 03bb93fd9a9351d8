"""The core's fake ARM (tests/core/fakearm.py) answers like the emulator, over the wire.

Every ArmApi call the service makes is run against both: the real ``handlers.azure.Arm``
over HTTPS to the emulator (as the service, holding the deployment's roles) and the
in-memory fake. Where they agree here, the core's unit tests against the fake mean
what they say.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from core.fakearm import FakeArm

from handlers.azure import Arm
from handlers.errors import Permanent
from handlers.ids import WORKLOAD_TYPES, ArmId
from handlers.model import Assignment
from handlers.plan import Plan
from handlers.policy import Policy

from .conftest import deploy_for

READER_GUID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


class Backend:
    """The same seeding and inspection, for the emulator or the fake."""

    def __init__(self, arm: Any, sub: str, emu: Any = None, fake: FakeArm | None = None):
        self.arm, self.sub, self.emu, self.fake = arm, sub, emu, fake
        self.rg = f"/subscriptions/{sub}/resourceGroups/rg1"
        if emu is not None:
            emu.seed_resource_group("rg1")
        else:
            assert fake is not None
            fake.rg("rg1", sub)

    def app(self, name: str, system: bool = False) -> ArmId:
        rid = f"{self.rg}/providers/Microsoft.App/containerApps/{name}"
        if self.emu is not None:
            self.emu.seed_container_app(rid, tags={"team": "x"},
                                        identity="SystemAssigned" if system else None)
        else:
            assert self.fake is not None
            self.fake.app(name, {"team": "x"}, system=system, sub=self.sub)
        return ArmId.parse(rid)

    def identity(self, name: str) -> ArmId:
        rid = f"{self.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
        if self.emu is not None:
            self.emu.seed_identity(rid)
        else:
            assert self.fake is not None
            self.fake.identity(name, "rg1", self.sub)
        return ArmId.parse(rid)


@pytest.fixture(params=["emulator", "fake"])
async def backend(request: pytest.FixtureRequest, emu: Any) -> AsyncIterator[Backend]:
    if request.param == "fake":
        fake = FakeArm()
        yield Backend(fake, fake.subscriptions[0], fake=fake)
        return
    deploy_for(emu, Policy())
    arm = Arm.from_env(emu.env)
    arm.retry_backoff_s = 0.01
    try:
        yield Backend(arm, emu.subscription_id, emu=emu)
    finally:
        await arm.close()


async def test_reading_a_workload_and_a_missing_one(backend: Backend) -> None:
    app = backend.app("web")
    body = await backend.arm.get_app(app)
    assert body is not None and ArmId.parse(body["id"]) == app
    assert body["tags"] == {"team": "x"} and "identity" in body
    assert await backend.arm.get_app(ArmId.parse(f"{app}x")) is None


async def test_an_identity_patch_is_answered_at_once_and_the_principal_stays(
        backend: Backend) -> None:
    app = backend.app("web")
    answer = await backend.arm.patch_app(app, {"identity": {"type": "SystemAssigned"}})
    assert answer is None  # accepted (202) with no body
    after = await backend.arm.get_app(app)
    assert after is not None
    principal = after["identity"]["principalId"]
    assert principal and "systemassigned" in after["identity"]["type"].lower()
    std = backend.identity("std")
    await backend.arm.patch_app(app, {"identity": {
        "type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {str(std): {}}}})
    again = await backend.arm.get_app(app)
    assert again is not None and again["identity"]["principalId"] == principal
    assert again["identity"]["type"] == "SystemAssigned, UserAssigned"  # as Azure spells it
    assert {ArmId.parse(k) for k in again["identity"]["userAssignedIdentities"]} == {std}


async def test_role_definitions_by_name_guid_and_id(backend: Backend) -> None:
    arm = backend.arm
    for ref in ("Reader", "reader", READER_GUID,
                f"/subscriptions/{backend.sub}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{READER_GUID}"):
        found = await arm.find_role(backend.sub, ref)
        assert found is not None and found["name"] == READER_GUID, ref
        assert found["roleName"] == "Reader" and found["permissions"][0]["actions"]
    assert await arm.find_role(backend.sub, "No Such Role") is None
    assert await arm.find_role(backend.sub, str(uuid.uuid4())) is None


async def test_assignments_put_again_conflict_list_and_delete(backend: Backend) -> None:
    arm, app = backend.arm, backend.app("web", system=True)
    body = await arm.get_app(app)
    assert body is not None
    principal = body["identity"]["principalId"]
    role_id = f"/subscriptions/{backend.sub}/providers/Microsoft.Authorization/" \
              f"roleDefinitions/{READER_GUID}"
    name = str(uuid.uuid4())
    assert await arm.create_assignment(backend.rg, name, role_id, principal, "mine") is True
    assert await arm.create_assignment(backend.rg, name, role_id, principal, "mine") is True
    assert await arm.create_assignment(backend.rg, str(uuid.uuid4()), role_id, principal,
                                       "mine") is False  # 409 RoleAssignmentExists
    listed = [a for a in await arm.list_assignments(f"/subscriptions/{backend.sub}")
              if a.name == name]
    assert len(listed) == 1
    a: Assignment = listed[0]
    assert a.principal_id == principal.lower() and a.description == "mine"
    assert ArmId.parse(a.scope) == ArmId.parse(backend.rg)
    assert a.role_definition_id.lower() == role_id.lower() and a.role_guid == READER_GUID
    filtered = await arm.list_assignments(f"/subscriptions/{backend.sub}",
                                          f"principalId eq '{principal}'")
    assert [x.name for x in filtered] == [name]
    await arm.delete_assignment(a)
    await arm.delete_assignment(a)  # already gone: success
    assert name not in {x.name for x in await arm.list_assignments(
        f"/subscriptions/{backend.sub}")}


async def test_an_assignment_at_a_scope_that_does_not_exist_is_refused_404(
        backend: Backend) -> None:
    app = backend.app("web", system=True)
    body = await backend.arm.get_app(app)
    assert body is not None
    with pytest.raises(Permanent) as refused:
        await backend.arm.create_assignment(
            f"{backend.rg}/providers/Microsoft.Storage/storageAccounts/nope", str(uuid.uuid4()),
            f"/subscriptions/{backend.sub}/providers/Microsoft.Authorization/roleDefinitions/"
            f"{READER_GUID}", body["identity"]["principalId"], "mine")
    assert refused.value.status == 404


async def test_identities_read_and_created_only_where_the_group_exists(
        backend: Backend) -> None:
    std = backend.identity("std")
    found = await backend.arm.get_identity(std)
    assert found is not None and ArmId.parse(found["id"]) == std and found["principalId"]
    missing = ArmId.parse(f"{std}x")
    assert await backend.arm.get_identity(missing) is None
    elsewhere = ArmId.parse(f"/subscriptions/{backend.sub}/resourceGroups/gone/providers/"
                            "Microsoft.ManagedIdentity/userAssignedIdentities/std")
    assert await backend.arm.get_identity(elsewhere) is None
    with pytest.raises(Permanent) as refused:
        await backend.arm.create_identity(elsewhere, "eastus")
    assert refused.value.status in (403, 404)  # the emulator's service may not create it


async def test_scopes_and_workload_lists(backend: Backend) -> None:
    app = backend.app("web")
    assert await backend.arm.scope_exists(backend.rg) is True
    assert await backend.arm.scope_exists(f"{backend.rg}/providers/Microsoft.Storage/"
                                          "storageAccounts/nope") is False
    listed = await backend.arm.list_apps(backend.sub, WORKLOAD_TYPES[0])
    assert [ArmId.parse(b["id"]) for b in listed] == [app]
    assert await backend.arm.list_subscriptions() == [backend.sub]


async def test_the_service_knows_its_own_identity(backend: Backend) -> None:
    oid, _ = await backend.arm.own_identity()
    assert oid  # from the token's claims; the fake has its own


async def test_a_release_patch_sets_one_tag_and_detaches_only_the_identities_it_names(
        backend: Backend) -> None:
    """release's one PATCH (handlers.plan.Plan.release_patch) is a JSON merge patch: the
    opt-out tag is added to the tags, the standard identity detached, the rest kept."""
    app, std, other = backend.app("web", system=True), backend.identity("std"), \
        backend.identity("other")
    await backend.arm.patch_app(app, {"identity": {
        "type": "SystemAssigned,UserAssigned",
        "userAssignedIdentities": {str(std): {}, str(other): {}}}})
    before = await backend.arm.get_app(app)
    assert before is not None
    carried = tuple(before["identity"]["userAssignedIdentities"])
    plan = Plan(app, "release", system=True, user_assigned=carried, opt_out="warden:ignore",
                detach=tuple(k for k in carried if ArmId.parse(k) == std))
    assert plan.release_patch is not None
    await backend.arm.patch_app(app, plan.release_patch)
    after = await backend.arm.get_app(app)
    assert after is not None
    assert after["tags"] == {"team": "x", "warden:ignore": "true"}
    assert {ArmId.parse(k) for k in after["identity"]["userAssignedIdentities"]} == {other}
    assert after["identity"]["principalId"] == before["identity"]["principalId"]
    last = Plan(app, "release", system=True, detach=tuple(
        after["identity"]["userAssignedIdentities"]), user_assigned=tuple(
        after["identity"]["userAssignedIdentities"]))
    assert last.release_patch is not None
    await backend.arm.patch_app(app, last.release_patch)
    final = await backend.arm.get_app(app)
    assert final is not None and final["identity"]["type"] == "SystemAssigned"
    assert not final["identity"].get("userAssignedIdentities")
    assert final["identity"]["principalId"] == before["identity"]["principalId"]
