package collect

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/logging"
)

// signInPage is a Graph page of sign-ins, one every 3 minutes from start.
func signInPage(start time.Time, ids ...string) []byte {
	var recs []string
	for i, id := range ids {
		at := start.Add(time.Duration(i) * 3 * time.Minute)
		recs = append(recs, fmt.Sprintf(`{"id":%q,"createdDateTime":%q,"userPrincipalName":"u%d@contoso.com"}`, id, at.Format(time.RFC3339), i))
	}
	return []byte(`{"value":[` + strings.Join(recs, ",") + `]}`)
}

// TestReadAfterCompaction: a window that reads buckets of a compacted hour again (a late re-sweep, a new backfill)
// takes the merged part's dedup keys as archived — only the late record is written — and numbers its part from the
// merged part's number up, so that the reading rule shows it next to the merged part.
func TestReadAfterCompaction(t *testing.T) {
	dt, _ := catalog.Lookup("signIns.interactive")
	hour := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 19 {
		ids = append(ids, fmt.Sprintf("s%02d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx = logging.With(ctx, logging.New(t.Output(), slog.LevelInfo))
	now := hour.Add(4 * 24 * time.Hour)
	item := WorkItem{Integration: testIntegration.ID, Family: catalog.Reports, Reason: ReasonSchedule}

	env := newTestEnv(t)
	g := testGraph(t, fixtureGraph(t, dt, signInPage(hour, ids...)))
	if _, err := NewWorker(StorageDeps(env.cursors, env.archive), fastOptions()).Run(ctx, testIntegration, item, "inv-1", g, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	st, err := env.archive.CompactDay(ctx, testIntegration.ID, dt.Name, hour, archive.CompactOptions{DedupKey: dt.DedupKey, TimeField: dt.Buckets.TimeField})
	if err != nil {
		t.Fatal(err)
	}
	if st.Hours != 1 || st.Records != 19 {
		t.Fatalf("compaction: %+v", st)
	}

	// The same hour read again from scratch (fresh cursors, same archive), with one late sign-in in its last bucket.
	again := newTestEnv(t)
	again.archive = env.archive
	late := signInPage(hour, append(ids, "late")...)
	g = testGraph(t, fixtureGraph(t, dt, late))
	res, err := NewWorker(StorageDeps(again.cursors, again.archive), fastOptions()).Run(ctx, testIntegration, item, "inv-2", g, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Run.DataTypes[dt.Name].Records; got != 1 {
		t.Errorf("the second read archived %d records, want only the late one", got)
	}
	// The late sign-in (minute 57) is in the hour's last bucket, whose part 0000 the merged part replaced.
	parts, err := env.archive.Parts(ctx, testIntegration.ID, dt.Name, hour, hour.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	records := 0
	for _, ps := range parts {
		for _, p := range ps {
			names = append(names, p.Name)
			records += p.Records
		}
	}
	slices.Sort(names)
	if records != 20 || len(names) != 2 || !strings.HasSuffix(names[0], "/20260110T1045Z-0001.ndjson.gz") ||
		!strings.HasSuffix(names[1], "/merged-0001.ndjson.gz") {
		t.Errorf("after the second read: %d records in %v", records, names)
	}
}
