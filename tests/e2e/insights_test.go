package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestInsightsMatchTheTenant collects a tenant's sign-ins and directory through the host simulator, lets the
// ComputeInsights timer and the InsightsWork queue function compute the day's insights from the archive, and
// compares them with what the tenant itself says: its directory and signInActivity at the times the archive read
// them, and its own sign-in log for the window the insights cover (read through Graph). Inactive users, MFA
// coverage (from the userRegistrationDetails report the collector archives), SSO coverage and guests must be equal.
func TestInsightsMatchTheTenant(t *testing.T) {
	t.Parallel()
	quiet := entrasim.StreamOptions{Rate: -1}
	env := startScenario(t, scenario.Options{
		Tenant: entrasim.Options{Seed: 41, Users: 160, Apps: 12,
			Streams: map[string]entrasim.StreamOptions{
				// Visible a minute after they happen and never late: everything up to the archive's end was in
				// the archive when it was read, and the tenant's answer now is the same.
				"signIns.interactive":    {Rate: 0.6, LateShare: -1, IngestDelay: entrasim.Dist{Fixed: time.Minute}},
				"signIns.nonInteractive": quiet, "signIns.servicePrincipal": quiet, "signIns.managedIdentity": quiet,
				"directoryAudits": quiet, "provisioning": quiet,
			}},
		Settings: map[string]string{"INSIGHTS_SIGNIN_DAYS": "7"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.ComputeInsights(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := env.Insights(ctx)
	if err != nil || r == nil {
		t.Fatalf("insights = %v, %v", r, err)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("insights.json:\n%s", b)
	for _, inv := range env.Host.Invocations() {
		if inv.Function == "InsightsWork" && !inv.Succeeded() {
			t.Errorf("InsightsWork failed: %s", inv.Failure)
		}
	}
	if r.Date != env.Clock.Now().UTC().Format("2006-01-02") {
		t.Errorf("date %s, want the simulated day", r.Date)
	}

	users := usersAtRound(t, env, r)
	t.Run("inactive users", func(t *testing.T) { checkInactive(t, env, r, users) })
	signIns := tenantSignIns(t, env, r)
	t.Run("MFA coverage", func(t *testing.T) { checkMFA(t, env, r, users) })
	t.Run("SSO coverage", func(t *testing.T) { checkSSO(t, env, r, signIns) })
	t.Run("guests", func(t *testing.T) {
		var total, pending int
		for _, u := range users {
			if u.typ == "Guest" {
				total++
				if u.pending {
					pending++
				}
			}
		}
		if r.Guests.Total != total || r.Guests.PendingAcceptance != pending || total == 0 {
			t.Errorf("guests %d (pending %d), the tenant has %d (pending %d)", r.Guests.Total, r.Guests.PendingAcceptance, total, pending)
		}
	})
}

// tenantUser is a user as the tenant's directory says at the time of the archive's last users round.
type tenantUser struct {
	typ              string
	enabled, pending bool
	created          time.Time
}

func source(t *testing.T, r *insights.Report, dataType string) insights.Source {
	t.Helper()
	for _, s := range r.Sources {
		if s.DataType == dataType {
			return s
		}
	}
	t.Fatalf("insights name no source %s: %+v", dataType, r.Sources)
	return insights.Source{}
}

func usersAtRound(t *testing.T, env *scenario.Env, r *insights.Report) map[string]tenantUser {
	t.Helper()
	src := source(t, r, "users")
	if src.AsOf == nil {
		t.Fatalf("users source %+v", src)
	}
	objs, err := env.Tenant.DirectoryAt("users", *src.AsOf, []string{"userType", "accountEnabled", "createdDateTime", "externalUserState"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tenantUser{}
	for _, o := range objs {
		var u struct {
			UserType       string    `json:"userType"`
			AccountEnabled *bool     `json:"accountEnabled"`
			Created        time.Time `json:"createdDateTime"`
			State          *string   `json:"externalUserState"`
		}
		raw, _ := json.Marshal(o.Props)
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatal(err)
		}
		out[strings.ToLower(o.ID)] = tenantUser{typ: u.UserType, enabled: u.AccountEnabled == nil || *u.AccountEnabled,
			pending: u.State != nil && *u.State == "PendingAcceptance", created: u.Created}
	}
	if len(out) == 0 || r.Users.Total != len(out) {
		t.Errorf("insights count %d users, the tenant has %d", r.Users.Total, len(out))
	}
	return out
}

// checkInactive judges every user of the tenant by the rules of internal/insights (its package documentation),
// from the tenant's signInActivity at the time of the archived snapshot.
func checkInactive(t *testing.T, env *scenario.Env, r *insights.Report, users map[string]tenantUser) {
	in := r.Inactive
	if in.Unavailable != "" || in.AsOf == nil {
		t.Fatalf("inactive: %+v", in)
	}
	activity, err := env.Tenant.SignInActivityAt(*in.AsOf)
	if err != nil {
		t.Fatal(err)
	}
	dec2023 := time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]insights.InactiveCounts{}
	var disabled, pending, noRow, approx int
	seen := map[string]*entrasim.SignInActivity{}
	rows := map[string]bool{}
	for _, a := range activity {
		id := strings.ToLower(a.UserID)
		seen[id], rows[id] = a.Activity, true
	}
	for id, u := range users {
		switch {
		case !u.enabled:
			disabled++
			continue
		case u.typ == "Guest" && u.pending:
			pending++
			continue
		case !rows[id]:
			noRow++
			continue
		}
		a := seen[id]
		var last time.Time
		if a != nil {
			switch {
			case a.LastSuccessfulSignInDateTime != nil:
				last = *a.LastSuccessfulSignInDateTime
			default:
				var attempt time.Time
				for _, p := range []*time.Time{a.LastSignInDateTime, a.LastNonInteractiveSignInDateTime} {
					if p != nil && p.After(attempt) {
						attempt = *p
					}
				}
				if !attempt.IsZero() {
					approx++
					last = attempt
					if !attempt.Before(dec2023) {
						last = dec2023
					}
				}
			}
		}
		c := want[u.typ]
		c.Users++
		age := in.AsOf.Sub(last)
		if last.IsZero() {
			c.NeverSignedIn++
			age = in.AsOf.Sub(u.created)
		}
		if age > 90*24*time.Hour {
			c.Inactive++
		}
		if age > 30*24*time.Hour {
			c.Expired++
		}
		want[u.typ] = c
	}
	var total insights.InactiveCounts
	for typ, c := range want {
		if in.ByUserType[typ] != c {
			t.Errorf("%s: insights %+v, the tenant %+v", typ, in.ByUserType[typ], c)
		}
		total.Users += c.Users
		total.Inactive += c.Inactive
		total.Expired += c.Expired
		total.NeverSignedIn += c.NeverSignedIn
	}
	t.Logf("tenant: %+v; %d disabled, %d pending guests, %d without a row, %d approximate", total, disabled, pending, noRow, approx)
	if in.Totals != total || in.Disabled != disabled || in.PendingGuests != pending || in.NoActivityRow != noRow || in.Approximate != approx {
		t.Errorf("insights %+v disabled %d pending %d noRow %d approx %d; tenant %+v %d %d %d %d", in.Totals, in.Disabled,
			in.PendingGuests, in.NoActivityRow, in.Approximate, total, disabled, pending, noRow, approx)
	}
	// The comparison means something only if the tenant has users on both sides of the thresholds.
	if total.Inactive == 0 || total.Inactive == total.Users || total.NeverSignedIn == 0 || approx == 0 {
		t.Errorf("the tenant's users do not straddle the thresholds: %+v", total)
	}
}

// signIn is what the comparisons need of one of the tenant's sign-ins.
type signIn struct {
	UserID      string `json:"userId"`
	AppID       string `json:"appId"`
	Requirement string `json:"authenticationRequirement"`
	Status      struct {
		ErrorCode int `json:"errorCode"`
	} `json:"status"`
}

// tenantSignIns reads, through Graph, the tenant's interactive sign-ins of the window the insights cover: from
// their start to the end of the archived range (the insights read what was archived; nothing was collected since).
func tenantSignIns(t *testing.T, env *scenario.Env, r *insights.Report) []signIn {
	t.Helper()
	cur, err := env.Cursor(context.Background(), "signIns.interactive")
	if err != nil {
		t.Fatal(err)
	}
	from, to := r.SSO.From, cur.High
	if !from.Before(to) || to.After(r.ComputedAt) {
		t.Fatalf("window %s .. %s, computed %s", from, to, r.ComputedAt)
	}
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("signInEventTypes/any(t: t eq 'interactiveUser') and createdDateTime ge %s and createdDateTime lt %s",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	var out []signIn
	seen := map[string]bool{}
	_, err = g.Pages(context.Background(), "/beta/auditLogs/signIns?$top=1000&$filter="+url.PathEscape(filter), func(it graph.Item) error {
		var s struct {
			ID string `json:"id"`
			signIn
		}
		if err := json.Unmarshal(it.Raw, &s); err != nil {
			return err
		}
		if !seen[s.ID] { // Pages may repeat a page read again after a failure
			seen[s.ID] = true
			out = append(out, s.signIn)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 30 {
		t.Fatalf("the tenant has %d interactive sign-ins in the window: too few to compare", len(out))
	}
	t.Logf("the tenant's interactive sign-ins %s .. %s: %d", from.Format(time.RFC3339), to.Format(time.RFC3339), len(out))
	return out
}

// checkMFA compares MFA coverage with the tenant's userRegistrationDetails report as the archive's round read it:
// the collector archives that report, so the insights count registration, not MFA performed in sign-ins (the
// fallback without the report is covered by internal/insights' tests).
func checkMFA(t *testing.T, env *scenario.Env, r *insights.Report, users map[string]tenantUser) {
	m := r.MFA
	if m.Source != "userRegistrationDetails" || m.Registration == nil || m.SignIns != nil {
		t.Fatalf("mfa = %+v", m)
	}
	src := source(t, r, "userRegistrationDetails")
	if src.AsOf == nil || !src.AsOf.Equal(m.Registration.AsOf) {
		t.Fatalf("userRegistrationDetails source %+v, coverage as of %s", src, m.Registration.AsOf)
	}
	served, err := env.Tenant.SnapshotAt("userRegistrationDetails", *src.AsOf)
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[string]map[string]json.RawMessage, len(served))
	for id, p := range served {
		rows[strings.ToLower(id)] = p
	}
	flag := func(row map[string]json.RawMessage, name string) bool {
		var v bool
		if err := json.Unmarshal(row[name], &v); err != nil {
			t.Fatalf("userRegistrationDetails %s: %v", name, err)
		}
		return v
	}
	want := insights.RegistrationCoverage{AsOf: *src.AsOf}
	admins, adminsWithout := 0, 0
	for id, u := range users {
		row := rows[id]
		if row != nil && flag(row, "isAdmin") {
			admins++
			if !flag(row, "isMfaCapable") {
				adminsWithout++
			}
		}
		if !u.enabled {
			continue
		}
		want.Users++
		if row == nil {
			want.NoRow++
			continue
		}
		want.Registered += b2i(flag(row, "isMfaRegistered"))
		want.Capable += b2i(flag(row, "isMfaCapable"))
		want.Passwordless += b2i(flag(row, "isPasswordlessCapable"))
	}
	if *m.Registration != want || m.Admins != admins || m.AdminsWithoutMFA != adminsWithout {
		t.Errorf("MFA coverage: insights %+v (admins %d, without MFA %d), the tenant %+v (admins %d, without MFA %d)",
			*m.Registration, m.Admins, m.AdminsWithoutMFA, want, admins, adminsWithout)
	}
	if want.Registered == 0 || want.Registered == want.Users {
		t.Errorf("the tenant's registrations do not exercise both sides: %+v", want)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkSSO(t *testing.T, env *scenario.Env, r *insights.Report, signIns []signIn) {
	src := source(t, r, "servicePrincipals")
	sps, err := env.Tenant.DirectoryAt("servicePrincipals", *src.AsOf, []string{"appId", "servicePrincipalType", "preferredSingleSignOnMode"})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, s := range signIns {
		if s.Status.ErrorCode == 0 {
			used[s.AppID] = true
		}
	}
	known, withSignIns := 0, 0
	modes := map[string]int{}
	for _, o := range sps {
		var sp struct {
			AppID string  `json:"appId"`
			Type  string  `json:"servicePrincipalType"`
			Mode  *string `json:"preferredSingleSignOnMode"`
		}
		raw, _ := json.Marshal(o.Props)
		if err := json.Unmarshal(raw, &sp); err != nil {
			t.Fatal(err)
		}
		if sp.Type != "Application" {
			continue
		}
		known++
		mode := "none"
		if sp.Mode != nil && *sp.Mode != "" {
			mode = *sp.Mode
		}
		modes[mode]++
		if used[sp.AppID] {
			withSignIns++
		}
	}
	if r.SSO.AppsKnown != known || r.SSO.AppsWithSignIns != withSignIns || withSignIns == 0 {
		t.Errorf("SSO: insights %d known, %d with sign-ins; the tenant %d, %d", r.SSO.AppsKnown, r.SSO.AppsWithSignIns, known, withSignIns)
	}
	for _, mc := range r.SSO.ByMode {
		if mc.Apps != modes[mc.Mode] {
			t.Errorf("SSO mode %s: insights %d apps, the tenant %d", mc.Mode, mc.Apps, modes[mc.Mode])
		}
	}
}
