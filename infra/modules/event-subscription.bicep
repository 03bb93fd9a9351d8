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

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: name
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
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      // StringIn compares case-insensitively, as ARM names are.
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.App/containerApps/write'
            'Microsoft.App/containerApps/delete'
            'Microsoft.Resources/tags/write'
          ]
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
}

output id string = eventSubscription.id
