package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/eventgen"
)

func TestMain(m *testing.M) { azurite.Main(m) }

const (
	tenantA = "0a0a0a0a-0000-4000-8000-00000000000a"
	tenantB = "0b0b0b0b-0000-4000-8000-00000000000b"
)

// fakeIntegrations lists integrations from memory and counts the reads.
type fakeIntegrations struct {
	mu    sync.Mutex
	list  []integrations.Integration
	reads int
	err   error
}

func (f *fakeIntegrations) List(context.Context) ([]integrations.Integration, []error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, nil, f.err
	}
	return slices.Clone(f.list), nil, nil
}

type env struct {
	blobs     *azblob.Client
	container string
	store     *archive.Store
	claims    *Claims
	arch      *Archiver
	integs    *fakeIntegrations
}

func newEnv(t *testing.T, o *Options, fallback string) *env {
	t.Helper()
	srv := azurite.Shared(t)
	blobs, err := srv.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := srv.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{blobs: blobs, container: azurite.NewContainer(t)}
	e.store = archive.New(blobs, e.container)
	e.claims = NewClaims(tables, azurite.NewTable(t))
	ctx := context.Background()
	if err := e.claims.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	e.integs = &fakeIntegrations{list: []integrations.Integration{{ID: "contoso", TenantID: tenantA, Source: "table"}}}
	e.arch = NewArchiver(e.store, e.claims, NewTenants(e.integs, &TenantsOptions{Fallback: fallback}), o)
	return e
}

// blobs returns every blob of the container: name → content (as stored) and metadata.
func (e *env) list(t *testing.T) map[string]storedBlob {
	t.Helper()
	ctx := context.Background()
	out := map[string]storedBlob{}
	pager := e.blobs.ServiceClient().NewContainerClient(e.container).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			b := storedBlob{meta: map[string]string{}, etag: string(*it.Properties.ETag)}
			for k, v := range it.Metadata {
				b.meta[strings.ToLower(k)] = *v
			}
			out[*it.Name] = b
		}
	}
	return out
}

type storedBlob struct {
	meta map[string]string
	etag string
}

// lines returns the records of a part.
func (e *env) lines(t *testing.T, name string) []string {
	t.Helper()
	content, _, err := e.store.ReadAll(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(content), "\n"), "\n")
}

var hub = Hub{Namespace: "ns.servicebus.windows.net", EventHub: "entra-logs", ConsumerGroup: "archive", Partition: "2"}

func rec(category, tenant, id, created string, extra string) string {
	return fmt.Sprintf(`{"time":"2026-01-10T10:59:00Z","category":%q,"tenantId":%q,"properties":{"id":%q,"createdDateTime":%q,"activityDateTime":%q%s}}`,
		category, tenant, id, created, created, extra)
}

func body(records ...string) []byte {
	return []byte(`{"records":[` + strings.Join(records, ",") + `]}`)
}

