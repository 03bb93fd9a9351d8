// The Azure subscription's Event Grid system topic in one subscription: a new
// one (with a system-assigned identity, for dead-lettering), or an existing one.
targetScope = 'subscription'

@description('Resource ID of an existing system topic for this subscription; empty: create one.')
param existingTopicId string
param resourceGroupName string
param location string
param tags object

var reuse = !empty(existingTopicId)

resource topicGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = if (!reuse) {
  name: resourceGroupName
  location: location
  tags: tags
}

module created 'system-topic.bicep' = if (!reuse) {
  name: 'aca-warden-system-topic'
  scope: resourceGroup(resourceGroupName)
  params: {
    name: 'evgt-aca-warden-${take(uniqueString(subscription().id), 8)}'
    tags: tags
  }
  dependsOn: [
    topicGroup
  ]
}

module reused 'system-topic-existing.bicep' = if (reuse) {
  name: 'aca-warden-system-topic-existing'
  scope: resourceGroup(reuse ? split(existingTopicId, '/')[4] : resourceGroupName)
  params: {
    name: reuse ? last(split(existingTopicId, '/')) : ''
  }
}

output id string = reuse ? reused.outputs.id : created.outputs.id
output name string = reuse ? reused.outputs.name : created.outputs.name
output resourceGroupName string = reuse ? split(existingTopicId, '/')[4] : resourceGroupName
output principalId string = reuse ? reused.outputs.principalId : created.outputs.principalId
