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
	// Agents: Agent ID registry and risk (beta).
	Agents Family = "agents"
)

// Budget is a family's request budget: at most Requests requests in any Window.
type Budget struct {
	Requests int
	Window   time.Duration
}

// Rate is the budget in requests per second.
func (b Budget) Rate() float64 { return float64(b.Requests) / b.Window.Seconds() }

func (b Budget) String() string { return fmt.Sprintf("%d/%s", b.Requests, b.Window) }

// Budgets are Graph's documented limits per family (reference/graph.md §3). Directory is expressed in requests at
// one resource unit each against the smallest tenant bucket (3,500 RU / 10 s).
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
	Free                      Licence = "free"
	EntraP1P2                 Licence = "entraP1P2"
	EntraP2                   Licence = "entraP2"
	IntuneLicence             Licence = "intune"
	WorkloadIdentitiesPremium Licence = "workloadIdentitiesPremium"
	AgentID                   Licence = "agentId"
)

// Licences lists the licences an integration answers for (Free is implied).
var Licences = []Licence{EntraP1P2, EntraP2, IntuneLicence, WorkloadIdentitiesPremium, AgentID}

// Mode is how a data type is collected.
type Mode string

// Collection modes.
const (
	// Buckets: a log stream cut into fixed time buckets, collected once each and re-swept for late events.
	Buckets Mode = "buckets"
	// Delta: a delta query whose deltaLink is kept in the cursor, with a periodic full snapshot.
	Delta Mode = "delta"
	// Snapshot: the whole collection on each run.
	Snapshot Mode = "snapshot"
)

// DataType is one collectable data type.
type DataType struct {
	// Name is the data type's stable name: blob partitions, cursors, Status and the API use it.
	Name        string
	Description string
	// Version is the Graph API version, "v1.0" or "beta".
	Version string
	// Path is the Graph collection path below the version, without a leading slash.
	Path string
	// Filter is a fixed $filter clause ANDed with the time window (e.g. the sign-in event type).
	Filter string
	// Permissions are the Graph application permissions the data type needs, all of them.
	Permissions []string
	// Licence is the licence without which Graph refuses the data type.
	Licence Licence
	// Family is the throttling family.
	Family Family
	Mode   Mode
	// TimeField is the timestamp property that time buckets and filters use.
	TimeField string
	// Exclusive is true where the endpoint supports only gt/lt on TimeField (no ge/le).
	Exclusive bool
	// DedupKey is the property whose value identifies a record: each value is archived once.
	DedupKey string
	// Bucket is the time bucket length.
	Bucket time.Duration
	// PageSize is the $top the collector asks for (the endpoint's maximum).
	PageSize int
	// RetentionDays is how far back the tenant keeps the data with the licence; FreeRetentionDays without it
	// (0 where the data type needs a licence).
	RetentionDays, FreeRetentionDays int
}

// Sign-in event types of the beta signIn resource (signInEventTypes).
const (
	EventInteractive    = "interactiveUser"
	EventNonInteractive = "nonInteractiveUser"
	EventSP             = "servicePrincipal"
	EventMI             = "managedIdentity"
)

func signIns(suffix, eventType, description string) DataType {
	return DataType{
		Name:          "signIns." + suffix,
		Description:   description,
		Version:       "beta",
		Path:          "auditLogs/signIns",
		Filter:        fmt.Sprintf("signInEventTypes/any(t: t eq '%s')", eventType),
		Permissions:   []string{"AuditLog.Read.All", "Directory.Read.All"},
		Licence:       EntraP1P2,
		Family:        Reports,
		Mode:          Buckets,
		TimeField:     "createdDateTime",
		DedupKey:      "id",
		Bucket:        15 * time.Minute,
		PageSize:      1000,
		RetentionDays: 30,
	}
}

