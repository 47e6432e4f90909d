package expiry

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/remediate"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/webhooksim"
)

// withRotation gives the fixture's checker a Rotator on Reset Credentials (connect.Service) and the remediation
// audit log; ownedBy grants the integration app Application.ReadWrite.OwnedBy and makes it an owner of itself.
func (f *fixture) withRotation(t *testing.T, ownedBy bool) *remediate.AuditLog {
	t.Helper()
	app := f.app(t)
	if ownedBy {
		if err := f.tn.SetAppRoles(app.AppID, append(slices.Clone(app.Roles), "Application.ReadWrite.OwnedBy")); err != nil {
			t.Fatal(err)
		}
		if err := f.tn.AddAppOwner(app.AppID, app.AppID); err != nil {
			t.Fatal(err)
		}
	}
	statuses := connect.NewStatuses(f.tables, azurite.UniqueName(t, "rotst"))
	blobs, err := azurite.Shared(t).BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	prefix := azurite.UniqueName(t, "rotau")
	audit := remediate.NewAuditLog(f.tables, blobs, &remediate.AuditOptions{Table: prefix, Container: prefix})
	for _, e := range []interface{ Ensure(context.Context) error }{statuses, audit} {
		if err := e.Ensure(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	svc := &connect.Service{Store: f.store, Statuses: statuses, Vault: f.kv, Tester: connect.NewTester(&connect.Options{
		Graph:      graph.Options{Endpoint: f.tn.GraphURL(), Transport: f.ca.Client().Transport},
		Credential: graph.CredentialOptions{AuthorityHost: f.tn.AuthorityURL(), Transport: f.ca.Client()}, RetryBase: time.Millisecond})}
	f.checker.Rotator = &Rotator{Client: f.graphClient, Reset: svc.ResetCredentials, Audit: audit, LeadDays: 30, LifetimeDays: 180}
	return audit
}

func (f *fixture) app(t *testing.T) entrasim.Application {
	t.Helper()
	for _, a := range f.tn.Applications() {
		if a.AppID == f.tn.ClientID() {
			return a
		}
	}
	t.Fatal("no integration app")
	return entrasim.Application{}
}

func keyIDs(a entrasim.Application) []string {
	var out []string
	for _, p := range a.PasswordCredentials {
		out = append(out, strings.ToLower(p.KeyID))
	}
	return out
}

func actions(t *testing.T, f *fixture, audit *remediate.AuditLog, from time.Time) []string {
	t.Helper()
	es, err := audit.Query(f.ctx, "contoso", from.Add(-time.Hour), f.clock.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+":"+e.Outcome)
	}
	slices.Sort(out)
	return out
}

// TestRotation: 30 days before expiry the check adds a secret as the app itself, Reset Credentials tests it and
// switches the integration to a new Key Vault version, then the old secret is removed; each step is audited; the
// new secret has 180 days, so nothing more is due. A first attempt whose new secret Entra refuses (still
// propagating) keeps the old one, removes the new one and alerts (with the old secret's 30-day alert, due that day);
// the next day's attempt succeeds.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	audit := f.withRotation(t, true)
	old := f.addSecret(t, 40*day)
	i := f.addIntegration(t, old, time.Time{})
	start := f.clock.Now()
	f.check(t) // 40 days left: the 90-day alert, no rotation
	f.clock.Advance(10 * day)

	// Entra refuses new secrets for an hour: the test of the new one fails.
	f.tn.SetSecretPropagation(time.Hour)
	before := keyIDs(f.app(t))
	res := f.check(t)
	rot := res[0].Rotation
	if rot == nil || rot.Rotated || !strings.Contains(rot.Failed, "test of the new secret") || rot.NewSecretID == "" {
		t.Fatalf("failed rotation: %+v", rot)
	}
	now, err := f.store.Get(f.ctx, "contoso")
	if err != nil || !strings.EqualFold(now.SecretID, old.KeyID) || now.SecretVersion != i.SecretVersion {
		t.Fatalf("after the failed rotation the integration is %+v, %v; want the old secret and version", now, err)
	}
	if after := keyIDs(f.app(t)); !slices.Equal(after, before) {
		t.Errorf("app secrets %v after the failed rotation, want %v (the new one removed again)", after, before)
	}
	if got := actions(t, f, audit, start); !slices.Equal(got, []string{"rotate-secret.add-password:done", "rotate-secret.remove-new-password:done", "rotate-secret.test-new-secret:failed"}) {
		t.Errorf("audit after the failed rotation: %v", got)
	}
	var failedAlerts int
	for _, r := range f.recv.Received() {
		if r.Threshold == "rotation-failed" {
			failedAlerts++
		}
	}
	if failedAlerts != 3 {
		t.Errorf("%d rotation-failed alerts, want one per webhook", failedAlerts)
	}

	// The next day Entra accepts new secrets at once: rotation succeeds.
	f.tn.SetSecretPropagation(0)
	f.clock.Advance(day)
	res = f.check(t)
	rot = res[0].Rotation
	if rot == nil || !rot.Rotated || rot.Failed != "" || rot.Warning != "" {
		t.Fatalf("rotation: %+v", rot)
	}
	now, err = f.store.Get(f.ctx, "contoso")
	if err != nil || !strings.EqualFold(now.SecretID, rot.NewSecretID) || now.SecretVersion == i.SecretVersion {
		t.Fatalf("after rotation the integration is %+v, %v", now, err)
	}
	if ids := keyIDs(f.app(t)); slices.Contains(ids, strings.ToLower(old.KeyID)) || !slices.Contains(ids, strings.ToLower(rot.NewSecretID)) {
		t.Errorf("app secrets %v: want the new %s without the old %s", ids, rot.NewSecretID, old.KeyID)
	}
	// The integration signs in with Key Vault's new version.
	app, err := GraphApps{Client: f.graphClient}.Application(f.ctx, now)
	if err != nil || app == nil {
		t.Fatalf("signing in with the rotated secret: %v", err)
	}
	for _, p := range app.PasswordCredentials {
		if p.KeyID == rot.NewSecretID && (!strings.HasPrefix(p.DisplayName, RotationPrefix) || p.EndDateTime.Sub(f.clock.Now()) < 179*day) {
			t.Errorf("new secret %+v", p)
		}
	}
	if res[0].DaysLeft == nil || *res[0].DaysLeft < 179 || !strings.EqualFold(res[0].SecretID, rot.NewSecretID) {
		t.Errorf("result after rotation: %+v", res[0])
	}
	got := actions(t, f, audit, start)
	for _, want := range []string{"rotate-secret.switch:done", "rotate-secret.remove-old-password:done"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit lacks %s: %v", want, got)
		}
	}
	var thresholds []string
	for _, r := range f.recv.Received() {
		if r.Kind == webhooksim.JSON {
			thresholds = append(thresholds, r.Threshold)
		}
	}
	// The day rotation failed the old secret was still due its 30-day alert; after the switch nothing is due.
	if !slices.Equal(thresholds, []string{"90", "rotation-failed", "30"}) {
		t.Errorf("generic webhook got %v, want the 90-day alert, the failed rotation and the 30-day alert only", thresholds)
	}
	f.noSecrets(t, res)
}

// TestRotationWithoutPermission: without Application.ReadWrite.OwnedBy addPassword is refused (403); nothing
// changes and the failure is alerted.
func TestRotationWithoutPermission(t *testing.T) {
	f := newFixture(t)
	f.withRotation(t, false)
	old := f.addSecret(t, 20*day)
	i := f.addIntegration(t, old, time.Time{})
	before := keyIDs(f.app(t))
	res := f.check(t)
	rot := res[0].Rotation
	if rot == nil || rot.Rotated || !strings.Contains(rot.Failed, "add-password") || rot.NewSecretID != "" {
		t.Fatalf("rotation: %+v", rot)
	}
	now, _ := f.store.Get(f.ctx, "contoso")
	if now.SecretVersion != i.SecretVersion || !slices.Equal(keyIDs(f.app(t)), before) {
		t.Errorf("something changed: %+v, %v", now, keyIDs(f.app(t)))
	}
}
