// Entra ID Data Integration: everything the app runs on, in one resource group.
//
//   az deployment group create -g <rg> --template-file infra/main.bicep --parameters namePrefix=edi
//
// or scripts/deploy.sh, which also builds and deploys the code. The app registration that reads Entra ID is made
// separately (infra/app-registration, or scripts/register-app.sh); its ids come in through the integration*
// parameters or the Integrations API. See docs/deploy.md.
metadata description = 'Entra ID Data Integration: Flex Consumption function app (Go custom handler), keyless storage, Key Vault, Application Insights and optional Event Hubs streaming.'

targetScope = 'resourceGroup'

// ---- Naming and placement -------------------------------------------------------------------------------------

@description('Region of every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Short prefix of every resource name: 2-10 lowercase letters, digits or hyphens.')
@minLength(2)
@maxLength(10)
param namePrefix string = 'edi'

@description('Suffix that makes the globally unique names (storage, Key Vault, function app) unique; the default is stable per subscription and resource group.')
@minLength(5)
@maxLength(13)
param resourceToken string = uniqueString(subscription().id, resourceGroup().id)

@description('Name of the function app, which is also its host name <name>.azurewebsites.net.')
@minLength(2)
@maxLength(60)
param functionAppName string = 'func-${namePrefix}-${resourceToken}'

@description('Tags applied to every resource.')
param tags object = {}

// ---- Function app ---------------------------------------------------------------------------------------------

