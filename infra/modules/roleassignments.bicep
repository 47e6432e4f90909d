// Every Azure role the app's user-assigned identity holds, each on the narrowest scope that works, and the optional
// Key Vault Secrets Officer for the admin who stores an integration's client secret (scripts/register-app.sh).
//
// Why Key Vault Secrets Officer for the app (keyVaultSecretAccess 'readWrite', the default): the Integrations API
// stores a new integration's secret and Reset Credentials writes a new version of it (secrets/setSecret), deleting
// an integration deletes its secret (secrets/delete), and CheckSecretExpiry reads the secret's expiry
// (secrets/readMetadata). Key Vault Secrets User grants only getSecret and readMetadata. The Officer role is
// assigned on this vault only, which holds nothing but integration secrets, and purge protection (on by default)
// keeps a deleted secret recoverable for 90 days. 'readOnly' assigns Secrets User instead, for deployments that
// manage secrets only with scripts/register-app.sh; the API then cannot add or reset credentials.

@description('Principal (object) id of the app\'s user-assigned identity.')
param principalId string

@description('Storage account of the app.')
param storageAccountName string

@description('Application Insights component of the app.')
param appInsightsName string

@description('Key Vault of the integration secrets.')
param keyVaultName string

@description('readWrite: the app may create and rotate integration secrets (Key Vault Secrets Officer); readOnly: it may only read them (Key Vault Secrets User).')
@allowed([
  'readWrite'
  'readOnly'
])
param keyVaultSecretAccess string

@description('Event Hubs namespace of the streaming path; empty when streaming is off.')
param eventHubNamespaceName string

@description('Event hub the app reads.')
param eventHubName string

@description('Object id of a user, group or service principal that writes integration secrets into the vault (Key Vault Secrets Officer); empty for none.')
param secretsOfficerPrincipalId string

@description('Type of that principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsOfficerPrincipalType string

var roles = loadJsonContent('../roles.json')
var storageRoles = [
  'Storage Blob Data Owner' // the Functions host's keys, leases and timers; the archive; the deployment package
  'Storage Queue Data Contributor' // collect-work, insights-work and their poison queues
  'Storage Table Data Contributor' // integrations, cursors, leases, runs, status, audit, alerts
]
var appSecretRole = keyVaultSecretAccess == 'readWrite' ? 'Key Vault Secrets Officer' : 'Key Vault Secrets User'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = if (!empty(eventHubNamespaceName)) {
  name: eventHubNamespaceName
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = if (!empty(eventHubNamespaceName)) {
  parent: eventHubNamespace
  name: eventHubName
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, principalId, roles[role])
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[role])
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'Entra ID Data Integration: ${role}'
    }
  }
]

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles['Monitoring Metrics Publisher'])
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles['Monitoring Metrics Publisher'])
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Entra ID Data Integration: telemetry with Entra authentication'
  }
}

resource secretAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles[appSecretRole])
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[appSecretRole])
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Entra ID Data Integration: integration client secrets'
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, roles['Key Vault Secrets Officer'])
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles['Key Vault Secrets Officer'])
    principalId: secretsOfficerPrincipalId
    principalType: secretsOfficerPrincipalType
    description: 'Entra ID Data Integration: stores integration client secrets (scripts/register-app.sh)'
  }
}

resource streamAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(eventHubNamespaceName)) {
  name: guid(eventHub.id, principalId, roles['Azure Event Hubs Data Receiver'])
  scope: eventHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles['Azure Event Hubs Data Receiver'])
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Entra ID Data Integration: StreamEvents reads the Entra diagnostic logs'
  }
}

@description('Role the app holds on the Key Vault.')
output appSecretRole string = appSecretRole
