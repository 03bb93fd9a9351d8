"""``explain APP_ID``: why a workload has or lacks each grant and standard identity.

:func:`gather` reads one snapshot of the workload exactly as an event would
(handlers.observe, scopes checked as in a dry run) and plans it with the same
pure planner (handlers.plan.make_plan); :func:`explain` turns snapshot and plan
into a frozen :class:`Explanation`, item by item:

* every grant tag, split into its items, each with the rule that decided it (the
  first of :data:`handlers.grants.RULES` it fails, or every one it passed), the
  assignment that holds it (aca-warden's, or one somebody else made), or why it
  is refused and what would be accepted;
* every standard identity, attached or not and why;
* every role assignment on the workload's identities (system- and user-assigned)
  that aca-warden did not make, and every one it did, kept or to be revoked;
* what the next event would change (the plan's changes, word for word).

:func:`render` words it for people; :meth:`Explanation.to_json` for scripts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers.grants import RULES, GrantRequest, Refusal, grant_items, role_decision
from handlers.ids import ArmId
from handlers.model import Assignment, AssignmentIndex, role_name
from handlers.observe import Observer
from handlers.plan import Held, Plan, Snapshot, make_plan, opted_out, outside_resource_groups
from handlers.policy import Policy

__all__ = ["RULE_NAMES", "Explanation", "Item", "Owned", "explain", "gather", "kind_of",
           "render", "tags_by_grant"]

RULE_NAMES = {
    "grammar": "grammar",
    "scope": "scope",
    "allowed_scopes": "allowed_scopes",
    "role": "role resolution",
    "privilege_floor": "privilege floor",
    "broad_role": "broad-role rule",
    "allowed_roles": "allowed_roles",
    "scope_exists": "scope existence",
    "system_identity": "enable_system_identity",
}
_KINDS = {"microsoft.app/containerapps": "container app", "microsoft.app/jobs": "job"}

Status = Literal["granted", "pending", "refused", "not evaluated"]


def kind_of(app: ArmId) -> str:
    """A workload's kind in words ("container app", "job"; else its resource type)."""
    kind = app.type or "workload"
    return _KINDS.get(kind.lower(), kind)


@dataclass(frozen=True)
class Passed:
    """A rule an item passed, and what it found."""

    rule: str
    detail: str = ""


@dataclass(frozen=True)
class Item:
    """One item of a grant tag (``index`` None: the tag as a whole) and its fate."""

    tag: str
    index: int | None
    text: str
    status: Status
    rule: str | None = None  # the rule that refused it
    reason: str = ""
    role: str | None = None
    role_id: str | None = None
    scope: str | None = None
    passed: tuple[Passed, ...] = ()
    holder: Assignment | None = None
    held_by_us: bool = False

    def to_json(self) -> dict[str, Any]:
        holder = None
        if self.holder is not None:
            holder = {"id": self.holder.id, "name": self.holder.name,
                      "made_by": "aca-warden" if self.held_by_us else "someone else"}
        return {"item": None if self.index is None else self.index + 1, "text": self.text,
                "status": self.status, "rule": self.rule, "reason": self.reason or None,
                "role": self.role, "role_id": self.role_id, "scope": self.scope,
                "passed": [{"rule": p.rule, "detail": p.detail} for p in self.passed],
                "assignment": holder}


@dataclass(frozen=True)
class Tag:
    name: str
    value: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class IdentityView:
    identity: str
    status: Literal["attached", "pending", "refused", "not attached"]
    reason: str = ""


@dataclass(frozen=True)
class Owned:
    """A role assignment aca-warden made, with its role's name and the tags asking for it
    (explain's and inventory's)."""

    assignment: Assignment
    role: str
    tags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        a = self.assignment
        return {"id": a.id, "role": self.role, "role_id": a.role_guid, "scope": a.scope,
                "principal_id": a.principal_id, "tags": list(self.tags)}


@dataclass(frozen=True)
class OwnedView(Owned):
    """An assignment aca-warden made, and whether the next event keeps it."""

    keep: bool
    reason: str = ""  # why it is revoked


@dataclass(frozen=True)
class OtherView:
    assignment: Assignment
    role: str
    identity: str  # "system-assigned" or the user-assigned identity's id