func TestArchiveRoutesAndNames(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	s1 := rec("SignInLogs", tenantA, "s1", "2026-01-10T09:59:59.9999999+00:00", "")
	s2 := rec("signinlogs", strings.ToUpper(tenantA), "s2", "2026-01-10T10:00:00Z", "")
	a1 := rec("AuditLogs", tenantA, "a1", "2026-01-10T10:30:00Z", "")
	g1 := `{"time":"2026-01-10T10:31:00Z","category":"MicrosoftGraphActivityLogs","tenantId":"` + tenantA + `","properties":{"requestId":"r1","timeGenerated":"2026-01-10T10:30:30Z"}}`
	n1 := `{"time":"2026-01-10T10:32:00Z","category":"NewFancyLogs","tenantId":"` + tenantA + `","properties":{}}`
	other := rec("SignInLogs", tenantB, "b1", "2026-01-10T10:00:00Z", "")
	batch := Batch{Hub: hub, Events: []Event{
		{Body: body(s1, s2, a1), SequenceNumber: 41, Enqueued: enqueued},
		{Body: body(g1, n1, other), SequenceNumber: 42, Enqueued: enqueued},
		{Body: []byte("not json at all"), SequenceNumber: 43, Enqueued: enqueued},
		{Body: body(`"a string record"`), SequenceNumber: 44, Enqueued: enqueued},
	}}
	res, err := e.arch.Archive(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 6 || res.Archived != 5 || res.UnknownTenant != 1 || res.Quarantined != 2 || res.Duplicates != 0 || res.Parts != 6 {
		t.Errorf("result %+v", res)
	}
	got := e.list(t)
	base41 := eventBase(hub, batch.Events[0])
	base42 := eventBase(hub, batch.Events[1])
	want := map[string][]string{
		"integration=contoso/type=signIns.interactive/date=2026-01-10/hour=09/" + base41 + ".ndjson.gz": {s1},
		"integration=contoso/type=signIns.interactive/date=2026-01-10/hour=10/" + base41 + ".ndjson.gz": {s2},
		"integration=contoso/type=directoryAudits/date=2026-01-10/hour=10/" + base41 + ".ndjson.gz":     {a1},
		"integration=contoso/type=graphActivityLogs/date=2026-01-10/hour=10/" + base42 + ".ndjson.gz":   {g1},
		// An unknown category keeps its name; its records carry no time of their own but the record's time.
		"integration=contoso/type=NewFancyLogs/date=2026-01-10/hour=10/" + base42 + ".ndjson.gz":                      {n1},
		"quarantine/tenant=" + tenantB + "/type=signIns.interactive/date=2026-01-10/hour=10/" + base42 + ".ndjson.gz": {other},
	}
	for name, records := range want {
		b, ok := got[name]
		if !ok {
			t.Errorf("missing part %s", name)
			continue
		}
		if lines := e.lines(t, name); !slices.Equal(lines, records) {
			t.Errorf("%s holds %q, want %q", name, lines, records)
		}
		if b.meta[archive.MetaSource] != "eventhub" || b.meta[archive.MetaSweep] != Sweep || b.meta[archive.MetaRecords] != fmt.Sprint(len(records)) {
			t.Errorf("%s metadata %v", name, b.meta)
		}
	}
	if !strings.HasPrefix(base41, "eh-") || !strings.Contains(base41, "-p2-s0000000000000000041-") {
		t.Errorf("part base %q does not name the partition and sequence number", base41)
	}
	raw := 0
	for name, b := range got {
		if _, ok := want[name]; ok {
			continue
		}
		if !strings.HasPrefix(name, "quarantine/unparsed/date=2026-01-10/hour=10/") || !strings.HasSuffix(name, ".raw") {
			t.Errorf("unexpected blob %s", name)
			continue
		}
		raw++
		content, _, err := e.store.ReadAll(ctx, name)
		// Raw quarantine blobs are not compressed.
		if err == nil {
			t.Errorf("%s is gzip", name)
		}
		_ = content
		if b.meta[archive.MetaReason] == "" || b.meta[archive.MetaSource] != "eventhub" || b.meta["eventhub_partition"] != "2" {
			t.Errorf("%s metadata %v", name, b.meta)
		}
	}
	if raw != 2 {
		t.Errorf("%d raw quarantine blobs, want 2", raw)
	}
	assertRawQuarantine(t, e, "not json at all", "event body is not valid JSON")
	assertRawQuarantine(t, e, `"a string record"`, "record is a JSON string, not an object")
}

func assertRawQuarantine(t *testing.T, e *env, content, reason string) {
	t.Helper()
	for name, b := range e.list(t) {
		if !strings.HasPrefix(name, "quarantine/unparsed/") {
			continue
		}
		resp, err := e.blobs.DownloadStream(context.Background(), e.container, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if buf.String() == content {
			if !strings.HasPrefix(b.meta[archive.MetaReason], reason) {
				t.Errorf("%s reason %q, want %q", name, b.meta[archive.MetaReason], reason)
			}
			return
		}
	}
	t.Errorf("no quarantined blob holds %q", content)
}

// TestArchiveRedeliveryAddsNothing delivers a batch, then again (whole, in other batch shapes, and after its
// parts' records were claimed by another event in between): nothing is rewritten and nothing added.
func TestArchiveRedeliveryAddsNothing(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	events := []Event{
		{Body: body(rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", ""), rec("AuditLogs", tenantA, "a1", "2026-01-10T10:00:00Z", "")), SequenceNumber: 7, Enqueued: enqueued},
		{Body: body(rec("SignInLogs", tenantA, "s2", "2026-01-10T10:01:00Z", "")), SequenceNumber: 8, Enqueued: enqueued},
		{Body: []byte("{broken"), SequenceNumber: 9, Enqueued: enqueued},
	}
	if _, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: events}); err != nil {
		t.Fatal(err)
	}
	before := e.list(t)
	for _, redelivery := range [][]Event{events, events[1:], events[:1], {events[2], events[0]}} {
		res, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: redelivery})
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicates != 0 {
			t.Errorf("a redelivered event found its own records claimed by someone else: %+v", res)
		}
		after := e.list(t)
		if len(after) != len(before) {
			t.Fatalf("redelivery changed the blob count from %d to %d", len(before), len(after))
		}
		for name, b := range before {
			if after[name].etag != b.etag {
				t.Errorf("redelivery rewrote %s", name)
			}
		}
	}
}

