package kvsim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// Audience is the resource Key Vault tokens are issued for.
const Audience = authority.VaultResource

// LatestAPIVersion is the newest api-version the stand-in accepts (azsecrets v1.5.1's default).
const LatestAPIVersion = "2026-04-01"

// apiVersions are the data-plane api-versions accepted (stable releases up to azsecrets v1.5.1's).
var apiVersions = []string{"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", LatestAPIVersion}

// PermissionModel selects how the vault words its 403 answers.
type PermissionModel int

const (
	// RBAC is Azure role-based access control (the default for new vaults): 403 innererror ForbiddenByRbac.
	RBAC PermissionModel = iota
	// AccessPolicy is the legacy vault access policy model: 403 innererror AccessDenied.
	AccessPolicy
)

// Options configures a vault. AuthorityURL, TenantID and Verify are required.
type Options struct {
	// AuthorityURL is the token authority's base URL, for example authority.URL() ("https://127.0.0.1:PORT/").
	AuthorityURL string
	// TenantID is the vault's tenant; the challenge names it and tokens from other tenants are refused.
	TenantID string
	// Verify checks a bearer token for an audience, for example (*authority.Authority).Verify.
	Verify func(token, audience string) (*authority.Claims, error)
	// CA issues the TLS certificate; nil means testca.Shared().
	CA *testca.CA
	// Now is the clock for created/updated/deleted dates; nil means time.Now.
	Now func() time.Time
	// ReadAllow lists the app IDs allowed to get and list secrets; nil allows any authenticated principal of the
	// tenant, an empty non-nil slice allows none.
	ReadAllow []string
	// WriteAllow lists the app IDs allowed to set, update, delete, recover and purge; nil allows any.
	WriteAllow []string
	// Name is the vault name used in messages and resource IDs; default "kvsim".
	Name string
	// Location is the region named in 403 messages; default "westeurope".
	Location string
	// Model is the permission model; default RBAC.
	Model PermissionModel
	// PageSize is the default page size of list operations; zero means 25, Key Vault's page size.
	PageSize int
	// RecoverableDays is the soft-delete retention; zero means 90.
	RecoverableDays int
	// StrictExpiry answers an expired token with a plain 401 even when the client is CAE-capable (see the package
	// documentation).
	StrictExpiry bool
}

// Counters count the requests a vault has answered.
type Counters struct {
	// Requests is every HTTP request received.
	Requests int
	// Challenges counts 401 answers to requests without a bearer token.
	Challenges int
	// Unauthorized counts 401 answers to requests with a token that failed verification.
	Unauthorized int
	// CAEChallenges counts 401 answers carrying a CAE claims challenge.
	CAEChallenges int
	// Forbidden counts 403 answers from access control.
	Forbidden int
	// Unavailable counts 503 answers while SetUnavailable(true).
	Unavailable int
	// ByOperation counts authenticated requests by operation name (GetSecret, SetSecret, ...).
	ByOperation map[string]int
	// ByStatus counts responses by status code.
	ByStatus map[int]int
}

// Vault is a running Key Vault stand-in.
type Vault struct {
	opts        Options
	now         func() time.Time
	srv         *http.Server
	done        chan struct{}
	url         string // "https://127.0.0.1:PORT", no trailing slash (Key Vault IDs are built on it)
	unavailable atomic.Bool

	mu       sync.Mutex
	read     []string
	write    []string
	active   map[string]*secret // by lower-case name
	deleted  map[string]*deletedSecret
	counters Counters
	reads    []Read
}

// Read is one secret value the vault handed out: the secret and the version it was (the current one when the
// request named none).
type Read struct {
	Name, Version string
	At            time.Time
}

// Reads returns every value read so far (GetSecret answered with a value), oldest first.
func (v *Vault) Reads() []Read {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.reads)
}

