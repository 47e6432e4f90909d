// Package eventgen synthesizes Entra ID diagnostic logs as a diagnostic setting streams them to an event hub: event
// bodies {"records":[…]} of every category of reference/eventhub.md §1.1, built from Microsoft's documented
// schemas (the sign-in and audit log schemas in Azure Monitor, the activity-log and resource-log schemas) with
// fake values, and every variation the reference lists: time as ISO 8601 with 0–9 fractional digits, Z, an offset
// or no zone, one-digit hours, and M/d/yyyy h:mm:ss AM/PM; tenantId, TenantId, AADTenantId or only resourceId;
// Level and level as a number, a numeric string or a name, sometimes both; durationMs as a number or a string;
// properties as an object or a string holding one; legacy category names (SignIn, Audit), the documentation's
// typo (NonInteractiveUserSIgnInLogs) and other casings; a PascalCase Log Analytics-shaped sign-in without time or
// properties; PascalCase nested keys and an empty key in provisioning; JSON-in-string fields; mixed categories in
// one event; records of a tenant no integration names; a category nobody knows yet.
//
// It also plays Entra's delivery: sign-ins re-published with new content (risk added, MFA merged) under the same
// id, records and whole events sent again unchanged, and corrupt items (bodies that are not JSON or are cut off,
// records that are not objects or have no category). Generate returns the events and the ground truth: every
// distinct record content with the data type, owner and hour it must be archived under, and every corrupt item
// that must be in quarantine. The expectations are this package's own reading of the reference, not the
// archiver's code.
package eventgen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/entra-di/edi/tests/hostsim"
)

// Options shape a stream. Zero values mean the defaults in parentheses.
type Options struct {
	// Seed makes the stream reproducible (1).
	Seed uint64
	// End is the latest event time (2026-01-10T12:00:00Z); events spread over Hours before it (6).
	End   time.Time
	Hours int
	// TenantID is the tenant of the integration the records belong to, and Integration its id (required).
	TenantID, Integration string
	// OtherTenant is a tenant no integration names: about 4 % of the records are its (none when empty).
	OtherTenant string
	// Records is the number of distinct records before re-publishing (1000).
	Records int
	// RecordsPerEvent bounds the records of one event (40).
	RecordsPerEvent int
	// Partitions the events are spread over (4).
	Partitions int
	// RepublishShare of the sign-ins are re-published with new content (0.1).
	RepublishShare float64
	// ResendShare of the events are sent again unchanged (0.05), and as many single records again in other events.
	ResendShare float64
	// Corrupt is the number of corrupt items (12); half whole event bodies, half records inside valid events.
	Corrupt int
	// NoCorrupt turns corrupt items off; NoResend sends nothing twice.
	NoCorrupt, NoResend bool
}

// Event is one event body and the partition it goes to.
type Event struct {
	Body      string
	Partition int
}

// Record is one distinct record content the archive must hold exactly once.
type Record struct {
	// Raw is the record's bytes.
	Raw string
	// Category is the category as written; DataType the data type it must be archived as.
	Category, DataType string
	// Owner is the integration id, or "tenant=<tenant id>" for records of a tenant no integration names.
	Owner string
	// Time is the event time the record carries; zero when it carries none and falls back to its event's
	// enqueued time.
	Time time.Time
	// Event is the index of the first event that carries it.
	Event int
}

// Corrupt is an item that must be in quarantine, raw.
type Corrupt struct {
	Raw string
	// WholeEvent is true for an event body that is not a set of records at all.
	WholeEvent bool
	Event      int
}

// Stream is a generated stream with its ground truth.
type Stream struct {
	Events  []Event
	Records []Record
	Corrupt []Corrupt
	// Republished counts the records that are a new version of an earlier one (same id); Resent the events and
	// records sent again unchanged.
	Republished, Resent int
}

// DataTypes is the data type each category's records must be archived as (reference/eventhub.md §1.1, §6.1 and
// SPEC §4), by category in lower case.
var DataTypes = map[string]string{
	"signinlogs":                          "signIns.interactive",
	"signin":                              "signIns.interactive",
	"noninteractiveusersigninlogs":        "signIns.nonInteractive",
	"serviceprincipalsigninlogs":          "signIns.servicePrincipal",
	"managedidentitysigninlogs":           "signIns.managedIdentity",
	"microsoftserviceprincipalsigninlogs": "signIns.microsoftServicePrincipal",
	"adfssigninlogs":                      "signIns.adfs",
	"auditlogs":                           "directoryAudits",
	"audit":                               "directoryAudits",
	"provisioninglogs":                    "provisioning",
	"riskyusers":                          "riskyUsers",
	"userriskevents":                      "riskDetections",
	"riskyserviceprincipals":              "riskyServicePrincipals",
	"serviceprincipalriskevents":          "servicePrincipalRiskDetections",
	"riskyagents":                         "riskyAgents",
	"agentriskevents":                     "agentRiskDetections",
	"microsoftgraphactivitylogs":          "graphActivityLogs",
	"enrichedoffice365auditlogs":          "networkAccess.enrichedOffice365Audits",
	"networkaccesstrafficlogs":            "networkAccess.traffic",
	"networkaccessconnectionevents":       "networkAccess.connections",
	"networkaccessalerts":                 "networkAccess.alerts",
	"remotenetworkhealthlogs":             "networkAccess.remoteNetworkHealth",
	"networkaccessgenerativeaiinsights":   "networkAccess.generativeAIInsights",
	"customsecurityattributeauditlogs":    "customSecurityAttributeAudits",
	"b2crequestlogs":                      "b2cRequests",
	"azureadgraphactivitylogs":            "aadGraphActivityLogs",
	"graphnotificationsactivitylogs":      "graphNotificationsActivityLogs",
}

