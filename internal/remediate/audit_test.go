package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/entra-di/edi/tests/azurite"
)

func newAuditLog(t *testing.T) (*AuditLog, *aztables.ServiceClient, *azblob.Client, string, string) {
	t.Helper()
	tables, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azurite.Shared(t).BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	table, cont := azurite.UniqueName(t, "audit"), azurite.UniqueName(t, "auditblobs")
	l := NewAuditLog(tables, blobs, &AuditOptions{Table: table, Container: cont})
	if err := l.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure is not idempotent: %v", err)
	}
	return l, tables, blobs, table, cont
}

func blobText(t *testing.T, blobs *azblob.Client, cont, name string) (string, blob.BlobType) {
	t.Helper()
	bc := blobs.ServiceClient().NewContainerClient(cont).NewBlobClient(name)
	props, err := bc.GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bc.DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), *props.BlobType
}

// TestAuditLogAppendOnly: every entry lands once in the table and once in the day's append blob, also when an
// append is retried or many run at once; what was written stays as it was.
func TestAuditLogAppendOnly(t *testing.T) {
	l, tables, blobs, table, cont := newAuditLog(t)
	ctx := context.Background()
	day := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	entry := func(i int) *Entry {
		return &Entry{ID: fmt.Sprintf("req-%03d", i), Time: day.Add(time.Duration(i) * time.Second), Integration: []string{"contoso", "fabrikam", ""}[i%3],
			Action: "reset-mfa", Caller: Caller{Name: "Ada", Roles: nil}, Outcome: OutcomeDone, Status: 200, Message: "m", Requests: nil}
	}
	if err := l.Append(ctx, entry(0)); err != nil {
		t.Fatal(err)
	}
	text0, typ := blobText(t, blobs, cont, BlobName(day))
	if typ != blob.BlobTypeAppendBlob || strings.Count(text0, "\n") != 1 {
		t.Fatalf("blob type %s, content %q", typ, text0)
	}
	// A retried append (its answer lost) writes nothing twice.
	if err := l.Append(ctx, entry(0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 1; i <= 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- l.Append(ctx, entry(i))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	text, _ := blobText(t, blobs, cont, BlobName(day))
	if !strings.HasPrefix(text, text0) {
		t.Fatal("the blob's first line was rewritten")
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[e.ID]++
	}
	pager := tables.NewClient(table).NewListEntitiesPager(nil)
	rows := 0
	for pager.More() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows += len(p.Entities)
	}
	if len(seen) != 31 || rows != 31 {
		t.Fatalf("%d distinct lines, %d rows; want 31 each", len(seen), rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", id, n)
		}
	}

	got, err := l.Query(ctx, "contoso", day, day.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 || got[0].ID != "req-000" || got[1].ID != "req-003" {
		t.Fatalf("contoso's entries: %d, first %v", len(got), got)
	}
	if got, _ := l.Query(ctx, "", day.Add(10*time.Second), day.Add(20*time.Second), 0); len(got) != 10 || got[0].ID != "req-010" {
		t.Fatalf("window [10 s, 20 s): %d entries", len(got))
	}
	if got, _ := l.Query(ctx, "", day, day.Add(time.Hour), 5); len(got) != 5 || got[4].ID != "req-030" {
		t.Fatalf("limit 5: %v", got)
	}
	// Another day, another blob.
	if err := l.Append(ctx, &Entry{ID: "next-day", Time: day.Add(24 * time.Hour), Action: "revoke-sessions"}); err != nil {
		t.Fatal(err)
	}
	if next, _ := blobText(t, blobs, cont, BlobName(day.Add(24*time.Hour))); !strings.Contains(next, "next-day") {
		t.Fatalf("next day's blob: %q", next)
	}
}

// TestReadAudit: GET remediation/audit answers the entries of a window (Readers and above) and the unfinished
// keys; bad parameters are refused.
func TestReadAudit(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := e.people().member()
	ok := e.do(call{action: "revoke-sessions", principal: adminPrincipal, key: "a1", body: map[string]any{"integration": "rw", "user": m.ID, "reason": "read me", "ticket": "INC-9"}})
	bad := e.do(call{action: "revoke-sessions", principal: readerPrincipal, key: "a2", body: map[string]any{"integration": "ro", "user": m.ID, "reason": "no"}})
	req, _ := DecodeRequest(ResetMFA, mustJSON(map[string]any{"integration": "rw", "user": m.ID, "reason": "dying"}))
	now := e.clock.Now()
	if err := e.intents.insert(context.Background(), &intent{Scope: "oid:x", Key: "k", Hash: req.hash(ResetMFA), Action: ResetMFA, Integration: "rw",
		Requested: m.ID, First: "died", Owner: "died", Created: now, LeaseUntil: now, State: statePending, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	read := func(principal string, q map[string]string) Reply {
		return e.svc.Handle(context.Background(), Call{ID: "read", Time: time.Now().UTC(), Method: http.MethodGet, Action: "audit", Principal: principal,
			Query: func(k string) string { return q[k] }})
	}
	r := read(readerPrincipal, map[string]string{"integration": "rw"})
	b, _ := json.Marshal(r.Body)
	var out AuditReply
	if err := json.Unmarshal(b, &out); err != nil || r.Status != 200 {
		t.Fatalf("%d %s", r.Status, b)
	}
	if len(out.Entries) != 1 || out.Entries[0].ID != result(t, ok).ID || out.Entries[0].Ticket != "INC-9" || out.Entries[0].Caller.Name != "Ada Admin" ||
		len(out.Unfinished) != 1 || out.Unfinished[0].First != "died" {
		t.Fatalf("audit of rw: %s", b)
	}
	if r := read(readerPrincipal, nil); r.Status != 200 || !bytes.Contains(mustJSON(r.Body), []byte(errorReply(t, bad).ID)) {
		t.Fatalf("audit of every integration lacks the refused request: %d", r.Status)
	}
	for name, q := range map[string]map[string]string{
		"bad integration": {"integration": "Not A Slug"},
		"bad from":        {"from": "yesterday"},
		"reversed":        {"from": "2026-01-10T00:00:00Z", "to": "2026-01-09T00:00:00Z"},
		"too long":        {"from": "2025-01-10T00:00:00Z", "to": "2026-01-10T00:00:00Z"},
		"bad limit":       {"limit": "0"},
	} {
		if r := read(readerPrincipal, q); r.Status != 400 || errorReply(t, r).Code != "bad-request" {
			t.Errorf("%s: %d", name, r.Status)
		}
	}
	if r := read(principal("Nobody", "3e", ""), nil); r.Status != 403 {
		t.Errorf("a principal without an app role read the audit trail: %d", r.Status)
	}
}
