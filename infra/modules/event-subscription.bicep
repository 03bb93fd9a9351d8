// The event subscription from a subscription system topic to the function.
targetScope = 'resourceGroup'

param topicName string
param name string
@description('<function app id>/functions/<function name>')
param functionResourceId string
param deadLetterStorageId string
param deadLetterContainer string
param maxEventsPerBatch int
param maxDeliveryAttempts int
param eventTimeToLiveInMinutes int

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

// The contract's table "Events it reacts to", exactly: Event Grid ANDs advanced filters,
// so each event type gets its own subscription with the operations admitted for it.
// StringIn compares case-insensitively, as ARM names are.
var filters = [
  {
    suffix: ''
    eventType: 'Microsoft.Resources.ResourceWriteSuccess'
    operations: [
      'Microsoft.App/containerApps/write'
      'Microsoft.App/jobs/write'
      'Microsoft.Resources/tags/write'
    ]
  }
  {
    suffix: '-deletes'
    eventType: 'Microsoft.Resources.ResourceDeleteSuccess'
    operations: [
      'Microsoft.App/containerApps/delete'
      'Microsoft.App/jobs/delete'
      'Microsoft.Resources/tags/delete'
    ]
  }
  {
    suffix: '-failures'
    eventType: 'Microsoft.Resources.ResourceWriteFailure'
    operations: [
      'Microsoft.App/containerApps/write'
      'Microsoft.App/jobs/write'
    ]
  }
]

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [for f in filters: {
  parent: topic
  name: '${name}${f.suffix}'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: maxEventsPerBatch
        preferredBatchSizeInKilobytes: 64
      }
    }
    // azure-functions 1.x surfaces only Event Grid-schema attributes.
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        f.eventType
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: f.operations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}]

output ids array = [for (f, i) in filters: eventSubscription[i].id]
