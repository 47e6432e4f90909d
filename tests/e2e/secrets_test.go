package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
	"github.com/entra-di/edi/tests/secretscan"
)

// appSecrets is the scanner of a test that runs the handler without a scenario (startApp): the storage account
// key and the function app's keys.
func appSecrets() *secretscan.Scanner {
	s := secretscan.New()
	s.Add("storage account key", azurite.AccountKey)
	s.Add("function key", functionKey)
	s.Add("master key", masterKey)
	return s
}

// scanAppAtEnd registers the secret scan of a handler started by startApp: its output (scanned as written through
// out), its invocations' replies, and everything in the shared Azurite.
func scanAppAtEnd(t *testing.T, s *secretscan.Scanner, out *secretscan.Writer, h *hostsim.Host) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		findings := append(out.Findings(), scenario.ScanInvocations(s, h.Invocations())...)
		srv := azurite.Shared(t)
		st := secretscan.Storage{}
		var err error
		if st.Blobs, err = srv.BlobClient(); err == nil {
			if st.Tables, err = srv.TableClient(); err == nil {
				st.Queues, err = srv.QueueClient()
			}
		}
		if err != nil {
			t.Errorf("secret scan: %v", err)
			return
		}
		fs, counts, err := s.ScanStorage(ctx, st)
		if err != nil {
			t.Errorf("secret scan: %v", err)
			return
		}
		t.Logf("secret scan: %d invocations, %s", len(h.Invocations()), counts)
		if err := secretscan.Check(append(findings, fs...)); err != nil {
			t.Error(err)
		}
	})
}
