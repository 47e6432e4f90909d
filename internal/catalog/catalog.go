// Package catalog declares every data type the integration collects and every Microsoft Graph permission it asks
// for, once. Everything else derives from it: the collector's plans and queries, the connectivity probes, the
// Status report, the README's data-type table and the permission lists the Bicep templates load.
package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Family is a Microsoft Graph throttling family: requests of one family share one budget per app and tenant, and
// one work item per (integration, family) spends it.
type Family string

// The throttling families (reference/graph.md §3).
const (
	// Reports: sign-ins, directory audits, provisioning, authentication-method reports. 5 requests / 10 s per app
	// per tenant.
	Reports Family = "reports"
	// Protection: Identity Protection and Conditional Access. 1 request / s per tenant, all apps together, and
	// 429s carry no Retry-After.
	Protection Family = "protection"
	// Directory: directory objects, resource-unit token bucket per app and tenant.
	Directory Family = "directory"
	// Intune: device management, 2,000 requests / 20 s per app per tenant.
	Intune Family = "intune"
	// Agents: Agent ID registry and risk (beta). Graph documents no limit for it: 5 requests / 10 s (unverified).
	Agents Family = "agents"
)

// Budget is a family's request budget: at most Requests requests in any Window.
type Budget struct {
	Requests int
	Window   time.Duration
}

// DirectoryBudget is the directory family's budget for a tenant with that many users: Graph's resource-unit
// bucket per app and tenant is 3,500 RU / 10 s below 50 users, 5,000 up to 500, 8,000 above (reference/graph.md
// §3). The collector's directory requests (delta pages, $select lists) cost one RU each.
func DirectoryBudget(users int) Budget {
	switch {
	case users > 500:
		return Budget{Requests: 8000, Window: 10 * time.Second}
	case users >= 50:
		return Budget{Requests: 5000, Window: 10 * time.Second}
	}
	return Budgets[Directory]
}

// Rate is the budget in requests per second.
func (b Budget) Rate() float64 { return float64(b.Requests) / b.Window.Seconds() }

func (b Budget) String() string { return fmt.Sprintf("%d/%s", b.Requests, b.Window) }

// Budgets are Graph's documented limits per family (reference/graph.md §3). Directory is expressed in requests at
// one resource unit each against the smallest tenant bucket (3,500 RU / 10 s); DirectoryBudget gives a larger
// tenant's.
var Budgets = map[Family]Budget{
	Reports:    {Requests: 5, Window: 10 * time.Second},
	Protection: {Requests: 1, Window: time.Second},
	Directory:  {Requests: 3500, Window: 10 * time.Second},
	Intune:     {Requests: 2000, Window: 20 * time.Second},
	Agents:     {Requests: 5, Window: 10 * time.Second},
}

// Licence is a product licence a data type needs in the tenant.
type Licence string

// Licences, named as the integration's licence answers (SPEC §3).
const (
	// EntraP1P2 is Microsoft Entra ID P1 or P2 (sign-in logs, 30 days of audits, signInActivity).
	EntraP1P2 Licence = "entraP1P2"
	// EntraP2 is Microsoft Entra ID P2 (Identity Protection).
	EntraP2                   Licence = "entraP2"
	IntuneLicence             Licence = "intune"
	WorkloadIdentitiesPremium Licence = "workloadIdentitiesPremium"
	AgentID                   Licence = "agentId"
)

// Licences lists the licences an integration answers for; a data type that needs none is free.
var Licences = []Licence{EntraP1P2, EntraP2, IntuneLicence, WorkloadIdentitiesPremium, AgentID}

// Mode is how a data type is collected.
type Mode string

// Collection modes.
const (
	// Buckets: a log stream cut into fixed time buckets, collected once each and re-swept for late events.
	Buckets Mode = "buckets"
	// Delta: a delta query whose deltaLink is kept in the cursor, with a periodic full round.
	Delta Mode = "delta"
	// Snapshot: the whole collection, read again at a cadence.
	Snapshot Mode = "snapshot"
	// Stream: records that only Entra's diagnostic settings deliver, archived as they arrive from Event Hubs; there
	// is no Graph API to collect them from.
	Stream Mode = "stream"
)

