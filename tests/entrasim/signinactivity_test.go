package entrasim

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// The tracker picks the user of a sign-in without rendering it; that must be the full record's user.
func TestSignInActivityMemberDerivation(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 111, Users: 90})
	a := tn.activity
	checked := 0
	for _, name := range []string{StreamInteractive, StreamNonInteractive} {
		st := tn.streams[name]
		for k := st.slotOf(tn.Now().UnixNano()) - 50; k < st.slotOf(tn.Now().UnixNano()); k++ {
			for _, e := range st.slotEvents(k, nil) {
				e := e
				m := a.member(&e)
				if got, want := tn.gen.cast.users[tn.gen.cast.members[m]].ID, tn.gen.signIn(&e).userID; got != want {
					t.Fatalf("%s event %x: tracker picks %s, the record says %s", name, e.k0, got, want)
				}
				checked++
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d events checked", checked)
	}
}

// bruteActivity computes every user's signInActivity at asOf from every event of the two user sign-in
// streams, rendering each one — the oracle for the tracker.
func bruteActivity(tn *Tenant, asOf time.Time) map[string]*SignInActivity {
	type best struct {
		ts     int64
		k0, k1 uint64
	}
	newer := func(a, b best) bool { return cmpPos(cursor{a.ts, a.k0, a.k1}, cursor{b.ts, b.k0, b.k1}) > 0 }
	last := map[string]*[3]best{}
	now := asOf.UnixNano()
	for _, name := range []string{StreamInteractive, StreamNonInteractive} {
		st := tn.streams[name]
		for k := st.slotOf(st.histFrom); k <= st.slotOf(now); k++ {
			for _, e := range st.slotEvents(k, nil) {
				e := e
				if e.ts > now || e.vis > now {
					continue
				}
				rec := tn.gen.signIn(&e)
				b := last[rec.userID]
				if b == nil {
					b = &[3]best{}
					last[rec.userID] = b
				}
				cur := best{e.ts, e.k0, e.k1}
				f := 0
				if name == StreamNonInteractive {
					f = 1
				}
				if newer(cur, b[f]) {
					b[f] = cur
				}
				if rec.errorCode == 0 && newer(cur, b[2]) {
					b[2] = cur
				}
			}
		}
	}
	out := map[string]*SignInActivity{}
	for i := range tn.gen.cast.users {
		u := &tn.gen.cast.users[i]
		pre := tn.preHistory(i)
		b := last[u.ID]
		a := &SignInActivity{}
		pick := func(f int, at **time.Time, id *string, preAt *time.Time, preID string) {
			if b != nil && b[f].ts != 0 {
				ts := time.Unix(0, b[f].ts).UTC()
				*at, *id = &ts, signInID(&event{k0: b[f].k0, k1: b[f].k1})
			} else if pre != nil {
				*at, *id = preAt, preID
			}
		}
		var p SignInActivity
		if pre != nil {
			p = *pre
		}
		pick(0, &a.LastSignInDateTime, &a.LastSignInRequestID, p.LastSignInDateTime, p.LastSignInRequestID)
		pick(1, &a.LastNonInteractiveSignInDateTime, &a.LastNonInteractiveSignInRequestID, p.LastNonInteractiveSignInDateTime, p.LastNonInteractiveSignInRequestID)
		pick(2, &a.LastSuccessfulSignInDateTime, &a.LastSuccessfulSignInRequestID, p.LastSuccessfulSignInDateTime, p.LastSuccessfulSignInRequestID)
		if a.LastSignInDateTime == nil && a.LastNonInteractiveSignInDateTime == nil && a.LastSuccessfulSignInDateTime == nil {
			a = nil
		}
		out[u.ID] = a
	}
	return out
}

func activityJSON(a *SignInActivity) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// signInActivity is what the sign-in streams say, at every simulated time: moving forward (incremental),
// jumping ahead (recomputed) and looking back.
func TestSignInActivityMatchesTheStreams(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 112, Users: 50, LateShare: 0.1, History: 10 * 24 * time.Hour})
	start := clock.Now()
	steps := []struct {
		name string
		move func() time.Time // returns asOf
	}{
		{"at the start", func() time.Time { return clock.Now() }},
		{"3 hours later", func() time.Time { return clock.Advance(3 * time.Hour) }},
		{"a minute later", func() time.Time { return clock.Advance(time.Minute) }},
		{"4 days later", func() time.Time { return clock.Advance(4 * 24 * time.Hour) }},
		{"looking back", func() time.Time { return start.Add(90 * time.Minute) }},
	}
	for _, s := range steps {
		asOf := s.move()
		got, err := tn.SignInActivityAt(asOf)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteActivity(tn, asOf)
		withActivity := 0
		for _, u := range got {
			if u.UserID == "" {
				continue
			}
			w, ok := want[u.UserID]
			if !ok {
				continue // created at run time: never signs in
			}
			if activityJSON(u.Activity) != activityJSON(w) {
				t.Fatalf("%s: user %s: tracker %s, streams %s", s.name, u.UserID, activityJSON(u.Activity), activityJSON(w))
			}
			if u.Activity != nil {
				withActivity++
			}
		}
		if withActivity < len(got)/2 {
			t.Fatalf("%s: only %d of %d users with activity", s.name, withActivity, len(got))
		}
	}
}

