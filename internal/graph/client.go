// Package graph is the integration's Microsoft Graph client. It is built on msgraph-sdk-go and azidentity: the
// SDK's request adapter authenticates every request with an explicit Graph scope, and its middleware pipeline
// (redirects, compression, telemetry) carries the project's own throttle middleware, which spends each throttling
// family's budget, honours Retry-After and retries what is worth retrying. Bulk log pages are read as raw JSON
// through that same authenticated client (Pages), never decoded into typed models, and archived byte for byte.
// Failures come back as *Error with a Kind (throttled, transient, not licensed, missing permission, invalid
// credential, bad request, …) for errors.As.
package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/version"
)

// DefaultEndpoint is Microsoft Graph in the global cloud.
const DefaultEndpoint = "https://graph.microsoft.com"

// Scope is the only scope the client asks tokens for: app-only access to Graph with the app's granted roles. It is
// always explicit because kiota would otherwise derive it from the request URL (reference/graph.md §8).
const Scope = "https://graph.microsoft.com/.default"

// Options configures a Client. A nil *Options means defaults.
type Options struct {
	// Endpoint is the Graph root, "https://graph.microsoft.com" by default. Requests and nextLinks go to this host
	// only.
	Endpoint string
	// Transport is the parent transport under the middleware (nil: Go's default, which trusts the system roots and
	// SSL_CERT_FILE).
	Transport http.RoundTripper
	// Budgets overrides catalog.Budgets per family.
	Budgets map[catalog.Family]catalog.Budget
	// Limits, when set, are budgets shared with another client of the same app and tenant (Client.Limits);
	// Budgets is then ignored.
	Limits *Limits
	// Retry bounds retries; the zero value means DefaultRetry.
	Retry RetryPolicy
	// PageTimeout bounds one page: request, retries and reading the body. Zero means 5 minutes.
	PageTimeout time.Duration
}

// Client talks to one tenant's Graph as one app.
type Client struct {
	adapter  *msgraph.GraphRequestAdapter
	http     *http.Client
	throttle *throttle
	endpoint *url.URL
	opts     Options
	cred     azcore.TokenCredential
}

// New builds a client that authenticates with cred. It makes no network call.
func New(cred azcore.TokenCredential, opts *Options) (*Client, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	if o.Retry.MaxAttempts == 0 {
		o.Retry = DefaultRetry
	}
	if o.PageTimeout == 0 {
		o.PageTimeout = 5 * time.Minute
	}
	endpoint, err := url.Parse(strings.TrimSuffix(o.Endpoint, "/"))
	if err != nil || endpoint.Host == "" || endpoint.Scheme != "https" {
		return nil, fmt.Errorf("graph endpoint %q: must be an absolute https URL", o.Endpoint)
	}
	scopes := []string{Scope}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, scopes, []string{endpoint.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}

	limits := o.Limits
	if limits == nil {
		limits = NewLimits(o.Budgets)
	}
	t := newThrottle(limits, o.Retry, cred, scopes)
	clientOpts := msgraph.GetDefaultClientOptions()
	// kiota's RetryHandler stays in the pipeline but never retries: the throttle middleware does, per family.
	kiotaMws, err := khttp.GetDefaultMiddlewaresWithOptions(&khttp.RetryHandlerOptions{
		ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false },
	})
	if err != nil {
		return nil, err
	}
	mws := append([]khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&clientOpts),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
	}, kiotaMws...)
	mws = append(mws, t)

	parent := o.Transport
	if parent == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 2 * time.Minute
		tr.MaxIdleConnsPerHost = 16
		parent = tr
	}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(parent, mws...)}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(endpoint.String() + "/v1.0")
	return &Client{adapter: adapter, http: hc, throttle: t, endpoint: endpoint, opts: o, cred: cred}, nil
}

// Limits are the budgets the client spends, for another client of the same app and tenant to share
// (Options.Limits).
func (c *Client) Limits() *Limits { return c.throttle.Limits }

