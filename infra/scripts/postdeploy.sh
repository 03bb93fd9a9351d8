#!/bin/sh
# azd postdeploy hook: create the Event Grid system topic(s) and event
# subscription(s) once the function exists (infra/events.bicep).
#
# azd provisions before it deploys, and Event Grid validates an AzureFunction
# endpoint against the deployed function, so this cannot be part of main.bicep.
# It reads main.bicep's outputs, which azd exports to hooks, and the optional
# azd environment values (set with `azd env set NAME VALUE`):
#   WARDEN_EXISTING_SYSTEM_TOPICS  JSON object {"<subscription guid>": "<system topic id>"}
#                                  of subscription system topics to reuse (at most one
#                                  system topic per source may exist); unset: found with
#                                  `az eventgrid system-topic list`
#   WARDEN_TOPIC_RESOURCE_GROUP    resource group for new system topics (rg-aca-warden-events)
#   WARDEN_MAX_EVENTS_PER_BATCH    events per delivery (4)
# Needs the Azure CLI, signed in (`az login`) as someone who may deploy to every
# watched subscription.
set -eu

cd "$(dirname "$0")/../.."

need() {
    eval "value=\${$1:-}"
    if [ -z "$value" ]; then
        echo "postdeploy: $1 is not set; run this through 'azd deploy' after 'azd provision'" >&2
        exit 2
    fi
}
need AZURE_ENV_NAME
need AZURE_LOCATION
need AZURE_SUBSCRIPTION_ID
need WARDEN_FUNCTION_APP_ID
need WARDEN_SUBSCRIPTION_IDS
need WARDEN_DEADLETTER_STORAGE_ID

if ! command -v az >/dev/null 2>&1; then
    echo "postdeploy: the Azure CLI (az) is required to create the event subscriptions" >&2
    exit 2
fi

# "a,b" -> ["a","b"]
ids_json="[$(printf '%s' "$WARDEN_SUBSCRIPTION_IDS" | tr -d ' \t\r\n' | sed 's/[^,][^,]*/"&"/g')]"
existing="${WARDEN_EXISTING_SYSTEM_TOPICS:-}"

found=""
for sub in $(printf '%s' "$WARDEN_SUBSCRIPTION_IDS" | tr ',' ' '); do
    echo "postdeploy: registering Microsoft.EventGrid in subscription $sub"
    az provider register --namespace Microsoft.EventGrid --subscription "$sub" --wait --output none
    # A subscription holds at most one system topic for itself: reuse one that
    # someone else made (ours, evgt-aca-warden-*, stays managed by the template).
    if [ -z "$existing" ]; then
        topic=$(az eventgrid system-topic list --subscription "$sub" \
            --query "[?topicType=='Microsoft.Resources.Subscriptions' && !starts_with(name, 'evgt-aca-warden-')].id | [0]" \
            --output tsv 2>/dev/null || true)
        if [ -n "$topic" ]; then
            identity=$(az eventgrid system-topic show --ids "$topic" --query "identity.type" --output tsv)
            case "$identity" in
                *SystemAssigned*) ;;
                *)
                    echo "postdeploy: reusing $topic, which has no system-assigned identity;" \
                        "dead letters need one: az eventgrid system-topic update --ids $topic" \
                        "--identity systemassigned" >&2
                    exit 1
                    ;;
            esac
            echo "postdeploy: reusing the existing system topic $topic"
            found="$found${found:+,}\"$sub\":\"$topic\""
        fi
    fi
done
[ -n "$existing" ] || existing="{$found}"

# The function is indexed a little after the package lands: retry a few times.
attempt=1
while :; do
    echo "postdeploy: deploying infra/events.bicep (attempt $attempt)"
    if az deployment sub create \
        --name "aca-warden-events-$AZURE_ENV_NAME" \
        --subscription "$AZURE_SUBSCRIPTION_ID" \
        --location "$AZURE_LOCATION" \
        --template-file infra/events.bicep \
        --parameters \
            functionAppId="$WARDEN_FUNCTION_APP_ID" \
            subscriptionIds="$ids_json" \
            existingSystemTopics="$existing" \
            topicResourceGroupName="${WARDEN_TOPIC_RESOURCE_GROUP:-rg-aca-warden-events}" \
            deadLetterStorageId="$WARDEN_DEADLETTER_STORAGE_ID" \
            deadLetterContainer="${WARDEN_DEADLETTER_CONTAINER:-deadletters}" \
            maxEventsPerBatch="${WARDEN_MAX_EVENTS_PER_BATCH:-4}" \
        --output none; then
        break
    fi
    if [ "$attempt" -ge 6 ]; then
        echo "postdeploy: infra/events.bicep failed $attempt times; see the errors above" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep 30
done
echo "postdeploy: Event Grid now delivers container app and job events to $WARDEN_FUNCTION_APP_ID/functions/on_event"
