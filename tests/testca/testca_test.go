package testca

import (
	"io"
	"net/http"
	"os"
	"testing"
)

func TestServerTrustedByClientAndPEM(t *testing.T) {
	ca, err := Shared()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ca.Listen()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	resp, err := ca.Client().Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body = %q", body)
	}
	if _, err := http.Get("https://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("a client without the CA trusted the stand-in certificate")
	}
	if b, err := os.ReadFile(ca.PEMPath()); err != nil || len(b) == 0 {
		t.Fatalf("PEM file: %v", err)
	}
}
