package stream

import (
	"context"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/tests/azurite"
)

// graphPart commits a part of Graph's records (ids) into a 15-minute sign-in bucket, as the Graph collector writes
// it.
func (e *env) graphPart(t *testing.T, dataType string, start time.Time, ids ...string) {
	t.Helper()
	ctx := context.Background()
	p := e.store.NewPart(archive.Bucket{Integration: "contoso", DataType: dataType, Start: start, End: start.Add(15 * time.Minute)}, 0, "graph", "gapfill")
	for _, id := range ids {
		if err := p.Add(ctx, []byte(`{"id":"`+id+`","createdDateTime":"`+start.Format(time.RFC3339)+`"}`), start, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveLeavesOutWhatGraphArchived: a record whose id Graph's parts of its hour hold (in any case) is not
// archived again; a record placed by its processing time (no createdDateTime) is matched in the hour before too;
// the same id in another hour, and ids Graph does not have, are archived.
func TestArchiveLeavesOutWhatGraphArchived(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	e.graphPart(t, "signIns.interactive", time.Date(2026, 1, 10, 10, 45, 0, 0, time.UTC), "G1", "g2", "g3")
	e.graphPart(t, "directoryAudits", time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC), "a1")
	noCreated := `{"time":"2026-01-10T11:04:00Z","category":"SignInLogs","tenantId":"` + tenantA + `","properties":{"id":"g3"}}`
	events := []Event{{Body: body(
		rec("SignInLogs", tenantA, "g1", "2026-01-10T10:05:00Z", ""),  // Graph has G1 in this hour
		rec("SignInLogs", tenantA, "new", "2026-01-10T10:06:00Z", ""), // Graph does not have it
		rec("SignInLogs", tenantA, "g2", "2026-01-10T11:05:00Z", ""),  // same id, another hour: another record
		noCreated, // processing time 11:04, Graph has it at 10:45
		rec("AuditLogs", tenantA, "A1", "2026-01-10T10:30:00Z", ""),  // audits too
		rec("SignInLogs", tenantB, "g1", "2026-01-10T10:05:00Z", ""), // another tenant: quarantined, not matched
		rec("MicrosoftGraphActivityLogs", tenantA, "g1", "", ""),     // no Graph twin
	), SequenceNumber: 1, Enqueued: enqueued}}
	res, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if res.GraphHad != 3 || res.Archived != 3 || res.UnknownTenant != 1 {
		t.Errorf("result %+v, want 3 left to Graph, 3 archived, 1 of an unknown tenant", res)
	}
	// A redelivery does the same.
	if res, err = e.arch.Archive(ctx, Batch{Hub: hub, Events: events}); err != nil || res.GraphHad != 3 || res.Archived != 3 {
		t.Errorf("redelivery: %+v %v", res, err)
	}
}

// TestActivityCountsOnce: the activity counters count each archived record once — not its duplicates, not again
// when a batch is delivered again (whole, in part, reordered) — sum the partitions, and keep the newest event time.
func TestActivityCountsOnce(t *testing.T) {
	srv := azurite.Shared(t)
	tables, err := srv.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	act := NewActivity(tables, azurite.NewTable(t))
	if got, err := act.Read(ctx, "contoso"); err != nil || len(got) != 0 {
		t.Fatalf("before the table exists: %v %v", got, err)
	}
	if err := act.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, &Options{Activity: act}, "")
	events := []Event{
		{Body: body(rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", ""), rec("AuditLogs", tenantA, "a1", "2026-01-10T10:02:00Z", "")), SequenceNumber: 7, Enqueued: enqueued},
		{Body: body(rec("SignInLogs", tenantA, "s2", "2026-01-10T10:01:00Z", ""), rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", "")), SequenceNumber: 8, Enqueued: enqueued},
	}
	want := func(step string, signIns, audits int64, last time.Time) {
		t.Helper()
		got, err := act.Read(ctx, "contoso")
		if err != nil {
			t.Fatal(err)
		}
		if s := got["signIns.interactive"]; s.Records != signIns || !s.LastEvent.Equal(last) || got["directoryAudits"].Records != audits {
			t.Errorf("%s: %+v, want %d sign-ins (newest %s) and %d audits", step, got, signIns, last, audits)
		}
	}
	for _, b := range [][]Event{events, events, events[1:], {events[1], events[0]}} {
		if _, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: b}); err != nil {
			t.Fatal(err)
		}
	}
	want("after redeliveries", 2, 1, time.Date(2026, 1, 10, 10, 1, 0, 0, time.UTC))
	other := hub
	other.Partition = "3"
	later := []Event{{Body: body(rec("SignInLogs", tenantA, "s3", "2026-01-10T11:30:00Z", "")), SequenceNumber: 2, Enqueued: enqueued}}
	if _, err := e.arch.Archive(ctx, Batch{Hub: other, Events: later}); err != nil {
		t.Fatal(err)
	}
	want("another partition", 3, 1, time.Date(2026, 1, 10, 11, 30, 0, 0, time.UTC))
	if got, err := act.Read(ctx, "fabrikam"); err != nil || len(got) != 0 {
		t.Errorf("another integration: %v %v", got, err)
	}
}