// Start starts a vault on a free 127.0.0.1 port with TLS.
func Start(opts *Options) (*Vault, error) {
	if opts == nil {
		return nil, errors.New("kvsim: Options are required (AuthorityURL, TenantID, Verify)")
	}
	o := *opts
	switch {
	case o.AuthorityURL == "":
		return nil, errors.New("kvsim: Options.AuthorityURL is required")
	case o.TenantID == "":
		return nil, errors.New("kvsim: Options.TenantID is required")
	case o.Verify == nil:
		return nil, errors.New("kvsim: Options.Verify is required")
	}
	if !strings.HasSuffix(o.AuthorityURL, "/") {
		o.AuthorityURL += "/"
	}
	if o.Name == "" {
		o.Name = "kvsim"
	}
	if o.Location == "" {
		o.Location = "westeurope"
	}
	if o.PageSize <= 0 || o.PageSize > maxPageSize {
		o.PageSize = maxPageSize
	}
	if o.RecoverableDays <= 0 {
		o.RecoverableDays = 90
	}
	v := &Vault{
		opts:     o,
		now:      o.Now,
		read:     slices.Clone(o.ReadAllow),
		write:    slices.Clone(o.WriteAllow),
		active:   map[string]*secret{},
		deleted:  map[string]*deletedSecret{},
		counters: Counters{ByOperation: map[string]int{}, ByStatus: map[int]int{}},
	}
	if v.now == nil {
		v.now = time.Now
	}
	ca := o.CA
	if ca == nil {
		var err error
		if ca, err = testca.Shared(); err != nil {
			return nil, fmt.Errorf("kvsim: test CA: %w", err)
		}
	}
	ln, err := ca.Listen()
	if err != nil {
		return nil, fmt.Errorf("kvsim: listen: %w", err)
	}
	v.url = "https://" + ln.Addr().String()
	v.srv = &http.Server{Handler: v.Handler(), ReadHeaderTimeout: 10 * time.Second}
	v.done = make(chan struct{})
	go func() {
		defer close(v.done)
		_ = v.srv.Serve(ln) // http.ErrServerClosed after Close
	}()
	return v, nil
}

// URL returns the vault URL for azsecrets.NewClient, for example "https://127.0.0.1:41234/".
func (v *Vault) URL() string { return v.url + "/" }

// Close stops the vault and waits for its server to finish.
func (v *Vault) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := v.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, v.srv.Close())
	}
	<-v.done
	return err
}

// SetUnavailable makes the vault answer every request with 503 (true) or serve normally again (false).
func (v *Vault) SetUnavailable(unavailable bool) { v.unavailable.Store(unavailable) }

// SetAccess replaces the read and write allow-lists (same meaning as Options.ReadAllow and WriteAllow).
func (v *Vault) SetAccess(read, write []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.read, v.write = slices.Clone(read), slices.Clone(write)
}

// Counters returns a snapshot of the counters.
func (v *Vault) Counters() Counters {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.counters
	c.ByOperation = maps.Clone(c.ByOperation)
	c.ByStatus = maps.Clone(c.ByStatus)
	return c
}

// Handler returns the vault's HTTP handler (the server Start runs uses it).
func (v *Vault) Handler() http.Handler { return http.HandlerFunc(v.serve) }

// access is what an operation needs from access control.
type access struct {
	write      bool
	rbacAction string // Azure RBAC data action
	policyPerm string // access-policy secret permission
	vaultLevel bool   // the RBAC resource is the vault, not a secret
}

// route is one data-plane operation.
type route struct {
	name   string
	access access
	handle func(v *Vault, r *http.Request, name, version string) (int, any, *kvError)
}

var (
	accGet     = access{rbacAction: "Microsoft.KeyVault/vaults/secrets/getSecret/action", policyPerm: "get"}
	accList    = access{rbacAction: "Microsoft.KeyVault/vaults/secrets/readMetadata/action", policyPerm: "list", vaultLevel: true}
	accVersion = access{rbacAction: "Microsoft.KeyVault/vaults/secrets/readMetadata/action", policyPerm: "list"}
	accSet     = access{write: true, rbacAction: "Microsoft.KeyVault/vaults/secrets/setSecret/action", policyPerm: "set"}
	accUpdate  = access{write: true, rbacAction: "Microsoft.KeyVault/vaults/secrets/update/action", policyPerm: "set"}
	accDelete  = access{write: true, rbacAction: "Microsoft.KeyVault/vaults/secrets/delete", policyPerm: "delete"}
	accRecover = access{write: true, rbacAction: "Microsoft.KeyVault/vaults/secrets/recover/action", policyPerm: "recover"}
	accPurge   = access{write: true, rbacAction: "Microsoft.KeyVault/vaults/secrets/purge/action", policyPerm: "purge"}
)

