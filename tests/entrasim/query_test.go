package entrasim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	pathBetaSignIns = "/beta/auditLogs/signIns"
	pathV1SignIns   = "/v1.0/auditLogs/signIns"
	pathAudits      = "/v1.0/auditLogs/directoryAudits"
	pathProv        = "/v1.0/auditLogs/provisioning"
)

func window(field string, from, to time.Time) string {
	return field + " ge " + odataTime(from) + " and " + field + " lt " + odataTime(to)
}

// Paging a window returns exactly the truth for it: newest first, no duplicates, whatever the page size.
func TestPagingMatchesTruth(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 21, Users: 60})
	c := newClient(t, tn)
	now := clock.Now()
	from, to := now.Add(-10*time.Hour), now.Add(-2*time.Hour)
	tests := []struct {
		name, path, filter, top, timeField string
		streams                            []string
	}{
		{"beta interactive", pathBetaSignIns, window("createdDateTime", from, to) + " and signInEventTypes/any(t: t eq 'interactiveUser')", "", "createdDateTime", []string{StreamInteractive}},
		{"beta non-interactive top 37", pathBetaSignIns, window("createdDateTime", from, to) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')", "37", "createdDateTime", []string{StreamNonInteractive}},
		{"beta service principal", pathBetaSignIns, window("createdDateTime", from, to) + " and signInEventTypes/any(t: t eq 'servicePrincipal')", "100", "createdDateTime", []string{StreamServicePrincipal}},
		{"beta managed identity", pathBetaSignIns, window("createdDateTime", from, to) + " and signInEventTypes/any(t: t eq 'managedIdentity')", "9", "createdDateTime", []string{StreamManagedIdentity}},
		{"beta two types with or inside any", pathBetaSignIns, window("createdDateTime", from, to) + " and signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'managedIdentity')", "50", "createdDateTime", []string{StreamInteractive, StreamManagedIdentity}},
		{"beta default is interactive", pathBetaSignIns, window("createdDateTime", from, to), "200", "createdDateTime", []string{StreamInteractive}},
		{"v1.0 interactive", pathV1SignIns, window("createdDateTime", from, to), "64", "createdDateTime", []string{StreamInteractive}},
		{"directory audits", pathAudits, window("activityDateTime", from, to), "25", "activityDateTime", []string{StreamDirectoryAudits}},
		{"provisioning gt/lt", pathProv, "activityDateTime gt " + odataTime(from) + " and activityDateTime lt " + odataTime(to), "40", "activityDateTime", []string{StreamProvisioning}},
		{"page size one", pathAudits, window("activityDateTime", now.Add(-3*time.Hour), now.Add(-2*time.Hour)), "1", "activityDateTime", []string{StreamDirectoryAudits}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := map[string]string{"$filter": tc.filter}
			if tc.top != "" {
				opts["$top"] = tc.top
			}
			ids, times, pages := c.collect(c.list(tc.path, opts), tc.timeField)
			var want []TruthEvent
			for _, s := range tc.streams {
				evs, err := tn.TruthEvents(s, from, to, now)
				if tc.name == "page size one" {
					evs, err = tn.TruthEvents(s, now.Add(-3*time.Hour), now.Add(-2*time.Hour), now)
				}
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, evs...)
			}
			// Merged streams: newest first; the order of equal times is the simulator's own, so compare
			// as sets per timestamp and check the order of times.
			slices.SortStableFunc(want, func(a, b TruthEvent) int { return b.Time.Compare(a.Time) })
			if len(ids) != len(want) || len(want) == 0 {
				t.Fatalf("%d records in %d pages, truth has %d", len(ids), pages, len(want))
			}
			seen := map[string]bool{}
			for i, id := range ids {
				if seen[id] {
					t.Fatalf("duplicate id %s", id)
				}
				seen[id] = true
				if i > 0 && times[i].After(times[i-1]) {
					t.Fatalf("not newest first at %d: %s after %s", i, times[i], times[i-1])
				}
			}
			for _, e := range want {
				if !seen[e.ID] {
					t.Fatalf("truth id %s (%s) missing", e.ID, e.Time)
				}
			}
			if len(tc.streams) == 1 {
				truth := make([]string, len(want))
				for i, e := range want {
					truth[i] = e.ID
				}
				if !slices.Equal(ids, truth) {
					t.Fatal("order differs from the truth's")
				}
			}
			if tc.top != "" && tc.top != "200" && len(ids) > 1 && pages < 2 {
				t.Fatalf("expected several pages, got %d", pages)
			}
		})
	}
}

