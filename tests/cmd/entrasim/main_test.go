package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// startCLI runs the command in-process and returns its printed description; the command stops when the test
// ends.
func startCLI(t *testing.T, args ...string) output {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancellation", err)
			}
		case <-time.After(time.Minute):
			t.Error("run did not return after cancellation")
		}
	})
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the description: %v", err)
	}
	var out output
	if err := json.Unmarshal(line, &out); err != nil {
		t.Fatalf("description %s: %v", line, err)
	}
	return out
}

// trusting returns an HTTP client that trusts the printed CA certificate only.
func trusting(t *testing.T, caPath string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func TestCLIEndToEnd(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "tenant.json")
	out := startCLI(t, "-seed", "9", "-users", "30", "-groups", "40", "-churn", "30", "-member-slice", "5", "-replay-share", "0.2",
		"-removal-delay", "10m", "-clock", "stopped", "-start", "2025-05-01T08:00:00Z",
		"-kv-secret-name", "integration-test", "-out", outFile, "-rate", "signIns.interactive=500",
		"-fault", `{"kind":"status","status":503,"path":"/v1.0/auditLogs/directoryAudits","nth":1}`)
	for name, v := range map[string]string{"graphUrl": out.GraphURL, "authorityUrl": out.AuthorityURL, "tenantId": out.TenantID,
		"clientId": out.ClientID, "clientSecret": out.ClientSecret, "secretId": out.SecretID, "caCertPath": out.CACertPath,
		"keyVaultUrl": out.KeyVaultURL, "simUrl": out.SimURL} {
		if v == "" {
			t.Fatalf("%s missing from the description", name)
		}
	}
	if b, err := os.ReadFile(outFile); err != nil || !strings.Contains(string(b), out.ClientSecret) {
		t.Fatalf("-out file: %v", err)
	}
	hc := trusting(t, out.CACertPath)
	ctx := context.Background()

	// The client secret from the vault, read with azsecrets through the authority.
	cred, err := azidentity.NewClientSecretCredential(out.TenantID, out.ClientID, out.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: out.AuthorityURL}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := azsecrets.NewClient(out.KeyVaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: hc}, DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kv.GetSecret(ctx, out.SecretName, "", nil)
	if err != nil || s.Value == nil || *s.Value != out.ClientSecret {
		t.Fatalf("secret from the vault: %v", err)
	}

	// Graph with a token from the authority.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, out.GraphURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if st, b := get("/beta/auditLogs/signIns?$top=5"); st != 200 || !strings.Contains(string(b), `"signInEventTypes":["interactiveUser"]`) {
		t.Fatalf("sign-ins: %d %.200s", st, b)
	}
	if st, _ := get("/v1.0/auditLogs/directoryAudits?$top=1"); st != 503 {
		t.Fatalf("the -fault rule did not fire: %d", st)
	}
	if st, _ := get("/v1.0/auditLogs/directoryAudits?$top=1"); st != 200 {
		t.Fatalf("the -fault rule fired twice: %d", st)
	}

	// The stopped clock moves only through /_sim/clock; -rate shows in the truth.
	sim := func(method, path, body string) []byte {
		req, _ := http.NewRequest(method, out.SimURL+path, strings.NewReader(body))
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return b
	}
	var clock struct {
		Now time.Time `json:"now"`
	}
	_ = json.Unmarshal(sim(http.MethodPost, "/clock", `{"advance":"2h"}`), &clock)
	if !clock.Now.Equal(time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("clock %s", clock.Now)
	}
	var truth struct {
		Count int `json:"count"`
	}
	_ = json.Unmarshal(sim(http.MethodGet, "/truth?stream=signIns.interactive&from=2025-04-30T08:00:00Z&to=2025-05-01T08:00:00Z", ""), &truth)
	if truth.Count < 500*24*9/10 || truth.Count > 500*24*11/10 {
		t.Fatalf("%d interactive sign-ins in a day at 500 per hour", truth.Count)
	}

	// The directory's ground truth: -groups sets the number of groups, -member-slice splits them in delta.
	var dir struct {
		Count   int `json:"count"`
		Objects []struct {
			Members []string `json:"members"`
		} `json:"objects"`
	}
	_ = json.Unmarshal(sim(http.MethodGet, "/directory?kind=groups&select=displayName", ""), &dir)
	if dir.Count < 38 || dir.Count > 42 || len(dir.Objects) != dir.Count { // churn creates and deletes groups
		t.Fatalf("%d groups", dir.Count)
	}
	seen, split := map[string]bool{}, false
	for u := "/v1.0/groups/delta?$select=displayName,members"; u != ""; {
		st, page := get(u)
		var p struct {
			Next  string `json:"@odata.nextLink"`
			Value []struct {
				ID      string            `json:"id"`
				Members []json.RawMessage `json:"members@delta"`
			} `json:"value"`
		}
		if err := json.Unmarshal(page, &p); st != 200 || err != nil {
			t.Fatalf("groups delta: %d %v", st, err)
		}
		entries := 0
		for _, g := range p.Value {
			entries += len(g.Members)
			split = split || seen[g.ID]
			seen[g.ID] = true
		}
		if entries > 5 && len(p.Value) > 1 {
			t.Fatalf("a page holds %d member entries with -member-slice 5", entries)
		}
		u = strings.TrimPrefix(p.Next, out.GraphURL)
	}
	if !split {
		t.Fatal("no group split across items with -member-slice 5")
	}
	sim(http.MethodPost, "/directory/reset", `{"kinds":["groups"]}`)
}

func TestCLIFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-licences", "E5"}, "-licences"},
		{[]string{"-roles", "Nope.Read.All"}, "Roles"},
		{[]string{"-clock", "fast"}, "-clock"},
		{[]string{"-clock", "real", "-start", "2025-01-01T00:00:00Z"}, "-start needs"},
		{[]string{"-start", "yesterday"}, "-start"},
		{[]string{"-rate", "signIns.interactive"}, "-rate"},
		{[]string{"-rate", "signIns.all=5"}, "unknown stream"},
		{[]string{"-latency", "slow"}, "-latency"},
		{[]string{"-fault", `{"kind":"boom"}`}, "-fault"},
		{[]string{"-replay-share", "2"}, "DeltaReplayShare"},
		{[]string{"-groups", "-1"}, "Groups"},
		{[]string{"-removal-delay", "soon"}, "removal-delay"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
