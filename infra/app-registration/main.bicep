// The Marketplace-style "Entra ID Data Integration" app registration: a deployment script runs as the admin's
// user-assigned managed identity (which holds the Entra role Application Administrator), finds or creates the
// app registration (single-tenant, or multi-tenant for an MSP), sets its Microsoft Graph application permissions
// and creates its service principal. With federatedIdentityPrincipalId it also trusts the function app's
// user-assigned managed identity as a federated identity credential, so integrations sign in without a secret
// (credential managed-identity). Admin consent stays a manual step (see docs/deploy.md).
//
// mainTemplate.json is the ARM JSON equivalent for the portal and the Marketplace (languageVersion 1.0); a contract
// test keeps the two in step, and `make generate` copies permissions.json and the script into it.
metadata description = 'Creates the Entra ID Data Integration app registration with a deployment script that runs as a user-assigned managed identity holding Application Administrator.'

targetScope = 'resourceGroup'

@description('Region of the deployment script and of the temporary resources it uses (an Azure Container Instance and a storage account); the region must offer Azure Container Instances.')
param location string = resourceGroup().location

@description('Display name of the app registration. An existing registration with exactly this name is reused, so redeploying is safe.')
@minLength(1)
@maxLength(120)
param appRegistrationName string = 'Entra ID Data Integration'

@description('Yes: also request the write permissions that remediation needs (User.ReadWrite.All, User.ManageIdentities.All, Directory.ReadWrite.All, UserAuthenticationMethod.ReadWrite.All). No: read-only.')
@allowed([
  'Yes'
  'No'
])
param assignWritePermissions string = 'No'

@description('Yes: also request the Intune (device management) read permissions. Answer Yes only when the tenant has an Intune licence.')
@allowed([
  'Yes'
  'No'
])
param tenantHasIntuneLicense string = 'No'

@description('Name of an existing user-assigned managed identity that holds the Entra role Application Administrator (or Cloud Application Administrator). The deployment script runs as this identity.')
@minLength(3)
param managedIdentityName string

@description('Resource group of that managed identity (same subscription).')
param managedIdentityResourceGroup string = resourceGroup().name

@description('Yes: also grant admin consent by assigning the Graph app roles. Works only when the identity holds Privileged Role Administrator or Global Administrator; Application Administrator is refused. No: an admin grants consent afterwards.')
@allowed([
  'Yes'
  'No'
])
param grantAdminConsent string = 'No'

@description('Yes: a multi-tenant app registration (an MSP\'s: each customer tenant grants it admin consent, and the function app\'s managed identity signs in to all of them). No: single-tenant.')
@allowed([
  'Yes'
  'No'
])
param multiTenant string = 'No'

@description('Object (principal) ID of the function app\'s user-assigned managed identity. When set, the app registration trusts that identity as a federated identity credential (issuer <login endpoint>/<tenant>/v2.0, audience api://AzureADTokenExchange), and integrations use credential managed-identity instead of a client secret. none: no federated credential.')
param federatedIdentityPrincipalId string = 'none'

@description('Azure CLI version of the deployment script container. It must be on the deployment script service\'s supported list (versions released in the last 30 days are not).')
param azCliVersion string = '2.76.0'

@description('A new value reruns the script. The default reruns it on every deployment; the script is idempotent.')
param forceUpdateTag string = utcNow()

var permissionSets = loadJsonContent('permissions.json')
var writeSelected = assignWritePermissions == 'Yes'
var intuneSelected = tenantHasIntuneLicense == 'Yes'
var selectedPermissions = concat(
  permissionSets.readOnly,
  writeSelected ? permissionSets.write : [],
  intuneSelected ? permissionSets.intune : []
)

resource scriptIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: managedIdentityName
  scope: resourceGroup(managedIdentityResourceGroup)
}

resource createAppRegistration 'Microsoft.Resources/deploymentScripts@2023-08-01' = {
  name: 'create-app-registration'
  location: location
  kind: 'AzureCLI'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${scriptIdentity.id}': {}
    }
  }
  properties: {
    azCliVersion: azCliVersion
    scriptContent: loadTextContent('scripts/create-app-registration.sh')
    environmentVariables: [
      {
        name: 'APP_NAME'
        value: appRegistrationName
      }
      {
        name: 'PERMISSIONS'
        value: string(selectedPermissions)
      }
      {
        name: 'TENANT_ID'
        value: subscription().tenantId
      }
      {
        name: 'GRANT_ADMIN_CONSENT'
        value: grantAdminConsent == 'Yes' ? 'true' : 'false'
      }
      {
        name: 'LOGIN_ENDPOINT'
        value: environment().authentication.loginEndpoint
      }
      {
        name: 'SIGN_IN_AUDIENCE'
        value: multiTenant == 'Yes' ? 'AzureADMultipleOrgs' : 'AzureADMyOrg'
      }
      {
        name: 'FEDERATED_IDENTITY_PRINCIPAL_ID'
        value: federatedIdentityPrincipalId
      }
    ]
    timeout: 'PT30M'
    retentionInterval: 'PT1H'
    cleanupPreference: 'OnSuccess'
    forceUpdateTag: forceUpdateTag
  }
}

@description('Application (client) ID of the app registration.')
output appId string = createAppRegistration.properties.outputs.appId

@description('Object ID of the app registration.')
output objectId string = createAppRegistration.properties.outputs.objectId

@description('Object ID of the service principal (enterprise application).')
output servicePrincipalId string = createAppRegistration.properties.outputs.servicePrincipalId

@description('Directory (tenant) ID.')
output tenantId string = createAppRegistration.properties.outputs.tenantId

@description('Open as a Global Administrator or Privileged Role Administrator to grant admin consent.')
output adminConsentUrl string = createAppRegistration.properties.outputs.adminConsentUrl

@description('The app registration\'s API permissions page in the portal ("Grant admin consent for <tenant>").')
output apiPermissionsUrl string = createAppRegistration.properties.outputs.apiPermissionsUrl

@description('The Microsoft Graph application permissions requested.')
output permissions array = createAppRegistration.properties.outputs.permissions

@description('AzureADMyOrg (single tenant) or AzureADMultipleOrgs (multi-tenant).')
output signInAudience string = createAppRegistration.properties.outputs.signInAudience
