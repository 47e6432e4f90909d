package authority

import (
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // name-based GUIDs (RFC 4122 version 5) are defined with SHA-1
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/entra-di/edi/tests/testca"
)

// Options configures an Authority. A nil *Options means all defaults.
type Options struct {
	// Now is the clock for tokens, secret expiry and error timestamps; nil means time.Now.
	Now func() time.Time
	// CA issues the TLS certificate; nil means testca.Shared().
	CA *testca.CA
	// TokenLifetime is how long access tokens are valid; zero means one hour (expires_in 3599).
	TokenLifetime time.Duration
	// ClockSkew is Verify's tolerance on nbf and exp; zero means DefaultClockSkew, negative means none.
	ClockSkew time.Duration
}

// Counters count what the authority has done since it was created.
type Counters struct {
	// TokenRequests is the number of requests to the token endpoint.
	TokenRequests int
	// TokensIssued is the number of access tokens issued.
	TokensIssued int
	// TokensByResource counts issued tokens by resource URI.
	TokensByResource map[string]int
	// MetadataRequests is the number of OpenID configuration and key requests.
	MetadataRequests int
	// Failures counts error responses by AADSTS code.
	Failures map[int]int
}

// Authority is a running (or not yet started) token authority.
type Authority struct {
	dir      Directory
	now      func() time.Time
	ca       *testca.CA
	lifetime time.Duration
	skew     time.Duration
	key      *signingKey

	mu       sync.Mutex
	counters Counters
	srv      *http.Server
	url      string
	done     chan struct{}
}

// New returns an authority for the tenants and apps of dir; call Start to serve it over TLS, or mount Handler.
func New(dir Directory, opts *Options) *Authority {
	if opts == nil {
		opts = &Options{}
	}
	a := &Authority{dir: dir, now: opts.Now, ca: opts.CA, lifetime: opts.TokenLifetime, skew: opts.ClockSkew}
	if a.now == nil {
		a.now = time.Now
	}
	if a.lifetime <= 0 {
		a.lifetime = time.Hour
	}
	switch {
	case a.skew == 0:
		a.skew = DefaultClockSkew
	case a.skew < 0:
		a.skew = 0
	}
	key, err := newSigningKey(a.now())
	if err != nil {
		// rsa.GenerateKey and x509.CreateCertificate fail only for invalid parameters; crypto/rand does not fail.
		panic(fmt.Sprintf("authority: signing key: %v", err))
	}
	a.key = key
	a.counters = Counters{TokensByResource: map[string]int{}, Failures: map[int]int{}}
	return a
}

// Start serves the authority over TLS on a free 127.0.0.1 port and returns its base URL, for example
// "https://127.0.0.1:41234/" (the value for azcore's cloud.Configuration.ActiveDirectoryAuthorityHost).
func (a *Authority) Start() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return "", errors.New("authority: already started")
	}
	ca := a.ca
	if ca == nil {
		var err error
		if ca, err = testca.Shared(); err != nil {
			return "", fmt.Errorf("authority: test CA: %w", err)
		}
	}
	ln, err := ca.Listen()
	if err != nil {
		return "", fmt.Errorf("authority: listen: %w", err)
	}
	a.srv = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	a.url = "https://" + ln.Addr().String() + "/"
	a.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Close
	}(a.srv, a.done)
	return a.url, nil
}

// URL returns the base URL Start returned ("" before Start).
func (a *Authority) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// Close stops the server started by Start and waits for it; it is a no-op when the authority was not started.
func (a *Authority) Close() error {
	a.mu.Lock()
	srv, done := a.srv, a.done
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-done
	return err
}

// Counters returns a snapshot of the counters.
func (a *Authority) Counters() Counters {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.counters
	c.TokensByResource = maps.Clone(c.TokensByResource)
	c.Failures = maps.Clone(c.Failures)
	return c
}

// Verify checks an access token issued by this authority as a resource would: the RS256 signature with this
// authority's key, nbf and exp against Options.Now (with the clock skew), the audience (URI or app ID form) and
// the v1 issuer. Failures are *TokenError values wrapping one of the Err* reasons.
func (a *Authority) Verify(token, audience string) (*Claims, error) {
	return a.key.verify(token, audience, a.now(), a.skew)
}

