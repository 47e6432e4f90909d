package remediate

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/tests/entrasim"
)

// TestActionsDryRunThenReal runs each action as a dry run and then for real on the same target: the dry run sends
// no change and answers exactly the requests the real run then sends (method, path, body); the real run changes
// the simulated tenant, confirms it, and both are audited with their Graph requests.
func TestActionsDryRunThenReal(t *testing.T) {
	e := newEnv(t, envOptions{})
	pool := e.people()
	member, guest, typed, gone := pool.member(), pool.guest(), pool.member(), pool.guest()
	if _, err := e.tn.SetAuthMethods(member.ID, []entrasim.AuthMethod{
		{Type: "phoneAuthenticationMethod", PhoneType: "mobile"}, {Type: "phoneAuthenticationMethod", PhoneType: "alternateMobile"},
		{Type: "fido2AuthenticationMethod"}}, "3179e48a-750b-4051-897c-87b9720928f7"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action Action
		user   entrasim.User
		extra  map[string]any
		check  func(t *testing.T, res Result)
	}{
		{RevokeSessions, member, nil, func(t *testing.T, res Result) {
			c := res.Confirmation
			if c == nil || c.SessionsValidFromAfter == nil || sameTime(c.SessionsValidFromAfter, c.SessionsValidFromBefore) {
				t.Errorf("signInSessionsValidFromDateTime did not move: %+v", c)
			}
		}},
		{RevokeSessions, guest, nil, func(t *testing.T, res Result) {
			if !slices.Contains(res.Notes, noteExternalRevoke) || !res.Target.External {
				t.Errorf("a guest's revoke does not say Graph does nothing for external users: %v", res.Notes)
			}
			if c := res.Confirmation; c == nil || !sameTime(c.SessionsValidFromAfter, c.SessionsValidFromBefore) {
				t.Errorf("a guest's sessions moved: %+v", c)
			}
		}},
		{ResetMFA, member, nil, func(t *testing.T, res Result) {
			if left, _, _ := e.tn.AuthMethods(member.ID); len(left) != 1 || left[0].Type != passwordType {
				t.Errorf("methods left: %v", left)
			}
			if c := res.Confirmation; c == nil || len(c.MethodsLeft) != 1 {
				t.Errorf("confirmation %+v", c)
			}
		}},
		{UpdateUserType, typed, map[string]any{"userType": "Guest"}, func(t *testing.T, res Result) {
			if res.Confirmation == nil || res.Confirmation.UserType != "Guest" || userType(e, typed.ID) != "Guest" {
				t.Errorf("userType now %q (confirmation %+v)", userType(e, typed.ID), res.Confirmation)
			}
		}},
		{DeleteGuestUser, gone, nil, func(t *testing.T, res Result) {
			c := res.Confirmation
			if userType(e, gone.ID) != "" || c == nil || c.Deleted == nil || c.RestorableUntil == nil ||
				c.RestorableUntil.Sub(*c.Deleted) != 30*24*time.Hour || c.Restore != "POST /v1.0/directory/deletedItems/"+gone.ID+"/restore" {
				t.Errorf("delete confirmation %+v", c)
			}
			if !strings.Contains(res.Message, "restorable until") {
				t.Errorf("message %q does not say how to restore", res.Message)
			}
		}},
	} {
		t.Run(string(tc.action)+" "+tc.user.UserType, func(t *testing.T) {
			body := map[string]any{"integration": "rw", "user": tc.user.UserPrincipalName, "reason": "test", "dryRun": true}
			for k, v := range tc.extra {
				body[k] = v
			}
			from := len(e.tn.Requests())
			dry := e.do(call{action: string(tc.action), principal: adminPrincipal, body: body})
			if dry.Status != http.StatusOK {
				t.Fatalf("dry run: %d %+v", dry.Status, dry.Body)
			}
			plan := result(t, dry)
			sent := e.graphRequests(from)
			if plan.Outcome != OutcomeDryRun || len(plan.Plan) == 0 || len(writes(sent)) != 0 || len(plan.Requests) != len(sent) {
				t.Fatalf("dry run: outcome %s, plan %v, %d Graph requests (%d writes), %d reported", plan.Outcome, plan.Plan, len(sent), len(writes(sent)), len(plan.Requests))
			}
			body["dryRun"] = false
			from = len(e.tn.Requests())
			real := e.do(call{action: string(tc.action), principal: adminPrincipal, key: "k-" + string(tc.action) + tc.user.ID, body: body})
			if real.Status != http.StatusOK {
				t.Fatalf("real: %d %+v", real.Status, real.Body)
			}
			res := result(t, real)
			w := writes(e.graphRequests(from))
			if res.Outcome != OutcomeDone || len(w) != len(plan.Plan) {
				t.Fatalf("real: outcome %s, %d writes for a plan of %d", res.Outcome, len(w), len(plan.Plan))
			}
			for i, step := range plan.Plan {
				if w[i].Method != step.Method || w[i].Path != strings.Split(step.Path, "?")[0] || string(res.Plan[i].Body) != string(step.Body) {
					t.Errorf("request %d: sent %s %s (body %s), the dry run said %s %s (body %s)", i, w[i].Method, w[i].Path, res.Plan[i].Body, step.Method, step.Path, step.Body)
				}
			}
			tc.check(t, res)
			for _, id := range []string{plan.ID, res.ID} {
				en := e.entry(id)
				if en.Caller.Name != "Ada Admin" || en.Caller.ObjectID == "" || en.Reason != "test" || en.Integration != "rw" ||
					en.Target == nil || en.Target.ID != tc.user.ID || len(en.Requests) == 0 || en.Requests[0].RequestID == "" {
					t.Errorf("audit entry %+v", en)
				}
			}
		})
	}
}

