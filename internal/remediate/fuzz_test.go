package remediate

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
)

var fuzzActions = []string{"revoke-sessions", "reset-mfa", "update-user-type", "delete-guest-user", "audit", "disable-user", ""}

// FuzzRemediate sends arbitrary request bodies, principals, actions and Idempotency-Keys to the service, against
// the simulated tenant whose users the fuzzer does not know. Nothing may panic; every answer is a 4xx with a
// message and a code; no Graph request that changes anything is ever sent, and Graph is read only for a request
// that is valid, authorized and names the read-write integration. Seeds: testdata/fuzz/FuzzRemediate.
func FuzzRemediate(f *testing.F) {
	e := newEnv(f, envOptions{users: 40})
	f.Add(uint8(1), adminPrincipal, "k", []byte(`{"integration":"rw","user":"nobody@contoso.com","reason":"r"}`))
	f.Fuzz(func(t *testing.T, action uint8, header, key string, body []byte) {
		name := fuzzActions[int(action)%len(fuzzActions)]
		if name == "audit" {
			name = "reset-mfa" // reading the audit trail is not a remediation request
		}
		from := len(e.tn.Requests())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := e.svc.Handle(ctx, Call{ID: "fuzz", Time: time.Now().UTC(), Method: http.MethodPost, Action: name, Principal: header, IdempotencyKey: key, Body: body})
		if r.Status < 400 || r.Status > 499 {
			t.Fatalf("status %d for action %q principal %q key %q body %q: %+v", r.Status, name, header, key, body, r.Body)
		}
		b, err := json.Marshal(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		var er ErrorReply
		if err := json.Unmarshal(b, &er); err != nil || er.Error == "" || er.Code == "" {
			t.Fatalf("a %d without a message and a code: %s", r.Status, b)
		}
		sent := e.graphRequests(from)
		if w := writes(sent); len(w) != 0 {
			t.Fatalf("a fuzzed request changed the tenant: %+v", w)
		}
		if len(sent) > 0 && !mayRead(Action(name), header, key, body) {
			t.Fatalf("Graph read for a request that is invalid or unauthorized (%d %s): %q %q", r.Status, er.Code, header, body)
		}
	})
}

// mayRead is when a request gets as far as Graph: a known action, a caller with its role, a valid body naming
// the read-write integration, an Idempotency-Key unless it is a dry run, allowPrivileged only from an Admin.
func mayRead(action Action, header, key string, body []byte) bool {
	if !action.valid() {
		return false
	}
	p, err := access.Require(header, "", action.Roles()...)
	if err != nil {
		return false
	}
	req, err := DecodeRequest(action, body)
	if err != nil || req.Integration != "rw" || req.AllowPrivileged && !p.Has(access.Admin) {
		return false
	}
	return req.DryRun || key != "" && checkKey(key) == nil && !strings.ContainsAny(key, " ")
}