// DataType is one collectable data type: what every mode shares, and the spec of exactly one mode.
type DataType struct {
	// Name is the data type's stable name: blob partitions, cursors, Status and the API use it.
	Name        string
	Description string
	// Version is the Graph API version, "v1.0" or "beta".
	Version string
	// Path is the Graph collection path below the version, without a leading slash ("users", not "users/delta").
	Path string
	// Permissions are the Graph application permissions the data type needs, all of them (a granted permission
	// that implies one counts, see Permission.Implies).
	Permissions []string
	// Licences are the licences without which Graph refuses the data type, all of them; none means free.
	Licences []Licence
	// Family is the throttling family whose budget the data type's requests spend.
	Family Family
	// Limit, when set, is a budget of the data type's own on top of its family's (signInActivity: 10 / min).
	Limit Budget
	// DedupKey is the property whose value identifies a record. For a stream-only data type it is a path in the
	// diagnostic-log record ("properties.id"); a streamed record is archived once per distinct content, and the id
	// only names it.
	DedupKey string
	// VersionField, when set, is the property whose value, with DedupKey's, identifies a version of a record
	// that changes in place (a risky user's riskLastUpdatedDateTime): each version is archived once, a changed
	// record again as a new version.
	VersionField string
	// Categories are the Entra diagnostic-log categories (diagnostic settings, streamed through Event Hubs) whose
	// records StreamEvents archives as this data type, matched case-insensitively; legacy names included.
	Categories []string
	// Preview, when set, says why the endpoint may be absent from a tenant (a beta preview, an API being
	// replaced): Graph's 404 or 400 ("Resource not found for the segment …") then parks the data type as
	// not-available for a day instead of counting as a failure of the run.
	Preview string
	// OptIn: collected only when the integration switches it on (custom mode), never by managed mode's choice —
	// the targeted per-object data types, which cost one request per object (peruser.go).
	OptIn bool

	// Exactly one of the mode specs is set.
	Buckets  *BucketSpec
	Delta    *DeltaSpec
	Snapshot *SnapshotSpec
	Stream   *StreamSpec
}

// BucketSpec describes a log stream collected in time buckets.
type BucketSpec struct {
	// TimeField is the timestamp property that time buckets and filters use.
	TimeField string
	// Filter is a fixed $filter clause ANDed with the time window (e.g. the sign-in event type).
	Filter string
	// Exclusive is true where the endpoint supports only gt/lt on TimeField (no ge/le).
	Exclusive bool
	// Bucket is the time bucket length.
	Bucket time.Duration
	// PageSize is the $top the collector asks for (the endpoint's maximum).
	PageSize int
	// RetentionDays is how far back the tenant keeps the data with Entra ID P1/P2; FreeRetentionDays without it
	// (0 where the data type needs the licence).
	RetentionDays, FreeRetentionDays int
}

// DeltaSpec describes a directory collection read with delta queries: rounds of changes from the last
// deltaLink, and a full round (every object) at least every FullEvery.
type DeltaSpec struct {
	// Select lists the properties tracked ($select narrows what a change is reported for); id always comes.
	Select []string
	// Members tracks the members relationship: members@delta lists additions and @removed removals.
	Members bool
	// FullEvery is the longest time between full rounds (the COLLECT_DIRECTORY_FULL setting may shorten it).
	FullEvery time.Duration
}

// SnapshotSpec describes a collection read whole at a cadence.
type SnapshotSpec struct {
	// Every is the cadence: a snapshot is due this long after the last one started.
	Every time.Duration
	// PageSize is the $top asked for (0: the endpoint's default).
	PageSize int
	// Select and Expand are the $select and $expand of the query (empty: none).
	Select []string
	Expand string
	// Hashed keeps a snapshot only when the collection changed: a read whose content hash equals the last kept
	// snapshot's is not kept (Conditional Access policies: modifiedDateTime can be null, so only the content
	// tells).
	Hashed bool
	// NoTop: the endpoint rejects $top (only $filter and $orderby), so the probe reads the first page.
	NoTop bool
	// PerObject, when set, reads the data below each target object instead of one collection (peruser.go).
	PerObject *ObjectSpec
}

// StreamSpec describes a data type that only Entra's diagnostic settings deliver (reference/eventhub.md §1.1): no
// Graph path, permission or throttling family; StreamEvents archives its records from Event Hubs.
type StreamSpec struct {
	// TimeField is the property of the record's `properties` that holds the event time; empty: the record's own
	// top-level `time`.
	TimeField string
	// Requires names what the tenant needs for Entra to emit the category, where that is not one of Licences
	// (e.g. "Global Secure Access"); empty: Licences say it.
	Requires string
	// Unverified marks categories known only from third-party configurations, not from Microsoft's documentation.
	Unverified bool
}

// Mode is the data type's collection mode.
func (d DataType) Mode() Mode {
	switch {
	case d.Buckets != nil:
		return Buckets
	case d.Delta != nil:
		return Delta
	case d.Stream != nil:
		return Stream
	default:
		return Snapshot
	}
}

// StreamTimeField is the property of a streamed record's `properties` that holds its event time: the Graph time
// field for a data type Graph also serves, the stream spec's for a stream-only one ("" when the record's own
// `time` is the event time).
func (d DataType) StreamTimeField() string {
	switch {
	case d.Buckets != nil:
		return d.Buckets.TimeField
	case d.Stream != nil:
		return d.Stream.TimeField
	case d.VersionField != "":
		// A versioned state (risky users): the time of the version.
		return d.VersionField
	}
	return ""
}

// LicenceText names the licences the data type needs, "entraP2+agentId" ("free" when none), as states and
// messages quote them.
func (d DataType) LicenceText() string {
	if len(d.Licences) == 0 {
		return "free"
	}
	names := make([]string, len(d.Licences))
	for i, l := range d.Licences {
		names[i] = string(l)
	}
	return strings.Join(names, "+")
}

// VersionKey is the key a record is archived once under: its DedupKey value, and for a versioned data type its
// VersionField value after a "|".
func (d DataType) VersionKey(id, version string) string {
	if d.VersionField == "" {
		return id
	}
	return id + "|" + version
}

