package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzKey is a storage account key used in the fuzz baseline; it must never show in an error or in the Summary.
const fuzzKey = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk=="

// FuzzLoad sets one app setting (chosen by index) to an arbitrary value over a complete, valid configuration and
// loads it. Nothing may panic; a refused value gets an error that starts "setting <that setting>:"; an accepted one
// gives a configuration that validates, and neither the error nor the Summary ever holds the storage account key.
// Seeds: testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	for i := range Settings {
		f.Add(uint8(i), Settings[i].Default)
	}
	root := f.TempDir()
	if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(`{"version":"2.0","functionTimeout":"00:10:00"}`), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, index uint8, value string) {
		m := map[string]string{
			"FUNCTIONS_CUSTOMHANDLER_PORT": "7001",
			"FUNCTIONS_APP_ROOT_PATH":      root,
			"AzureWebJobsStorage":          "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + fuzzKey + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
			"KEY_VAULT_URL":                "https://kv.vault.azure.net/",
			"ENTRA_TENANT_ID":              "contoso.onmicrosoft.com",
			"ENTRA_CLIENT_ID":              "11111111-2222-3333-4444-555555555555",
		}
		s := Settings[int(index)%len(Settings)]
		m[s.Name] = value
		c, err := Load(env(m))
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "setting "+s.Name+":") {
				t.Fatalf("%s=%q: error %q does not start with the setting's name", s.Name, value, msg)
			}
			if strings.Contains(msg, fuzzKey) || (s.Name == "AzureWebJobsStorage" && len(value) >= 8 && strings.Contains(msg, value)) {
				t.Fatalf("%s=%q: the error shows the connection string: %q", s.Name, value, msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s=%q: loaded, then Validate says %v", s.Name, value, err)
		}
		sum, err := json.Marshal(c.Summary())
		if err != nil {
			t.Fatalf("summary: %v", err)
		}
		if strings.Contains(string(sum), fuzzKey) {
			t.Fatalf("%s=%q: the Summary shows the storage account key: %s", s.Name, value, sum)
		}
		if k := accountKey(c.Storage.ConnectionString); len(k) >= 8 && strings.Contains(string(sum), k) {
			t.Fatalf("%s=%q: the Summary shows the account key %q: %s", s.Name, value, k, sum)
		}
	})
}

// accountKey returns the AccountKey of a connection string.
func accountKey(cs string) string {
	for _, kv := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.TrimSpace(k), "AccountKey") {
			return v
		}
	}
	return ""
}
