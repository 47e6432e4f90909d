package stream

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
)

func TestRouteOf(t *testing.T) {
	cases := []struct {
		category, dataType string
		known              bool
	}{
		{"SignInLogs", "signIns.interactive", true},
		{"signinlogs", "signIns.interactive", true},
		{"SignIn", "signIns.interactive", true},
		{"NonInteractiveUserSignInLogs", "signIns.nonInteractive", true},
		{"NonInteractiveUserSIgnInLogs", "signIns.nonInteractive", true},
		{"ServicePrincipalSignInLogs", "signIns.servicePrincipal", true},
		{"ManagedIdentitySignInLogs", "signIns.managedIdentity", true},
		{"AuditLogs", "directoryAudits", true},
		{"Audit", "directoryAudits", true},
		{"ProvisioningLogs", "provisioning", true},
		{"RiskyUsers", "riskyUsers", true},
		{"UserRiskEvents", "riskDetections", true},
		{"RiskyServicePrincipals", "riskyServicePrincipals", true},
		{"ServicePrincipalRiskEvents", "servicePrincipalRiskDetections", true},
		{"RiskyAgents", "riskyAgents", true},
		{"AgentRiskEvents", "agentRiskDetections", true},
		{"MicrosoftGraphActivityLogs", "graphActivityLogs", true},
		{"ADFSSignInLogs", "signIns.adfs", true},
		{"MicrosoftServicePrincipalSignInLogs", "signIns.microsoftServicePrincipal", true},
		{"NetworkAccessTrafficLogs", "networkAccess.traffic", true},
		{"B2CRequestLogs", "b2cRequests", true},
		// Unknown categories keep their own name, made safe for a blob path.
		{"BrandNewLogs", "BrandNewLogs", false},
		{" BrandNewLogs ", "BrandNewLogs", false},
		{"Odd/Name with spaces", "Odd_Name_with_spaces", false},
		// A name that would fall into a declared data type's partition is moved aside.
		{"users", "category.users", false},
		{"RISKYUSERS2", "RISKYUSERS2", false},
		{"graphactivitylogs", "category.graphactivitylogs", false},
	}
	for _, c := range cases {
		r, ok := RouteOf(c.category)
		if !ok || r.DataType != c.dataType || r.Known != c.known {
			t.Errorf("RouteOf(%q) = %+v, %v; want %s known=%v", c.category, r, ok, c.dataType, c.known)
		}
		if cached, ok2 := routeOf(c.category); cached != r || ok2 != ok {
			t.Errorf("routeOf(%q) = %+v, not RouteOf's %+v", c.category, cached, r)
		}
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 101)} {
		if r, ok := RouteOf(bad); ok {
			t.Errorf("RouteOf(%q) = %+v, want not ok", bad, r)
		}
	}
}

// TestPendingRoutes keeps the routes of data types the catalog does not declare yet honest: SPEC §4 names each,
// and once the catalog declares one, it must list the category (the catalog's route then wins).
func TestPendingRoutes(t *testing.T) {
	spec := []string{"riskyUsers", "riskDetections", "riskyServicePrincipals", "servicePrincipalRiskDetections", "riskyAgents", "agentRiskDetections"}
	for cat, r := range pendingRoutes {
		if !slices.Contains(spec, r.DataType) {
			t.Errorf("%s routes to %s, which SPEC §4 does not name", cat, r.DataType)
		}
		if cat != strings.ToLower(cat) {
			t.Errorf("pending route key %q is not lower case", cat)
		}
		if d, declared := catalog.Lookup(r.DataType); declared {
			if got, ok := catalog.ByCategory(cat); !ok || got.Name != d.Name {
				t.Errorf("the catalog declares %s but does not route category %s to it: add the category there and drop the pending route", d.Name, cat)
			}
		}
	}
}

// TestEveryTimeFieldIsRead pins that Split can read the event-time property of every data type that has
// categories: a hint naming a property Split does not extract finds nothing, and the record lands in the hour of
// some other time (agentRiskDetections' lastModifiedDateTime did, two minutes off at an hour's end).
func TestEveryTimeFieldIsRead(t *testing.T) {
	for _, d := range catalog.DataTypes {
		f := d.StreamTimeField()
		if len(d.Categories) == 0 || f == "" {
			continue
		}
		if !slices.ContainsFunc(TimeFields, func(n string) bool { return strings.EqualFold(n, f) }) {
			t.Errorf("%s: time field %q is not among TimeFields %v", d.Name, f, TimeFields)
		}
		// The end-to-end check: a record whose only hinted time is that field is filed under it.
		body := `{"records":[{"category":"` + d.Categories[0] + `","time":"2026-01-10T07:59:00Z","properties":{"id":"x","` + f + `":"2026-01-10T08:01:00Z"}}]}`
		recs, rej := Split([]byte(body), time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC), timeFieldOf)
		if len(recs) != 1 || len(rej) != 0 {
			t.Fatalf("%s: Split = %d records, %d rejects", d.Name, len(recs), len(rej))
		}
		if want := time.Date(2026, 1, 10, 8, 1, 0, 0, time.UTC); !recs[0].Time.Equal(want) {
			t.Errorf("%s: event time %v from %q, want %v from properties.%s", d.Name, recs[0].Time, recs[0].TimeFrom, want, f)
		}
	}
}