// TestArchiveOncePerDistinctContent: the same content in another event (Entra re-sending, another partition) is
// not archived again; the same sign-in id with new content (risk added) is.
func TestArchiveOncePerDistinctContent(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	v1 := rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", "")
	v2 := rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", `,"riskLevelDuringSignIn":"high"`)
	first := Batch{Hub: hub, Events: []Event{{Body: body(v1, v1), SequenceNumber: 1, Enqueued: enqueued}}}
	otherPartition := hub
	otherPartition.Partition = "3"
	second := Batch{Hub: otherPartition, Events: []Event{{Body: body(v1, v2), SequenceNumber: 1, Enqueued: enqueued}}}
	r1, err := e.arch.Archive(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.arch.Archive(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Archived != 1 || r1.Duplicates != 1 || r2.Archived != 1 || r2.Duplicates != 1 {
		t.Errorf("results %+v %+v", r1, r2)
	}
	var all []string
	for name := range e.list(t) {
		all = append(all, e.lines(t, name)...)
	}
	sort.Strings(all)
	want := []string{v1, v2}
	sort.Strings(want)
	if !slices.Equal(all, want) {
		t.Errorf("archive holds %q, want each content once: %q", all, want)
	}
}

// TestArchiveConcurrentDuplicates sends the same content in events of many partitions at once: one copy.
func TestArchiveConcurrentDuplicates(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	var records []string
	for i := range 150 {
		records = append(records, rec("NonInteractiveUserSignInLogs", tenantA, fmt.Sprintf("n%d", i), "2026-01-10T10:00:00Z", ""))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hub
			h.Partition = fmt.Sprint(p)
			_, err := e.arch.Archive(ctx, Batch{Hub: h, Events: []Event{{Body: body(records...), SequenceNumber: 100, Enqueued: enqueued}}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for name := range e.list(t) {
		for _, l := range e.lines(t, name) {
			count[l]++
		}
	}
	if len(count) != len(records) {
		t.Errorf("%d distinct records archived, want %d", len(count), len(records))
	}
	for l, n := range count {
		if n != 1 {
			t.Errorf("archived %d times: %s", n, l)
		}
	}
}

// TestArchiveFailsUntilDurable: with storage refusing, Archive fails (so the host retries and checkpoints nothing);
// once storage is back the same batch lands exactly once.
func TestArchiveFailsUntilDurable(t *testing.T) {
	e := newEnv(t, nil, "")
	ctx := context.Background()
	// The container does not exist yet: every commit fails.
	missing := archive.New(e.blobs, azurite.UniqueName(t, "later"))
	arch := NewArchiver(missing, e.claims, NewTenants(e.integs, nil), nil)
	batch := Batch{Hub: hub, Events: []Event{{Body: body(rec("SignInLogs", tenantA, "s1", "2026-01-10T10:00:00Z", ""),
		rec("AuditLogs", tenantA, "a1", "2026-01-10T10:00:00Z", "")), SequenceNumber: 5, Enqueued: enqueued}}}
	if _, err := arch.Archive(ctx, batch); err == nil {
		t.Fatal("Archive succeeded without storage")
	}
	if err := missing.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := arch.Archive(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt's claims name these parts, so the retry writes every record.
	if res.Archived != 2 || res.Duplicates != 0 {
		t.Errorf("retry result %+v", res)
	}

	// The integrations table being unreachable fails the batch too: a record's integration is not guessed.
	e.integs.err = errors.New("table down")
	down := NewArchiver(e.store, e.claims, NewTenants(e.integs, nil), nil)
	if _, err := down.Archive(ctx, batch); err == nil {
		t.Error("Archive succeeded without the integrations")
	}
}

func TestTenants(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	list := &fakeIntegrations{list: []integrations.Integration{
		{ID: "zeta", TenantID: tenantA, Source: "table"},
		{ID: "alpha", TenantID: tenantA, Source: "table"},
		{ID: "from-settings", TenantID: strings.ToUpper(tenantB), Source: "settings"},
		{ID: "beta", TenantID: tenantB, Source: "table", Disabled: true},
	}}
	tn := NewTenants(list, &TenantsOptions{Now: clock})
	for tenant, want := range map[string]string{tenantA: "alpha", " " + strings.ToUpper(tenantA): "alpha", tenantB: "from-settings"} {
		if got, ok, err := tn.Integration(ctx, tenant); err != nil || !ok || got != want {
			t.Errorf("Integration(%q) = %q %v %v, want %s", tenant, got, ok, err, want)
		}
	}
	if got, ok, _ := tn.Integration(ctx, "unknown"); ok {
		t.Errorf("unknown tenant went to %q", got)
	}
	if got, ok, _ := tn.Integration(ctx, ""); ok {
		t.Errorf("no tenant went to %q", got)
	}
	reads := list.reads
	// A new integration is found once the unknown tenant may reload the list (10 s), not before.
	list.list = append(list.list, integrations.Integration{ID: "new", TenantID: "c0c0c0c0-0000-4000-8000-00000000000c"})
	if _, ok, _ := tn.Integration(ctx, "c0c0c0c0-0000-4000-8000-00000000000c"); ok || list.reads != reads {
		t.Errorf("reloaded within 10 s (reads %d → %d)", reads, list.reads)
	}
	now = now.Add(11 * time.Second)
	if got, ok, _ := tn.Integration(ctx, "c0c0c0c0-0000-4000-8000-00000000000c"); !ok || got != "new" {
		t.Errorf("new integration not found after 11 s: %q %v", got, ok)
	}
	withFallback := NewTenants(list, &TenantsOptions{Fallback: "single", Now: clock})
	for tenant, want := range map[string]string{tenantA: "alpha", "unknown": "single", "": "single"} {
		if got, ok, _ := withFallback.Integration(ctx, tenant); !ok || got != want {
			t.Errorf("with fallback, Integration(%q) = %q %v, want %s", tenant, got, ok, want)
		}
	}
}

func TestPrune(t *testing.T) {
	// Claims expire by event day and by when they were written (Table Storage's Timestamp, Azurite's real clock):
	// the archiver's clock runs 30 days ahead, so claims written now are old enough, and only the event day decides.
	now := time.Now().UTC().AddDate(0, 0, 30)
	e := newEnv(t, &Options{DedupDays: 2, Now: func() time.Time { return now }}, "")
	ctx := context.Background()
	oldDay := now.AddDate(0, 0, -3).Format(time.RFC3339)
	youngDay := now.AddDate(0, 0, -1).Truncate(24 * time.Hour).Format(time.RFC3339)
	var old, young []string
	for i := range 120 {
		old = append(old, rec("SignInLogs", tenantA, fmt.Sprintf("old%d", i), oldDay, ""))
	}
	for i := range 5 {
		young = append(young, rec("SignInLogs", tenantA, fmt.Sprintf("young%d", i), youngDay, ""))
	}
	res, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: []Event{{Body: body(append(old, young...)...), SequenceNumber: 1, Enqueued: enqueued}}})
	if err != nil {
		t.Fatal(err)
	}
	// The batch inserted 125 claims, so the pass may delete 125: all 120 expired ones.
	if res.Pruned != 120 {
		t.Errorf("pruned %d, want 120", res.Pruned)
	}
	pager := e.claims.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: to.Ptr("PartitionKey,RowKey")})
	left := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			if !bytes.Contains(raw, []byte(`"`+now.AddDate(0, 0, -1).Format("20060102")+`|`)) {
				t.Errorf("expired claim left: %s", raw)
			}
			left++
		}
	}
	if left != 5 {
		t.Errorf("%d claims left, want the 5 young ones", left)
	}
	// The next pass is an hour away once a pass found less than its budget.
	if res, err := e.arch.Archive(ctx, Batch{Hub: hub, Events: []Event{{Body: body(old[0]), SequenceNumber: 2, Enqueued: enqueued}}}); err != nil || res.Pruned != 0 {
		t.Errorf("second pass pruned %d (%v)", res.Pruned, err)
	}
	if n, err := e.claims.Prune(ctx, now, 3); err != nil || n != 3 {
		t.Errorf("Prune with limit 3 deleted %d (%v)", n, err)
	}
	// Claims written after the cut-off stay, however old their event day.
	if n, err := e.claims.Prune(ctx, time.Now().Add(-time.Hour), 100); err != nil || n != 0 {
		t.Errorf("Prune deleted %d claims written after the cut-off (%v)", n, err)
	}
}

