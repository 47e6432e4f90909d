package remediate

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/entrasim"
)

const (
	idMobile    = "3179e48a-750b-4051-897c-87b9720928f7"
	idAlternate = "b6332ec1-7057-4abe-9331-3d72feddfe41"
	idOffice    = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
)

var (
	phoneMethods = []entrasim.AuthMethod{
		{Type: "phoneAuthenticationMethod", PhoneType: "mobile", ID: idMobile},
		{Type: "phoneAuthenticationMethod", PhoneType: "alternateMobile", ID: idAlternate},
		{Type: "phoneAuthenticationMethod", PhoneType: "office", ID: idOffice},
	}
	app   = entrasim.AuthMethod{Type: "microsoftAuthenticatorAuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000001"}
	fido  = entrasim.AuthMethod{Type: "fido2AuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000002"}
	email = entrasim.AuthMethod{Type: "emailAuthenticationMethod", ID: "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"}
	oath  = entrasim.AuthMethod{Type: "softwareOathAuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000004"}
	hello = entrasim.AuthMethod{Type: "windowsHelloForBusinessAuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000005"}
	tap   = entrasim.AuthMethod{Type: "temporaryAccessPassAuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000006"}
	plat  = entrasim.AuthMethod{Type: "platformCredentialAuthenticationMethod", ID: "a0000000-0000-4000-8000-000000000007"}
)

// TestResetMFAEveryCombination resets users holding every combination of phone methods (mobile, alternate mobile,
// office) with none, one, two or all seven other method types, with every possible default method. What Graph
// documents decides the expected result: all but the password go, unless the default is the alternate mobile
// phone while the mobile one exists — neither can then go first, both stay, and the reply says so.
func TestResetMFAEveryCombination(t *testing.T) {
	e := newEnv(t, envOptions{})
	user := e.people().member()
	others := [][]entrasim.AuthMethod{nil, {app}, {fido, email}, {app, fido, email, oath, hello, tap, plat}}
	cells := 0
	for phones := 0; phones < 8; phones++ {
		for _, other := range others {
			var set []entrasim.AuthMethod
			for i, p := range phoneMethods {
				if phones&(1<<i) != 0 {
					set = append(set, p)
				}
			}
			set = append(set, other...)
			defaults := []string{""}
			for _, m := range set {
				defaults = append(defaults, m.ID)
			}
			for _, def := range defaults {
				cells++
				name := fmt.Sprintf("%s default %s", describeSet(set), describeID(set, def))
				t.Run(name, func(t *testing.T) { resetCell(t, e, user, set, def) })
			}
		}
	}
	t.Logf("%d combinations", cells)
}

func describeSet(set []entrasim.AuthMethod) string {
	if len(set) == 0 {
		return "none"
	}
	var parts []string
	for _, m := range set {
		parts = append(parts, cmpOr(m.PhoneType, strings.TrimSuffix(m.Type, "AuthenticationMethod")))
	}
	return strings.Join(parts, "+")
}

