package integrations

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
)

const (
	tenantGUID = "6e2a8f3c-1111-4222-8333-944445555666"
	clientGUID = "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111"
	secretGUID = "5a1c2e3d-2222-4333-8444-555566667777"
)

// createBody is a valid Add Integration body; mutate changes it before it is encoded.
func createBody(mutate func(m map[string]any)) []byte {
	m := map[string]any{"name": "Contoso", "tenantId": tenantGUID, "clientId": clientGUID, "secretId": secretGUID,
		"secret": "Abc8Q~not-a-real-secret-value.xyz", "permissions": "read-only", "licences": map[string]string{"entraP1P2": "yes"},
		"mode": "custom", "dataTypes": map[string]bool{"signIns.interactive": true, "users": false},
		"excludedGroups": []string{"11111111-2222-4333-8444-555555555555"}, "excludeGuests": true, "excludeFromLogs": false,
		"schedules": map[string]string{"reports": "15m"}, "disabled": false}
	if mutate != nil {
		mutate(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeCreate(t *testing.T) {
	r, err := DecodeCreate(createBody(nil))
	if err != nil {
		t.Fatal(err)
	}
	i, err := r.Integration()
	if err != nil {
		t.Fatal(err)
	}
	if i.ID != "contoso" || i.SecretName != "integration-contoso" || i.Credential != Secret || i.SecretID != secretGUID ||
		i.Mode != Custom || !i.DataTypes["signIns.interactive"] || i.Licence(catalog.EntraP1P2) != Yes || !i.ExcludeGuests ||
		len(i.ExcludedGroups) != 1 || i.Schedules[catalog.Reports] != "15m" {
		t.Errorf("integration %+v", i)
	}
	if r.Material() != "Abc8Q~not-a-real-secret-value.xyz" {
		t.Error("material")
	}
	// Defaults: read-only, managed, id from the name.
	r, err = DecodeCreate([]byte(`{"name":"Fabrikam Ltd. (EU)","tenantId":"` + tenantGUID + `","clientId":"` + clientGUID +
		`","secretId":"` + secretGUID + `","secret":"s3cret"}`))
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := r.Integration(); i.ID != "fabrikam-ltd-eu" || i.Permissions != catalog.ReadOnly || i.DataMode() != Managed {
		t.Errorf("defaults %+v", i)
	}
	r, err = DecodeCreate([]byte(`{"name":"MSP client","tenantId":"` + tenantGUID + `","clientId":"` + clientGUID + `","credential":"managed-identity"}`))
	if i, _ := r.Integration(); err != nil || i.SecretName != "" || i.Credential != ManagedIdentity {
		t.Errorf("managed identity: %+v %v", i, err)
	}
}

// TestDecodeCreateNamesTheField tries every field of the Add Integration request wrong: each gets a 4xx naming it.
func TestDecodeCreateNamesTheField(t *testing.T) {
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	long := strings.Repeat("x", 200)
	cases := []struct {
		name   string
		body   []byte
		field  string
		status int
	}{
		{"name missing", createBody(del("name")), "name", 400},
		{"name empty", createBody(set("name", "")), "name", 400},
		{"name wrong type", createBody(set("name", 7)), "name", 400},
		{"name too long", createBody(set("name", long)), "name", 400},
		{"name control characters", createBody(set("name", "a\u0000b")), "name", 400},
		{"name without letters and no id", createBody(set("name", "!!!")), "name", 400},
		{"id not a slug", createBody(set("id", "Contoso Corp")), "id", 400},
		{"id too long", createBody(set("id", strings.Repeat("a", 41))), "id", 400},
		{"id wrong type", createBody(set("id", true)), "id", 400},
		{"tenantId missing", createBody(del("tenantId")), "tenantId", 400},
		{"tenantId not a GUID", createBody(set("tenantId", "contoso.onmicrosoft.com")), "tenantId", 400},
		{"tenantId one character short", createBody(set("tenantId", tenantGUID[:35])), "tenantId", 400},
		{"tenantId wrong type", createBody(set("tenantId", []string{tenantGUID})), "tenantId", 400},
		{"clientId missing", createBody(del("clientId")), "clientId", 400},
		{"clientId not a GUID", createBody(set("clientId", "my-app")), "clientId", 400},
		{"clientId wrong type", createBody(set("clientId", 1.5)), "clientId", 400},
		{"credential unknown", createBody(set("credential", "password")), "credential", 400},
		{"credential wrong type", createBody(set("credential", map[string]any{})), "credential", 400},
		{"secretId missing", createBody(del("secretId")), "secretId", 400},
		{"secretId not a GUID", createBody(set("secretId", "1234")), "secretId", 400},
		{"secret empty", createBody(set("secret", "")), "secret", 400},
		{"secret wrong type", createBody(set("secret", 12345)), "secret", 400},
		{"secret too long", createBody(set("secret", strings.Repeat("s", MaxSecretLength+1))), "secret", 400},
		{"secret is the secret ID", createBody(set("secret", secretGUID)), "secret", 400},
		{"secret with white space", createBody(set("secret", " abc ")), "secret", 400},
		{"secret with control characters", createBody(set("secret", "ab\ncd")), "secret", 400},
		{"certificate with a secret", createBody(set("certificate", "-----BEGIN CERTIFICATE-----")), "certificate", 400},
		{"certificate not PEM", createBody(func(m map[string]any) {
			delete(m, "secret")
			m["credential"], m["certificate"] = "certificate", "MIIB..."
		}), "certificate", 400},
		{"certificate too long", createBody(func(m map[string]any) {
			delete(m, "secret")
			m["credential"], m["certificate"] = "certificate", strings.Repeat("c", MaxCertificateLength+1)
		}), "certificate", 400},
		{"managed identity with a secret", createBody(set("credential", "managed-identity")), "secretId", 400},
		{"permissions unknown", createBody(set("permissions", "admin")), "permissions", 400},
		{"permissions wrong type", createBody(set("permissions", true)), "permissions", 400},
		{"licences unknown licence", createBody(set("licences", map[string]string{"office365": "yes"})), "licences", 400},
		{"licences bad answer", createBody(set("licences", map[string]string{"entraP2": "maybe"})), "licences.entraP2", 400},
		{"licences wrong type", createBody(set("licences", []string{"entraP2"})), "licences", 400},
		{"licences answer wrong type", createBody(set("licences", map[string]any{"entraP2": true})), "licences.entraP2", 400},
		{"mode unknown", createBody(set("mode", "auto")), "mode", 400},
		{"dataTypes unknown data type", createBody(set("dataTypes", map[string]bool{"signins": true})), "dataTypes", 400},
		{"dataTypes in managed mode", createBody(set("mode", "managed")), "dataTypes", 400},
		{"dataTypes wrong type", createBody(set("dataTypes", map[string]string{"users": "yes"})), "dataTypes.users", 400},
		{"excludedGroups not a GUID", createBody(set("excludedGroups", []string{"Domain Admins"})), "excludedGroups[0]", 400},
		{"excludedGroups twice", createBody(set("excludedGroups", []string{tenantGUID, strings.ToUpper(tenantGUID)})), "excludedGroups[1]", 400},
		{"excludedGroups wrong type", createBody(set("excludedGroups", tenantGUID)), "excludedGroups", 400},
		{"excludedGroups too many", createBody(set("excludedGroups", make([]string, MaxExcludedGroups+1))), "excludedGroups", 400},
		{"excludeGuests wrong type", createBody(set("excludeGuests", "yes")), "excludeGuests", 400},
		{"excludeFromLogs wrong type", createBody(set("excludeFromLogs", 1)), "excludeFromLogs", 400},
		{"schedules unknown family", createBody(set("schedules", map[string]string{"mail": "1h"})), "schedules", 400},
		{"schedules not a duration", createBody(set("schedules", map[string]string{"reports": "hourly"})), "schedules.reports", 400},
		{"schedules too short", createBody(set("schedules", map[string]string{"reports": "1m"})), "schedules.reports", 400},
		{"disabled wrong type", createBody(set("disabled", "false")), "disabled", 400},
		{"unknown field", createBody(set("clientSecret", "x")), "clientSecret", 400},
		{"null", createBody(set("name", nil)), "name", 400},
		{"duplicate key", []byte(`{"name":"a","name":"b"}`), "name", 400},
		{"not an object", []byte(`["name"]`), "body", 400},
		{"empty body", nil, "body", 400},
		{"not JSON", []byte(`{"name":`), "body", 400},
		{"trailing data", append(createBody(nil), []byte(`{}`)...), "body", 400},
		{"oversized body", createBody(set("padding", strings.Repeat("p", MaxBody))), "body", http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCreate(tc.body)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if ve.Field != tc.field || ve.HTTPStatus() != tc.status {
				t.Errorf("field %q status %d (%v), want %q %d", ve.Field, ve.HTTPStatus(), err, tc.field, tc.status)
			}
			if strings.Contains(err.Error(), "Abc8Q~not-a-real-secret-value") {
				t.Error("the message quotes the secret")
			}
		})
	}
}

func TestDecodePatchAndCredentials(t *testing.T) {
	s, err := DecodePatch([]byte(`{"name":"Contoso EU","mode":"custom","dataTypes":{"users":true},"excludeGuests":true}`))
	if err != nil {
		t.Fatal(err)
	}
	i := Integration{Mode: Managed}
	s.Apply(&i)
	if i.Name != "Contoso EU" || i.Mode != Custom || !i.DataTypes["users"] || !i.ExcludeGuests {
		t.Errorf("applied %+v", i)
	}
	s, _ = DecodePatch([]byte(`{"mode":"managed"}`))
	s.Apply(&i)
	if i.Mode != Managed || i.DataTypes != nil {
		t.Errorf("back to managed keeps choices: %+v", i)
	}
	for body, field := range map[string]string{
		`{"tenantId":"` + tenantGUID + `"}`:                                               "tenantId", // not a setting
		`{"secret":"x"}`:                                                                  "secret",
		`{"name":""}`:                                                                     "name",
		`{"mode":"managed","dataTypes":{}}`:                                               "", // an empty map is no choice
		`{"dataTypes":{"nope":true}}`:                                                     "dataTypes",
		`{"schedules":{"reports":"8d"}}`:                                                  "schedules.reports",
		`{"authenticationMethodsUsers":["x y"]}`:                                          "authenticationMethodsUsers[0]",
		`{"authenticationMethodsUsers":"a@contoso.com"}`:                                  "authenticationMethodsUsers",
		`{"mode":"custom","dataTypes":{"authenticationMethods":true}}`:                    "", // the stored list decides
		`{"dataTypes":{"authenticationMethods":true},"authenticationMethodsUsers":[]}`:    "authenticationMethodsUsers",
		`{"dataTypes":{"mailboxSettings":true},"authenticationMethodsUsers":["a@b.com"]}`: "",
		`{}`: "",
	} {
		_, err := DecodePatch([]byte(body))
		var ve *ValidationError
		if field == "" {
			if err != nil {
				t.Errorf("%s: %v", body, err)
			}
			continue
		}
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: %v, want field %s", body, err, field)
		}
	}
	c, err := DecodeCredentials([]byte(`{"secretId":"`+secretGUID+`","secret":"new-value"}`), Secret)
	if err != nil || c.Material() != "new-value" || c.SecretID != secretGUID {
		t.Errorf("credentials %+v %v", c, err)
	}
	for _, tc := range []struct {
		body   string
		kind   CredentialKind
		field  string
		status int
	}{
		{`{"secret":"new-value"}`, Secret, "secretId", 400},
		{`{"secretId":"` + secretGUID + `"}`, Secret, "secret", 400},
		{`{"secretId":"` + secretGUID + `","secret":"` + secretGUID + `"}`, Secret, "secret", 400},
		{`{"secretId":"` + secretGUID + `","secret":"v","extra":1}`, Secret, "extra", 400},
		{`{"certificate":"x"}`, Certificate, "certificate", 400},
		{`{"secret":"v"}`, ManagedIdentity, "credential", 409},
	} {
		_, err := DecodeCredentials([]byte(tc.body), tc.kind)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.HTTPStatus() != tc.status {
			t.Errorf("%s (%s): %v, want field %s status %d", tc.body, tc.kind, err, tc.field, tc.status)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"Contoso": "contoso", "Fabrikam Ltd. (EU)": "fabrikam-ltd-eu", "  --x--  ": "x",
		"Ünïcode Co": "n-code-co", strings.Repeat("ab ", 30): "ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-a", "!!!": ""} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
