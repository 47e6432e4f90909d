// Package access decides who may call the HTTP functions. The function key is checked by the Functions host; on
// top of it, when App Service Authentication (Easy Auth) is on, the platform passes the signed-in caller as the
// X-MS-CLIENT-PRINCIPAL header (base64 JSON), whose role claims carry the app roles Integration.Admin,
// Integration.Helpdesk and Integration.Reader (SPEC §3, §7). With Easy Auth on, unauthenticated calls never reach
// the app; with it off, the header is absent and the function key alone admits the caller.
package access

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Header is the request header App Service Authentication fills with the caller.
const Header = "X-MS-CLIENT-PRINCIPAL"

// Role is an app role of the function app's Easy Auth registration.
type Role string

// The app roles (SPEC §7).
const (
	// Admin adds, edits and deletes integrations, resets credentials and runs every remediation action.
	Admin Role = "Integration.Admin"
	// Helpdesk tests connectivity, collects now and runs the help-desk remediation actions.
	Helpdesk Role = "Integration.Helpdesk"
	// Reader reads integrations, status and the audit trail.
	Reader Role = "Integration.Reader"
)

// Anyone is the set of roles that may read.
var Anyone = []Role{Admin, Helpdesk, Reader}

// Principal is the caller App Service Authentication identified.
type Principal struct {
	// IdentityProvider is the principal's auth_typ ("aad").
	IdentityProvider string `json:"identityProvider,omitempty"`
	// Name is the caller's display or user name, ObjectID its Entra object id (both may be empty for an app).
	Name     string `json:"name,omitempty"`
	ObjectID string `json:"objectId,omitempty"`
	// Roles are the app roles among the principal's claims.
	Roles []Role `json:"roles"`
}

// Has reports whether the principal holds one of roles.
func (p *Principal) Has(roles ...Role) bool {
	if p == nil {
		return false
	}
	return slices.ContainsFunc(p.Roles, func(r Role) bool { return slices.Contains(roles, r) })
}

// Claim types App Service Authentication uses for the name and object id.
var (
	nameClaims = []string{"name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"}
	oidClaims = []string{"http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"}
)

// principalJSON is the decoded header.
type principalJSON struct {
	AuthType string `json:"auth_typ"`
	NameType string `json:"name_typ"`
	RoleType string `json:"role_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

// Parse decodes an X-MS-CLIENT-PRINCIPAL value; an empty value means no principal (nil, nil).
func Parse(header string) (*Principal, error) {
	if header == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64", Header)
	}
	var pj principalJSON
	if err := json.Unmarshal(b, &pj); err != nil {
		return nil, fmt.Errorf("%s is not a principal", Header)
	}
	p := &Principal{IdentityProvider: pj.AuthType, Roles: []Role{}}
	first := func(types []string) string {
		for _, t := range types {
			for _, c := range pj.Claims {
				if c.Type == t && c.Value != "" {
					return c.Value
				}
			}
		}
		return ""
	}
	names := nameClaims
	if pj.NameType != "" {
		names = append([]string{pj.NameType}, nameClaims...)
	}
	p.Name, p.ObjectID = first(names), first(oidClaims)
	for _, c := range pj.Claims {
		if c.Type == "roles" || pj.RoleType != "" && c.Type == pj.RoleType {
			if r := Role(c.Value); !slices.Contains(p.Roles, r) {
				p.Roles = append(p.Roles, r)
			}
		}
	}
	return p, nil
}

// Denied is a refusal with the HTTP status to answer (401 for a malformed principal, 403 for a missing role).
type Denied struct {
	Status  int
	Message string
}

func (d *Denied) Error() string { return d.Message }

// Check admits a caller that holds one of anyOf. Without the header only the function key protects the endpoint
// (Easy Auth is optional): Check admits the call and returns a nil principal. A refusal is a *Denied.
func Check(header string, anyOf ...Role) (*Principal, error) {
	p, err := Parse(header)
	if err != nil {
		return nil, &Denied{Status: http.StatusUnauthorized, Message: err.Error()}
	}
	if p == nil || p.Has(anyOf...) {
		return p, nil
	}
	names := make([]string, len(anyOf))
	for i, r := range anyOf {
		names[i] = string(r)
	}
	return p, &Denied{Status: http.StatusForbidden, Message: "this needs one of the app roles " + strings.Join(names, ", ")}
}

// FunctionKeyProvider is the IdentityProvider of the principal Require stands in for a caller identified by the
// function key alone.
const FunctionKeyProvider = "functionKey"

// Require admits an identified caller holding one of anyOf, for actions that change a tenant and must name who
// asked. A malformed header is refused 401, a missing role 403. Without the header (App Service Authentication
// off) nobody is identified: the call is refused 401 unless keyRole is set, in which case the holder of the
// function key acts with that one role, as the principal {IdentityProvider: "functionKey", Name: "function key"}.
func Require(header string, keyRole Role, anyOf ...Role) (*Principal, error) {
	p, err := Parse(header)
	if err != nil {
		return nil, &Denied{Status: http.StatusUnauthorized, Message: err.Error()}
	}
	if p == nil {
		if keyRole == "" {
			return nil, &Denied{Status: http.StatusUnauthorized, Message: "this action needs a signed-in caller: turn on App Service " +
				"Authentication (the function key alone does not say who acts; see REMEDIATION_FUNCTION_KEY_ROLE)"}
		}
		p = &Principal{IdentityProvider: FunctionKeyProvider, Name: "function key", Roles: []Role{keyRole}}
	}
	if p.Has(anyOf...) {
		return p, nil
	}
	names := make([]string, len(anyOf))
	for i, r := range anyOf {
		names[i] = string(r)
	}
	return p, &Denied{Status: http.StatusForbidden, Message: "this needs one of the app roles " + strings.Join(names, ", ")}
}