func describeID(set []entrasim.AuthMethod, id string) string {
	for _, m := range set {
		if m.ID == id {
			return describeSet([]entrasim.AuthMethod{m})
		}
	}
	return "none"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func resetCell(t *testing.T, e *env, user entrasim.User, set []entrasim.AuthMethod, def string) {
	if _, err := e.tn.SetAuthMethods(user.ID, set, def); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		return slices.ContainsFunc(set, func(m entrasim.AuthMethod) bool { return m.ID == id })
	}
	stuck := def == idAlternate && has(idMobile)
	wantLeft := []string{"28c10230-6103-485e-b985-444c60001490"}
	if stuck {
		wantLeft = append(wantLeft, idMobile, idAlternate)
	}
	from := len(e.tn.Requests())
	r := e.do(call{action: "reset-mfa", principal: helpdeskPrincipal, key: "mfa-" + t.Name(),
		body: map[string]any{"integration": "rw", "user": user.UserPrincipalName, "reason": "combination"}})
	res := result(t, r)

	// The tenant as Graph would leave it.
	left, _, _ := e.tn.AuthMethods(user.ID)
	var leftIDs []string
	for _, m := range left {
		leftIDs = append(leftIDs, m.ID)
	}
	slices.Sort(leftIDs)
	slices.Sort(wantLeft)
	if !slices.Equal(leftIDs, wantLeft) {
		t.Fatalf("methods left %v, want %v (reply %d %s: %s)", leftIDs, wantLeft, r.Status, res.Outcome, res.Message)
	}
	wantOutcome, wantStatus := OutcomeDone, http.StatusOK
	switch {
	case len(set) == 0:
		wantOutcome = OutcomeNoChange
	case stuck && len(set) == 2:
		wantOutcome, wantStatus = OutcomeFailed, http.StatusBadGateway
	case stuck:
		wantOutcome, wantStatus = OutcomePartial, http.StatusBadGateway
	}
	if r.Status != wantStatus || res.Outcome != wantOutcome {
		t.Fatalf("reply %d %s (%s), want %d %s", r.Status, res.Outcome, res.Message, wantStatus, wantOutcome)
	}
	if stuck && (!strings.Contains(res.Message, idMobile) || !strings.Contains(res.Message, idAlternate)) {
		t.Errorf("the reply does not name the methods left: %s", res.Message)
	}
	if got := res.Confirmation; got == nil || len(got.MethodsLeft) != len(wantLeft) {
		t.Errorf("confirmation %+v", got)
	}
	for _, mo := range res.Methods {
		gone := !slices.Contains(leftIDs, mo.ID)
		if gone != (mo.Outcome == methodDeleted) && mo.Outcome != methodKept {
			t.Errorf("method %s %s reported %s (%s), but gone=%v", mo.Type, mo.ID, mo.Outcome, mo.Error, gone)
		}
	}

	// What was sent: never the password; each method deleted once; the alternate before the mobile; the default
	// last.
	var deleted []string
	for _, rec := range e.graphRequests(from) {
		if rec.Method != http.MethodDelete {
			continue
		}
		if strings.Contains(rec.Path, "/passwordMethods/") {
			t.Errorf("a delete of the password was sent: %s", rec.Path)
		}
		if rec.Status == http.StatusNoContent {
			deleted = append(deleted, rec.Path[strings.LastIndex(rec.Path, "/")+1:])
		}
	}
	if len(deleted) != len(set)+1-len(wantLeft) {
		t.Errorf("%d successful deletes for %d methods to go: %v", len(deleted), len(set)+1-len(wantLeft), deleted)
	}
	seen := map[string]bool{}
	for _, id := range deleted {
		if seen[id] {
			t.Errorf("method %s deleted twice", id)
		}
		seen[id] = true
	}
	if a, m := slices.Index(deleted, idAlternate), slices.Index(deleted, idMobile); a >= 0 && m >= 0 && a > m {
		t.Errorf("mobile deleted before the alternate mobile: %v", deleted)
	}
	if def != "" && !stuck && deleted[len(deleted)-1] != def {
		t.Errorf("the default %s was not deleted last: %v", def, deleted)
	}
	if en := e.entry(res.ID); en.Outcome != wantOutcome || len(en.Requests) != len(e.graphRequests(from)) {
		t.Errorf("audit entry: outcome %s, %d requests (sent %d)", en.Outcome, len(en.Requests), len(e.graphRequests(from)))
	}
}

