package access

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
)

func principal(js string) string { return base64.StdEncoding.EncodeToString([]byte(js)) }

func TestCheck(t *testing.T) {
	admin := principal(`{"auth_typ":"aad","claims":[{"typ":"name","val":"Ada Admin"},` +
		`{"typ":"http://schemas.microsoft.com/identity/claims/objectidentifier","val":"0b8f4d2c-1111-2222-3333-444455556666"},` +
		`{"typ":"roles","val":"Integration.Admin"}],"name_typ":"name","role_typ":"roles"}`)
	custom := principal(`{"auth_typ":"aad","role_typ":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role",` +
		`"claims":[{"typ":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role","val":"Integration.Helpdesk"}]}`)
	reader := principal(`{"auth_typ":"aad","claims":[{"typ":"roles","val":"Integration.Reader"}]}`)
	for _, tc := range []struct {
		name, header string
		need         []Role
		status       int
		who, oid     string
	}{
		{name: "no header: the function key alone", header: "", need: []Role{Admin}},
		{name: "admin", header: admin, need: []Role{Admin, Helpdesk}, who: "Ada Admin", oid: "0b8f4d2c-1111-2222-3333-444455556666"},
		{name: "role claim of the principal's role type", header: custom, need: []Role{Helpdesk}},
		{name: "reader may not collect", header: reader, need: []Role{Admin, Helpdesk}, status: http.StatusForbidden},
		{name: "not base64", header: "%%%", need: Anyone, status: http.StatusUnauthorized},
		{name: "not JSON", header: principal("roles"), need: Anyone, status: http.StatusUnauthorized},
		{name: "no roles", header: principal(`{"claims":[]}`), need: Anyone, status: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Check(tc.header, tc.need...)
			var d *Denied
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.status != 0 && !errors.As(err, &d):
				t.Fatalf("admitted (%v), want %d", err, tc.status)
			case tc.status != 0 && (d.Status != tc.status || d.Message == ""):
				t.Fatalf("refused with %d %q, want %d and a reason", d.Status, d.Message, tc.status)
			}
			if tc.who != "" && (p.Name != tc.who || p.ObjectID != tc.oid) {
				t.Fatalf("principal %+v, want name %q oid %q", p, tc.who, tc.oid)
			}
		})
	}
}

// FuzzCheck feeds arbitrary X-MS-CLIENT-PRINCIPAL values to Check. Nothing may panic; a refusal is 401 or 403 and
// says why; a caller is admitted only without the header or with a principal (standard base64 of JSON) holding
// one of the needed app roles as a role claim. Seeds: testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add(principal(`{"auth_typ":"aad","claims":[{"typ":"roles","val":"Integration.Admin"}]}`), true)
	f.Fuzz(func(t *testing.T, header string, collect bool) {
		need := Anyone
		if collect {
			need = []Role{Admin, Helpdesk}
		}
		_, err := Check(header, need...)
		var d *Denied
		switch {
		case err == nil:
			if header != "" && !holdsRole(header, need) {
				t.Fatalf("principal %q let in for %v", header, need)
			}
		case errors.As(err, &d):
			if d.Status != http.StatusUnauthorized && d.Status != http.StatusForbidden || d.Message == "" {
				t.Fatalf("refused with %d %q", d.Status, d.Message)
			}
			if header == "" {
				t.Fatalf("no principal, but refused with %d %q", d.Status, d.Message)
			}
		default:
			t.Fatalf("error %v is not a *Denied", err)
		}
	})
}

// holdsRole is the test's own reading of a principal: standard base64 of a JSON object whose claims include one of
// roles, as a "roles" claim or a claim of the principal's role type.
func holdsRole(header string, roles []Role) bool {
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return false
	}
	var p struct {
		RoleType string `json:"role_typ"`
		Claims   []struct {
			Type  string `json:"typ"`
			Value string `json:"val"`
		} `json:"claims"`
	}
	if json.Unmarshal(b, &p) != nil {
		return false
	}
	for _, c := range p.Claims {
		if (c.Type == "roles" || p.RoleType != "" && c.Type == p.RoleType) && slices.Contains(roles, Role(c.Value)) {
			return true
		}
	}
	return false
}

func TestRequire(t *testing.T) {
	admin := principal(`{"auth_typ":"aad","claims":[{"typ":"name","val":"Ada Admin"},{"typ":"oid","val":"0b8f4d2c-1111-2222-3333-444455556666"},` +
		`{"typ":"roles","val":"Integration.Admin"}],"name_typ":"name","role_typ":"roles"}`)
	helpdesk := principal(`{"auth_typ":"aad","claims":[{"typ":"roles","val":"Integration.Helpdesk"}],"role_typ":"roles"}`)
	for _, tc := range []struct {
		name, header string
		keyRole      Role
		need         []Role
		status       int
		provider     string
	}{
		{name: "admin", header: admin, need: []Role{Admin}, provider: "aad"},
		{name: "helpdesk for an admin action", header: helpdesk, need: []Role{Admin}, status: http.StatusForbidden},
		{name: "helpdesk, key role ignored", header: helpdesk, keyRole: Admin, need: []Role{Admin}, status: http.StatusForbidden},
		{name: "no principal, no key role", need: []Role{Admin, Helpdesk}, status: http.StatusUnauthorized},
		{name: "no principal, key role helpdesk", keyRole: Helpdesk, need: []Role{Admin, Helpdesk}, provider: FunctionKeyProvider},
		{name: "no principal, key role helpdesk, admin action", keyRole: Helpdesk, need: []Role{Admin}, status: http.StatusForbidden},
		{name: "malformed", header: "%%%", keyRole: Admin, need: []Role{Admin}, status: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Require(tc.header, tc.keyRole, tc.need...)
			var d *Denied
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.status != 0 && (!errors.As(err, &d) || d.Status != tc.status || d.Message == ""):
				t.Fatalf("got %v, want %d with a reason", err, tc.status)
			case tc.status == 0 && p.IdentityProvider != tc.provider:
				t.Fatalf("principal %+v, want provider %q", p, tc.provider)
			}
		})
	}
}
