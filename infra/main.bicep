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

@description('Subscriptions whose container apps and jobs aca-warden manages (GUIDs). Empty: this subscription only.')
param subscriptionIds array = []

@description('NCRONTAB schedule of the reconcile sweep (app setting WARDEN_RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 0 */6 * * *'

@description('Give the identity Managed Identity Contributor so that it can create missing standard identities (policy identities.create_missing).')
param createMissingIdentities bool = false

@minLength(1)
@description('Role-definition GUIDs that grant tags may assign (the policy\'s grants.allowed_roles); [\'*\'] (the policy\'s default): any role. Roles that can grant access (roles.json grantor.neverDelegable: Owner, User Access Administrator, Role Based Access Control Administrator...) are refused by the ABAC condition whatever is listed.')
param grantableRoleIds array = [
  '*'
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

// The identity's roles live in roles.json, read here, by modules/access.bicep and by the
// local emulator and tests (one source of truth). One custom role for the whole
// deployment, assignable in every watched subscription: write container apps and jobs
// (attaching identities is a write of the workload) and assign user-assigned identities.
// Nothing else: reads come with the constrained Role Based Access Control Administrator
// assignment (modules/access.bicep).
var roles = loadJsonContent('roles.json')

resource appWriter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'aca-warden-app-writer', environmentName)
  properties: {
    roleName: '${roles.customRole.roleName} (${environmentName})'
    description: roles.customRole.description
    type: 'CustomRole'
    permissions: [
      {
        actions: roles.customRole.actions
        notActions: roles.customRole.notActions
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