// TestResetMFAFailureMidway: Graph refuses one method's delete (403) and, because of that, the default's; the
// reply says exactly which methods remain and why, the others are gone; the same request with the same key
// resumes once Graph accepts again, deleting only what is left, and a third answers the final outcome without
// calling Graph.
func TestResetMFAFailureMidway(t *testing.T) {
	e := newEnv(t, envOptions{})
	user := e.people().member()
	if _, err := e.tn.SetAuthMethods(user.ID, []entrasim.AuthMethod{email, fido, app, phoneMethods[0]}, idMobile); err != nil {
		t.Fatal(err)
	}
	fault, err := entrasim.ParseFaultRule(`{"kind":"status","status":403,"path":"/v1.0/users/` + user.ID + `/authentication/fido2Methods/"}`)
	if err != nil {
		t.Fatal(err)
	}
	fid, err := e.tn.AddFault(fault)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"integration": "rw", "user": user.ID, "reason": "midway", "ticket": "INC-7"}
	from := len(e.tn.Requests())
	r := e.do(call{action: "reset-mfa", principal: adminPrincipal, key: "midway", body: body})
	res := result(t, r)
	if r.Status != http.StatusBadGateway || res.Outcome != OutcomePartial || !strings.Contains(res.Message, fido.ID) ||
		!strings.Contains(res.Message, idMobile) || !strings.Contains(res.Message, "Authorization_RequestDenied") || !strings.Contains(res.Message, "Cannot delete default method") {
		t.Fatalf("partial failure: %d %s: %s", r.Status, res.Outcome, res.Message)
	}
	left, _, _ := e.tn.AuthMethods(user.ID)
	if len(left) != 3 || !slices.ContainsFunc(left, func(m entrasim.AuthMethod) bool { return m.ID == fido.ID }) {
		t.Fatalf("after the failure: %v", left)
	}
	for _, mo := range res.Methods {
		want := map[string]string{email.ID: methodDeleted, app.ID: methodDeleted, fido.ID: methodFailed, idMobile: methodFailed}[mo.ID]
		if want != "" && (mo.Outcome != want || want == methodFailed && (mo.Error == "" || mo.RequestID == "")) {
			t.Errorf("method %s: %s %q request %q, want %s with the error and its request-id", mo.ID, mo.Outcome, mo.Error, mo.RequestID, want)
		}
	}
	firstWrites := writes(e.graphRequests(from))

	e.tn.RemoveFault(fid)
	from = len(e.tn.Requests())
	r = e.do(call{action: "reset-mfa", principal: adminPrincipal, key: "midway", body: body})
	res = result(t, r)
	if r.Status != http.StatusOK || res.Outcome != OutcomeDone || res.Resumed == nil || len(res.Resumed.Done) != 2 {
		t.Fatalf("resumed: %d %s %+v: %s", r.Status, res.Outcome, res.Resumed, res.Message)
	}
	w := writes(e.graphRequests(from))
	if len(w) != 2 || !strings.HasSuffix(w[0].Path, fido.ID) || !strings.HasSuffix(w[1].Path, idMobile) {
		t.Fatalf("the resumed request sent %v (the first had sent %d)", w, len(firstWrites))
	}
	if left, _, _ := e.tn.AuthMethods(user.ID); len(left) != 1 {
		t.Fatalf("after resuming: %v", left)
	}
	if en := e.entry(res.ID); en.ResumedFrom == "" || en.Ticket != "INC-7" {
		t.Errorf("audit entry of the resumed request: %+v", en)
	}

	from = len(e.tn.Requests())
	again := e.do(call{action: "reset-mfa", principal: adminPrincipal, key: "midway", body: body})
	if again.Status != http.StatusOK || again.Header["Idempotent-Replayed"] != "true" || len(e.graphRequests(from)) != 0 || result(t, again).ID != res.ID {
		t.Fatalf("replay: %d %v, %d Graph requests", again.Status, again.Header, len(e.graphRequests(from)))
	}
}

// TestResetMFATransientFailure: a method whose delete keeps failing with 503 after the client's retries is
// reported failed with Graph's request-id; the others go.
func TestResetMFATransientFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	user := e.people().member()
	if _, err := e.tn.SetAuthMethods(user.ID, []entrasim.AuthMethod{oath, hello}, ""); err != nil {
		t.Fatal(err)
	}
	fault, _ := entrasim.ParseFaultRule(`{"kind":"status","status":503,"path":"/v1.0/users/` + user.ID + `/authentication/softwareOathMethods/"}`)
	if _, err := e.tn.AddFault(fault); err != nil {
		t.Fatal(err)
	}
	r := e.do(call{action: "reset-mfa", principal: adminPrincipal, key: "transient", body: map[string]any{"integration": "rw", "user": user.ID, "reason": "r"}})
	res := result(t, r)
	if r.Status != http.StatusBadGateway || res.Outcome != OutcomePartial || !strings.Contains(res.Message, "transient") {
		t.Fatalf("%d %s: %s", r.Status, res.Outcome, res.Message)
	}
	var attempts int
	for _, x := range res.Requests {
		if strings.HasSuffix(x.Path, oath.ID) {
			attempts = x.Attempts
		}
	}
	if attempts != 2 {
		t.Errorf("the failing delete was sent %d times, want the client's 2 attempts", attempts)
	}
}
