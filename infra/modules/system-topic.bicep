// A new system topic for the Azure subscription this resource group lives in.
targetScope = 'resourceGroup'

param name string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  // Subscription (and resource group) system topics are global.
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output id string = topic.id
output name string = topic.name
output principalId string = topic.identity.principalId
