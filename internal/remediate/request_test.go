package remediate

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	const ok = `{"integration":"contoso","user":"adele@contoso.com","reason":"phished"}`
	for _, tc := range []struct {
		name   string
		action Action
		body   string
		field  string // what the refusal must name; "" means accepted
	}{
		{"minimal", RevokeSessions, ok, ""},
		{"everything", UpdateUserType, `{"integration":"contoso","user":"6e2a8f3c-1111-4222-8333-944445555666","reason":"r","ticket":"INC-1",` +
			`"dryRun":true,"allowPrivileged":true,"userType":"Guest"}`, ""},
		{"guest UPN", DeleteGuestUser, `{"integration":"contoso","user":"eve_fabrikam.com#EXT#@contoso.onmicrosoft.com","reason":"left"}`, ""},
		{"empty", ResetMFA, ``, "empty"},
		{"not an object", ResetMFA, `["adele"]`, "JSON object"},
		{"not JSON", ResetMFA, `{integration:contoso}`, "not JSON"},
		{"truncated", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com"`, "truncated"},
		{"trailing data", ResetMFA, ok + `{}`, "after the JSON object"},
		{"misspelt dryRun", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","dryrun":true}`, `unknown field "dryrun"`},
		{"duplicate key", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","dryRun":true,"dryRun":false}`, "dryRun: given twice"},
		{"dryRun as a string", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","dryRun":"true"}`, "field dryRun"},
		{"no integration", ResetMFA, `{"user":"adele@contoso.com","reason":"r"}`, "field integration"},
		{"bad integration", ResetMFA, `{"integration":"Contoso Ltd","user":"adele@contoso.com","reason":"r"}`, "field integration"},
		{"no user", ResetMFA, `{"integration":"contoso","reason":"r"}`, "field user"},
		{"user path injection", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com/../groups","reason":"r"}`, "field user"},
		{"no reason", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com"}`, "field reason"},
		{"blank reason", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"  "}`, "field reason"},
		{"long reason", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"` + strings.Repeat("x", 1001) + `"}`, "field reason"},
		{"control in ticket", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","ticket":"a\u0000b"}`, "control"},
		{"userType missing", UpdateUserType, ok, "field userType"},
		{"userType wrong", UpdateUserType, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","userType":"Owner"}`, "field userType"},
		{"userType elsewhere", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"r","userType":"Guest"}`, "field userType"},
		{"too large", ResetMFA, `{"integration":"contoso","user":"adele@contoso.com","reason":"` + strings.Repeat("x", MaxBody) + `"}`, "larger than"},
		{"not UTF-8", ResetMFA, "{\"integration\":\"contoso\",\"user\":\"adele@contoso.com\",\"reason\":\"\xff\"}", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest(tc.action, []byte(tc.body))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Status != http.StatusBadRequest || r.Code != "bad-request" || !strings.Contains(r.Message, tc.field) {
				t.Fatalf("got %v, want a 400 naming %q", err, tc.field)
			}
		})
	}
}

func TestRequestHashIgnoresSpelling(t *testing.T) {
	a, err := DecodeRequest(ResetMFA, []byte(`{"integration":"contoso","user":"adele@contoso.com","reason":"r"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeRequest(ResetMFA, []byte("{ \"reason\": \"r\",\n \"user\": \"adele@contoso.com\", \"integration\": \"contoso\", \"dryRun\": false }"))
	if err != nil {
		t.Fatal(err)
	}
	if a.hash(ResetMFA) != b.hash(ResetMFA) {
		t.Error("the same request written differently hashes differently")
	}
	if a.hash(ResetMFA) == a.hash(RevokeSessions) {
		t.Error("the action is not part of the hash")
	}
	c := a
	c.Ticket = "INC-2"
	if a.hash(ResetMFA) == c.hash(ResetMFA) {
		t.Error("the ticket is not part of the hash")
	}
}

func TestMethodOrder(t *testing.T) {
	ms := []Method{{ID: "m", Type: "phoneAuthenticationMethod", PhoneType: "mobile"}, {ID: "app", Type: "microsoftAuthenticatorAuthenticationMethod"},
		{ID: "alt", Type: "phoneAuthenticationMethod", PhoneType: "alternateMobile"}, {ID: "key", Type: "fido2AuthenticationMethod"},
		{ID: "office", Type: "phoneAuthenticationMethod", PhoneType: "office"}, {ID: "mail", Type: "emailAuthenticationMethod"}}
	rank := map[string]int{}
	for _, m := range ms {
		rank[m.ID] = methodRank(m)
	}
	if !(rank["alt"] < rank["m"] && rank["mail"] < rank["key"] && rank["key"] < rank["office"] && rank["office"] < rank["app"] && rank["app"] < rank["alt"]) {
		t.Errorf("order %v: alternate mobile must precede mobile, and phones and the app come last", rank)
	}
}