// Handler returns the authority's HTTP handler. The metadata it serves names endpoints on the host the request was
// sent to, so it also works behind httptest.NewTLSServer.
func (a *Authority) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", a.serveMetadata)
	mux.HandleFunc("/{tenant}/discovery/v2.0/keys", a.serveKeys)
	mux.HandleFunc("/{tenant}/discovery/keys", a.serveKeys)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", a.serveToken)
	return mux
}

// baseURL is the scheme and host the request reached, with a trailing slash.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + "/"
}

// isCommonTenant reports the multi-tenant aliases, which have metadata but cannot issue app-only tokens.
func isCommonTenant(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

func (a *Authority) serveMetadata(w http.ResponseWriter, r *http.Request) {
	a.count(func(c *Counters) { c.MetadataRequests++ })
	tenant := r.PathValue("tenant")
	tid, ok := a.dir.Tenant(tenant)
	if !ok && !isCommonTenant(tenant) {
		a.writeError(w, r, errUnknownTenant("invalid_tenant", tenant))
		return
	}
	if !ok {
		tid = "{tenantid}" // what Entra's /common metadata contains
	}
	base := baseURL(r)
	t := base + tid
	md := map[string]any{
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                t + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         t + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  t + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":     t + "/kerberos",
		"tenant_region_scope":   "EU",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          "graph.microsoft.com",
		"rbac_url":              "https://pas.windows.net",
	}
	a.writeJSON(w, r, http.StatusOK, md)
}

func (a *Authority) serveKeys(w http.ResponseWriter, r *http.Request) {
	a.count(func(c *Counters) { c.MetadataRequests++ })
	tenant := r.PathValue("tenant")
	if _, ok := a.dir.Tenant(tenant); !ok && !isCommonTenant(tenant) {
		a.writeError(w, r, errUnknownTenant("invalid_tenant", tenant))
		return
	}
	pub := &a.key.priv.PublicKey
	key := map[string]any{
		"kty": "RSA",
		"use": "sig",
		"kid": a.key.kid,
		"x5t": a.key.kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(bigEndian(pub.E)),
		"x5c": []string{base64.StdEncoding.EncodeToString(a.key.cert)},
		// Entra's keys carry the v2 issuer template
		"issuer": baseURL(r) + "{tenantid}/v2.0",
	}
	a.writeJSON(w, r, http.StatusOK, map[string]any{"keys": []any{key}})
}

func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}

// tokenResponse is the success body ({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,...}).
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// maxFormBytes bounds the token request body.
const maxFormBytes = 1 << 20

