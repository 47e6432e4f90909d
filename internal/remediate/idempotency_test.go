package remediate

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/tests/entrasim"
)

func scopeOf(t *testing.T, header string) string {
	t.Helper()
	p, err := access.Parse(header)
	if err != nil {
		t.Fatal(err)
	}
	return callerOf(p).scope()
}

// TestIdempotencyKeys: the same key and body answer the first outcome without Graph; another body is refused; keys
// are per caller; a key whose request is running is busy; after 24 hours a key is new again.
func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	pool := e.people()
	m1, m2 := pool.member(), pool.member()
	body := map[string]any{"integration": "rw", "user": m1.ID, "reason": "r"}
	first := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-1", body: body})
	if first.Status != http.StatusOK {
		t.Fatalf("first: %d %+v", first.Status, first.Body)
	}
	from := len(e.tn.Requests())
	again := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-1", body: `{ "reason":"r", "user":"` + m1.ID + `", "integration":"rw" }`})
	a, _ := json.Marshal(first.Body)
	b, _ := json.Marshal(again.Body)
	if again.Status != first.Status || string(a) != string(b) || again.Header["Idempotent-Replayed"] != "true" || len(e.graphRequests(from)) != 0 {
		t.Fatalf("replay: %d %v, %d Graph requests\nfirst %s\nagain %s", again.Status, again.Header, len(e.graphRequests(from)), a, b)
	}
	entries := e.entries()
	last := entries[len(entries)-1]
	if last.Outcome != OutcomeReplayed || last.ReplayOf != result(t, first).ID || len(last.Requests) != 0 {
		t.Errorf("the replay's audit entry: %+v", last)
	}

	other := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-1", body: map[string]any{"integration": "rw", "user": m2.ID, "reason": "r"}})
	if er := errorReply(t, other); other.Status != http.StatusConflict || er.Code != "idempotency-key-reused" || len(e.graphRequests(from)) != 0 {
		t.Fatalf("another body: %d %s", other.Status, er.Code)
	}
	if r := e.do(call{action: "revoke-sessions", principal: helpdeskPrincipal, key: "key-1", body: map[string]any{"integration": "rw", "user": m2.ID, "reason": "r"}}); r.Status != http.StatusOK {
		t.Fatalf("another caller's key-1: %d", r.Status)
	}

	// A request holding a key (its lease runs) makes the next one wait.
	busy := map[string]any{"integration": "rw", "user": m2.ID, "reason": "busy"}
	req, _ := DecodeRequest(RevokeSessions, mustJSON(busy))
	now := e.clock.Now()
	if err := e.intents.insert(context.Background(), &intent{Scope: scopeOf(t, adminPrincipal), Key: "key-busy", Hash: req.hash(RevokeSessions),
		Action: RevokeSessions, Integration: "rw", First: "other-request", Owner: "other-request", Created: now, LeaseUntil: now.Add(20 * time.Second), State: statePending, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-busy", body: busy})
	if er := errorReply(t, r); r.Status != http.StatusConflict || er.Code != "in-progress" || r.Header["Retry-After"] == "" || !strings.Contains(er.Error, "other-request") {
		t.Fatalf("busy key: %d %+v %v", r.Status, er, r.Header)
	}

	// 24 hours later the key is new: the same request runs again; keys that old are removed as new ones come.
	rows := func() int {
		n := 0
		pager := e.intents.tbl.NewListEntitiesPager(nil)
		for pager.More() {
			p, err := pager.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			n += len(p.Entities)
		}
		return n
	}
	before := rows()
	e.clock.Advance(25 * time.Hour)
	if r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-new", body: body}); r.Status != http.StatusOK {
		t.Fatalf("a new key: %d", r.Status)
	}
	if after := rows(); before < 3 || after != 1 {
		t.Fatalf("%d keys before, %d after the purge (want only the new one)", before, after)
	}
	from = len(e.tn.Requests())
	if r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "key-1", body: body}); r.Status != http.StatusOK || r.Header["Idempotent-Replayed"] != "" ||
		len(writes(e.graphRequests(from))) != 1 {
		t.Fatalf("after 24 hours: %d %v, %d writes", r.Status, r.Header, len(writes(e.graphRequests(from))))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestResumeAfterADeadRequest: a request died (its lease expired) after deleting a method — recorded or not — and
// the retry with its key re-reads the live methods and deletes only the ones left of the first plan; a method
// registered meanwhile is left alone. A dead revoke whose change took effect is not sent again.
func TestResumeAfterADeadRequest(t *testing.T) {
	e := newEnv(t, envOptions{})
	pool := e.people()
	ctx := context.Background()
	for _, recorded := range []bool{true, false} {
		user := pool.member()
		// The first request planned email, fido2 and the app; the email went (and was recorded, or it died
		// before recording it); then the user registered an OATH token.
		if _, err := e.tn.SetAuthMethods(user.ID, []entrasim.AuthMethod{fido, app, oath}, ""); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"integration": "rw", "user": user.UserPrincipalName, "reason": "dead"}
		req, _ := DecodeRequest(ResetMFA, mustJSON(body))
		tn := newTenant(e.svcClient(t))
		var steps []Step
		var planned []Method
		for _, m := range []Method{{ID: email.ID, Type: email.Type}, {ID: fido.ID, Type: fido.Type}, {ID: app.ID, Type: app.Type}} {
			st, _, err := tn.deleteMethodStep(ctx, user.ID, m)
			if err != nil {
				t.Fatal(err)
			}
			steps, planned = append(steps, st), append(planned, m)
		}
		in := &intent{Scope: scopeOf(t, adminPrincipal), Key: "dead", Hash: req.hash(ResetMFA), Action: ResetMFA, Integration: "rw",
			Requested: user.UserPrincipalName, First: "dead-request", Owner: "dead-request", Created: e.clock.Now().Add(-time.Minute),
			LeaseUntil: e.clock.Now().Add(-time.Second), State: statePending, Attempts: 1,
			Plan: &planRecord{TargetID: user.ID, TargetUPN: user.UserPrincipalName, TargetType: "Member", Methods: planned, Steps: steps}}
		if recorded {
			in.Done = steps[:1]
		}
		in.Key = map[bool]string{true: "dead-recorded", false: "dead-unrecorded"}[recorded]
		if err := e.intents.insert(ctx, in); err != nil {
			t.Fatal(err)
		}
		from := len(e.tn.Requests())
		r := e.do(call{action: "reset-mfa", principal: adminPrincipal, key: in.Key, body: body})
		res := result(t, r)
		w := writes(e.graphRequests(from))
		if r.Status != http.StatusOK || res.Outcome != OutcomeDone || res.Resumed == nil || res.Resumed.From != "dead-request" || len(w) != 2 ||
			!strings.HasSuffix(w[0].Path, fido.ID) || !strings.HasSuffix(w[1].Path, app.ID) {
			t.Fatalf("recorded=%v: %d %s resumed %+v, writes %v: %s", recorded, r.Status, res.Outcome, res.Resumed, w, res.Message)
		}
		left, _, _ := e.tn.AuthMethods(user.ID)
		if len(left) != 2 || left[1].ID != oath.ID {
			t.Errorf("recorded=%v: left %v, want the password and the OATH token registered meanwhile", recorded, left)
		}
	}

	// A revoke that took effect before its request died is not sent again.
	user := pool.member()
	if r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "earlier", body: map[string]any{"integration": "rw", "user": user.ID, "reason": "r"}}); r.Status != 200 {
		t.Fatal(r.Status)
	}
	before := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	body := map[string]any{"integration": "rw", "user": user.ID, "reason": "dead revoke"}
	req, _ := DecodeRequest(RevokeSessions, mustJSON(body))
	if err := e.intents.insert(ctx, &intent{Scope: scopeOf(t, adminPrincipal), Key: "dead-revoke", Hash: req.hash(RevokeSessions), Action: RevokeSessions,
		Integration: "rw", First: "dead", Owner: "dead", Created: e.clock.Now(), LeaseUntil: e.clock.Now().Add(-time.Second), State: statePending, Attempts: 1,
		Plan: &planRecord{TargetID: user.ID, TargetType: "Member", SessionsBefore: &before}}); err != nil {
		t.Fatal(err)
	}
	from := len(e.tn.Requests())
	r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "dead-revoke", body: body})
	if res := result(t, r); r.Status != 200 || res.Outcome != OutcomeDone || len(writes(e.graphRequests(from))) != 0 || res.Resumed == nil {
		t.Fatalf("resumed revoke: %d %s, %d writes", r.Status, res.Outcome, len(writes(e.graphRequests(from))))
	}
}