// Page boundaries: comparing on an event's exact timestamp.
func TestTimeBoundaries(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 22})
	c := newClient(t, tn)
	evs, err := tn.TruthEvents(StreamDirectoryAudits, clock.Now().Add(-6*time.Hour), clock.Now().Add(-5*time.Hour), clock.Now())
	if err != nil || len(evs) < 3 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	var e TruthEvent
	for _, x := range evs {
		if x.Time.Nanosecond() != 0 {
			e = x
			break
		}
	}
	exact := e.Time.UTC().Format("2006-01-02T15:04:05.0000000Z")
	tests := []struct {
		filter string
		in     bool
	}{
		{"activityDateTime ge " + exact, true},
		{"activityDateTime gt " + exact, false},
		{"activityDateTime le " + exact, true},
		{"activityDateTime lt " + exact, false},
		{"activityDateTime eq " + exact, true},
		{"activityDateTime ge " + e.Time.UTC().Format(time.RFC3339Nano), true},
		{"activityDateTime lt " + e.Time.UTC().Add(100*time.Nanosecond).Format(time.RFC3339Nano), true},
		{"activityDateTime ge " + e.Time.UTC().Add(100*time.Nanosecond).Format(time.RFC3339Nano), false},
		{"activityDateTime ge " + e.Time.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"), true},
		{"activityDateTime ge " + e.Time.Truncate(time.Second).Add(time.Second).In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05-07:00"), false},
		{"activityDateTime ge " + e.Time.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05") + ".0Z", true},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			f := tc.filter + " and activityDateTime ge " + odataTime(e.Time.Add(-time.Hour)) + " and activityDateTime le " + odataTime(e.Time.Add(time.Hour))
			ids, _, _ := c.collect(c.list(pathAudits, map[string]string{"$filter": f}), "activityDateTime")
			if got := slices.Contains(ids, e.ID); got != tc.in {
				t.Fatalf("event at %s included %v, want %v", exact, got, tc.in)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 23})
	c := newClient(t, tn)
	ts := odataTime(clock.Now().Add(-time.Hour))
	tests := []struct {
		name, path, filter string
		wantMsg            string // substring of the error message; "" means 200
	}{
		{"v1.0 has no signInEventTypes", pathV1SignIns, "signInEventTypes/any(t: t eq 'nonInteractiveUser')", "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'."},
		{"unknown property keeps its spelling", pathBetaSignIns, "CrossTenantAccessTypo eq 'none'", "Could not find a property named 'CrossTenantAccessTypo' on type 'microsoft.graph.signIn'."},
		{"sign-in names ignore case", pathBetaSignIns, "CreatedDateTime ge " + ts + " and appid eq 'x'", ""},
		{"quoted date-time", pathBetaSignIns, "createdDateTime ge '" + ts + "'", "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThanOrEqual'."},
		{"syntax", pathBetaSignIns, "createdDateTime ge", "Invalid filter clause: Syntax error"},
		{"unbalanced", pathBetaSignIns, "(createdDateTime ge " + ts, "Invalid filter clause: Syntax error"},
		{"bad date", pathBetaSignIns, "createdDateTime ge 2025-13-45T00:00:00Z", "The DateTimeOffset text '2025-13-45T00:00:00Z'"},
		{"unsupported operator", pathBetaSignIns, "userId ge 'a'", "Invalid filter clause"},
		{"not is refused", pathBetaSignIns, "not (createdDateTime ge " + ts + ")", "Invalid filter clause"},
		{"event type inside any: ne", pathBetaSignIns, "signInEventTypes/any(t: t ne 'interactiveUser')", ""},
		{"any on a scalar property", pathBetaSignIns, "userId/any(t: t eq 'x')", "only supported on collections"},
		{"status/errorCode ne 0", pathBetaSignIns, "status/errorCode ne 0", ""},
		{"startswith", pathBetaSignIns, "startswith(appDisplayName, 'Azure')", ""},
		{"provisioning ge refused", pathProv, "activityDateTime ge " + ts, "Invalid filter clause"},
		{"provisioning le refused", pathProv, "activityDateTime le " + ts, "Invalid filter clause"},
		{"provisioning names are case sensitive", pathProv, "ActivityDateTime gt " + ts, "Could not find a property named 'ActivityDateTime' on type 'microsoft.graph.provisioningObjectSummary'."},
		{"provisioning gt and lt", pathProv, "activityDateTime gt " + ts + " and activityDateTime lt " + odataTime(clock.Now()), ""},
		{"provisioning contains", pathProv, "contains(changeId, 'a')", ""},
		{"audits ge and le", pathAudits, "activityDateTime ge " + ts + " and activityDateTime le " + odataTime(clock.Now()), ""},
		{"audits target resources", pathAudits, "targetResources/any(t: t/type eq 'User')", ""},
		{"audits target unknown field", pathAudits, "targetResources/any(t: t/colour eq 'red')", "Could not find a property named 'colour'"},
		{"audits initiatedBy", pathAudits, "initiatedBy/user/userPrincipalName eq 'x@y'", ""},
		{"audits unknown nested", pathAudits, "initiatedBy/user/shoeSize eq 1", "on type 'microsoft.graph.userIdentity'"},
		{"integer compare with string", pathBetaSignIns, "status/errorCode eq '0'", "Found operand types 'Edm.Int32' and 'Edm.String'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.get(c.list(tc.path, map[string]string{"$filter": tc.filter, "$top": "5"}))
			if tc.wantMsg == "" {
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			e := r.gerr(t)
			if e.Error.Code != "BadRequest" || !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Fatalf("error %s %q, want BadRequest containing %q", e.Error.Code, e.Error.Message, tc.wantMsg)
			}
			if e.Error.InnerError.RequestID == "" || e.Error.InnerError.RequestID != r.header.Get("request-id") {
				t.Fatalf("innerError request-id %q, header %q", e.Error.InnerError.RequestID, r.header.Get("request-id"))
			}
			if _, err := time.Parse("2006-01-02T15:04:05", e.Error.InnerError.Date); err != nil {
				t.Fatalf("innerError date %q: %v", e.Error.InnerError.Date, err)
			}
		})
	}
}

// Filters on record fields return exactly the records of the window that match.
func TestFieldFilters(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 24, Users: 40})
	c := newClient(t, tn)
	now := clock.Now()
	from, to := now.Add(-14*time.Hour), now.Add(-1*time.Hour)
	// A user who signed in interactively in the window.
	first := c.records(pathV1SignIns, window("createdDateTime", from, to))[0]
	var someUser User
	for _, u := range tn.Users() {
		if u.ID == first["userId"] {
			someUser = u
		}
	}
	tests := []struct {
		name, path, stream, filter string
		want                       func(rec map[string]any) bool
	}{
		{"userId eq", pathBetaSignIns, StreamNonInteractive, "signInEventTypes/any(t: t eq 'nonInteractiveUser') and userId eq '" + someUser.ID + "'",
			func(m map[string]any) bool { return m["userId"] == someUser.ID }},
		{"startswith upn, other case", pathV1SignIns, StreamInteractive, "startswith(userPrincipalName, '" + strings.ToUpper(someUser.UserPrincipalName[:3]) + "')",
			func(m map[string]any) bool {
				return strings.HasPrefix(strings.ToLower(m["userPrincipalName"].(string)), strings.ToLower(someUser.UserPrincipalName[:3]))
			}},
		{"errorCode ne 0", pathBetaSignIns, StreamInteractive, "status/errorCode ne 0",
			func(m map[string]any) bool { return m["status"].(map[string]any)["errorCode"].(float64) != 0 }},
		{"app or app", pathBetaSignIns, StreamInteractive, "(appId eq 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c' or appDisplayName eq 'microsoft teams')",
			func(m map[string]any) bool {
				return m["appId"] == "c44b4083-3bb0-49c1-b47d-974e53cbdf3c" || m["appDisplayName"] == "Microsoft Teams"
			}},
		{"audit category", pathAudits, StreamDirectoryAudits, "category eq 'GroupManagement'",
			func(m map[string]any) bool { return m["category"] == "GroupManagement" }},
		{"audit target any", pathAudits, StreamDirectoryAudits, "targetResources/any(t: t/type eq 'Group')",
			func(m map[string]any) bool {
				for _, x := range m["targetResources"].([]any) {
					if x.(map[string]any)["type"] == "Group" {
						return true
					}
				}
				return false
			}},
		{"provisioning status", pathProv, StreamProvisioning, "provisioningStatusInfo/status eq 'failure'",
			func(m map[string]any) bool {
				return m["provisioningStatusInfo"].(map[string]any)["status"] == "failure"
			}},
		{"provisioning values are case sensitive", pathProv, StreamProvisioning, "provisioningStatusInfo/status eq 'Failure'",
			func(m map[string]any) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			field := "createdDateTime"
			if tc.stream == StreamDirectoryAudits || tc.stream == StreamProvisioning {
				field = "activityDateTime"
			}
			win := window(field, from, to)
			if tc.stream == StreamProvisioning {
				win = field + " gt " + odataTime(from) + " and " + field + " lt " + odataTime(to)
			}
			// Expected: render every truth record of the window and apply the predicate.
			var want []string
			all, _, _ := c.collect(c.list(tc.path, map[string]string{"$filter": win + eventTypeClause(tc.path, tc.stream)}), field)
			recs := c.records(tc.path, win+eventTypeClause(tc.path, tc.stream))
			for i, m := range recs {
				if tc.want(m) {
					want = append(want, all[i])
				}
			}
			got, _, _ := c.collect(c.list(tc.path, map[string]string{"$filter": win + " and " + tc.filter, "$top": "20"}), field)
			if !slices.Equal(got, want) {
				t.Fatalf("filter returned %d records, want %d of %d", len(got), len(want), len(all))
			}
			if tc.name != "provisioning values are case sensitive" && len(want) == 0 {
				t.Fatal("the filter matches nothing in the window; pick a better one")
			}
		})
	}
}