// UnknownCategory is a category nobody knows yet: its records are archived under the category's name as written.
const UnknownCategory = "BrandNewCategoryLogs"

// category is a diagnostic-log category, its share of the records and how its records are built.
type category struct {
	name   string
	weight int
	build  func(g *gen, name string, t time.Time) (obj, time.Time)
}

// categories and their share of the records (sign-ins dominate, non-interactive ones most: reference §1.1).
var categories = []category{
	{"SignInLogs", 12, (*gen).signIn},
	{"NonInteractiveUserSignInLogs", 30, (*gen).signIn},
	{"ServicePrincipalSignInLogs", 12, (*gen).signIn},
	{"ManagedIdentitySignInLogs", 6, (*gen).signIn},
	{"MicrosoftServicePrincipalSignInLogs", 3, (*gen).signIn},
	{"ADFSSignInLogs", 2, (*gen).signIn},
	{"AuditLogs", 8, (*gen).audit},
	{"ProvisioningLogs", 3, (*gen).provisioning},
	{"RiskyUsers", 2, (*gen).risky},
	{"UserRiskEvents", 2, (*gen).riskEvent},
	{"RiskyServicePrincipals", 1, (*gen).risky},
	{"ServicePrincipalRiskEvents", 1, (*gen).riskEvent},
	{"RiskyAgents", 1, (*gen).risky},
	{"AgentRiskEvents", 1, (*gen).riskEvent},
	{"MicrosoftGraphActivityLogs", 6, (*gen).graphActivity},
	{"EnrichedOffice365AuditLogs", 1, (*gen).timeOnly},
	{"NetworkAccessTrafficLogs", 2, (*gen).timeOnly},
	{"NetworkAccessConnectionEvents", 1, (*gen).timeOnly},
	{"NetworkAccessAlerts", 1, (*gen).timeOnly},
	{"RemoteNetworkHealthLogs", 1, (*gen).timeOnly},
	{"NetworkAccessGenerativeAIInsights", 1, (*gen).timeOnly},
	{"CustomSecurityAttributeAuditLogs", 1, (*gen).audit},
	{"B2CRequestLogs", 1, (*gen).timeOnly},
	{"AzureADGraphActivityLogs", 1, (*gen).timeOnly},
	{"GraphNotificationsActivityLogs", 1, (*gen).timeOnly},
	{UnknownCategory, 1, (*gen).timeOnly},
}

type gen struct {
	o   Options
	rng *rand.Rand
	seq int
}

// Generate builds a stream.
func Generate(o Options) *Stream {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.End.IsZero() {
		o.End = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	}
	if o.Hours <= 0 {
		o.Hours = 6
	}
	if o.Records <= 0 {
		o.Records = 1000
	}
	if o.RecordsPerEvent <= 0 {
		o.RecordsPerEvent = 40
	}
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	if o.RepublishShare == 0 {
		o.RepublishShare = 0.1
	}
	if o.ResendShare == 0 {
		o.ResendShare = 0.05
	}
	if o.NoResend {
		o.ResendShare = 0
	}
	if o.Corrupt == 0 && !o.NoCorrupt {
		o.Corrupt = 12
	}
	if o.NoCorrupt {
		o.Corrupt = 0
	}
	g := &gen{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
	return g.stream()
}

// Mirrored is one record of a tenant's logs as a diagnostic setting streams it: its category, the Graph object's
// id and its event time.
type Mirrored struct {
	Category string
	ID       string
	Time     time.Time
}

// Mirror builds the diagnostic-log records of the given log records — the shapes and variations Generate writes
// for their categories, with the given ids and event times — in that order, a few records an event on random
// partitions (o's Seed, TenantID, Integration, RecordsPerEvent and Partitions apply). Nothing is corrupt, sent twice,
// re-published or another tenant's: every record must be archived once. It is how a test streams what a simulated
// tenant's Graph serves too. A category Generate does not know is an error.
func Mirror(o Options, records []Mirrored) (*Stream, error) {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.RecordsPerEvent <= 0 {
		o.RecordsPerEvent = 40
	}
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	o.OtherTenant = ""
	g := &gen{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x3177))}
	s := &Stream{}
	var items []item
	for _, m := range records {
		i := slices.IndexFunc(categories, func(c category) bool { return strings.EqualFold(c.name, m.Category) })
		if i < 0 {
			return nil, fmt.Errorf("eventgen: unknown category %q", m.Category)
		}
		r, at := categories[i].build(g, categories[i].name, m.Time)
		if props, ok := r.get("properties").(obj); ok {
			r = r.set("properties", props.set("id", m.ID))
		} else if r.get("Id") != nil {
			r = r.set("Id", m.ID) // the Log Analytics shape: no properties
		} else {
			return nil, fmt.Errorf("eventgen: a %s record has no id to set", m.Category)
		}
		rec := g.record(r, at)
		items = append(items, item{raw: rec.Raw, rec: rec, at: m.Time})
	}
	for len(items) > 0 {
		n := min(1+g.rng.IntN(g.o.RecordsPerEvent), len(items))
		g.addEvent(s, items[:n])
		for _, it := range items[:n] {
			s.Records = append(s.Records, *it.rec)
		}
		items = items[n:]
	}
	return s, nil
}

