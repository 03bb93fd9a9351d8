// The function app and what it runs on: a user-assigned identity, a storage
// account reached with that identity only (no shared keys), Log Analytics +
// Application Insights (Entra ID auth only), a Flex Consumption plan.
targetScope = 'resourceGroup'

param location string
param tags object
@description('Short unique suffix for globally unique names.')
param token string
param reconcileSchedule string
@description('Comma-separated subscription GUIDs for WARDEN_SUBSCRIPTIONS.')
param watchedSubscriptions string
param dryRun bool
@description('Blob container that receives dead-lettered events.')
param deadLetterContainer string = 'deadletters'
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var deploymentContainer = 'app-package'
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f2feb0b7da7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-warden-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches its host storage over the public endpoint; access needs Entra ID (shared keys are disabled)
  //checkov:skip=CKV_AZURE_59:same reason as CKV_AZURE_35: public endpoint, Entra ID only, no shared keys, no anonymous blob access
  //checkov:skip=CKV_AZURE_206:ZRS keeps three copies across zones; host state and dead letters need no geo-replication, and GZRS is not offered in every region
  //checkov:skip=CKV_AZURE_43:the name is 'stwarden' plus a 13-character uniqueString(), lower-case letters and digits, 21 characters; checkov cannot evaluate the interpolation
  name: 'stwarden${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainer
  properties: {
    publicAccess: 'None'
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-warden-${token}'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-warden-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:zone redundancy of Flex Consumption is available only in some regions; Event Grid retries deliveries for 24 h and the sweep converges, so a zone outage loses nothing
  name: 'plan-warden-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:Event Grid delivers to the function's public endpoint; the Event Grid extension endpoint is protected by the system key
  //checkov:skip=CKV_AZURE_17:Event Grid cannot present client certificates; deliveries authenticate with the function's system key
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per event; Event Grid retries while an instance starts, so no always-ready instances are needed
  //checkov:skip=CKV_AZURE_213:the app serves no HTTP API to probe; the host's own health is monitored by the platform
  name: 'func-warden-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'warden' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    packageContainer
  ]
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  //checkov:skip=CKV_AZURE_66:false positive: this is the appsettings config, not siteConfig ('web'); failed request tracing is about HTTP APIs, which this app has none of
  //checkov:skip=CKV_AZURE_63:false positive: appsettings config, not siteConfig; the functions log to Application Insights
  //checkov:skip=CKV_AZURE_222:false positive: appsettings config; see the site resource for public network access
  //checkov:skip=CKV_AZURE_80:false positive: appsettings config; the app runs Python 3.11, not .NET
  //checkov:skip=CKV_AZURE_13:false positive: appsettings config; App Service Authentication would block Event Grid deliveries, which use the system key
  //checkov:skip=CKV_AZURE_88:false positive: appsettings config; the app keeps no files (Flex Consumption runs from a blob package)
  //checkov:skip=CKV_AZURE_65:false positive: appsettings config; detailed error pages are about HTTP APIs, which this app has none of
  parent: site
  name: 'appsettings'
  properties: {
    // Identity-based host storage: no connection string, no account key.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // DefaultAzureCredential picks the user-assigned identity by this client id.
    AZURE_CLIENT_ID: identity.properties.clientId
    // The host resolves %WARDEN_RECONCILE_SCHEDULE% in the timer trigger from here;
    // without the setting the timer function does not load.
    WARDEN_RECONCILE_SCHEDULE: reconcileSchedule
    WARDEN_SUBSCRIPTIONS: watchedSubscriptions
    WARDEN_DRY_RUN: dryRun ? '1' : '0'
  }
}

// The host keeps its keys, locks and timer schedule state in blobs, and Flex
// Consumption reads the package from blobs: Blob Data Owner on this one account
// is all the host needs (no queues, tables or files are used).
resource hostStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Application Insights accepts telemetry with Entra ID only (local auth is off).
resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

output functionAppName string = site.name
output functionAppId string = site.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output storageAccountId string = storage.id
output deadLetterContainer string = deadLetters.name
