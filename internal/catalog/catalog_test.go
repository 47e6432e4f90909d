package catalog

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestEveryDataTypeIsComplete(t *testing.T) {
	seen := map[string]bool{}
	readOnly := Names(PermissionSet(ReadOnly, false))
	withIntune := Names(PermissionSet(ReadOnly, true))
	for _, d := range DataTypes {
		t.Run(d.Name, func(t *testing.T) {
			if seen[d.Name] {
				t.Fatalf("duplicate name")
			}
			seen[d.Name] = true
			if d.Stream != nil {
				checkStreamOnly(t, d)
			} else {
				perms := readOnly
				if d.Needs(IntuneLicence) {
					// Intune's permissions are asked for only when the tenant has Intune.
					perms = withIntune
				}
				checkGraph(t, d, perms)
			}
			specs := 0
			for _, set := range []bool{d.Buckets != nil, d.Delta != nil, d.Snapshot != nil, d.Stream != nil} {
				if set {
					specs++
				}
			}
			if specs != 1 {
				t.Fatalf("%d mode specs, want exactly one", specs)
			}
			if d.DedupKey == "" && d.Stream == nil {
				t.Error("no dedup key")
			}
			for _, l := range d.Licences {
				if !slices.Contains(Licences, l) {
					t.Errorf("licence %q is not one an integration answers for", l)
				}
			}
			if d.Limit.Requests < 0 || d.Limit.Requests > 0 && d.Limit.Window <= 0 {
				t.Errorf("limit %v", d.Limit)
			}
			switch d.Mode() {
			case Buckets:
				b := d.Buckets
				if b.Bucket <= 0 || time.Hour%b.Bucket != 0 && b.Bucket%time.Hour != 0 {
					t.Errorf("bucket %v does not divide an hour or a multiple of hours", b.Bucket)
				}
				// PageSize 0: the endpoint documents no $top (Graph's own page size).
				if b.TimeField == "" || b.PageSize < 0 || b.RetentionDays <= 0 {
					t.Errorf("time field %q, page size %d, retention %d", b.TimeField, b.PageSize, b.RetentionDays)
				}
				if d.VersionField != "" && d.VersionField != b.TimeField {
					t.Errorf("version field %q is not the time field: a new version would land in an old bucket", d.VersionField)
				}
			case Delta:
				if d.Delta.FullEvery <= 0 || d.Delta.FullEvery > 7*24*time.Hour {
					t.Errorf("full round every %v: a deltaLink lives 7 days", d.Delta.FullEvery)
				}
				if slices.Contains(d.Delta.Select, "signInActivity") || slices.Contains(d.Delta.Select, "id") {
					t.Errorf("$select %v: signInActivity is not available in delta, id always comes", d.Delta.Select)
				}
				if u, err := url.Parse(d.DeltaQuery()); err != nil || u.Path != "/"+d.Version+"/"+d.Path+"/delta" || u.Query().Get("$select") == "" {
					t.Errorf("delta query %q", d.DeltaQuery())
				}
			case Snapshot:
				if d.Snapshot.Every <= 0 {
					t.Errorf("cadence %v", d.Snapshot.Every)
				}
				if _, err := url.Parse(d.SnapshotQuery()); err != nil {
					t.Errorf("snapshot query %q: %v", d.SnapshotQuery(), err)
				}
				if d.PerObject() != nil {
					checkPerObject(t, d)
					return
				}
			case Stream:
				if d.ProbeQuery() != "" {
					t.Errorf("stream-only data type has a probe %q", d.ProbeQuery())
				}
				if got, ok := Lookup(d.Name); !ok || got.Name != d.Name {
					t.Errorf("Lookup(%q) failed", d.Name)
				}
				return
			}
			probe, err := url.Parse(d.ProbeQuery())
			if err != nil || probe.Path != "/"+d.Version+"/"+d.Path {
				t.Errorf("probe %q does not read the data type's collection", d.ProbeQuery())
			}
			if top := probe.Query().Get("$top"); top != "" && top != "1" {
				t.Errorf("probe %q asks for more than one record", d.ProbeQuery())
			}
			if d.Limit.Requests == 0 {
				if got := FamilyOf(probe.Path); got != d.Family {
					t.Errorf("FamilyOf(%q) = %s, want the data type's family %s", probe.Path, got, d.Family)
				}
			}
			if got, ok := Lookup(d.Name); !ok || got.Name != d.Name {
				t.Errorf("Lookup(%q) failed", d.Name)
			}
		})
	}
}