// item is a record on its way into an event.
type item struct {
	raw     string
	rec     *Record // nil for corrupt items
	corrupt bool
	at      time.Time
}

func (g *gen) stream() *Stream {
	s := &Stream{}
	total := 0
	for _, c := range categories {
		total += c.weight
	}
	var items []item
	var recs []*Record
	span := time.Duration(g.o.Hours) * time.Hour
	for range g.o.Records {
		n := g.rng.IntN(total)
		ci := 0
		for n >= categories[ci].weight {
			n -= categories[ci].weight
			ci++
		}
		c := categories[ci]
		t := g.o.End.Add(-time.Duration(g.rng.Int64N(int64(span))))
		r, at := c.build(g, c.name, t)
		rec := g.record(r, at)
		recs = append(recs, rec)
		items = append(items, item{raw: rec.Raw, rec: rec, at: t})
		// Re-published sign-ins: the same id with new content, a little later.
		if strings.HasSuffix(strings.ToLower(rec.Category), "signinlogs") && g.rng.Float64() < g.o.RepublishShare {
			if v2, ok := g.republish(r); ok {
				rec2 := g.record(v2, at)
				recs = append(recs, rec2)
				items = append(items, item{raw: rec2.Raw, rec: rec2, at: t.Add(30 * time.Minute)})
				s.Republished++
			}
		}
	}
	// Entra batches per category in time order (about five minutes an event); some events carry other categories.
	slices.SortStableFunc(items, func(a, b item) int {
		if c := strings.Compare(strings.ToLower(a.rec.Category), strings.ToLower(b.rec.Category)); c != 0 {
			return c
		}
		return a.at.Compare(b.at)
	})
	for i := range items {
		if g.rng.Float64() < 0.05 {
			j := min(max(i+g.rng.IntN(60)-30, 0), len(items)-1)
			items[i], items[j] = items[j], items[i]
		}
	}
	// Corrupt records go inside otherwise valid events.
	recordCorrupt := g.o.Corrupt / 2
	for k := range recordCorrupt {
		at := g.rng.IntN(len(items) + 1)
		items = slices.Insert(items, at, item{raw: g.corruptRecord(k), corrupt: true})
	}
	for len(items) > 0 {
		n := min(1+g.rng.IntN(g.o.RecordsPerEvent), len(items))
		g.addEvent(s, items[:n])
		items = items[n:]
	}
	// Entra sends some events again (a failed partner publish re-sends the batch), and some records in other
	// events: same content, which must be archived once.
	resendable := func(e Event) bool {
		return !strings.Contains(e.Body, "resend-forbidden")
	}
	nEvents := len(s.Events)
	for i := range nEvents {
		if g.rng.Float64() < g.o.ResendShare && resendable(s.Events[i]) {
			s.Events = append(s.Events, Event{Body: s.Events[i].Body, Partition: g.rng.IntN(g.o.Partitions)})
			s.Resent++
		}
	}
	var again []item
	for _, r := range recs {
		if !r.Time.IsZero() && g.rng.Float64() < g.o.ResendShare {
			again = append(again, item{raw: r.Raw, rec: r})
			s.Resent++
		}
	}
	for len(again) > 0 {
		n := min(1+g.rng.IntN(g.o.RecordsPerEvent), len(again))
		g.addEvent(s, again[:n])
		again = again[n:]
	}
	// Whole events that are no set of records.
	for k := range g.o.Corrupt - recordCorrupt {
		body := g.corruptEvent(k)
		s.Corrupt = append(s.Corrupt, Corrupt{Raw: body, WholeEvent: true, Event: len(s.Events)})
		pos := g.rng.IntN(len(s.Events) + 1)
		s.Events = slices.Insert(s.Events, pos, Event{Body: body, Partition: g.rng.IntN(g.o.Partitions)})
		// Keep the event indexes of the truth right.
		s.Corrupt[len(s.Corrupt)-1].Event = pos
		for i := range recs {
			if recs[i].Event >= pos {
				recs[i].Event++
			}
		}
		for i := range s.Corrupt[:len(s.Corrupt)-1] {
			if s.Corrupt[i].Event >= pos {
				s.Corrupt[i].Event++
			}
		}
	}
	for _, r := range recs {
		s.Records = append(s.Records, *r)
	}
	return s
}

