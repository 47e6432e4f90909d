package entrasim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// The whole chain with real clients: azidentity.ClientSecretCredential against the built-in token authority,
// msgraph-sdk-go against Graph, tokens verified by the authority, permissions from the token's roles.

func secretCredential(t *testing.T, authorityURL, tenant, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authorityURL}, Transport: ca.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// startWithAuthority starts a tenant with the built-in authority (no fake verifier).
func startWithAuthority(t *testing.T, o Options) (*Tenant, *SimClock) {
	t.Helper()
	clock := NewSimClock(testStart)
	o.Clock = clock
	o.DisableThrottling = o.ThrottleScale == 0 // tests about throttling set a scale
	tn, err := Start(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	if tn.AuthorityURL() == "" || tn.Authority() == nil {
		t.Fatal("no authority started")
	}
	return tn, clock
}

func TestAzidentityAndSDKAgainstTheAuthority(t *testing.T) {
	tn, clock := startWithAuthority(t, Options{Seed: 81, Users: 50})
	ctx := context.Background()
	for _, tenant := range []string{tn.TenantID(), tn.TenantDomain()} {
		t.Run("tenant "+tenant, func(t *testing.T) {
			cred := secretCredential(t, tn.AuthorityURL(), tenant, tn.ClientID(), tn.ClientSecret())
			client, _, _ := sdkClient(t, tn, cred, "v1.0", []string{"graph.microsoft.com", "127.0.0.1"})
			filter := window("createdDateTime", clock.Now().Add(-6*time.Hour), clock.Now())
			res, err := client.AuditLogs().SignIns().Get(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
				QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Filter: &filter},
			})
			if err != nil {
				t.Fatalf("sign-ins: %s", describe(err))
			}
			want, _ := tn.Truth(StreamInteractive, clock.Now().Add(-6*time.Hour), clock.Now(), clock.Now())
			if len(res.GetValue()) != len(want) || len(want) == 0 {
				t.Fatalf("%d sign-ins, truth %d", len(res.GetValue()), len(want))
			}
		})
	}
	if n := tn.Authority().Counters().TokensByResource[authority.GraphResource]; n < 2 {
		t.Fatalf("authority issued %d Graph tokens", n)
	}
	// The token's caller is the integration app, as the request log shows.
	for _, r := range tn.Requests() {
		if r.AppID != tn.ClientID() {
			t.Fatalf("request by %q", r.AppID)
		}
	}
}

func TestAuthorityCredentialsAndPermissions(t *testing.T) {
	tn, clock := startWithAuthority(t, Options{Seed: 82, SecretLifetime: 3 * 24 * time.Hour})
	noPerms, err := tn.AddApp("No permissions", nil)
	if err != nil {
		t.Fatal(err)
	}
	auditOnly, err := tn.AddApp("Audit only", []string{"AuditLog.Read.All"})
	if err != nil {
		t.Fatal(err)
	}
	scopes := policy.TokenRequestOptions{Scopes: []string{graphScope}}
	ctx := context.Background()
	// A wrong secret is refused by the authority.
	if _, err := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), "wrong"+tn.ClientSecret()).GetToken(ctx, scopes); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	tests := []struct {
		name     string
		clientID string
		secret   string
		status   int
		code     string
	}{
		{"integration app", tn.ClientID(), tn.ClientSecret(), 200, ""},
		{"app without permissions", noPerms.AppID, noPerms.PasswordCredentials[0].SecretText, 403, "Authentication_MSGraphPermissionMissing"},
		{"AuditLog without Directory", auditOnly.AppID, auditOnly.PasswordCredentials[0].SecretText, 403, "Authorization_RequestDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tc.clientID, tc.secret)
			client, _, _ := sdkClient(t, tn, cred, "v1.0", []string{"127.0.0.1"})
			_, err := client.AuditLogs().SignIns().Get(ctx, nil)
			if tc.status == 200 {
				if err != nil {
					t.Fatal(describe(err))
				}
				return
			}
			var oe *odataerrors.ODataError
			if !errors.As(err, &oe) || oe.ResponseStatusCode != tc.status || *oe.GetErrorEscaped().GetCode() != tc.code {
				t.Fatalf("got %s", describe(err))
			}
		})
	}
	// The integration's secret expires in simulated time: three days on, the authority refuses it.
	clock.Advance(4 * 24 * time.Hour)
	_, err = secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), tn.ClientSecret()).GetToken(ctx, scopes)
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000222") {
		t.Fatalf("expired secret: %v", err)
	}
}