// resolve maps a method and path to an operation, the secret name and the version.
func resolve(method, path string) (*route, string, string, *kvError) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var rt *route
	var name, version string
	switch {
	case len(segs) == 1 && segs[0] == "secrets":
		rt = pick(method, map[string]*route{http.MethodGet: {"GetSecrets", accList, (*Vault).listSecrets}})
	case len(segs) == 2 && segs[0] == "secrets" && segs[1] != "":
		name = segs[1]
		rt = pick(method, map[string]*route{
			http.MethodPut:    {"SetSecret", accSet, (*Vault).setSecret},
			http.MethodGet:    {"GetSecret", accGet, (*Vault).getSecret},
			http.MethodPatch:  {"UpdateSecret", accUpdate, (*Vault).updateSecret},
			http.MethodDelete: {"DeleteSecret", accDelete, (*Vault).deleteSecret},
		})
	case len(segs) == 3 && segs[0] == "secrets" && segs[1] != "" && segs[2] == "versions":
		name = segs[1]
		rt = pick(method, map[string]*route{http.MethodGet: {"GetSecretVersions", accVersion, (*Vault).listVersions}})
	case len(segs) == 3 && segs[0] == "secrets" && segs[1] != "":
		name, version = segs[1], segs[2]
		rt = pick(method, map[string]*route{
			http.MethodGet:   {"GetSecret", accGet, (*Vault).getSecret},
			http.MethodPatch: {"UpdateSecret", accUpdate, (*Vault).updateSecret},
		})
	case len(segs) == 1 && segs[0] == "deletedsecrets":
		rt = pick(method, map[string]*route{http.MethodGet: {"GetDeletedSecrets", accList, (*Vault).listDeleted}})
	case len(segs) == 2 && segs[0] == "deletedsecrets" && segs[1] != "":
		name = segs[1]
		rt = pick(method, map[string]*route{
			http.MethodGet:    {"GetDeletedSecret", accList, (*Vault).getDeleted},
			http.MethodDelete: {"PurgeDeletedSecret", accPurge, (*Vault).purgeDeleted},
		})
	case len(segs) == 3 && segs[0] == "deletedsecrets" && segs[1] != "" && segs[2] == "recover":
		name = segs[1]
		rt = pick(method, map[string]*route{http.MethodPost: {"RecoverDeletedSecret", accRecover, (*Vault).recoverDeleted}})
	default:
		e := errNotFoundRoute()
		return nil, "", "", &e
	}
	if rt == nil {
		e := errMethodNotAllowed(method)
		return nil, "", "", &e
	}
	if name != "" && !validName(name) {
		e := errBadParameter("The request URI contains an invalid name: " + name)
		return nil, "", "", &e
	}
	return rt, name, version, nil
}

func pick(method string, m map[string]*route) *route { return m[method] }

// validName applies Key Vault's object-name rule: 1-127 characters of 0-9, a-z, A-Z and '-'.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for _, c := range s {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	v.count(func(c *Counters) { c.Requests++ })
	setHeaders(w, r)
	if v.unavailable.Load() {
		v.count(func(c *Counters) { c.Unavailable++ })
		v.writeError(w, errUnavailable())
		return
	}
	claims, ok := v.authenticate(w, r)
	if !ok {
		return
	}
	rt, name, version, kerr := resolve(r.Method, r.URL.Path)
	if kerr != nil {
		v.writeError(w, *kerr)
		return
	}
	v.count(func(c *Counters) { c.ByOperation[rt.name]++ })
	if kerr := checkAPIVersion(r); kerr != nil {
		v.writeError(w, *kerr)
		return
	}
	if kerr := v.authorize(claims, rt.access, name); kerr != nil {
		v.count(func(c *Counters) { c.Forbidden++ })
		v.writeError(w, *kerr)
		return
	}
	status, body, kerr := rt.handle(v, r, name, version)
	if kerr != nil {
		v.writeError(w, *kerr)
		return
	}
	v.writeJSON(w, status, body)
}

