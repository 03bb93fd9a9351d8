// The function's identity on ONE watched subscription, least privilege:
//
// * Reader: find container apps, read role definitions and assignments, read
//   scopes that grant tags name (a grant on a scope that does not exist is refused).
// * the deployment's custom role (main.bicep): write container apps' identity,
//   assign user-assigned identities.
// * Managed Identity Contributor, only with createMissingIdentities.
// * Role Based Access Control Administrator under an ABAC condition: it may
//   create and delete assignments only of the listed roles, only for service
//   principals (an app's system-assigned identity), and never of Owner, User
//   Access Administrator or Role Based Access Control Administrator.
targetScope = 'subscription'

param principalId string
@description('GUID of the custom container-app writer role (defined once in main.bicep).')
param appWriterRoleGuid string
param createMissingIdentities bool
@minLength(1)
param grantableRoleIds array

var builtIn = {
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  managedIdentityContributor: 'e40ec5ca-96e0-45a2-b4ff-59039f2c2b59'
  rbacAdministrator: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
}
// Never delegable, whatever grantableRoleIds says: Owner, User Access
// Administrator, Role Based Access Control Administrator.
var forbidden = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635, 18d7d88d-d35e-4fb5-a5c3-7773c20a72d9, f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var allowed = join(grantableRoleIds, ', ')
var writeClause = '@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${allowed}} AND @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAllValues:GuidNotEquals {${forbidden}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}'
var deleteClause = '@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${allowed}} AND @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAllValues:GuidNotEquals {${forbidden}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}'
var condition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (${writeClause})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (${deleteClause}))'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, builtIn.reader)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtIn.reader)
    description: 'aca-warden: read container apps, roles and scopes'
  }
}

resource appWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, appWriterRoleGuid)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', appWriterRoleGuid)
    description: 'aca-warden: attach identities to container apps'
  }
}

resource identityCreator 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createMissingIdentities) {
  name: guid(subscription().id, principalId, builtIn.managedIdentityContributor)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtIn.managedIdentityContributor)
    description: 'aca-warden: create missing standard identities'
  }
}

resource grantor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, builtIn.rbacAdministrator)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtIn.rbacAdministrator)
    description: 'aca-warden: grant-tag roles only, to service principals only, never privileged roles'
    condition: condition
    conditionVersion: '2.0'
  }
}
