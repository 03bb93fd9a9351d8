"""Which action the emulator checks for each request aca-warden and the Azure CLI make
(the table of emulator/README.md), and Azure's action-pattern matching."""

from __future__ import annotations

import pytest

from emulator.operations import action_matches, operation_for
from emulator.rbac import permits

S = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590"
RG = f"{S}/resourceGroups/rg1"
APP = f"{RG}/providers/Microsoft.App/containerApps/app1"
JOB = f"{RG}/providers/Microsoft.App/jobs/job1"
UAMI = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
RA = "/providers/Microsoft.Authorization/roleAssignments"
RD = "/providers/Microsoft.Authorization/roleDefinitions"
GUID = "6f1c1f0e-5b1a-4c59-9a53-0d7a4a3f7c21"
OPS = f"{S}/providers/Microsoft.App/locations/eastus"

TABLE = [
    # (method, path, action, scope ARM names in its message)
    ("GET", APP, "Microsoft.App/containerApps/read", APP),
    ("PATCH", APP, "Microsoft.App/containerApps/write", APP),
    ("PUT", APP.replace("containerApps", "containerapps"), "Microsoft.App/containerApps/write",
     APP.replace("containerApps", "containerapps")),
    ("DELETE", APP, "Microsoft.App/containerApps/delete", APP),
    ("POST", f"{APP}/listSecrets", "Microsoft.App/containerApps/listSecrets/action", APP),
    ("GET", f"{APP}/revisions", "Microsoft.App/containerApps/revisions/read", APP),
    ("GET", f"{S}/providers/Microsoft.App/containerApps", "Microsoft.App/containerApps/read",
     f"{S}/providers/Microsoft.App"),
    ("GET", f"{RG}/providers/Microsoft.App/containerApps", "Microsoft.App/containerApps/read",
     f"{RG}/providers/Microsoft.App"),
    ("GET", f"{OPS}/containerappOperationStatuses/{GUID}",
     "Microsoft.App/locations/containerappOperationStatuses/read",
     f"{OPS}/containerappOperationStatuses/{GUID}"),
    ("GET", f"{OPS}/containerappsjobOperationStatuses/{GUID}",
     "Microsoft.App/locations/containerappsjobOperationStatuses/read",
     f"{OPS}/containerappsjobOperationStatuses/{GUID}"),
    ("GET", JOB, "Microsoft.App/jobs/read", JOB),
    ("PATCH", JOB, "Microsoft.App/jobs/write", JOB),
    ("POST", f"{JOB}/start", "Microsoft.App/jobs/start/action", JOB),
    ("PUT", f"{RG}/providers/Microsoft.App/managedEnvironments/env",
     "Microsoft.App/managedEnvironments/write",
     f"{RG}/providers/Microsoft.App/managedEnvironments/env"),
    ("GET", UAMI, "Microsoft.ManagedIdentity/userAssignedIdentities/read", UAMI),
    ("PUT", UAMI, "Microsoft.ManagedIdentity/userAssignedIdentities/write", UAMI),
    ("GET", f"{S}{RD}/{GUID}", "Microsoft.Authorization/roleDefinitions/read", f"{S}{RD}/{GUID}"),
    ("GET", f"{S}{RD}", "Microsoft.Authorization/roleDefinitions/read",
     f"{S}/providers/Microsoft.Authorization"),
    ("GET", f"{S}{RA}", "Microsoft.Authorization/roleAssignments/read",
     f"{S}/providers/Microsoft.Authorization"),
    ("GET", f"{RG}{RA}", "Microsoft.Authorization/roleAssignments/read",
     f"{RG}/providers/Microsoft.Authorization"),
    ("PUT", f"{RG}{RA}/{GUID}", "Microsoft.Authorization/roleAssignments/write",
     f"{RG}{RA}/{GUID}"),
    ("DELETE", f"{RG}{RA}/{GUID}", "Microsoft.Authorization/roleAssignments/delete",
     f"{RG}{RA}/{GUID}"),
    ("PUT", f"{S}{RD}/{GUID}", "Microsoft.Authorization/roleDefinitions/write", f"{S}{RD}/{GUID}"),
    ("PUT", f"{APP}/providers/Microsoft.Resources/tags/default", "Microsoft.Resources/tags/write",
     f"{APP}/providers/Microsoft.Resources/tags/default"),
    ("PATCH", f"{APP}/providers/Microsoft.Resources/tags/default",
     "Microsoft.Resources/tags/write", f"{APP}/providers/Microsoft.Resources/tags/default"),
    ("DELETE", f"{APP}/providers/Microsoft.Resources/tags/default",
     "Microsoft.Resources/tags/delete", f"{APP}/providers/Microsoft.Resources/tags/default"),
    ("GET", S, "Microsoft.Resources/subscriptions/read", S),
    # Microsoft.Resources' own types are named as the request spells them: az's URLs say
    # "resourcegroups", and so do the AuthorizationFailed messages real az users see.
    ("GET", f"{S}/resourcegroups", "Microsoft.Resources/subscriptions/resourcegroups/read", S),
    ("PUT", f"{S}/resourcegroups/rg1", "Microsoft.Resources/subscriptions/resourcegroups/write",
     f"{S}/resourcegroups/rg1"),
    ("GET", f"{S}/resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups/read", S),
    ("PUT", RG, "Microsoft.Resources/subscriptions/resourceGroups/write", RG),
    ("HEAD", RG, "Microsoft.Resources/subscriptions/resourceGroups/read", RG),
    ("DELETE", RG, "Microsoft.Resources/subscriptions/resourceGroups/delete", RG),
    ("GET", f"{S}/resources", "Microsoft.Resources/subscriptions/resources/read", S),
    ("GET", f"{RG}/resources", "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
     RG),
    ("GET", f"{S}/providers", "Microsoft.Resources/subscriptions/providers/read", f"{S}/providers"),
    ("GET", f"{S}/providers/Microsoft.App", "Microsoft.Resources/subscriptions/providers/read",
     f"{S}/providers/Microsoft.App"),
    ("POST", f"{S}/providers/Microsoft.App/register", "Microsoft.App/register/action",
     f"{S}/providers/Microsoft.App/register"),
    ("PUT", f"{RG}/providers/Microsoft.Storage/storageAccounts/st1",
     "Microsoft.Storage/storageAccounts/write",
     f"{RG}/providers/Microsoft.Storage/storageAccounts/st1"),
]


