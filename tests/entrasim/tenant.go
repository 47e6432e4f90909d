package entrasim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// Tenant is a simulated Entra tenant: its directory, its log streams and the Graph endpoint serving them.
type Tenant struct {
	cfg   *config
	dir   *directory
	store *store // the live directory objects
	order int    // creation order of applications and service principals
	// spSeeds and deviceSeeds are what the initial service principals and devices are generated from.
	spSeeds     []spSeed
	deviceSeeds []deviceSeed
	// churn is the directory churn engine's state (guarded by store.mu).
	churn churnState
	// risk is the Identity Protection changes' state (guarded by store.mu).
	risk riskEngine
	// mailboxes counts the mailboxSettings requests in flight (peruser.go).
	mailboxes mailboxGauge
	// licNow, once AddLicence was called, is the licence set in force (cfg.lic before).
	licNow atomic.Pointer[licences]
	// syncGen is each delta collection's synchronization generation: ResetDeltaSync bumps it, and tokens
	// from an older generation get the 410 synchronization reset (guarded by store.mu).
	syncGen map[string]uint64
	// activity is the signInActivity tracker.
	activity *activityTracker
	gen      *gen
	streams  map[string]*stream
	routes   []*route
	limiter  *limiter
	faults   *faults
	counters *counters
	verifier TokenVerifier
	skipKey  []byte

	rngMu  sync.Mutex
	rng    *rng
	reqSeq atomic.Uint64
	// secretPropagation is how long after its start a client secret is refused (SetSecretPropagation).
	secretPropagation atomic.Int64

	ca           *testca.CA
	authority    *authority.Authority // nil with a custom Verifier
	graphURL     string
	authorityURL string
	srv          *http.Server
	closers      []func() error
	closeOnce    sync.Once
}

