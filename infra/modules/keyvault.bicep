// The Key Vault that holds the integrations' client secrets (integration-<id>), in RBAC mode: no access policies,
// data-plane access only through role assignments (roleassignments.bicep).

@description('Region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Purge protection: deleted secrets and the vault stay recoverable for the whole soft-delete period and cannot be purged early. It cannot be turned off again once on.')
param enablePurgeProtection bool

@description('Name of the secret the deployment stores (integration-<id>).')
param secretName string

@secure()
@description('Value of that secret, straight from the deployment\'s secure parameter; empty stores no secret and leaves an existing one alone.')
param secretValue string

@description('Content type of the secret.')
param secretContentType string

@description('Tags of the secret: the ids it belongs to (tenantId, clientId, secretId), never the value.')
param secretTags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The service refuses an explicit false; null leaves purge protection off.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// An integration's client secret from the deployment form goes straight into the vault: ARM writes it through the
// control plane with the deployer's rights, and a secure parameter never appears in the deployment's history or
// outputs.
resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(secretValue)) {
  parent: vault
  name: secretName
  tags: secretTags
  properties: {
    value: secretValue
    contentType: secretContentType
  }
}

@description('Vault name.')
output name string = vault.name

@description('Vault URI, e.g. https://<name>.vault.azure.net/.')
output uri string = vault.properties.vaultUri
