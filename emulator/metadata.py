"""``GET /metadata/endpoints``: the cloud's endpoints, for endpoint discovery.

As on ARM it needs no token. ``api-version=2022-09-01`` (what ``az cloud
register --endpoint-resource-manager`` asks for) and later answer one cloud
object; 2019-05-01 and 2020-06-01 a list of clouds (here: one). The cloud's
fields are Azure's, except that the resource manager, portal, token audience and
Microsoft Graph (``graph.py``) are the emulator's endpoint.
"""

from __future__ import annotations

from typing import Any

from .state import ArmError

__all__ = ["METADATA_PATH", "cloud_metadata"]

METADATA_PATH = "/metadata/endpoints"
_LIST_VERSIONS = ("2019-05-01", "2020-06-01")
_OBJECT_VERSIONS = ("2022-09-01",)


def _cloud(endpoint: str, tenant_id: str) -> dict[str, Any]:
    root = endpoint.rstrip("/") + "/"
    return {
        "portal": root,
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com",
            "audiences": [root, endpoint.rstrip("/")],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": root,
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": "AcaWardenEmulator",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": root,
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/"
                           "arm-compute/quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "gallery": "https://gallery.azure.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/"
                                                 "track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net",
        # Microsoft Graph: the slice the Azure CLI asks is served by the emulator (graph.py)
        "microsoftGraphResourceId": root,
    }


def cloud_metadata(endpoint: str, tenant_id: str, api_version: str) -> Any:
    """The answer for one api-version; ARM's 400s for a missing or unknown one."""
    if not api_version:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all "
                       "requests.")
    cloud = _cloud(endpoint, tenant_id)
    if api_version in _OBJECT_VERSIONS:
        return cloud
    if api_version in _LIST_VERSIONS:
        return [cloud]
    supported = ",".join((*_OBJECT_VERSIONS, *reversed(_LIST_VERSIONS)))
    raise ArmError(400, "InvalidApiVersionParameter",
                   f"The api-version '{api_version}' is invalid. The supported versions are "
                   f"'{supported}'.")
