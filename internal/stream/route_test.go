package stream

import (
	"slices"
	"strings"
	"testing"

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
