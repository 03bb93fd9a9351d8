"""handlers.grants: privilege floor, broad roles and allowed_roles, with real role definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handlers.grants import classify_permissions, pattern_matches, role_allowed, role_guid_of
from handlers.policy import Policy

DATA = Path(__file__).parent / "data" / "roles"


def builtin(name: str) -> dict[str, Any]:
    for role in json.loads((DATA / "builtin_roles.json").read_text()):
        if role["properties"]["roleName"] == name:
            return role
    raise KeyError(name)


def level(name: str) -> str:
    return classify_permissions(builtin(name)["properties"]["permissions"])


def custom(actions: list[str], not_actions: list[str] | None = None) -> str:
    return classify_permissions([{"actions": actions, "notActions": not_actions or []}])


# --- built-in roles -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Owner", "floor"),
        ("User Access Administrator", "floor"),
        ("Role Based Access Control Administrator", "floor"),
        ("Reservations Administrator", "floor"),
        ("Contributor", "broad"),
        ("Managed Identity Operator", "broad"),
        ("Reader", "ok"),
        ("Storage Blob Data Reader", "ok"),
        ("Managed Identity Contributor", "ok"),
    ],
)
def test_builtin_roles_are_classified_from_their_permissions(name: str, expected: str) -> None:
    assert level(name) == expected


def test_contributor_is_not_floor_because_of_its_not_actions() -> None:
    permissions = builtin("Contributor")["properties"]["permissions"]
    assert classify_permissions(permissions) == "broad"
    stripped = [{**permissions[0], "notActions": []}]
    assert classify_permissions(stripped) == "floor"


# --- custom roles -------------------------------------------------------------


@pytest.mark.parametrize(
    "actions",
    [
        ["*"],
        ["Microsoft.Authorization/*"],
        ["*/write"],
        ["Microsoft.Authorization/*/write"],
        ["Microsoft.Authorization/roleAssignments/*"],
        ["Microsoft.Authorization/roleAssignments/write"],
        ["microsoft.authorization/ROLEASSIGNMENTS/WRITE"],
        ["Microsoft.Authorization/roleDefinitions/write"],
        ["Microsoft.Authorization/elevateAccess/action"],
        ["*/action"],
        ["Microsoft.*"],
        ["Microsoft.Authorization/role*"],
    ],
)
def test_custom_role_that_can_grant_access_or_elevate_is_floor_whatever_its_name(
    actions: list[str],
) -> None:
    assert custom(["*/read", *actions]) == "floor"


@pytest.mark.parametrize(
    ("actions", "not_actions"),
    [
        (
            ["Microsoft.Authorization/*"],
            ["Microsoft.Authorization/*/write", "Microsoft.Authorization/elevateAccess/action"],
        ),
        (
            ["Microsoft.Authorization/roleAssignments/write"],
            ["Microsoft.Authorization/roleAssignments/write"],
        ),
        (["Microsoft.Authorization/roleAssignments/write"], ["*"]),
        (["Microsoft.Authorization/*/write"], ["Microsoft.Authorization/*"]),
    ],
)
def test_not_actions_that_cover_the_operation_remove_it(
    actions: list[str], not_actions: list[str]
) -> None:
    assert custom(actions, not_actions) == "ok"


def test_not_actions_that_cover_only_part_leave_the_floor() -> None:
    # Removes role assignments but leaves elevateAccess.
    assert custom(["Microsoft.Authorization/*"], ["Microsoft.Authorization/*/write"]) == "floor"


def test_not_actions_of_one_block_do_not_remove_another_blocks_actions() -> None:
    permissions = [
        {"actions": ["*/read"], "notActions": ["Microsoft.Authorization/*"]},
        {"actions": ["Microsoft.Authorization/roleAssignments/write"], "notActions": []},
    ]
    assert classify_permissions(permissions) == "floor"


def test_data_actions_never_count() -> None:
    permissions = [{"actions": [], "notActions": [], "dataActions": ["*"], "notDataActions": []}]
    assert classify_permissions(permissions) == "ok"


@pytest.mark.parametrize(
    "actions",
    [
        ["*"],
        ["*/write"],
        ["*/delete"],
        ["*/action"],
        ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"],
        ["Microsoft.ManagedIdentity/*"],
        ["Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"],
    ],
)
def test_broad_custom_roles(actions: list[str]) -> None:
    floor_removed = [
        "Microsoft.Authorization/*/write",
        "Microsoft.Authorization/elevateAccess/action",
    ]
    assert custom(actions, floor_removed) == "broad"


@pytest.mark.parametrize(
    "actions",
    [
        ["Microsoft.Resources/tags/write"],
        ["Microsoft.Resources/tags/*"],
        ["Microsoft.Resources/*"],
        ["Microsoft.App/*"],
        ["Microsoft.App/containerApps/*"],
        ["Microsoft.App/containerApps/*/write"],
        ["microsoft.app/JOBS/write"],
        ["Microsoft.App/jobs/*/write"],
        ["Microsoft.*/tags/write"],
    ],
)
def test_roles_that_can_write_grant_tags_are_broad(actions: list[str]) -> None:
    assert custom(["*/read", *actions]) == "broad"


@pytest.mark.parametrize(
    ("actions", "not_actions"),
    [
        (["Microsoft.Resources/tags/read"], []),
        (["Microsoft.App/containerApps/*/read", "Microsoft.App/containerApps/*/action"], []),
        (["Microsoft.App/managedEnvironments/*/write"], []),
        (["Microsoft.App/*"], ["Microsoft.App/containerApps/write", "Microsoft.App/jobs/write"]),
        (["Microsoft.Resources/*"], ["Microsoft.Resources/tags/*"]),
    ],
)
def test_roles_that_cannot_write_grant_tags_are_not_broad_for_it(
    actions: list[str], not_actions: list[str]
) -> None:
    assert custom(actions, not_actions) == "ok"


@pytest.mark.parametrize(
    "actions",
    [
        ["*/read"],
        ["Microsoft.Storage/*"],
        ["Microsoft.Storage/storageAccounts/*/write", "Microsoft.KeyVault/vaults/*"],
        ["Microsoft.ManagedIdentity/userAssignedIdentities/*/read"],
        ["Microsoft.Authorization/*/read"],
    ],
)
def test_provider_specific_roles_are_ok(actions: list[str]) -> None:
    assert custom(actions) == "ok"


def test_writes_everywhere_removed_by_not_actions_is_not_broad() -> None:
    assert custom(["*"], ["*/write", "*/delete", "*/action"]) == "ok"


def test_published_custom_role_is_ok() -> None:
    # "Billing Reader Plus" from the role-definitions docs (shared fixtures).
    permissions = [
        {
            "actions": [
                "Microsoft.Authorization/*/read",
                "Microsoft.Billing/*/read",
                "Microsoft.Commerce/*/read",
                "Microsoft.Consumption/*/read",
                "Microsoft.Management/managementGroups/read",
                "Microsoft.CostManagement/*/read",
                "Microsoft.Billing/invoices/download/action",
                "Microsoft.CostManagement/exports/*",
            ],
            "notActions": ["Microsoft.CostManagement/exports/delete"],
        }
    ]
    assert classify_permissions(permissions) == "ok"


def test_sdk_as_dict_form_is_understood() -> None:
    permissions = [
        {
            "actions": ["*"],
            "not_actions": [
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ],
        }
    ]
    assert classify_permissions(permissions) == "broad"


@pytest.mark.parametrize("permissions", [None, [], [{}], [{"actions": None}], [None]])
def test_empty_or_missing_permissions_are_ok(permissions: Any) -> None:
    assert classify_permissions(permissions) == "ok"


@pytest.mark.parametrize(
    ("pattern", "operation", "matches"),
    [
        ("*", "Microsoft.Authorization/roleAssignments/write", True),
        ("*/write", "Microsoft.Authorization/roleAssignments/write", True),
        ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", True),
        ("Microsoft.Authorization/*/read", "Microsoft.Authorization/roleAssignments/write", False),
        ("Microsoft.Storage/*", "Microsoft.Authorization/roleAssignments/write", False),
        (
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/writeX",
            False,
        ),
        ("Microsoft.Auth.rization/*", "Microsoft.Authorization/x", False),  # '.' is literal
        # a /*/ in the middle also matches a single '/' (Container Apps Contributor can create apps)
        ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerApps/write", True),
        ("microsoft.app/CONTAINERAPPS/*/Write", "Microsoft.App/containerApps/write", True),
        ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerApps/a/b/write", True),
        ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerAppswrite", False),
        ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerApps/read", False),
        ("Microsoft.App/*/*/write", "Microsoft.App/write", True),
        ("Microsoft.App/containerApps*/write", "Microsoft.App/containerApps/write", True),
        ("Microsoft.App/containerApps/*write", "Microsoft.App/containerAppswrite", False),
        ("*/write", "write", False),  # a leading */ is not "in the middle"
        ("Microsoft.App/*", "Microsoft.App/jobs/write", True),
        ("Microsoft.Resources/*", "Microsoft.Resources/tags/write", True),
    ],
)
def test_pattern_matching_is_azures(pattern: str, operation: str, matches: bool) -> None:
    assert pattern_matches(pattern, operation) is matches


# --- allowed_roles ------------------------------------------------------------

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def test_star_admits_any_role_that_is_ok() -> None:
    assert role_allowed("Reader", READER, "ok", Policy()) is None


def test_floor_is_refused_even_when_named() -> None:
    reason = role_allowed("Owner", OWNER, "floor", Policy(allowed_roles=("Owner", OWNER, "*")))
    assert reason is not None
    assert "Owner" in reason and "privilege floor" in reason and "grant access" in reason


def test_star_does_not_admit_a_broad_role() -> None:
    reason = role_allowed("Contributor", CONTRIBUTOR, "broad", Policy())
    assert reason is not None
    assert "broad" in reason and "grants.allowed_roles" in reason and "Contributor" in reason


@pytest.mark.parametrize("entry", ["Contributor", "contributor", CONTRIBUTOR, CONTRIBUTOR.upper()])
def test_broad_role_named_explicitly_is_admitted(entry: str) -> None:
    assert role_allowed("Contributor", CONTRIBUTOR, "broad", Policy(allowed_roles=(entry,))) is None


def test_role_names_match_case_insensitively() -> None:
    policy = Policy(allowed_roles=("storage blob data reader",))
    assert (
        role_allowed(
            "Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ok", policy
        )
        is None
    )


def test_role_not_in_the_list_is_refused_with_the_list() -> None:
    reason = role_allowed(
        "Reader", READER, "ok", Policy(allowed_roles=("AcrPull", "Storage Blob Data Reader"))
    )
    assert reason is not None
    assert "Reader" in reason and "allowed: AcrPull, Storage Blob Data Reader" in reason


def test_empty_allowed_roles_admit_nothing() -> None:
    assert role_allowed("Reader", READER, "ok", Policy(allowed_roles=())) is not None


def test_role_guid_of_reads_guids_and_ids() -> None:
    assert role_guid_of(READER.upper()) == READER
    assert role_guid_of(f"/providers/Microsoft.Authorization/roleDefinitions/{READER}") == READER
    assert role_guid_of("Reader") is None
