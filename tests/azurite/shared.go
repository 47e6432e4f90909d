package azurite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the Azurite shared by every test of this test binary, starting it on first use. A start failure
// (Azurite missing: run `make tools`) fails the test; it is never skipped. Use Main in TestMain so it is stopped
// when the tests end.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*DefaultStartTimeout)
		shared.srv, shared.err = Start(ctx, nil)
		cancel()
	}
	if shared.err != nil {
		t.Fatalf("shared Azurite: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests and then stops the shared Azurite, if one was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { azurite.Main(m) }
//
// A test that panics or times out kills the test binary before Main can stop Azurite; the process is then ended
// by the kernel (see tests/internal/proc), and only its temporary folder is left behind.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "stop shared Azurite: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// StopShared stops the shared Azurite if it is running; the next Shared starts a new one.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	srv := shared.srv
	shared.srv, shared.err = nil, nil
	if srv == nil {
		return nil
	}
	return srv.Stop()
}