// KeyFields are the properties VersionKey is made of: DedupKey, and VersionField for a versioned data type.
func (d DataType) KeyFields() []string {
	if d.VersionField == "" {
		return []string{d.DedupKey}
	}
	return []string{d.DedupKey, d.VersionField}
}

// Needs reports whether the data type needs licence l.
func (d DataType) Needs(l Licence) bool { return slices.Contains(d.Licences, l) }

// Sign-in event types of the beta signIn resource (signInEventTypes).
const (
	EventInteractive    = "interactiveUser"
	EventNonInteractive = "nonInteractiveUser"
	EventSP             = "servicePrincipal"
	EventMI             = "managedIdentity"
)

func signIns(suffix, eventType, description string, categories ...string) DataType {
	return DataType{
		Name:        "signIns." + suffix,
		Description: description,
		Version:     "beta",
		Path:        "auditLogs/signIns",
		Permissions: []string{"AuditLog.Read.All", "Directory.Read.All"},
		Licences:    []Licence{EntraP1P2},
		Family:      Reports,
		DedupKey:    "id",
		Categories:  categories,
		Buckets: &BucketSpec{
			TimeField:     "createdDateTime",
			Filter:        fmt.Sprintf("signInEventTypes/any(t: t eq '%s')", eventType),
			Bucket:        15 * time.Minute,
			PageSize:      1000,
			RetentionDays: 30,
		},
	}
}

// riskDetections returns an Identity Protection detection stream: hourly buckets on lastUpdatedDateTime, one
// version per change (reference/graph.md §1.1; detections are kept 90 days).
func riskDetections(name, description string, licence Licence, category string) DataType {
	return DataType{
		Name:         name,
		Description:  description,
		Version:      "v1.0",
		Path:         "identityProtection/" + name,
		Permissions:  []string{"IdentityRiskEvent.Read.All"},
		Licences:     []Licence{licence},
		Family:       Protection,
		DedupKey:     "id",
		VersionField: "lastUpdatedDateTime",
		// The diagnostic-log category (reference/eventhub.md §1.1) carries the same detections.
		Categories: []string{category},
		Buckets: &BucketSpec{
			TimeField:     "lastUpdatedDateTime",
			Bucket:        time.Hour,
			RetentionDays: 90,
		},
	}
}

// intune returns an Intune collection read whole at a cadence, in the Intune family.
func intune(name, path, permission, description string, every time.Duration) DataType {
	return DataType{
		Name:        name,
		Description: description,
		Version:     "v1.0",
		Path:        path,
		Permissions: []string{permission},
		Licences:    []Licence{IntuneLicence},
		Family:      Intune,
		DedupKey:    "id",
		Snapshot:    &SnapshotSpec{Every: every},
	}
}

// conditionalAccess returns a Conditional Access collection: an hourly snapshot kept only when it changed.
func conditionalAccess(name, path, description string) DataType {
	return DataType{
		Name:        name,
		Description: description,
		Version:     "v1.0",
		Path:        path,
		Permissions: []string{"Policy.Read.All"},
		Licences:    []Licence{EntraP1P2},
		Family:      Protection,
		DedupKey:    "id",
		Snapshot:    &SnapshotSpec{Every: time.Hour, Hashed: true},
	}
}

// week is the longest a directory deltaLink is kept before a full round (Graph's links live 7 days).
const week = 7 * 24 * time.Hour

// directory returns a delta-collected directory collection (reference/directory-insights.md §1).
func directory(name, description string, permissions []string, members bool, sel ...string) DataType {
	return DataType{
		Name:        name,
		Description: description,
		Version:     "v1.0",
		Path:        name,
		Permissions: permissions,
		Family:      Directory,
		DedupKey:    "id",
		Delta:       &DeltaSpec{Select: sel, Members: members, FullEvery: week},
	}
}

