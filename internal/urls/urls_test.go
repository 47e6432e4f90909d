package urls

import "testing"

func TestIsLoopback(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://127.0.0.1:8443/": true, "https://localhost/": true, "https://[::1]:1/x": true, "127.0.0.2": true,
		"localhost": true, "https://login.microsoftonline.com/": false, "vault.azure.net": false, "": false,
	} {
		if got := IsLoopback(raw); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestHTTPS(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://graph.microsoft.com": true, "http://graph.microsoft.com": false, "https://": false, "graph": false, "%": false,
	} {
		if _, err := HTTPS(raw); (err == nil) != ok {
			t.Errorf("HTTPS(%q) error %v, want ok=%v", raw, err, ok)
		}
	}
}