func eventTypeClause(path, stream string) string {
	if path != pathBetaSignIns {
		return ""
	}
	return " and signInEventTypes/any(t: t eq '" + streamByName(stream).eventType + "')"
}

// records collects every record of a filter as maps.
func (c *client) records(path, filter string) []map[string]any {
	var out []map[string]any
	u := c.list(path, map[string]string{"$filter": filter})
	for u != "" {
		p := c.get(u).page(c.t)
		for _, v := range p.Value {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				c.t.Fatal(err)
			}
			out = append(out, m)
		}
		u = p.NextLink
	}
	return out
}

func TestTopSelectOrderBy(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 25, Users: 400})
	c := newClient(t, tn)
	now := clock.Now()
	nonInteractive := window("createdDateTime", now.Add(-48*time.Hour), now) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	tests := []struct {
		name     string
		path     string
		opts     map[string]string
		status   int
		pageLen  int
		check    func(t *testing.T, p page, raw []byte)
		errorMsg string
	}{
		{name: "default page size 1000", path: pathBetaSignIns, opts: map[string]string{"$filter": nonInteractive}, status: 200, pageLen: 1000},
		{name: "$top above the maximum is served at 1000", path: pathBetaSignIns, opts: map[string]string{"$filter": nonInteractive, "$top": "5000"}, status: 200, pageLen: 1000,
			check: func(t *testing.T, p page, _ []byte) {
				if !strings.Contains(p.NextLink, "$top=5000") {
					t.Fatalf("nextLink %s does not re-encode $top", p.NextLink)
				}
			}},
		{name: "$top 7", path: pathAudits, opts: map[string]string{"$top": "7"}, status: 200, pageLen: 7},
		{name: "top without dollar", path: pathAudits, opts: map[string]string{"top": "3"}, status: 200, pageLen: 3},
		{name: "$top not a number", path: pathAudits, opts: map[string]string{"$top": "many"}, status: 400, errorMsg: "Invalid value 'many' for $top query option found."},
		{name: "$top negative", path: pathAudits, opts: map[string]string{"$top": "-1"}, status: 400, errorMsg: "requires a non-negative integer value"},
		{name: "$skip unsupported", path: pathAudits, opts: map[string]string{"$skip": "10"}, status: 400, errorMsg: "'$skip' is not supported"},
		{name: "$select", path: pathBetaSignIns, opts: map[string]string{"$select": "id,CreatedDateTime,status", "$top": "2"}, status: 200, pageLen: 2,
			check: func(t *testing.T, p page, _ []byte) {
				if !strings.HasSuffix(p.Context, "/beta/$metadata#auditLogs/signIns(id,createdDateTime,status)") {
					t.Fatalf("context %s", p.Context)
				}
				for _, v := range p.Value {
					var m map[string]json.RawMessage
					_ = json.Unmarshal(v, &m)
					if len(m) != 3 || m["id"] == nil || m["createdDateTime"] == nil || m["status"] == nil {
						t.Fatalf("selected record %s", v)
					}
				}
				if !strings.Contains(p.NextLink, "$select=id%2CCreatedDateTime%2Cstatus") {
					t.Fatalf("nextLink %s does not carry $select", p.NextLink)
				}
			}},
		{name: "$select unknown", path: pathAudits, opts: map[string]string{"$select": "id,colour"}, status: 400, errorMsg: "Could not find a property named 'colour' on type 'microsoft.graph.directoryAudit'."},
		{name: "$orderby asc", path: pathAudits, opts: map[string]string{"$orderby": "activityDateTime asc", "$top": "50"}, status: 200, pageLen: 50,
			check: func(t *testing.T, p page, _ []byte) {
				_, times := idsOf(t, p.Value, "activityDateTime")
				for i := 1; i < len(times); i++ {
					if times[i].Before(times[i-1]) {
						t.Fatal("not oldest first")
					}
				}
				if times[0].After(now.Add(-29 * 24 * time.Hour)) {
					t.Fatalf("oldest first should start at the retention edge, starts %s", times[0])
				}
			}},
		{name: "$orderby other property", path: pathAudits, opts: map[string]string{"$orderby": "category"}, status: 400, errorMsg: "OrderBy not supported"},
		{name: "duplicate option", path: pathAudits, opts: map[string]string{"$top": "1", "top": "2"}, status: 400, errorMsg: "specified more than once"},
		{name: "custom parameter ignored", path: pathAudits, opts: map[string]string{"foo": "bar", "$top": "2"}, status: 200, pageLen: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.get(c.list(tc.path, tc.opts))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				if e := r.gerr(t); !strings.Contains(e.Error.Message, tc.errorMsg) {
					t.Fatalf("message %q, want %q", e.Error.Message, tc.errorMsg)
				}
				return
			}
			p := r.page(t)
			if len(p.Value) != tc.pageLen {
				t.Fatalf("%d records, want %d", len(p.Value), tc.pageLen)
			}
			if tc.check != nil {
				tc.check(t, p, r.body)
			}
		})
	}
}

