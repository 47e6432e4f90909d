package entrasim

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// renderWindow renders every event of every stream in [from, to) as visible at asOf, in both shapes where
// there are two, into one byte slice.
func renderWindow(t *testing.T, tn *Tenant, from, to, asOf time.Time) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, name := range StreamNames() {
		st := tn.streams[name]
		sc := newScanner(&scanSpec{streams: []*stream{st}, lo: from.UnixNano(), hi: to.UnixNano() - 1, now: asOf.UnixNano(), desc: true})
		var w jw
		for {
			e, ok := sc.next()
			if !ok {
				break
			}
			w.reset()
			switch v := tn.gen.record(&e).(type) {
			case *signInRec:
				v.writeBeta(&w)
				w.b = append(w.b, '\n')
				v.writeV1(&w)
			case *auditRec:
				v.write(&w)
			case *provRec:
				v.write(&w)
			}
			out.Write(w.b)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func TestSameSeedSameTenant(t *testing.T) {
	tests := []struct {
		name  string
		a, b  Options
		equal bool
	}{
		{"same seed", Options{Seed: 42}, Options{Seed: 42}, true},
		{"same seed, larger size", Options{Seed: 42, Users: 300}, Options{Seed: 42, Users: 300}, true},
		{"other seed", Options{Seed: 42}, Options{Seed: 43}, false},
		{"other size", Options{Seed: 42, Users: 100}, Options{Seed: 42, Users: 101}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			build := func(o Options) *Tenant {
				o.Clock = NewSimClock(testStart)
				o.Verifier = fakeVerifier{}
				tn, err := New(&o)
				if err != nil {
					t.Fatal(err)
				}
				return tn
			}
			a, b := build(tc.a), build(tc.b)
			from, to := testStart.Add(-6*time.Hour), testStart
			ra, rb := renderWindow(t, a, from, to, testStart), renderWindow(t, b, from, to, testStart)
			if len(ra) < 100_000 {
				t.Fatalf("only %d bytes rendered: the window should hold thousands of events", len(ra))
			}
			sameDir := reflect.DeepEqual(a.Users(), b.Users()) && reflect.DeepEqual(a.Applications(), b.Applications()) &&
				reflect.DeepEqual(a.ServicePrincipals(), b.ServicePrincipals())
			sameIDs := a.TenantID() == b.TenantID() && a.ClientID() == b.ClientID() && a.ClientSecret() == b.ClientSecret() &&
				a.TenantDomain() == b.TenantDomain()
			sameLogs := bytes.Equal(ra, rb)
			if tc.equal {
				if !sameDir || !sameIDs || !sameLogs {
					t.Fatalf("same options differ: directory %v, ids %v, logs %v", sameDir, sameIDs, sameLogs)
				}
				return
			}
			if sameLogs {
				t.Fatal("different options rendered identical logs")
			}
		})
	}
}

// The logs are a function of (seed, size, time), not of when the tenant was started: a tenant started
// later sees the same events for the overlapping past.
func TestEventsDoNotDependOnStartTime(t *testing.T) {
	build := func(start time.Time) *Tenant {
		tn, err := New(&Options{Seed: 5, Clock: NewSimClock(start), Verifier: fakeVerifier{}})
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	a, b := build(testStart), build(testStart.Add(5*time.Hour))
	from, to := testStart.Add(-24*time.Hour), testStart.Add(-12*time.Hour)
	asOf := testStart.Add(72 * time.Hour)
	for _, s := range StreamNames() {
		ia, err := a.Truth(s, from, to, asOf)
		if err != nil {
			t.Fatal(err)
		}
		ib, _ := b.Truth(s, from, to, asOf)
		if len(ia) == 0 || !reflect.DeepEqual(ia, ib) {
			t.Fatalf("%s: %d vs %d ids", s, len(ia), len(ib))
		}
	}
}

func TestDirectory(t *testing.T) {
	tn, err := New(&Options{Seed: 9, Users: 200, Apps: 12, ManagedIdentities: 4, Clock: NewSimClock(testStart), Verifier: fakeVerifier{}})
	if err != nil {
		t.Fatal(err)
	}
	users := tn.Users()
	if len(users) != 200 {
		t.Fatalf("%d users", len(users))
	}
	var guests, admins, disabled int
	upns, ids := map[string]bool{}, map[string]bool{}
	for _, u := range users {
		if upns[strings.ToLower(u.UserPrincipalName)] || ids[u.ID] {
			t.Fatalf("duplicate user %s %s", u.UserPrincipalName, u.ID)
		}
		upns[strings.ToLower(u.UserPrincipalName)], ids[u.ID] = true, true
		if !strings.HasSuffix(u.UserPrincipalName, "@"+tn.TenantDomain()) {
			t.Errorf("UPN %s not in the tenant domain", u.UserPrincipalName)
		}
		switch {
		case u.UserType == "Guest":
			guests++
			if !strings.Contains(u.UserPrincipalName, "#EXT#@") || u.HomeTenantID == tn.TenantID() {
				t.Errorf("guest %s: UPN without #EXT# or home tenant is this tenant", u.UserPrincipalName)
			}
		case u.Admin:
			admins++
		}
		if !u.AccountEnabled {
			disabled++
		}
	}
	if guests != 20 || admins != 4 || disabled != 10 {
		t.Errorf("guests %d admins %d disabled %d, want 20, 4, 10", guests, admins, disabled)
	}
	apps := tn.Applications()
	if len(apps) != 13 {
		t.Fatalf("%d applications, want 12 + the integration's", len(apps))
	}
	sps := tn.ServicePrincipals()
	if len(sps) != 13+4 {
		t.Fatalf("%d service principals", len(sps))
	}
	for i, a := range apps {
		if sps[i].AppID != a.AppID || sps[i].ServicePrincipalType != "Application" {
			t.Fatalf("service principal %d does not belong to app %s", i, a.DisplayName)
		}
	}
	for _, sp := range sps[13:] {
		if sp.ServicePrincipalType != "ManagedIdentity" || !strings.HasPrefix(sp.AlternativeNames[1], "/subscriptions/") {
			t.Errorf("managed identity %+v", sp)
		}
	}
	integration := apps[len(apps)-1]
	if integration.AppID != tn.ClientID() || integration.DisplayName != IntegrationAppName {
		t.Fatalf("integration app %+v", integration)
	}
	secret := integration.PasswordCredentials[0]
	if secret.SecretText != tn.ClientSecret() || secret.KeyID != tn.SecretID() || secret.Hint != tn.ClientSecret()[:3] {
		t.Fatalf("integration secret %+v", secret)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{3}[0-9]Q~[A-Za-z0-9_.~-]{34}$`).MatchString(secret.SecretText) {
		t.Errorf("secret %q does not look like an Entra client secret", secret.SecretText)
	}
	if !secret.StartDateTime.Before(testStart) || !secret.EndDateTime.After(testStart.Add(170*24*time.Hour)) {
		t.Errorf("secret validity %s – %s", secret.StartDateTime, secret.EndDateTime)
	}
	if !reflect.DeepEqual(integration.Roles, ReadOnlyRoles()) {
		t.Errorf("integration roles %v", integration.Roles)
	}
	if got, ok := tn.dir.resolveTenant(strings.ToUpper(tn.TenantDomain())); !ok || got != tn.TenantID() {
		t.Errorf("domain does not resolve to the tenant")
	}

	added, err := tn.AddApp("No permissions", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tn.appByClientID(added.AppID); !ok || got.PasswordCredentials[0].SecretText == "" {
		t.Fatal("added app not found or without secret")
	}
	if sps := tn.ServicePrincipals(); sps[len(tn.Applications())-1].AppID != added.AppID {
		t.Fatal("added app's service principal is not aligned with it")
	}
	if _, err := tn.AddApp("bad", []string{"Nope.Read.All"}); err == nil {
		t.Fatal("AddApp accepted an unknown permission")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative users", Options{Users: -1}, "Users"},
		{"late share", Options{LateShare: 2}, "LateShare"},
		{"scale", Options{ThrottleScale: -1}, "ThrottleScale"},
		{"non-premium share", Options{NonPremiumShare: 1.5}, "NonPremiumShare"},
		{"unknown stream", Options{Streams: map[string]StreamOptions{"signIns.all": {}}}, "unknown stream"},
		{"unknown role", Options{Roles: []string{"AuditLog.Read"}}, "Roles"},
		{"bad fault", Options{Faults: []FaultRule{{Kind: "boom"}}}, "Faults[0]"},
		{"two triggers", Options{Faults: []FaultRule{{Kind: FaultReset, Nth: 1, Every: 2}}}, "at most one"},
		{"fine", Options{Users: 10}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestParseHelpers(t *testing.T) {
	l, err := ParseLicences("p1, Intune,AgentID")
	if err != nil || !reflect.DeepEqual(l, []Licence{LicenceP1, LicenceIntune, LicenceAgentID}) {
		t.Fatalf("ParseLicences: %v %v", l, err)
	}
	if _, err := ParseLicences("E5"); err == nil {
		t.Fatal("ParseLicences accepted E5")
	}
	dists := []struct {
		in   string
		want Dist
	}{
		{"0", Dist{}},
		{"50ms", Dist{Fixed: 50 * time.Millisecond}},
		{"fixed=40ms,jitter=20ms", Dist{Fixed: 40 * time.Millisecond, Jitter: 20 * time.Millisecond}},
		{"median=80ms,sigma=0.6,max=2s", Dist{Median: 80 * time.Millisecond, Sigma: 0.6, Max: 2 * time.Second}},
	}
	for _, d := range dists {
		got, err := ParseDist(d.in)
		if err != nil || got != d.want {
			t.Errorf("ParseDist(%q) = %+v, %v", d.in, got, err)
		}
		back, err := ParseDist(got.String())
		if err != nil || back != got {
			t.Errorf("ParseDist(String()) round trip of %q: %+v %v", d.in, back, err)
		}
	}
	for _, bad := range []string{"fast", "fixed=-1s", "speed=1s"} {
		if _, err := ParseDist(bad); err == nil {
			t.Errorf("ParseDist(%q) accepted", bad)
		}
	}
	r := newRNG(1)
	d := Dist{Fixed: time.Second, Jitter: time.Second, Max: 1500 * time.Millisecond}
	for i := 0; i < 1000; i++ {
		if v := d.sample(r); v < time.Second || v > 1500*time.Millisecond {
			t.Fatalf("sample %s outside [1s, 1.5s]", v)
		}
	}
}

func TestSimClock(t *testing.T) {
	c := NewSimClock(testStart)
	if !c.Now().Equal(testStart) || !c.Advance(time.Hour).Equal(testStart.Add(time.Hour)) || !c.Now().Equal(testStart.Add(time.Hour)) {
		t.Fatal("stopped clock")
	}
	c.Set(testStart.Add(-time.Hour))
	if !c.Now().Equal(testStart.Add(-time.Hour)) {
		t.Fatal("Set")
	}
	r := NewRunningSimClock(testStart)
	a := r.Now()
	r.Advance(48 * time.Hour)
	b := r.Now()
	if a.Before(testStart) || b.Sub(a) < 48*time.Hour {
		t.Fatalf("running clock: %s then %s", a, b)
	}
	r.Set(testStart)
	if d := r.Now().Sub(testStart); d < 0 || d > time.Minute {
		t.Fatalf("running clock after Set is %s past the set time", d)
	}
}
