package entrasim

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// GraphAudience is the audience Graph tokens are issued for.
const GraphAudience = "https://graph.microsoft.com"

// Principal is what a verified access token says about its caller.
type Principal struct {
	TenantID string
	AppID    string
	Roles    []string // application permissions by value (the token's roles claim)
	Expires  time.Time
}

// TokenVerifier checks a bearer token issued for audience. Implementations wrap ErrTokenExpired or
// ErrTokenAudience so Graph's matching 401 message is chosen; any other error is an invalid token.
type TokenVerifier interface {
	VerifyToken(token, audience string) (Principal, error)
}

// Errors a TokenVerifier wraps to select Graph's 401 message.
var (
	ErrTokenExpired  = errors.New("entrasim: access token expired")
	ErrTokenAudience = errors.New("entrasim: access token for another audience")
)

// authenticate reads and verifies the bearer token.
func (t *Tenant) authenticate(r *http.Request) (Principal, *gerr) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, errTokenEmpty
	}
	p, err := t.verifier.VerifyToken(token, GraphAudience)
	switch {
	case errors.Is(err, ErrTokenExpired):
		return Principal{}, errTokenExpired
	case errors.Is(err, ErrTokenAudience):
		return Principal{}, errTokenAudience
	case err != nil:
		return Principal{}, errTokenInvalid
	}
	if !strings.EqualFold(p.TenantID, t.dir.tenantID) {
		// A token for another tenant cannot read this one (wording unverified).
		return Principal{}, errTokenInvalid
	}
	return p, nil
}

// hasRole reports whether roles grant need, directly or through the matching ReadWrite permission.
func hasRole(roles []string, need string) bool {
	if slices.Contains(roles, need) {
		return true
	}
	if rw, ok := strings.CutSuffix(need, ".Read.All"); ok && slices.Contains(roles, rw+".ReadWrite.All") {
		return true
	}
	return false
}

// permission is one required permission — any of roles grants it — and the error Graph gives when it is
// missing.
type permission struct {
	roles   []string
	missing func() *gerr
}

func (p permission) granted(have []string) bool {
	for _, r := range p.roles {
		if hasRole(have, r) {
			return true
		}
	}
	return false
}

// anyOf is a permission satisfied by any of roles, answered with 403 Authorization_RequestDenied.
func anyOf(roles ...string) permission {
	return permission{roles: roles, missing: func() *gerr { return errInsufficientPrivileges }}
}

// Requirements of the reporting endpoints. Sign-ins need both AuditLog.Read.All and Directory.Read.All
// (docs known issue, reference §1.1).
var (
	permAuditLog  = permission{[]string{"AuditLog.Read.All"}, func() *gerr { return errPermissionMissing("AuditLog.Read.All") }}
	permDirectory = anyOf("Directory.Read.All")
)
