"""Grant tags and the privilege floor (pure: no I/O).

A grant tag asks for role assignments for the app's system-assigned identity::

    grant:<label> = <role>@<scope>[; <role>@<scope> ...]

The tag name matches ``policy.tag_prefix`` case-insensitively. Whitespace
around ``;`` and ``@`` is ignored, and so are empty items; each item has
exactly one ``@``. ``<role>`` is a role name, a role-definition GUID or a full
role-definition id. ``<scope>`` is a full ARM id, a path relative to the app's
resource group (``Microsoft.Storage/storageAccounts/stapp``) or ``.`` for the
resource group itself.

Every item is checked in order -- syntax, scope, ``allowed_scopes`` -- and
becomes either a :class:`GrantRequest` or a :class:`Refusal` whose reason says
what was wrong and what would be accepted. One bad item never spoils the
others. The same (role, scope) asked for by two tags gives two requests (one
per tag); merging them into one assignment is the planner's job.

Whether a role may be used at all is decided from its definition, not its
name: :func:`classify_role` puts it under the privilege *floor* (it can grant
access or elevate: never allowed), makes it *broad* (writes across every
provider, writes grant tags -- the Tags API, container apps, jobs -- or assigns
user-assigned identities: only when named explicitly in ``allowed_roles``) or
*ok*, and says which action decided it; :func:`role_allowed` applies
``allowed_roles``. Action patterns match as Azure matches them
(:func:`pattern_matches`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .ids import ArmId, arm_path_problem, is_guid, role_definition_guid
from .policy import Policy, expand

__all__ = [
    "FLOOR_OPERATIONS",
    "GRANT_TAG_WRITES",
    "RULES",
    "Classification",
    "GrantRequest",
    "Level",
    "Refusal",
    "RoleDecision",
    "classify_permissions",
    "classify_role",
    "grant_items",
    "is_guid",
    "normalise_scope",
    "parse_grant_tags",
    "parse_grant_value",
    "pattern_matches",
    "role_allowed",
    "role_decision",
    "role_guid_of",
]

Level = Literal["floor", "broad", "ok"]

FLOOR_OPERATIONS = (
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
    "Microsoft.Authorization/elevateAccess/action",
)
# Operations of providers no pattern can name on purpose: a pattern that matches
# them allows writes in *every* provider.
_ANY_PROVIDER_WRITES = tuple(
    f"{provider}/wardenProbes/{verb}"
    for provider in ("Microsoft.WardenProbe", "Contoso.WardenProbe")
    for verb in ("write", "delete", "probe/action")
)
# Whoever can do one of these can write grant tags (the Tags API, or a PUT/PATCH of the
# app or job with its tags) and so decide what aca-warden grants.
GRANT_TAG_WRITES = (
    "Microsoft.Resources/tags/write",
    "Microsoft.App/containerApps/write",
    "Microsoft.App/jobs/write",
)
_IDENTITY_ASSIGN = (
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    "Microsoft.ManagedIdentity/userAssignedIdentities/probe/assign/action",
)
_GRAMMAR = "<role>@<scope>[; <role>@<scope> ...]"
# The rules a grant tag's item passes, in the order they are applied (parse_grant_tags,
# then the planner): the first one that fails refuses the item.
RULES = ("grammar", "scope", "allowed_scopes", "role", "privilege_floor", "broad_role",
         "allowed_roles", "scope_exists", "system_identity")
_SCOPE_FORMS = (
    "a full ARM id (/subscriptions/<sub>/...), a path relative to the app's resource group "
    "(Microsoft.Storage/storageAccounts/<name>) or '.' for the resource group"
)


@dataclass(frozen=True)
class GrantRequest:
    """One role assignment a grant tag asks for.

    ``item`` is the item's position in the tag's value (0-based, empty items not
    counted) and ``within`` the ``allowed_scopes`` entry that admits the scope
    (expanded): where it came from and why it passed, for ``explain``.
    """

    tag: str  # full tag name as on the app, e.g. "grant:blob"
    role: str  # as written: name, GUID or role-definition id
    scope: str  # absolute, normalised ARM id (no trailing /)
    item: int | None = field(default=None, compare=False)
    within: str = field(default="", compare=False)


@dataclass(frozen=True)
class Refusal:
    """A grant (``tag``) or standard identity (``identity``) that is not applied, and why.

    ``rule`` names the check that refused it (:data:`RULES`; None where no rule
    decided, e.g. ARM refusing a write) and ``item`` the position of the tag's item it
    concerns (None: the whole tag). Neither is part of the outcome line.
    """

    reason: str
    tag: str | None = None
    identity: str | None = None
    rule: str | None = field(default=None, compare=False)
    item: int | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, str]:
        """The outcome's form: ``{"tag": ..., "reason": ...}`` (or ``identity``)."""
        out: dict[str, str] = {}
        if self.tag is not None:
            out["tag"] = self.tag
        if self.identity is not None:
            out["identity"] = self.identity
        out["reason"] = self.reason
        return out


