"""Whole app lives against the fake ARM (hypothesis): whatever a person does, in any order,
with events lost, repeated or failing, the next event leaves exactly the grants the tags ask
for, for the app's current principal, and never touches a person's assignment."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.policy import Policy
from handlers.warden import Warden

from .conftest import delete, failure, tags_delete, tags_write, write
from .fakearm import SUB, FakeArm, transient

RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
ST1 = f"{RG}/providers/Microsoft.Storage/storageAccounts/st1"
TAGS = {
    "grant:a": ("Reader@.", ("Reader", RG)),
    "grant:b": ("Storage Blob Data Reader@.", ("Storage Blob Data Reader", RG)),
    "grant:c": ("Reader@Microsoft.Storage/storageAccounts/st1", ("Reader", ST1)),
    "grant:d": ("Owner@.", None),  # under the privilege floor: never granted
    "grant:e": ("reader@.", ("Reader", RG)),  # the same grant as grant:a
}
EVENTS = {"write": write, "tags": tags_write, "tags-delete": tags_delete, "delete": delete,
          "failure": failure}
METHODS = ["get_app", "list_assignments", "patch_app", "create_assignment",
           "delete_assignment", "find_role"]

tag_sets = st.sets(st.sampled_from(sorted(TAGS)))
steps = st.one_of(
    st.tuples(st.just("tags"), tag_sets),
    st.tuples(st.just("identity"), st.sampled_from(["off", "on", "cycle"])),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("recreate"), tag_sets),
    st.tuples(st.just("hand"), st.sampled_from(["Reader", "Storage Blob Data Reader"])),
    st.tuples(st.just("deliver"), st.lists(st.sampled_from(sorted(EVENTS)), min_size=1,
                                            max_size=3)),
    st.tuples(st.just("fault"), st.sampled_from(METHODS)),
)


def run(life: list[tuple[str, Any]], dry_first: bool) -> None:
    asyncio.run(live(life, dry_first))


async def live(life: list[tuple[str, Any]], dry_first: bool) -> None:
    arm = FakeArm()
    arm.resource(ST1)
    app = arm.app("web", {})
    hands = []
    warden = Warden(Policy(), arm)
    if dry_first:
        await Warden(Policy(dry_run=True), arm).handle_payload([write(app)])
        assert arm.writes == 0
    for kind, arg in life:
        exists = arm.principal(app) is not None or app.lower() in {
            str(a).lower() for a in arm.apps}
        if kind == "tags" and exists:
            arm.set_tags(app, {t: TAGS[t][0] for t in arg})
        elif kind == "identity" and exists:
            if arg in ("off", "cycle"):
                arm.set_identity(app, system=False)
            if arg in ("on", "cycle"):
                arm.set_identity(app, system=True)
        elif kind == "delete":
            arm.delete(app)
        elif kind == "recreate":
            arm.app("web", {t: TAGS[t][0] for t in arg})
        elif kind == "hand" and arm.principal(app):
            hands.append(arm.hand_assign(RG, arg, arm.principal(app) or ""))
        elif kind == "deliver":
            outs = await warden.handle_payload([EVENTS[e](app) for e in arg])
            assert all(o.result in ("applied", "unchanged", "deleted", "retry") for o in outs)
        elif kind == "fault":
            arm.fail(arg, transient(arg))
    for _ in range(8):  # the next event, delivered again until nothing needs a retry
        planned = await warden.plan_app(app)
        [out] = await warden.handle_payload([write(app)])
        if out.result != "retry":
            break
    else:
        raise AssertionError("never converged")
    if planned.result == "refused" and "not found" in (planned.error or ""):
        assert out.result == "deleted" and out.changes == ()  # nothing left to clean up
    elif planned.result != "retry":  # plan shows exactly what the next event does
        assert planned.result == out.result, (planned, out)
        assert list(planned.changes) == [f"planned: {c}" for c in out.changes]
        assert planned.refused == out.refused
    check(arm, app, hands)


def check(arm: FakeArm, app: str, hands: list[Any]) -> None:
    for h in hands:  # a person's assignment is never touched
        assert h.id.lower() in arm.assignments
    ours = arm.grants(app)
    body = next((b for a, b in arm.apps.items() if str(a).lower() == app.lower()), None)
    if body is None:
        assert ours == set(), "grants of a deleted app were left"
        return
    wanted = {TAGS[t][1] for t in body["tags"] if TAGS[t][1] is not None}
    principal = arm.principal(app)
    if wanted:
        assert principal, "the system identity was not enabled for the grants"
    assert all(p == principal for _, _, p in ours), "a grant for a principal the app lost"
    assert {(r, s) for r, s, _ in ours} <= wanted, "a grant no tag asks for"
    held_by_hand = {(arm_role(arm, h), h.scope) for h in arm.assignments.values()
                    if h.principal_id == principal and h.description is None}
    assert wanted <= {(r, s) for r, s, _ in ours} | held_by_hand, "a tag's grant is missing"
    assert len(ours) == len(arm.ours(app)), "the same grant twice"


def arm_role(arm: FakeArm, a: Any) -> str:
    return next(r["roleName"] for r in arm.roles if r["name"] == a.role_guid)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(steps, max_size=10), st.booleans())
def test_any_life_ends_converged_on_the_next_event(life: list[tuple[str, Any]],
                                                   dry_first: bool) -> None:
    run(life, dry_first)


def test_the_life_checker_can_fail() -> None:
    """The invariant is not vacuous: a grant left for an old principal is caught."""
    arm = FakeArm()
    app = arm.app("web", {"grant:a": "Reader@."}, system=True)
    arm.hand_assign(RG, "Reader", "0ld00000-0000-0000-0000-000000000000".replace("l", "1"))
    from handlers.model import description_for

    stale = arm.hand_assign(RG, "Reader", "01d00000-0000-0000-0000-000000000000",
                            description=description_for(app))
    try:
        check(arm, app, [])
    except AssertionError as e:
        assert "old principal" in str(e) or "principal the app lost" in str(e)
    else:  # pragma: no cover - the checker must refuse this state
        raise AssertionError(f"the checker accepted {stale}")
