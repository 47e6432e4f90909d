package scenario

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/secretscan"
)

// SecretScan is what ScanSecrets looked at and found.
type SecretScan struct {
	Findings []secretscan.Finding
	// Invocations is the number of recorded invocations whose replies were scanned.
	Invocations int
	// Storage counts the blobs, entities and messages read.
	Storage secretscan.Counts
}

// ScanSecrets looks for every secret of the deployment (Env.Secrets) in everything it produced: the handler's and
// the host's output since start, every recorded invocation's reply (logs, outputs, HTTP responses with their
// headers, failure reasons), and every blob, table entity and queue message in Azurite. The error is nil only
// when nothing was found and everything could be read; findings name the secret and the place, never the value.
func (e *Env) ScanSecrets(ctx context.Context) error {
	scan, err := e.ScanSecretsReport(ctx)
	if err != nil {
		return err
	}
	return secretscan.Check(scan.Findings)
}

// ScanSecretsAtEnd registers ScanSecrets to run when t ends (before the scenario stops, when Start came first):
// any finding fails t, by secret name and place, never quoting the value.
func (e *Env) ScanSecretsAtEnd(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		scan, err := e.ScanSecretsReport(ctx)
		if err != nil {
			t.Errorf("secret scan: %v", err)
			return
		}
		t.Logf("secret scan: %d secrets known, %d invocations, %s", len(e.Secrets.Names()), scan.Invocations, scan.Storage)
		if err := secretscan.Check(scan.Findings); err != nil {
			t.Error(err)
		}
	})
}

// ScanSecretsReport does what ScanSecrets does and returns the details.
func (e *Env) ScanSecretsReport(ctx context.Context) (*SecretScan, error) {
	out := &SecretScan{Findings: e.output.Findings()}
	invs := e.Host.Invocations()
	out.Invocations = len(invs)
	out.Findings = append(out.Findings, ScanInvocations(e.Secrets, invs)...)
	st, err := e.storage()
	if err != nil {
		return nil, err
	}
	fs, counts, err := e.Secrets.ScanStorage(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("secret scan of storage: %w", err)
	}
	out.Findings = append(out.Findings, fs...)
	out.Storage = counts
	return out, nil
}

func (e *Env) storage() (secretscan.Storage, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return secretscan.Storage{}, err
	}
	tables, err := e.Azurite.TableClient()
	if err != nil {
		return secretscan.Storage{}, err
	}
	queues, err := e.Azurite.QueueClient()
	if err != nil {
		return secretscan.Storage{}, err
	}
	return secretscan.Storage{Blobs: blobs, Tables: tables, Queues: queues}, nil
}

// ScanInvocations scans what the handler answered to each invocation and what the host made of it: the raw reply,
// the HTTP response (status line, headers, body) and the failure reason. Requests are not scanned: they carry
// what the host sends the handler (function keys in HTTP headers among it), not what the product produced.
func ScanInvocations(s *secretscan.Scanner, invs []*hostsim.Invocation) []secretscan.Finding {
	var out []secretscan.Finding
	for _, inv := range invs {
		where := fmt.Sprintf("invocation %s %s", inv.Function, inv.ID)
		out = append(out, s.Scan(where+" reply", inv.ReplyBody)...)
		out = append(out, s.Scan(where+" failure", []byte(inv.Failure))...)
		out = append(out, s.Scan(where+" reply headers", []byte(formatHeader(inv.ReplyHeader)))...)
		if r := inv.HTTPResponse; r != nil {
			out = append(out, s.Scan(where+" HTTP response headers", []byte(formatHeader(r.Header)))...)
			out = append(out, s.Scan(where+" HTTP response body", r.Body)...)
		}
		for _, l := range inv.Logs {
			out = append(out, s.Scan(where+" log", []byte(l))...)
		}
		for _, qw := range inv.QueueWrites {
			for _, m := range qw.Messages {
				out = append(out, s.Scan(where+" queue output "+qw.Binding, m)...)
			}
		}
	}
	return out
}

func formatHeader(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
	}
	return b.String()
}