// DataTypes lists every data type, in the order the collector works through a family.
var DataTypes = []DataType{
	// Diagnostic settings name the interactive sign-ins SignInLogs; the legacy schema documentation says SignIn.
	signIns("interactive", EventInteractive, "Interactive user sign-ins", "SignInLogs", "SignIn"),
	signIns("nonInteractive", EventNonInteractive, "Non-interactive user sign-ins (token refreshes, background clients)",
		"NonInteractiveUserSignInLogs"),
	signIns("servicePrincipal", EventSP, "Service principal (app-only) sign-ins", "ServicePrincipalSignInLogs"),
	signIns("managedIdentity", EventMI, "Managed identity sign-ins", "ManagedIdentitySignInLogs"),
	{
		Name:        "directoryAudits",
		Description: "Directory audit log (changes to users, groups, apps, roles, policies)",
		Version:     "v1.0",
		Path:        "auditLogs/directoryAudits",
		Permissions: []string{"AuditLog.Read.All"},
		Family:      Reports,
		DedupKey:    "id",
		// The legacy audit schema documentation says Audit.
		Categories: []string{"AuditLogs", "Audit"},
		Buckets: &BucketSpec{
			TimeField:         "activityDateTime",
			Bucket:            time.Hour,
			PageSize:          1000,
			RetentionDays:     30,
			FreeRetentionDays: 7,
		},
	},
	{
		Name:        "provisioning",
		Description: "Provisioning log (app provisioning to and from Entra ID)",
		Version:     "v1.0",
		Path:        "auditLogs/provisioning",
		Permissions: []string{"AuditLog.Read.All"},
		Licences:    []Licence{EntraP1P2},
		Family:      Reports,
		DedupKey:    "id",
		Categories:  []string{"ProvisioningLogs"},
		Buckets: &BucketSpec{
			TimeField:     "activityDateTime",
			Exclusive:     true,
			Bucket:        time.Hour,
			PageSize:      1000,
			RetentionDays: 30,
		},
	},
	{
		// signInActivity is read from the users list only (not from delta), at most 500 a page, within the reports
		// family's budget and its own 10 requests a minute (reference/directory-insights.md §4).
		Name:        "userSignInActivity",
		Description: "Last interactive, non-interactive and successful sign-in of every user (inactive users)",
		Version:     "v1.0",
		Path:        "users",
		Permissions: []string{"AuditLog.Read.All", "User.Read.All"},
		Licences:    []Licence{EntraP1P2},
		Family:      Reports,
		Limit:       Budget{Requests: 10, Window: time.Minute},
		DedupKey:    "id",
		Snapshot: &SnapshotSpec{Every: 24 * time.Hour, PageSize: 500,
			Select: []string{"id", "userPrincipalName", "userType", "signInActivity"}},
	},
	directory("users", "Users: members and guests, their account, sign-in and on-premises sync properties",
		[]string{"User.Read.All"}, false,
		"displayName", "userPrincipalName", "mail", "mailNickname", "userType", "accountEnabled", "createdDateTime",
		"creationType", "externalUserState", "externalUserStateChangeDateTime", "identities", "givenName", "surname",
		"jobTitle", "department", "companyName", "employeeId", "employeeType", "officeLocation", "usageLocation",
		"preferredLanguage", "mobilePhone", "businessPhones", "otherMails", "proxyAddresses", "assignedLicenses",
		"lastPasswordChangeDateTime", "passwordPolicies", "signInSessionsValidFromDateTime", "securityIdentifier",
		"onPremisesSyncEnabled", "onPremisesImmutableId", "onPremisesSamAccountName", "onPremisesUserPrincipalName",
		"onPremisesDomainName", "onPremisesSecurityIdentifier", "onPremisesDistinguishedName",
		"onPremisesLastSyncDateTime", "isResourceAccount"),
	directory("groups", "Groups and their direct members (members@delta)",
		[]string{"Group.Read.All"}, true,
		"displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes",
		"membershipRule", "membershipRuleProcessingState", "isAssignableToRole", "visibility", "classification",
		"createdDateTime", "expirationDateTime", "renewedDateTime", "proxyAddresses", "securityIdentifier",
		"onPremisesSyncEnabled", "onPremisesSecurityIdentifier", "onPremisesSamAccountName",
		"onPremisesLastSyncDateTime"),
	directory("applications", "App registrations: credentials, redirect URIs, requested permissions, publisher",
		[]string{"Application.Read.All"}, false,
		"appId", "displayName", "description", "createdDateTime", "signInAudience", "publisherDomain",
		"verifiedPublisher", "web", "spa", "publicClient", "isFallbackPublicClient", "passwordCredentials",
		"keyCredentials", "requiredResourceAccess", "identifierUris", "appRoles", "tags", "notes",
		"disabledByMicrosoftStatus", "serviceManagementReference"),
	directory("servicePrincipals", "Service principals (enterprise apps, managed identities): SSO mode, credentials, owner tenant",
		[]string{"Application.Read.All"}, false,
		"appId", "displayName", "appDisplayName", "servicePrincipalType", "accountEnabled", "appOwnerOrganizationId",
		"appRoleAssignmentRequired", "preferredSingleSignOnMode", "signInAudience", "servicePrincipalNames",
		"alternativeNames", "replyUrls", "homepage", "loginUrl", "notificationEmailAddresses", "passwordCredentials",
		"keyCredentials", "appRoles", "verifiedPublisher", "disabledByMicrosoftStatus", "tags"),
	directory("devices", "Devices registered or joined to Entra ID: trust type, compliance, last sign-in",
		[]string{"Directory.Read.All"}, false,
		"deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType", "isCompliant",
		"isManaged", "isRooted", "accountEnabled", "approximateLastSignInDateTime", "registrationDateTime",
		"deviceOwnership", "profileType", "manufacturer", "model", "mdmAppId", "enrollmentType", "managementType",
		"onPremisesSyncEnabled", "onPremisesLastSyncDateTime"),
	directory("directoryRoles", "Activated directory roles and their direct members",
		[]string{"Directory.Read.All"}, true,
		"displayName", "description", "roleTemplateId"),
	directory("administrativeUnits", "Administrative units and their direct members",
		[]string{"Directory.Read.All"}, true,
		"displayName", "description", "visibility", "membershipType", "membershipRule", "isMemberManagementRestricted"),
	{
		Name:        "roleDefinitions",
		Description: "Directory role definitions (built-in and custom) with their permissions",
		Version:     "v1.0",
		Path:        "roleManagement/directory/roleDefinitions",
		Permissions: []string{"Directory.Read.All"},
		Family:      Directory,
		DedupKey:    "id",
		Snapshot:    &SnapshotSpec{Every: 24 * time.Hour},
	},
	{
		Name:        "roleAssignments",
		Description: "Directory role assignments with their principal and scope (who holds which admin role)",
		Version:     "v1.0",
		Path:        "roleManagement/directory/roleAssignments",
		Permissions: []string{"Directory.Read.All"},
		Family:      Directory,
		DedupKey:    "id",
		Snapshot:    &SnapshotSpec{Every: time.Hour, Expand: "principal"},
	},

	// Identity Protection (reference/graph.md §1.1, §1.3): the protection family's 1 request / s per tenant.
	// Risk state changes in place: a risky user or service principal is archived once per riskLastUpdatedDateTime,
	// a detection once per lastUpdatedDateTime (its bucket is the time of its last change, so a dismissed or
	// remediated detection is read again in a later bucket). The lists' $top is undocumented: Graph's page size.
	{
		Name:         "riskyUsers",
		Description:  "Users Identity Protection flags as risky, one version per change of their risk state",
		Version:      "v1.0",
		Path:         "identityProtection/riskyUsers",
		Permissions:  []string{"IdentityRiskyUser.Read.All"},
		Licences:     []Licence{EntraP2},
		Family:       Protection,
		DedupKey:     "id",
		VersionField: "riskLastUpdatedDateTime",
		Categories:   []string{"RiskyUsers"},
		Snapshot:     &SnapshotSpec{Every: time.Hour},
	},
	{
		Name:         "riskyServicePrincipals",
		Description:  "Service principals Identity Protection flags as risky, one version per change of their risk state",
		Version:      "v1.0",
		Path:         "identityProtection/riskyServicePrincipals",
		Permissions:  []string{"IdentityRiskyServicePrincipal.Read.All"},
		Licences:     []Licence{WorkloadIdentitiesPremium},
		Family:       Protection,
		DedupKey:     "id",
		VersionField: "riskLastUpdatedDateTime",
		Categories:   []string{"RiskyServicePrincipals"},
		Snapshot:     &SnapshotSpec{Every: time.Hour},
	},
	{
		// The registration report takes only $filter and $orderby (reference/directory-insights.md §5) and counts
		// under the identity and access reports' budget. Its summaries, usersRegisteredByMethod and
		// usersRegisteredByFeature, are not collected: Graph supports them with delegated permissions only
		// (authenticationmethodsroot-usersregisteredbymethod.md: Application "Not supported"), and this app signs
		// in as itself; they are counts of these rows.
		Name:        "userRegistrationDetails",
		Description: "Each user's authentication-method registration: MFA, SSPR and passwordless capability, methods",
		Version:     "v1.0",
		Path:        "reports/authenticationMethods/userRegistrationDetails",
		Permissions: []string{"AuditLog.Read.All"},
		Licences:    []Licence{EntraP1P2},
		Family:      Reports,
		DedupKey:    "id",
		Snapshot:    &SnapshotSpec{Every: 24 * time.Hour, NoTop: true},
	},
	// Conditional Access (reference/graph.md §1.3): the protection family's budget; P1 (unverified). A policy's
	// modifiedDateTime can be null, so a new snapshot is kept only when the content hash changed.
	conditionalAccess("conditionalAccessPolicies", "identity/conditionalAccess/policies",
		"Conditional Access policies: conditions, grant and session controls, state"),
	conditionalAccess("namedLocations", "identity/conditionalAccess/namedLocations",
		"Named locations (IP ranges and countries) that Conditional Access policies use"),
	// Intune (reference/graph.md §1.4): only with an Intune licence (without one Graph answers 400 "Request not
	// applicable to target tenant."); its permissions are asked for only then (Permission.Intune).
	intune("managedDevices", "deviceManagement/managedDevices", "DeviceManagementManagedDevices.Read.All",
		"Devices Intune manages: owner, OS, compliance state, encryption, last sync", 6*time.Hour),
	intune("deviceConfigurations", "deviceManagement/deviceConfigurations", "DeviceManagementConfiguration.Read.All",
		"Intune device configuration profiles", 24*time.Hour),
	intune("mobileApps", "deviceAppManagement/mobileApps", "DeviceManagementApps.Read.All",
		"Apps Intune deploys and manages", 24*time.Hour),
	riskDetections("riskDetections", "User risk detections (Entra ID P1: limited fields, as Graph returns them)", EntraP1P2,
		"UserRiskEvents"),
	riskDetections("servicePrincipalRiskDetections", "Service principal risk detections", WorkloadIdentitiesPremium,
		"ServicePrincipalRiskEvents"),
	// Agent ID (beta preview, agents.go): the agent registry and agent risk.
	agentRegistry("agentInstances", "AgentInstance.Read.All",
		"AI agent instances in the agent registry: owners, blueprint, agent identity and user, endpoints"),
	agentRegistry("agentCardManifests", "AgentCardManifest.Read.All",
		"AI agent card manifests in the agent registry: capabilities, skills, security schemes, provider"),
	riskyAgents(),
	agentRiskDetections(),

	// Categories that only diagnostic settings deliver (reference/eventhub.md §1.1). Every diagnostic setting
	// needs Entra ID P1 or P2 in the tenant.
	streamOnly("signIns.microsoftServicePrincipal", "Sign-ins of Microsoft's own first-party service principals",
		"MicrosoftServicePrincipalSignInLogs", "properties.id", "createdDateTime", ""),
	streamOnly("signIns.adfs", "AD FS sign-ins reported through Connect Health",
		"ADFSSignInLogs", "properties.id", "createdDateTime", "AD FS with Microsoft Entra Connect Health"),
	streamOnly("graphActivityLogs", "Every HTTP request to Microsoft Graph made in the tenant (Graph activity logs)",
		"MicrosoftGraphActivityLogs", "properties.requestId", "timeGenerated", ""),
	streamOnly("customSecurityAttributeAudits", "Audit log of custom security attribute changes",
		"CustomSecurityAttributeAuditLogs", "properties.id", "activityDateTime", "the Attribute Log Administrator role to configure"),
	streamOnly("networkAccess.traffic", "Global Secure Access traffic logs",
		"NetworkAccessTrafficLogs", "", "", gsa),
	streamOnly("networkAccess.connections", "Global Secure Access connection events",
		"NetworkAccessConnectionEvents", "", "", gsa),
	streamOnly("networkAccess.alerts", "Global Secure Access alerts",
		"NetworkAccessAlerts", "", "", gsa),
	streamOnly("networkAccess.remoteNetworkHealth", "Global Secure Access remote network health logs",
		"RemoteNetworkHealthLogs", "", "", gsa),
	streamOnly("networkAccess.generativeAIInsights", "Global Secure Access generative AI insights (preview)",
		"NetworkAccessGenerativeAIInsights", "", "", gsa),
	streamOnly("networkAccess.enrichedOffice365Audits", "Microsoft 365 audit logs enriched by Global Secure Access",
		"EnrichedOffice365AuditLogs", "", "", gsa+" with enriched Microsoft 365 logs"),
	streamOnly("b2cRequests", "Azure AD B2C request logs",
		"B2CRequestLogs", "", "", "an Azure AD B2C tenant"),
	unverified(streamOnly("aadGraphActivityLogs", "Requests to the legacy Azure AD Graph",
		"AzureADGraphActivityLogs", "", "", "")),
	unverified(streamOnly("graphNotificationsActivityLogs", "Microsoft Graph change notifications published",
		"GraphNotificationsActivityLogs", "", "", "")),
}

