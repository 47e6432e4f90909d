package entrasim

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Resource units per request, as the reference prices them: base cost per path, $select −1, $expand +1,
// $top < 20 −1, never below 1; the x-ms-resource-unit header on every directory response; the units summed
// in the counters.
func TestDirectoryResourceUnits(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 121, Users: 30, ThrottleScale: 10})
	c := newClient(t, tn)
	g := groupID(121, 0)
	au := func() string {
		objs, _ := tn.DirectoryAt(colAdminUnits, tn.Now(), []string{"id"})
		return objs[0].ID
	}()
	sp := tn.ServicePrincipals()[0].ID
	tests := []struct {
		path string
		ru   float64
	}{
		{"/v1.0/users", 2},
		{"/v1.0/users?$select=id", 1},
		{"/v1.0/users?$top=5", 1},
		{"/v1.0/users?$select=id&$top=5", 1}, // never below 1
		{"/v1.0/users/delta", 1},             // unlisted paths cost 1
		{"/v1.0/users/delta?$select=displayName", 1},
		{"/v1.0/groups/" + g + "/members", 3},
		{"/v1.0/groups/" + g + "/members?$top=5", 2},
		{"/v1.0/groups/" + g + "/transitiveMembers", 5},
		{"/v1.0/groups/" + g + "/transitiveMembers?$select=id", 4},
		{"/v1.0/administrativeUnits/" + au + "/members", 3},
		{"/v1.0/applications", 2},
		{"/v1.0/servicePrincipals/" + sp + "/appRoleAssignments", 2},
		{"/v1.0/roleManagement/directory/roleAssignments?$expand=principal", 2},
		{"/v1.0/roleManagement/directory/roleAssignments?$expand=principal&$select=id,principalId", 1},
		{"/v1.0/devices", 1},
		{"/v1.0/administrativeUnits/delta", 1},
	}
	sum := 0.0
	for _, tc := range tests {
		r := c.sendURL(tn.GraphURL()+tc.path, nil)
		if r.status != 200 || r.header.Get("x-ms-resource-unit") != strconv.FormatFloat(tc.ru, 'f', -1, 64) {
			t.Fatalf("%s: %d, x-ms-resource-unit %q, want %g: %.200s", tc.path, r.status, r.header.Get("x-ms-resource-unit"), tc.ru, r.body)
		}
		sum += tc.ru
	}
	got := 0.0
	for _, ec := range tn.Counters().Families[string(familyDirectory)] {
		got += ec.ResourceUnits
	}
	if got != sum {
		t.Fatalf("counters sum %g resource units, the responses %g", got, sum)
	}
}

// The budget by tenant size, and what a client at the limit sees: x-ms-throttle-limit-percentage above 80 %,
// then 429 with Retry-After and the x-ms-throttle-* headers.
func TestDirectoryBudgetExhaustion(t *testing.T) {
	for _, tc := range []struct {
		users int
		units float64
	}{{30, 3500}, {100, 5000}, {600, 8000}} {
		tn, err := New(&Options{Seed: 122, Users: tc.users, ThrottleScale: 100, Clock: NewSimClock(testStart), Verifier: fakeVerifier{}, RequestLogLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		units, window := tn.DirectoryBudget()
		if units != tc.units || window != 1000*time.Second {
			t.Fatalf("%d users: budget %g per %s, want %g per 1000s", tc.users, units, window, tc.units)
		}
		if tc.users != 30 {
			continue
		}
		token := fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
		get := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodGet, "/v1.0/directoryRoles?$select=id", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			tn.ServeHTTP(w, req)
			return w
		}
		warned := false
		for i := 0; ; i++ {
			w := get()
			if w.Code == 200 {
				if p := w.Header().Get("x-ms-throttle-limit-percentage"); p != "" {
					warned = true
				}
				if i > 4000 {
					t.Fatal("the bucket never ran dry")
				}
				continue
			}
			h := w.Header()
			if w.Code != 429 || !warned || h.Get("Retry-After") == "" || h.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" ||
				h.Get("x-ms-throttle-scope") != "Tenant_Application/Read/"+tn.TenantID()+"/"+tn.ClientID() ||
				!strings.Contains(w.Body.String(), `"code":"TooManyRequests"`) {
				t.Fatalf("request %d: %d warned=%v headers %v %s", i, w.Code, warned, h, w.Body.String())
			}
			if i < 3500 || i > 3510 {
				t.Fatalf("ran dry after %d requests of 1 unit, budget 3500", i)
			}
			break
		}
	}
}
