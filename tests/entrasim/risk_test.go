package entrasim

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRiskOverTheClock: with churn, risk is raised, dismissed and remediated as the clock runs; each change gives
// the object a new last-updated time, RiskVersions lists every version with the time the next replaced it, and the
// list serves exactly the current versions. Conditional Access policies are edited.
func TestRiskOverTheClock(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 3, Users: 60, Churn: 1, LateShare: -1,
		Licences: []Licence{LicenceP2, LicenceWorkloadIdentitiesPremium}})
	c := newClient(t, tn)
	clock.Advance(72 * time.Hour)
	for _, tc := range []struct{ dataType, path, field string }{
		{"riskyUsers", "/v1.0/identityProtection/riskyUsers", "riskLastUpdatedDateTime"},
		{"riskDetections", "/v1.0/identityProtection/riskDetections", "lastUpdatedDateTime"},
		{"riskyServicePrincipals", "/v1.0/identityProtection/riskyServicePrincipals", "riskLastUpdatedDateTime"},
		{"servicePrincipalRiskDetections", "/v1.0/identityProtection/servicePrincipalRiskDetections", "lastUpdatedDateTime"},
	} {
		v := servedVersions(t, tn, c, clock.Now(), tc.dataType, tc.path, tc.field)
		if v.served != v.current || v.served == 0 {
			t.Errorf("%s: %d served, %d current versions", tc.dataType, v.served, v.current)
		}
		if tc.dataType == "riskyUsers" || tc.dataType == "riskDetections" {
			if v.replaced == 0 {
				t.Errorf("%s: no version was replaced in three days", tc.dataType)
			}
		}
	}
	if len(tn.ConditionalAccessEdits()) == 0 {
		t.Error("no Conditional Access policy edited in three days")
	}
}

// TestIntuneNeverDate: a managed device's complianceGracePeriodExpirationDateTime is Intune's "never",
// 9999-12-31T23:59:59Z, not a date wrapped around by a nanosecond conversion.
func TestIntuneNeverDate(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 3, Users: 10, Licences: []Licence{LicenceP2, LicenceIntune}})
	r := newClient(t, tn).get(tn.GraphURL() + "/v1.0/deviceManagement/managedDevices")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	p := r.page(t)
	if len(p.Value) == 0 {
		t.Fatal("no managed devices")
	}
	for _, raw := range p.Value {
		var o struct {
			Grace string `json:"complianceGracePeriodExpirationDateTime"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if o.Grace != "9999-12-31T23:59:59Z" {
			t.Fatalf("complianceGracePeriodExpirationDateTime %q, want 9999-12-31T23:59:59Z", o.Grace)
		}
	}
}