// Adapter is the SDK request adapter, for typed calls (msgraph.NewGraphServiceClient(adapter)).
func (c *Client) Adapter() *msgraph.GraphRequestAdapter { return c.adapter }

// SetDirectoryUsers tells the client how many users the tenant has (at least): the directory family's budget
// grows to the tenant's tier (catalog.DirectoryBudget). A configured budget (Options.Budgets) is the smallest
// tier's: the larger tiers keep its window and scale its request count alike, so a scaled-down budget stays a
// scaled-down bucket (8,000 per 10 s is not 80 per 0.1 s, nor 80,000 per 1,000 s). It never shrinks.
func (c *Client) SetDirectoryUsers(n int) {
	tier, base := catalog.DirectoryBudget(n), catalog.Budgets[catalog.Directory]
	conf := c.throttle.budgets[catalog.Directory]
	requests := float64(tier.Requests) * float64(conf.Requests) / float64(base.Requests)
	c.throttle.limiters[catalog.Directory].grow(catalog.Budget{Requests: max(conf.Requests, int(requests)), Window: conf.Window})
}

// Stats returns request counters per throttling family since the client was built.
func (c *Client) Stats() map[catalog.Family]FamilyStats { return c.throttle.stats() }

// URL resolves a Graph path and query ("/beta/auditLogs/signIns?$top=1") against the endpoint.
func (c *Client) URL(pathAndQuery string) string {
	return c.endpoint.String() + "/" + strings.TrimPrefix(pathAndQuery, "/")
}

// checkURL allows only absolute https URLs on the configured Graph host under /v1.0 or /beta: a nextLink
// pointing anywhere else would send the bearer token there.
func (c *Client) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &Error{Kind: InvalidPage, Message: "unparsable URL", Err: err}
	}
	if u.Scheme != c.endpoint.Scheme || !strings.EqualFold(u.Host, c.endpoint.Host) {
		return nil, &Error{Kind: InvalidPage, Path: u.Path, Message: fmt.Sprintf("refusing to follow a link to %s://%s, which is not the Graph endpoint", u.Scheme, u.Host)}
	}
	if !strings.HasPrefix(u.Path, "/v1.0/") && !strings.HasPrefix(u.Path, "/beta/") {
		return nil, &Error{Kind: InvalidPage, Path: u.Path, Message: "link outside /v1.0 and /beta"}
	}
	return u, nil
}

// get sends an authenticated GET for an absolute Graph URL. A non-2xx answer is returned as *Error with the
// body read and closed; on success the caller owns resp.Body.
func (c *Client) get(ctx context.Context, raw string) (*http.Response, error) {
	u, err := c.checkURL(raw)
	if err != nil {
		return nil, err
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	ri.Headers.Add("Accept", "application/json")
	req, err := c.adapter.ConvertToNativeRequest(ctx, ri)
	if err != nil {
		return nil, credentialError(err)
	}
	httpReq, ok := req.(*http.Request)
	if !ok {
		return nil, fmt.Errorf("graph: adapter returned %T, not *http.Request", req)
	}
	httpReq.Header.Set("User-Agent", "entra-data-integration/"+version.Version)
	resp, err := c.http.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Kind: Transient, Path: u.Path, Message: "request failed", Err: err}
	}
	if resp.StatusCode/100 != 2 {
		body := readLimited(resp, 64<<10)
		return nil, classify(resp.StatusCode, resp.Header, body, u.Path)
	}
	return resp, nil
}

func readLimited(resp *http.Response, n int64) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, n))
	return b
}

// GrantedRoles returns the Graph application permissions granted to the app: the roles claim of its Graph token.
// The token comes from Entra through the credential, so its payload is read without verifying the signature.
func (c *Client) GrantedRoles(ctx context.Context) ([]string, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return nil, credentialError(err)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return nil, errors.New("graph token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("graph token payload: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("graph token payload: %w", err)
	}
	return claims.Roles, nil
}