@dataclass(frozen=True)
class Explanation:
    app: ArmId
    exists: bool
    policy: str | None
    location: str | None = None
    unmanaged: str | None = None  # why aca-warden leaves it alone
    system_identity: bool = False
    principal: str | None = None
    tags: tuple[Tag, ...] = ()
    identities: tuple[IdentityView, ...] = ()
    other_identities: tuple[str, ...] = ()
    owned: tuple[OwnedView, ...] = ()
    others: tuple[OtherView, ...] = ()
    pending: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "app": str(self.app), "kind": kind_of(self.app), "exists": self.exists,
            "location": self.location, "policy": self.policy,
            "managed": self.unmanaged is None, "unmanaged_reason": self.unmanaged,
            "system_identity": {"enabled": self.system_identity, "principal_id": self.principal},
            "grant_tags": [{"tag": t.name, "value": t.value,
                            "items": [i.to_json() for i in t.items]} for t in self.tags],
            "standard_identities": [{"identity": i.identity, "status": i.status,
                                     "attached": i.status == "attached",
                                     "reason": i.reason or None} for i in self.identities],
            "other_identities": list(self.other_identities),
            "owned_assignments": [
                {**o.to_json(), "status": "kept" if o.keep else "revoke",
                 "reason": o.reason or None} for o in self.owned],
            "other_assignments": [
                {"id": o.assignment.id, "name": o.assignment.name, "role": o.role,
                 "role_id": o.assignment.role_guid, "scope": o.assignment.scope,
                 "principal_id": o.assignment.principal_id, "identity": o.identity}
                for o in self.others],
            "pending": list(self.pending), "notes": list(self.notes),
        }


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gathered:
    """Everything :func:`explain` words: the snapshot, its plan, and the role assignments
    of the workload's user-assigned identities and system principal, with role names."""

    snapshot: Snapshot
    plan: Plan
    body: Mapping[str, Any] | None
    assignments: tuple[Assignment, ...] = ()  # of every identity the workload carries
    role_names: Mapping[str, str] = field(default_factory=dict)


async def gather(observer: Observer, app: ArmId) -> Gathered:
    """One read of `app`, as an event's (scopes checked as a dry run does), planned."""
    body = await observer.arm.get_app(app)
    snap = await observer.observe(app, body=body, verify_scopes=True, past_opt_out=True)
    plan = make_plan(snap, observer.policy)
    principals = set(_user_principals(body).values())
    if snap.state is not None and snap.state.system_identity and snap.state.principal_id:
        principals.add(snap.state.principal_id)
    found: list[Assignment] = []
    if principals:  # the listings observe just read (shared, still fresh): no request
        indexes, _ = await observer.listings(observer.subscriptions_for(app), None)
        found = _of_principals(indexes.values(), principals)
    names = await observer.role_names(app.subscription or "", found, snap.role_names)
    return Gathered(snap, plan, body, tuple(found), names)


def _user_principals(body: Mapping[str, Any] | None) -> dict[str, str]:
    """User-assigned identity id -> its principal id, as the workload's JSON shows them."""
    users = ((body or {}).get("identity") or {}).get("userAssignedIdentities") or {}
    return {k: str(v["principalId"]).lower() for k, v in users.items()
            if isinstance(v, dict) and v.get("principalId")}


def _of_principals(indexes: Iterable[AssignmentIndex], principals: set[str]
                   ) -> list[Assignment]:
    seen: dict[str, Assignment] = {}
    for index in indexes:
        for p in sorted(principals):
            for a in index.of_principal(p):
                seen.setdefault(a.id.lower(), a)
    return list(seen.values())


# -- deciding nothing, wording everything ------------------------------------------------------


