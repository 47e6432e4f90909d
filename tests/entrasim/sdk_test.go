package entrasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entra-di/edi/tests/testca"
)

// The real clients against the stand-in: msgraph-sdk-go's typed request builders and page iterator, and raw
// pages through the SDK's authenticated HTTP client (reference §7, §8).

const graphScope = "https://graph.microsoft.com/.default"

// staticCredential is an azcore.TokenCredential handing out one token; it insists on the Graph scope, as the
// reference says every client must pass it explicitly.
type staticCredential struct{ token string }

func (s staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if !slices.Equal(o.Scopes, []string{graphScope}) {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", o.Scopes)
	}
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// sdkClient builds a Graph client for the stand-in: Graph's default middleware over a transport that trusts
// the test CA, the Azure identity auth provider with 127.0.0.1 as a valid host, base URL version.
func sdkClient(t *testing.T, tn *Tenant, cred azcore.TokenCredential, version string, hosts []string) (*msgraph.GraphServiceClient, *msgraph.GraphRequestAdapter, *http.Client) {
	t.Helper()
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{graphScope}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraph.GetDefaultClientOptions()
	mws := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	hc := khttp.GetDefaultClient(mws...)
	hc.Transport = khttp.NewCustomTransportWithParentTransport(ca.Client().Transport, mws...)
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(tn.GraphURL() + "/" + version)
	return msgraph.NewGraphServiceClient(adapter), adapter, hc
}

// Typed call with the page iterator over v1.0 sign-ins returns exactly the truth.
func TestSDKTypedSignInsWithPageIterator(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 71, Users: 80})
	cred := staticCredential{fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))}
	client, adapter, _ := sdkClient(t, tn, cred, "v1.0", []string{"graph.microsoft.com", "127.0.0.1"})
	ctx := context.Background()
	from, to := clock.Now().Add(-24*time.Hour), clock.Now().Add(-time.Hour)
	filter := window("createdDateTime", from, to)
	top := int32(20)
	res, err := client.AuditLogs().SignIns().Get(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Filter: &filter, Top: &top},
	})
	if err != nil {
		t.Fatalf("Get: %v", describe(err))
	}
	it, err := msgraphcore.NewPageIterator[models.SignInable](res, adapter, models.CreateSignInCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	err = it.Iterate(ctx, func(s models.SignInable) bool {
		ids = append(ids, *s.GetId())
		if s.GetCreatedDateTime() == nil || s.GetCreatedDateTime().Before(from) || !s.GetCreatedDateTime().Before(to) {
			t.Errorf("sign-in %s at %v outside the window", *s.GetId(), s.GetCreatedDateTime())
		}
		if s.GetStatus() == nil || s.GetStatus().GetErrorCode() == nil || s.GetIsInteractive() == nil || !*s.GetIsInteractive() {
			t.Errorf("sign-in %s: typed fields missing", *s.GetId())
		}
		return true
	})
	if err != nil {
		t.Fatalf("Iterate: %v", describe(err))
	}
	want, _ := tn.Truth(StreamInteractive, from, to, clock.Now())
	if len(want) < 2*int(top) || !slices.Equal(ids, want) {
		t.Fatalf("iterator returned %d sign-ins, truth %d", len(ids), len(want))
	}
	if pages := tn.Counters().Endpoint("v1.0/auditLogs/signIns").Pages; pages < 3 {
		t.Fatalf("only %d pages served", pages)
	}
}