@pytest.mark.parametrize(("method", "path", "action", "scope"), TABLE)
def test_request_maps_to_the_action_azure_checks(method: str, path: str, action: str,
                                                 scope: str) -> None:
    op = operation_for(method, path)
    assert (op.action, op.scope, op.public) == (action, scope, False)


@pytest.mark.parametrize("path", [
    "/subscriptions", "/providers", "/providers/Microsoft.App", "/tenants",
    f"{RD}/{GUID}", RD, "/metadata/endpoints", "/providers/Microsoft.App/operations",
    "/providers/microsoft.authorization/operations",
])
def test_what_any_signed_in_caller_may_read(path: str) -> None:
    assert operation_for("GET", path).public


@pytest.mark.parametrize(("pattern", "action", "matches"), [
    ("*", "Microsoft.App/containerApps/write", True),
    ("*/read", "Microsoft.App/locations/containerappOperationStatuses/read", True),
    ("*/read", "Microsoft.App/containerApps/write", False),
    ("microsoft.app/CONTAINERAPPS/write", "Microsoft.App/containerApps/write", True),
    ("Microsoft.App/containerApps/*", "Microsoft.App/containerApps/listSecrets/action", True),
    # "/*/" in the middle also matches a single "/" (Container Apps Contributor can create apps)
    ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerApps/write", True),
    ("Microsoft.App/containerApps/*/write", "Microsoft.App/containerApps/revisions/write", True),
    ("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
     "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", True),
    ("Microsoft.App/containerApps/*/write", "Microsoft.App/jobs/write", False),
    ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", True),
    ("Microsoft.App/*", "Microsoft.AppConfiguration/configurationStores/write", False),
])
def test_action_patterns_match_as_azure_matches_them(pattern: str, action: str,
                                                     matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_not_actions_apply_within_their_own_block_and_data_actions_never_count() -> None:
    contributor = [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}]
    assert permits(contributor, "Microsoft.App/containerApps/write")
    assert not permits(contributor, "Microsoft.Authorization/roleAssignments/write")
    two_blocks = [*contributor, {"actions": ["Microsoft.Authorization/roleAssignments/write"]}]
    assert permits(two_blocks, "Microsoft.Authorization/roleAssignments/write")
    data_only = [{"actions": [], "dataActions": ["*"]}]
    assert not permits(data_only, "Microsoft.App/containerApps/read")
