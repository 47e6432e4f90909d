package connect

import (
	"context"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/integrations"
)

// TestPerObjectProbeSendsNothing: a per-object data type is decided from the granted permissions alone — the probe
// has no Graph client to send with (nil), so a request would panic — and names what is missing.
func TestPerObjectProbeSendsNothing(t *testing.T) {
	tester := NewTester(nil)
	for _, tc := range []struct {
		name    string
		granted []string
		want    string
	}{
		{"mailboxSettings", []string{"MailboxSettings.Read", "User.Read.All"}, integrations.OutcomeOK},
		{"mailboxSettings", []string{"Directory.Read.All"}, integrations.OutcomeMissingPermission + "MailboxSettings.Read"},
		{"synchronizationJobs", []string{"Synchronization.Read.All", "Directory.Read.All"}, integrations.OutcomeOK},
		{"authenticationMethods", []string{"User.Read.All"}, integrations.OutcomeMissingPermission + "UserAuthenticationMethod.Read.All"},
	} {
		dt, ok := catalog.Lookup(tc.name)
		if !ok || dt.PerObject() == nil {
			t.Fatalf("%s is no per-object data type", tc.name)
		}
		got := tester.probeOne(context.Background(), nil, integrations.Integration{}, dt, tc.granted, nil)
		if got.Outcome != tc.want {
			t.Errorf("%s granted %v: %q, want %q", tc.name, tc.granted, got.Outcome, tc.want)
		}
	}
}