// GET /users?$select=…,signInActivity&$top=500 as Graph documents it.
func TestSignInActivityEndpoint(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 113, Users: 700, Churn: 50})
	clock.Advance(3 * time.Hour) // created users have never signed in
	c := newClient(t, tn)
	items, _, pages := c.allPages(tn.GraphURL()+"/v1.0/users?$select=id,userPrincipalName,userType,signInActivity&$top=500", nil)
	truth, err := tn.SignInActivityAt(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pages != 2 || len(items) != len(truth) {
		t.Fatalf("%d users in %d pages, truth %d", len(items), pages, len(truth))
	}
	byID := map[string]UserSignInActivity{}
	for _, u := range truth {
		byID[u.UserID] = u
	}
	nulls := 0
	for _, raw := range items {
		var u struct {
			ID             string          `json:"id"`
			UPN            string          `json:"userPrincipalName"`
			SignInActivity *SignInActivity `json:"signInActivity"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatal(err)
		}
		if got := keysOf(t, raw); !slices.Equal(got, []string{"id", "signInActivity", "userPrincipalName", "userType"}) {
			t.Fatalf("keys %v", got)
		}
		want := byID[u.ID]
		if activityJSON(u.SignInActivity) != activityJSON(want.Activity) || u.UPN != want.UserPrincipalName {
			t.Fatalf("user %s: served %s, truth %s", u.ID, activityJSON(u.SignInActivity), activityJSON(want.Activity))
		}
		if u.SignInActivity == nil {
			nulls++
		}
	}
	if nulls == 0 {
		t.Fatal("no user without sign-ins (null)")
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/users/"+truth[0].UserID+"?$select=id,signInActivity", nil); r.status != 200 || !json.Valid(r.body) {
		t.Fatalf("single user: %d", r.status)
	}

	tests := []struct {
		name     string
		licences []Licence
		roles    []string
		query    string
		status   int
		code     string
		message  string
	}{
		{"at most 500 per page", nil, ReadOnlyRoles(), "$select=id,signInActivity&$top=501", 400, "Request_BadRequest", "Cannot query data for more than 500 users at a time."},
		{"999 without signInActivity", nil, ReadOnlyRoles(), "$select=id,displayName&$top=999", 200, "", ""},
		{"Entra ID P1 or P2", []Licence{LicenceFree}, ReadOnlyRoles(), "$select=id,signInActivity", 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license"},
		{"AuditLog.Read.All", nil, []string{"User.Read.All"}, "$select=id,signInActivity", 403, "Authentication_MSGraphPermissionMissing", "Calling principal does not have required MSGraph permissions AuditLog.Read.All"},
		{"User.Read.All", nil, []string{"AuditLog.Read.All"}, "$select=id,signInActivity", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Seed: 113, Users: 30, Licences: tc.licences})
			c := newClient(t, tn)
			c.token = fakeToken(tn.TenantID(), tn.ClientID(), tc.roles, time.Now().Add(time.Hour))
			r := c.sendURL(tn.GraphURL()+"/v1.0/users?"+tc.query, nil)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status != 200 {
				if e := r.gerr(t).Error; e.Code != tc.code || e.Message != tc.message {
					t.Fatalf("%+v", e)
				}
			}
		})
	}
}

// A signInActivity request counts against its own 10 requests / min, the reports family's 5 / 10 s (shared
// with the sign-in logs) and the directory bucket; it is admitted only when all three admit it.
func TestSignInActivityLimits(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fams := []family{familySignInActivity, familyReports, familyDirectory}
	key := func(family) string { return "tenant|app" }
	type step struct {
		at         time.Duration
		fams       []family
		ok         bool
		retryAfter time.Duration
		by         family
	}
	steps := []step{
		{0, fams, true, 0, ""}, {time.Second, fams, true, 0, ""}, {2 * time.Second, fams, true, 0, ""},
		{3 * time.Second, fams, true, 0, ""}, {4 * time.Second, fams, true, 0, ""},
		{5 * time.Second, fams, false, 5 * time.Second, familyReports},                    // the reports window is full
		{6 * time.Second, []family{familyReports}, false, 4 * time.Second, familyReports}, // sign-ins share it
		{10 * time.Second, fams, true, 0, ""}, {11 * time.Second, fams, true, 0, ""}, {12 * time.Second, fams, true, 0, ""},
		{13 * time.Second, fams, true, 0, ""}, {14 * time.Second, fams, true, 0, ""},
		{20 * time.Second, []family{familyReports}, true, 0, ""},                // a sign-in page: reports has room again
		{21 * time.Second, fams, false, 39 * time.Second, familySignInActivity}, // 10 in the minute
		{60 * time.Second, fams, true, 0, ""},
	}
	l := newLimiter(1, false, 100)
	for i, s := range steps {
		a := l.admitAll(s.fams, key, t0.Add(s.at), 1)
		if a.ok != s.ok || !a.ok && (a.retryAfter != s.retryAfter || a.rejectedBy != s.by) {
			t.Fatalf("step %d at %s: ok %v retry %s by %s; want ok %v retry %s by %s", i, s.at, a.ok, a.retryAfter, a.rejectedBy, s.ok, s.retryAfter, s.by)
		}
	}

	// Over HTTP (windows stretched tenfold so the count does not depend on speed): the 6th request is a 429
	// with the reporting API's body and a Retry-After, counted under signInActivity.
	tn, _ := startTenant(t, Options{Seed: 114, Users: 30, ThrottleScale: 10})
	c := newClient(t, tn)
	u := tn.GraphURL() + "/v1.0/users?$select=id,signInActivity&$top=500"
	for i := 0; i < 5; i++ {
		if r := c.sendURL(u, nil); r.status != 200 || r.header.Get("x-ms-resource-unit") != "1" {
			t.Fatalf("request %d: %d %s", i, r.status, r.header.Get("x-ms-resource-unit"))
		}
	}
	r := c.sendURL(u, nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.gerr(t).Error.Code != "UnknownError" {
		t.Fatalf("6th: %d %s", r.status, r.body)
	}
	cnt := tn.Counters().Families[string(familySignInActivity)]["v1.0/users(signInActivity)"]
	if cnt.Accepted != 5 || cnt.Throttled != 1 {
		t.Fatalf("counters %+v", cnt)
	}
	// The sign-in log shares the reports budget.
	if r := c.sendURL(tn.GraphURL()+"/v1.0/auditLogs/signIns?$top=1", nil); r.status != 429 {
		t.Fatalf("sign-ins after 5 signInActivity pages: %d", r.status)
	}
	// A users list without signInActivity is a plain directory read.
	if r := c.sendURL(tn.GraphURL()+"/v1.0/users?$top=5", nil); r.status != 200 {
		t.Fatalf("plain users list: %d", r.status)
	}
}