def role_guid_of(role: str) -> str | None:
    """The role-definition GUID a role reference names directly (GUID or id), else None."""
    return role.lower() if is_guid(role) else role_definition_guid(role)


# --- scopes ----------------------------------------------------------------------------------


def normalise_scope(scope: str, app_id: str) -> tuple[str | None, str | None]:
    """(absolute normalised scope, None) or (None, reason) for one written scope.

    Validates before anything becomes a URL; the canonical spelling of
    handlers.ids.ArmId (keywords, subscription lower-case, known types),
    everything else as written.
    """
    app = ArmId.try_parse(app_id)
    base = app.parent if app is not None else None
    while base is not None and base.providers:
        base = base.parent  # the app's resource group
    if base is None or base.resource_group is None:
        return None, f"scope {scope!r} cannot be resolved: {app_id!r} is not in a resource group"
    if scope == ".":
        return str(base), None
    problem = arm_path_problem(scope if scope.startswith("/") else "/" + scope)
    if problem is not None:
        return None, f"scope {scope!r} is malformed: {problem}"
    if scope.startswith("/"):
        absolute = scope
    else:
        lowered = scope.lower()
        if lowered.startswith(("subscriptions/", "resourcegroups/")) or lowered in (
            "subscriptions", "resourcegroups"):
            return None, (
                f"scope {scope!r} is neither relative to the app's resource group "
                "nor a full ARM id (a full id starts with '/subscriptions/')"
            )
        relative = scope if lowered.startswith("providers/") else f"providers/{scope}"
        absolute = f"{base}/{relative}"
    try:
        parsed = ArmId.parse(absolute)
    except ValueError as e:
        return None, f"scope {scope!r} is not an ARM scope: {e}"
    if parsed.subscription is None:
        return None, (f"scope {scope!r} is not an ARM scope: it does not start with "
                      "/subscriptions/<subscription>")
    return str(parsed), None


# --- grant tags ------------------------------------------------------------------------------


def grant_items(value: str) -> list[str]:
    """The items of a grant tag's value as written (split at ``;``, stripped, empty ones
    dropped): item ``n`` of :func:`parse_grant_value` and ``GrantRequest.item``."""
    return [item for item in (raw.strip() for raw in value.split(";")) if item]


def parse_grant_value(value: str) -> list[tuple[str, str] | str]:
    """Split a tag value into (role, scope) pairs, or reasons for malformed items."""
    out: list[tuple[str, str] | str] = []
    for item in grant_items(value):
        if item.count("@") != 1:
            count = item.count("@")
            out.append(
                f"item {item!r} has {'no' if count == 0 else count} '@'; "
                f"each item is exactly one <role>@<scope>"
            )
            continue
        role, scope = (part.strip() for part in item.split("@"))
        if not role:
            out.append(f"item {item!r} has no role before '@'; expected <role>@<scope>")
        elif not scope:
            out.append(f"item {item!r} has no scope after '@'; expected {_SCOPE_FORMS}")
        else:
            out.append((role, scope))
    return out


def _role_problem(role: str) -> str | None:
    if any(not ch.isprintable() for ch in role):
        return f"role {role!r} contains a control character"
    if role.startswith("/") and role_definition_guid(role) is None:
        return (f"role {role!r} is not a role-definition id; expected a role name, a GUID or "
                "/providers/Microsoft.Authorization/roleDefinitions/<guid>")
    return None


def _allowed_scopes(policy: Policy, app_id: str, location: str | None) -> list[ArmId]:
    """``allowed_scopes`` filled in for the app; a scope admits itself and what lies
    below it (:meth:`ArmId.contains`: segment-wise, case ignored)."""
    scopes = []
    for template in policy.allowed_scopes:
        try:
            expanded = expand(template, app_id, location)
        except ValueError:
            continue  # needs a location the caller does not know: admits nothing
        normalised, _ = normalise_scope(expanded, app_id)
        if normalised is not None:  # else not a scope (the policy checks their shape)
            scopes.append(ArmId.parse(normalised))
    return scopes


