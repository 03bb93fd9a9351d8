// aca-warden: everything `azd provision` creates.
//
// One function app (Flex Consumption, Python 3.11) in its own resource group,
// running as a user-assigned managed identity, and that identity's least
// privileges on every subscription it watches (modules/access.bicep).
//
// The Event Grid system topics and event subscriptions are NOT here: an event
// subscription to a function can only be created once the function exists, and
// azd provisions before it deploys. infra/scripts/postdeploy.sh deploys
// infra/events.bicep after `azd deploy`.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of the function app and its resources.')
param location string

@description('Subscriptions whose container apps aca-warden manages (GUIDs). Empty: this subscription only.')
param subscriptionIds array = []

@description('NCRONTAB schedule of the reconcile sweep (app setting WARDEN_RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 0 */6 * * *'

@description('Give the identity Managed Identity Contributor so that it can create missing standard identities (policy identities.create_missing).')
param createMissingIdentities bool = false

@minLength(1)
@description('Role-definition GUIDs that grant tags may assign (the policy\'s allowed roles). Owner, User Access Administrator and Role Based Access Control Administrator are refused by the ABAC condition whatever is listed.')
param grantableRoleIds array = [
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
]

@description('Plan and report only, write nothing (WARDEN_DRY_RUN).')
param dryRun bool = false

@description('Name of the resource group to create for the function app; empty: rg-<environmentName>.')
param resourceGroupName string = ''

var tags = {
  'azd-env-name': environmentName
  application: 'aca-warden'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var watched = empty(subscriptionIds) ? [subscription().subscriptionId] : subscriptionIds

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module app 'modules/app.bicep' = {
  name: 'aca-warden-app'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    reconcileSchedule: reconcileSchedule
    watchedSubscriptions: join(watched, ',')
    dryRun: dryRun
  }
}

// One custom role for the whole deployment, assignable in every watched
// subscription: read and write container apps (a PATCH of the app's identity
// is a write), join their managed environment (the Container Apps RP checks it
// on every write of an app), assign user-assigned identities. Nothing else:
// reads of everything else come from Reader, role assignments from the
// constrained RBAC Administrator assignment.
resource appWriter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'aca-warden-app-writer', environmentName)
  properties: {
    roleName: 'aca-warden container app identity writer (${environmentName})'
    description: 'Lets aca-warden attach identities to container apps: read and write container apps, assign user-assigned identities.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.App/containerApps/read'
          'Microsoft.App/containerApps/write'
          'Microsoft.App/managedEnvironments/join/action'
          'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [for sub in watched: '/subscriptions/${sub}']
  }
}

module access 'modules/access.bicep' = [for sub in watched: {
  name: 'aca-warden-access-${take(uniqueString(sub, environmentName), 8)}'
  scope: subscription(sub)
  params: {
    principalId: app.outputs.principalId
    appWriterRoleGuid: appWriter.name
    createMissingIdentities: createMissingIdentities
    grantableRoleIds: grantableRoleIds
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output WARDEN_FUNCTION_APP_ID string = app.outputs.functionAppId
output WARDEN_IDENTITY_PRINCIPAL_ID string = app.outputs.principalId
output WARDEN_DEADLETTER_STORAGE_ID string = app.outputs.storageAccountId
output WARDEN_DEADLETTER_CONTAINER string = app.outputs.deadLetterContainer
output WARDEN_SUBSCRIPTION_IDS string = join(watched, ',')
