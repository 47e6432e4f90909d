package entrasim

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"
)

// servedIDs lists every object of a collection with $select=id, following nextLinks.
func servedIDs(t *testing.T, c *client, path string) []string {
	t.Helper()
	var ids []string
	for u := c.list(path, map[string]string{"$select": "id", "$top": "999"}); u != ""; {
		p := c.get(u).page(t)
		for _, raw := range p.Value {
			var o struct{ ID string }
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
		}
		u = p.NextLink
	}
	return ids
}

// TestPerObjectTruthAt: MailboxTruthAt, SynchronizationJobsAt and AuthMethodsAt give what Graph served at a past
// time while the directory churned since — users deleted and created, a listed user deleted after the read — and a
// deletion counts at once (a plain list, not a delta query, which sees it RemovalDelay later).
func TestPerObjectTruthAt(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 163, Users: 40, Apps: 40, Churn: 60, RemovalDelay: 10 * time.Minute})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	clock.Advance(90 * time.Minute) // some churn before the read
	read := clock.Now()

	mailboxes := map[string]string{}
	for _, id := range servedIDs(t, c, "/v1.0/users") {
		r := c.get(tn.GraphURL() + "/v1.0/users/" + id + "/mailboxSettings")
		switch {
		case r.status == http.StatusOK:
			var m struct{ TimeZone string }
			if err := json.Unmarshal(r.body, &m); err != nil || m.TimeZone == "" {
				t.Fatalf("%s: %s (%v)", id, r.body, err)
			}
			mailboxes[id] = m.TimeZone
		case r.gerr(t).Error.Code == "MailboxNotEnabledForRESTAPI":
			mailboxes[id] = ""
		default:
			t.Fatalf("%s: %d %s", id, r.status, r.body)
		}
	}
	jobs := map[string][]string{}
	for _, id := range servedIDs(t, c, "/v1.0/servicePrincipals") {
		for _, raw := range c.get(tn.GraphURL() + "/v1.0/servicePrincipals/" + id + "/synchronization/jobs").page(t).Value {
			var j struct{ ID string }
			if err := json.Unmarshal(raw, &j); err != nil {
				t.Fatal(err)
			}
			jobs[id] = append(jobs[id], j.ID)
		}
	}
	var victim string
	for _, u := range tn.Users() {
		if _, served := mailboxes[u.ID]; served && u.UserType == "Member" && len(u.Roles) == 0 {
			victim = u.ID
			break
		}
	}
	var methods []string
	for _, raw := range c.get(tn.GraphURL() + "/v1.0/users/" + victim + "/authentication/methods").page(t).Value {
		var m struct{ ID string }
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		methods = append(methods, m.ID)
	}
	if len(jobs) == 0 || len(methods) == 0 {
		t.Fatalf("%d service principals with jobs, %d methods: the test shows nothing", len(jobs), len(methods))
	}

	// A minute later the listed user is deleted; then six hours of churn.
	clock.Advance(time.Minute)
	if r := c.send(http.MethodDelete, "/v1.0/users/"+victim, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	deleted := clock.Now()
	clock.Advance(6 * time.Hour)

	if got, err := tn.MailboxTruthAt(read); err != nil || !maps.Equal(got, mailboxes) {
		t.Errorf("MailboxTruthAt(read) = %v (%v), Graph served %v", got, err, mailboxes)
	}
	if now := tn.MailboxTruth(); maps.Equal(now, mailboxes) {
		t.Error("the users did not change in six hours of churn: the test shows nothing")
	}
	if got, err := tn.SynchronizationJobsAt(read); err != nil || !maps.EqualFunc(got, jobs, slices.Equal) {
		t.Errorf("SynchronizationJobsAt(read) = %v (%v), Graph served %v", got, err, jobs)
	}
	if got, err := tn.MailboxTruthAt(deleted); err != nil {
		t.Error(err)
	} else if _, listed := got[victim]; listed {
		t.Errorf("a user deleted at %s is still listed then", deleted.Format(time.TimeOnly))
	}
	for _, c := range []struct {
		id   string
		at   time.Time
		live bool
	}{{victim, read, true}, {victim, deleted, false}, {"0badc0de-0000-4000-8000-000000000000", read, false}} {
		ms, live, err := tn.AuthMethodsAt(c.id, c.at)
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		if err != nil || live != c.live || (live && !slices.Equal(ids, methods)) {
			t.Errorf("AuthMethodsAt(%s, %s) = %v, %v, %v; want live %v with %v", c.id, c.at.Format(time.TimeOnly), ids, live, err, c.live, methods)
		}
	}
	if _, err := tn.MailboxTruthAt(clock.Now().Add(time.Minute)); err == nil {
		t.Error("MailboxTruthAt after the simulated now answered")
	}
}
