// Optional real-time path: Entra ID diagnostic settings stream sign-in and audit logs into this event hub, and the
// StreamEvents function reads them through its own consumer group with the app's managed identity.

@description('Region of the namespace.')
param location string

@description('Tags for the namespace.')
param tags object

@description('Event Hubs namespace name: 6-50 letters, digits and hyphens, globally unique.')
@minLength(6)
@maxLength(50)
param namespaceName string

@description('Event hub the Entra diagnostic setting writes to.')
param eventHubName string

@description('Consumer group of the StreamEvents function.')
param consumerGroupName string

@description('Partitions of the event hub (fixed after creation on the Standard tier): 4 to 8. Flex Consumption runs at most one StreamEvents instance per partition.')
@minValue(4)
@maxValue(8)
param partitionCount int

@description('Days events stay in the event hub, the time StreamEvents may fall behind without losing events.')
@minValue(1)
@maxValue(7)
param retentionDays int

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
    // Diagnostic settings can only deliver to Event Hubs with a shared access (SAS) rule, so local authentication
    // stays on; the app itself reads with its managed identity.
    disableLocalAuth: false
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: eventHub
  name: consumerGroupName
  properties: {
    userMetadata: 'Entra ID Data Integration: StreamEvents function'
  }
}

// Shared access rule for the Entra diagnostic setting: "Streaming to Event Hubs requires Manage, Send, and Listen
// permissions" (Learn, "Diagnostic settings in Azure Monitor"). Whoever saves the setting needs listKeys on it.
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: namespace
  name: 'entra-diagnostic-setting'
  properties: {
    rights: [
      'Listen'
      'Send'
      'Manage'
    ]
  }
}

@description('Namespace name.')
output namespaceName string = namespace.name

// serviceBusEndpoint is https://<namespace>.servicebus.windows.net:443/ (another suffix in sovereign clouds).
@description('Fully qualified namespace host name for identity-based connections.')
output fullyQualifiedNamespace string = split(replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), '/', ''), ':')[0]

@description('Event hub name.')
output eventHubName string = eventHub.name

@description('Consumer group name.')
output consumerGroupName string = consumerGroup.name

@description('Authorization rule id for the Entra diagnostic setting (eventHubAuthorizationRuleId).')
output diagnosticsRuleId string = diagnosticsRule.id
