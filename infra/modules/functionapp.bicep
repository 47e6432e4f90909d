// Flex Consumption plan and the Linux function app that runs the Go custom handler (runtime "custom"), its app
// settings, optional App Service Authentication, and no basic-auth publishing (deployments use Entra tokens).

@description('Region of the plan and the app.')
param location string

@description('Tags for every resource.')
param tags object

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the function app (globally unique: <name>.azurewebsites.net).')
param appName string

@description('Resource id of the app\'s user-assigned identity.')
param identityResourceId string

@description('Blob endpoint of the storage account, with a trailing slash.')
param blobEndpoint string

@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Upper bound of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('App settings, name to value.')
param appSettings object

@description('Application (client) ID of the app registration whose tokens App Service Authentication accepts; empty turns authentication off (function keys only).')
param authClientId string

@description('Directory (tenant) ID that issues those tokens.')
param authTenantId string

@description('URL of the package (zip) to install with one deploy; empty installs no code.')
param packageUri string

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
}

// Callers of the HTTP functions present an Entra access token for this API as well as the function key; the
// handler reads the caller's app roles (Integration.Admin, Integration.Helpdesk, Integration.Reader) from the
// X-MS-CLIENT-PRINCIPAL header the platform adds.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// The code: one deploy, the only deployment technology of Flex Consumption. ARM hands the package URL to the platform,
// which downloads the zip, writes it to the deployment container with the identity named in
// functionAppConfig.deployment.storage (no storage key) and restarts the app; redeploying installs it again.
resource code 'Microsoft.Web/sites/extensions@2024-04-01' = if (!empty(packageUri)) {
  parent: site
  name: 'onedeploy'
  #disable-next-line BCP187
  properties: {
    packageUri: packageUri
    remoteBuild: false
  }
  dependsOn: [
    settings
    auth
  ]
}

resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Function app name.')
output name string = site.name

@description('Function app resource id.')
output resourceId string = site.id

@description('Default host name, e.g. <name>.azurewebsites.net.')
output defaultHostName string = site.properties.defaultHostName