// DataTypes lists every data type, in the order the collector works through a family.
var DataTypes = []DataType{
	signIns("interactive", EventInteractive, "Interactive user sign-ins"),
	signIns("nonInteractive", EventNonInteractive, "Non-interactive user sign-ins (token refreshes, background clients)"),
	signIns("servicePrincipal", EventSP, "Service principal (app-only) sign-ins"),
	signIns("managedIdentity", EventMI, "Managed identity sign-ins"),
	{
		Name:              "directoryAudits",
		Description:       "Directory audit log (changes to users, groups, apps, roles, policies)",
		Version:           "v1.0",
		Path:              "auditLogs/directoryAudits",
		Permissions:       []string{"AuditLog.Read.All"},
		Licence:           Free,
		Family:            Reports,
		Mode:              Buckets,
		TimeField:         "activityDateTime",
		DedupKey:          "id",
		Bucket:            time.Hour,
		PageSize:          1000,
		RetentionDays:     30,
		FreeRetentionDays: 7,
	},
	{
		Name:          "provisioning",
		Description:   "Provisioning log (app provisioning to and from Entra ID)",
		Version:       "v1.0",
		Path:          "auditLogs/provisioning",
		Permissions:   []string{"AuditLog.Read.All"},
		Licence:       EntraP1P2,
		Family:        Reports,
		Mode:          Buckets,
		TimeField:     "activityDateTime",
		Exclusive:     true,
		DedupKey:      "id",
		Bucket:        time.Hour,
		PageSize:      1000,
		RetentionDays: 30,
	},
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

// Families returns the families that have data types, in catalog order.
func Families() []Family {
	var out []Family
	for _, d := range DataTypes {
		if !slices.Contains(out, d.Family) {
			out = append(out, d.Family)
		}
	}
	return out
}

// Retention is how many days back the tenant keeps this data type: RetentionDays when the tenant holds Entra ID
// P1/P2 and the data type's licence, FreeRetentionDays otherwise (0: not available).
func (d DataType) Retention(premium bool) int {
	if premium {
		return d.RetentionDays
	}
	return d.FreeRetentionDays
}

// Query returns the collection path and query string for the time window [from, to): the version, path, fixed
// filter, time filter (gt/lt where the endpoint only has those) and $top. Times are written in UTC with 7
// fractional digits, the precision Entra records.
func (d DataType) Query(from, to time.Time) string {
	lower := fmt.Sprintf("%s ge %s", d.TimeField, odataTime(from))
	if d.Exclusive {
		// provisioning supports only gt/lt: one tick below the bucket start keeps a record stamped exactly at
		// the start inside [from, to).
		lower = fmt.Sprintf("%s gt %s", d.TimeField, odataTime(from.Add(-100*time.Nanosecond)))
	}
	filter := lower + fmt.Sprintf(" and %s lt %s", d.TimeField, odataTime(to))
	if d.Filter != "" {
		filter = d.Filter + " and " + filter
	}
	return fmt.Sprintf("/%s/%s?$filter=%s&$top=%d", d.Version, d.Path, escapeQuery(filter), d.PageSize)
}

func odataTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// escapeQuery percent-encodes a $filter value the way Graph's own nextLinks do (spaces as %20, quotes kept).
func escapeQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~'():/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// FamilyOf returns the throttling family of a Graph request path ("/v1.0/auditLogs/signIns", "/beta/…"). Paths of
// catalog data types map to their family; others by Graph's documented service areas; the rest is Directory.
func FamilyOf(path string) Family {
	p := strings.TrimPrefix(path, "/")
	if v, rest, ok := strings.Cut(p, "/"); ok && (v == "v1.0" || v == "beta") {
		p = rest
	}
	for _, d := range DataTypes {
		if p == d.Path || strings.HasPrefix(p, d.Path+"/") {
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
		graph := fmt.Sprintf("%s `%s`", d.Version, d.Path)
		if d.Filter != "" {
			graph += fmt.Sprintf(" `%s`", d.Filter)
		}
		lic := string(d.Licence)
		if d.FreeRetentionDays > 0 {
			lic = fmt.Sprintf("free (%d days), P1/P2 (%d days)", d.FreeRetentionDays, d.RetentionDays)
		} else if d.Licence == EntraP1P2 {
			lic = fmt.Sprintf("P1/P2 (%d days)", d.RetentionDays)
		}
		mode := string(d.Mode)
		if d.Mode == Buckets {
			mode = fmt.Sprintf("%s time buckets on `%s`, once per `%s`", d.Bucket, d.TimeField, d.DedupKey)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", d.Name, graph, strings.Join(d.Permissions, ", "), lic, d.Family, mode)
	}
	return strings.TrimSpace(b.String())
}
