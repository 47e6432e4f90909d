package authority

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint of the certificate (RFC 7517 4.8)
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Well-known resources the stand-in issues tokens for: their application ID URIs and first-party app IDs.
const (
	// GraphResource is Microsoft Graph's application ID URI (the aud of Graph tokens).
	GraphResource = "https://graph.microsoft.com"
	// GraphAppID is Microsoft Graph's first-party application ID.
	GraphAppID = "00000003-0000-0000-c000-000000000000"
	// VaultResource is Azure Key Vault's resource (the aud of Key Vault tokens).
	VaultResource = "https://vault.azure.net"
	// VaultAppID is Azure Key Vault's first-party application ID.
	VaultAppID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
)

// DefaultClockSkew is the tolerance Verify allows on nbf and exp: Microsoft.IdentityModel's default
// TokenValidationParameters.ClockSkew (5 minutes), which Microsoft's resource APIs validate tokens with.
const DefaultClockSkew = 5 * time.Minute

// resource is one resource the authority knows.
type resource struct {
	uri, appID string
	graph      bool // Graph tokens carry roles, idtyp and app_displayname
	// exchange tokens (for api://AzureADTokenExchange) are v2.0 tokens an app presents as a federated credential:
	// iss https://login.microsoftonline.com/{tid}/v2.0 (here: the stand-in's base URL), sub its object id.
	exchange bool
}

var knownResources = []resource{
	{uri: GraphResource, appID: GraphAppID, graph: true},
	{uri: VaultResource, appID: VaultAppID},
	{uri: TokenExchangeAudience, appID: TokenExchangeAppID, exchange: true},
}

// TokenExchangeAppID is the application ID of Entra's token exchange resource (api://AzureADTokenExchange)
// (unverified: the id public scripts use).
const TokenExchangeAppID = "fb60f99c-7a34-4190-8149-302f77469936"

// lookupResource finds the resource named by the part of a scope before "/.default": its URI (with or without a
// trailing slash, host case-insensitive) or its app ID.
func lookupResource(id string) (resource, bool) {
	trimmed := strings.TrimSuffix(id, "/")
	for _, r := range knownResources {
		if strings.EqualFold(trimmed, r.uri) || strings.EqualFold(id, r.appID) {
			return r, true
		}
	}
	return resource{}, false
}

// audienceMatches reports whether a token's aud names the same resource as want (URI or app ID forms).
func audienceMatches(aud, want string) bool {
	if strings.EqualFold(strings.TrimSuffix(aud, "/"), strings.TrimSuffix(want, "/")) {
		return true
	}
	ra, okA := lookupResource(aud)
	rw, okW := lookupResource(want)
	return okA && okW && ra.uri == rw.uri
}

// Claims are the verified claims of an access token.
type Claims struct {
	// TenantID is the tid claim.
	TenantID string
	// AppID is the appid claim (the client application).
	AppID string
	// ObjectID is the oid claim (the client's service principal).
	ObjectID string
	// Audience is the aud claim.
	Audience string
	// Issuer is the iss claim.
	Issuer string
	// Roles is the roles claim (granted application permissions), nil when absent.
	Roles []string
	// AppDisplayName is the app_displayname claim (Graph tokens).
	AppDisplayName string
	// IDType is the idtyp claim ("app" on Graph app-only tokens).
	IDType string
	// ClientCapabilities is the xms_cc claim; "cp1" means the client handles CAE claims challenges.
	ClientCapabilities []string
	// TokenID is the uti claim.
	TokenID string
	// IssuedAt, NotBefore and Expires are the iat, nbf and exp claims.
	IssuedAt, NotBefore, Expires time.Time
}

// CAECapable reports whether the client declared the "cp1" capability (it can handle CAE claims challenges).
func (c *Claims) CAECapable() bool {
	return slices.ContainsFunc(c.ClientCapabilities, func(s string) bool { return strings.EqualFold(s, "cp1") })
}

