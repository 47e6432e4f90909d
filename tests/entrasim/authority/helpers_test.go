package authority

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/testca"
)

// Identities of the test tenant. Secret values are test data, never real credentials.
const (
	testTenant     = "0b4d2a5e-7f11-4c8a-9d3e-1a2b3c4d5e6f"
	testTenantName = "Contoso Test"
	testDomain     = "contoso-test.onmicrosoft.com"
	testApp        = "11111111-2222-4333-8444-555555555555"
	testAppName    = "Entra ID Data Integration"
	testSecret     = "s3cr3t-value-current"
	expiredSecret  = "s3cr3t-value-expired"
	futureSecret   = "s3cr3t-value-future"
	noRolesApp     = "66666666-7777-4888-9999-aaaaaaaaaaaa"
	noRolesSecret  = "s3cr3t-value-noroles"
)

var testRoles = []string{"AuditLog.Read.All", "Directory.Read.All", "User.Read.All"}

// testClock is a simulated clock the tests advance by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a started authority with one tenant and two apps.
type fixture struct {
	auth   *Authority
	dir    *StaticDirectory
	clock  *testClock
	ca     *testca.CA
	base   string
	client *http.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := testca.Shared()
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	clock := newTestClock()
	now := clock.Now()
	dir := NewStaticDirectory()
	if err := dir.AddTenant(Tenant{ID: testTenant, DisplayName: testTenantName, Domains: []string{testDomain}}); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutApp(testTenant, App{
		AppID:       testApp,
		DisplayName: testAppName,
		Roles:       testRoles,
		Secrets: []Secret{
			{KeyID: "key-current", Value: testSecret, Start: now.AddDate(0, -1, 0), End: now.AddDate(1, 0, 0)},
			{KeyID: "key-expired", Value: expiredSecret, Start: now.AddDate(-2, 0, 0), End: now.AddDate(0, 0, -1)},
			{KeyID: "key-future", Value: futureSecret, Start: now.AddDate(0, 0, 1), End: now.AddDate(1, 0, 0)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutApp(testTenant, App{
		AppID: noRolesApp, DisplayName: "No roles",
		Secrets: []Secret{{KeyID: "k", Value: noRolesSecret}},
	}); err != nil {
		t.Fatal(err)
	}
	a := New(dir, &Options{Now: clock.Now, CA: ca})
	base, err := a.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{auth: a, dir: dir, clock: clock, ca: ca, base: base, client: ca.Client()}
}

// decodeJWT splits a token into header and payload maps without verifying it.
func decodeJWT(t *testing.T, token string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	var hdr, payload map[string]any
	for i, v := range []*map[string]any{&hdr, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	return hdr, payload
}

// verifyWithJWKS checks the token's RS256 signature with the key the JWKS publishes for its kid, the way a
// third-party resource would.
func verifyWithJWKS(t *testing.T, client *http.Client, jwksURI, token string) {
	t.Helper()
	resp, err := client.Get(jwksURI)
	if err != nil {
		t.Fatalf("GET jwks: %v", err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatalf("decode jwks: %v", err)
	}
	hdr, _ := decodeJWT(t, token)
	for _, k := range jwks.Keys {
		if k.Kid != hdr["kid"] {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || k.Kty != "RSA" {
			t.Fatalf("bad JWK %+v", k)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		i := strings.LastIndex(token, ".")
		sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256([]byte(token[:i]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("signature does not verify with the JWKS key: %v", err)
		}
		return
	}
	t.Fatalf("kid %v not in JWKS", hdr["kid"])
}