def explain(g: Gathered, policy: Policy) -> Explanation:
    """The explanation of one gathered workload (pure)."""
    snap, plan = g.snapshot, g.plan
    state = snap.state
    owned_ids = {a.id.lower() for a in snap.owned}
    if state is None:
        owned = tuple(OwnedView(a, role_name(g.role_names, a.role_guid), (), False,
                                "the workload is gone") for a in snap.owned)
        return Explanation(snap.app, False, policy.source, owned=owned,
                           pending=plan.changes(), notes=plan.notes)
    unmanaged = outside_resource_groups(snap.app, policy) or opted_out(state.tags, policy)
    requests = {(r.request.tag, r.request.item): r for r in snap.grants}
    refusals = {(r.tag, r.item): r for r in (*snap.grant_refusals, *plan.refusals)
                if r.tag is not None}
    tags = tuple(_tag(name, value, requests, refusals, plan, snap, policy, unmanaged)
                 for name, value in _grant_tags(snap, plan))
    users = _user_principals(g.body)
    others = tuple(OtherView(a, role_name(g.role_names, a.role_guid),
                             _identity_of(a, state.principal_id, users))
                   for a in g.assignments if a.id.lower() not in owned_ids)
    return Explanation(
        snap.app, True, policy.source, location=state.location, unmanaged=unmanaged,
        system_identity=state.system_identity, principal=state.principal_id, tags=tags,
        identities=_identities(snap, plan, unmanaged),
        other_identities=tuple(i for i in state.user_assigned
                               if i.lower() not in {s.lower() for s in snap.identities}),
        owned=_owned(snap, plan, g.role_names, refusals, unmanaged), others=others,
        pending=() if unmanaged else plan.changes(), notes=() if unmanaged else plan.notes)


def _grant_tags(snap: Snapshot, plan: Plan) -> list[tuple[str, str]]:
    """(name, value) of every grant tag, in the order the planner reads them."""
    assert snap.state is not None
    names = [r.request.tag for r in snap.grants] + [
        r.tag for r in (*snap.grant_refusals, *plan.refusals) if r.tag]
    found = {n.lower(): n for n in names}
    tags = snap.state.tags
    return [(n, str(tags.get(n, ""))) for n in sorted(found.values(),
                                                      key=lambda n: (n.lower(), n))]


def _tag(name: str, value: str, requests: Mapping[tuple[str, int | None], Any],
         refusals: Mapping[tuple[str, int | None], Refusal], plan: Plan, snap: Snapshot,
         policy: Policy, unmanaged: str | None) -> Tag:
    whole = refusals.get((name, None))
    if whole is not None:  # the tag as a whole (no label, no item at all)
        return Tag(name, value, (Item(name, None, value, "refused", whole.rule, whole.reason),))
    items: list[Item] = []
    for n, text in enumerate(grant_items(value)):
        resolved = requests.get((name, n))
        refusal = refusals.get((name, n))
        if unmanaged is not None:
            items.append(Item(name, n, text, "not evaluated", reason=unmanaged))
        elif refusal is not None:
            items.append(_refused(name, n, text, refusal, resolved, policy))
        elif resolved is not None:
            items.append(_admitted(name, n, text, resolved, plan, snap, policy))
    return Tag(name, value, tuple(items))


def _request_passes(req: GrantRequest) -> list[Passed]:
    return [Passed("grammar"), Passed("scope"), Passed("allowed_scopes", f"within {req.within}")]


def _role_passes(resolved: Any, policy: Policy, upto: str) -> list[Passed]:
    """The role rules before `upto` (or all of them) that a resolved role passed."""
    role = resolved.role
    out = [Passed("role")]
    decision = role_decision(role.name, role.guid, role.level, policy, role.why)
    out.append(Passed("privilege_floor"))
    out.append(Passed("broad_role", "broad, but named in grants.allowed_roles"
                      if role.level == "broad" else "not broad"))
    out.append(Passed("allowed_roles", decision.reason))
    if upto == "system_identity":
        out.append(Passed("scope_exists"))
    return [p for p in out if RULES.index(p.rule) < RULES.index(upto)]


def _refused(tag: str, n: int, text: str, refusal: Refusal, resolved: Any,
             policy: Policy) -> Item:
    rule = refusal.rule or "role"
    passed: list[Passed] = []
    role = scope = role_id = None
    if resolved is not None:  # it got past the tag's grammar and scopes
        req: GrantRequest = resolved.request
        scope = req.scope
        passed = _request_passes(req)
        if resolved.role is not None:
            role, role_id = resolved.role.name, resolved.role.guid
            passed += _role_passes(resolved, policy, rule)
    else:
        passed = [Passed(r) for r in RULES[:RULES.index(rule)] if rule in RULES]
    return Item(tag, n, text, "refused", rule, refusal.reason, role, role_id, scope,
                tuple(passed))


