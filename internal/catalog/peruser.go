package catalog

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ObjectSpec describes a snapshot read object by object: one request (or paged read) per target object, because
// Graph serves the data only below each object (a user's mailbox settings, a service principal's provisioning jobs,
// a user's authentication methods). Such a data type is opt-in (DataType.OptIn): it is never collected unless the
// integration switches it on, and then it is read whole at the snapshot's cadence.
type ObjectSpec struct {
	// Targets is the request listing the target objects with the properties the collector needs (id, and
	// userType where the integration's exclusions apply); empty when the integration lists the targets itself
	// (ListedUsers).
	Targets string
	// ListedUsers: the targets are the users the integration lists (authenticationMethodsUsers), each resolved with
	// one request for its id and userType. Microsoft says not to iterate every user for authentication methods.
	ListedUsers bool
	// Users: the targets are users, so the integration's exclusions (excluded groups, guests) apply to them.
	Users bool
	// SkipTypes are servicePrincipalType values whose targets are not asked (managed identities have no
	// provisioning).
	SkipTypes []string
	// Field is the property of the archived record that holds what Graph answered for the target.
	Field string
	// Collection: the object's path answers a collection; with PerItem each member is a record of its own (keyed
	// "<target id>/<member id>"), otherwise the members are kept as one array in Field.
	Collection, PerItem bool
	// Concurrency is how many of the data type's requests are in flight at once, at most (Outlook: 4 per app).
	Concurrency int
	// Requires names what the tenant needs for the data to exist, where no licence answer covers it (an Exchange
	// Online mailbox): the README says it; Graph's answer for a target without it is Absent.
	Requires string
	// Absent are the Graph error codes (compared case-insensitively) that mean the target has none of the data
	// (MailboxNotEnabledForRESTAPI: no Exchange Online mailbox): the target is archived as such, with the code and
	// Graph's message in "absent", and it is no error.
	Absent []string
}

// ObjectPath returns the request of one target object (its id escaped) for a per-object data type.
func (d DataType) ObjectPath(id string) string {
	return "/" + d.Version + "/" + strings.Replace(d.Path, "{id}", url.PathEscape(id), 1)
}

// PerObject returns the data type's per-object spec, nil for a data type read as one collection.
func (d DataType) PerObject() *ObjectSpec {
	if d.Snapshot == nil {
		return nil
	}
	return d.Snapshot.PerObject
}

// OutlookConcurrency is Outlook's limit on concurrent requests per app (reference/graph.md §3).
const OutlookConcurrency = 4

// MaxListedUsers bounds the users an integration lists for a per-user data type read only for listed users.
const MaxListedUsers = 100

