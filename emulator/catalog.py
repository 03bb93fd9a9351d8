"""What the emulated resource providers offer: namespaces, resource types, api-versions
and regions, as ARM's ``/providers`` answers describe them.

Sources: the recorded ``GET /subscriptions/{s}/providers/Microsoft.App`` answers
(2023 and 2024), the api-version folders of the REST specs
(``Azure/azure-rest-api-specs``) and the versions the Azure SDKs and the Azure CLI
send. A namespace not listed here is a plain stored resource: any api-version is
accepted for it, as the emulator cannot know its provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "APP_LOCATIONS",
    "NAMESPACES",
    "RESOURCES_API_VERSIONS",
    "Namespace",
    "ResourceType",
    "location_display_name",
    "location_key",
    "locations",
    "namespace",
    "resource_type",
]


@dataclass(frozen=True)
class ResourceType:
    name: str  # "containerApps", "locations/containerappOperationStatuses"
    api_versions: tuple[str, ...]  # newest first, as the provider lists them
    locations: tuple[str, ...] = ()  # display names; () for global types
    capabilities: str = "None"
    default_api_version: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"resourceType": self.name, "locations": list(self.locations),
                                  "apiVersions": list(self.api_versions)}
        if self.default_api_version:
            out["defaultApiVersion"] = self.default_api_version
        out["capabilities"] = self.capabilities
        return out


@dataclass(frozen=True)
class Namespace:
    name: str
    types: tuple[ResourceType, ...]
    registration_policy: str = "RegistrationRequired"
    registered: bool = True  # in a new subscription
    authorizations: tuple[dict[str, str], ...] = ()

    def type(self, name: str) -> ResourceType | None:
        low = name.lower()
        return next((t for t in self.types if t.name.lower() == low), None)


# Regions offering Container Apps (the 2024 recording, in its order).
APP_LOCATIONS: tuple[str, ...] = (
    "Central US EUAP", "East US 2 EUAP", "North Central US (Stage)", "West US 2",
    "Southeast Asia", "Sweden Central", "Canada Central", "West Europe", "North Europe",
    "East US", "East US 2", "East Asia", "Australia East", "Germany West Central", "Japan East",
    "UK South", "West US", "Central US", "North Central US", "South Central US",
    "Korea Central", "Brazil South", "West US 3", "France Central", "South Africa North",
    "Norway East", "Switzerland North", "UAE North", "Canada East", "West Central US",
    "UK West", "Central India", "Switzerland West", "Italy North", "Poland Central",
    "South India",
)
_MORE_LOCATIONS = (
    "Australia Southeast", "Australia Central", "Japan West", "Korea South", "France South",
    "Germany North", "Norway West", "UAE Central", "South Africa West", "Brazil Southeast",
    "Jio India West", "Qatar Central", "Sweden South", "Israel Central", "Mexico Central",
    "Spain Central", "New Zealand North", "West India",
)

# Microsoft.App: the 2023 and 2024 recordings, the spec folders up to 2025-10-02-preview,
# 2026-01-01 (spec examples) and 2026-07-01 (azure-mgmt-appcontainers 5.1).
_APP_VERSIONS = (
    "2026-07-01", "2026-01-01", "2025-10-02-preview", "2025-07-01", "2025-02-02-preview",
    "2025-01-01", "2024-10-02-preview", "2024-08-02-preview", "2024-03-01",
    "2024-02-02-preview", "2023-11-02-preview", "2023-08-01-preview", "2023-05-02-preview",
    "2023-05-01", "2023-04-01-preview", "2022-11-01-preview", "2022-10-01",
    "2022-06-01-preview", "2022-03-01", "2022-01-01-preview",
)
_JOB_VERSIONS = _APP_VERSIONS[: _APP_VERSIONS.index("2022-11-01-preview") + 1]
_APP_CAPS = ("CrossResourceGroupResourceMove, CrossSubscriptionResourceMove, "
             "SystemAssignedResourceIdentity, SupportsTags, SupportsLocation")
_APP_OPERATION_TYPES = (
    "containerappOperationStatuses", "containerappOperationResults",
    "containerappsjobOperationStatuses", "containerappsjobOperationResults",
    "managedEnvironmentOperationStatuses", "managedEnvironmentOperationResults",
)

# Microsoft.ManagedIdentity (spec folders; 2024-11-30 is the Azure CLI's).
_MSI_VERSIONS = (
    "2026-05-31", "2026-04-30", "2025-05-31-preview", "2025-01-31-preview", "2024-11-30",
    "2023-07-31-preview", "2023-01-31", "2022-01-31-preview", "2021-09-30-preview",
    "2018-11-30", "2015-08-31-preview",
)
# Microsoft.Authorization (ARM's own list for roleAssignments, then newer spec folders).
_RA_VERSIONS = (
    "2026-08-01", "2022-04-01", "2022-01-01-preview", "2021-04-01-preview",
    "2020-10-01-preview", "2020-08-01-preview", "2020-04-01-preview", "2020-03-01-preview",
    "2019-04-01-preview", "2018-12-01-preview", "2018-09-01-preview", "2018-07-01",
    "2018-01-01-preview", "2017-10-01-preview", "2017-09-01", "2017-05-01", "2016-07-01",
    "2015-07-01", "2015-06-01", "2015-05-01-preview", "2014-10-01-preview",
    "2014-07-01-preview", "2014-04-01-preview",
)
_RD_VERSIONS = ("2026-08-01", "2022-05-01-preview", *_RA_VERSIONS[1:])

# Microsoft.Resources (subscriptions, resource groups, tags, providers): ARM's list as its
# InvalidApiVersionParameter answers give it, with the newer versions the SDKs use.
RESOURCES_API_VERSIONS: tuple[str, ...] = (
    "2025-04-01", "2025-03-01", "2024-11-01", "2024-08-01", "2024-07-01", "2024-06-01-preview",
    "2024-03-01", "2023-07-01", "2023-07-01-preview", "2023-03-01-preview", "2022-12-01",
    "2022-11-01-preview", "2022-09-01", "2022-06-01", "2022-05-01", "2022-03-01-preview",
    "2022-01-01", "2021-04-01", "2021-01-01", "2020-10-01", "2020-09-01", "2020-08-01",
    "2020-07-01", "2020-06-01", "2020-05-01", "2020-01-01", "2019-11-01", "2019-10-01",
    "2019-09-01", "2019-08-01", "2019-07-01", "2019-06-01", "2019-05-10", "2019-05-01",
    "2019-03-01", "2018-11-01", "2018-09-01", "2018-08-01", "2018-07-01", "2018-06-01",
    "2018-05-01", "2018-02-01", "2018-01-01", "2017-12-01", "2017-08-01", "2017-06-01",
    "2017-05-10", "2017-05-01", "2017-03-01", "2016-09-01", "2016-07-01", "2016-06-01",
    "2016-02-01", "2015-11-01", "2015-01-01", "2014-04-01-preview", "2014-04-01",
    "2014-01-01", "2013-03-01", "2014-02-26", "2014-04",
)

_APP = Namespace(
    "Microsoft.App",
    (
        ResourceType("managedEnvironments", _APP_VERSIONS, APP_LOCATIONS, _APP_CAPS,
                     "2023-05-01"),
        ResourceType("containerApps", _APP_VERSIONS, APP_LOCATIONS, _APP_CAPS, "2023-05-01"),
        ResourceType("jobs", _JOB_VERSIONS, APP_LOCATIONS, _APP_CAPS, "2023-05-01"),
        ResourceType("locations", _APP_VERSIONS),
        *(ResourceType(f"locations/{t}", _APP_VERSIONS, APP_LOCATIONS)
          for t in _APP_OPERATION_TYPES),
        ResourceType("operations", _APP_VERSIONS),
    ),
    # The application registrations of the 2024 recording.
    authorizations=(
        {"applicationId": "7e3bc4fd-85a3-4192-b177-5b8bfc87f42c",
         "roleDefinitionId": "39a74f72-b40f-4bdc-b639-562fe2260bf0"},
        {"applicationId": "3734c1a4-2bed-4998-a37a-ff1a9e7bf019",
         "roleDefinitionId": "5c779a4f-5cb2-4547-8c41-478d9be8ba90"},
        {"applicationId": "55ebbb62-3b9c-49fd-9b87-9595226dd4ac",
         "roleDefinitionId": "e49ca620-7992-4561-a7df-4ed67dad77b5",
         "managedByRoleDefinitionId": "9e3af657-a8ff-583c-a75c-2fe7c4bcb635"},
        {"applicationId": "1459b1f6-7a5b-4300-93a2-44b4a651759f",
         "roleDefinitionId": "3c5f1b29-9e3d-4a22-b5d6-9ff4e5a37974"},
        {"applicationId": "2c7dd73f-7a21-485b-b97d-a2508fa152c3",
         "roleDefinitionId": "8a9982ae-66df-4135-b8da-2655633c4a4c"},
        {"applicationId": "6104ad52-755e-428b-9fb5-5fdf4d2c4d53",
         "roleDefinitionId": "472cfb56-379d-4465-84ff-17404641b16c"},
        {"applicationId": "409eb69a-5e20-4e1e-a8bf-c23300057950",
         "roleDefinitionId": "e211c432-0a34-4b73-9303-2a489c814a1d"},
    ),
)
_MSI = Namespace(
    "Microsoft.ManagedIdentity",
    (
        ResourceType("Identities", _MSI_VERSIONS, (), "ExtensionResource"),
        ResourceType("userAssignedIdentities", _MSI_VERSIONS, APP_LOCATIONS + _MORE_LOCATIONS,
                     "CrossResourceGroupResourceMove, CrossSubscriptionResourceMove, "
                     "SupportsTags, SupportsLocation"),
        ResourceType("operations", _MSI_VERSIONS),
    ),
)
_AUTHZ = Namespace(
    "Microsoft.Authorization",
    (
        ResourceType("roleAssignments", _RA_VERSIONS),
        ResourceType("roleDefinitions", _RD_VERSIONS),
        ResourceType("permissions", _RD_VERSIONS),
        ResourceType("operations", _RD_VERSIONS),
    ),
    registration_policy="RegistrationFree",
)
_RESOURCES = Namespace(
    "Microsoft.Resources",
    (
        ResourceType("tenants", RESOURCES_API_VERSIONS),
        ResourceType("locations", RESOURCES_API_VERSIONS),
        ResourceType("subscriptions", RESOURCES_API_VERSIONS),
        ResourceType("resourceGroups", RESOURCES_API_VERSIONS, APP_LOCATIONS + _MORE_LOCATIONS,
                     "SupportsLocation"),
        ResourceType("tags", RESOURCES_API_VERSIONS, (), "SupportExtensionResources"),
        ResourceType("providers", RESOURCES_API_VERSIONS),
        ResourceType("resources", RESOURCES_API_VERSIONS),
        ResourceType("deployments", RESOURCES_API_VERSIONS),
    ),
    registration_policy="RegistrationFree",
)


def _plain(name: str, types: tuple[str, ...], registered: bool) -> Namespace:
    """A namespace whose resources are plain stored ones (any api-version)."""
    return Namespace(name, tuple(ResourceType(t, (), APP_LOCATIONS + _MORE_LOCATIONS,
                                               "SupportsTags, SupportsLocation")
                                 for t in types), registered=registered)


NAMESPACES: tuple[Namespace, ...] = (
    _APP, _MSI, _AUTHZ, _RESOURCES,
    _plain("Microsoft.Storage", ("storageAccounts",), True),
    _plain("Microsoft.KeyVault", ("vaults",), True),
    _plain("Microsoft.EventGrid", ("systemTopics", "topics"), True),
    _plain("Microsoft.OperationalInsights", ("workspaces",), False),
    _plain("Microsoft.ContainerRegistry", ("registries",), False),
    _plain("Microsoft.RecoveryServices", ("vaults",), False),
)
_BY_NAME = {n.name.lower(): n for n in NAMESPACES}


def namespace(name: str) -> Namespace | None:
    return _BY_NAME.get(name.lower())


def resource_type(ns: str, type_name: str) -> ResourceType | None:
    """The type as the provider registers it (``None`` when unknown)."""
    n = namespace(ns)
    return n.type(type_name) if n else None


def locations() -> tuple[str, ...]:
    """Every region's display name."""
    return APP_LOCATIONS + _MORE_LOCATIONS


def location_key(location: str) -> str:
    """ARM's short form of a region: ``East US`` -> ``eastus``."""
    return "".join(location.split()).lower().replace("(", "").replace(")", "")


_DISPLAY = {location_key(n): n for n in APP_LOCATIONS + _MORE_LOCATIONS}


def location_display_name(location: str) -> str | None:
    """``eastus`` or ``East US`` -> ``East US``; None for a region Azure does not have."""
    return _DISPLAY.get(location_key(location))