// HasRole reports whether the roles claim contains role (case-insensitively, as Graph compares permissions).
func (c *Claims) HasRole(role string) bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// Reasons a token fails verification; a *TokenError wraps exactly one of them (use errors.Is).
var (
	// ErrMalformedToken: not a compact JWS with a JSON header and payload.
	ErrMalformedToken = errors.New("malformed token")
	// ErrUnknownSigningKey: the kid is not one of this authority's signing keys (a token from another authority).
	ErrUnknownSigningKey = errors.New("unknown signing key")
	// ErrInvalidSignature: the signature does not verify, or the algorithm is not RS256.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrTokenExpired: exp is more than the clock skew before now.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenNotYetValid: nbf is more than the clock skew after now.
	ErrTokenNotYetValid = errors.New("token not yet valid")
	// ErrWrongAudience: aud is not the resource that verifies the token.
	ErrWrongAudience = errors.New("wrong audience")
	// ErrWrongIssuer: iss is not https://sts.windows.net/{tid}/.
	ErrWrongIssuer = errors.New("wrong issuer")
)

// TokenError says why Verify rejected a token. It never contains the token itself.
type TokenError struct {
	// Reason is one of the Err* sentinels above.
	Reason error
	// Detail says what was wrong, for example the expected and found audience.
	Detail string
	// Claims are the token's claims when its signature verified (nil otherwise), so a resource can, for
	// example, answer an expired CAE-capable token with a claims challenge.
	Claims *Claims
}

// Error implements error.
func (e *TokenError) Error() string {
	if e.Detail == "" {
		return "authority: " + e.Reason.Error()
	}
	return "authority: " + e.Reason.Error() + ": " + e.Detail
}

// Unwrap returns Reason, so errors.Is(err, ErrTokenExpired) works.
func (e *TokenError) Unwrap() error { return e.Reason }

// jwtHeader is the JOSE header of Entra access tokens.
type jwtHeader struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
	X5t string `json:"x5t,omitempty"`
	Kid string `json:"kid"`
}