// Targeted, opt-in per-user data (reference/graph.md §1.3, §1.4). Not in managed mode's automatic choice: each is
// switched on in custom mode only, because each costs one request per object.
var perObjectTypes = []DataType{
	{
		// GET /users/{id}/mailboxSettings with MailboxSettings.Read (user-get-mailboxsettings; mailboxSettings
		// resource). A user without an Exchange Online mailbox (a guest, an on-premises mailbox, none) is answered
		// 404 MailboxNotEnabledForRESTAPI ("The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
		// microsoft-graph-docs #5888, msgraph-sdk-powershell #3531). Outlook allows 4 concurrent requests per app.
		// The users are listed by the directory family, whose budget the per-user requests spend too.
		Name:        "mailboxSettings",
		Description: "Each user's Exchange Online mailbox settings (automatic replies, language, time zone, working hours, mailbox purpose); users without a mailbox recorded as such",
		Version:     "v1.0",
		Path:        "users/{id}/mailboxSettings",
		Permissions: []string{"MailboxSettings.Read", "User.Read.All"},
		Family:      Directory,
		DedupKey:    "id",
		OptIn:       true,
		Snapshot: &SnapshotSpec{Every: 24 * time.Hour, PerObject: &ObjectSpec{
			Targets: "/v1.0/users?$select=id,userPrincipalName,userType&$top=999", Users: true,
			Field: "mailboxSettings", Concurrency: OutlookConcurrency, Absent: []string{"MailboxNotEnabledForRESTAPI"},
			Requires: "Exchange Online mailbox (per user)",
		}},
	},
	{
		// GET /servicePrincipals/{id}/synchronization/jobs with Synchronization.Read.All
		// (synchronization-synchronization-list-jobs). Graph offers no filter for "has provisioning": every
		// service principal is asked (managed identities excepted) and one without jobs answers an empty list.
		// SPEC's table says P1 (unverified): a tenant without it has no provisioning jobs to list.
		Name:        "synchronizationJobs",
		Description: "Provisioning (synchronization) jobs of the service principals that have them: template, schedule, status, quarantine",
		Version:     "v1.0",
		Path:        "servicePrincipals/{id}/synchronization/jobs",
		Permissions: []string{"Synchronization.Read.All", "Application.Read.All"},
		Family:      Directory,
		DedupKey:    "id",
		OptIn:       true,
		Snapshot: &SnapshotSpec{Every: 24 * time.Hour, PerObject: &ObjectSpec{
			Targets: "/v1.0/servicePrincipals?$select=id,servicePrincipalType&$top=999", SkipTypes: []string{"ManagedIdentity"},
			Field: "job", Collection: true, PerItem: true, Concurrency: OutlookConcurrency,
			Requires: "app provisioning configured (P1 for most apps, unverified)",
		}},
	},
	{
		// GET /users/{id}/authentication/methods with UserAuthenticationMethod.Read.All (authentication-list-methods):
		// "We don't recommend using the authentication methods APIs for scenarios where you need to iterate over your
		// entire user population" — so only for the users the integration lists (the registration report,
		// userRegistrationDetails, covers everyone). These calls count under the identity and access reports'
		// budget (reference/graph.md §6).
		Name:        "authenticationMethods",
		Description: "Registered authentication methods of the users the integration lists (never of every user)",
		Version:     "v1.0",
		Path:        "users/{id}/authentication/methods",
		Permissions: []string{"UserAuthenticationMethod.Read.All", "User.Read.All"},
		Family:      Reports,
		DedupKey:    "id",
		OptIn:       true,
		Snapshot: &SnapshotSpec{Every: 24 * time.Hour, PerObject: &ObjectSpec{
			ListedUsers: true, Users: true, Field: "methods", Collection: true, Concurrency: 1,
		}},
	},
}

func init() {
	// Declared apart from the main table (catalog.go) and appended once, before any other package reads DataTypes.
	DataTypes = append(DataTypes, perObjectTypes...)
}

// ListedUserPath is the request that resolves a listed user (object id or user principal name) to its id, user
// principal name and userType.
func ListedUserPath(ref string) string {
	return "/v1.0/users/" + url.PathEscape(ref) + "?$select=id,userPrincipalName,userType"
}

// objectCell is the README's Graph cell of a per-object data type.
func (d DataType) objectCell() string {
	o := d.PerObject()
	if o.ListedUsers {
		return fmt.Sprintf("%s `%s` for the listed users", d.Version, d.Path)
	}
	t := strings.TrimPrefix(o.Targets, "/"+d.Version+"/")
	return fmt.Sprintf("%s `%s` for each of `%s`", d.Version, d.Path, t)
}

// objectModeCell is the README's collection cell of a per-object data type.
func (d DataType) objectModeCell() string {
	o := d.PerObject()
	cell := "opt-in (custom mode); snapshot every " + days(d.Snapshot.Every) + ", one request per object"
	if o.Concurrency > 1 {
		cell += fmt.Sprintf(", at most %d at once", o.Concurrency)
	}
	if len(o.Absent) > 0 {
		cell += "; `" + strings.Join(o.Absent, "`, `") + "` recorded as absent"
	}
	return cell
}