// gsa is what the Global Secure Access categories need.
const gsa = "Global Secure Access (Entra Internet or Private Access)"

// streamOnly returns a data type that only Entra's diagnostic settings deliver.
func streamOnly(name, description, category, dedupKey, timeField, requires string) DataType {
	return DataType{
		Name:        name,
		Description: description,
		Licences:    []Licence{EntraP1P2},
		DedupKey:    dedupKey,
		Categories:  []string{category},
		Stream:      &StreamSpec{TimeField: timeField, Requires: requires},
	}
}

// unverified marks a stream-only data type whose category only third-party configurations name.
func unverified(d DataType) DataType {
	d.Stream.Unverified = true
	return d
}

// Lookup returns the data type with that name.
func Lookup(name string) (DataType, bool) {
	i := slices.IndexFunc(DataTypes, func(d DataType) bool { return d.Name == name })
	if i < 0 {
		return DataType{}, false
	}
	return DataTypes[i], true
}

// InFamily returns the data types of a family in catalog order.
func InFamily(f Family) []DataType {
	var out []DataType
	for _, d := range DataTypes {
		if d.Family == f {
			out = append(out, d)
		}
	}
	return out
}

// InMode returns the data types collected in mode m, in catalog order.
func InMode(m Mode) []DataType {
	var out []DataType
	for _, d := range DataTypes {
		if d.Mode() == m {
			out = append(out, d)
		}
	}
	return out
}

