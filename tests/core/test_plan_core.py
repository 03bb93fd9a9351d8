"""handlers.plan on Snapshots (pure): cleanup, rotation, ignore, identities, a frozen Plan."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from handlers.grants import GrantRequest, Refusal
from handlers.ids import ArmId
from handlers.model import AppState, Assignment, RoleInfo, assignment_name, description_for
from handlers.plan import (
    Plan,
    ResolvedGrant,
    Snapshot,
    identity_body,
    make_plan,
    opted_out,
    outside_resource_groups,
)
from handlers.policy import Policy

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
APP = ArmId.parse(f"{RG}/providers/Microsoft.App/containerApps/app1")
P1, P2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
UAMI = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std"
READER = RoleInfo("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader",
                  f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
                  "acdd72a7-3385-48ef-bd42-f606fba81ae7", "ok")
NAMES = {READER.guid: READER.name}


def state(principal: str | None = P1, system: bool = True, **kw: Any) -> AppState:
    return AppState(app=APP, location="eastus", identity_type="SystemAssigned" if system
                    else "None", principal_id=principal if system else None, **kw)


def grant(tag: str = "grant:rg", scope: str = RG) -> ResolvedGrant:
    return ResolvedGrant(GrantRequest(tag, "Reader", scope), READER)


def ours(principal: str = P1, scope: str = RG) -> Assignment:
    name = assignment_name(APP, principal, READER.guid, scope)
    return Assignment(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", name,
                      scope, READER.id, principal, description_for(APP))


def snap(st: AppState | None, **kw: Any) -> Snapshot:
    return Snapshot(APP, st, role_names=NAMES, **kw)


def test_a_gone_workload_is_cleaned_up_whatever_principal_holds_the_grants() -> None:
    plan = make_plan(snap(None, owned=(ours(P1), ours(P2))), Policy())
    assert plan.action == "cleanup" and len(plan.revokes) == 2
    assert plan.changes() == (f"revoke Reader on {RG}", f"revoke Reader on {RG}")
    assert not plan.empty


def test_a_gone_workload_with_nothing_left_is_an_empty_cleanup() -> None:
    plan = make_plan(snap(None), Policy())
    assert plan.action == "cleanup" and plan.empty


def test_an_opted_out_workload_is_left_alone_even_with_stale_grants() -> None:
    st = state(tags={"Warden:Ignore": " True "})
    plan = make_plan(snap(st, owned=(ours(P2),)), Policy())
    assert plan.action == "ignore" and plan.empty and "opted out" in (plan.reason or "")


def test_grants_of_the_current_principal_are_kept_and_of_any_other_revoked() -> None:
    plan = make_plan(snap(state(), grants=(grant(),), owned=(ours(P1), ours(P2)),
                          held=(ours(P1),)), Policy())
    assert plan.grants == () and [r.assignment.principal_id for r in plan.revokes] == [P2]
    assert not plan.revokes[0].unless_current


def test_enabling_the_identity_grants_for_the_new_principal_and_revokes_the_old_ones() -> None:
    plan = make_plan(snap(state(system=False), grants=(grant(),), owned=(ours(P1),)),
                     Policy())
    assert plan.enable_system and plan.principal is None and len(plan.grants) == 1
    [revoke] = plan.revokes
    assert revoke.assignment.principal_id == P1 and revoke.unless_current
    assert plan.identity_patch() == {"identity": {"type": "SystemAssigned"}}


def test_a_wanted_grant_of_an_old_principal_is_revoked_unconditionally_when_not_enabling(
        ) -> None:
    plan = make_plan(snap(state(P2), grants=(grant(),), owned=(ours(P1),)), Policy())
    assert [r.unless_current for r in plan.revokes] == [False]


def test_with_no_grant_tags_the_identity_is_not_enabled_but_old_grants_still_go() -> None:
    plan = make_plan(snap(state(system=False), owned=(ours(P1),)), Policy())
    assert not plan.enable_system and plan.identity_patch() is None
    assert len(plan.revokes) == 1 and not plan.revokes[0].unless_current


def test_a_plan_is_frozen() -> None:
    plan = make_plan(snap(state(), grants=(grant(),)), Policy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.grants = ()  # type: ignore[misc]
    assert isinstance(plan.grants, tuple) and isinstance(plan.refusals, tuple)


def test_refusals_come_in_order_parse_then_identities_then_roles() -> None:
    parse_refusal = Refusal("bad grammar", tag="grant:a")
    unknown = ResolvedGrant(GrantRequest("grant:u", "Nope", RG), None)
    plan = make_plan(snap(state(), grant_refusals=(parse_refusal,), grants=(unknown,),
                          identities={UAMI: False}), Policy(standard_identities=(UAMI,)))
    assert [r.tag or r.identity for r in plan.refusals] == ["grant:a", UAMI, "grant:u"]


def test_a_standard_identity_is_created_then_attached_with_every_other_kept() -> None:
    own = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/own"
    plan = make_plan(snap(state(user_assigned=(own,)), identities={UAMI: False}),
                     Policy(standard_identities=(UAMI,), create_missing=True))
    assert plan.create_identities == (UAMI,) and plan.attach == (UAMI,)
    assert plan.identity_patch() == {"identity": {
        "type": "SystemAssigned,UserAssigned",
        "userAssignedIdentities": {own: {}, UAMI: {}}}}
    assert plan.changes() == (f"create identity {UAMI}", f"attach identity {UAMI}")


def test_the_identity_patch_leaves_out_what_apply_could_not_attach() -> None:
    other = UAMI + "2"
    plan = Plan(APP, "converge", system=True, user_assigned=("/kept",), attach=(UAMI, other))
    assert plan.identity_patch([other.upper()]) == {"identity": {
        "type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {"/kept": {}, UAMI: {}}}}
    assert plan.identity_patch([UAMI, other]) is None  # nothing else to change
    enabling = dataclasses.replace(plan, enable_system=True)
    assert enabling.identity_patch([UAMI, other]) == {"identity": {
        "type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {"/kept": {}}}}


@pytest.mark.parametrize(("system", "user", "kind"), [
    (True, (), "SystemAssigned"), (False, ("a",), "UserAssigned"),
    (True, ("a", "b"), "SystemAssigned,UserAssigned"), (False, (), "None"),
])
def test_identity_body_always_sends_the_full_map(system: bool, user: tuple[str, ...],
                                                 kind: str) -> None:
    body = identity_body(system, user)["identity"]
    assert body["type"] == kind
    assert body.get("userAssignedIdentities", {}) == {u: {} for u in user}


def test_the_changes_are_listed_in_the_order_apply_makes_them() -> None:
    plan = Plan(APP, "converge", enable_system=True, system=True, attach=(UAMI,),
                create_identities=(UAMI,))
    assert plan.changes() == (f"create identity {UAMI}", "enable system-assigned identity",
                              f"attach identity {UAMI}")


@pytest.mark.parametrize(("patterns", "rg", "outside"), [
    (("*",), "anything", False),
    (("prod-*",), "PROD-1", False),
    (("prod-*",), "dev-1", True),
    (("rg1", "rg2"), "rg3", True),
    ((), "rg1", True),
])
def test_outside_resource_groups_uses_case_insensitive_globs(patterns: tuple[str, ...],
                                                             rg: str, outside: bool) -> None:
    app = ArmId.parse(f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/"
                      "Microsoft.App/containerApps/x")
    why = outside_resource_groups(app, Policy(resource_groups=patterns))
    assert (why is not None) is outside
    if why:
        assert rg in why


@pytest.mark.parametrize(("tags", "out"), [
    ({"warden:ignore": "true"}, True), ({"WARDEN:IGNORE": "TRUE"}, True),
    ({"warden:ignore": "yes"}, False), ({"warden:ignore": "false"}, False), ({}, False),
    ({"other": "true"}, False),
])
def test_opted_out_needs_the_tag_set_to_true(tags: dict[str, str], out: bool) -> None:
    assert (opted_out(tags, Policy()) is not None) is out


def test_a_custom_opt_out_tag() -> None:
    assert opted_out({"skip": "true"}, Policy(opt_out_tag="skip"))
    assert opted_out({"warden:ignore": "true"}, Policy(opt_out_tag="skip")) is None