@description('Upper bound of Flex Consumption instances (40-1000, the range of the official Flex quickstart). Collection is bounded by Graph throttling, not by instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB. The handler streams Graph pages (target peak 64 MB); larger instances also get more CPU.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('NCRONTAB schedule (UTC, six fields) of CollectLogs, which plans the log collection work.')
param collectLogsSchedule string = '0 */5 * * * *'

@description('NCRONTAB schedule (UTC) of CollectDirectory, which plans directory delta syncs and snapshots.')
param collectDirectorySchedule string = '0 0 * * * *'

@description('NCRONTAB schedule (UTC) of CheckSecretExpiry, the daily client secret expiry check.')
param checkSecretExpirySchedule string = '0 0 6 * * *'

@description('NCRONTAB schedule (UTC) of ComputeInsights, which plans the daily identity insights (inactive users, MFA and SSO coverage, guests).')
param insightsSchedule string = '0 30 3 * * *'

@description('Minimum level of the handler\'s logs.')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Days Log Analytics keeps the app\'s logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// ---- Storage --------------------------------------------------------------------------------------------------

@description('Replication of the storage account that holds the archive.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_LRS'

@description('Blob container of the raw archive (RAW_CONTAINER).')
@minLength(3)
@maxLength(63)
param rawContainerName string = 'entra-raw'

@description('Move archive blobs to the Cool tier this many days after they were written; 0 keeps them Hot.')
@minValue(0)
param archiveCoolAfterDays int = 30

@description('Delete archive blobs this many days after they were written; 0 keeps them for ever.')
@minValue(0)
param archiveDeleteAfterDays int = 0

// ---- Key Vault ------------------------------------------------------------------------------------------------

@description('readWrite: the app stores and rotates integration secrets itself (Add Integration, Reset Credentials; Key Vault Secrets Officer on the vault). readOnly: it only reads them (Key Vault Secrets User) and secrets are managed with scripts/register-app.sh.')
@allowed([
  'readWrite'
  'readOnly'
])
param keyVaultSecretAccess string = 'readWrite'

@description('Object id of the admin (user, group or service principal) who stores client secrets with scripts/register-app.sh; gets Key Vault Secrets Officer on the vault. Empty: nobody but the app.')
param secretsOfficerPrincipalId string = ''

@description('Type of secretsOfficerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsOfficerPrincipalType string = 'User'

@description('Key Vault purge protection: deleted secrets stay recoverable for 90 days and cannot be purged early. Cannot be turned off once on.')
param keyVaultPurgeProtection bool = true

// ---- Single-tenant integration (optional; integrations can also be added through the API) ----------------------

@description('Id (slug) of an integration declared in app settings; empty declares none. Its secret is the Key Vault secret integration-<id>.')
param integrationId string = ''

@description('Directory (tenant) ID of that integration.')
param integrationTenantId string = ''

@description('Application (client) ID of its app registration.')
param integrationClientId string = ''

@description('Secret ID (keyId) of its client secret, for the expiry check; printed by scripts/register-app.sh.')
param integrationSecretId string = ''

@secure()
@description('Client secret value of that integration\'s app registration. It is written only to the Key Vault secret integration-<id> (never an app setting, an output or a log line); empty stores none (scripts/register-app.sh --key-vault or the Integrations API add it later).')
param integrationClientSecret string = ''

@description('Permission level the integration\'s app registration was given.')
@allowed([
  'read-only'
  'read-write'
])
param integrationPermissions string = 'read-only'

// ---- App Service Authentication (optional) --------------------------------------------------------------------

@description('Application (client) ID of the API app registration that defines the app roles Integration.Admin, Integration.Helpdesk and Integration.Reader (scripts/register-api-app.sh). Empty: no App Service Authentication, function keys only.')
param authClientId string = ''

@description('Directory (tenant) ID that issues the callers\' tokens.')
param authTenantId string = tenant().tenantId

// ---- Event Hubs streaming (optional) --------------------------------------------------------------------------

@description('Create an Event Hubs namespace, event hub and consumer group for real-time Entra diagnostic logs (StreamEvents).')
param enableEventHub bool = false

@description('Event hub the Entra diagnostic setting writes to.')
param eventHubName string = 'entra-logs'

@description('Consumer group StreamEvents reads with.')
param eventHubConsumerGroup string = 'edi-stream'

@description('Partitions of the event hub, 4 to 8 (fixed after creation): StreamEvents runs at most one instance per partition.')
@minValue(4)
@maxValue(8)
param eventHubPartitionCount int = 4

@description('Days events stay in the event hub (how long StreamEvents may be down without losing events).')
@minValue(1)
@maxValue(7)
param eventHubRetentionDays int = 7

// ---- Code ---------------------------------------------------------------------------------------------------

@description('URL of the function app package (zip) the deployment installs with one deploy, the only deployment technology of Flex Consumption: the platform fetches it, writes it to the deployment container as the app\'s identity and restarts the app. Empty installs no code (scripts/deploy.sh pushes its own build). A release\'s mainTemplate.json pins the default to that release\'s package (scripts/release.sh).')
param packageUri string = 'https://github.com/entra-di/edi/releases/latest/download/entra-data-integration.zip'

// ---- Names ----------------------------------------------------------------------------------------------------

var compactPrefix = toLower(replace(namePrefix, '-', ''))
var names = {
  identity: 'id-${namePrefix}-${resourceToken}'
  storage: take('st${compactPrefix}${resourceToken}', 24)
  keyVault: take('kv-${namePrefix}-${resourceToken}', 24)
  workspace: 'log-${namePrefix}-${resourceToken}'
  appInsights: 'appi-${namePrefix}-${resourceToken}'
  plan: 'plan-${namePrefix}-${resourceToken}'
  eventHubNamespace: 'evhns-${namePrefix}-${resourceToken}'
}
var deploymentContainerName = 'app-package'
var tableNames = [
  'integrations'
  'cursors'
  'leases'
  'runs'
  'status'
  'audit'
  'alerts'
]
var queueNames = [
  'collect-work'
  'insights-work'
]

// ---- Resources ------------------------------------------------------------------------------------------------

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: names.storage
    skuName: storageSku
    rawContainerName: rawContainerName
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    queueNames: queueNames
    archiveCoolAfterDays: archiveCoolAfterDays
    archiveDeleteAfterDays: archiveDeleteAfterDays
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    retentionInDays: logRetentionDays
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: names.keyVault
    enablePurgeProtection: keyVaultPurgeProtection
    secretName: 'integration-${integrationId}'
    secretValue: empty(integrationId) ? '' : integrationClientSecret
    secretContentType: 'client secret of ${integrationClientId}'
    secretTags: {
      tenantId: integrationTenantId
      clientId: integrationClientId
      secretId: integrationSecretId
    }
  }
}

module eventHub 'modules/eventhub.bicep' = if (enableEventHub) {
  name: 'eventhub'
  params: {
    location: location
    tags: tags
    namespaceName: names.eventHubNamespace
    eventHubName: eventHubName
    consumerGroupName: eventHubConsumerGroup
    partitionCount: eventHubPartitionCount
    retentionDays: eventHubRetentionDays
  }
}

module access 'modules/roleassignments.bicep' = {
  name: 'role-assignments'
  params: {
    principalId: appIdentity.properties.principalId
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    keyVaultSecretAccess: keyVaultSecretAccess
    eventHubNamespaceName: enableEventHub ? names.eventHubNamespace : ''
    eventHubName: eventHubName
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
    secretsOfficerPrincipalType: secretsOfficerPrincipalType
  }
  dependsOn: [
    eventHub
  ]
}

// App settings the handler and the Functions host read. FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION
// are deliberately absent: Flex Consumption takes the runtime from functionAppConfig.
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appIdentity.properties.clientId
  AZURE_CLIENT_ID: appIdentity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appIdentity.properties.clientId};Authorization=AAD'
  RAW_CONTAINER: rawContainerName
  KEY_VAULT_URL: keyVault.outputs.uri
  COLLECT_LOGS_SCHEDULE: collectLogsSchedule
  COLLECT_DIRECTORY_SCHEDULE: collectDirectorySchedule
  CHECK_SECRET_EXPIRY_SCHEDULE: checkSecretExpirySchedule
  INSIGHTS_SCHEDULE: insightsSchedule
  LOG_LEVEL: logLevel
}
var integrationSettings = empty(integrationId)
  ? {}
  : {
      ENTRA_INTEGRATION_ID: integrationId
      ENTRA_TENANT_ID: integrationTenantId
      ENTRA_CLIENT_ID: integrationClientId
      ENTRA_CLIENT_SECRET_NAME: 'integration-${integrationId}'
      ENTRA_SECRET_ID: integrationSecretId
      ENTRA_PERMISSIONS: integrationPermissions
    }
