// A container app with the team's standard tags and the grants its caller asks for.
param name string
param environmentId string
param location string = resourceGroup().location
param grants object = {}

var standardTags = {
  team: 'orders'
  'grant:rg': 'Reader@.'
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(standardTags, grants)
  properties: {
    managedEnvironmentId: environmentId
  }
}
