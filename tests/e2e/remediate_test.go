package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// Remediation end to end: the real handler under the host simulator, the simulated tenant, Key Vault and Azurite.
// The scenario declares "default" in app settings as read-only (as deployed without write permissions); the
// tests add "rw", read-write, to the integrations table, with the same app registration (granted the write
// permissions) and a protected user.

// startRemediation starts a scenario for remediation: the tenant's app granted the read-write set, no log events
// (nothing is collected), and integration "rw" protecting protectedID.
func startRemediation(t *testing.T, users int, settings map[string]string, protected func(*entrasim.Tenant) []string) *scenario.Env {
	t.Helper()
	none := map[string]entrasim.StreamOptions{}
	for _, s := range entrasim.StreamNames() {
		none[s] = entrasim.StreamOptions{Rate: -1}
	}
	env := startScenario(t, scenario.Options{Settings: settings, RestartLimit: 10,
		Tenant: entrasim.Options{Seed: 41, Users: users, Roles: entrasim.ReadWriteRoles(), DisableThrottling: true, Streams: none, History: time.Hour}})
	i := integrations.Integration{ID: "rw", Permissions: catalog.ReadWrite}
	if protected != nil {
		i.ProtectedUsers = protected(env.Tenant)
	}
	if err := env.AddIntegration(context.Background(), i); err != nil {
		t.Fatal(err)
	}
	return env
}

// tenantUsers sorts the tenant's users by kind.
type tenantUsers struct{ members, guests, admins []entrasim.User }

func usersOf(tn *entrasim.Tenant) *tenantUsers {
	u := &tenantUsers{}
	for _, x := range tn.Users() {
		switch {
		case len(x.Roles) > 0:
			u.admins = append(u.admins, x)
		case x.UserType == "Guest":
			u.guests = append(u.guests, x)
		default:
			u.members = append(u.members, x)
		}
	}
	return u
}

func next(list *[]entrasim.User) entrasim.User {
	x := (*list)[0]
	*list = (*list)[1:]
	return x
}

// The tests read answers and audit entries as a client does, from their JSON (README, Remediation).

// step is one change a remediation sends.
type step struct {
	Method, Path string
}

// graphRequest is one Graph request a remediation sent.
type graphRequest struct {
	Method, Path, RequestID string
	Status                  int
}

// remediationReply is what the tests read of an answer.
type remediationReply struct {
	ID       string         `json:"id"`
	Outcome  string         `json:"outcome"`
	Code     string         `json:"code"`
	Error    string         `json:"error"`
	Message  string         `json:"message"`
	Plan     []step         `json:"plan"`
	Requests []graphRequest `json:"requests"`
	Resumed  *struct {
		From string `json:"from"`
		Done []step `json:"done"`
	} `json:"resumed"`
}

// auditEntry is what the tests read of an audit entry.
type auditEntry struct {
	ID     string
	Time   time.Time
	Caller struct {
		Name, ObjectID, Provider string
		Roles                    []string
	}
	Integration, Action, Reason, Ticket, Outcome, ReplayOf, ResumedFrom string
	Status                                                              int
	Target                                                              *struct {
		Requested, ID, UserType string
	}
	Requests []graphRequest
}

// auditBlobName is the day's audit blob in container audit.
func auditBlobName(day time.Time) string {
	return "remediation/date=" + day.UTC().Format(time.DateOnly) + "/audit.ndjson"
}

func decodeReply(t *testing.T, res *hostsim.HTTPResult) remediationReply {
	t.Helper()
	var r remediationReply
	if err := json.Unmarshal(res.Body, &r); err != nil || r.ID == "" {
		t.Fatalf("answer %d is not a remediation reply: %v\n%s", res.StatusCode, err, res.Body)
	}
	return r
}