// New builds a tenant without serving it: use Handler (or ServeHTTP) in-process. Start builds and serves.
func New(opts *Options) (*Tenant, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	t := &Tenant{
		cfg:      cfg,
		dir:      newDirectory(cfg),
		streams:  map[string]*stream{},
		limiter:  newLimiter(cfg.ThrottleScale, cfg.ThrottleCountRejected, cfg.Users),
		faults:   newFaults(uint64(cfg.Seed)),
		counters: newCounters(cfg.RequestLogLimit),
		verifier: cfg.Verifier,
		rng:      newRNG(uint64(cfg.Seed), strKey("tenant-rng")),
	}
	t.limiter.capacity *= cfg.ResourceUnitScale
	for f, share := range cfg.SharedBudget {
		t.limiter.shares[family(f)] = share
	}
	t.limiter.onOther = t.counters.other
	t.gen = &gen{seed: uint64(cfg.Seed), cast: t.dir.snapshot(uint64(cfg.Seed))}
	t.store = newStore(cfg.RemovalDelay)
	t.populate()
	t.churn.slot = cfg.start.UnixNano()/int64(time.Hour) + 1
	t.churn.recycle = map[string][]recycled{}
	t.syncGen = map[string]uint64{}
	t.activity = newActivityTracker(t)
	for _, d := range streamDefs {
		t.streams[d.name] = newStream(cfg, d)
	}
	var seedBytes [8]byte
	binary.BigEndian.PutUint64(seedBytes[:], uint64(cfg.Seed))
	key := sha256.Sum256(append(append([]byte("entrasim skiptoken "), seedBytes[:]...), t.dir.tenantID...))
	t.skipKey = key[:]
	t.buildRoutes()
	t.buildDirRoutes()
	t.buildRemediationRoutes()
	t.buildPerObjectRoutes()
	t.buildSKURoutes()
	for _, f := range cfg.Faults {
		if _, err := t.faults.add(f); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Start builds a tenant and serves Graph (and, unless Options.Verifier is set, the token authority) over
// TLS on free loopback ports, with certificates from Options.CA. Close stops both.
func Start(opts *Options) (*Tenant, error) {
	t, err := New(opts)
	if err != nil {
		return nil, err
	}
	t.ca = t.cfg.CA
	if t.ca == nil {
		if t.ca, err = testca.Shared(); err != nil {
			return nil, fmt.Errorf("entrasim: test CA: %w", err)
		}
	}
	if t.verifier == nil {
		if err := t.startAuthority(); err != nil {
			_ = t.Close()
			return nil, err
		}
	}
	ln, err := t.ca.Listen()
	if err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("entrasim: listen: %w", err)
	}
	t.graphURL = "https://" + ln.Addr().String()
	t.srv = &http.Server{
		Handler:           t,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(t.cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() { _ = t.srv.Serve(ln) }()
	t.closers = append(t.closers, t.srv.Close)
	return t, nil
}

// Close stops the servers. It is safe to call more than once.
func (t *Tenant) Close() error {
	var errs []error
	t.closeOnce.Do(func() {
		for i := len(t.closers) - 1; i >= 0; i-- {
			if err := t.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// Handler returns the Graph handler (the same as the tenant itself).
func (t *Tenant) Handler() http.Handler { return t }

// GraphURL is the Graph endpoint, e.g. https://127.0.0.1:PORT (serving /v1.0/... and /beta/...).
func (t *Tenant) GraphURL() string { return t.graphURL }

// AuthorityURL is the token authority's base URL ("https://127.0.0.1:PORT/"), to be used as azidentity's
// ActiveDirectoryAuthorityHost; empty with a custom Verifier.
func (t *Tenant) AuthorityURL() string { return t.authorityURL }

// Authority is the built-in token authority (nil with a custom Verifier), e.g. for its counters.
func (t *Tenant) Authority() *authority.Authority { return t.authority }

// TenantID is the tenant's id.
func (t *Tenant) TenantID() string { return t.dir.tenantID }

// TenantDomain is the tenant's initial domain (<name>.onmicrosoft.com).
func (t *Tenant) TenantDomain() string { return t.dir.domain }

// ClientID is the integration app's client (application) id.
func (t *Tenant) ClientID() string { return t.dir.integration.AppID }

// ClientSecret is the integration app's client secret (test data).
func (t *Tenant) ClientSecret() string { return t.integrationSecret().SecretText }

// SecretID is the key id of the integration app's client secret.
func (t *Tenant) SecretID() string { return t.integrationSecret().KeyID }

// SecretExpires is when the integration app's client secret expires.
func (t *Tenant) SecretExpires() time.Time { return t.integrationSecret().EndDateTime }

func (t *Tenant) integrationSecret() PasswordCredential {
	app, _ := t.appByClientID(t.dir.integration.AppID)
	if len(app.PasswordCredentials) == 0 {
		return PasswordCredential{}
	}
	return app.PasswordCredentials[0]
}

// CACertPath is the PEM file of the CA the servers' certificates chain to ("" before Start).
func (t *Tenant) CACertPath() string {
	if t.ca == nil {
		return ""
	}
	return t.ca.PEMPath()
}

// Now is the tenant's simulated time.
func (t *Tenant) Now() time.Time { return t.cfg.Now().UTC() }

// StartTime is the simulated time the tenant was created at.
func (t *Tenant) StartTime() time.Time { return t.cfg.start }

// AddFault activates a fault rule and returns its id.
func (t *Tenant) AddFault(r FaultRule) (int, error) { return t.faults.add(r) }

// RemoveFault deactivates a fault rule; false when there is no such rule.
func (t *Tenant) RemoveFault(id int) bool { return t.faults.remove(id) }

// ClearFaults deactivates every fault rule.
func (t *Tenant) ClearFaults() { t.faults.clear() }

// Faults lists the active fault rules with their counters.
func (t *Tenant) Faults() []FaultState { return t.faults.list() }

// Counters returns a snapshot of the counters.
func (t *Tenant) Counters() Counters { return t.counters.snapshot() }

// Requests returns the per-request log, oldest first.
func (t *Tenant) Requests() []RequestRecord { return t.counters.requestsLog() }

// ResetCounters zeroes the counters and empties the request log.
func (t *Tenant) ResetCounters() { t.counters.reset() }

// Info describes a running tenant for scripts (the CLI prints it as JSON).
type Info struct {
	GraphURL      string    `json:"graphUrl"`
	AuthorityURL  string    `json:"authorityUrl"`
	SimURL        string    `json:"simUrl"`
	TenantID      string    `json:"tenantId"`
	TenantDomain  string    `json:"tenantDomain"`
	ClientID      string    `json:"clientId"`
	ClientSecret  string    `json:"clientSecret"`
	SecretID      string    `json:"secretId"`
	SecretExpires time.Time `json:"secretExpires"`
	CACertPath    string    `json:"caCertPath"`
	Seed          int64     `json:"seed"`
	Licences      []Licence `json:"licences"`
	Now           time.Time `json:"now"`
}

// Info returns the tenant's description.
func (t *Tenant) Info() Info {
	sim := ""
	if t.graphURL != "" {
		sim = t.graphURL + "/_sim"
	}
	return Info{
		GraphURL: t.graphURL, AuthorityURL: t.authorityURL, SimURL: sim, TenantID: t.TenantID(),
		TenantDomain: t.TenantDomain(), ClientID: t.ClientID(), ClientSecret: t.ClientSecret(), SecretID: t.SecretID(),
		SecretExpires: t.SecretExpires(), CACertPath: t.CACertPath(), Seed: t.cfg.Seed,
		Licences: slices.Clone(t.cfg.Licences), Now: t.Now(),
	}
}

// lic is the licence set in force.
func (t *Tenant) lic() licences {
	if l := t.licNow.Load(); l != nil {
		return *l
	}
	return t.cfg.lic
}

// AddLicence gives the tenant a licence from now on, as a purchase would: its data types answer from the next
// request.
func (t *Tenant) AddLicence(l Licence) {
	for {
		old := t.licNow.Load()
		cur := t.cfg.lic
		if old != nil {
			cur = *old
		}
		next := cur
		add := resolveLicences([]Licence{l})
		next.p1, next.p2 = next.p1 || add.p1, next.p2 || add.p2
		next.intune, next.workloadID, next.agentID = next.intune || add.intune, next.workloadID || add.workloadID, next.agentID || add.agentID
		if t.licNow.CompareAndSwap(old, &next) {
			return
		}
	}
}
