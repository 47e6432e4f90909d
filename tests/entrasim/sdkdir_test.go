package entrasim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/devices"
	sdkdirectory "github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// msgraph-sdk-go's typed models read every directory object with every property selected, and find no
// property they do not know (AdditionalData holds only what the model lacks) but annotations and the schema
// properties newer than the SDK's models.
var newerThanSDK = map[string]bool{
	"managerApplications":     true, // application (2025 schema)
	"principalOrganizationId": true, // unifiedRoleAssignment
}

func TestSDKTypedDirectoryObjects(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 141, Users: 120, Churn: 30})
	clock.Advance(4 * time.Hour)
	cred := staticCredential{fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))}
	client, adapter, _ := sdkClient(t, tn, cred, "v1.0", []string{"127.0.0.1"})
	ctx := context.Background()
	top := int32(500)
	unknown := func(t *testing.T, what string, p serialization.Parsable) {
		t.Helper()
		h, ok := p.(interface{ GetAdditionalData() map[string]any })
		if !ok {
			return
		}
		for k := range h.GetAdditionalData() {
			if !strings.Contains(k, "@") && !newerThanSDK[k] {
				t.Errorf("%s: property %s unknown to the typed model", what, k)
			}
		}
	}

	t.Run("users with signInActivity", func(t *testing.T) {
		res, err := client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userDef.props, Top: &top}})
		if err != nil {
			t.Fatal(describe(err))
		}
		synced, withActivity := 0, 0
		for _, u := range res.GetValue() {
			unknown(t, "user", u)
			if u.GetOnPremisesSyncEnabled() != nil && *u.GetOnPremisesSyncEnabled() && u.GetOnPremisesImmutableId() != nil {
				synced++
			}
			if a := u.GetSignInActivity(); a != nil && a.GetLastSignInDateTime() != nil && a.GetLastSignInRequestId() != nil {
				withActivity++
			}
			if u.GetLastPasswordChangeDateTime() == nil {
				t.Fatalf("user %s without lastPasswordChangeDateTime", *u.GetId())
			}
		}
		if synced == 0 || withActivity == 0 {
			t.Fatalf("%d synced users, %d with signInActivity", synced, withActivity)
		}
	})
	t.Run("applications", func(t *testing.T) {
		res, err := client.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
			QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Select: slicesWithout(applicationDef.props, "logo")}})
		if err != nil {
			t.Fatal(describe(err))
		}
		certs := 0
		for _, a := range res.GetValue() {
			unknown(t, "application", a)
			if a.GetWeb() == nil || a.GetWeb().GetImplicitGrantSettings() == nil || a.GetVerifiedPublisher() == nil || a.GetPublicClient() == nil {
				t.Fatalf("application %s without web/verifiedPublisher/publicClient", *a.GetId())
			}
			for _, k := range a.GetKeyCredentials() {
				if len(k.GetCustomKeyIdentifier()) == 20 && k.GetEndDateTime() != nil && k.GetKeyId() != nil {
					certs++
				}
			}
		}
		if certs == 0 {
			t.Fatal("no certificate credential decoded")
		}
	})
	t.Run("service principals", func(t *testing.T) {
		res, err := client.ServicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Select: servicePrincipalDef.props, Top: &top}})
		if err != nil {
			t.Fatal(describe(err))
		}
		for _, sp := range res.GetValue() {
			unknown(t, "servicePrincipal", sp)
		}
	})
	t.Run("devices", func(t *testing.T) {
		res, err := client.Devices().Get(ctx, &devices.DevicesRequestBuilderGetRequestConfiguration{
			QueryParameters: &devices.DevicesRequestBuilderGetQueryParameters{Select: deviceDef.props, Top: &top}})
		if err != nil {
			t.Fatal(describe(err))
		}
		for _, d := range res.GetValue() {
			unknown(t, "device", d)
			if d.GetIsRooted() == nil || d.GetDeviceOwnership() == nil {
				t.Fatalf("device %s without isRooted/deviceOwnership", *d.GetId())
			}
		}
	})
	t.Run("role assignments with their principals", func(t *testing.T) {
		res, err := client.RoleManagement().Directory().RoleAssignments().Get(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Expand: []string{"principal"}}})
		if err != nil {
			t.Fatal(describe(err))
		}
		for _, a := range res.GetValue() {
			unknown(t, "unifiedRoleAssignment", a)
			if a.GetPrincipal() == nil || a.GetPrincipal().GetId() == nil || *a.GetPrincipal().GetId() != *a.GetPrincipalId() {
				t.Fatalf("assignment %s: principal not expanded", *a.GetId())
			}
		}
	})
	t.Run("groups delta with members", func(t *testing.T) {
		res, err := client.Groups().Delta().GetAsDeltaGetResponse(ctx, &groups.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "members"}}})
		if err != nil {
			t.Fatal(describe(err))
		}
		it, err := msgraphcore.NewPageIterator[models.Groupable](res, adapter, groups.CreateDeltaGetResponseFromDiscriminatorValue)
		if err != nil {
			t.Fatal(err)
		}
		n, withMembers := 0, 0
		if err := it.Iterate(ctx, func(g models.Groupable) bool {
			n++
			if _, ok := g.GetAdditionalData()["members@delta"]; ok {
				withMembers++
			}
			return true
		}); err != nil {
			t.Fatal(describe(err))
		}
		if n == 0 || withMembers == 0 || it.GetOdataDeltaLink() == nil {
			t.Fatalf("%d groups, %d with members@delta", n, withMembers)
		}
	})
	t.Run("administrative units delta", func(t *testing.T) {
		res, err := client.Directory().AdministrativeUnits().Delta().GetAsDeltaGetResponse(ctx, &sdkdirectory.AdministrativeUnitsDeltaRequestBuilderGetRequestConfiguration{})
		if err != nil {
			t.Fatal(describe(err))
		}
		for _, au := range res.GetValue() {
			unknown(t, "administrativeUnit", au)
		}
		if len(res.GetValue()) == 0 || res.GetOdataDeltaLink() == nil {
			t.Fatalf("%d administrative units", len(res.GetValue()))
		}
	})
}

func slicesWithout(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