// addEvent makes an event of the items; a record's Event is the first event that carries it.
func (g *gen) addEvent(s *Stream, items []item) {
	idx := len(s.Events)
	parts := make([]string, len(items))
	forbid := false
	for i, it := range items {
		parts[i] = it.raw
		switch {
		case it.corrupt:
			s.Corrupt = append(s.Corrupt, Corrupt{Raw: it.raw, Event: idx})
			forbid = true
		case it.rec.Event < 0:
			it.rec.Event = idx
		}
		if it.rec != nil && it.rec.Time.IsZero() {
			// A record without a time of its own lands in its event's enqueued hour: never sent twice.
			forbid = true
		}
	}
	key := "records"
	switch g.rng.IntN(20) {
	case 0:
		key = "Records"
	}
	body := `{"` + key + `":[` + strings.Join(parts, ",") + `]}`
	if forbid {
		// Marks events whose second copy would not be exactly once by content (corrupt items are quarantined per
		// event; enqueued-time records may land in another hour). Trailing members are ignored by readers.
		body = body[:len(body)-1] + `,"x-eventgen":"resend-forbidden"}`
	}
	s.Events = append(s.Events, Event{Body: body, Partition: g.rng.IntN(g.o.Partitions)})
}

// record wraps a built record into its truth entry.
func (g *gen) record(r obj, at time.Time) *Record {
	cat, _ := firstString(r, "category", "Category")
	owner := g.o.Integration
	if tid, _ := firstString(r, "tenantId", "TenantId", "AADTenantId"); tid == g.o.OtherTenant && g.o.OtherTenant != "" {
		owner = "tenant=" + strings.ToLower(g.o.OtherTenant)
	}
	if rid, ok := r.get("resourceId").(string); ok && strings.Contains(rid, "/tenants/"+g.o.OtherTenant+"/") && g.o.OtherTenant != "" {
		if _, named := firstString(r, "tenantId", "TenantId", "AADTenantId"); !named {
			owner = "tenant=" + strings.ToLower(g.o.OtherTenant)
		}
	}
	dt, known := DataTypes[strings.ToLower(cat)]
	if !known {
		dt = cat
	}
	return &Record{Raw: r.String(), Category: cat, DataType: dt, Owner: owner, Time: at, Event: -1}
}

func firstString(o obj, keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := o.get(k).(string); ok {
			return v, true
		}
	}
	return "", false
}

func (g *gen) guid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *gen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

// tenant returns the tenant a record belongs to: mostly the integration's.
func (g *gen) tenant() string {
	if g.o.OtherTenant != "" && g.rng.Float64() < 0.04 {
		return g.o.OtherTenant
	}
	return g.o.TenantID
}

// common returns the top-level fields of the resource-log schema with their variations, for category written as
// catWritten, event time t (the record's `time` is a processing time a little later, written in one of Entra's
// forms; timeIsEventTime makes it the event time).
func (g *gen) common(catWritten string, t time.Time, operation string, timeIsEventTime bool) obj {
	tid := g.tenant()
	processed := t
	if !timeIsEventTime {
		processed = t.Add(time.Duration(60+g.rng.IntN(60)) * time.Second)
	}
	o := obj{{"time", g.timeText(processed, timeIsEventTime)}}
	if g.rng.IntN(10) > 0 {
		o = append(o, kv{"resourceId", "/tenants/" + tid + "/providers/Microsoft.aadiam"})
	}
	o = append(o, kv{"operationName", operation}, kv{"operationVersion", "1.0"}, kv{"category", catWritten})
	switch g.rng.IntN(10) {
	case 0:
		o = append(o, kv{"TenantId", tid})
	case 1:
		o = append(o, kv{"AADTenantId", tid})
	case 2:
		if o.get("resourceId") == nil {
			o = append(o, kv{"tenantId", tid})
		}
		// Only resourceId names the tenant.
	default:
		o = append(o, kv{"tenantId", tid})
	}
	o = append(o, kv{"resultType", g.pick("0", "0", "0", "50126", "50140")}, kv{"resultSignature", g.pick("None", "SUCCESS")})
	switch g.rng.IntN(4) {
	case 0:
		o = append(o, kv{"durationMs", 0})
	case 1:
		o = append(o, kv{"durationMs", "0"})
	case 2:
		o = append(o, kv{"durationMs", "-1"})
	default:
		o = append(o, kv{"durationMs", g.rng.IntN(900)})
	}
	o = append(o, kv{"callerIpAddress", g.pick("203.0.113.7", "198.51.100.23", "<null>")}, kv{"correlationId", g.guid()},
		kv{"identity", g.pick("Test User", "MS-PIM", "Contoso App")})
	switch g.rng.IntN(4) {
	case 0:
		o = append(o, kv{"Level", 4})
	case 1:
		o = append(o, kv{"level", "4"})
	case 2:
		o = append(o, kv{"level", "Informational"})
	default:
		o = append(o, kv{"Level", 4}, kv{"level", "Informational"})
	}
	return append(o, kv{"location", g.pick("US", "WUS", "EU")})
}