// jwtClaims is the payload, in the order Entra writes v1.0 access tokens.
type jwtClaims struct {
	Aud            string   `json:"aud"`
	Iss            string   `json:"iss"`
	Iat            int64    `json:"iat"`
	Nbf            int64    `json:"nbf"`
	Exp            int64    `json:"exp"`
	Aio            string   `json:"aio,omitempty"`
	AppDisplayName string   `json:"app_displayname,omitempty"`
	AppID          string   `json:"appid"`
	AppIDAcr       string   `json:"appidacr"`
	Idp            string   `json:"idp"`
	IDTyp          string   `json:"idtyp,omitempty"`
	Oid            string   `json:"oid"`
	Rh             string   `json:"rh,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	Sub            string   `json:"sub"`
	Tid            string   `json:"tid"`
	Uti            string   `json:"uti"`
	Ver            string   `json:"ver"`
	XmsCC          []string `json:"xms_cc,omitempty"`
}

// signingKey is the authority's RSA key with the self-signed certificate published in the JWKS (x5c).
type signingKey struct {
	priv *rsa.PrivateKey
	cert []byte // DER
	kid  string // Entra uses the x5t (base64url SHA-1 of the certificate) as kid
}

func newSigningKey(now time.Time) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der) //nolint:gosec // thumbprint, not a security hash
	return &signingKey{priv: priv, cert: der, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

func (k *signingKey) sign(c jwtClaims) (string, error) {
	h, err := json.Marshal(jwtHeader{Typ: "JWT", Alg: "RS256", X5t: k.kid, Kid: k.kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// verify checks the token against key and audience at now with the given skew.
func (k *signingKey) verify(token, audience string, now time.Time, skew time.Duration) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, &TokenError{Reason: ErrMalformedToken, Detail: fmt.Sprintf("%d segments, want 3", len(parts))}
	}
	var hdr jwtHeader
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, &TokenError{Reason: ErrMalformedToken, Detail: "header: " + err.Error()}
	}
	var payload jwtClaims
	if err := decodeSegment(parts[1], &payload); err != nil {
		return nil, &TokenError{Reason: ErrMalformedToken, Detail: "payload: " + err.Error()}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, &TokenError{Reason: ErrMalformedToken, Detail: "signature is not base64url"}
	}
	if hdr.Alg != "RS256" {
		return nil, &TokenError{Reason: ErrInvalidSignature, Detail: fmt.Sprintf("algorithm %q, want RS256", hdr.Alg)}
	}
	if hdr.Kid != k.kid {
		return nil, &TokenError{Reason: ErrUnknownSigningKey, Detail: fmt.Sprintf("kid %q", hdr.Kid)}
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&k.priv.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return nil, &TokenError{Reason: ErrInvalidSignature, Detail: "signature does not verify"}
	}
	c := payload.claims()
	switch {
	case now.Add(skew).Before(c.NotBefore):
		return nil, &TokenError{Reason: ErrTokenNotYetValid, Claims: c, Detail: fmt.Sprintf(
			"nbf %s is after now %s", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	case !now.Add(-skew).Before(c.Expires):
		return nil, &TokenError{Reason: ErrTokenExpired, Claims: c, Detail: fmt.Sprintf(
			"exp %s is before now %s", c.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	case !audienceMatches(c.Audience, audience):
		return nil, &TokenError{Reason: ErrWrongAudience, Claims: c,
			Detail: fmt.Sprintf("expected %s, found %s", audience, c.Audience)}
	case c.TenantID == "" || c.Issuer != v1Issuer(c.TenantID):
		return nil, &TokenError{Reason: ErrWrongIssuer, Claims: c,
			Detail: fmt.Sprintf("expected %s, found %s", v1Issuer(c.TenantID), c.Issuer)}
	}
	return c, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

func (p jwtClaims) claims() *Claims {
	return &Claims{
		TenantID:           p.Tid,
		AppID:              p.AppID,
		ObjectID:           p.Oid,
		Audience:           p.Aud,
		Issuer:             p.Iss,
		Roles:              p.Roles,
		AppDisplayName:     p.AppDisplayName,
		IDType:             p.IDTyp,
		ClientCapabilities: p.XmsCC,
		TokenID:            p.Uti,
		IssuedAt:           time.Unix(p.Iat, 0),
		NotBefore:          time.Unix(p.Nbf, 0),
		Expires:            time.Unix(p.Exp, 0),
	}
}

// v1Issuer is the iss of v1.0 access tokens (what Graph and Key Vault receive).
func v1Issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// CAEChallenge returns the WWW-Authenticate value a CAE-enabled resource sends to make a CAE-capable client fetch
// a token issued no earlier than notBefore, bypassing its token cache: an insufficient_claims challenge whose
// claims (base64) demand {"access_token":{"nbf":{"essential":true,"value":"<unix seconds>"}}}, the shape Graph
// sends (source: public azure-cli and Microsoft Graph reports). authorityURL is the authority's base URL.
func CAEChallenge(authorityURL string, notBefore time.Time) string {
	claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, notBefore.Unix())
	return fmt.Sprintf(`Bearer realm="", authorization_uri="%scommon/oauth2/authorize", error="insufficient_claims", claims="%s"`,
		withSlash(authorityURL), base64.StdEncoding.EncodeToString([]byte(claims)))
}

func withSlash(u string) string {
	if strings.HasSuffix(u, "/") {
		return u
	}
	return u + "/"
}

// requestedClaims is the part of the token request's claims parameter the stand-in honours: client
// capabilities (xms_cc, which azcore always sends as "cp1") and a CAE nbf demand.
type requestedClaims struct {
	AccessToken struct {
		XmsCC struct {
			Values []string `json:"values"`
		} `json:"xms_cc"`
		Nbf struct {
			Value string `json:"value"`
		} `json:"nbf"`
	} `json:"access_token"`
}

// parseRequestedClaims decodes the claims parameter; ok is false when it is not JSON.
func parseRequestedClaims(s string) (capabilities []string, minNbf time.Time, ok bool) {
	if s == "" {
		return nil, time.Time{}, true
	}
	var rc requestedClaims
	if err := json.Unmarshal([]byte(s), &rc); err != nil {
		return nil, time.Time{}, false
	}
	if v := rc.AccessToken.Nbf.Value; v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			minNbf = time.Unix(n, 0)
		}
	}
	return rc.AccessToken.XmsCC.Values, minNbf, true
}
