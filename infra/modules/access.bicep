// The function's identity on ONE watched subscription, least privilege. Every role and
// the condition come from ../roles.json (also read by the local emulator and the tests):
//
// * the deployment's custom role (main.bicep): write container apps and jobs, assign
//   user-assigned identities;
// * Role Based Access Control Administrator under an ABAC condition: it may create
//   role assignments only of the grantable roles, and delete them only of roles that
//   cannot grant access, only for service principals (an app's system-assigned
//   identity), never of a role in roles.json grantor.neverDelegable (Owner, User Access
//   Administrator, Role Based Access Control Administrator, and every other built-in
//   role that can grant access). Its */read is all the reading the service does;
// * Managed Identity Contributor, only with createMissingIdentities.
targetScope = 'subscription'

param principalId string
@description('GUID of the custom container-app writer role (defined once in main.bicep).')
param appWriterRoleGuid string
param createMissingIdentities bool
@minLength(1)
@description('Role-definition GUIDs grant tags may assign; [\'*\']: any role that is not never-delegable.')
param grantableRoleIds array

var roles = loadJsonContent('../roles.json')
// Filled exactly as emulator/deployment.py build_condition() fills it.
var allowedClause = contains(grantableRoleIds, '*') ? '' : replace(roles.grantor.allowedRolesClause, '$roles', join(grantableRoleIds, ', '))
var condition = replace(replace(replace(roles.grantor.condition, '$neverDelegable', join(roles.grantor.neverDelegable, ', ')), '$principalTypes', roles.grantor.principalTypes), '$allowedRequest', allowedClause)

resource appWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, appWriterRoleGuid)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', appWriterRoleGuid)
    description: 'aca-warden: attach identities to container apps and jobs'
  }
}

resource identityCreator 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createMissingIdentities) {
  name: guid(subscription().id, principalId, roles.identityCreator.id)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.identityCreator.id)
    description: roles.identityCreator.description
  }
}

resource grantor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roles.grantor.id)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.grantor.id)
    description: roles.grantor.description
    condition: condition
    conditionVersion: roles.grantor.conditionVersion
  }
}