// readAudit reads every entry of the audit table (by id) and of the day's audit blob (ids in order).
func readAudit(t *testing.T, env *scenario.Env) (rows map[string]auditEntry, rowStamps map[string]string, lines []string, blobText string) {
	t.Helper()
	ctx := context.Background()
	tables, err := env.Azurite.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	rows, rowStamps = map[string]auditEntry{}, map[string]string{}
	pager := tables.NewClient("audit").NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var row struct {
				aztables.Entity
				Document  string
				Timestamp string `json:"Timestamp"`
			}
			var e auditEntry
			if err := json.Unmarshal(raw, &row); err != nil || json.Unmarshal([]byte(row.Document), &e) != nil {
				t.Fatalf("audit row %s", raw)
			}
			if _, dup := rows[e.ID]; dup {
				t.Errorf("audit entry %s in two rows", e.ID)
			}
			rows[e.ID], rowStamps[e.ID] = e, row.Timestamp
		}
	}
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	bc := blobs.ServiceClient().NewContainerClient("audit").NewBlobClient(auditBlobName(env.Clock.Now()))
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *props.BlobType != blob.BlobTypeAppendBlob {
		t.Fatalf("the audit blob is a %s, not an append blob", *props.BlobType)
	}
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var e auditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		lines = append(lines, e.ID)
	}
	return rows, rowStamps, lines, string(b)
}

