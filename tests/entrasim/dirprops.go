package entrasim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Directory entity types as Graph renders them: every structural property of the v1.0 schema
// (tests/testdata/graph-csdl), in the order Graph writes them, and how many of them (the first ones) a request
// without $select returns. Objects carry every property: null where Graph holds no value, as Graph answers a
// $select of a property without a value. The conformance test (schema_test.go) holds these lists, and the
// objects themselves, to the schema file.

// entityDef declares one entity type's properties.
type entityDef struct {
	name string
	// props lists every property in rendering order. Computed properties (signInActivity) are listed but not
	// stored: the endpoint renders them when selected.
	props []string
	// defaults is how many of the first props a request without $select returns (0: all but computed and
	// stream properties).
	defaults int
	// computed are properties rendered by the endpoint only when selected (user signInActivity) or never
	// inline (application logo, a stream).
	computed []string
	// noDelta are properties Graph refuses in a delta $select.
	noDelta []string
}

var userDef = &entityDef{
	name: "user",
	props: []string{
		// The default properties of GET /users (user-list.md), in Graph's order.
		"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
		"preferredLanguage", "surname", "userPrincipalName", "id",
		// The rest in schema order.
		"deletedDateTime", "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans",
		"authorizationInfo", "birthday", "city", "companyName", "consentProvidedForMinor", "country",
		"createdDateTime", "creationType", "customSecurityAttributes", "department", "deviceEnrollmentLimit",
		"employeeHireDate", "employeeId", "employeeLeaveDateTime", "employeeOrgData", "employeeType",
		"externalUserState", "externalUserStateChangeDateTime", "faxNumber", "hireDate", "identities",
		"identityParentId", "imAddresses", "interests", "isManagementRestricted", "isResourceAccount",
		"lastPasswordChangeDateTime", "legalAgeGroupClassification", "licenseAssignmentStates", "mailboxSettings",
		"mailNickname", "mySite", "onPremisesDistinguishedName", "onPremisesDomainName",
		"onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
		"onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
		"onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies", "passwordProfile",
		"pastProjects", "postalCode", "preferredDataLocation", "preferredName", "print", "provisionedPlans",
		"proxyAddresses", "responsibilities", "schools", "securityIdentifier", "serviceProvisioningErrors",
		"showInAddressList", "signInSessionsValidFromDateTime", "skills", "state", "streetAddress", "usageLocation",
		"userType", "signInActivity",
	},
	defaults: 11,
	computed: []string{"signInActivity"},
	// "Invalid request for delta query: for this entity set, $expand/$select is not supported for the following
	// properties: signInActivity" (microsoft-graph-explorer-v4 #3189).
	noDelta: []string{"signInActivity"},
}

var groupDef = &entityDef{
	name: "group",
	props: []string{
		// The default properties of GET /groups: the documentation example (group-list.md) plus the newer
		// ones Graph returns by default (unverified list).
		"id", "deletedDateTime", "classification", "createdDateTime", "description", "displayName",
		"expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "mailNickname",
		"membershipRule", "membershipRuleProcessingState", "onPremisesDomainName", "onPremisesLastSyncDateTime",
		"onPremisesNetBiosName", "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
		"preferredDataLocation", "preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions",
		"resourceProvisioningOptions", "securityEnabled", "securityIdentifier", "theme", "uniqueName", "visibility",
		"onPremisesProvisioningErrors", "serviceProvisioningErrors",
		// Returned only on $select.
		"accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses", "autoSubscribeNewMembers",
		"hasMembersWithLicenseErrors", "hideFromAddressLists", "hideFromOutlookClients", "infoCatalogs", "isArchived",
		"isFavorite", "isManagementRestricted", "isSubscribedByMail", "licenseProcessingState",
		"onPremisesExtensionAttributes", "organizationId", "unseenConversationsCount", "unseenCount",
		"unseenMessagesCount", "welcomeMessageEnabled",
	},
	defaults: 33,
}

var applicationDef = &entityDef{
	name: "application",
	props: []string{
		"id", "deletedDateTime", "addIns", "api", "appId", "applicationTemplateId", "appRoles", "authenticationBehaviors",
		"certification", "createdByAppId", "createdDateTime", "defaultRedirectUri", "description",
		"disabledByMicrosoftStatus", "displayName", "groupMembershipClaims", "identifierUris", "info",
		"isDeviceOnlyAuthSupported", "isDisabled", "isFallbackPublicClient", "keyCredentials", "logo",
		"managerApplications", "nativeAuthenticationApisEnabled", "notes", "oauth2RequirePostResponse",
		"optionalClaims", "parentalControlSettings", "passwordCredentials", "publicClient", "publisherDomain",
		"requestSignatureVerification", "requiredResourceAccess", "samlMetadataUrl", "serviceManagementReference",
		"servicePrincipalLockConfiguration", "signInAudience", "spa", "tags", "tokenEncryptionKeyId", "uniqueName",
		"verifiedPublisher", "web",
	},
	// logo is a stream: never inline (a $select of it answers null here; unverified).
	computed: []string{"logo"},
}

