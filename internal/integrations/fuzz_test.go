package integrations

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzRequests feeds arbitrary bodies to every decoder of the Integrations API (op picks Add Integration, PATCH or
// Reset Credentials for one credential kind): no panic, every refusal a *ValidationError with a 4xx and a field,
// and everything accepted valid.
func FuzzRequests(f *testing.F) {
	f.Add(createBody(nil), uint8(0))
	f.Add([]byte(`{"name":"a","mode":"custom","dataTypes":{"users":true}}`), uint8(1))
	f.Add([]byte(`{"secretId":"`+secretGUID+`","secret":"v"}`), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, op uint8) {
		var err error
		switch op % 5 {
		case 0:
			var r CreateRequest
			if r, err = DecodeCreate(body); err == nil {
				i, ierr := r.Integration()
				if ierr != nil || i.Validate() != nil {
					t.Fatalf("accepted %q but the integration is invalid: %v", body, ierr)
				}
				if i.CredentialKind() == Certificate && r.Material() == "" {
					t.Fatalf("accepted %q without a certificate", body)
				}
			}
		case 1:
			var s Settings
			if s, err = DecodePatch(body); err == nil {
				i := Integration{ID: "x", TenantID: tenantGUID, ClientID: clientGUID, SecretName: "integration-x", Permissions: "read-only", Mode: Custom}
				s.Apply(&i)
				if i.DataMode() == Managed {
					i.DataTypes = nil
				}
				if verr := i.Validate(); verr != nil {
					t.Fatalf("accepted %q but applying it gives an invalid integration: %v", body, verr)
				}
			}
		default:
			kind := CredentialKinds[int(op%5)-2]
			var c CredentialsRequest
			if c, err = DecodeCredentials(body, kind); err == nil && c.Material() == "" {
				t.Fatalf("accepted %q for %s without a credential", body, kind)
			}
		}
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%q: error %v is not a *ValidationError", body, err)
		}
		if s := ve.HTTPStatus(); s < 400 || s > 499 || ve.Field == "" || ve.Problem == "" {
			t.Fatalf("%q: refused with %d field %q problem %q", body, s, ve.Field, ve.Problem)
		}
		if s := ve.HTTPStatus(); s == http.StatusRequestEntityTooLarge && len(body) <= MaxBody {
			t.Fatalf("%d bytes refused as too large", len(body))
		}
		if strings.ContainsRune(ve.Field, '\n') {
			t.Fatalf("field name %q not printable", ve.Field)
		}
	})
}