// timeText writes a record's `time` in one of Entra's forms; eventTime restricts it to forms that keep the second
// (the archive's hour is read from it).
func (g *gen) timeText(t time.Time, eventTime bool) string {
	switch g.rng.IntN(10) {
	case 0, 1:
		return usTime(t)
	case 2:
		return isoTime(t, 3, "")
	}
	return isoTime(t, 7, "Z")
}

// isoTime writes t in UTC with digits fractional digits and the zone suffix ("Z", "+00:00" or none).
func isoTime(t time.Time, digits int, zone string) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if digits > 0 {
		frac := fmt.Sprintf("%09d", t.Nanosecond())
		s += "." + frac[:digits]
	}
	return s + zone
}

// usTime writes M/d/yyyy h:mm:ss AM/PM.
func usTime(t time.Time) string {
	t = t.UTC()
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	ampm := "AM"
	if t.Hour() >= 12 {
		ampm = "PM"
	}
	return fmt.Sprintf("%d/%d/%d %d:%02d:%02d %s", int(t.Month()), t.Day(), t.Year(), h, t.Minute(), t.Second(), ampm)
}

// unpaddedHour writes 2022-09-09T8:48:50.361Z (risk detections).
func unpaddedHour(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s%d:%02d:%02d.%03dZ", t.Format("2006-01-02T"), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6)
}

// writtenCategory returns how a category is written: mostly as documented, sometimes legacy, typo'd or cased.
func (g *gen) writtenCategory(name string) string {
	switch name {
	case "SignInLogs":
		if g.rng.IntN(15) == 0 {
			return "SignIn"
		}
	case "AuditLogs":
		if g.rng.IntN(15) == 0 {
			return "Audit"
		}
	case "NonInteractiveUserSignInLogs":
		if g.rng.IntN(15) == 0 {
			return "NonInteractiveUserSIgnInLogs"
		}
	}
	if g.rng.IntN(25) == 0 {
		return strings.ToLower(name)
	}
	return name
}

func (g *gen) signIn(name string, t time.Time) (obj, time.Time) {
	// A PascalCase, Log Analytics-shaped service principal sign-in: no time, no properties (elastic/integrations#15083).
	if name == "ServicePrincipalSignInLogs" && g.rng.IntN(10) == 0 {
		r := obj{{"Category", name}, {"TenantId", g.tenant()}, {"SourceSystem", "Azure AD"}, {"Id", g.guid()},
			{"CreatedDateTime", isoTime(t, 7, "Z")}, {"ServicePrincipalId", g.guid()}, {"ServicePrincipalName", "contoso-sync"},
			{"AppId", g.guid()}, {"ResultType", "0"}, {"IPAddress", "20.42.0.1"},
			{"Agent", `{"agentType":"notAgentic","agentSubjectType":"notAgentic"}`}, {"Location", "US"}}
		return r, t.Truncate(100 * time.Nanosecond)
	}
	interactive := name == "SignInLogs" || name == "ADFSSignInLogs"
	props := obj{{"id", g.guid()}, {"createdDateTime", isoTime(t, 7, "+00:00")}}
	switch name {
	case "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs", "MicrosoftServicePrincipalSignInLogs":
		props = append(props, kv{"servicePrincipalId", g.guid()}, kv{"servicePrincipalName", g.pick("contoso-sync", "backup-job")},
			kv{"appId", g.guid()}, kv{"resourceDisplayName", "Microsoft Graph"}, kv{"servicePrincipalCredentialKeyId", g.guid()})
	default:
		user := fmt.Sprintf("user%d", g.rng.IntN(500))
		props = append(props, kv{"userDisplayName", "User " + user}, kv{"userPrincipalName", user + "@contoso.example"},
			kv{"userId", g.guid()}, kv{"userType", g.pick("Member", "Guest")}, kv{"appId", g.guid()},
			kv{"appDisplayName", g.pick("Azure Portal", "Office 365 Exchange Online", "Microsoft Teams")},
			kv{"clientAppUsed", g.pick("Browser", "Mobile Apps and Desktop clients")},
			kv{"deviceDetail", obj{{"deviceId", ""}, {"operatingSystem", "Windows10"}, {"browser", "Edge 120.0.0"}}})
	}
	ipKey := "ipAddress"
	if g.rng.IntN(5) == 0 {
		ipKey = "IPAddress"
	}
	props = append(props, kv{ipKey, "203.0.113.7"}, kv{"correlationId", g.guid()}, kv{"originalRequestId", g.guid()},
		kv{"isInteractive", interactive}, kv{"tokenIssuerType", g.pick("AzureAD", "ADFederationServices")},
		kv{"conditionalAccessStatus", g.pick("success", "notApplied")},
		kv{"authenticationProcessingDetails", []any{obj{{"key", "Legacy TLS (TLS 1.0, 1.1, 3DES)"}, {"value", "False"}}}},
		kv{"processingTimeInMilliseconds", g.rng.IntN(400)},
		kv{"riskDetail", "none"}, kv{"riskLevelAggregated", "none"}, kv{"riskLevelDuringSignIn", "none"}, kv{"riskState", "none"},
		kv{"riskEventTypes_v2", []any{}},
		kv{"status", obj{{"errorCode", 0}}},
		kv{"location", obj{{"city", "Redmond"}, {"state", "Washington"}, {"countryOrRegion", "US"}}},
		kv{"appliedConditionalAccessPolicies", []any{obj{{"id", g.guid()}, {"displayName", "Require MFA"},
			{"enforcedGrantControls", []any{"Mfa"}}, {"enforcedSessionControls", []any{}}, {"result", "success"},
			{"conditionsSatisfied", 0}, {"conditionsNotSatisfied", 0}}}},
		kv{"authenticationDetails", []any{obj{{"authenticationStepDateTime", isoTime(t, 0, "Z")}, {"authenticationMethod", "Password"},
			{"succeeded", true}, {"authenticationStepResultDetail", "Correct password"}, {"StatusSequence", 0}, {"RequestSequence", 0}}}},
		kv{"autonomousSystemNumber", 8075},
		kv{"agent", obj{{"agentType", "notAgentic"}, {"agentSubjectType", "notAgentic"}}})
	r := g.common(g.writtenCategory(name), t, "Sign-in activity", false)
	return append(r, kv{"properties", props}), t.Truncate(100 * time.Nanosecond)
}