func TestNextLinkAndSkipToken(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 26})
	c := newClient(t, tn)
	f := window("createdDateTime", clock.Now().Add(-12*time.Hour), clock.Now()) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	r := c.get(c.list(pathBetaSignIns, map[string]string{"$filter": f, "$top": "10"}))
	p := r.page(t)
	if p.Context != tn.GraphURL()+"/beta/$metadata#auditLogs/signIns" {
		t.Fatalf("context %q", p.Context)
	}
	if !strings.HasPrefix(p.NextLink, tn.GraphURL()+"/beta/auditLogs/signIns?$filter=") {
		t.Fatalf("nextLink %q is not absolute on the stand-in", p.NextLink)
	}
	u, err := url.Parse(p.NextLink)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("$filter") != f || q.Get("$top") != "10" || q.Get("$skiptoken") == "" {
		t.Fatalf("nextLink options %v", q)
	}
	tok := q.Get("$skiptoken")
	// Following it verbatim works; a second request with the same link gives the same page.
	a, b := c.get(p.NextLink), c.get(p.NextLink)
	if a.status != 200 || string(a.body) != string(b.body) {
		t.Fatal("following a nextLink twice differs")
	}
	flip := []byte(tok)
	flip[len(flip)/2] ^= 1
	if flip[len(flip)/2] == tok[len(tok)/2] {
		t.Fatal("flip failed")
	}
	bad := []struct {
		name  string
		token string
		mod   func(url.Values)
	}{
		{"tampered", string(flip), nil},
		{"garbage", "not-a-token", nil},
		{"truncated", tok[:len(tok)-2], nil},
		{"other filter", tok, func(v url.Values) {
			v.Set("$filter", window("createdDateTime", clock.Now().Add(-11*time.Hour), clock.Now()))
		}},
		{"other page size", tok, func(v url.Values) { v.Set("$top", "11") }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, x := range q {
				v[k] = x
			}
			v.Set("$skiptoken", tc.token)
			if tc.mod != nil {
				tc.mod(v)
			}
			r := c.get(tn.GraphURL() + pathBetaSignIns + "?" + v.Encode())
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if e := r.gerr(t); e.Error.Message != "Invalid Skip Token, skip token is null" {
				t.Fatalf("error %+v", e.Error)
			}
		})
	}
	// A skip token from another tenant (other seed) is refused too.
	other, _ := startTenant(t, Options{Seed: 27})
	oc := newClient(t, other)
	op := oc.get(oc.list(pathBetaSignIns, map[string]string{"$filter": f, "$top": "10"})).page(t)
	ou, _ := url.Parse(op.NextLink)
	v := ou.Query()
	if r := c.get(tn.GraphURL() + pathBetaSignIns + "?" + v.Encode()); r.status != http.StatusBadRequest {
		t.Fatalf("foreign skip token accepted: %d", r.status)
	}
}

