package entrasim

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/tests/testca"
)

// TestCloud: three tenants behind one Graph endpoint and one authority; each app's token reads its own tenant,
// whose counters alone see the request, and a tenant's secret does not work in another.
func TestCloud(t *testing.T) {
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartCloud([]Options{{Seed: 1, Users: 5}, {Seed: 2, Users: 5}, {Seed: 3, Users: 5}}, ca)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	token := func(tn *Tenant, secret string) (string, error) {
		cred, err := azidentity.NewClientSecretCredential(tn.TenantID(), tn.ClientID(), secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityURL()}, Transport: ca.Client()},
			DisableInstanceDiscovery: true})
		if err != nil {
			return "", err
		}
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{GraphAudience + "/.default"}})
		return tok.Token, err
	}
	for i, tn := range c.Tenants {
		if tn.GraphURL() != c.GraphURL() || tn.AuthorityURL() != c.AuthorityURL() {
			t.Fatalf("tenant %d serves at %s / %s", i, tn.GraphURL(), tn.AuthorityURL())
		}
		tok, err := token(tn, tn.ClientSecret())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, c.GraphURL()+"/v1.0/users?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ca.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("tenant %d: %d", i, resp.StatusCode)
		}
		for j, other := range c.Tenants {
			n := other.Counters().Endpoint("v1.0/users").Accepted
			if want := int64(0); j <= i {
				want = 1
				if n != want {
					t.Errorf("after tenant %d's request, tenant %d counted %d", i, j, n)
				}
			} else if n != want {
				t.Errorf("after tenant %d's request, tenant %d counted %d", i, j, n)
			}
		}
	}
	if _, err := token(c.Tenants[1], c.Tenants[0].ClientSecret()); err == nil {
		t.Error("a secret of tenant 0's app signed in to tenant 1")
	}
}
