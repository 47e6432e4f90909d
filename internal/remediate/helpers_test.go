package remediate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/testca"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// fakeIntegrations is the integrations the tests declare.
type fakeIntegrations map[string]integrations.Integration

func (f fakeIntegrations) Get(_ context.Context, id string) (integrations.Integration, error) {
	if i, ok := f[id]; ok {
		return i, nil
	}
	return integrations.Integration{}, fmt.Errorf("%w: %q", integrations.ErrNotFound, id)
}

// testClock is the real clock moved forward by a test (key retention, leases).
type testClock struct{ skew atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *testClock) Advance(d time.Duration) { c.skew.Add(int64(d)) }

// env is a simulated tenant (TLS Graph and token authority), the real Graph client of each integration, and the
// service on Azurite. Integrations: "rw" (read-write, granted the write permissions), "ro" (read-only),
// "rw-ungranted" (declared read-write, its app granted only the read-only set).
type env struct {
	t       testing.TB
	tn      *entrasim.Tenant
	svc     *Service
	audit   *AuditLog
	intents *Intents
	integ   fakeIntegrations
	clock   *testClock
	clients map[string]*graph.Client
	n       atomic.Int64
}

// svcClient is the Graph client of the read-write integration.
func (e *env) svcClient(t *testing.T) *graph.Client { return e.clients["rw"] }

type envOptions struct {
	users     int
	keyRole   access.Role
	leaseTTL  time.Duration
	protected []string
}