// TestArchiveGeneratedStream archives a stream of every category and variation (tests/eventgen) partition by
// partition, delivering some batches twice and in other shapes, and compares the archive with the stream's truth:
// every distinct record once, in its owner, data type and hour; every corrupt item once in quarantine.
func TestArchiveGeneratedStream(t *testing.T) {
	e := newEnv(t, nil, "")
	e.integs.list = []integrations.Integration{{ID: "contoso", TenantID: tenantA, Source: "settings"}}
	ctx := context.Background()
	s := eventgen.Generate(eventgen.Options{Seed: 3, TenantID: tenantA, Integration: "contoso", OtherTenant: tenantB, Records: 1500, Partitions: 3})
	enq := make([]time.Time, len(s.Events))
	byPartition := map[int][]Event{}
	for i, ev := range s.Events {
		enq[i] = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		byPartition[ev.Partition] = append(byPartition[ev.Partition], Event{Body: []byte(ev.Body), SequenceNumber: int64(len(byPartition[ev.Partition])), Enqueued: enq[i]})
	}
	for p, events := range byPartition {
		h := hub
		h.Partition = fmt.Sprint(p)
		for start := 0; start < len(events); start += 32 {
			batch := events[start:min(start+32, len(events))]
			if _, err := e.arch.Archive(ctx, Batch{Hub: h, Events: batch}); err != nil {
				t.Fatal(err)
			}
			// Every third batch comes again, half of it.
			if start%96 == 0 {
				if _, err := e.arch.Archive(ctx, Batch{Hub: h, Events: batch[:len(batch)/2+1]}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rep, err := eventgen.Verify(ctx, e.blobs, e.container, s, func(i int) time.Time { return enq[i] })
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if !rep.OK() {
		for _, m := range rep.Missing[:min(5, len(rep.Missing))] {
			t.Errorf("missing %s %s: %.200s", m.DataType, m.Owner, m.Raw)
		}
		for _, x := range append(append(rep.Misplaced[:min(5, len(rep.Misplaced))], rep.Extra[:min(5, len(rep.Extra))]...), rep.QuarantineExtra...) {
			t.Error(x)
		}
		for raw, n := range rep.Duplicates {
			t.Errorf("%d times: %.200s", n, raw)
		}
		for _, c := range rep.CorruptMissing {
			t.Errorf("corrupt item not quarantined: %.100q", c.Raw)
		}
		t.Fatalf("archive differs from the truth: %s", rep)
	}
}
