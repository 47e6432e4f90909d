package authority

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mint gets a token from the fixture's token endpoint.
func mint(t *testing.T, f *fixture, scope string, extra url.Values) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {testSecret}, "scope": {scope}}
	for k, v := range extra {
		form[k] = v
	}
	resp := postToken(t, f, tokenCase{form: form})
	defer resp.Body.Close()
	var body tokenResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.AccessToken == "" {
		t.Fatalf("token response %d %s", resp.StatusCode, raw)
	}
	return body.AccessToken
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	token := mint(t, f, GraphResource+"/.default", nil)
	other := newFixture(t)
	foreign := mint(t, other, GraphResource+"/.default", nil)

	parts := strings.Split(token, ".")
	_, payload := decodeJWT(t, token)
	payload["roles"] = []string{"Directory.ReadWrite.All"}
	forged, _ := json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"none"}`))
	algNone := noneHeader + "." + parts[1] + "."

	tests := []struct {
		name     string
		token    string
		audience string
		advance  time.Duration
		want     error
	}{
		{name: "valid", token: token, audience: GraphResource},
		{name: "audience by app ID", token: token, audience: GraphAppID},
		{name: "audience with trailing slash", token: token, audience: GraphResource + "/"},
		{name: "within the clock skew after exp", token: token, audience: GraphResource, advance: time.Hour + 4*time.Minute},
		{name: "expired after the skew", token: token, audience: GraphResource, advance: time.Hour + 6*time.Minute, want: ErrTokenExpired},
		{name: "minted yesterday", token: token, audience: GraphResource, advance: 24 * time.Hour, want: ErrTokenExpired},
		{name: "not yet valid", token: token, audience: GraphResource, advance: -time.Hour, want: ErrTokenNotYetValid},
		{name: "wrong audience", token: token, audience: VaultResource, want: ErrWrongAudience},
		{name: "tampered payload", token: tampered, audience: GraphResource, want: ErrInvalidSignature},
		{name: "alg none", token: algNone, audience: GraphResource, want: ErrInvalidSignature},
		{name: "another authority's token", token: foreign, audience: GraphResource, want: ErrUnknownSigningKey},
		{name: "not a JWT", token: "opaque-token", audience: GraphResource, want: ErrMalformedToken},
		{name: "bad base64", token: "a.b!.c", audience: GraphResource, want: ErrMalformedToken},
		{name: "empty", token: "", audience: GraphResource, want: ErrMalformedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Advance(tc.advance)
			defer f.clock.Advance(-tc.advance)
			claims, err := f.auth.Verify(tc.token, tc.audience)
			if tc.want == nil {
				if err != nil || claims == nil || claims.AppID != testApp {
					t.Fatalf("Verify = %+v, %v", claims, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error %v, want %v", err, tc.want)
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TokenError", err)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Error("error message contains the token")
			}
			signatureOK := tc.want == ErrTokenExpired || tc.want == ErrTokenNotYetValid || tc.want == ErrWrongAudience
			if (te.Claims != nil) != signatureOK {
				t.Errorf("Claims %+v for %v", te.Claims, tc.want)
			}
		})
	}
}

func TestNoClockSkew(t *testing.T) {
	f := newFixture(t)
	strict := New(f.dir, &Options{Now: f.clock.Now, CA: f.ca, ClockSkew: -1})
	base, err := strict.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	g := *f
	g.auth, g.base = strict, base
	token := mint(t, &g, GraphResource+"/.default", nil)
	f.clock.Advance(time.Hour - time.Second)
	if _, err := strict.Verify(token, GraphResource); err != nil {
		t.Fatalf("one second before exp: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := strict.Verify(token, GraphResource); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("at exp: %v", err)
	}
}

func TestTokenLifetime(t *testing.T) {
	f := newFixture(t)
	short := New(f.dir, &Options{Now: f.clock.Now, CA: f.ca, TokenLifetime: 10 * time.Minute})
	base, err := short.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	g := *f
	g.auth, g.base = short, base
	resp := postToken(t, &g, tokenCase{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp},
		"client_secret": {testSecret}, "scope": {VaultResource + "/.default"}}})
	defer resp.Body.Close()
	var body tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.ExpiresIn != 599 {
		t.Errorf("expires_in %d, want 599", body.ExpiresIn)
	}
	c, err := short.Verify(body.AccessToken, VaultResource)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Expires.Sub(f.clock.Now()); got != 10*time.Minute {
		t.Errorf("exp - now = %v", got)
	}
}

func TestCAEClaims(t *testing.T) {
	f := newFixture(t)
	plain := mint(t, f, GraphResource+"/.default", nil)
	c, err := f.auth.Verify(plain, GraphResource)
	if err != nil {
		t.Fatal(err)
	}
	if c.CAECapable() {
		t.Error("a token requested without client capabilities is CAE-capable")
	}
	demand := f.clock.Now().Add(time.Minute)
	cae := mint(t, f, GraphResource+"/.default", url.Values{"claims": {
		`{"access_token":{"xms_cc":{"values":["cp1"]},"nbf":{"essential":true,"value":"` + strconv.FormatInt(demand.Unix(), 10) + `"}}}`}})
	f.clock.Advance(time.Minute)
	c, err = f.auth.Verify(cae, GraphResource)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CAECapable() {
		t.Errorf("xms_cc %v", c.ClientCapabilities)
	}
	if c.NotBefore.Before(demand) {
		t.Errorf("nbf %v before the demanded %v", c.NotBefore, demand)
	}
}

func TestCAEChallenge(t *testing.T) {
	at := time.Unix(1700000000, 0)
	got := CAEChallenge("https://127.0.0.1:1234", at)
	const want = `Bearer realm="", authorization_uri="https://127.0.0.1:1234/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAwMDAwMDAwIn19fQ=="`
	if got != want {
		t.Errorf("CAEChallenge =\n%s\nwant\n%s", got, want)
	}
	caps, nbf, ok := parseRequestedClaims(`{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`)
	if !ok || caps != nil || !nbf.Equal(at) {
		t.Errorf("parseRequestedClaims = %v %v %v", caps, nbf, ok)
	}
}
