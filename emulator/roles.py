"""Built-in Azure role definitions the emulator knows: real GUIDs and permissions.

GUIDs and permission patterns as Microsoft publishes them in
"Azure built-in roles" (MicrosoftDocs/azure-docs,
articles/role-based-access-control/built-in-roles*.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN_ROLES", "builtin_role_definitions"]

_COMMON_READ = [
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
]

# (name, guid, description, actions, notActions, dataActions, notDataActions)
BUILTIN_ROLES: list[tuple[str, str, str, list[str], list[str], list[str], list[str]]] = [
    (
        "Owner",
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC.",
        ["*"], [], [], [],
    ),
    (
        "Contributor",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Grants full access to manage all resources, but does not allow you to assign roles "
        "in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        ["*"],
        [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        [], [],
    ),
    (
        "Reader",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "View all resources, but does not allow you to make any changes.",
        ["*/read"], [], [], [],
    ),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "Lets you manage user access to Azure resources.",
        ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], [], [], [],
    ),
    (
        "Role Based Access Control Administrator",
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "Manage access to Azure resources by assigning roles using Azure RBAC. This role does "
        "not allow you to manage access using other ways, such as Azure Policy.",
        [
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
        [], [], [],
    ),
    (
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "Read and list Azure Storage containers and blobs.",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        [],
        ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
        [],
    ),
    (
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Read, write, and delete Azure Storage containers and blobs.",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        [],
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        ],
        [],
    ),
    (
        "Storage Queue Data Contributor",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        "Read, write, and delete Azure Storage queues and queue messages.",
        [
            "Microsoft.Storage/storageAccounts/queueServices/queues/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/write",
        ],
        [],
        [
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
        ],
        [],
    ),
    (
        "Key Vault Secrets User",
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Read secret contents. Only works for key vaults that use the 'Azure role-based access "
        "control' permission model.",
        [],
        [],
        [
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        [],
    ),
    (
        "Key Vault Secrets Officer",
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Perform any action on the secrets of a key vault, except manage permissions.",
        [
            *_COMMON_READ,
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        [],
        ["Microsoft.KeyVault/vaults/secrets/*"],
        [],
    ),
    (
        "AcrPull",
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        "acr pull",
        ["Microsoft.ContainerRegistry/registries/pull/read"], [], [], [],
    ),
    (
        "AcrPush",
        "8311e382-0749-4cb8-b61a-304f252e45ec",
        "acr push",
        [
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write",
        ],
        [], [], [],
    ),
    (
        "Managed Identity Operator",
        "f1a07417-d97a-45cb-824c-7a7467783830",
        "Read and Assign User Assigned Identity",
        [
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
            *_COMMON_READ,
        ],
        [], [], [],
    ),
    (
        "Managed Identity Contributor",
        "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
        "Create, Read, Update, and Delete User Assigned Identity",
        [
            "Microsoft.ManagedIdentity/userAssignedIdentities/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/write",
            "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
            *_COMMON_READ,
        ],
        [], [], [],
    ),
    (
        "Tag Contributor",
        "4a9ae827-6dc8-4573-8ac7-8239d42aa03f",
        "Lets you manage tags on entities, without providing access to the entities themselves.",
        [
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
            "Microsoft.Resources/subscriptions/resources/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Support/*",
            "Microsoft.Resources/tags/*",
        ],
        [], [], [],
    ),
]


def builtin_role_definitions() -> list[dict[str, Any]]:
    """ARM JSON of every built-in role, tenant-scoped ids."""
    out = []
    for name, guid, desc, actions, not_actions, data_actions, not_data in BUILTIN_ROLES:
        out.append(
            {
                "id": f"/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                "type": "Microsoft.Authorization/roleDefinitions",
                "name": guid,
                "properties": {
                    "roleName": name,
                    "type": "BuiltInRole",
                    "description": desc,
                    "assignableScopes": ["/"],
                    "permissions": [
                        {
                            "actions": list(actions),
                            "notActions": list(not_actions),
                            "dataActions": list(data_actions),
                            "notDataActions": list(not_data),
                        }
                    ],
                    "createdOn": "2015-02-02T21:55:09.8806423Z",
                    "updatedOn": "2024-01-01T00:00:00.0000000Z",
                    "createdBy": None,
                    "updatedBy": None,
                },
            }
        )
    return out
