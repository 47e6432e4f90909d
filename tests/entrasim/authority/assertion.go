package authority

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is the SHA-1 thumbprint of the certificate (RFC 7517 4.8)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// ClientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// TokenExchangeAudience is the audience of the tokens an app presents as federated credentials
// (federatedIdentityCredential.audiences; Graph docs: "should be set to api://AzureADTokenExchange").
const TokenExchangeAudience = "api://AzureADTokenExchange"

// assertionHeader is the JOSE header of a client assertion: MSAL signs certificate assertions with PS256 and names
// the certificate by its SHA-256 thumbprint (x5t#S256); RS256 with the SHA-1 x5t is the older form.
type assertionHeader struct {
	Alg     string `json:"alg"`
	Kid     string `json:"kid"`
	X5t     string `json:"x5t"`
	X5tS256 string `json:"x5t#S256"`
	Typ     string `json:"typ"`
}

// assertionClaims are the claims Entra reads from a client assertion. aud may be a string or an array.
type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp int64           `json:"exp"`
	Nbf int64           `json:"nbf"`
}

func (c assertionClaims) audiences() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(c.Aud, &many)
	return many
}

// checkAssertion authenticates app with a client assertion, as Entra does: an assertion the app signed itself
// (iss = sub = client id) is a certificate credential, checked against the app's keyCredentials; any other is a
// federated credential, whose issuer, audience and subject must match one of the app's federated identity
// credentials. tokenEndpoint is the endpoint the assertion was presented to (a certificate assertion's aud). A
// federated assertion is a token of this authority, so its times are checked against now (Options.Now); a
// certificate assertion was made on the client's clock and is checked against the real one.
func (a *Authority) checkAssertion(app App, assertion, tokenEndpoint string, now time.Time) *aadError {
	parts := strings.Split(assertion, ".")
	var hdr assertionHeader
	var claims assertionClaims
	if len(parts) != 3 || decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		e := errInvalidAssertion("the assertion is not a JWT")
		return &e
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		e := errInvalidAssertion("the signature is not base64url")
		return &e
	}
	signed := []byte(parts[0] + "." + parts[1])
	if claims.Iss == app.AppID {
		return a.checkCertificateAssertion(app, hdr, claims, signed, sig, tokenEndpoint)
	}
	return a.checkFederatedAssertion(app, hdr, claims, signed, sig, now)
}

func (a *Authority) checkCertificateAssertion(app App, hdr assertionHeader, c assertionClaims, signed, sig []byte, tokenEndpoint string) *aadError {
	cert := findCertificate(app.Certificates, hdr)
	if cert == nil {
		e := errCertificate(app.AppID, "the key named by the assertion's thumbprint is not registered")
		return &e
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || verifyRSA(pub, hdr.Alg, signed, sig) != nil {
		e := errCertificate(app.AppID, "the signature does not verify")
		return &e
	}
	if c.Sub != app.AppID {
		e := errCertificate(app.AppID, "the assertion's sub is not the client id")
		return &e
	}
	if !slices.ContainsFunc(c.audiences(), func(aud string) bool { return strings.EqualFold(aud, tokenEndpoint) }) {
		e := errCertificate(app.AppID, "the assertion's aud is not this token endpoint")
		return &e
	}
	// The client signed it on its own (real) clock, not on the stand-in's simulated one.
	return checkAssertionTime(c, time.Now())
}

func (a *Authority) checkFederatedAssertion(app App, hdr assertionHeader, c assertionClaims, signed, sig []byte, now time.Time) *aadError {
	// The only issuer the stand-in trusts is itself (a managed identity's token for api://AzureADTokenExchange).
	if hdr.Kid != a.key.kid || hdr.Alg != "RS256" || verifyRSA(&a.key.priv.PublicKey, "RS256", signed, sig) != nil {
		e := errInvalidAssertion("the assertion was not signed by a key of its issuer")
		return &e
	}
	if err := checkAssertionTime(c, now); err != nil {
		return err
	}
	auds := c.audiences()
	if len(app.FederatedCredentials) == 0 {
		e := errNoFederatedRecord(c.Iss, c.Sub, strings.Join(auds, ","))
		return &e
	}
	var byIssuer []FederatedCredential
	for _, fc := range app.FederatedCredentials {
		if fc.Issuer == c.Iss {
			byIssuer = append(byIssuer, fc)
		}
	}
	if len(byIssuer) == 0 {
		e := errFederatedIssuer(c.Iss)
		return &e
	}
	var byAudience []FederatedCredential
	for _, fc := range byIssuer {
		if slices.ContainsFunc(fc.Audiences, func(want string) bool { return slices.Contains(auds, want) }) {
			byAudience = append(byAudience, fc)
		}
	}
	if len(byAudience) == 0 {
		e := errFederatedAudience(strings.Join(auds, ","))
		return &e
	}
	if !slices.ContainsFunc(byAudience, func(fc FederatedCredential) bool { return fc.Subject == c.Sub }) {
		e := errFederatedSubject(c.Sub)
		return &e
	}
	return nil
}

func checkAssertionTime(c assertionClaims, now time.Time) *aadError {
	nbf, exp := time.Unix(c.Nbf, 0), time.Unix(c.Exp, 0)
	if c.Exp == 0 || !now.Before(exp.Add(DefaultClockSkew)) || c.Nbf != 0 && now.Add(DefaultClockSkew).Before(nbf) {
		e := errAssertionTime(now, nbf, exp)
		return &e
	}
	return nil
}

// findCertificate returns the certificate the header's thumbprint names (x5t#S256 or x5t, in standard or URL
// base64).
func findCertificate(certs []*x509.Certificate, hdr assertionHeader) *x509.Certificate {
	for _, c := range certs {
		s256 := sha256.Sum256(c.Raw)
		s1 := sha1.Sum(c.Raw) //nolint:gosec // thumbprint
		if hdr.X5tS256 != "" && matchesB64(hdr.X5tS256, s256[:]) || hdr.X5t != "" && matchesB64(hdr.X5t, s1[:]) {
			return c
		}
	}
	return nil
}

func matchesB64(s string, sum []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && string(b) == string(sum) {
			return true
		}
	}
	return false
}

// verifyRSA checks an RS256 or PS256 signature.
func verifyRSA(pub *rsa.PublicKey, alg string, signed, sig []byte) error {
	digest := sha256.Sum256(signed)
	switch alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	}
	return errors.New("unsupported algorithm " + alg)
}
