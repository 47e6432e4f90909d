// The one storage account of the app, reached only with Entra identities (shared keys disabled): the Functions
// host's own storage (AzureWebJobsStorage), the raw archive, the app's tables and work queue, and the Flex
// Consumption deployment container.

@description('Region of the account.')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Replication of the account.')
param skuName string

@description('Blob container of the raw archive (gzip NDJSON).')
param rawContainerName string

@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Tables the app keeps its state in.')
param tableNames array

@description('Queues the app uses.')
param queueNames array

@description('Move archive blobs to the Cool tier this many days after they were last written; 0 keeps them Hot.')
@minValue(0)
param archiveCoolAfterDays int

@description('Delete archive blobs this many days after they were last written; 0 keeps them for ever.')
@minValue(0)
param archiveDeleteAfterDays int

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in [rawContainerName, deploymentContainerName]: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in tableNames: {
    parent: tableService
    name: table
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queueNames: {
    parent: queueService
    name: queue
  }
]

var tierActions = archiveCoolAfterDays > 0
  ? {
      tierToCool: {
        daysAfterModificationGreaterThan: archiveCoolAfterDays
      }
    }
  : {}
var deleteActions = archiveDeleteAfterDays > 0
  ? {
      delete: {
        daysAfterModificationGreaterThan: archiveDeleteAfterDays
      }
    }
  : {}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (archiveCoolAfterDays > 0 || archiveDeleteAfterDays > 0) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'raw-archive-lifecycle'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${rawContainerName}/'
              ]
            }
            actions: {
              baseBlob: union(tierActions, deleteActions)
            }
          }
        }
      ]
    }
  }
}

@description('Storage account name.')
output name string = account.name

@description('Storage account resource id.')
output resourceId string = account.id

@description('Blob endpoint, with a trailing slash.')
output blobEndpoint string = account.properties.primaryEndpoints.blob
