// An existing system topic, reused as it is. It must have a system-assigned
// identity: dead letters are written with it.
targetScope = 'resourceGroup'

param name string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: name
}

output id string = topic.id
output name string = topic.name
output principalId string = topic.identity.principalId