// Families returns the families that have data types, in catalog order. Stream-only data types have none.
func Families() []Family {
	var out []Family
	for _, d := range DataTypes {
		if d.Family != "" && !slices.Contains(out, d.Family) {
			out = append(out, d.Family)
		}
	}
	return out
}

// Retention is how many days back the tenant keeps this log stream: RetentionDays when the tenant holds Entra ID
// P1/P2, FreeRetentionDays otherwise (0: not available), except that a stream which does not need P1/P2 and sets no
// FreeRetentionDays keeps RetentionDays. Data types of other modes keep no history: 0.
func (d DataType) Retention(premium bool) int {
	if d.Buckets == nil {
		return 0
	}
	if premium || !d.Needs(EntraP1P2) && d.Buckets.FreeRetentionDays == 0 {
		// A stream that does not need P1/P2 (service principal risk detections: Workload Identities Premium) keeps
		// its history without it.
		return d.Buckets.RetentionDays
	}
	return d.Buckets.FreeRetentionDays
}

// Query returns the collection path and query string for the time window [from, to) of a log stream: the
// version, path, fixed filter, time filter (gt/lt where the endpoint only has those) and $top. Times are written
// in UTC with 7 fractional digits, the precision Entra records.
func (d DataType) Query(from, to time.Time) string {
	b := d.Buckets
	lower := fmt.Sprintf("%s ge %s", b.TimeField, odataTime(from))
	if b.Exclusive {
		// provisioning supports only gt/lt: one tick below the bucket start keeps a record stamped exactly at
		// the start inside [from, to).
		lower = fmt.Sprintf("%s gt %s", b.TimeField, odataTime(from.Add(-100*time.Nanosecond)))
	}
	filter := lower + fmt.Sprintf(" and %s lt %s", b.TimeField, odataTime(to))
	if b.Filter != "" {
		filter = b.Filter + " and " + filter
	}
	if b.PageSize == 0 {
		// The endpoint documents no $top: Graph's own page size.
		return fmt.Sprintf("/%s/%s?$filter=%s", d.Version, d.Path, escapeQuery(filter))
	}
	return fmt.Sprintf("/%s/%s?$filter=%s&$top=%d", d.Version, d.Path, escapeQuery(filter), b.PageSize)
}