var servicePrincipalDef = &entityDef{
	name: "servicePrincipal",
	props: []string{
		"id", "deletedDateTime", "accountEnabled", "addIns", "alternativeNames", "appDescription", "appDisplayName",
		"appId", "applicationTemplateId", "appOwnerOrganizationId", "appRoleAssignmentRequired", "appRoles",
		"createdByAppId", "customSecurityAttributes", "description", "disabledByMicrosoftStatus", "displayName",
		"homepage", "info", "isDisabled", "keyCredentials", "loginUrl", "logoutUrl", "notes",
		"notificationEmailAddresses", "oauth2PermissionScopes", "passwordCredentials", "preferredSingleSignOnMode",
		"preferredTokenSigningKeyThumbprint", "replyUrls", "resourceSpecificApplicationPermissions",
		"samlSingleSignOnSettings", "servicePrincipalNames", "servicePrincipalType", "signInAudience", "tags",
		"tokenEncryptionKeyId", "verifiedPublisher",
	},
}

var deviceDef = &entityDef{
	name: "device",
	props: []string{
		"id", "deletedDateTime", "accountEnabled", "alternativeSecurityIds", "approximateLastSignInDateTime",
		"complianceExpirationDateTime", "deviceCategory", "deviceId", "deviceMetadata", "deviceOwnership",
		"deviceVersion", "displayName", "enrollmentProfileName", "enrollmentType", "isCompliant", "isManaged",
		"isManagementRestricted", "isRooted", "managementType", "manufacturer", "mdmAppId", "model",
		"onPremisesLastSyncDateTime", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "operatingSystem",
		"operatingSystemVersion", "physicalIds", "profileType", "registrationDateTime", "systemLabels", "trustType",
	},
}

var directoryRoleDef = &entityDef{
	name:  "directoryRole",
	props: []string{"id", "deletedDateTime", "description", "displayName", "roleTemplateId"},
}

var roleDefinitionDef = &entityDef{
	name: "unifiedRoleDefinition",
	props: []string{"id", "description", "displayName", "isBuiltIn", "isEnabled", "resourceScopes", "rolePermissions",
		"templateId", "version"},
}

var roleAssignmentDef = &entityDef{
	name: "unifiedRoleAssignment",
	props: []string{"id", "appScopeId", "condition", "directoryScopeId", "principalId", "principalOrganizationId",
		"roleDefinitionId"},
}

var adminUnitDef = &entityDef{
	name: "administrativeUnit",
	props: []string{"id", "deletedDateTime", "description", "displayName", "isMemberManagementRestricted",
		"membershipRule", "membershipRuleProcessingState", "membershipType", "visibility"},
}

// entityDefs lists the directory entity types by entity name.
var entityDefs = map[string]*entityDef{
	"user": userDef, "group": groupDef, "application": applicationDef, "servicePrincipal": servicePrincipalDef,
	"device": deviceDef, "directoryRole": directoryRoleDef, "unifiedRoleDefinition": roleDefinitionDef,
	"unifiedRoleAssignment": roleAssignmentDef, "administrativeUnit": adminUnitDef,
}

func (d *entityDef) isComputed(p string) bool {
	for _, c := range d.computed {
		if c == p {
			return true
		}
	}
	return false
}

// defaultProps lists the properties a request without $select returns.
func (d *entityDef) defaultProps() []string {
	if d.defaults > 0 {
		return d.props[:d.defaults]
	}
	out := make([]string, 0, len(d.props))
	for _, p := range d.props {
		if !d.isComputed(p) {
			out = append(out, p)
		}
	}
	return out
}

// Identifiers in the formats Entra uses.

// guidBytes returns a GUID's bytes in the order .NET's Guid.ToByteArray gives them (the first three groups
// little-endian), which is how Entra encodes object ids in SIDs and role assignment ids.
func guidBytes(id string) [16]byte {
	var b [16]byte
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(raw) != 16 {
		return b
	}
	copy(b[:], raw)
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5] = raw[5], raw[4]
	b[6], b[7] = raw[7], raw[6]
	return b
}

// cloudSID is the security identifier of a cloud-only object: S-1-12-1- and the object id as four 32-bit
// numbers.
func cloudSID(id string) string {
	b := guidBytes(id)
	return fmt.Sprintf("S-1-12-1-%d-%d-%d-%d", binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:]),
		binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:]))
}

// roleAssignmentID is the id Entra gives a directory role assignment: the role definition and principal ids'
// bytes, base64url-encoded together, and a suffix ("lAPpYvVpN0KRkAEhdxReEMmO4KwRqtpKkUWt3wOYIz4-1",
// rbacapplication-list-roleassignments.md).
func roleAssignmentID(roleDefinitionID, principalID string) string {
	a, b := guidBytes(roleDefinitionID), guidBytes(principalID)
	return base64.RawURLEncoding.EncodeToString(append(a[:], b[:]...)) + "-1"
}
