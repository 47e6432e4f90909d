package kvsim_test

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/testca"
)

// Example reads a secret with the real azsecrets client, authenticated against the authority stand-in.
func Example() {
	const tenant, app = "72f988bf-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002"
	dir := authority.NewStaticDirectory()
	_ = dir.AddTenant(authority.Tenant{ID: tenant})
	_ = dir.PutApp(tenant, authority.App{AppID: app, Secrets: []authority.Secret{{KeyID: "k1", Value: "example-secret"}}})
	ca, _ := testca.Shared()
	auth := authority.New(dir, &authority.Options{CA: ca})
	base, err := auth.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer auth.Close()
	vault, err := kvsim.Start(&kvsim.Options{AuthorityURL: base, TenantID: tenant, Verify: auth.Verify, CA: ca})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer vault.Close()
	_, _ = vault.SetSecret("integration-contoso", "the client secret", nil)

	cred, _ := azidentity.NewClientSecretCredential(tenant, app, "example-secret", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: base}, Transport: ca.Client()},
		DisableInstanceDiscovery: true,
	})
	client, _ := azsecrets.NewClient(vault.URL(), cred, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: ca.Client()},
		DisableChallengeResourceVerification: true, // test configuration only: the vault is not under vault.azure.net
	})
	s, err := client.GetSecret(context.Background(), "integration-contoso", "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*s.Value, s.ID.Name())
	// Output: the client secret integration-contoso
}