// republish returns a new version of a sign-in: risk added, or an MFA step merged (reference/eventhub.md §2.3).
func (g *gen) republish(r obj) (obj, bool) {
	props, ok := r.get("properties").(obj)
	if !ok {
		return nil, false
	}
	if g.rng.IntN(2) == 0 {
		props = props.set("riskLevelDuringSignIn", "high").set("riskState", "atRisk").set("riskEventTypes_v2", []any{"unfamiliarFeatures"})
	} else {
		steps, _ := props.get("authenticationDetails").([]any)
		steps = append(slices.Clone(steps), obj{{"authenticationStepDateTime", "2026-01-10T10:00:05Z"},
			{"authenticationMethod", "Mobile app notification"}, {"succeeded", true}, {"StatusSequence", 0}, {"RequestSequence", 1}})
		props = props.set("authenticationDetails", steps)
	}
	return r.set("properties", props), true
}

func (g *gen) audit(name string, t time.Time) (obj, time.Time) {
	g.seq++
	props := obj{{"id", fmt.Sprintf("Directory_%s_%d", strings.ToUpper(g.guid()[:5]), 10000000+g.seq)},
		{"category", g.pick("Policy", "UserManagement", "GroupManagement", "RoleManagement")}, {"correlationId", g.guid()},
		{"result", 0}, {"resultReason", ""}, {"activityDisplayName", g.pick("Update policy", "Add member to group", "Update user")},
		{"activityDateTime", isoTime(t, 7, "+00:00")}, {"loggedByService", g.pick("Core Directory", "PIM")},
		{"operationType", g.pick("Update", "Add", "Assign")},
		{"initiatedBy", obj{{"user", obj{{"id", g.guid()}, {"displayName", nil}, {"userPrincipalName", "admin@contoso.example"}, {"ipAddress", "<null>"}}}}},
		{"targetResources", []any{obj{{"id", g.guid()}, {"displayName", "Contoso policy"}, {"type", "Policy"},
			{"modifiedProperties", []any{obj{{"displayName", "PolicyDetail"}, {"oldValue", "[]"}, {"newValue", `["{\"Version\":1}"]`}}}}}}},
		{"additionalDetails", []any{}}}
	if name == "CustomSecurityAttributeAuditLogs" {
		props = props.set("category", "AttributeManagement").set("activityDisplayName", "Update attribute values assigned to a user")
	}
	r := g.common(g.writtenCategory(name), t, props.get("activityDisplayName").(string), false)
	return append(r, kv{"properties", props}), t.Truncate(100 * time.Nanosecond)
}