def _admitted(tag: str, n: int, text: str, resolved: Any, plan: Plan, snap: Snapshot,
              policy: Policy) -> Item:
    req: GrantRequest = resolved.request
    role = resolved.role
    key = (role.guid.lower(), req.scope.lower())
    passed = _request_passes(req) + _role_passes(resolved, policy, "scope_exists")
    held: Held | None = next((h for h in plan.held if h.grant.key == key), None)
    passed.append(Passed("scope_exists"))
    assert snap.state is not None
    passed.append(Passed("system_identity", "on" if snap.state.system_identity
                         else "off: the next event enables it"))
    if held is not None:
        return Item(tag, n, text, "granted", role=role.name, role_id=role.guid,
                    scope=req.scope, passed=tuple(passed), holder=held.assignment,
                    held_by_us=held.ours,
                    reason="" if held.ours else "an assignment aca-warden did not make "
                    "already grants it; aca-warden leaves that one alone")
    return Item(tag, n, text, "pending", role=role.name, role_id=role.guid, scope=req.scope,
                passed=tuple(passed), reason="the next event grants it")


def _identities(snap: Snapshot, plan: Plan, unmanaged: str | None
                ) -> tuple[IdentityView, ...]:
    assert snap.state is not None
    have = {i.lower() for i in snap.state.user_assigned}
    attach = {i.lower() for i in plan.attach}
    create = {i.lower() for i in plan.create_identities}
    refused = {r.identity.lower(): r.reason for r in plan.refusals if r.identity}
    out: list[IdentityView] = []
    for ident, exists in snap.identities.items():
        low = ident.lower()
        if low in have:
            out.append(IdentityView(ident, "attached"))
        elif unmanaged is not None:
            out.append(IdentityView(ident, "not attached", unmanaged))
        elif low in attach:
            out.append(IdentityView(ident, "pending", "the next event creates and attaches it"
                                    if low in create else "the next event attaches it"))
        elif low in refused:
            out.append(IdentityView(ident, "refused", refused[low]))
        else:
            out.append(IdentityView(ident, "not attached",
                                    "exists" if exists else "does not exist"))
    return tuple(out)


def _owned(snap: Snapshot, plan: Plan, names: Mapping[str, str],
           refusals: Mapping[tuple[str, int | None], Refusal], unmanaged: str | None
           ) -> tuple[OwnedView, ...]:
    assert snap.state is not None
    tags_of = tags_by_grant(snap)
    refused_keys = {(r.role.guid.lower(), r.request.scope.lower()): refusals[
        (r.request.tag, r.request.item)].reason for r in snap.grants
        if r.role is not None and (r.request.tag, r.request.item) in refusals}
    revoked = {r.assignment.id.lower() for r in plan.revokes}
    principal = snap.state.principal_id if snap.state.system_identity else None
    out: list[OwnedView] = []
    for a in snap.owned:
        tags = tags_of.get(a.key, ())
        name = role_name(names, a.role_guid)
        if unmanaged is not None:
            out.append(OwnedView(a, name, tags, True, ""))
        elif a.id.lower() not in revoked:
            out.append(OwnedView(a, name, tags, True))
        elif a.principal_id.lower() != (principal or ""):
            out.append(OwnedView(a, name, tags, False, "it holds a principal the workload no "
                                 "longer has (its system-assigned identity was switched off "
                                 "or renewed)"))
        elif a.key in refused_keys:
            out.append(OwnedView(a, name, tags, False, "the policy no longer admits it: "
                                 + refused_keys[a.key]))
        else:
            out.append(OwnedView(a, name, tags, False, "no grant tag asks for it any more"))
    return tuple(out)


def tags_by_grant(snap: Snapshot) -> dict[tuple[str, str], tuple[str, ...]]:
    """(role GUID, scope), lower-case -> the grant tags asking for it, in the tags' order
    (which tag an assignment of aca-warden's stands for)."""
    tags_of: dict[tuple[str, str], tuple[str, ...]] = {}
    for r in snap.grants:
        if r.role is not None:
            key = (r.role.guid.lower(), r.request.scope.lower())
            if r.request.tag not in tags_of.get(key, ()):
                tags_of[key] = (*tags_of.get(key, ()), r.request.tag)
    return tags_of


def _identity_of(a: Assignment, principal: str | None, users: Mapping[str, str]) -> str:
    if principal and a.principal_id.lower() == principal:
        return "system-assigned"
    return next((i for i, p in users.items() if p == a.principal_id.lower()), "unknown")