// DeltaQuery returns the first request of a full delta round: every object with the tracked properties (and the
// members relationship where it is tracked). Later rounds start from the deltaLink the last round ended with.
func (d DataType) DeltaQuery() string {
	sel := d.Delta.Select
	if d.Delta.Members {
		sel = append(slices.Clip(sel), "members")
	}
	return fmt.Sprintf("/%s/%s/delta?$select=%s", d.Version, d.Path, escapeQuery(strings.Join(sel, ",")))
}

// SnapshotQuery returns the first request of a snapshot: for a per-object data type the list of its targets ("" when
// the integration lists them).
func (d DataType) SnapshotQuery() string {
	s := d.Snapshot
	if s.PerObject != nil {
		return s.PerObject.Targets
	}
	var q []string
	if len(s.Select) > 0 {
		q = append(q, "$select="+escapeQuery(strings.Join(s.Select, ",")))
	}
	if s.Expand != "" {
		q = append(q, "$expand="+escapeQuery(s.Expand))
	}
	if s.PageSize > 0 {
		q = append(q, fmt.Sprintf("$top=%d", s.PageSize))
	}
	return queryURL(d, q)
}

// ProbeQuery returns the cheapest request that shows whether the tenant and the app's permissions allow the data
// type: one record of it ($top=1 where the endpoint takes $top). A stream-only data type has none: "", and neither
// has a per-object one (its probe would be a request per object; the granted permissions decide it).
func (d DataType) ProbeQuery() string {
	switch {
	case d.Mode() == Stream, d.PerObject() != nil:
		return ""
	}
	switch d.Mode() {
	case Buckets:
		q := []string{"$top=1"}
		if d.Buckets.Filter != "" {
			q = append([]string{"$filter=" + escapeQuery(d.Buckets.Filter)}, q...)
		}
		return queryURL(d, q)
	case Snapshot:
		q := []string{"$top=1"}
		if d.Snapshot.NoTop {
			q = nil
		}
		if len(d.Snapshot.Select) > 0 {
			q = append([]string{"$select=" + escapeQuery(strings.Join(d.Snapshot.Select, ","))}, q...)
		}
		return queryURL(d, q)
	}
	if d.Path == "directoryRoles" {
		// List directoryRoles takes no query options; the collection is small (activated roles only).
		return queryURL(d, nil)
	}
	return queryURL(d, []string{"$select=id", "$top=1"})
}

func queryURL(d DataType, q []string) string {
	u := "/" + d.Version + "/" + d.Path
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	return u
}

func odataTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// escapeQuery percent-encodes a $filter value the way Graph's own nextLinks do (spaces as %20, quotes kept).
func escapeQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~'():/,", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ByCategory returns the data type a diagnostic-log category is archived as, matched case-insensitively.
func ByCategory(category string) (DataType, bool) {
	for _, d := range DataTypes {
		for _, c := range d.Categories {
			if strings.EqualFold(c, category) {
				return d, true
			}
		}
	}
	return DataType{}, false
}

// FamilyOf returns the throttling family of a Graph request path ("/v1.0/auditLogs/signIns", "/beta/…"). Paths of
// catalog data types map to their family; others by Graph's documented service areas; the rest is Directory.
// A data type with a Limit of its own shares its path with another family's data type (userSignInActivity reads
// users): its requests carry the data type itself (graph.WithDataType), so it is not matched by path.
func FamilyOf(path string) Family {
	p := strings.TrimPrefix(path, "/")
	if v, rest, ok := strings.Cut(p, "/"); ok && (v == "v1.0" || v == "beta") {
		p = rest
	}
	if strings.HasPrefix(p, "users/") && strings.Contains(p, "/authentication/") {
		// A user's authentication methods count under the identity and access reports' budget (reference/graph.md
		// §6: "queue bulk resets").
		return Reports
	}
	for _, d := range DataTypes {
		if d.Path != "" && d.Limit.Requests == 0 && (p == d.Path || strings.HasPrefix(p, d.Path+"/")) {
			return d.Family
		}
	}
	for _, area := range []struct {
		prefix string
		family Family
	}{
		{"auditLogs/", Reports},
		{"reports/", Reports},
		{"identityProtection/", Protection},
		{"identity/conditionalAccess/", Protection},
		{"deviceManagement/", Intune},
		{"deviceAppManagement/", Intune},
		{"agentRegistry/", Agents},
	} {
		if strings.HasPrefix(p, area.prefix) {
			return area.family
		}
	}
	return Directory
}