func userType(e *env, id string) string {
	for _, u := range e.tn.Users() {
		if u.ID == id {
			return u.UserType
		}
	}
	return ""
}

// TestRefusals: every refusal answers a 4xx with a reason and a code, changes nothing (no Graph write; no Graph
// request at all where the refusal needs none) and is audited.
func TestRefusals(t *testing.T) {
	pool := (*people)(nil)
	e := newEnv(t, envOptions{protected: []string{"placeholder@contoso.com"}})
	pool = e.people()
	member, guest, admin := pool.member(), pool.guest(), pool.admins[0]
	protectedByID, protectedByUPN := pool.member(), pool.member()
	for id, i := range e.integ {
		i.ProtectedUsers = []string{protectedByID.ID, strings.ToUpper(protectedByUPN.UserPrincipalName)}
		e.integ[id] = i
	}
	req := func(user string, extra ...any) map[string]any {
		b := map[string]any{"integration": "rw", "user": user, "reason": "test"}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		c      call
		status int
		code   string
		reads  int // Graph requests allowed (all reads); -1: any number of reads
	}{
		{"unknown action", call{action: "disable-user", principal: adminPrincipal, key: "k", body: req(member.ID)}, 404, "unknown-action", 0},
		{"no principal", call{action: "revoke-sessions", key: "k", body: req(member.ID)}, 401, "unauthenticated", 0},
		{"malformed principal", call{action: "revoke-sessions", principal: "%%%", key: "k", body: req(member.ID)}, 401, "unauthenticated", 0},
		{"reader", call{action: "revoke-sessions", principal: readerPrincipal, key: "k", body: req(member.ID)}, 403, "forbidden", 0},
		{"helpdesk deletes", call{action: "delete-guest-user", principal: helpdeskPrincipal, key: "k", body: req(guest.ID)}, 403, "forbidden", 0},
		{"helpdesk changes a type", call{action: "update-user-type", principal: helpdeskPrincipal, key: "k", body: req(member.ID, "userType", "Guest")}, 403, "forbidden", 0},
		{"helpdesk asks allowPrivileged", call{action: "revoke-sessions", principal: helpdeskPrincipal, key: "k", body: req(admin.ID, "allowPrivileged", true)}, 403, "forbidden", 0},
		{"bad body", call{action: "reset-mfa", principal: adminPrincipal, key: "k", body: `{"integration":"rw"`}, 400, "bad-request", 0},
		{"missing reason", call{action: "reset-mfa", principal: adminPrincipal, key: "k", body: map[string]any{"integration": "rw", "user": member.ID}}, 400, "bad-request", 0},
		{"missing key", call{action: "reset-mfa", principal: adminPrincipal, body: req(member.ID)}, 400, "bad-request", 0},
		{"bad key", call{action: "reset-mfa", principal: adminPrincipal, key: "a key with spaces", body: req(member.ID)}, 400, "bad-request", 0},
		{"unknown integration", call{action: "reset-mfa", principal: adminPrincipal, key: "k1", body: map[string]any{"integration": "nope", "user": member.ID, "reason": "r"}}, 404, "unknown-integration", 0},
		{"read-only integration", call{action: "reset-mfa", principal: adminPrincipal, key: "k2", body: map[string]any{"integration": "ro", "user": member.ID, "reason": "r"}}, 403, "read-only-integration", 0},
		{"write permission not granted", call{action: "reset-mfa", principal: adminPrincipal, key: "k3", body: map[string]any{"integration": "rw-ungranted", "user": member.ID, "reason": "r"}}, 403, "missing-permission", 0},
		{"protected by UPN", call{action: "reset-mfa", principal: adminPrincipal, key: "k4", body: req(protectedByUPN.UserPrincipalName)}, 403, "protected-target", 0},
		{"protected by id, named by UPN", call{action: "reset-mfa", principal: adminPrincipal, key: "k5", body: req(protectedByID.UserPrincipalName)}, 403, "protected-target", 1},
		{"protected, dry run", call{action: "revoke-sessions", principal: adminPrincipal, body: req(protectedByID.UserPrincipalName, "dryRun", true)}, 403, "protected-target", 1},
		{"unknown user", call{action: "revoke-sessions", principal: adminPrincipal, key: "k6", body: req("nobody@" + strings.Split(member.UserPrincipalName, "@")[1])}, 404, "unknown-user", 1},
		{"privileged", call{action: "reset-mfa", principal: adminPrincipal, key: "k7", body: req(admin.ID)}, 403, "privileged-target", 2},
		{"privileged, dry run", call{action: "reset-mfa", principal: helpdeskPrincipal, body: req(admin.ID, "dryRun", true)}, 403, "privileged-target", 2},
		{"member given to delete-guest-user", call{action: "delete-guest-user", principal: adminPrincipal, key: "k8", body: req(member.ID)}, 409, "not-a-guest", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := len(e.tn.Requests())
			r := e.do(tc.c)
			er := errorReply(t, r)
			sent := e.graphRequests(from)
			if r.Status != tc.status || er.Code != tc.code || len(writes(sent)) != 0 || tc.reads >= 0 && len(sent) != tc.reads {
				t.Fatalf("got %d %s (%s), %d Graph requests (%d writes); want %d %s, %d reads", r.Status, er.Code, er.Error, len(sent), len(writes(sent)), tc.status, tc.code, tc.reads)
			}
			en := e.entry(er.ID)
			if en.Outcome != OutcomeRefused || en.Code != tc.code || en.Status != tc.status || en.Message != er.Error || len(en.Requests) != len(sent) {
				t.Errorf("audit entry %+v", en)
			}
		})
	}
	// The same refusals leave the tenant as it was.
	if userType(e, guest.ID) != "Guest" || userType(e, member.ID) != "Member" {
		t.Error("a refused request changed the tenant")
	}

	// An Admin may act on a privileged user with allowPrivileged; Graph itself refuses an app-only delete of one.
	r := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "k9", body: req(admin.ID, "allowPrivileged", true)})
	if res := result(t, r); r.Status != 200 || res.Outcome != OutcomeDone || len(res.Target.Roles) == 0 {
		t.Fatalf("allowPrivileged revoke: %d %+v", r.Status, res)
	}
}

// TestFunctionKeyCallers: without App Service Authentication, remediation is refused unless a key role is set; the
// key holder then acts with that role only, audited as "function key".
func TestFunctionKeyCallers(t *testing.T) {
	e := newEnv(t, envOptions{keyRole: access.Helpdesk})
	pool := e.people()
	m := pool.member()
	r := e.do(call{action: "revoke-sessions", key: "fk-1", body: map[string]any{"integration": "rw", "user": m.ID, "reason": "r"}})
	if r.Status != 200 {
		t.Fatalf("key holder with the Helpdesk role: %d %+v", r.Status, r.Body)
	}
	if en := e.entry(result(t, r).ID); en.Caller.Provider != access.FunctionKeyProvider || en.Caller.Name != "function key" || !slices.Equal(en.Caller.Roles, []access.Role{access.Helpdesk}) {
		t.Errorf("caller %+v", en.Caller)
	}
	r = e.do(call{action: "update-user-type", key: "fk-2", body: map[string]any{"integration": "rw", "user": m.ID, "reason": "r", "userType": "Guest"}})
	if r.Status != 403 {
		t.Fatalf("key holder doing an Admin action: %d", r.Status)
	}
}