func (g *gen) provisioning(name string, t time.Time) (obj, time.Time) {
	ref := func(n string) obj { return obj{{"Id", g.guid()}, {"Name", n}, {"Type", "Application"}} }
	props := obj{{"", ""}, {"id", g.guid()}, {"activityDateTime", isoTime(t, 7, "+00:00")}, {"tenantId", g.o.TenantID},
		{"jobId", "scim.contoso." + g.guid()[:8]}, {"cycleId", g.guid()}, {"changeId", g.guid()},
		{"action", g.pick("Create", "Update", "Delete")}, {"durationInMilliseconds", g.rng.IntN(5000)},
		{"initiatedBy", ref("Azure AD Provisioning Service")}, {"servicePrincipal", ref("Contoso SCIM app")},
		{"sourceSystem", obj{{"Id", g.guid()}, {"Name", "Azure Active Directory"}, {"details", obj{{"ApplicationId", g.guid()}}}}},
		{"targetSystem", obj{{"Id", g.guid()}, {"Name", "Contoso SCIM"}, {"details", obj{}}}},
		{"sourceIdentity", obj{{"Id", g.guid()}, {"Name", "user@contoso.example"}, {"identityType", "User"}, {"details", obj{}}}},
		{"targetIdentity", obj{{"Id", ""}, {"Name", ""}, {"identityType", "urn:ietf:params:scim:schemas:core:2.0:User"}, {"details", obj{}}}},
		{"provisioningStatusInfo", obj{{"Status", g.pick("success", "failure", "skipped")}}},
		{"statusInfo", obj{{"@odata.type", "#microsoft.graph.statusDetails"}, {"status", "success"}}},
		{"provisioningSteps", []any{}}}
	r := g.common(g.writtenCategory(name), t, "Provisioning activity", false)
	return append(r, kv{"properties", props}), t.Truncate(100 * time.Nanosecond)
}

func (g *gen) risky(name string, t time.Time) (obj, time.Time) {
	props := obj{{"id", g.guid()}, {"isDeleted", false}, {"isProcessing", false},
		{"riskLastUpdatedDateTime", isoTime(t, 7, "Z")}, {"riskLevel", g.pick("low", "medium", "high")},
		{"riskState", "atRisk"}, {"riskDetail", "none"}}
	switch name {
	case "RiskyUsers":
		props = append(props, kv{"userDisplayName", "Risky User"}, kv{"userPrincipalName", "risky@contoso.example"})
	case "RiskyServicePrincipals":
		props = append(props, kv{"displayName", "contoso-sync"}, kv{"appId", g.guid()}, kv{"servicePrincipalType", "Application"})
	default:
		props = append(props, kv{"agentDisplayName", "Contoso agent"}, kv{"agentId", g.guid()})
	}
	r := g.common(g.writtenCategory(name), t, "Risky state updated", false)
	return append(r, kv{"properties", props}), t.Truncate(100 * time.Nanosecond)
}

func (g *gen) riskEvent(name string, t time.Time) (obj, time.Time) {
	// The catalog buckets a detection on the time of its last change (lastUpdatedDateTime; lastModifiedDateTime for
	// an agent's), so that — not activityDateTime — is the hour it is archived under; two minutes after the activity,
	// a detection made late in an hour belongs to the next one.
	updatedField, updated := "lastUpdatedDateTime", t.Add(2*time.Minute)
	if name == "AgentRiskEvents" {
		updatedField = "lastModifiedDateTime"
	}
	props := obj{{"id", g.guid()}, {"requestId", g.guid()}, {"correlationId", g.guid()},
		{"riskEventType", g.pick("unfamiliarFeatures", "anonymizedIPAddress", "leakedCredentials")},
		{"riskState", "atRisk"}, {"riskLevel", g.pick("low", "medium", "high")}, {"riskDetail", "none"},
		{"source", "IdentityProtection"}, {"detectionTimingType", g.pick("realtime", "offline")}, {"activity", "signin"},
		{"ipAddress", "203.0.113.7"},
		// One-digit hours (elastic/integrations identity_protection).
		{"activityDateTime", unpaddedHour(t)},
		{"detectedDateTime", isoTime(t.Add(time.Minute), 7, "Z")}, {updatedField, isoTime(updated, 7, "Z")},
		{"userId", g.guid()}, {"userDisplayName", "Risky User"}, {"userPrincipalName", "risky@contoso.example"},
		// additionalInfo is a JSON string.
		{"additionalInfo", `[{"Key":"userAgent","Value":"Mozilla/5.0"}]`},
		{"location", obj{{"city", "Redmond"}, {"countryOrRegion", "US"}}}}
	r := g.common(g.writtenCategory(name), t, "User Risk Detection", false)
	if g.rng.IntN(5) == 0 {
		// properties as a string holding the object.
		return append(r, kv{"properties", props.String()}), updated.Truncate(100 * time.Nanosecond)
	}
	return append(r, kv{"properties", props}), updated.Truncate(100 * time.Nanosecond)
}