// MarkdownTable renders the data types as the README's data-type table.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| data type | Graph | permissions | licence | family | collection |\n|---|---|---|---|---|---|\n")
	for _, d := range DataTypes {
		perms := strings.Join(d.Permissions, ", ")
		if perms == "" {
			perms = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", d.Name, d.graphCell(), perms,
			d.licenceCell(), d.familyCell(), d.modeCell())
	}
	return strings.TrimSpace(b.String())
}

func (d DataType) graphCell() string {
	switch d.Mode() {
	case Stream:
		return "— (diagnostic settings only)"
	case Buckets:
		if d.Buckets.Filter != "" {
			return fmt.Sprintf("%s `%s` `%s`", d.Version, d.Path, d.Buckets.Filter)
		}
	case Delta:
		return fmt.Sprintf("%s `%s/delta`", d.Version, d.Path)
	case Snapshot:
		if d.PerObject() != nil {
			return d.objectCell()
		}
		var q []string
		if s := d.Snapshot; len(s.Select) > 0 {
			q = append(q, "$select="+strings.Join(s.Select, ","))
		}
		if d.Snapshot.Expand != "" {
			q = append(q, "$expand="+d.Snapshot.Expand)
		}
		if len(q) > 0 {
			return fmt.Sprintf("%s `%s?%s`", d.Version, d.Path, strings.Join(q, "&"))
		}
	}
	return fmt.Sprintf("%s `%s`", d.Version, d.Path)
}

func (d DataType) licenceCell() string {
	if d.Stream != nil && d.Stream.Requires != "" {
		return "P1/P2 + " + d.Stream.Requires
	}
	if o := d.PerObject(); o != nil && o.Requires != "" {
		return o.Requires
	}
	var names []string
	for _, l := range d.Licences {
		names = append(names, string(l))
	}
	lic := strings.Join(names, " + ")
	switch {
	case d.Buckets != nil && d.Buckets.FreeRetentionDays > 0:
		return fmt.Sprintf("free (%d days), P1/P2 (%d days)", d.Buckets.FreeRetentionDays, d.Buckets.RetentionDays)
	case d.Buckets != nil && d.Needs(EntraP1P2):
		return fmt.Sprintf("P1/P2 (%d days)", d.Buckets.RetentionDays)
	case d.Needs(EntraP1P2) && len(d.Licences) == 1:
		return "P1/P2"
	case lic == "":
		return "free"
	}
	return lic
}

func (d DataType) familyCell() string {
	if d.Family == "" {
		return "—"
	}
	if d.Limit.Requests > 0 {
		return fmt.Sprintf("%s, at most %d requests / %s", d.Family, d.Limit.Requests, d.Limit.Window)
	}
	return string(d.Family)
}

func (d DataType) modeCell() string {
	switch d.Mode() {
	case Buckets:
		cell := fmt.Sprintf("%s time buckets on `%s`, once per %s", days(d.Buckets.Bucket), d.Buckets.TimeField, d.keyCell())
		if len(d.Categories) > 0 {
			cell += "; streamed from Event Hubs as " + categoryList(d.Categories)
		}
		return cell
	case Delta:
		what := "delta rounds"
		if d.Delta.Members {
			what += " with `members@delta`"
		}
		return fmt.Sprintf("%s; a full round at least every %s", what, days(d.Delta.FullEvery))
	case Stream:
		note := ""
		if d.Stream.Unverified {
			note = " (category name unverified)"
		}
		return fmt.Sprintf("Event Hubs only: %s, once per distinct record%s", categoryList(d.Categories), note)
	}
	if d.PerObject() != nil {
		return d.objectModeCell()
	}
	if d.VersionField != "" {
		return fmt.Sprintf("snapshot every %s, once per %s", days(d.Snapshot.Every), d.keyCell())
	}
	if d.Snapshot.Hashed {
		return fmt.Sprintf("snapshot every %s, kept only when its content changed", days(d.Snapshot.Every))
	}
	return "snapshot every " + days(d.Snapshot.Every)
}

// keyCell writes what a record is archived once per: "`id`", or "`id` + `lastUpdatedDateTime`" for a versioned
// data type.
func (d DataType) keyCell() string {
	q := make([]string, 0, 2)
	for _, f := range d.KeyFields() {
		q = append(q, "`"+f+"`")
	}
	return strings.Join(q, " + ")
}

// categoryList writes diagnostic-log categories as code, "`SignInLogs`, `SignIn`".
func categoryList(cs []string) string {
	q := make([]string, len(cs))
	for i, c := range cs {
		q[i] = "`" + c + "`"
	}
	return strings.Join(q, ", ")
}

// days writes whole days as days ("7 days"), shorter cadences as durations ("1h").
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		if n := int(d / (24 * time.Hour)); n > 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "day"
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}