// checkGraph checks the fields of a data type collected through Graph.
func checkGraph(t *testing.T, d DataType, readOnly []string) {
	t.Helper()
	if d.Version != "v1.0" && d.Version != "beta" {
		t.Errorf("version %q", d.Version)
	}
	if d.Path == "" || strings.HasPrefix(d.Path, "/") || d.Description == "" {
		t.Errorf("path %q / description %q", d.Path, d.Description)
	}
	if _, ok := Budgets[d.Family]; !ok {
		t.Errorf("family %q has no budget", d.Family)
	}
	if len(d.Permissions) == 0 {
		t.Error("no permissions")
	}
	for _, p := range d.Permissions {
		if _, ok := PermissionByName(p); !ok {
			t.Errorf("permission %q is not in Permissions", p)
		}
		if !slices.Contains(readOnly, p) {
			t.Errorf("permission %q is not in the read-only set", p)
		}
	}
	if len(d.Categories) > 0 && d.Buckets == nil && d.VersionField == "" {
		t.Errorf("categories %v on a %s data type: only log streams and versioned state (risky users) have diagnostic-log twins",
			d.Categories, d.Mode())
	}
}

// checkStreamOnly checks a data type that only diagnostic settings deliver: no Graph path, permission, family or
// budget, at least one category, and an event time StreamEvents can read.
func checkStreamOnly(t *testing.T, d DataType) {
	t.Helper()
	if d.Version != "" || d.Path != "" || len(d.Permissions) > 0 || d.Family != "" || d.Limit != (Budget{}) {
		t.Errorf("stream-only data type with Graph fields: version %q, path %q, permissions %v, family %q, limit %v",
			d.Version, d.Path, d.Permissions, d.Family, d.Limit)
	}
	if d.Description == "" {
		t.Error("no description")
	}
	if len(d.Categories) == 0 {
		t.Error("stream-only data type without a diagnostic-log category")
	}
	if !d.Needs(EntraP1P2) {
		t.Error("diagnostic settings need Entra ID P1/P2, but the data type does not say so")
	}
	if k := d.DedupKey; k != "" && !strings.HasPrefix(k, "properties.") {
		t.Errorf("dedup key %q is not a path in the record's properties", k)
	}
	if strings.ContainsAny(d.Stream.TimeField, "./ ") {
		t.Errorf("time field %q is not one property name", d.Stream.TimeField)
	}
}

// TestCategories checks the diagnostic-log categories: identifiers, each routed to one data type, and every
// category of reference/eventhub.md §1.1 with a data type here or (risk categories, whose data types are not in
// the catalog yet) named in the list below.
func TestCategories(t *testing.T) {
	owner := map[string]string{}
	ident := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	for _, d := range DataTypes {
		for _, c := range d.Categories {
			if !ident.MatchString(c) {
				t.Errorf("%s: category %q is not an identifier", d.Name, c)
			}
			if prev, dup := owner[strings.ToLower(c)]; dup {
				t.Errorf("category %q routed to both %s and %s", c, prev, d.Name)
			}
			owner[strings.ToLower(c)] = d.Name
			if got, ok := ByCategory(strings.ToUpper(c)); !ok || got.Name != d.Name {
				t.Errorf("ByCategory(%q) = %q, %v; want %s", strings.ToUpper(c), got.Name, ok, d.Name)
			}
		}
	}
	for c, want := range map[string]string{
		"SignInLogs": "signIns.interactive", "signinlogs": "signIns.interactive", "SignIn": "signIns.interactive",
		// The documentation's own typo.
		"NonInteractiveUserSIgnInLogs":        "signIns.nonInteractive",
		"ServicePrincipalSignInLogs":          "signIns.servicePrincipal",
		"ManagedIdentitySignInLogs":           "signIns.managedIdentity",
		"AuditLogs":                           "directoryAudits",
		"Audit":                               "directoryAudits",
		"ProvisioningLogs":                    "provisioning",
		"MicrosoftServicePrincipalSignInLogs": "signIns.microsoftServicePrincipal",
		"ADFSSignInLogs":                      "signIns.adfs",
		"MicrosoftGraphActivityLogs":          "graphActivityLogs",
		"NetworkAccessTrafficLogs":            "networkAccess.traffic",
		"EnrichedOffice365AuditLogs":          "networkAccess.enrichedOffice365Audits",
		"CustomSecurityAttributeAuditLogs":    "customSecurityAttributeAudits",
		"B2CRequestLogs":                      "b2cRequests",
	} {
		if got, ok := ByCategory(c); !ok || got.Name != want {
			t.Errorf("ByCategory(%q) = %q, %v; want %s", c, got.Name, ok, want)
		}
	}
	if d, ok := ByCategory("SomethingNew"); ok {
		t.Errorf("an unknown category routes to %s", d.Name)
	}
	if got := Families(); slices.Contains(got, Family("")) {
		t.Errorf("Families() = %v holds the stream-only data types' empty family", got)
	}
}

