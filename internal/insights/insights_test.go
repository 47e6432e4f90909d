package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// now is the computation time; snap the time of the signInActivity snapshot the thresholds are measured from.
var (
	now  = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	snap = now.Add(-6 * time.Hour)
)

const integ = "contoso"

func uid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func newArchive(t testing.TB) *archive.Store {
	t.Helper()
	client, err := azurite.Shared(t).BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	s := archive.New(client, azurite.UniqueName(t, "ins"))
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeRound archives a finished round of a data type: one part per slice of records, then the manifest.
func writeRound(t testing.TB, s *archive.Store, dataType string, kind archive.RoundKind, start time.Time, parts ...[]string) {
	t.Helper()
	ctx := context.Background()
	r := archive.Round{Integration: integ, DataType: dataType, Kind: kind, Start: start}
	m := archive.Manifest{Full: kind == archive.SnapshotRound, Finished: start.Add(time.Minute)}
	for n, recs := range parts {
		p := s.NewPart(r, n, "graph", string(kind))
		for _, rec := range recs {
			if err := p.Add(ctx, []byte(rec), start, "req-1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		m.Parts = append(m.Parts, archive.ManifestPart{Name: p.Name(), Records: p.Records(), SHA256: p.SHA256(), Size: p.Size()})
		m.Records += p.Records()
	}
	if err := s.WriteManifest(ctx, r, m); err != nil {
		t.Fatal(err)
	}
}

// writeBucket archives one part of a sign-in bucket.
func writeBucket(t testing.TB, s *archive.Store, start time.Time, recs ...string) {
	t.Helper()
	ctx := context.Background()
	b := archive.Bucket{Integration: integ, DataType: signInsType, Start: start, End: start.Add(15 * time.Minute)}
	p := s.NewPart(b, 0, "graph", "initial")
	for _, rec := range recs {
		if err := p.Add(ctx, []byte(rec), start, "req-2"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

type userSpec struct {
	n        int
	typ      string
	enabled  bool
	created  time.Duration // before now
	pending  time.Duration // guest pending acceptance since (0: accepted)
	name     string
	activity string // the signInActivity value; "" for no row
}

func userRecord(u userSpec) string {
	ext, changed := "null", "null"
	if u.typ == "Guest" {
		ext, changed = `"Accepted"`, fmt.Sprintf("%q", ts(now.Add(-u.created)))
		if u.pending > 0 {
			ext, changed = `"PendingAcceptance"`, fmt.Sprintf("%q", ts(now.Add(-u.pending)))
		}
	}
	name := u.name
	if name == "" {
		name = fmt.Sprintf("User %d", u.n)
	}
	b, _ := json.Marshal(name)
	return fmt.Sprintf(`{"@odata.type":"#microsoft.graph.user","id":%q,"displayName":%s,"userPrincipalName":"u%d@contoso.example","userType":%q,"accountEnabled":%v,"createdDateTime":%q,"externalUserState":%s,"externalUserStateChangeDateTime":%s}`,
		uid(u.n), b, u.n, u.typ, u.enabled, ts(now.Add(-u.created)), ext, changed)
}

// activity renders a signInActivity value: last successful, interactive and non-interactive sign-ins (zero: null).
func activity(success, interactive, nonInteractive time.Time) string {
	v := func(t time.Time) string {
		if t.IsZero() {
			return "null"
		}
		return fmt.Sprintf("%q", ts(t))
	}
	return fmt.Sprintf(`{"lastSignInDateTime":%s,"lastSignInRequestId":null,"lastNonInteractiveSignInDateTime":%s,"lastNonInteractiveSignInRequestId":null,"lastSuccessfulSignInDateTime":%s,"lastSuccessfulSignInRequestId":null}`,
		v(interactive), v(nonInteractive), v(success))
}

func ago(d time.Duration) time.Time { return snap.Add(-d) }

// The tenant of the fixture, and what each user is for.
var users = []userSpec{
	{n: 1, typ: "Member", enabled: true, created: days(400), activity: activity(ago(days(100)), ago(days(100)), time.Time{})}, // inactive, expired
	{n: 2, typ: "Member", enabled: true, created: days(400), activity: activity(ago(days(40)), time.Time{}, ago(days(40)))},   // expired
	{n: 3, typ: "Member", enabled: true, created: days(400), activity: activity(ago(days(10)), ago(days(10)), ago(days(1)))},  // active
	{n: 4, typ: "Member", enabled: true, created: days(200), activity: "null"},                                                // never, inactive, expired
	{n: 5, typ: "Member", enabled: true, created: days(10), activity: "null"},                                                 // never, too new to judge
	{n: 6, typ: "Member", enabled: true, created: days(1500), activity: activity(time.Time{}, time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC), time.Time{})},
	{n: 7, typ: "Member", enabled: true, created: days(1500), activity: activity(time.Time{}, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Time{})},
	{n: 8, typ: "Member", enabled: false, created: days(400), activity: activity(ago(days(300)), ago(days(300)), time.Time{})}, // disabled
	{n: 9, typ: "Guest", enabled: true, created: days(60), pending: days(60), activity: "null"},                                // pending guest
	{n: 10, typ: "Guest", enabled: true, created: days(300), name: "<img src=x onerror=alert(1)>", activity: activity(ago(days(95)), ago(days(95)), time.Time{})},
	{n: 11, typ: "Member", enabled: true, created: days(400), activity: "null"}, // in an excluded group (nested)
	{n: 12, typ: "Member", enabled: true, created: days(400)},                   // no signInActivity row
	{n: 13, typ: "Member", enabled: true, created: days(400), activity: "null"}, // deleted by the delta round
	{n: 14, typ: "Member", enabled: true, created: days(400), activity: "null"}, // disabled by the delta round
}

const (
	appA = "aaaaaaaa-0000-0000-0000-000000000001"
	appB = "aaaaaaaa-0000-0000-0000-000000000002"
	appC = "aaaaaaaa-0000-0000-0000-000000000003"
	appD = "aaaaaaaa-0000-0000-0000-000000000004"
	appE = "aaaaaaaa-0000-0000-0000-000000000005"
	appX = "aaaaaaaa-0000-0000-0000-0000000000ff"
)

func sp(n int, appID, typ, mode string) string {
	m := "null"
	if mode != "" {
		m = fmt.Sprintf("%q", mode)
	}
	return fmt.Sprintf(`{"id":"bbbbbbbb-0000-0000-0000-%012d","appId":%q,"displayName":"App %d","servicePrincipalType":%q,"preferredSingleSignOnMode":%s,"appOwnerOrganizationId":"cccccccc-0000-0000-0000-000000000000"}`, n, appID, n, typ, m)
}

func signIn(user int, appID string, errorCode int, requirement string, methods ...string) string {
	var steps []string
	for _, m := range methods {
		steps = append(steps, fmt.Sprintf(`{"authenticationMethod":%q,"succeeded":%v,"authenticationStepRequirement":"Primary authentication"}`, m, errorCode == 0))
	}
	return fmt.Sprintf(`{"id":"si-%d-%s-%d","createdDateTime":%q,"userId":%q,"appId":%q,"appDisplayName":"Sign-in app","status":{"errorCode":%d,"failureReason":null},"authenticationRequirement":%q,"authenticationDetails":[%s]}`,
		user, appID[len(appID)-2:], errorCode, ts(now.Add(-days(2))), uid(user), appID, errorCode, requirement, strings.Join(steps, ","))
}

// fixture archives the tenant: users (a full round and a delta round), groups, the signInActivity snapshot, role
// assignments, service principals, two days of interactive sign-ins (and one part outside the window), and the
// registration report when registration is true.
func fixture(t testing.TB, s *archive.Store, registration bool) {
	t.Helper()
	full := now.Add(-48 * time.Hour)
	var recs, acts []string
	for _, u := range users {
		recs = append(recs, userRecord(u))
		if u.activity != "" {
			acts = append(acts, fmt.Sprintf(`{"id":%q,"userPrincipalName":"u%d@contoso.example","userType":%q,"signInActivity":%s}`, uid(u.n), u.n, u.typ, u.activity))
		}
	}
	writeRound(t, s, usersType, archive.SnapshotRound, full, recs[:7], recs[7:])
	u14 := users[13]
	u14.enabled = false
	writeRound(t, s, usersType, archive.DeltaRound, full.Add(time.Hour),
		[]string{fmt.Sprintf(`{"id":%q,"@removed":{"reason":"changed"}}`, uid(13)), userRecord(u14)})
	writeRound(t, s, "groups", archive.SnapshotRound, full, []string{
		`{"id":"dddddddd-0000-0000-0000-000000000001","displayName":"Break glass","members@delta":[{"@odata.type":"#microsoft.graph.group","id":"dddddddd-0000-0000-0000-000000000002"}]}`,
		fmt.Sprintf(`{"id":"dddddddd-0000-0000-0000-000000000002","displayName":"Nested","members@delta":[{"@odata.type":"#microsoft.graph.user","id":%q}]}`, uid(11)),
	})
	// An older snapshot that must not be read, then the newest.
	writeRound(t, s, activityType, archive.SnapshotRound, snap.Add(-24*time.Hour), []string{fmt.Sprintf(`{"id":%q,"signInActivity":%s}`, uid(4), activity(ago(days(1)), time.Time{}, time.Time{}))})
	writeRound(t, s, activityType, archive.SnapshotRound, snap, acts)
	writeRound(t, s, roleAssignments, archive.SnapshotRound, snap, []string{
		fmt.Sprintf(`{"id":"ra1","principalId":%q,"roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10"}`, uid(1)),
		fmt.Sprintf(`{"id":"ra2","principalId":%q,"roleDefinitionId":"fe930be7-5e62-47db-91af-98c3a49a38b1"}`, uid(3)),
		`{"id":"ra3","principalId":"bbbbbbbb-0000-0000-0000-000000000004","roleDefinitionId":"f2ef992c-3afb-46b9-b7cf-a126ee74c451"}`,
	})
	writeRound(t, s, servicePrincipals, archive.SnapshotRound, full, []string{
		sp(1, appA, "Application", "saml"), sp(2, appB, "Application", ""), sp(3, appC, "Application", "oidc"),
		sp(4, appD, "ManagedIdentity", ""), sp(5, appE, "Application", "notSupported"),
	})
	writeRound(t, s, servicePrincipals, archive.DeltaRound, full.Add(time.Hour), []string{sp(5, appE, "Application", "password")})
	writeBucket(t, s, now.Add(-days(2)),
		signIn(3, appA, 0, "multiFactorAuthentication", "Password", "Mobile app notification"),
		signIn(3, appB, 0, "singleFactorAuthentication", "Password"),
		signIn(2, appA, 0, "singleFactorAuthentication", "Password"),
		signIn(1, appC, 50126, "singleFactorAuthentication", "Password"),
		signIn(1, appB, 0, "singleFactorAuthentication", "Password"),
		signIn(5, appA, 0, "singleFactorAuthentication", "Password"),
		signIn(11, appA, 0, "multiFactorAuthentication", "Password", "Mobile app notification"), // excluded user
	)
	writeBucket(t, s, now.Add(-days(1)), signIn(10, appX, 0, "multiFactorAuthentication", "FIDO2 security key"))
	// Outside the 30-day window: would make user 4 signed in with MFA and app E used.
	writeBucket(t, s, now.Add(-days(40)), signIn(4, appE, 0, "multiFactorAuthentication", "Password", "Mobile app notification"))
	if registration {
		reg := func(n int, admin, registered, capable, passwordless bool) string {
			return fmt.Sprintf(`{"id":%q,"userPrincipalName":"u%d@contoso.example","isAdmin":%v,"isMfaRegistered":%v,"isMfaCapable":%v,"isPasswordlessCapable":%v,"userType":"member"}`,
				uid(n), n, admin, registered, capable, passwordless)
		}
		writeRound(t, s, registrationType, archive.SnapshotRound, snap.Add(time.Hour), []string{
			reg(1, true, true, true, false), reg(2, true, true, false, false), reg(3, false, true, true, true),
			reg(10, false, false, false, false), reg(11, false, true, true, true),
		})
	}
}

var contoso = integrations.Integration{ID: integ, ExcludedGroups: []string{"DDDDDDDD-0000-0000-0000-000000000001"}}

func compute(t *testing.T, s *archive.Store, i integrations.Integration) *Report {
	t.Helper()
	r, err := Compute(context.Background(), s, i, Options{}, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestInsightsFromArchive checks every figure against the fixture's hand-counted truth, with the registration
// report and without it (MFA from the sign-ins).
func TestInsightsFromArchive(t *testing.T) {
	t.Parallel()
	withReg, withoutReg := newArchive(t), newArchive(t)
	fixture(t, withReg, true)
	fixture(t, withoutReg, false)

	for _, tc := range []struct {
		name  string
		store *archive.Store
		check func(t *testing.T, r *Report)
	}{
		{"registration report", withReg, func(t *testing.T, r *Report) {
			m := r.MFA
			check(t, "mfa source", m.Source, "userRegistrationDetails")
			if m.Registration == nil || m.SignIns != nil {
				t.Fatalf("mfa = %+v", m)
			}
			want := RegistrationCoverage{AsOf: snap.Add(time.Hour), Users: 10, Registered: 3, Capable: 2, Passwordless: 1, NoRow: 6}
			check(t, "registration", *m.Registration, want)
			// Admins: users 1 and 3 (role assignments), 2 (isAdmin); user 2 is not MFA capable.
			check(t, "admins", m.Admins, 3)
			check(t, "admins without MFA", m.AdminsWithoutMFA, 1)
			if len(m.AdminList) != 1 || m.AdminList[0].ID != uid(2) || m.AdminList[0].UserPrincipalName != "u2@contoso.example" {
				t.Errorf("admin list = %+v", m.AdminList)
			}
		}},
		{"sign-ins", withoutReg, func(t *testing.T, r *Report) {
			m := r.MFA
			check(t, "mfa source", m.Source, "signIns")
			if m.SignIns == nil || m.Registration != nil {
				t.Fatalf("mfa = %+v", m)
			}
			want := SignInCoverage{From: time.Date(2025, 12, 11, 0, 0, 0, 0, time.UTC), To: now, Users: 10, SignedIn: 5, PerformedMFA: 2, SingleFactorOnly: 3, Passwordless: 1}
			check(t, "sign-in coverage", *m.SignIns, want)
			// Admins 1 and 3 (role assignments): 1 signed in without MFA.
			check(t, "admins", m.Admins, 2)
			check(t, "admins without MFA", m.AdminsWithoutMFA, 1)
			if len(m.AdminList) != 1 || m.AdminList[0].ID != uid(1) {
				t.Errorf("admin list = %+v", m.AdminList)
			}
			if src := findSource(r, registrationType); src == nil || !strings.Contains(src.Missing, "falls back") {
				t.Errorf("registration source = %+v, want it named as missing", src)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := compute(t, tc.store, contoso)
			tc.check(t, r)
			// The same in both: the directory, inactivity, SSO and guests.
			check(t, "date", r.Date, "2026-01-10")
			check(t, "excluded users", r.Exclusions.Users, 1)
			check(t, "users total", r.Users.Total, 12)
			check(t, "users enabled", r.Users.Enabled, 10)
			check(t, "members", r.Users.ByUserType["Member"], 10)
			check(t, "guests", r.Users.ByUserType["Guest"], 2)

			in := r.Inactive
			if in.Unavailable != "" || in.AsOf == nil || !in.AsOf.Equal(snap) {
				t.Fatalf("inactive = %+v", in)
			}
			check(t, "totals", in.Totals, InactiveCounts{Users: 8, Inactive: 5, Expired: 6, NeverSignedIn: 2})
			check(t, "members", in.ByUserType["Member"], InactiveCounts{Users: 7, Inactive: 4, Expired: 5, NeverSignedIn: 2})
			check(t, "guests", in.ByUserType["Guest"], InactiveCounts{Users: 1, Inactive: 1, Expired: 1})
			check(t, "disabled", in.Disabled, 2)
			check(t, "pending guests", in.PendingGuests, 1)
			check(t, "no activity row", in.NoActivityRow, 1)
			check(t, "approximate", in.Approximate, 2)
			var order []string
			for _, u := range in.Longest {
				order = append(order, u.ID)
			}
			check(t, "longest inactive", strings.Join(order, ","), strings.Join([]string{uid(4), uid(6), uid(7), uid(1), uid(10)}, ","))
			if in.Longest[4].DisplayName != "<img src=x onerror=alert(1)>" || in.Longest[4].UserType != "Guest" ||
				in.Longest[0].LastActivity != nil || in.Longest[3].LastActivity == nil || !in.Longest[3].LastActivity.Equal(ago(days(100))) {
				t.Errorf("longest = %+v", in.Longest)
			}

			s := r.SSO
			check(t, "apps known", s.AppsKnown, 4)
			check(t, "apps with sign-ins", s.AppsWithSignIns, 2)
			check(t, "unknown apps", s.UnknownApps, 1)
			got, _ := json.Marshal(s.ByMode)
			check(t, "by mode", string(got), `[{"mode":"saml","apps":1,"appsWithSignIns":1,"signIns":3},{"mode":"oidc","apps":1,"appsWithSignIns":0,"signIns":0},`+
				`{"mode":"password","apps":1,"appsWithSignIns":0,"signIns":0},{"mode":"notSupported","apps":0,"appsWithSignIns":0,"signIns":0},`+
				`{"mode":"none","apps":1,"appsWithSignIns":1,"signIns":2}]`)
			if len(s.Top) != 2 || s.Top[0].AppID != appA || s.Top[0].SignIns != 3 || s.Top[1].AppID != appB || s.Top[1].DisplayName != "App 2" {
				t.Errorf("top apps = %+v", s.Top)
			}
			check(t, "denominator", strings.Contains(s.Denominator, "apps known to Entra"), true)

			g := r.Guests
			if g.Inactive == nil || g.NeverSignedIn == nil {
				t.Fatalf("guests = %+v", g)
			}
			check(t, "guests", Guests{Total: g.Total, Enabled: g.Enabled, PendingAcceptance: g.PendingAcceptance, PendingOver30Days: g.PendingOver30Days},
				Guests{Total: 2, Enabled: 2, PendingAcceptance: 1, PendingOver30Days: 1})
			check(t, "inactive guests", *g.Inactive, 1)
			check(t, "never signed-in guests", *g.NeverSignedIn, 0)
			if len(r.Caveats) < 3 {
				t.Errorf("caveats = %q", r.Caveats)
			}
		})
	}
}

func findSource(r *Report, dataType string) *Source {
	for i := range r.Sources {
		if r.Sources[i].DataType == dataType {
			return &r.Sources[i]
		}
	}
	return nil
}

// TestExclusions: excluded guests leave every count, the guest report says why; excluded groups without an
// archived groups round stop the computation rather than count users that must be left out.
func TestExclusions(t *testing.T) {
	t.Parallel()
	s := newArchive(t)
	fixture(t, s, false)
	noGuests := contoso
	noGuests.ExcludeGuests = true
	r := compute(t, s, noGuests)
	check(t, "excluded users", r.Exclusions.Users, 3)
	check(t, "users total", r.Users.Total, 10)
	check(t, "guests in users", r.Users.ByUserType["Guest"], 0)
	check(t, "judged", r.Inactive.Totals, InactiveCounts{Users: 7, Inactive: 4, Expired: 5, NeverSignedIn: 2})
	if !strings.Contains(r.Guests.Unavailable, "excludeGuests") {
		t.Errorf("guests = %+v", r.Guests)
	}
	// The guest's passwordless sign-in is gone with it.
	check(t, "passwordless", r.MFA.SignIns.Passwordless, 0)

	// No exclusion at all: user 11 counts.
	r = compute(t, s, integrations.Integration{ID: integ})
	check(t, "excluded users", r.Exclusions.Users, 0)
	check(t, "users total", r.Users.Total, 13)
	check(t, "app A sign-ins", r.SSO.Top[0].SignIns, 4)

	empty := newArchive(t)
	writeRound(t, empty, usersType, archive.SnapshotRound, now.Add(-time.Hour), []string{userRecord(users[0])})
	if _, err := Compute(context.Background(), empty, contoso, Options{}, now); !errors.Is(err, ErrExcludedGroupsUnknown) {
		t.Errorf("Compute without groups = %v, want ErrExcludedGroupsUnknown", err)
	}
}

// TestMissingData: an empty archive gives a report that says what is missing, section by section; a tenant
// without P1/P2 (no signInActivity, no sign-ins) still gets its directory and guest figures.
func TestMissingData(t *testing.T) {
	t.Parallel()
	s := newArchive(t)
	r := compute(t, s, integrations.Integration{ID: integ})
	for what, got := range map[string]string{"users": r.Users.Unavailable, "inactive": r.Inactive.Unavailable,
		"mfa": r.MFA.Unavailable, "sso": r.SSO.Unavailable, "guests": r.Guests.Unavailable} {
		if !strings.Contains(got, "no finished full round of users") {
			t.Errorf("%s unavailable = %q", what, got)
		}
	}
	writeRound(t, s, usersType, archive.SnapshotRound, now.Add(-time.Hour), []string{userRecord(users[0]), userRecord(users[9])})
	r = compute(t, s, integrations.Integration{ID: integ})
	check(t, "users", r.Users.Total, 2)
	check(t, "guests", r.Guests.Total, 1)
	if !strings.Contains(r.Inactive.Unavailable, "P1/P2") || r.Guests.Inactive != nil {
		t.Errorf("inactive = %q, guests = %+v", r.Inactive.Unavailable, r.Guests)
	}
	if !strings.Contains(r.MFA.Unavailable, "no userRegistrationDetails") || !strings.Contains(r.SSO.Unavailable, "servicePrincipals") {
		t.Errorf("mfa = %q, sso = %q", r.MFA.Unavailable, r.SSO.Unavailable)
	}
}

// TestBadRecord: a record that is not what Graph sends fails the computation, naming the data type and the part.
func TestBadRecord(t *testing.T) {
	t.Parallel()
	s := newArchive(t)
	writeRound(t, s, usersType, archive.SnapshotRound, now.Add(-time.Hour), []string{userRecord(users[0]), `{"id":"x","createdDateTime":"yesterday"}`})
	_, err := Compute(context.Background(), s, integrations.Integration{ID: integ}, Options{}, now)
	var re *RecordError
	if !errors.As(err, &re) || re.DataType != usersType || !strings.Contains(re.Part, "type=users/snapshot=") || !strings.Contains(re.Problem, "createdDateTime") {
		t.Fatalf("err = %v, want a RecordError naming users, the part and the field", err)
	}
}

// TestWriteOncePerDay: the first run of a day creates the document; a later computation replaces it; an older
// one (a slow run that started first) never replaces a newer one; Latest reads the newest day.
func TestWriteOncePerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newArchive(t)
	fixture(t, s, false)
	first, outcome, err := Run(ctx, s, contoso, Options{}, now)
	if err != nil || outcome != Created {
		t.Fatalf("first run: %v %v", outcome, err)
	}
	name := Document(integ, now).Name()
	check(t, "name", name, "integration=contoso/type=insights/date=2026-01-10/insights.json")

	later, err := Compute(ctx, s, contoso, Options{InactiveDays: 60}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if outcome, err := Write(ctx, s, later); err != nil || outcome != Replaced {
		t.Fatalf("later run: %v %v", outcome, err)
	}
	if outcome, err := Write(ctx, s, first); err != nil || outcome != KeptNewer {
		t.Fatalf("older run: %v %v", outcome, err)
	}
	got, err := Latest(ctx, s, integ)
	if err != nil || got == nil {
		t.Fatalf("Latest = %v, %v", got, err)
	}
	check(t, "kept threshold", got.Inactive.ThresholdDays, 60)

	// Concurrent runs of the same day: one document, the newest computation, valid JSON.
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			r := *later
			r.ComputedAt = later.ComputedAt.Add(time.Duration(i+1) * time.Minute)
			_, err := Write(ctx, s, &r)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err = Latest(ctx, s, integ)
	if err != nil || !got.ComputedAt.Equal(later.ComputedAt.Add(4*time.Minute)) {
		t.Fatalf("after concurrent runs: %+v, %v", got, err)
	}

	next, err := Compute(ctx, s, contoso, Options{}, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, s, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := Latest(ctx, s, integ); got == nil || got.Date != "2026-01-11" {
		t.Errorf("Latest = %+v, want the newest day", got)
	}
	if got, _ := Latest(ctx, s, "other"); got != nil {
		t.Errorf("Latest of an integration without insights = %+v", got)
	}
}

func TestLastActivity(t *testing.T) {
	dec := uint32(successfulSince.Unix())
	for _, tc := range []struct {
		name                     string
		success, inter, nonInter uint32
		wantLast                 uint32
		wantApprox               bool
	}{
		{"success", 2_000_000_000, 2_000_000_100, 0, 2_000_000_000, false},
		{"never", 0, 0, 0, 0, false},
		{"attempt before December 2023", 0, dec - 100, dec - 50, dec - 50, true},
		{"failed attempts since December 2023", 0, dec + 100, 0, dec, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last, approx := lastActivity(&user{success: tc.success, interactive: tc.inter, nonInter: tc.nonInter})
			if last != tc.wantLast || approx != tc.wantApprox {
				t.Errorf("lastActivity = %d, %v; want %d, %v", last, approx, tc.wantLast, tc.wantApprox)
			}
		})
	}
	if k := keyOf("8A7F3B2C-1D4E-4F60-9A8B-7C6D5E4F3A2B"); k != keyOf("8a7f3b2c-1d4e-4f60-9a8b-7c6d5e4f3a2b") || k == keyOf("not-a-guid") {
		t.Error("keyOf is not case-insensitive or confuses a non-GUID with a GUID")
	}
}