func (g *gen) graphActivity(name string, t time.Time) (obj, time.Time) {
	props := obj{{"timeGenerated", isoTime(t, 7, "Z")}, {"location", "westus"}, {"requestId", g.guid()}, {"operationId", g.guid()},
		{"clientRequestId", g.guid()}, {"apiVersion", g.pick("v1.0", "beta")}, {"requestMethod", g.pick("GET", "POST", "PATCH")},
		{"responseStatusCode", g.pick("200", "404", "429")}, {"tenantId", g.o.TenantID}, {"durationMs", g.rng.IntN(2000)},
		{"responseSizeBytes", g.rng.IntN(40000)}, {"signInActivityId", strings.ReplaceAll(g.guid()[:22], "-", "")},
		{"ipAddress", "20.42.0.1"}, {"userAgent", "msgraph-sdk-go/1.89"},
		{"requestUri", "https://graph.microsoft.com/v1.0/users?$top=1"}, {"appId", g.guid()}, {"servicePrincipalId", g.guid()},
		{"userId", ""}, {"scopes", ""}, {"roles", "User.Read.All AuditLog.Read.All"}, {"tokenIssuedAt", isoTime(t.Add(-time.Hour), 0, "Z")},
		{"wids", ""}}
	// The record's time is when Graph wrote it, a few seconds later; the data type's time is timeGenerated.
	r := g.common(g.writtenCategory(name), t.Add(5*time.Second), "Microsoft Graph Activity", true)
	return append(r, kv{"properties", props}), t.Truncate(100 * time.Nanosecond)
}

// timeOnly builds a record whose event time is its own `time` (categories whose properties the reference does not
// detail). About one in twelve carries no time at all and falls back to its event's enqueued time.
func (g *gen) timeOnly(name string, t time.Time) (obj, time.Time) {
	props := obj{{"transactionId", g.guid()}, {"connectionId", g.guid()}, {"sourceIp", "198.51.100.23"},
		{"destinationFqdn", g.pick("contoso.sharepoint.com", "example.org")}, {"action", g.pick("Allow", "Block")}}
	r := g.common(g.writtenCategory(name), t, name, true)
	if g.rng.IntN(12) == 0 {
		return append(r.without("time"), kv{"properties", props}), time.Time{}
	}
	at := t.Truncate(time.Second)
	if s, _ := r.get("time").(string); strings.Contains(s, ".") {
		at = t.Truncate(time.Millisecond)
	}
	return append(r, kv{"properties", props}), at
}

// corruptRecord is the k-th corrupt record: not an object, or without a category.
func (g *gen) corruptRecord(k int) string {
	switch k % 5 {
	case 0:
		return strconv.Quote("not a record #" + strconv.Itoa(k))
	case 1:
		return strconv.Itoa(424242 + k)
	case 2:
		return fmt.Sprintf(`[%d,"record as an array"]`, k)
	case 3:
		return fmt.Sprintf(`{"time":"2026-01-10T10:00:00Z","operationName":"no category #%d","properties":{"id":"x"}}`, k)
	}
	return fmt.Sprintf(`{"category":"","note":"blank category #%d"}`, k)
}

// corruptEvent is the k-th corrupt event body: not JSON, cut off, or JSON that holds no records.
func (g *gen) corruptEvent(k int) string {
	switch k % 5 {
	case 0:
		return "plain text, not JSON #" + strconv.Itoa(k)
	case 1:
		// A body cut off in the middle of a record (its records are not in the truth: nothing of it is readable).
		return fmt.Sprintf(`{"records":[{"time":"2026-01-10T10:00:00Z","category":"AuditLogs","properties":{"id":"cut-%d","activit`, k)
	case 2:
		return fmt.Sprintf(`{"records":[{"category":"SignInLogs","id":"%d"}`, k)
	case 3:
		return strconv.Quote("a JSON string event #" + strconv.Itoa(k))
	}
	return fmt.Sprintf("<records><record id=%q/></records>", strconv.Itoa(k))
}

// Sender puts a stream's events on a simulated event hub, in order, each on its partition (modulo the hub's).
type Sender struct {
	s    *Stream
	hub  *hostsim.Hub
	sent []hostsim.HubEvent
}

// NewSender returns a Sender of s onto hub.
func (s *Stream) NewSender(hub *hostsim.Hub) *Sender { return &Sender{s: s, hub: hub} }

// Send sends up to n more events and returns how many are left.
func (sd *Sender) Send(n int) int {
	for ; n > 0 && len(sd.sent) < len(sd.s.Events); n-- {
		e := sd.s.Events[len(sd.sent)]
		sd.sent = append(sd.sent, sd.hub.Send(e.Partition%sd.hub.Partitions(), e.Body)[0])
	}
	return len(sd.s.Events) - len(sd.sent)
}

// Enqueued is the enqueued time of event i (sent).
func (sd *Sender) Enqueued(i int) time.Time { return sd.sent[i].Enqueued }

// Events returns the indexes of the sent events in partition p with sequence numbers first..last.
func (sd *Sender) Events(p int, first, last int64) []int {
	var out []int
	for i, e := range sd.sent {
		if sd.s.Events[i].Partition%sd.hub.Partitions() == p && e.SequenceNumber >= first && e.SequenceNumber <= last {
			out = append(out, i)
		}
	}
	return out
}
