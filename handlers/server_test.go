package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testServer(t *testing.T, fns map[string]function) (*server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return &server{functions: fns, logger: logging.New(logs, slog.LevelDebug), base: context.Background(), timeout: time.Minute}, logs
}

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeReply(t *testing.T, rec *httptest.ResponseRecorder) envelope.Reply {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var r envelope.Reply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("reply %q: %v", rec.Body, err)
	}
	return r
}

func TestInvocationOutcomes(t *testing.T) {
	s, logs := testServer(t, map[string]function{
		"Ok": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			r := envelope.NewReply()
			r.Log("fine")
			return r, nil
		},
		"Nil": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) { return nil, nil },
		"Fails": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			return nil, errors.New("graph said no")
		},
		"Panics": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			var m map[string]int
			m["boom"]++
			return nil, nil
		},
	})
	h := s.routes()
	cases := []struct {
		path, body string
		status     int
		log        string
	}{
		{"/Ok", `{"Data":{},"Metadata":{}}`, 200, "fine"},
		{"/ok", `{"Data":{},"Metadata":{}}`, 200, "fine"},
		{"/Nil", `{}`, 200, ""},
		{"/Fails", `{}`, 500, "graph said no"},
		{"/Panics", `{}`, 500, "panic"},
		{"/Ok", `not json`, 400, "invocation envelope: body"},
		{"/Missing", `{}`, 404, `unknown function "Missing"`},
	}
	for _, c := range cases {
		t.Run(c.path+" "+c.body, func(t *testing.T) {
			rec := post(t, h, c.path, c.body)
			if rec.Code != c.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, c.status, rec.Body)
			}
			r := decodeReply(t, rec)
			if c.log != "" && !strings.Contains(strings.Join(r.Logs, "\n"), c.log) {
				t.Errorf("logs %q lack %q", r.Logs, c.log)
			}
		})
	}
	if !strings.Contains(logs.String(), `"invocation_id":"inv-1"`) || !strings.Contains(logs.String(), `"stack"`) {
		t.Errorf("handler log lacks invocation id or panic stack:\n%s", logs)
	}
}

func TestReadinessAndUnknownRoutes(t *testing.T) {
	s, _ := testServer(t, nil)
	h := s.routes()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "ready") {
		t.Errorf("readiness: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/Status", nil))
	if rec.Code != 404 {
		t.Errorf("GET /Status = %d, want 404", rec.Code)
	}
	decodeReply(t, rec)
}

func TestInvocationDeadline(t *testing.T) {
	s, _ := testServer(t, map[string]function{
		"Slow": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	s.timeout = 50 * time.Millisecond
	rec := post(t, s.routes(), "/Slow", `{}`)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "deadline exceeded") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
}

// TestShutdownDrains starts a real listener, begins an invocation, shuts down, and checks that the invocation
// completes while new connections are refused.
func TestShutdownDrains(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s, logs := testServer(t, map[string]function{
		"Work": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			r := envelope.NewReply()
			r.Log("finished")
			return r, nil
		},
	})
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	s.base = base
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/Work", "application/json", strings.NewReader(`{}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started

	code := make(chan int, 1)
	go func() { code <- shutdown(srv, cancelBase, 10*time.Second, s.logger) }()
	// Wait until the listener is closed, then let the invocation finish.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "finished") {
		t.Fatalf("in-flight invocation: %+v", r)
	}
	if c := <-code; c != 0 {
		t.Errorf("shutdown returned %d; log:\n%s", c, logs)
	}
}

// TestShutdownGraceOver cancels invocations that outlive the grace period.
func TestShutdownGraceOver(t *testing.T) {
	started := make(chan struct{})
	s, _ := testServer(t, map[string]function{
		"Stuck": func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	base, cancelBase := context.WithCancel(context.Background())
	s.base = base
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/Stuck", "application/json", strings.NewReader(`{}`))
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-started
	if c := shutdown(srv, cancelBase, 20*time.Millisecond, s.logger); c != 0 {
		t.Errorf("shutdown = %d", c)
	}
	if got := <-status; got != 500 {
		t.Errorf("cancelled invocation answered %d, want 500 (failed, so the host retries)", got)
	}
}