// Graph's 401s for tokens the authority rejects: expired (by the authority's clock) and for another resource.
func TestAuthorityTokensRejectedByGraph(t *testing.T) {
	var mu sync.Mutex
	authNow := time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return authNow
	}
	clock := NewSimClock(testStart)
	tn, err := New(&Options{Seed: 83, Clock: clock, DisableThrottling: true, Verifier: fakeVerifier{}})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := testca.Shared()
	a := authority.New(tn.Directory(), &authority.Options{CA: ca, Now: now, ClockSkew: -1})
	base, err := a.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	v := authorityVerifier{a}
	ctx := context.Background()
	cred := secretCredential(t, base, tn.TenantID(), tn.ClientID(), tn.ClientSecret())
	graphTok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatal(err)
	}
	vaultTok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.VerifyToken(graphTok.Token, GraphAudience)
	if err != nil || p.AppID != tn.ClientID() || p.TenantID != tn.TenantID() || !strings.Contains(strings.Join(p.Roles, ","), "AuditLog.Read.All") {
		t.Fatalf("valid token: %+v %v", p, err)
	}
	if _, err := v.VerifyToken(vaultTok.Token, GraphAudience); !errors.Is(err, ErrTokenAudience) {
		t.Fatalf("vault token: %v", err)
	}
	if _, err := v.VerifyToken("not.a.token", GraphAudience); err == nil || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenAudience) {
		t.Fatalf("garbage: %v", err)
	}
	mu.Lock()
	authNow = authNow.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := v.VerifyToken(graphTok.Token, GraphAudience); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
}

// A delta round trip through msgraph-sdk-go: the page iterator follows nextLinks to the deltaLink, a typed
// PATCH changes a user, and the deltaLink (opened with NewDeltaRequestBuilder) reports exactly that user.
func TestSDKUsersDeltaRoundTrip(t *testing.T) {
	tn, _ := startWithAuthority(t, Options{Seed: 84, Users: 60, Roles: ReadWriteRoles()})
	cred := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), tn.ClientSecret())
	client, adapter, _ := sdkClient(t, tn, cred, "v1.0", []string{"127.0.0.1"})
	ctx := context.Background()
	headers := abs.NewRequestHeaders()
	headers.Add("Prefer", "odata.maxpagesize=20")
	res, err := client.Users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
		Headers:         headers,
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "jobTitle"}},
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](res, adapter, users.CreateDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := it.Iterate(ctx, func(u models.Userable) bool { ids = append(ids, *u.GetId()); return true }); err != nil {
		t.Fatal(describe(err))
	}
	deltaLink := it.GetOdataDeltaLink()
	if len(ids) != 60 || deltaLink == nil || !strings.Contains(*deltaLink, "$deltatoken=") {
		t.Fatalf("%d users, deltaLink %v", len(ids), deltaLink)
	}
	target := tn.Users()[3]
	title := "Delta Tester"
	patch := models.NewUser()
	patch.SetJobTitle(&title)
	if _, err := client.Users().ByUserId(target.ID).Patch(ctx, patch, nil); err != nil {
		t.Fatal(describe(err))
	}
	next, err := users.NewDeltaRequestBuilder(*deltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(describe(err))
	}
	got := next.GetValue()
	if len(got) != 1 || *got[0].GetId() != target.ID || got[0].GetJobTitle() == nil || *got[0].GetJobTitle() != title {
		t.Fatalf("delta after PATCH: %d users", len(got))
	}
	if next.GetOdataDeltaLink() == nil {
		t.Fatal("no new deltaLink")
	}
}

// A secret added through Graph (addPassword) authenticates at the authority at once; once removed
// (removePassword) it is refused.
func TestRotatedSecretAuthenticates(t *testing.T) {
	tn, _ := startWithAuthority(t, Options{Seed: 85, Roles: append(ReadOnlyRoles(), "Application.ReadWrite.All")})
	ctx := context.Background()
	scopes := policy.TokenRequestOptions{Scopes: []string{graphScope}}
	tok, err := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), tn.ClientSecret()).GetToken(ctx, scopes)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, tn)
	c.token = tok.Token
	appID := tn.Applications()[len(tn.Applications())-1].ID // the integration's own registration
	r := c.send(http.MethodPost, "/v1.0/applications/"+appID+"/addPassword", `{"passwordCredential":{"displayName":"rotation"}}`, nil)
	if r.status != 200 {
		t.Fatalf("addPassword: %d %s", r.status, r.body)
	}
	secret, keyID := field(t, r.body, "secretText").(string), field(t, r.body, "keyId").(string)
	if _, err := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), secret).GetToken(ctx, scopes); err != nil {
		t.Fatalf("new secret refused: %v", err)
	}
	if r := c.send(http.MethodPost, "/v1.0/applications/"+appID+"/removePassword", `{"keyId":"`+keyID+`"}`, nil); r.status != 204 {
		t.Fatalf("removePassword: %d %s", r.status, r.body)
	}
	if _, err := secretCredential(t, tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), secret).GetToken(ctx, scopes); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("removed secret: %v", err)
	}
}