// Raw pages through the SDK's authenticated client (adapter.ConvertToNativeRequest), following nextLinks:
// the bulk path the collector uses for beta sign-ins.
func TestSDKRawBetaPagesThroughAuthenticatedClient(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 72, Users: 60})
	cred := staticCredential{fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))}
	_, adapter, hc := sdkClient(t, tn, cred, "beta", []string{"graph.microsoft.com", "127.0.0.1"})
	ctx := context.Background()
	from, to := clock.Now().Add(-12*time.Hour), clock.Now()
	for _, et := range []string{"nonInteractiveUser", "servicePrincipal", "managedIdentity"} {
		t.Run(et, func(t *testing.T) {
			next := fmt.Sprintf("%s/beta/auditLogs/signIns?$filter=%s&$top=100", tn.GraphURL(),
				urlEscape(window("createdDateTime", from, to)+" and signInEventTypes/any(t: t eq '"+et+"')"))
			var ids []string
			for next != "" {
				ri := abs.NewRequestInformation()
				ri.Method = abs.GET
				ri.Headers.Add("Accept", "application/json")
				ri.SetUri(*mustURL(t, next))
				req, err := adapter.ConvertToNativeRequest(ctx, ri)
				if err != nil {
					t.Fatal(err)
				}
				httpReq := req.(*http.Request)
				if httpReq.Header.Get("Authorization") == "" {
					t.Fatal("the SDK did not authenticate the request")
				}
				res, err := hc.Do(httpReq)
				if err != nil {
					t.Fatal(err)
				}
				var p struct {
					NextLink string `json:"@odata.nextLink"`
					Value    []struct {
						ID               string   `json:"id"`
						SignInEventTypes []string `json:"signInEventTypes"`
					} `json:"value"`
				}
				err = json.NewDecoder(res.Body).Decode(&p)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("status %d: %v", res.StatusCode, err)
				}
				for _, v := range p.Value {
					if len(v.SignInEventTypes) != 1 || v.SignInEventTypes[0] != et {
						t.Fatalf("record %s of type %v", v.ID, v.SignInEventTypes)
					}
					ids = append(ids, v.ID)
				}
				next = p.NextLink
			}
			stream := map[string]string{"nonInteractiveUser": StreamNonInteractive, "servicePrincipal": StreamServicePrincipal, "managedIdentity": StreamManagedIdentity}[et]
			want, _ := tn.Truth(stream, from, to, clock.Now())
			if len(want) == 0 || !slices.Equal(ids, want) {
				t.Fatalf("%d ids, truth %d", len(ids), len(want))
			}
		})
	}
}

// Graph errors surface as *odataerrors.ODataError with status and code.
func TestSDKErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		roles  []string
		hosts  []string
		status int
		code   string
	}{
		{"free tenant", Options{Seed: 73, Licences: []Licence{LicenceFree}}, ReadOnlyRoles(), []string{"127.0.0.1"}, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{"missing permission", Options{Seed: 74}, []string{"Directory.Read.All"}, []string{"127.0.0.1"}, 403, "Authentication_MSGraphPermissionMissing"},
		// The allowed-hosts pitfall (reference §8): without 127.0.0.1 the SDK sends no token; the stand-in
		// makes that loud.
		{"host not allowed", Options{Seed: 75}, ReadOnlyRoles(), []string{"graph.microsoft.com"}, 401, "InvalidAuthenticationToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTenant(t, tc.opts)
			cred := staticCredential{fakeToken(tn.TenantID(), tn.ClientID(), tc.roles, time.Now().Add(time.Hour))}
			client, _, _ := sdkClient(t, tn, cred, "v1.0", tc.hosts)
			_, err := client.AuditLogs().SignIns().Get(context.Background(), nil)
			var oe *odataerrors.ODataError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not an ODataError", err)
			}
			if oe.ResponseStatusCode != tc.status || oe.GetErrorEscaped() == nil || *oe.GetErrorEscaped().GetCode() != tc.code {
				t.Fatalf("status %d, error %v", oe.ResponseStatusCode, describe(err))
			}
		})
	}
}

func describe(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil {
		e := oe.GetErrorEscaped()
		return fmt.Sprintf("%d %s: %s", oe.ResponseStatusCode, deref(e.GetCode()), deref(e.GetMessage()))
	}
	return fmt.Sprint(err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func urlEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