func TestHeadersAndRouting(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 28})
	c := newClient(t, tn)
	tests := []struct {
		name, method, path string
		status             int
		msg                string
	}{
		{"ok", http.MethodGet, "/v1.0/auditLogs/directoryAudits?$top=1", 200, ""},
		{"segments ignore case", http.MethodGet, "/v1.0/AUDITLOGS/directoryaudits?$top=1", 200, ""},
		{"unknown segment", http.MethodGet, "/v1.0/auditLogs/signUps", 400, "Resource not found for the segment 'signUps'."},
		{"unknown root", http.MethodGet, "/v1.0/nope/x", 400, "Resource not found for the segment 'nope'."},
		{"beta audits are not simulated", http.MethodGet, "/beta/auditLogs/provisioning", 400, "Resource not found for the segment 'provisioning'."},
		{"unknown version", http.MethodGet, "/v2.0/auditLogs/signIns", 400, "Invalid version"},
		{"method", http.MethodPost, "/v1.0/auditLogs/directoryAudits", 405, "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tn.GraphURL()+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("client-request-id", "my-client-id-"+tc.name)
			res, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e graphError
			_ = json.NewDecoder(res.Body).Decode(&e)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%+v)", res.StatusCode, tc.status, e)
			}
			if res.Header.Get("request-id") == "" || res.Header.Get("client-request-id") != "my-client-id-"+tc.name {
				t.Fatalf("headers request-id %q client-request-id %q", res.Header.Get("request-id"), res.Header.Get("client-request-id"))
			}
			if tc.msg != "" && (!strings.Contains(e.Error.Message, tc.msg) || e.Error.InnerError.ClientRequestID != "my-client-id-"+tc.name) {
				t.Fatalf("error %+v", e.Error)
			}
		})
	}
	// Without a client-request-id, the server's request id is echoed in both.
	r := c.get(tn.GraphURL() + "/v1.0/auditLogs/directoryAudits?$top=1")
	if r.header.Get("client-request-id") != r.header.Get("request-id") {
		t.Fatal("client-request-id should default to the request id")
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
}

// gzip is used when asked for (Go's client asks transparently), and the body is the same JSON.
func TestGzip(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 29})
	c := newClient(t, tn)
	plain := c.list(pathAudits, map[string]string{"$top": "30"})
	req, _ := http.NewRequest(http.MethodGet, plain, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept-Encoding", "identity")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Encoding") != "" {
		t.Fatal("compressed without being asked")
	}
	r := c.get(plain) // transport adds Accept-Encoding: gzip and decompresses
	if r.status != 200 || len(r.page(t).Value) != 30 {
		t.Fatalf("gzip page: %d", r.status)
	}
}
