// An app team's deployment: two apps through a local module, one job inline.
targetScope = 'resourceGroup'

@description('The Container Apps environment.')
param environmentId string
@description('Where the nightly job reads from; decided per environment.')
param reportScope string
param dataAccount string = 'stdata'

var prefix = 'grant:'
var blobReader = 'Storage Blob Data Reader'

resource data 'Microsoft.Storage/storageAccounts@2023-01-01' existing = {
  name: 'st${dataAccount}'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: 'kv-orders'
}

module api './modules/app.bicep' = {
  name: 'api'
  params: {
    name: 'orders-api'
    environmentId: environmentId
    grants: {
      '${prefix}vault': 'Key Vault Secrets User@${vault.id}'
      '${prefix}self': 'Container Apps Contributor@.'
    }
  }
}

module worker './modules/app.bicep' = {
  name: 'worker'
  scope: resourceGroup('rg-workers')
  params: {
    name: 'orders-worker'
    environmentId: environmentId
    grants: {
      'grant:queue': 'Storage Queue Data Contributor@${resourceGroup().id}'
    }
  }
}

resource nightly 'Microsoft.App/jobs@2024-03-01' = {
  name: 'orders-nightly'
  location: resourceGroup().location
  tags: {
    team: 'orders'
    'grant:blob': '${blobReader}@${data.id}'
    'grant:reports': 'Reader@${reportScope}'
    'grant:audit': 'User Access Administrator@${reportScope}'
  }
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Schedule'
      replicaTimeout: 1800
    }
  }
}
