"""plan.make_plan: desired vs. current state, pure (no mocks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from handlers.grants import GrantRequest, Refusal
from handlers.ids import ArmId
from handlers.model import (
    AppState,
    Assignment,
    RoleInfo,
    assignment_name,
    description_for,
    is_ours,
    owner_of,
)
from handlers.plan import Plan, ResolvedGrant, Snapshot
from handlers.plan import make_plan as plan_snapshot
from handlers.policy import Policy

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
APP = f"{RG}/providers/Microsoft.App/containerApps/app1"
PRINCIPAL = "11111111-1111-1111-1111-111111111111"
UAMI = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std"
OTHER_UAMI = (
    f"/subscriptions/{SUB}/resourcegroups/rg1/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/own"
)
ST = f"{RG}/providers/Microsoft.Storage/storageAccounts/st1"

READER = RoleInfo(
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Reader",
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "ok",
)
OWNER = RoleInfo(
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Owner",
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "floor",
)
CONTRIB = RoleInfo(
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Contributor",
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "broad",
)


def make_plan(state: AppState, policy: Policy, *, identities: Mapping[str, bool],
              grants: Iterable[ResolvedGrant], grant_refusals: Iterable[Refusal] = (),
              existing: Iterable[Assignment] = (), missing_scopes: Iterable[str] = ()) -> Plan:
    """The plan for a snapshot holding `existing` as observe would sort it."""
    existing = list(existing)
    snap = Snapshot(state.app, state, identities=identities, grants=tuple(grants),
                    grant_refusals=tuple(grant_refusals),
                    owned=tuple(a for a in existing if is_ours(state.app, a)),
                    held=tuple(a for a in existing
                               if a.principal_id.lower() == (state.principal_id or "").lower()),
                    missing_scopes=frozenset(s.lower() for s in missing_scopes),
                    role_names={r.guid: r.name for r in (READER, OWNER, CONTRIB)})
    return plan_snapshot(snap, policy)


def state(**kw) -> AppState:
    base = dict(
        app=ArmId.parse(APP),
        location="eastus",
        tags={},
        identity_type="SystemAssigned",
        principal_id=PRINCIPAL,
        user_assigned=(),
    )
    base.update(kw)
    return AppState(**base)


def grant(tag: str, role: RoleInfo | None, scope: str = ST, written: str | None = None):
    return ResolvedGrant(
        GrantRequest(tag=tag, role=written or (role.name if role else "x"), scope=scope), role
    )


def ours(role: RoleInfo, scope: str = ST, principal: str = PRINCIPAL, app: str = APP) -> Assignment:
    name = assignment_name(app, principal, role.guid, scope)
    return Assignment(
        id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        name=name,
        scope=scope,
        role_definition_id=role.id,
        principal_id=principal,
        description=description_for(app),
    )


def test_in_line_app_plans_nothing():
    p = make_plan(
        state(user_assigned=(UAMI,)),
        Policy(standard_identities=(UAMI,)),
        identities={UAMI: True},
        grants=[grant("grant:a", READER)],
        existing=[ours(READER)],
    )
    assert p.empty and p.changes() == () and p.refusals == ()


def test_new_app_gets_full_identity_map_and_grants():
    s = state(identity_type="UserAssigned", principal_id=None, user_assigned=(OTHER_UAMI,))
    p = make_plan(
        s,
        Policy(),
        identities={UAMI: True},
        grants=[grant("grant:a", READER), grant("grant:b", READER, RG)],
    )
    assert p.identity_patch() == {
        "identity": {
            "type": "SystemAssigned,UserAssigned",
            "userAssignedIdentities": {OTHER_UAMI: {}, UAMI: {}},
        }
    }
    assert p.enable_system and p.attach == (UAMI,)
    assert [c.scope for c in p.grants] == [ST, RG]
    assert p.changes()[:2] == ("enable system-assigned identity", f"attach identity {UAMI}")
    assert p.changes()[2] == f"grant Storage Blob Data Reader on {ST} (tag grant:a)"


def test_existing_identity_compared_case_insensitively():
    p = make_plan(
        state(
            identity_type="SystemAssigned, UserAssigned",
            user_assigned=(UAMI.replace("resourceGroups", "resourcegroups").upper(),),
        ),
        Policy(),
        identities={UAMI: True},
        grants=[],
    )
    assert p.identity_patch() is None and p.empty


def test_no_grants_does_not_enable_system_identity():
    p = make_plan(
        state(identity_type="None", principal_id=None), Policy(), identities={UAMI: True}, grants=[]
    )
    assert p.identity_patch() == {
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {UAMI: {}}}
    }
    assert not p.enable_system


def test_missing_identity_refused_without_create_missing_others_attached():
    other = UAMI + "2"
    p = make_plan(state(), Policy(), identities={UAMI: False, other: True}, grants=[])
    assert [r.identity for r in p.refusals] == [UAMI]
    assert p.attach == (other,) and p.create_identities == ()


def test_missing_identity_created_only_in_same_subscription():
    foreign = UAMI.replace(SUB, "99999999-0000-0000-0000-000000000000")
    p = make_plan(
        state(), Policy(create_missing=True), identities={UAMI: False, foreign: False}, grants=[]
    )
    assert p.create_identities == (UAMI,) and p.attach == (UAMI,)
    assert [r.identity for r in p.refusals] == [foreign]
    assert p.changes()[0] == f"create identity {UAMI}"


def test_same_grant_from_two_tags_is_one_assignment():
    p = make_plan(
        state(),
        Policy(),
        identities={},
        grants=[grant("grant:a", READER), grant("grant:b", READER, ST.upper())],
    )
    assert len(p.grants) == 1 and p.grants[0].tags == ("grant:a", "grant:b")


def test_removed_tag_revokes_only_its_grant():
    p = make_plan(
        state(),
        Policy(),
        identities={},
        grants=[grant("grant:a", READER)],
        existing=[ours(READER), ours(READER, RG)],
    )
    assert p.grants == () and [r.assignment.scope for r in p.revokes] == [RG]
    assert p.changes() == (f"revoke Storage Blob Data Reader on {RG}",)


def test_grant_kept_while_another_tag_asks_for_it():
    p = make_plan(
        state(), Policy(), identities={}, grants=[grant("grant:b", READER)], existing=[ours(READER)]
    )
    assert p.empty


def test_foreign_identical_assignment_is_never_touched_nor_duplicated():
    hand = dataclasses.replace(
        ours(READER), name="aaaaaaaa-0000-0000-0000-000000000000", description=None
    )
    p = make_plan(
        state(), Policy(), identities={}, grants=[grant("grant:a", READER)], existing=[hand]
    )
    assert p.empty and p.notes
    p = make_plan(state(), Policy(), identities={}, grants=[], existing=[hand])
    assert p.revokes == ()


def test_description_alone_does_not_make_an_assignment_ours():
    fake = dataclasses.replace(ours(READER), name="aaaaaaaa-0000-0000-0000-000000000000")
    assert not is_ours(APP, fake)
    assert make_plan(state(), Policy(), identities={}, grants=[], existing=[fake]).revokes == ()


def test_floor_and_unknown_roles_refused_others_apply():
    p = make_plan(
        state(),
        Policy(),
        identities={},
        grants=[
            grant("grant:o", OWNER),
            grant("grant:u", None, written="Nope"),
            grant("grant:a", READER),
        ],
    )
    assert {r.tag for r in p.refusals} == {"grant:o", "grant:u"}
    assert "Nope" in next(r.reason for r in p.refusals if r.tag == "grant:u")
    assert [c.tags for c in p.grants] == [("grant:a",)]


def test_broad_role_needs_explicit_allow():
    p = make_plan(state(), Policy(), identities={}, grants=[grant("grant:c", CONTRIB)])
    assert p.grants == () and p.refusals[0].tag == "grant:c"
    p = make_plan(
        state(),
        Policy(allowed_roles=("contributor",)),
        identities={},
        grants=[grant("grant:c", CONTRIB)],
    )
    assert len(p.grants) == 1


def test_tightened_policy_revokes_and_refuses():
    p = make_plan(
        state(),
        Policy(allowed_roles=("Reader",)),
        identities={},
        grants=[grant("grant:a", READER)],
        existing=[ours(READER)],
    )
    assert [r.assignment.scope for r in p.revokes] == [ST]
    assert [r.tag for r in p.refusals] == ["grant:a"]


def test_grants_refused_when_system_identity_may_not_be_enabled():
    p = make_plan(
        state(identity_type="None", principal_id=None),
        Policy(enable_system_identity=False),
        identities={},
        grants=[grant("grant:a", READER)],
    )
    assert p.empty and [r.tag for r in p.refusals] == ["grant:a"]


def test_missing_scope_refused_in_dry_run():
    p = make_plan(
        state(),
        Policy(),
        identities={},
        grants=[grant("grant:a", READER)],
        missing_scopes=[ST.lower()],
    )
    assert p.empty and "does not exist" in p.refusals[0].reason


def test_our_assignments_of_a_principal_the_app_no_longer_has_are_revoked():
    old = ours(READER, principal="22222222-2222-2222-2222-222222222222")
    p = make_plan(state(), Policy(), identities={}, grants=[grant("grant:a", READER)],
                  existing=[old])
    assert [r.assignment for r in p.revokes] == [old]
    assert [g.scope for g in p.grants] == [ST]  # for the current principal


def test_a_persons_assignment_for_another_principal_is_never_revoked():
    hand = dataclasses.replace(ours(READER, principal="22222222-2222-2222-2222-222222222222"),
                               description=None)
    assert make_plan(state(), Policy(), identities={}, grants=[], existing=[hand]).empty


def test_assignment_name_is_deterministic_and_case_insensitive():
    a = assignment_name(APP, PRINCIPAL, READER.guid, ST)
    assert a == assignment_name(APP.upper(), PRINCIPAL.upper(), READER.guid.upper(), ST.lower())
    assert a != assignment_name(APP, PRINCIPAL, READER.guid, RG)


def test_description_round_trips():
    assert owner_of(description_for(APP)) == ArmId.parse(APP)
    assert owner_of("made by hand") is None
    assert owner_of(None) is None


def test_ownership_ignores_the_case_of_the_app_id():
    a = ours(READER)
    upper = APP.replace("resourceGroups/rg1", "resourcegroups/RG1")
    assert is_ours(upper, a)
    assert is_ours(APP, dataclasses.replace(a, description=description_for(upper)))
