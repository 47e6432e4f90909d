package entrasim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// Cloud is several simulated tenants behind one Graph endpoint and one token authority, as Microsoft's cloud
// serves all tenants at the same hosts: an MSP's integrations reach every customer tenant through one
// GRAPH_ENDPOINT and one ENTRA_AUTHORITY_HOST. Each tenant keeps its own directory, log streams, throttling
// (Graph's limits are per app and tenant) and counters; a Graph request goes to the tenant its token was issued
// in.
type Cloud struct {
	// Tenants are the cloud's tenants, in the order of the options they were made from.
	Tenants []*Tenant

	authority    *authority.Authority
	graphURL     string
	authorityURL string
	srv          *http.Server
}

// cloudDirectory is the authority's view of every tenant of the cloud.
type cloudDirectory struct{ tenants []*Tenant }

func (d cloudDirectory) Tenant(idOrDomain string) (string, bool) {
	for _, t := range d.tenants {
		if id, ok := t.Directory().Tenant(idOrDomain); ok {
			return id, true
		}
	}
	return "", false
}

func (d cloudDirectory) App(tenantID, appID string) (authority.App, bool) {
	if t := d.byID(tenantID); t != nil {
		return t.Directory().App(tenantID, appID)
	}
	return authority.App{}, false
}

func (d cloudDirectory) TenantName(tenantID string) (string, bool) {
	if t := d.byID(tenantID); t != nil {
		return authDirectory{t}.TenantName(tenantID)
	}
	return "", false
}

func (d cloudDirectory) byID(tenantID string) *Tenant {
	for _, t := range d.tenants {
		if strings.EqualFold(t.TenantID(), tenantID) {
			return t
		}
	}
	return nil
}

// lateVerifier lets tenants be built before the authority whose Verify they use exists.
type lateVerifier struct{ c *Cloud }

func (v lateVerifier) VerifyToken(token, audience string) (Principal, error) {
	return authorityVerifier{v.c.authority}.VerifyToken(token, audience)
}

// StartCloud builds one tenant per Options (their Verifier is the cloud's authority; give each a different Seed
// for different tenants) and serves them over TLS: one Graph endpoint, one token authority. Close stops it.
func StartCloud(opts []Options, ca *testca.CA) (*Cloud, error) {
	if len(opts) == 0 {
		return nil, errors.New("entrasim: StartCloud needs at least one tenant")
	}
	if ca == nil {
		var err error
		if ca, err = testca.Shared(); err != nil {
			return nil, fmt.Errorf("entrasim: test CA: %w", err)
		}
	}
	c := &Cloud{}
	seen := map[string]bool{}
	for i, o := range opts {
		o.Verifier, o.CA = lateVerifier{c}, ca
		t, err := New(&o)
		if err != nil {
			return nil, fmt.Errorf("entrasim: tenant %d: %w", i, err)
		}
		if seen[t.TenantID()] {
			return nil, fmt.Errorf("entrasim: tenant %d has the tenant id of an earlier one (same Seed?)", i)
		}
		seen[t.TenantID()] = true
		t.ca = ca
		c.Tenants = append(c.Tenants, t)
	}
	c.authority = authority.New(cloudDirectory{c.Tenants}, &authority.Options{CA: ca, TokenLifetime: opts[0].TokenLifetime})
	var err error
	if c.authorityURL, err = c.authority.Start(); err != nil {
		return nil, fmt.Errorf("entrasim: token authority: %w", err)
	}
	ln, err := ca.Listen()
	if err != nil {
		_ = c.authority.Close()
		return nil, fmt.Errorf("entrasim: listen: %w", err)
	}
	c.graphURL = "https://" + ln.Addr().String()
	for _, t := range c.Tenants {
		t.graphURL, t.authorityURL, t.authority = c.graphURL, c.authorityURL, c.authority
	}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.route), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// route hands a Graph request to the tenant its bearer token names (tid, read without verifying: the tenant
// verifies it); a request without a usable token goes to the first tenant, which answers 401.
func (c *Cloud) route(w http.ResponseWriter, r *http.Request) {
	target := c.Tenants[0]
	if _, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		if parts := strings.Split(strings.TrimSpace(token), "."); len(parts) == 3 {
			var claims struct {
				Tid string `json:"tid"`
			}
			if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(b, &claims) == nil {
				if t := (cloudDirectory{c.Tenants}).byID(claims.Tid); t != nil {
					target = t
				}
			}
		}
	}
	target.ServeHTTP(w, r)
}

// GraphURL is the cloud's Graph endpoint (serving /v1.0 and /beta of every tenant).
func (c *Cloud) GraphURL() string { return c.graphURL }

// AuthorityURL is the cloud's token authority (azidentity's ActiveDirectoryAuthorityHost).
func (c *Cloud) AuthorityURL() string { return c.authorityURL }

// Authority is the cloud's token authority.
func (c *Cloud) Authority() *authority.Authority { return c.authority }

// Close stops the servers.
func (c *Cloud) Close() error {
	var errs []error
	if c.srv != nil {
		errs = append(errs, c.srv.Close())
	}
	if c.authority != nil {
		errs = append(errs, c.authority.Close())
	}
	return errors.Join(errs...)
}
