package collect

import (
	"context"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/integrations"
)

// TestRecordFilter: exclusions apply to users and their sign-in activity by id, to guests by userType, and to the
// sign-in logs (by userId) only with excludeFromLogs; other data types keep everything.
func TestRecordFilter(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		integ    integrations.Integration
		dataType string
		record   string
		keep     bool
		filtered bool // a filter applies at all
	}{
		{"excluded user", integrations.Integration{ExcludedGroups: []string{"g"}}, "users", `{"id":"U1","userType":"Member"}`, false, true},
		{"other user", integrations.Integration{ExcludedGroups: []string{"g"}}, "users", `{"id":"u2","userType":"Member"}`, true, true},
		{"guest kept by default", integrations.Integration{ExcludedGroups: []string{"g"}}, "users", `{"id":"u3","userType":"Guest"}`, true, true},
		{"guest excluded", integrations.Integration{ExcludeGuests: true}, "users", `{"id":"u3","userType":"Guest"}`, false, true},
		{"removal of an excluded user", integrations.Integration{ExcludedGroups: []string{"g"}}, "users", `{"id":"u1","@removed":{"reason":"deleted"}}`, false, true},
		{"sign-in activity", integrations.Integration{ExcludedGroups: []string{"g"}}, "userSignInActivity", `{"id":"u1","signInActivity":null}`, false, true},
		{"sign-ins complete by default", integrations.Integration{ExcludedGroups: []string{"g"}}, "signIns.interactive", `{"id":"s","userId":"u1"}`, true, false},
		{"sign-ins with excludeFromLogs", integrations.Integration{ExcludedGroups: []string{"g"}, ExcludeFromLogs: true}, "signIns.interactive", `{"id":"s","userId":"u1","userType":"Member"}`, false, true},
		{"service principal sign-in", integrations.Integration{ExcludedGroups: []string{"g"}, ExcludeFromLogs: true}, "signIns.servicePrincipal", `{"id":"s","userId":""}`, true, true},
		{"groups untouched", integrations.Integration{ExcludedGroups: []string{"g"}}, "groups", `{"id":"g","members@delta":[{"id":"u1"}]}`, true, false},
		{"audits untouched", integrations.Integration{ExcludedGroups: []string{"g"}, ExcludeFromLogs: true}, "directoryAudits", `{"id":"a"}`, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := testRun(t, Options{}, fakeGraph{})
			r.integ = tc.integ
			r.excluded = map[string]bool{"u1": true}
			dt, _ := catalog.Lookup(tc.dataType)
			keep, err := r.recordFilter(ctx, dt)
			if err != nil {
				t.Fatal(err)
			}
			if (keep != nil) != tc.filtered {
				t.Fatalf("filter %v, want one: %v", keep != nil, tc.filtered)
			}
			if keep == nil {
				return
			}
			got, err := keep([]byte(tc.record))
			if err != nil || got != tc.keep {
				t.Errorf("keep(%s) = %v, %v; want %v", tc.record, got, err, tc.keep)
			}
		})
	}
}