var integrationIDs = []string{"rw", "ro", "rw-ungranted"}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.users == 0 {
		o.users = 120
	}
	tn, err := entrasim.Start(&entrasim.Options{Seed: 211, Users: o.users, Roles: entrasim.ReadWriteRoles(), DisableThrottling: true,
		Streams: noStreams(), History: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	ro, err := tn.AddApp("read-only integration", entrasim.ReadOnlyRoles())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]struct {
		clientID, secret string
		perms            catalog.Access
	}{
		"rw":           {tn.ClientID(), tn.ClientSecret(), catalog.ReadWrite},
		"ro":           {ro.AppID, ro.PasswordCredentials[0].SecretText, catalog.ReadOnly},
		"rw-ungranted": {ro.AppID, ro.PasswordCredentials[0].SecretText, catalog.ReadWrite},
	}
	e := &env{t: t, tn: tn, integ: fakeIntegrations{}, clock: &testClock{}, clients: map[string]*graph.Client{}}
	clients := e.clients
	for id, a := range apps {
		secret := a.secret
		cred, err := graph.NewSecretCredential(tn.TenantID(), a.clientID, func(context.Context, bool) (string, error) { return secret, nil },
			&graph.CredentialOptions{AuthorityHost: tn.AuthorityURL(), Transport: ca.Client()})
		if err != nil {
			t.Fatal(err)
		}
		// The simulated tenant does not throttle here; neither does the client (authentication methods spend the
		// reports family's 5 requests / 10 s in Azure).
		c, err := graph.New(cred, &graph.Options{Endpoint: tn.GraphURL(), Transport: ca.Client().Transport,
			Retry:   graph.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond},
			Budgets: map[catalog.Family]catalog.Budget{catalog.Reports: {Requests: 1000, Window: 100 * time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		clients[id] = c
		e.integ[id] = integrations.Integration{ID: id, Name: id, TenantID: tn.TenantID(), ClientID: a.clientID, SecretName: "integration-" + id,
			Permissions: a.perms, ProtectedUsers: o.protected, Source: "table"}
	}
	svc, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azurite.Shared(t).BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	e.audit = NewAuditLog(svc, blobs, &AuditOptions{Table: azurite.UniqueName(t, "audit"), Container: azurite.UniqueName(t, "auditblobs")})
	e.intents = NewIntents(svc, azurite.UniqueName(t, "keys"))
	e.svc = New(e.integ, func(i integrations.Integration) (*graph.Client, error) { return clients[i.ID], nil }, e.audit, e.intents,
		&Options{KeyRole: o.keyRole, LeaseTTL: o.leaseTTL, Now: e.clock.Now})
	if err := e.svc.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

func noStreams() map[string]entrasim.StreamOptions {
	out := map[string]entrasim.StreamOptions{}
	for _, s := range entrasim.StreamNames() {
		out[s] = entrasim.StreamOptions{Rate: -1}
	}
	return out
}

// principal is an X-MS-CLIENT-PRINCIPAL value with the given app roles.
func principal(name, oid string, roles ...access.Role) string {
	claims := []map[string]string{{"typ": "name", "val": name}, {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid}}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": "roles", "val": string(r)})
	}
	b, _ := json.Marshal(map[string]any{"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"})
	return base64.StdEncoding.EncodeToString(b)
}

var (
	adminPrincipal    = principal("Ada Admin", "0b8f4d2c-1111-4222-8333-444455556666", access.Admin)
	helpdeskPrincipal = principal("Hal Helpdesk", "1c9f5e3d-1111-4222-8333-444455556666", access.Helpdesk)
	readerPrincipal   = principal("Rita Reader", "2d0a6f4e-1111-4222-8333-444455556666", access.Reader)
)

// call sends one request through the service.
type call struct {
	action, principal, key string
	body                   any
}

func (e *env) do(c call) Reply {
	e.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case string:
		body = []byte(b)
	case nil:
	default:
		body, _ = json.Marshal(b)
	}
	id := fmt.Sprintf("req-%s-%04d", strings.ReplaceAll(e.t.Name(), "/", "-"), e.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.svc.Handle(ctx, Call{ID: id, Time: time.Now().UTC(), Method: http.MethodPost, Action: c.action, Principal: c.principal,
		IdempotencyKey: c.key, Body: body})
}

// graphRequests returns the simulated tenant's request log from index from on.
func (e *env) graphRequests(from int) []entrasim.RequestRecord {
	all := e.tn.Requests()
	if from > len(all) {
		return nil
	}
	return all[from:]
}

func writes(recs []entrasim.RequestRecord) []entrasim.RequestRecord {
	return slices.DeleteFunc(slices.Clone(recs), func(r entrasim.RequestRecord) bool { return r.Method == http.MethodGet })
}

// result decodes a reply body as a Result.
func result(t *testing.T, r Reply) Result {
	t.Helper()
	var res Result
	b, err := json.Marshal(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("reply %d is not a Result: %v\n%s", r.Status, err, b)
	}
	return res
}

func errorReply(t *testing.T, r Reply) ErrorReply {
	t.Helper()
	var er ErrorReply
	b, _ := json.Marshal(r.Body)
	if err := json.Unmarshal(b, &er); err != nil || er.Error == "" || er.Code == "" {
		t.Fatalf("reply %d is not an error with a message and a code: %s", r.Status, b)
	}
	return er
}

// pick finds users of the tenant: members without roles, guests, role holders.
type people struct {
	mu      sync.Mutex
	members []entrasim.User
	guests  []entrasim.User
	admins  []entrasim.User
}

func (e *env) people() *people {
	u := &people{}
	for _, x := range e.tn.Users() {
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

func (u *people) take(list *[]entrasim.User) entrasim.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(*list) == 0 {
		panic("test tenant ran out of users")
	}
	x := (*list)[0]
	*list = (*list)[1:]
	return x
}

func (u *people) member() entrasim.User { return u.take(&u.members) }
func (u *people) guest() entrasim.User  { return u.take(&u.guests) }

// entries reads the audit trail of the last hour.
func (e *env) entries() []Entry {
	e.t.Helper()
	got, err := e.audit.Query(context.Background(), "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) entry(id string) Entry {
	e.t.Helper()
	for _, x := range e.entries() {
		if x.ID == id {
			return x
		}
	}
	e.t.Fatalf("no audit entry %s", id)
	return Entry{}
}