func TestQuery(t *testing.T) {
	from := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	to := from.Add(15 * time.Minute)
	cases := []struct {
		name, wantPath, wantFilter string
	}{
		{"signIns.nonInteractive", "/beta/auditLogs/signIns",
			"signInEventTypes/any(t: t eq 'nonInteractiveUser') and createdDateTime ge 2026-01-10T10:00:00.0000000Z and createdDateTime lt 2026-01-10T10:15:00.0000000Z"},
		{"directoryAudits", "/v1.0/auditLogs/directoryAudits",
			"activityDateTime ge 2026-01-10T10:00:00.0000000Z and activityDateTime lt 2026-01-10T10:15:00.0000000Z"},
		{"provisioning", "/v1.0/auditLogs/provisioning",
			"activityDateTime gt 2026-01-10T09:59:59.9999999Z and activityDateTime lt 2026-01-10T10:15:00.0000000Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := Lookup(c.name)
			u, err := url.Parse(d.Query(from, to))
			if err != nil {
				t.Fatal(err)
			}
			if u.Path != c.wantPath {
				t.Errorf("path = %q, want %q", u.Path, c.wantPath)
			}
			if got := u.Query().Get("$filter"); got != c.wantFilter {
				t.Errorf("filter = %q\nwant     %q", got, c.wantFilter)
			}
			if u.Query().Get("$top") != "1000" {
				t.Errorf("$top = %q", u.Query().Get("$top"))
			}
			if strings.Contains(u.RawQuery, " ") {
				t.Errorf("unescaped space in %q", u.RawQuery)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	ids := map[string]string{}
	for _, p := range Permissions {
		if !guid.MatchString(p.ID) {
			t.Errorf("%s: id %q is not a lowercase GUID", p.Name, p.ID)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s and %s share id %s", p.Name, other, p.ID)
		}
		ids[p.ID] = p.Name
	}
	// DeviceManagementServiceConfig.Read.All is mislabelled as DeviceManagementApps.Read.All in a public script.
	if name, ok := ids["06a5fe6d-c49d-46a7-b082-56b1b14103c7"]; ok {
		t.Errorf("%s uses the id of DeviceManagementServiceConfig.Read.All", name)
	}
	ro, rw := PermissionSet(ReadOnly, false), PermissionSet(ReadWrite, true)
	if len(ro) != 17 {
		t.Errorf("read-only without Intune has %d permissions, want 17: %v", len(ro), Names(ro))
	}
	if len(rw) != 24 {
		t.Errorf("read-write with Intune has %d permissions, want 24", len(rw))
	}
	for _, p := range ro {
		if p.Write || p.Intune {
			t.Errorf("read-only set holds %s", p.Name)
		}
	}
	if got := len(PermissionSet(ReadOnly, true)) - len(ro); got != 3 {
		t.Errorf("Intune adds %d permissions, want 3", got)
	}
}

func TestMissing(t *testing.T) {
	d, _ := Lookup("signIns.interactive")
	if got := d.Missing([]string{"AuditLog.Read.All"}); !slices.Equal(got, []string{"Directory.Read.All"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := d.Missing(Names(PermissionSet(ReadOnly, false))); got != nil {
		t.Errorf("read-only set lacks %v", got)
	}
	groups, _ := Lookup("groups")
	for granted, want := range map[string][]string{
		"Group.Read.All":       nil,
		"Directory.Read.All":   nil,
		"GroupMember.Read.All": {"Group.Read.All"},
		"User.Read.All":        {"Group.Read.All"},
	} {
		if got := groups.Missing([]string{granted}); !slices.Equal(got, want) {
			t.Errorf("groups with %s granted: missing %v, want %v", granted, got, want)
		}
	}
}

func TestQueries(t *testing.T) {
	for name, want := range map[string]string{
		"signIns.interactive": "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t:%20t%20eq%20'interactiveUser')&$top=1",
		"directoryAudits":     "/v1.0/auditLogs/directoryAudits?$top=1",
		"users":               "/v1.0/users?$select=id&$top=1",
		"directoryRoles":      "/v1.0/directoryRoles",
		"userSignInActivity":  "/v1.0/users?$select=id,userPrincipalName,userType,signInActivity&$top=1",
		"roleAssignments":     "/v1.0/roleManagement/directory/roleAssignments?$top=1",
	} {
		d, _ := Lookup(name)
		if got := d.ProbeQuery(); got != want {
			t.Errorf("%s probe = %q, want %q", name, got, want)
		}
	}
	groups, _ := Lookup("groups")
	if q := groups.DeltaQuery(); !strings.HasPrefix(q, "/v1.0/groups/delta?$select=displayName,") || !strings.HasSuffix(q, ",members") {
		t.Errorf("groups delta query %q: want the tracked properties and members", q)
	}
	ra, _ := Lookup("roleAssignments")
	if q := ra.SnapshotQuery(); q != "/v1.0/roleManagement/directory/roleAssignments?$expand=principal" {
		t.Errorf("roleAssignments snapshot query %q", q)
	}
	sia, _ := Lookup("userSignInActivity")
	if q := sia.SnapshotQuery(); q != "/v1.0/users?$select=id,userPrincipalName,userType,signInActivity&$top=500" {
		t.Errorf("userSignInActivity snapshot query %q", q)
	}
}

func TestRetention(t *testing.T) {
	audits, _ := Lookup("directoryAudits")
	signIns, _ := Lookup("signIns.interactive")
	if audits.Retention(false) != 7 || audits.Retention(true) != 30 {
		t.Errorf("audits retention %d/%d", audits.Retention(false), audits.Retention(true))
	}
	if signIns.Retention(false) != 0 || signIns.Retention(true) != 30 {
		t.Errorf("sign-in retention %d/%d", signIns.Retention(false), signIns.Retention(true))
	}
}

func TestFamilyOf(t *testing.T) {
	for path, want := range map[string]Family{
		"/beta/auditLogs/signIns":                                     Reports,
		"/v1.0/auditLogs/directoryAudits":                             Reports,
		"/v1.0/reports/authenticationMethods/userRegistrationDetails": Reports,
		"/v1.0/identityProtection/riskyUsers":                         Protection,
		"/v1.0/identity/conditionalAccess/policies":                   Protection,
		"/v1.0/deviceManagement/managedDevices":                       Intune,
		"/beta/agentRegistry/agentInstances":                          Agents,
		"/v1.0/users/delta":                                           Directory,
		"/v1.0/users":                                                 Directory,
		"/v1.0/groups/delta":                                          Directory,
		"/v1.0/roleManagement/directory/roleAssignments":              Directory,
		"/v1.0/users/abc/revokeSignInSessions":                        Directory,
		"/v1.0/users/abc/authentication/methods":                      Reports,
		"/v1.0/users/abc/authentication/phoneMethods/3179e48a":        Reports,
	} {
		if got := FamilyOf(path); got != want {
			t.Errorf("FamilyOf(%q) = %s, want %s", path, got, want)
		}
	}
}

// TestREADMETable keeps the README's data-type table in step with DataTypes.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	begin, end := strings.Index(readme, "<!-- datatype-table:begin -->"), strings.Index(readme, "<!-- datatype-table:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md lacks the datatype-table markers")
	}
	if got, want := strings.TrimSpace(readme[begin+len("<!-- datatype-table:begin -->"):end]), MarkdownTable(); got != want {
		t.Errorf("README data-type table is stale; replace it with:\n%s", want)
	}
}