// authenticate checks the bearer token and answers 401 itself when it is missing or bad.
func (v *Vault) authenticate(w http.ResponseWriter, r *http.Request) (*authority.Claims, bool) {
	challenge := fmt.Sprintf(`Bearer authorization="%s%s", resource="%s"`, v.opts.AuthorityURL, v.opts.TenantID, Audience)
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		v.count(func(c *Counters) { c.Challenges++ })
		w.Header().Set("WWW-Authenticate", challenge)
		v.writeError(w, kvError{http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", ""})
		return nil, false
	}
	token = strings.TrimSpace(token)
	claims, err := v.opts.Verify(token, Audience)
	if err == nil && !strings.EqualFold(claims.TenantID, v.opts.TenantID) {
		err = &authority.TokenError{Reason: authority.ErrWrongIssuer, Claims: claims}
	}
	if err == nil {
		return claims, true
	}
	v.count(func(c *Counters) { c.Unauthorized++ })
	var te *authority.TokenError
	if errors.As(err, &te) && errors.Is(err, authority.ErrTokenExpired) && te.Claims != nil && te.Claims.CAECapable() && !v.opts.StrictExpiry {
		v.count(func(c *Counters) { c.CAEChallenges++ })
		challenge = authority.CAEChallenge(v.opts.AuthorityURL, v.now())
	}
	w.Header().Set("WWW-Authenticate", challenge)
	v.writeError(w, kvError{http.StatusUnauthorized, "Unauthorized", v.tokenMessage(token, err), ""})
	return nil, false
}

// tokenMessage is Key Vault's message for a token that failed verification. It never includes the token's
// signature or payload.
func (v *Vault) tokenMessage(token string, err error) string {
	var te *authority.TokenError
	errors.As(err, &te)
	switch {
	case errors.Is(err, authority.ErrWrongAudience):
		found := ""
		if te != nil && te.Claims != nil {
			found = te.Claims.Audience
		}
		return fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", Audience, found)
	case errors.Is(err, authority.ErrUnknownSigningKey):
		header, _, _ := strings.Cut(token, ".")
		return fmt.Sprintf("AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '%s'.", header)
	case errors.Is(err, authority.ErrWrongIssuer):
		found := ""
		if te != nil && te.Claims != nil {
			found = te.Claims.Issuer
		}
		return fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found %s.", v.opts.TenantID, found)
	case errors.Is(err, authority.ErrTokenExpired):
		return "Error validating token: IDX10223"
	case errors.Is(err, authority.ErrTokenNotYetValid):
		return "Error validating token: IDX10222"
	case errors.Is(err, authority.ErrInvalidSignature):
		return "Error validating token: IDX10511"
	default:
		return "Error validating token: IDX12741"
	}
}

func checkAPIVersion(r *http.Request) *kvError {
	q := r.URL.Query()
	if !q.Has("api-version") {
		e := errBadParameter("The api-version query parameter (?api-version=) is required for all requests.")
		return &e
	}
	if got := q.Get("api-version"); !slices.Contains(apiVersions, got) {
		e := errBadParameter(fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", got, LatestAPIVersion))
		return &e
	}
	return nil
}

// authorize applies the allow-lists and answers 403 as the permission model does.
func (v *Vault) authorize(c *authority.Claims, acc access, secretName string) *kvError {
	v.mu.Lock()
	allow := v.read
	if acc.write {
		allow = v.write
	}
	allowed := allow == nil || slices.ContainsFunc(allow, func(id string) bool { return strings.EqualFold(id, c.AppID) })
	v.mu.Unlock()
	if allowed {
		return nil
	}
	caller := fmt.Sprintf("appid=%s;oid=%s;iss=%s", c.AppID, c.ObjectID, c.Issuer)
	vault := fmt.Sprintf("%s;location=%s", v.opts.Name, v.opts.Location)
	if v.opts.Model == AccessPolicy {
		return &kvError{http.StatusForbidden, "Forbidden", fmt.Sprintf("The user, group or application '%s' does not "+
			"have secrets %s permission on key vault '%s'. For help resolving this issue, please see "+
			"https://go.microsoft.com/fwlink/?linkid=2125287", caller, acc.policyPerm, vault), "AccessDenied"}
	}
	resource := fmt.Sprintf("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/kvsim/providers/microsoft.keyvault/vaults/%s", strings.ToLower(v.opts.Name))
	if !acc.vaultLevel && secretName != "" {
		resource += "/secrets/" + strings.ToLower(secretName)
	}
	return &kvError{http.StatusForbidden, "Forbidden", fmt.Sprintf("Caller is not authorized to perform action on "+
		"resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please "+
		"observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\n"+
		"DenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: %s\r\n",
		caller, acc.rbacAction, resource, vault), "ForbiddenByRbac"}
}

func setHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-keyvault-region", "westeurope")
	h.Set("x-ms-keyvault-service-version", "1.9.0.0")
	h.Set("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;")
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h.Set("x-ms-client-request-id", id)
	}
}

func (v *Vault) writeJSON(w http.ResponseWriter, status int, body any) {
	v.count(func(c *Counters) { c.ByStatus[status]++ })
	if body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (v *Vault) writeError(w http.ResponseWriter, e kvError) {
	v.count(func(c *Counters) { c.ByStatus[e.status]++ })
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body())
}

func (v *Vault) count(f func(*Counters)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(&v.counters)
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
