// aca-warden's event plumbing, deployed by infra/scripts/postdeploy.sh AFTER
// `azd deploy`: an event subscription to a function is validated against the
// deployed function, so it cannot be part of `azd provision`.
//
// For every watched subscription: the Event Grid system topic of the Azure
// subscription (created, or an existing one reused: a subscription holds at
// most one system topic per source), and an event subscription that delivers
// container app and job writes and deletes and tag writes to the `on_event` function
// in the Event Grid schema, with a retry policy and dead-lettering to blob
// storage through the topic's managed identity.
targetScope = 'subscription'

@description('Resource ID of the function app (output WARDEN_FUNCTION_APP_ID of main.bicep).')
param functionAppId string

@description('Name of the Event Grid-triggered function.')
param functionName string = 'on_event'

@minLength(1)
@description('Subscription GUIDs to watch; one system topic and one event subscription each.')
param subscriptionIds array

@description('Existing subscription system topics to reuse, by subscription GUID: { "<subscription guid>": "<system topic resource id>" }. Such a topic needs a system-assigned identity for dead-lettering (az eventgrid system-topic update --identity systemassigned).')
param existingSystemTopics object = {}

@description('Resource group (created in each watched subscription if missing) that holds a new system topic.')
param topicResourceGroupName string = 'rg-aca-warden-events'

@description('Region of topicResourceGroupName where it has to be created.')
param location string = deployment().location

@description('Storage account (resource ID) and container for dead-lettered events.')
param deadLetterStorageId string
param deadLetterContainer string = 'deadletters'

@minValue(1)
@maxValue(10)
@description('Events per delivery: small, so that one transient failure redelivers few events.')
param maxEventsPerBatch int = 4

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

param eventSubscriptionName string = 'aca-warden'

param tags object = {
  application: 'aca-warden'
}

// Module scopes must be known when the deployment starts (not module outputs),
// so the topic's resource group is worked out here from the parameters.
var topicGroups = [for sub in subscriptionIds: contains(existingSystemTopics, sub) ? split(existingSystemTopics[sub], '/')[4] : topicResourceGroupName]

module topics 'modules/topic.bicep' = [for sub in subscriptionIds: {
  name: 'aca-warden-topic-${take(uniqueString(sub), 8)}'
  scope: subscription(sub)
  params: {
    existingTopicId: contains(existingSystemTopics, sub) ? existingSystemTopics[sub] : ''
    resourceGroupName: topicResourceGroupName
    location: location
    tags: tags
  }
}]

// Dead letters are written with the topic's identity: the account has no keys.
module deadLetterAccess 'modules/deadletter-access.bicep' = [for (sub, i) in subscriptionIds: {
  name: 'aca-warden-dlq-${take(uniqueString(sub), 8)}'
  scope: resourceGroup(split(deadLetterStorageId, '/')[2], split(deadLetterStorageId, '/')[4])
  params: {
    storageAccountName: last(split(deadLetterStorageId, '/'))
    principalId: topics[i].outputs.principalId
  }
}]

module eventSubscriptions 'modules/event-subscription.bicep' = [for (sub, i) in subscriptionIds: {
  name: 'aca-warden-evs-${take(uniqueString(sub), 8)}'
  scope: resourceGroup(sub, topicGroups[i])
  params: {
    topicName: topics[i].outputs.name
    name: eventSubscriptionName
    functionResourceId: '${functionAppId}/functions/${functionName}'
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainer: deadLetterContainer
    maxEventsPerBatch: maxEventsPerBatch
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  dependsOn: [
    deadLetterAccess[i]
  ]
}]

output systemTopicIds array = [for (sub, i) in subscriptionIds: topics[i].outputs.id]
