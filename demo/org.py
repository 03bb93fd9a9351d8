"""The demo organisation: who acts, what exists, the tags the story uses and the policy.

The platform team's standard identity lives in one resource group, the apps
and jobs and the resources they may be granted roles on in another, which is
the only one the demo policy manages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from demo.report import Narrator, short

PERSON = "alice"
LOCATION = "eastus"
PLATFORM_RG = "rg-platform"
APPS_RG = "rg-apps"
APP_NAME = "app-orders"
JOB_NAME = "job-orders-nightly"  # a scheduled Container Apps job
JOB_CRON = "0 2 * * *"
STANDARD_IDENTITY = (
    "/subscriptions/{subscription}/resourceGroups/rg-platform/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-platform-standard"
)
STORAGE = "Microsoft.Storage/storageAccounts/stapps"
VAULT = "Microsoft.KeyVault/vaults/kv-apps"
ENVIRONMENT = "Microsoft.App/managedEnvironments/cae-apps"

BLOB_READER = "Storage Blob Data Reader"
SECRETS_USER = "Key Vault Secrets User"
ACR_PULL = "AcrPull"
OWNER = "Owner"
ROLES = (BLOB_READER, SECRETS_USER, ACR_PULL, OWNER)

TAG_BLOB = ("grant:blob", f"{BLOB_READER}@{STORAGE}")
TAG_SECRETS = ("grant:secrets", f"{SECRETS_USER}@{VAULT}")
TAG_ACR = ("grant:acr", f"{ACR_PULL}@.")
TAG_ADMIN = ("grant:admin", f"{OWNER}@.")

DEMO_POLICY = f"""\
# The demo organisation's policy (see the README's "Policy reference").
[identities]
# Every managed app and job carries the platform team's standard identity.
standard = ["{STANDARD_IDENTITY}"]

[grants]
# Any role that passes the privilege floor and is not broad ...
allowed_roles = ["*"]
# ... on the app's own resource group or anything in it.
allowed_scopes = ["/subscriptions/{{subscription}}/resourceGroups/{{resourceGroup}}"]

[apps]
resource_groups = ["{APPS_RG}"]
"""


@dataclass(frozen=True)
class Org:
    """The ARM ids of the organisation's resources in one subscription."""

    subscription: str
    rg_apps: str
    app_id: str
    job_id: str
    storage_id: str
    vault_id: str
    environment_id: str
    standard_id: str

    @classmethod
    def in_subscription(cls, subscription: str) -> Org:
        rg_apps = f"/subscriptions/{subscription}/resourceGroups/{APPS_RG}"
        return cls(
            subscription=subscription,
            rg_apps=rg_apps,
            app_id=f"{rg_apps}/providers/Microsoft.App/containerApps/{APP_NAME}",
            job_id=f"{rg_apps}/providers/Microsoft.App/jobs/{JOB_NAME}",
            storage_id=f"{rg_apps}/providers/{STORAGE}",
            vault_id=f"{rg_apps}/providers/{VAULT}",
            environment_id=f"{rg_apps}/providers/{ENVIRONMENT}",
            standard_id=STANDARD_IDENTITY.format(subscription=subscription),
        )


def seed(emu: Any, org: Org, say: Narrator) -> None:
    """Create the organisation's resource groups and resources in the emulator, and tell them."""
    emu.seed_resource_group(PLATFORM_RG, location=LOCATION)
    emu.seed_identity(org.standard_id, location=LOCATION)
    emu.seed_resource_group(APPS_RG, location=LOCATION)
    emu.seed_resource(org.storage_id, {"location": LOCATION, "kind": "StorageV2",
                                       "sku": {"name": "Standard_LRS"}})
    emu.seed_resource(org.vault_id, {"location": LOCATION,
                                     "properties": {"tenantId": emu.tenant_id}})
    emu.seed_resource(org.environment_id, {"location": LOCATION})
    say.detail(f"  {PLATFORM_RG}: {short(org.standard_id)} (the standard identity)")
    say.detail(f"  {APPS_RG}: {short(org.storage_id)} (storage account), "
               f"{short(org.vault_id)} (key vault), {short(ENVIRONMENT)} (environment)")
