"""Fuzzing the grant-tag grammar, the policy checks and the privilege floor.

Whatever the tags say (any unicode, 256-character values, separators,
confusable letters such as the Cyrillic "О" in "Оwner", ``..``, encoded
slashes, other subscriptions) and whatever custom roles exist:

* nothing raises;
* every refusal names its tag and a reason;
* no grant is ever planned or written outside ``allowed_scopes``, for a role
  ``allowed_roles`` does not admit, for a broad role not named explicitly, or
  for a role that can assign roles or elevate — each checked against an
  independent, deliberately simple oracle (its own glob matcher and segment
  comparison), not against the code under test.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from handlers.grants import classify_permissions, parse_grant_tags
from handlers.ids import ArmId
from handlers.model import AppState, RoleInfo
from handlers.plan import ResolvedGrant, Snapshot, make_plan
from handlers.policy import Policy
from handlers.warden import Warden

from .conftest import budget

SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
OTHER = "0b0b0b0b-1111-2222-3333-444444444444"
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
APP = f"{RG}/providers/Microsoft.App/containerApps/app1"
PRINCIPAL = "aaaaaaaa-0000-0000-0000-00000000000a"
FLOOR_OPS = ("microsoft.authorization/roleassignments/write",
             "microsoft.authorization/roledefinitions/write",
             "microsoft.authorization/elevateaccess/action")

# --- a role catalogue: the built-in roles, plus custom roles with innocent names ----------------

_BUILTIN = json.loads((Path(__file__).parents[1] / "unit" / "data" / "roles" /
                       "builtin_roles.json").read_text())
_SHIPPED = json.loads((Path(__file__).parents[2] / "handlers" / "data" /
                       "builtin-roles.json").read_text())


def _custom(name: str, guid: str, actions: list[str], not_actions: list[str] = ()) -> dict:
    return {"id": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "name": guid, "properties": {"roleName": name, "permissions": [
                {"actions": actions, "notActions": list(not_actions), "dataActions": [],
                 "notDataActions": []}]}}


CATALOGUE: list[dict[str, Any]] = [copy.deepcopy(r) for r in _BUILTIN] + [
    _custom("App Reader", "11111111-0000-0000-0000-000000000001", ["*/read"]),
    _custom("Helpful Writer", "11111111-0000-0000-0000-000000000002", ["*/write"]),
    _custom("Auth Tinkerer", "11111111-0000-0000-0000-000000000003",
            ["Microsoft.Authorization/*"], ["Microsoft.Authorization/roleAssignments/delete"]),
    _custom("Sneaky Elevator", "11111111-0000-0000-0000-000000000004",
            ["Microsoft.Authorization/elevateAccess/Action"]),
    _custom("Wildcard Auth", "11111111-0000-0000-0000-000000000005",
            ["Microsoft.Author*/role*/w*"]),
    _custom("Almost Owner", "11111111-0000-0000-0000-000000000006", ["*"],
            ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
             "Microsoft.Authorization/elevateAccess/Action"]),
    _custom("Storage Tinkerer", "11111111-0000-0000-0000-000000000007",
            ["Microsoft.Storage/*"]),
    _custom("Identity Assigner", "11111111-0000-0000-0000-000000000008",
            ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"]),
    _custom("\u041ewner", "11111111-0000-0000-0000-000000000009", ["*"]),  # Cyrillic О
    _custom("Resource Tinkerer", "11111111-0000-0000-0000-00000000000a",
            ["Microsoft.Resources/*"]),
    _custom("App Tinkerer", "11111111-0000-0000-0000-00000000000b",
            ["Microsoft.App/containerApps/*/write", "Microsoft.App/jobs/*/read"]),
] + [{"id": r["id"], "name": r["name"], "properties": r}  # from the shipped catalog
     for r in _SHIPPED if r["roleName"] in ("Tag Contributor", "Container Apps Contributor",
                                           "Container Apps Jobs Contributor")]
BY_GUID = {r["name"].lower(): r for r in CATALOGUE}


def find_role(role: str) -> dict[str, Any] | None:
    """What ARM answers for a role name (case-insensitive, exact), GUID or role-definition id."""
    key = role.lower()
    if key.startswith("/"):
        head, _, guid = key.rpartition("/roledefinitions/")
        if head not in ("/providers/microsoft.authorization",
                        f"/subscriptions/{SUB}/providers/microsoft.authorization"):
            return None
        return BY_GUID.get(guid)
    if key in BY_GUID:
        return BY_GUID[key]
    for r in CATALOGUE:
        if r["properties"]["roleName"].lower() == key:
            return r
    return None


def role_info(d: dict[str, Any]) -> RoleInfo:
    return RoleInfo(guid=d["name"].lower(), name=d["properties"]["roleName"],
                    id=d.get("id") or f"/providers/Microsoft.Authorization/roleDefinitions/"
                    f"{d['name']}", level=classify_permissions(d["properties"]["permissions"]))


# --- the oracle: independent code ----------------------------------------------------------------


def _star_glob(p: str, t: str) -> bool:
    """``*`` matches anything (``/`` too); nothing else is special; both already lower-case."""
    parts = p.split("*")
    if len(parts) == 1:
        return p == t
    if not t.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for middle in parts[1:-1]:
        found = t.find(middle, pos)
        if found < 0:
            return False
        pos = found + len(middle)
    return t.endswith(parts[-1]) and len(t) - len(parts[-1]) >= pos


def glob(pattern: str, text: str) -> bool:
    """Azure's action match, case-insensitively: ``*`` matches anything, and a ``/*/``
    with something on both sides may also stand for a single ``/`` (tried each way)."""
    p, t = pattern.strip().lower(), text.lower()
    if _star_glob(p, t):
        return True
    start = p.find("/*/", 1)
    while start > 0:
        if glob(p[:start] + "/" + p[start + 3:], t):
            return True
        start = p.find("/*/", start + 1)
    return False


def oracle_allows(permissions: list[dict[str, Any]], op: str) -> bool:
    for block in permissions:
        if any(glob(a, op) for a in block.get("actions") or []) and not any(
                glob(n, op) for n in block.get("notActions") or []):
            return True
    return False


def oracle_floor(permissions: list[dict[str, Any]]) -> bool:
    return any(oracle_allows(permissions, op) for op in FLOOR_OPS)


def oracle_broad(permissions: list[dict[str, Any]]) -> bool:
    # Writes in a provider nobody names on purpose, first-party or not, count as "every".
    probes = (*(f"{ns}/things/{verb}" for ns in ("zz.neverheard", "microsoft.zzneverheard")
                for verb in ("write", "delete", "do/action")),
        # the operation is literally ".../userAssignedIdentities/*/assign/action"
        "microsoft.managedidentity/userassignedidentities/assign/action",
        "microsoft.managedidentity/userassignedidentities/someid/assign/action",
        # grant tags: the Tags API, or the app or job itself
        "microsoft.resources/tags/write", "microsoft.app/containerapps/write",
        "microsoft.app/jobs/write")
    return any(oracle_allows(permissions, op) for op in probes)


def oracle_scope_ok(scope: str, allowed: list[str]) -> bool:
    if any(ch in "%\\?#" or ch.isspace() or not ch.isprintable() for ch in scope):
        return False
    segs = scope.split("/")
    if segs[0] != "" or any(s in ("", ".", "..") for s in segs[1:]):
        return False
    if segs[1].lower() != "subscriptions" or segs[2].lower() != SUB:
        return False
    return any(scope.lower() == a.lower() or scope.lower().startswith(a.lower() + "/")
               for a in allowed)


def oracle_role_ok(role: dict[str, Any], policy: Policy) -> bool:
    perms = role["properties"]["permissions"]
    if oracle_floor(perms):
        return False
    names = {role["name"].lower(), role["properties"]["roleName"].lower()}
    named = any(e.strip().lower() in names or e.strip().lower().rsplit("/", 1)[-1] in names
                for e in policy.allowed_roles)
    if oracle_broad(perms):
        return named
    return named or "*" in policy.allowed_roles


# --- generators ----------------------------------------------------------------------------------

ROLE_WORDS = [r["properties"]["roleName"] for r in CATALOGUE] + [
    "\u041ewner", "Own\u0435r", "Owner ", " owner", "OWNER", "Owner\u200b", "Ow\u00adner",
    "Ｏｗｎｅｒ", "8e3af657-a8ff-473c-a4ab-0e6d49ba2a7d", "8E3AF657-A8FF-473C-A4AB-0E6D49BA2A7D",
    "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-473c-a4ab-0e6d49ba2a7d",
    f"/subscriptions/{OTHER}/providers/Microsoft.Authorization/roleDefinitions/"
    "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "/providers/Microsoft.Authorization/roleDefinitions/../roleDefinitions/x",
    "11111111-0000-0000-0000-000000000006", "11111111-0000-0000-0000-000000000009",
    "Reader", "reader", "Reader;Owner", "Reader@", "", "*", "a" * 256,
]
SCOPE_WORDS = [
    ".", "..", "./..", "../rg2", "Microsoft.Storage/storageAccounts/st1",
    "providers/Microsoft.Storage/storageAccounts/st1", RG, RG.upper(), RG + "/", RG + "//x",
    RG + "/..", RG + "/../rg2", RG + "10", RG + "%2F..%2Frg2", RG.replace("/", "%2F"),
    RG + "/providers/Microsoft.Storage/storageAccounts/st1",
    RG + "/providers/Microsoft.Storage/storageAccounts/st1/../../../../rg2",
    f"/subscriptions/{OTHER}/resourceGroups/rg1", f"/subscriptions/{SUB}",
    f"/subscriptions/{SUB.upper()}/resourcegroups/RG1", "/", "/subscriptions", "//",
    f"/subscriptions/{SUB}/resourceGroups/rg1\uff0fx", f"/subscriptions/{SUB}/resourceGroups/"
    "rg1\u2215..\u2215rg2", f"/subscriptions/{SUB}/resourceGroups/\u0440g1",
    f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/"
    + "s" * 220, "Microsoft.Storage/storageAccounts/st1?x=1", "Microsoft.Storage/a#b",
    "Microsoft.Storage\\storageAccounts\\st1", "resourceGroups/rg2", "subscriptions/x",
    "{subscription}", "/subscriptions/{subscription}/resourceGroups/{resourceGroup}", "\t.",
]
SEPARATORS = ["; ", ";", " ; ", ";;", "\n", ",", " ", "@", "\u037e", "\uff1b"]

roles = st.sampled_from(ROLE_WORDS) | st.text(max_size=30)
scopes = st.sampled_from(SCOPE_WORDS) | st.text(max_size=40) | st.lists(
    st.sampled_from(["providers", "Microsoft.Storage", "storageAccounts", "st1", "..", ".", "",
                     "%2F", "x", "\u041e", "resourceGroups", "rg1"]), max_size=8).map("/".join)
items = st.tuples(roles, st.sampled_from(["@", " @ ", "@@", "", "\uff20"]), scopes).map(
    lambda t: f"{t[0]}{t[1]}{t[2]}")
values = st.builds(
    lambda xs, sep: sep.join(xs), st.lists(items, max_size=5), st.sampled_from(SEPARATORS)
) | st.text(max_size=256) | st.text(min_size=250, max_size=256)
tag_names = st.sampled_from(["grant:a", "GRANT:b", "grant:", "Grant:c", "grant:\u041e",
                             "gr\u0430nt:x", "rbac/x", "grant :y", "x", "grant:" + "l" * 250]) \
    | st.text(max_size=20)
tag_maps = st.dictionaries(tag_names, values, max_size=6)

POLICIES = [
    Policy(),
    Policy(allowed_roles=("Reader", "Contributor", "Auth Tinkerer", "Helpful Writer",
                          "acdd72a7-3385-48ef-bd42-f606fba81ae7")),
    Policy(allowed_roles=("*", "Managed Identity Operator", "Owner")),
    Policy(allowed_roles=("*", "Tag Contributor", "App Tinkerer")),
    Policy(allowed_scopes=(f"{RG}/providers/Microsoft.Storage",
                           "/subscriptions/{subscription}/resourceGroups/{resourceGroup}-data")),
    Policy(tag_prefix="RBAC/"),
    Policy(allowed_roles=()),
]
policies = st.sampled_from(POLICIES)


def allowed_of(policy: Policy) -> list[str]:
    out = []
    for template in policy.allowed_scopes:
        out.append(template.replace("{subscription}", SUB).replace("{resourceGroup}", "rg1"))
    return out


# --- properties ----------------------------------------------------------------------------------


@budget(0.10)
@given(st.dictionaries(st.text(), st.text(), max_size=8), policies)
def test_any_unicode_tags_never_raise_and_refusals_name_tag_and_reason(
        tags: dict[str, str], policy: Policy) -> None:
    check_parse(tags, policy)


def check_parse(tags: dict[str, str], policy: Policy) -> None:
    requests, refusals = parse_grant_tags(tags, policy, APP, "eastus")
    prefix = policy.tag_prefix.lower()
    for r in refusals:
        assert r.tag in tags and r.tag.lower().startswith(prefix), r
        assert isinstance(r.reason, str) and len(r.reason.strip()) > 10, r
    for g in requests:
        assert g.tag in tags and g.tag.lower().startswith(prefix)
        assert oracle_scope_ok(g.scope, allowed_of(policy)), g
        assert g.role and "@" not in g.role and ";" not in g.role
        assert g.role in tags[g.tag]
    grant_tags = [t for t in tags if t.lower().startswith(prefix)]
    for t in grant_tags:  # every grant tag is accounted for: a request or a refusal
        assert any(g.tag == t for g in requests) or any(r.tag == t for r in refusals), t


@budget(0.12)
@given(tag_maps, policies)
def test_hostile_grant_tags_stay_inside_the_policy(tags: dict[str, str], policy: Policy) -> None:
    check_parse(tags, policy)


def plan_for(tags: dict[str, str], policy: Policy) -> Any:
    requests, refusals = parse_grant_tags(tags, policy, APP, "eastus")
    grants = []
    for r in requests:
        d = find_role(r.role)
        grants.append(ResolvedGrant(r, role_info(d) if d else None))
    state = AppState(app=ArmId.parse(APP), location="eastus", tags=tags,
                     identity_type="SystemAssigned", principal_id=PRINCIPAL)
    return make_plan(Snapshot(state.app, state, grants=tuple(grants),
                              grant_refusals=tuple(refusals)), policy)


@budget(0.12)
@given(tag_maps, policies)
def test_planned_grants_pass_an_independent_oracle(tags: dict[str, str], policy: Policy) -> None:
    plan = plan_for(tags, policy)
    for c in plan.grants:
        role = BY_GUID[c.role.guid]
        assert oracle_role_ok(role, policy), (role["properties"]["roleName"], policy)
        assert oracle_scope_ok(c.scope, allowed_of(policy)), c.scope
        assert c.tags and all(t in tags for t in c.tags)
    for r in plan.refusals:
        assert r.reason and (r.tag in tags or r.identity), r
    assert len({c.key for c in plan.grants}) == len(plan.grants)  # one assignment per grant


@budget(0.01)  # a finite space (about 240 cases): hypothesis stops when it has seen them all
@given(st.sampled_from([w for w in ROLE_WORDS if w.strip()] + ["Reader"]), policies)
def test_confusable_and_privileged_role_names_never_pass(role: str, policy: Policy) -> None:
    plan = plan_for({"grant:x": f"{role}@."}, policy)
    for c in plan.grants:
        assert oracle_role_ok(BY_GUID[c.role.guid], policy)
        assert not oracle_floor(BY_GUID[c.role.guid]["properties"]["permissions"])


ACTION_PARTS = ["*", "Microsoft.Authorization", "Microsoft.Author*", "roleAssignments",
                "roleDefinitions", "elevateAccess", "write", "Write", "action", "Action", "read",
                "*/write", "role*", "Microsoft.Storage", "delete", "", "*/*", "Microsoft.*",
                "microsoft.authorization", "ROLEASSIGNMENTS", "*ssignments", "w*e", "e*",
                "Microsoft.Resources", "tags", "Microsoft.App", "containerApps", "jobs",
                "microsoft.app/*/*"]
patterns = st.lists(st.sampled_from(ACTION_PARTS), min_size=1, max_size=4).map("/".join)
blocks = st.fixed_dictionaries({"actions": st.lists(patterns, max_size=4),
                                "notActions": st.lists(patterns, max_size=3)})


@budget(0.25)
@given(st.lists(blocks, max_size=3))
def test_privilege_floor_agrees_with_an_independent_oracle(perms: list[dict[str, Any]]) -> None:
    level = classify_permissions(perms)
    assert (level == "floor") == oracle_floor(perms), (level, perms)
    if oracle_broad(perms):  # never under-classified; calling more "broad" is the safe side
        assert level in ("broad", "floor"), (level, perms)


# --- the whole service path: what the Warden actually writes -------------------------------------


class CatalogueArm:
    """A stand-in for ARM: one app with the given tags, the catalogue; records writes."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.puts: list[tuple[str, str, str, str]] = []
        self.deletes: list[Any] = []

    async def own_identity(self) -> tuple[str, None]:
        return ("5e1f0000-0000-0000-0000-000000000000", None)

    async def get_app(self, app_id: str) -> dict[str, Any]:
        return {"id": APP, "location": "eastus", "tags": dict(self.tags),
                "identity": {"type": "SystemAssigned", "principalId": PRINCIPAL}}

    async def find_role(self, subscription: str, role: str) -> dict[str, Any] | None:
        d = find_role(role)
        if d is None:
            return None
        return {"id": d.get("id") or f"/subscriptions/{subscription}/providers/"
                f"Microsoft.Authorization/roleDefinitions/{d['name']}", "name": d["name"],
                "roleName": d["properties"]["roleName"],
                "permissions": d["properties"]["permissions"]}

    async def list_assignments(self, scope: str, filter: str | None = None) -> list[Any]:
        return []

    async def create_assignment(self, scope: str, name: str, role_definition_id: str,
                                principal_id: str, description: str) -> bool:
        self.puts.append((scope, role_definition_id, principal_id, description))
        return True

    async def delete_assignment(self, a: Any) -> None:
        self.deletes.append(a)

    async def patch_app(self, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the app already has its system identity")

    async def close(self) -> None:
        pass


@budget(0.06)
@given(tag_maps, policies)
def test_warden_writes_only_what_the_oracle_admits(tags: dict[str, str], policy: Policy) -> None:
    arm = CatalogueArm(tags)
    event = {"id": "e1", "eventType": "Microsoft.Resources.ResourceWriteSuccess",
             "data": {"operationName": "Microsoft.App/containerApps/write", "resourceUri": APP}}
    [out] = asyncio.run(Warden(policy, arm).handle_payload(event))  # type: ignore[arg-type]
    assert out.result in ("applied", "unchanged"), out
    assert not arm.deletes
    assert len(arm.puts) == len(out.changes)
    for scope, role_id, principal, description in arm.puts:
        role = BY_GUID[role_id.rsplit("/", 1)[-1].lower()]
        assert oracle_role_ok(role, policy), role["properties"]["roleName"]
        assert oracle_scope_ok(scope, allowed_of(policy)), scope
        assert principal == PRINCIPAL and APP in description
    for r in out.refused:
        assert r.get("reason") and r.get("tag") in tags, r


def test_the_oracle_can_say_no() -> None:
    """The oracle is not vacuous: it flags Owner, a wildcard custom role and other scopes."""
    owner = find_role("Owner")
    assert owner is not None and oracle_floor(owner["properties"]["permissions"])
    assert oracle_floor([{"actions": ["Microsoft.Author*/role*/w*"]}])
    assert not oracle_floor([{"actions": ["*"], "notActions": ["Microsoft.Authorization/*"]}])
    assert oracle_broad(find_role("Contributor")["properties"]["permissions"])  # type: ignore[index]
    assert oracle_broad(find_role("Tag Contributor")["properties"]["permissions"])  # type: ignore[index]
    assert oracle_broad(find_role("Container Apps Contributor")["properties"]["permissions"])  # type: ignore[index]
    assert glob("Microsoft.App/containerApps/*/write", "microsoft.app/containerapps/write")
    assert not glob("Microsoft.App/containerApps/*/write", "microsoft.app/containerappswrite")
    assert not glob("*/write", "write")
    assert not oracle_scope_ok(f"/subscriptions/{OTHER}/resourceGroups/rg1", [RG])
    assert not oracle_scope_ok(RG + "10", [RG])
    assert oracle_scope_ok(RG + "/providers/Microsoft.Storage/storageAccounts/x", [RG])
    assert find_role("\u041ewner")["name"].endswith("9")  # type: ignore[index]
