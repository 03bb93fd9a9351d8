"""Every built-in role of the shipped catalog, classified: floor, broad, or ok.

The lists are explicit so that a change of the rules (or of the catalog) shows up
here by name. ``handlers/data/builtin-roles.json`` is Microsoft's published
catalog (471 roles); the rest of it must be ``ok``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handlers.grants import classify_permissions, classify_role, role_allowed
from handlers.policy import Policy

CATALOG = Path(__file__).parents[2] / "handlers" / "data" / "builtin-roles.json"

FLOOR = {
    "Azure Container Storage Contributor",
    "Azure Container Storage Owner",
    "Azure File Sync Administrator",
    "Azure Local Migrate Execute Expert",
    "Azure Local Migrate Owner",
    "Azure Migrate Execute Expert",
    "Azure Migrate Owner",
    "Azure Stack HCI Administrator",
    "DevCenter Owner",
    "Key Vault Data Access Administrator",
    "Owner",
    "Reservations Administrator",
    "Role Based Access Control Administrator",
    "Storage Actions Task Assignment Contributor",
    "User Access Administrator",
    "Virtual Machine Data Access Administrator (preview)",
}
BROAD = {
    # writes in every provider
    "Contributor",
    # attaches user-assigned identities
    "Managed Identity Operator",
    "Azure Red Hat OpenShift Machine API Operator",
    # writes grant tags: the Tags API, container apps, jobs
    "Tag Contributor",
    "Azure Red Hat OpenShift Image Registry Operator",
    "Container Apps Contributor",
    "Container Apps Jobs Contributor",
}


def catalog() -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = json.loads(CATALOG.read_text(encoding="utf-8"))
    return roles


def by_name(name: str) -> dict[str, Any]:
    [role] = [r for r in catalog() if r["roleName"] == name]
    return role


def test_the_catalog_is_the_whole_published_one() -> None:
    names = [r["roleName"] for r in catalog()]
    assert len(names) == 471 == len(set(names))
    assert set(names) >= FLOOR and set(names) >= BROAD


def test_every_builtin_role_is_floor_broad_or_ok_as_listed() -> None:
    levels = {r["roleName"]: classify_permissions(r["permissions"]) for r in catalog()}
    assert {n for n, lv in levels.items() if lv == "floor"} == FLOOR
    assert {n for n, lv in levels.items() if lv == "broad"} == BROAD
    assert sum(lv == "ok" for lv in levels.values()) == 471 - len(FLOOR) - len(BROAD)


@pytest.mark.parametrize(
    ("name", "permission"),
    [
        ("Tag Contributor", "Microsoft.Resources/tags/write"),
        ("Azure Red Hat OpenShift Image Registry Operator", "Microsoft.Resources/tags/write"),
        ("Container Apps Contributor", "Microsoft.App/containerApps/write"),
        ("Container Apps Jobs Contributor", "Microsoft.App/jobs/write"),
        ("Managed Identity Operator", "userAssignedIdentities"),
        ("Contributor", "every resource provider"),
    ],
)
def test_a_broad_role_says_which_permission_makes_it_broad(name: str, permission: str) -> None:
    level = classify_role(by_name(name)["permissions"])
    assert level.level == "broad"
    assert permission in level.why


def test_tag_contributor_is_refused_by_the_default_policy_with_why_and_what_would_pass() -> None:
    role = by_name("Tag Contributor")
    level = classify_role(role["permissions"])
    reason = role_allowed(role["roleName"], role["name"], level.level, Policy(), level.why)
    assert reason is not None
    assert "Tag Contributor" in reason and "broad" in reason
    assert "'Microsoft.Resources/tags/*'" in reason  # the action that does it
    assert "Microsoft.Resources/tags/write" in reason  # the permission it gives
    assert "grant tags" in reason  # why that matters
    assert "grants.allowed_roles" in reason  # what would be accepted


def test_container_apps_contributor_is_admitted_when_named() -> None:
    role = by_name("Container Apps Contributor")
    level = classify_role(role["permissions"])
    policy = Policy(allowed_roles=("*", "container apps contributor"))
    assert role_allowed(role["roleName"], role["name"], level.level, policy, level.why) is None


def test_a_floor_role_says_which_action_puts_it_there() -> None:
    role = by_name("Key Vault Data Access Administrator")
    level = classify_role(role["permissions"])
    assert level.level == "floor"
    assert "Microsoft.Authorization/roleAssignments/write" in level.why
    reason = role_allowed(role["roleName"], role["name"], level.level, Policy(), level.why)
    assert reason is not None and "privilege floor" in reason and level.why in reason
