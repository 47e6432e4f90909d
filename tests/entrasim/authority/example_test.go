package authority_test

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// Example wires the real azidentity.ClientSecretCredential to the stand-in and verifies the token as the Graph
// stand-in does.
func Example() {
	const tenant, app = "72f988bf-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002"
	dir := authority.NewStaticDirectory()
	_ = dir.AddTenant(authority.Tenant{ID: tenant, DisplayName: "Contoso", Domains: []string{"contoso.example"}})
	_ = dir.PutApp(tenant, authority.App{
		AppID: app, DisplayName: "Collector", Roles: []string{"AuditLog.Read.All", "Directory.Read.All"},
		Secrets: []authority.Secret{{KeyID: "k1", Value: "example-secret", End: time.Now().AddDate(1, 0, 0)}},
	})
	ca, _ := testca.Shared()
	auth := authority.New(dir, &authority.Options{CA: ca})
	base, err := auth.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer auth.Close()

	cred, _ := azidentity.NewClientSecretCredential(tenant, app, "example-secret", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: base},
			Transport: ca.Client(),
		},
		DisableInstanceDiscovery: true,
	})
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, err := auth.Verify(tok.Token, authority.GraphResource)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.AppID == app, claims.Roles)
	// Output: true [AuditLog.Read.All Directory.Read.All]
}