def parse_grant_tags(
    tags: Mapping[str, str], policy: Policy, app_id: str, location: str | None
) -> tuple[list[GrantRequest], list[Refusal]]:
    """Every grant the app's tags ask for, and every refusal; syntax, scope, allowed_scopes."""
    requests: list[GrantRequest] = []
    refusals: list[Refusal] = []
    prefix = policy.tag_prefix.lower()
    allowed = _allowed_scopes(policy, app_id, location)
    tags = tags or {}  # an app without tags may come back with "tags": null
    for tag in sorted(tags, key=lambda name: (name.lower(), name)):
        if not tag.lower().startswith(prefix):
            continue
        value = tags[tag]
        if len(tag) == len(prefix):
            refusals.append(
                Refusal(f"tag {tag!r} has no label; name it {policy.tag_prefix}<label>", tag,
                        rule="grammar")
            )
            continue
        if not isinstance(value, str):
            refusals.append(Refusal(f"tag value must be a string: {_GRAMMAR}", tag,
                                    rule="grammar"))
            continue
        items = parse_grant_value(value)
        if not items:
            refusals.append(
                Refusal(f"tag value {value!r} names no grant; expected {_GRAMMAR}", tag,
                        rule="grammar")
            )
        for n, item in enumerate(items):
            if isinstance(item, str):
                refusals.append(Refusal(item, tag, rule="grammar", item=n))
                continue
            role, written = item
            problem = _role_problem(role)
            if problem is not None:
                refusals.append(Refusal(problem, tag, rule="grammar", item=n))
                continue
            scope, problem = normalise_scope(written, app_id)
            if scope is None:
                refusals.append(Refusal(f"{problem}; expected {_SCOPE_FORMS}", tag,
                                        rule="scope", item=n))
                continue
            target = ArmId.parse(scope)  # normalise_scope answers only parsed ids
            within = next((a for a in allowed if a.contains(target)), None)
            if within is None:
                admitted = " or ".join(f"{a} and below" for a in allowed) or "nothing"
                refusals.append(
                    Refusal(f"scope {scope} is outside allowed_scopes; allowed: {admitted}", tag,
                            rule="allowed_scopes", item=n)
                )
                continue
            requests.append(GrantRequest(tag=tag, role=role, scope=scope, item=n,
                                         within=str(within)))
    return requests, refusals


# --- the privilege floor and broad roles ---------------------------------------------------------


@lru_cache(maxsize=1024)
def _pattern_re(pattern: str) -> re.Pattern[str]:
    parts = pattern.split("*")
    out = re.escape(parts[0])
    for before, after in itertools.pairwise(parts):
        if before.endswith("/") and after.startswith("/"):
            # ".../*/..." also matches a single "/": the star and one slash may vanish.
            out += "(?:.*/)?" + re.escape(after[1:])
        else:
            out += ".*" + re.escape(after)
    return re.compile(out, re.IGNORECASE | re.DOTALL)


def pattern_matches(pattern: str, operation: str) -> bool:
    """Azure's action matching: case-insensitive; ``*`` matches any characters (``/`` too).

    Each ``/*/`` also matches a single ``/``, adjacent ones too (``*/*/*/*`` is
    ``*/*``): Microsoft documents ``Microsoft.App/containerApps/*/write`` (Container
    Apps Contributor) as able to create apps, that is, to do
    ``Microsoft.App/containerApps/write``. The emulator's ``action_matches`` is
    independent code held to the same rule (``tests/fuzz/test_fuzz_actions.py``).
    """
    return _pattern_re(pattern.strip()).fullmatch(operation) is not None


def _strings(block: Any, *names: str) -> list[str]:
    for name in names:
        value = block.get(name) if isinstance(block, Mapping) else getattr(block, name, None)
        if isinstance(value, str):
            return [value]
        if isinstance(value, Iterable):
            return [v for v in value if isinstance(v, str)]
    return []


def _allowing(permissions: Iterable[Any], operations: Iterable[str]) -> tuple[str, str] | None:
    """(action pattern, operation) of the first block that allows one of `operations`
    after its own notActions, else None."""
    ops = tuple(operations)
    for block in permissions:
        actions = _strings(block, "actions")
        not_actions = _strings(block, "notActions", "not_actions")
        for op in ops:
            if any(pattern_matches(n, op) for n in not_actions):
                continue
            for action in actions:
                if pattern_matches(action, op):
                    return action, op
    return None


@dataclass(frozen=True)
class Classification:
    """A role definition's level, and what puts it there (empty for ``ok``)."""

    level: Level
    why: str = ""