// TestRemediationMatrix runs every action × caller role (Admin, Helpdesk, Reader, none) × integration (read-only,
// read-write) × target (member, guest, protected, privileged, unknown) × dry run through the deployed app, and
// checks each cell's status code, the Graph requests the simulated tenant received (none where the refusal needs
// no lookup, never a change where refused), and its audit row and line.
func TestRemediationMatrix(t *testing.T) {
	t.Parallel()
	var protected entrasim.User
	env := startRemediation(t, 700, nil, func(tn *entrasim.Tenant) []string {
		protected = usersOf(tn).members[0]
		return []string{protected.ID}
	})
	pool := usersOf(env.Tenant)
	pool.members = pool.members[1:]
	privileged := pool.admins[0]
	domain := strings.Split(protected.UserPrincipalName, "@")[1]
	roles := []struct {
		name string
		p    *hostsim.Principal
	}{{"Admin", scenario.AdminCaller}, {"Helpdesk", scenario.HelpdeskCaller}, {"Reader", scenario.ReaderCaller}, {"none", nil}}
	actions := []string{"revoke-sessions", "reset-mfa", "update-user-type", "delete-guest-user"}
	kinds := []string{"member", "guest", "protected", "privileged", "unknown"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	type cell struct {
		name, id    string
		status      int
		graph       int
		writes      int
		reads, plan int
		refused     bool
		role        string
	}
	var cells []cell
	n := 0
	for _, action := range actions {
		for _, role := range roles {
			for _, integ := range []string{"default", "rw"} {
				for _, kind := range kinds {
					for _, dry := range []bool{false, true} {
						n++
						var user, userType string
						switch kind {
						case "member":
							u := next(&pool.members)
							user, userType = u.UserPrincipalName, "Guest"
						case "guest":
							u := next(&pool.guests)
							user, userType = u.UserPrincipalName, "Member"
						case "protected":
							user, userType = protected.UserPrincipalName, "Guest"
						case "privileged":
							user, userType = privileged.UserPrincipalName, "Guest"
						default:
							user, userType = fmt.Sprintf("nobody%d@%s", n, domain), "Guest"
						}
						body := map[string]any{"integration": integ, "user": user, "reason": "matrix", "ticket": fmt.Sprintf("CELL-%d", n), "dryRun": dry}
						if action == "update-user-type" {
							body["userType"] = userType
						}
						name := fmt.Sprintf("%s/%s/%s/%s/dry=%v", action, role.name, integ, kind, dry)

						// The expected answer, from SPEC §7's table and refusal list, in the order the checks apply.
						want, lookups := http.StatusOK, 0
						adminOnly := action == "update-user-type" || action == "delete-guest-user"
						switch {
						case role.p == nil:
							want = http.StatusUnauthorized
						case role.name == "Reader", role.name == "Helpdesk" && adminOnly:
							want = http.StatusForbidden
						case integ == "default":
							want = http.StatusForbidden
						case kind == "unknown":
							want, lookups = http.StatusNotFound, 1
						case kind == "protected":
							want, lookups = http.StatusForbidden, 1
						case kind == "privileged":
							want, lookups = http.StatusForbidden, 2
						case kind == "member" && action == "delete-guest-user":
							want, lookups = http.StatusConflict, 2
						}

						from := len(env.Tenant.Requests())
						res, err := env.Remediate(ctx, action, role.p, fmt.Sprintf("matrix-%d", n), body)
						if err != nil {
							t.Fatal(err)
						}
						sent := env.Tenant.Requests()[from:]
						var w int
						for _, r := range sent {
							if r.Method != http.MethodGet {
								w++
							}
						}
						r := decodeReply(t, res)
						c := cell{name: name, id: r.ID, status: res.StatusCode, graph: len(sent), writes: w, plan: len(r.Plan), role: role.name}
						switch {
						case res.StatusCode != want:
							t.Errorf("%s: %d %s (%s), want %d", name, res.StatusCode, r.Code, cmpOr(r.Error, r.Message), want)
						case want != http.StatusOK:
							c.refused = true
							if r.Error == "" || r.Code == "" || w != 0 || len(sent) != lookups {
								t.Errorf("%s: refused %d %q (%s) after %d Graph requests (%d changes), want %d lookups and no change", name, res.StatusCode, r.Code, r.Error, len(sent), w, lookups)
							}
						case dry:
							if w != 0 || r.Outcome != "dry-run" || len(r.Plan) == 0 && action != "reset-mfa" {
								t.Errorf("%s: dry run sent %d changes, outcome %s, plan %v", name, w, r.Outcome, r.Plan)
							}
						default:
							if w != len(r.Plan) || r.Outcome != "done" && r.Outcome != "no-change" || action != "reset-mfa" && w == 0 {
								t.Errorf("%s: %d changes sent for a plan of %d, outcome %s", name, w, len(r.Plan), r.Outcome)
							}
						}
						cells = append(cells, c)
					}
				}
			}
		}
	}
	if len(cells) != 320 {
		t.Fatalf("%d cells", len(cells))
	}

	rows, _, lines, _ := readAudit(t, env)
	if len(rows) != len(cells) || len(lines) != len(cells) {
		t.Fatalf("%d cells, %d audit rows, %d audit lines", len(cells), len(rows), len(lines))
	}
	for _, c := range cells {
		e, ok := rows[c.id]
		switch {
		case !ok:
			t.Errorf("%s: no audit row", c.name)
		case !slices.Contains(lines, c.id):
			t.Errorf("%s: no audit line", c.name)
		case e.Status != c.status || len(e.Requests) != c.graph || e.Reason != "matrix" || !strings.HasPrefix(e.Ticket, "CELL-") ||
			e.Target == nil || e.Target.Requested == "" || (c.refused != (e.Outcome == "refused")):
			t.Errorf("%s: audit row %+v (answered %d after %d Graph requests)", c.name, e, c.status, c.graph)
		case c.role == "Admin" && (e.Caller.Name != "Ada Admin" || e.Caller.ObjectID != "0b8f4d2c-1111-4222-8333-444455556666" || len(e.Caller.Roles) != 1):
			t.Errorf("%s: caller %+v", c.name, e.Caller)
		case c.role == "none" && e.Caller.Provider != "none":
			t.Errorf("%s: caller %+v", c.name, e.Caller)
		}
		for _, x := range e.Requests {
			if x.RequestID == "" || x.Status == 0 {
				t.Errorf("%s: a Graph request without its status or request-id: %+v", c.name, x)
			}
		}
	}
	// Nothing refused changed the protected or the privileged user.
	for _, u := range env.Tenant.Users() {
		if (u.ID == protected.ID || u.ID == privileged.ID) && u.UserType != "Member" {
			t.Errorf("%s changed to %s", u.UserPrincipalName, u.UserType)
		}
	}
	if ms, _, _ := env.Tenant.AuthMethods(privileged.ID); len(ms) < 2 {
		t.Errorf("the privileged user's methods were reset: %v", ms)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestRemediationKillMidAction kills the handler (SIGKILL) while a reset-mfa is inside Graph: the simulated
// tenant has deleted the second method and holds its answer. The retry with the same Idempotency-Key waits for
// the dead request's lease, then re-reads the live methods and deletes only what is left: every method is deleted
// exactly once. A further retry answers the outcome without calling Graph.
func TestRemediationKillMidAction(t *testing.T) {
	t.Parallel()
	env := startRemediation(t, 40, map[string]string{"REMEDIATION_LEASE_TTL": "3s"}, nil)
	user := usersOf(env.Tenant).members[0]
	methods := []entrasim.AuthMethod{
		{Type: "emailAuthenticationMethod"},
		{Type: "fido2AuthenticationMethod", ID: "f1d0f1d0-0000-4000-8000-000000000001"},
		{Type: "softwareOathAuthenticationMethod", ID: "0a770a77-0000-4000-8000-000000000002"},
	}
	set, err := env.Tenant.SetAuthMethods(user.ID, methods, "")
	if err != nil {
		t.Fatal(err)
	}
	fault, err := entrasim.ParseFaultRule(`{"kind":"delay","delay":"2m","count":1,"path":"/v1.0/users/` + user.ID + `/authentication/fido2Methods/"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Tenant.AddFault(fault); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	body := map[string]any{"integration": "rw", "user": user.UserPrincipalName, "reason": "compromised", "ticket": "INC-42"}
	first := make(chan *hostsim.HTTPResult, 1)
	go func() {
		res, err := env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "kill-key", body)
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	// The tenant holds the fido2 delete's answer (the delete is made): kill the handler now.
	for !faultFired(env.Tenant) {
		select {
		case <-ctx.Done():
			t.Fatal("the held delete never arrived")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := env.Host.Kill(); err != nil {
		t.Fatal(err)
	}
	if res := <-first; res == nil || res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("the killed request answered %+v", res)
	}
	if err := env.Host.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _, _ := env.Tenant.AuthMethods(user.ID); len(left) != 2 {
		t.Fatalf("at the kill: %v (want the email and fido2 gone)", left)
	}

	// Retry as a client would: the dead request's key is busy until its lease runs out.
	var res *hostsim.HTTPResult
	busy := 0
	for {
		res, err = env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "kill-key", body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusConflict {
			break
		}
		busy++
		if r := decodeReply(t, res); r.Code != "in-progress" || res.Header.Get("Retry-After") == "" {
			t.Fatalf("retry refused with %d %s %v", res.StatusCode, r.Code, res.Header)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the key stayed busy")
		case <-time.After(500 * time.Millisecond):
		}
	}
	r := decodeReply(t, res)
	if res.StatusCode != http.StatusOK || r.Outcome != "done" || r.Resumed == nil || len(r.Resumed.Done) != 1 {
		t.Fatalf("resumed: %d %s %+v: %s", res.StatusCode, r.Outcome, r.Resumed, r.Message)
	}
	t.Logf("the retry waited %d times for the dead request's lease, then: %s", busy, r.Message)
	if left, _, _ := env.Tenant.AuthMethods(user.ID); len(left) != 1 {
		t.Fatalf("after the retry: %v", left)
	}
	deletes := map[string]int{}
	for _, rec := range env.Tenant.Requests() {
		if rec.Method == http.MethodDelete {
			deletes[rec.Path[strings.LastIndex(rec.Path, "/")+1:]]++
		}
	}
	for _, m := range set {
		if deletes[m.ID] != 1 {
			t.Errorf("method %s (%s) was deleted %d times", m.ID, m.Type, deletes[m.ID])
		}
	}

	from := len(env.Tenant.Requests())
	again, err := env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "kill-key", body)
	if err != nil {
		t.Fatal(err)
	}
	if again.StatusCode != http.StatusOK || again.Header.Get("Idempotent-Replayed") != "true" || len(env.Tenant.Requests()) != from || decodeReply(t, again).ID != r.ID {
		t.Fatalf("replay: %d %v, %d Graph requests", again.StatusCode, again.Header, len(env.Tenant.Requests())-from)
	}
	rows, _, _, _ := readAudit(t, env)
	if e, ok := rows[r.ID]; !ok || e.ResumedFrom == "" || e.Ticket != "INC-42" || e.Caller.Name != "Hal Helpdesk" {
		t.Errorf("the resumed request's audit entry: %+v", e)
	}
}

func faultFired(tn *entrasim.Tenant) bool {
	for _, f := range tn.Faults() {
		if f.Fired > 0 {
			return true
		}
	}
	return false
}

// TestRemediationAuditTrail: each request — dry run, real, refused, replayed, reused key, unknown action — is one
// row in Table audit and one line in the day's append blob, in the order made; nothing written is rewritten; the
// audit API answers them to a Reader; and no secret appears anywhere (the scenario's scan at the end).
func TestRemediationAuditTrail(t *testing.T) {
	t.Parallel()
	env := startRemediation(t, 40, nil, nil)
	pool := usersOf(env.Tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, g := next(&pool.members), next(&pool.guests)
	type req struct {
		action string
		p      *hostsim.Principal
		key    string
		body   any
		status int
	}
	first := []req{
		{"revoke-sessions", scenario.AdminCaller, "", map[string]any{"integration": "rw", "user": m.ID, "reason": "r", "dryRun": true}, 200},
		{"revoke-sessions", scenario.AdminCaller, "a1", map[string]any{"integration": "rw", "user": m.ID, "reason": "r"}, 200},
		{"delete-guest-user", scenario.HelpdeskCaller, "a2", map[string]any{"integration": "rw", "user": g.ID, "reason": "r"}, 403},
	}
	then := []req{
		{"revoke-sessions", scenario.AdminCaller, "a1", map[string]any{"integration": "rw", "user": m.ID, "reason": "r"}, 200},
		{"revoke-sessions", scenario.AdminCaller, "a1", map[string]any{"integration": "rw", "user": g.ID, "reason": "r"}, 409},
		{"disable-user", scenario.AdminCaller, "a3", `{}`, 404},
		{"delete-guest-user", scenario.AdminCaller, "a4", map[string]any{"integration": "rw", "user": g.UserPrincipalName, "reason": "left", "ticket": "HR-1"}, 200},
	}
	var ids []string
	send := func(rs []req) {
		for _, r := range rs {
			res, err := env.Remediate(ctx, r.action, r.p, r.key, r.body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != r.status {
				t.Fatalf("%s: %d %s", r.action, res.StatusCode, res.Body)
			}
			ids = append(ids, res.Invocation.ID)
		}
	}
	send(first)
	_, stamps0, lines0, text0 := readAudit(t, env)
	send(then)
	rows, stamps, lines, text := readAudit(t, env)
	if !slices.Equal(lines, ids) || len(rows) != len(ids) {
		t.Fatalf("requests %v\naudit lines %v, %d rows", ids, lines, len(rows))
	}
	if !strings.HasPrefix(text, text0) || !slices.Equal(lines[:len(lines0)], lines0) {
		t.Fatal("the audit blob's earlier lines were rewritten")
	}
	for id, ts := range stamps0 {
		if stamps[id] != ts {
			t.Errorf("audit row %s was rewritten (%s, then %s)", id, ts, stamps[id])
		}
	}
	if e := rows[ids[3]]; e.Outcome != "replayed" || e.ReplayOf != ids[1] || len(e.Requests) != 0 {
		t.Errorf("the replay's entry: %+v", e)
	}
	if e := rows[ids[6]]; e.Ticket != "HR-1" || e.Target == nil || e.Target.ID != g.ID || e.Target.UserType != "Guest" || len(e.Requests) < 4 {
		t.Errorf("the delete's entry: %+v", e)
	}

	body, err := env.RemediationAudit(ctx, scenario.ReaderCaller, url.Values{"integration": {"rw"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Entries    []auditEntry
		Unfinished []json.RawMessage
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 6 || len(got.Unfinished) != 0 || !bytes.Contains(body, []byte(`"ticket":"HR-1"`)) {
		t.Fatalf("GET /api/remediation/audit?integration=rw: %d entries (want 6: the unknown action names no integration), %d unfinished", len(got.Entries), len(got.Unfinished))
	}
	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/remediation/audit", Header: http.Header{"x-functions-key": {env.FunctionKey}},
		Principal: scenario.Caller("Nobody", "3e1b7a5f-1111-4222-8333-444455556666")})
	if err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a principal without an app role read the audit trail: %v %+v", err, res)
	}
}
