package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/status"
)

// blackHole accepts connections and never answers: storage that hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// TestStatusAnswersWhileStorageHangs: an invocation stuck creating the archive container on a hanging storage
// account must not hold up Status, which probes storage with its own timeout and reports it unreachable.
func TestStatusAnswersWhileStorageHangs(t *testing.T) {
	addr := blackHole(t)
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://%s/devstoreaccount1;"+
		"QueueEndpoint=http://%s/devstoreaccount1;TableEndpoint=http://%s/devstoreaccount1;", "a2V5", addr, addr, addr)
	settings := map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "7071", "FUNCTIONS_APP_ROOT_PATH": t.TempDir(), "AzureWebJobsStorage": cs}
	cfg, err := config.Load(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(cfg, logging.New(t.Output(), slog.LevelInfo))
	stuck, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	started := make(chan struct{})
	go func() {
		close(started)
		_, _ = a.stores(stuck) // hangs until the test ends
	}()
	<-started
	time.Sleep(50 * time.Millisecond) // let it reach the network

	req, err := envelope.Parse([]byte(`{"Data":{"req":{"Url":"http://localhost/api/status","Method":"GET","Headers":{},"Params":{}}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		reply *envelope.Reply
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := a.status(context.Background(), req)
		done <- answer{r, err}
	}()
	var got answer
	select {
	case got = <-done:
	case <-time.After(3 * status.ProbeTimeout):
		t.Fatalf("Status did not answer within %v while another invocation waited on storage", 3*status.ProbeTimeout)
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	var res envelope.HTTPResponse
	if err := json.Unmarshal(got.reply.Outputs["res"], &res); err != nil {
		t.Fatal(err)
	}
	var report status.Report
	if err := json.Unmarshal([]byte(res.Body), &report); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || report.Healthy || report.Storage.Blob == "ok" {
		t.Errorf("status %d, report %+v: want an answer saying storage is unreachable", res.StatusCode, report.Storage)
	}
}