# -- words --------------------------------------------------------------------------------


def render(e: Explanation) -> str:
    """The explanation for a person who has never read the code."""
    out: list[str] = [f"{kind_of(e.app).capitalize()} {e.app.name}", f"  {e.app}"]
    if not e.exists:
        out += ["  does not exist (any more).", ""]
        out += _section("Role assignments aca-warden made for it",
                        [f"{o.role} on {o.assignment.scope}  (assignment {o.assignment.name})"
                         for o in e.owned])
        out += _section("What the next event would change", list(e.pending)
                        or ["nothing"])
        return "\n".join(out).rstrip() + "\n"
    ident = (f"on (principal {e.principal})" if e.system_identity and e.principal
             else "on" if e.system_identity else "off")
    out.append(f"  location: {e.location or 'unknown'}   policy: {e.policy or 'defaults'}"
               f"   system-assigned identity: {ident}")
    out.append("  managed: yes" if e.unmanaged is None
               else f"  managed: no: {e.unmanaged}; aca-warden leaves it alone")
    out.append("")
    tag_lines: list[str] = []
    for t in e.tags:
        tag_lines.append(f"{t.name} = {t.value!r}")
        for item in t.items:
            tag_lines += ["  " + line for line in _item_lines(item)]
    out += _section("Grant tags", tag_lines or ["none"])
    out += _section("Standard identities (identities.standard)",
                    [f"{i.status.upper():<13} {i.identity}"
                     + (f"\n{'':16}{i.reason}" if i.reason else "")
                     for i in e.identities] or ["none in the policy"])
    if e.other_identities:
        out += _section("Other user-assigned identities on it (not standard; left alone)",
                        list(e.other_identities))
    out += _section("Role assignments aca-warden made for it",
                    [f"{'KEPT' if o.keep else 'REVOKE':<7}{o.role} on {o.assignment.scope}"
                     + (f"  (tag {', '.join(o.tags)})" if o.tags else "")
                     + f"\n{'':7}assignment {o.assignment.name}"
                     + (f"; revoked because {o.reason}" if o.reason else "")
                     for o in e.owned] or ["none"])
    out += _section("Role assignments on its identities that aca-warden did not make "
                    "(never touched)",
                    [f"{o.role} on {o.assignment.scope}\n  held by the {o.identity} identity"
                     f" (assignment {o.assignment.name})" if o.identity == "system-assigned"
                     else f"{o.role} on {o.assignment.scope}\n  held by user-assigned "
                     f"identity {o.identity} (assignment {o.assignment.name})"
                     for o in e.others] or ["none"])
    pending = list(e.pending) or (["nothing: aca-warden leaves it alone"] if e.unmanaged
                                  else ["nothing: it is in line with the policy"])
    out += _section("What the next event would change", pending + [f"note: {n}"
                                                                    for n in e.notes])
    return "\n".join(out).rstrip() + "\n"


def _section(title: str, lines: Sequence[str]) -> list[str]:
    body = []
    for line in lines:
        body += ["  " + part for part in line.split("\n")]
    return [title, *body, ""]


def _item_lines(item: Item) -> list[str]:
    head = f"item {item.index + 1}: {item.text}" if item.index is not None else "the tag"
    lines = [head]
    role = f"{item.role} ({item.role_id})" if item.role_id else item.role
    if item.status == "refused":
        lines.append(f"  REFUSED ({RULE_NAMES.get(item.rule or '', item.rule)}): {item.reason}")
        if item.scope is not None:
            lines.append(f"  asks for {role or 'role ' + repr(item.text.split('@')[0])} "
                         f"on {item.scope}")
    elif item.status == "granted":
        assert item.holder is not None
        who = "aca-warden's" if item.held_by_us else "somebody else's (left alone)"
        lines.append(f"  GRANTED: {role} on {item.scope}")
        lines.append(f"  held by {who} assignment {item.holder.name}")
    elif item.status == "pending":
        lines.append(f"  PENDING: {role} on {item.scope}: {item.reason}")
    else:
        lines.append(f"  NOT EVALUATED: {item.reason}")
    if item.passed:
        lines.append("  passed: " + ", ".join(
            RULE_NAMES.get(p.rule, p.rule) + (f" ({p.detail})" if p.detail else "")
            for p in item.passed))
    return lines