func (a *Authority) serveToken(w http.ResponseWriter, r *http.Request) {
	a.count(func(c *Counters) { c.TokenRequests++ })
	if r.Method != http.MethodPost {
		a.writeError(w, r, errPostOnly(r.Method))
		return
	}
	tenant := r.PathValue("tenant")
	tid, ok := a.dir.Tenant(tenant)
	if !ok {
		a.writeError(w, r, errUnknownTenant("invalid_request", tenant))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	// Entra reads parameters from the body only (a grant_type in the query string gets AADSTS900144).
	if err := r.ParseForm(); err != nil {
		a.writeError(w, r, errMissingParameter("grant_type"))
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	if grant == "" {
		a.writeError(w, r, errMissingParameter("grant_type"))
		return
	}
	if grant != "client_credentials" {
		a.writeError(w, r, errUnsupportedGrant(grant))
		return
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if basicID, basicSecret, ok := basicCredentials(r); ok {
		// client_secret_basic; values in the body, if any, take precedence (they are the same client).
		if clientID == "" {
			clientID = basicID
		}
		if secret == "" {
			secret = basicSecret
		}
	}
	if clientID == "" {
		a.writeError(w, r, errMissingParameter("client_id"))
		return
	}
	res, aerr := a.resourceFromScope(form.Get("scope"), tid)
	if aerr != nil {
		a.writeError(w, r, *aerr)
		return
	}
	app, ok := a.dir.App(tid, clientID)
	if !ok {
		a.writeError(w, r, errUnknownApp(clientID, a.tenantName(tid)))
		return
	}
	now := a.now()
	acr := "1" // appidacr: 1 = client secret, 2 = certificate or assertion
	switch assertion := form.Get("client_assertion"); {
	case assertion != "":
		if t := form.Get("client_assertion_type"); t != ClientAssertionType {
			a.writeError(w, r, errInvalidAssertion("client_assertion_type is "+quoteShort(t)+", want "+ClientAssertionType))
			return
		}
		if e := a.checkAssertion(app, assertion, baseURL(r)+tid+"/oauth2/v2.0/token", now); e != nil {
			a.writeError(w, r, *e)
			return
		}
		acr = "2"
	case secret == "":
		a.writeError(w, r, errMissingSecret())
		return
	default:
		if e := checkSecret(app, secret, now); e != nil {
			a.writeError(w, r, *e)
			return
		}
	}
	// The client is authenticated; now the policies that refuse it a token.
	if app.Disabled {
		a.writeError(w, r, errAppDisabled(app.AppID, app.DisplayName))
		return
	}
	if app.BlockedByConditionalAccess {
		a.writeError(w, r, errConditionalAccess())
		return
	}
	if res.uri == "" {
		a.writeError(w, r, errUnknownResource(res.appID, a.tenantName(tid)))
		return
	}
	caps, minNbf, _ := parseRequestedClaims(form.Get("claims"))
	token, expiresIn, err := a.issue(baseURL(r), tid, app, res, acr, caps, minNbf, now)
	if err != nil {
		http.Error(w, "token signing failed", http.StatusInternalServerError)
		return
	}
	a.count(func(c *Counters) {
		c.TokensIssued++
		c.TokensByResource[res.uri]++
	})
	a.writeJSON(w, r, http.StatusOK, tokenResponse{
		TokenType: "Bearer", ExpiresIn: expiresIn, ExtExpiresIn: expiresIn, AccessToken: token,
	})
}

// basicCredentials decodes client_secret_basic: both parts are form-urlencoded before base64 (RFC 6749 2.3.1).
func basicCredentials(r *http.Request) (id, secret string, ok bool) {
	id, secret, ok = r.BasicAuth()
	if !ok {
		return "", "", false
	}
	if u, err := url.QueryUnescape(id); err == nil {
		id = u
	}
	if u, err := url.QueryUnescape(secret); err == nil {
		secret = u
	}
	return id, secret, true
}

// resourceFromScope applies Entra's client-credentials scope rules. A returned resource with an empty uri is an
// unknown resource whose identifier is in appID (reported after the client is authenticated).
func (a *Authority) resourceFromScope(scope, tid string) (resource, *aadError) {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		e := errMissingScope()
		return resource{}, &e
	}
	var rest []string
	for _, f := range fields {
		switch strings.ToLower(f) {
		case "openid", "offline_access", "profile":
			continue // MSAL always adds these; Entra ignores them next to a .default scope
		}
		rest = append(rest, f)
	}
	if len(rest) == 0 {
		e := errScopeNotDefault(fields[0])
		return resource{}, &e
	}
	var ids []string
	for _, s := range rest {
		id, ok := strings.CutSuffix(s, "/.default")
		if !ok || id == "" {
			e := errScopeNotDefault(s)
			return resource{}, &e
		}
		ids = append(ids, id)
	}
	first, known := lookupResource(ids[0])
	for _, id := range ids[1:] {
		r, ok := lookupResource(id)
		if !ok || !known || r.uri != first.uri {
			e := errMultipleResources(strings.Join(rest, " "))
			return resource{}, &e
		}
	}
	if !known {
		return resource{appID: strings.TrimSuffix(ids[0], "/")}, nil
	}
	return first, nil
}

// checkSecret finds the app secret equal to the presented one (in constant time) and checks its validity window.
func checkSecret(app App, presented string, now time.Time) *aadError {
	var match *Secret
	for i := range app.Secrets {
		if subtle.ConstantTimeCompare([]byte(app.Secrets[i].Value), []byte(presented)) == 1 {
			match = &app.Secrets[i]
		}
	}
	switch {
	case match == nil:
		e := errInvalidSecret(app.AppID)
		return &e
	case !match.End.IsZero() && !now.Before(match.End):
		e := errExpiredSecret(app.AppID)
		return &e
	case !match.Start.IsZero() && now.Before(match.Start):
		// A secret whose startDateTime is in the future does not authenticate yet (unverified which code Entra
		// uses; it treats the secret as not matching).
		e := errInvalidSecret(app.AppID)
		return &e
	}
	return nil
}

// quoteShort quotes a request value for a message, shortened.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return "'" + s + "'"
}

// issue mints an access token for app at resource; base is the authority's URL as the client reached it.
func (a *Authority) issue(base, tid string, app App, res resource, acr string, caps []string, minNbf, now time.Time) (string, int64, error) {
	expiresIn := int64(a.lifetime/time.Second) - 1
	if expiresIn < 1 {
		expiresIn = 1
	}
	issued := now.Add(-5 * time.Minute) // Entra backdates iat and nbf five minutes for clock skew
	if issued.Before(minNbf) {
		issued = minNbf
	}
	oid := app.ObjectID
	if oid == "" {
		oid = nameGUID(tid + "/" + strings.ToLower(app.AppID))
	}
	c := jwtClaims{
		Aud:      res.uri,
		Iss:      v1Issuer(tid),
		Iat:      issued.Unix(),
		Nbf:      issued.Unix(),
		Exp:      now.Add(a.lifetime).Unix(),
		Aio:      randomToken(36),
		AppID:    app.AppID,
		AppIDAcr: acr,
		Idp:      v1Issuer(tid),
		Oid:      oid,
		Rh:       "0." + randomToken(40) + ".",
		Sub:      oid,
		Tid:      tid,
		Uti:      randomToken(22),
		Ver:      "1.0",
	}
	for _, cp := range caps {
		if strings.EqualFold(cp, "cp1") {
			c.XmsCC = []string{"CP1"} // unverified casing of the xms_cc claim value
		}
	}
	if res.exchange {
		// A v2.0 token, as a managed identity's token for api://AzureADTokenExchange is.
		c.Iss, c.Idp, c.Ver = base+tid+"/v2.0", "", "2.0"
	}
	if res.graph {
		c.AppDisplayName = app.DisplayName
		c.IDTyp = "app"
		if len(app.Roles) > 0 {
			c.Roles = append([]string(nil), app.Roles...)
		}
	}
	token, err := a.key.sign(c)
	return token, expiresIn, err
}

func (a *Authority) tenantName(tid string) string {
	if n, ok := a.dir.(TenantNamer); ok {
		if name, ok := n.TenantName(tid); ok {
			return name
		}
	}
	return tid
}

func (a *Authority) count(f func(*Counters)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.counters)
}