def classify_role(permissions: list[dict[str, Any]] | None) -> Classification:
    """The level of a role definition's ``permissions``, with the action that decides it.

    *floor*: some action (after its block's ``notActions``) allows one of
    :data:`FLOOR_OPERATIONS`. *broad*: it allows writes in every provider,
    :data:`GRANT_TAG_WRITES` (it could rewrite grant tags, the app's own included,
    and so change what aca-warden grants) or assigning user-assigned identities.
    Accepts the REST form (``notActions``) and the SDK's ``as_dict()`` form
    (``not_actions``). Data actions never count: they reach no control plane.
    """
    blocks = [b for b in (permissions or []) if b is not None]
    hit = _allowing(blocks, FLOOR_OPERATIONS)
    if hit is not None:
        return Classification("floor", f"its action {hit[0]!r} allows {hit[1]}")
    hit = _allowing(blocks, _ANY_PROVIDER_WRITES)
    if hit is not None:
        return Classification("broad", f"its action {hit[0]!r} allows writes in every "
                              "resource provider")
    hit = _allowing(blocks, GRANT_TAG_WRITES)
    if hit is not None:
        return Classification("broad", f"its action {hit[0]!r} allows {hit[1]}, so the app's "
                              "identity could write grant tags (its own included) and change "
                              "what aca-warden grants")
    hit = _allowing(blocks, _IDENTITY_ASSIGN)
    if hit is not None:
        return Classification("broad", f"its action {hit[0]!r} allows assigning user-assigned "
                              "identities (Microsoft.ManagedIdentity/userAssignedIdentities/"
                              "*/assign/action)")
    return Classification("ok")


def classify_permissions(permissions: list[dict[str, Any]] | None) -> Level:
    """``"floor"``, ``"broad"`` or ``"ok"`` for a role definition's ``permissions``."""
    return classify_role(permissions).level


@dataclass(frozen=True)
class RoleDecision:
    """Whether ``allowed_roles`` and the privilege floor admit a role, by which rule
    (``privilege_floor``, ``broad_role`` or ``allowed_roles``), and why (the refusal's
    reason, with what would be accepted; or what admits it)."""

    allowed: bool
    rule: str
    reason: str


def role_allowed(
    role_name: str, role_guid: str, level: str, policy: Policy, why: str = ""
) -> str | None:
    """None when `policy` allows the role, else the reason (with what would be accepted).

    `why` is :attr:`Classification.why`: what makes the role floor or broad.
    """
    decision = role_decision(role_name, role_guid, level, policy, why)
    return None if decision.allowed else decision.reason


def role_decision(
    role_name: str, role_guid: str, level: str, policy: Policy, why: str = ""
) -> RoleDecision:
    """The privilege floor, the broad-role rule and ``allowed_roles``, in that order."""
    shown = f"{role_name} ({role_guid})" if role_guid and role_name != role_guid else role_name
    if level == "floor":
        return RoleDecision(False, "privilege_floor", (
            f"role {shown} falls under the privilege floor: it can grant access or elevate "
            f"({why or ', '.join(FLOOR_OPERATIONS)}); no setting allows it; use a role "
            f"without {', '.join(FLOOR_OPERATIONS)}"
        ))
    wanted = {role_name.lower(), role_guid.lower()} - {""}
    for entry in policy.allowed_roles:
        key = entry.strip().lower()
        named = ArmId.try_parse(key) if key.startswith("/") else None
        if key in wanted or (named is not None and (named.name or "") in wanted):
            rule = "broad_role" if level == "broad" else "allowed_roles"
            return RoleDecision(True, rule, f"named: {entry.strip()}")
    listed = [r for r in policy.allowed_roles if r != "*"]
    if "*" in policy.allowed_roles and level != "broad":
        return RoleDecision(True, "allowed_roles", '"*": any role neither privileged nor broad')
    if level == "broad":
        return RoleDecision(False, "broad_role", (
            f"role {shown} is broad ("
            + (why or "it can write across every provider, write grant tags or assign "
               "user-assigned identities")
            + ') and "*" does not admit it; name it in grants.allowed_roles to allow it'
            + (f"; allowed: {', '.join(listed)}" if listed else "")
            + (
                "; or choose any role that is neither broad nor privileged"
                if "*" in policy.allowed_roles
                else ""
            )
        ))
    return RoleDecision(False, "allowed_roles", f"role {shown} is not in grants.allowed_roles; "
                        f"allowed: {', '.join(listed) or 'none'}")