// StreamEvents binds to the connection STREAM_EVENTHUB (identity-based) and to %STREAM_EVENTHUB_NAME% and
// %STREAM_EVENTHUB_CONSUMER_GROUP%; without a namespace the function is disabled, and the names still resolve.
var streamNames = {
  STREAM_EVENTHUB_NAME: eventHubName
  STREAM_EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroup
}
var streamSettings = enableEventHub
  ? {
      STREAM_EVENTHUB__fullyQualifiedNamespace: eventHub.outputs.fullyQualifiedNamespace
      STREAM_EVENTHUB__credential: 'managedidentity'
      STREAM_EVENTHUB__clientId: appIdentity.properties.clientId
    }
  : {
      'AzureWebJobs.StreamEvents.Disabled': 'true'
    }

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: names.plan
    appName: functionAppName
    identityResourceId: appIdentity.id
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: union(hostSettings, integrationSettings, streamNames, streamSettings)
    authClientId: authClientId
    authTenantId: authTenantId
    packageUri: packageUri
  }
  // The host starts as soon as the app exists: its identity needs the storage roles first.
  dependsOn: [
    access
  ]
}

// ---- Outputs --------------------------------------------------------------------------------------------------

@description('Function app name (scripts/deploy.sh deploys the code to it).')
output functionAppName string = functionApp.outputs.name

@description('Base URL of the HTTP functions.')
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}/api'

@description('The Status page: storage reachability and the health of every integration and data type, HTML in a browser and JSON otherwise. Append ?code=<function key> (the app\'s App keys in the portal, or az functionapp keys list).')
output statusPageUrl string = 'https://${functionApp.outputs.defaultHostName}/api/status'

@description('The Integrations API: add, list, test and collect integrations; a function key as for the Status page.')
output integrationsApiUrl string = 'https://${functionApp.outputs.defaultHostName}/api/integrations'

@description('Package the deployment installed with one deploy; empty when it installed no code.')
output deployedPackageUri string = packageUri

@description('Function app resource id.')
output functionAppResourceId string = functionApp.outputs.resourceId

@description('Client id of the app\'s user-assigned identity.')
output identityClientId string = appIdentity.properties.clientId

@description('Principal (object) id of the app\'s user-assigned identity.')
output identityPrincipalId string = appIdentity.properties.principalId

@description('Storage account of the archive, tables and queue.')
output storageAccountName string = storage.outputs.name

@description('Blob container of the raw archive.')
output rawContainerName string = rawContainerName

@description('Key Vault of the integration secrets (scripts/register-app.sh --key-vault).')
output keyVaultName string = keyVault.outputs.name

@description('Key Vault URI (KEY_VAULT_URL).')
output keyVaultUri string = keyVault.outputs.uri

@description('Role the app holds on the Key Vault.')
output keyVaultAppRole string = access.outputs.appSecretRole

@description('Key Vault secret name of the single-tenant integration; empty when none is declared.')
output integrationSecretName string = empty(integrationId) ? '' : 'integration-${integrationId}'

@description('Application Insights component.')
output appInsightsName string = monitoring.outputs.appInsightsName

@description('Log Analytics workspace resource id.')
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceId

@description('Event Hubs namespace; empty when streaming is off.')
output eventHubNamespaceName string = enableEventHub ? eventHub.outputs.namespaceName : ''

@description('Authorization rule for the Entra ID diagnostic setting (eventHubAuthorizationRuleId); empty when streaming is off.')
output eventHubDiagnosticsRuleId string = enableEventHub ? eventHub.outputs.diagnosticsRuleId : ''

@description('Event hub the diagnostic setting writes to.')
output eventHubName string = enableEventHub ? eventHub.outputs.eventHubName : ''