// setCommonHeaders sets the headers Entra sends on every token and metadata response.
func setCommonHeaders(w http.ResponseWriter, r *http.Request, traceID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("P3P", `CP="DSP CUR OTPi IND OTRi ONL FIN"`)
	h.Set("x-ms-request-id", traceID)
	h.Set("x-ms-ests-server", "2.1.0 - entrasim")
	if id := r.Header.Get("client-request-id"); id != "" && strings.EqualFold(r.Header.Get("return-client-request-id"), "true") {
		h.Set("client-request-id", id)
	}
}

func (a *Authority) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	setCommonHeaders(w, r, newGUID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (a *Authority) writeError(w http.ResponseWriter, r *http.Request, e aadError) {
	a.count(func(c *Counters) { c.Failures[e.code]++ })
	traceID := newGUID()
	corr := r.Header.Get("client-request-id")
	if !isGUID(corr) {
		corr = newGUID()
	}
	setCommonHeaders(w, r, traceID)
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body(a.now(), traceID, corr, baseURL(r)))
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// nameGUID returns a stable name-based (version 5 style) GUID for name.
func nameGUID(name string) string {
	sum := sha1.Sum([]byte("entrasim:" + name)) //nolint:gosec // identifier derivation, not security
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomToken returns n random base64url characters (for opaque claims such as uti and aio).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
