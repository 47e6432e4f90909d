package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/entra-di/edi/internal/rawjson"
)

var compactOpts = CompactOptions{DedupKey: "id", TimeField: "createdDateTime"}

var day = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

// fill writes parts into the 15-minute buckets of hours 10 and 11 of day (several per bucket, as re-sweeps do)
// and returns the keys written.
func fill(t *testing.T, s *Store, from, n int) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	k := from
	for h := 10; h <= 11; h++ {
		for q := 0; q < 4; q++ {
			start := day.Add(time.Duration(h)*time.Hour + time.Duration(q)*15*time.Minute)
			b := Bucket{Integration: "contoso", DataType: "signIns.interactive", Start: start, End: start.Add(15 * time.Minute)}
			existing, err := s.Parts(ctx, b.Integration, b.DataType, b.Start, b.End)
			if err != nil {
				t.Fatal(err)
			}
			next := 0
			for _, p := range existing[start] {
				if !p.Merged {
					next = max(next, p.Part+1)
				}
			}
			for at, ps := range existing {
				for _, p := range ps {
					if p.Merged && !at.After(start) && p.End().After(start) {
						next = max(next, p.Part)
					}
				}
			}
			for part := next; part < next+n; part++ {
				p := s.NewPart(b, part, "graph", "initial")
				for i := 0; i < 3; i++ {
					k++
					key := fmt.Sprintf("k%05d", k)
					at := start.Add(time.Duration(k%900) * time.Second)
					rec := fmt.Sprintf(`{"id":%q,"createdDateTime":%q,"n":%d}`, key, at.Format(time.RFC3339), k)
					if err := p.Add(ctx, []byte(rec), at, fmt.Sprintf("req-%d-%d", h, part)); err != nil {
						t.Fatal(err)
					}
					keys = append(keys, key)
				}
				if err := p.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return keys
}

// reader reads a day the way every reader does — one listing, the reading rule — and returns the keys and the
// names it read. Content is cached by name: a name is written once.
type reader struct {
	s     *Store
	mu    sync.Mutex
	cache map[string][]string
}

func (r *reader) read(ctx context.Context) ([]string, []string, error) {
	parts, err := r.s.Parts(ctx, "contoso", "signIns.interactive", day, day.Add(24*time.Hour))
	if err != nil {
		return nil, nil, err
	}
	var keys, names []string
	for _, ps := range parts {
		for _, p := range ps {
			names = append(names, p.Name)
			r.mu.Lock()
			ks, ok := r.cache[p.Name]
			r.mu.Unlock()
			if !ok {
				err := r.s.ReadRecords(ctx, p.Name, func(rec []byte) error {
					f, err := rawjson.Fields(rec, "id")
					ks = append(ks, f[0])
					return err
				})
				if err != nil {
					return nil, nil, err
				}
				r.mu.Lock()
				r.cache[p.Name] = ks
				r.mu.Unlock()
			}
			keys = append(keys, ks...)
		}
	}
	slices.Sort(keys)
	return keys, names, nil
}

func (r *reader) expect(t *testing.T, want []string) []string {
	t.Helper()
	got, names, err := r.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("reader got %d records (want %d) from %v", len(got), len(want), names)
	}
	return names
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func blobNames(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	pager := s.container.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			out = append(out, *it.Name)
		}
	}
	return out
}

// TestCompactDay: one merged part per hour with the inputs' metadata and a manifest; the inputs deleted; the same
// records, once; a second run does nothing; Event Hubs parts are left alone.
func TestCompactDay(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := sorted(fill(t, s, 0, 3))
	r := &reader{s: s, cache: map[string][]string{}}
	r.expect(t, want)
	st, err := s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hours != 2 || st.Inputs != 24 || st.Records != len(want) || st.Deleted != 24 || st.Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
	names := r.expect(t, want)
	if len(names) != 2 || !strings.HasSuffix(names[0], "/hour=10/merged-0003.ndjson.gz") && !strings.HasSuffix(names[1], "/hour=10/merged-0003.ndjson.gz") {
		t.Errorf("visible after compaction: %v", names)
	}
	all := blobNames(t, s)
	want10 := []string{
		"integration=contoso/type=signIns.interactive/date=2026-01-10/hour=10/merged-0003.manifest.json",
		"integration=contoso/type=signIns.interactive/date=2026-01-10/hour=10/merged-0003.ndjson.gz",
	}
	if len(all) != 4 || !slices.Contains(all, want10[0]) || !slices.Contains(all, want10[1]) {
		t.Errorf("blobs after compaction: %v", all)
	}
	content, md, err := s.ReadAll(ctx, want10[1])
	if err != nil {
		t.Fatal(err)
	}
	if md[MetaRecords] != "36" || md[MetaSource] != "graph" || md[MetaSweep] != "compaction" || md[MetaManifest] != want10[0] ||
		md[MetaFirstEvent] == "" || md[MetaLastEvent] == "" || !strings.Contains(md[MetaRequestIDs], "req-10-2") {
		t.Errorf("merged metadata %v", md)
	}
	if got := strings.Count(string(content), "\n"); got != 36 {
		t.Errorf("merged part holds %d lines", got)
	}
	var mf CompactionManifest
	resp, err := s.container.NewBlobClient(want10[0]).DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&mf)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(mf.Inputs) != 12 || mf.Records != 36 || mf.Part != want10[1] || len(mf.Inputs[0].RequestIDs) == 0 || mf.Inputs[0].SHA256 == "" {
		t.Errorf("manifest %+v", mf)
	}
	st, err = s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts)
	if err != nil || st != (CompactStats{}) {
		t.Errorf("second compaction: %+v %v", st, err)
	}
}

// TestCompactInterrupted walks through the states a crash can leave — merged part committed with every input
// still there, some inputs deleted — and checks that a reader sees each record once in each, and that the next
// compaction finishes the work.
func TestCompactInterrupted(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := sorted(fill(t, s, 0, 2))
	r := &reader{s: s, cache: map[string][]string{}}
	all, err := s.listDay(ctx, "contoso", "signIns.interactive", day)
	if err != nil {
		t.Fatal(err)
	}
	var hour10 []PartInfo
	for _, p := range all {
		if strings.Contains(p.Name, "/hour=10/") {
			hour10 = append(hour10, p)
		}
	}
	// Killed after the merged part's commit, before any delete.
	if _, err := s.compactHour(ctx, "contoso", "signIns.interactive", hour10, compactOpts, &CompactStats{}); err != nil {
		t.Fatal(err)
	}
	r.expect(t, want)
	// The stream's lookup of Graph's parts of an hour applies the rule too.
	names, err := s.HourParts(ctx, "contoso", "signIns.interactive", day.Add(10*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || !strings.HasSuffix(names[0], "/merged-0002.ndjson.gz") {
		t.Errorf("HourParts of a compacted hour whose inputs are still there: %v", names)
	}
	// Killed half-way through the deletes.
	for _, p := range hour10[:3] {
		if _, err := s.container.NewBlobClient(p.Name).Delete(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	r.expect(t, want)
	// Killed before the merged part's commit: only a manifest (and staged blocks) of hour 11.
	var hour11 []PartInfo
	for _, p := range all {
		if strings.Contains(p.Name, "/hour=11/") {
			hour11 = append(hour11, p)
		}
	}
	h := Hour{Integration: "contoso", DataType: "signIns.interactive", Start: day.Add(11 * time.Hour)}
	stale := s.NewPart(h, 2, "graph", "compaction")
	if err := stale.Add(ctx, []byte(`{"id":"x","createdDateTime":"2026-01-10T11:00:00Z"}`), h.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := stale.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stale.Stage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.container.NewBlockBlobClient(h.ManifestName(2)).Upload(ctx, streaming.NopCloser(strings.NewReader("{}")), nil); err != nil {
		t.Fatal(err)
	}
	r.expect(t, want)

	st, err := s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hours != 1 || st.Deleted != len(hour10)-3+len(hour11) {
		t.Errorf("finishing compaction: %+v", st)
	}
	if names := r.expect(t, want); len(names) != 2 {
		t.Errorf("visible after the finishing compaction: %v", names)
	}
	if n := len(blobNames(t, s)); n != 4 {
		t.Errorf("%d blobs left, want 2 merged parts and 2 manifests", n)
	}
}

// TestCompactWhileReading lists and reads the day over and over while compaction runs: every listing yields every
// record exactly once. A read that fails because a listed part was deleted in between is what a reader retries.
func TestCompactWhileReading(t *testing.T) {
	for round := 0; round < 3; round++ {
		s := newStore(t)
		ctx := context.Background()
		want := sorted(fill(t, s, 0, 4))
		r := &reader{s: s, cache: map[string][]string{}}
		// Warm the cache with the inputs so a listing that names a since-deleted input can still be judged.
		r.expect(t, want)
		done := make(chan error, 1)
		go func() {
			_, err := s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts)
			done <- err
		}()
		listings, mixed := 0, 0
		for finished := false; !finished; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				finished = true
			default:
			}
			got, names, err := r.read(ctx)
			if err != nil {
				continue // a merged part listed and deleted? never: merged parts are not deleted here
			}
			listings++
			if !slices.Equal(got, want) {
				t.Fatalf("listing %d: %d records, want %d: %v", listings, len(got), len(want), names)
			}
			merged := 0
			for _, n := range names {
				if strings.Contains(n, "merged-") {
					merged++
				}
			}
			if merged == 1 {
				mixed++ // one hour compacted, the other not yet
			}
		}
		t.Logf("round %d: %d listings during compaction, %d saw one hour merged and one not", round, listings, mixed)
	}
}

// TestResweepAfterCompaction: parts written into a compacted hour later are numbered from the merged part's
// number up, are visible next to it, and the next compaction merges them into a higher number and deletes the
// older merged part.
func TestResweepAfterCompaction(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := fill(t, s, 0, 2)
	if _, err := s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts); err != nil {
		t.Fatal(err)
	}
	parts, err := s.Parts(ctx, "contoso", "signIns.interactive", day.Add(10*time.Hour+30*time.Minute), day.Add(10*time.Hour+45*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if ps := parts[day.Add(10*time.Hour)]; len(parts) != 1 || len(ps) != 1 || !ps[0].Merged || ps[0].Part != 2 {
		t.Fatalf("Parts of a bucket inside a merged hour: %+v", parts)
	}
	want = sorted(append(want, fill(t, s, 1000, 1)...))
	r := &reader{s: s, cache: map[string][]string{}}
	if names := r.expect(t, want); len(names) != 10 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, "T1045Z-0002.ndjson.gz") }) {
		t.Errorf("visible after a late re-sweep: %v", names)
	}
	st, err := s.CompactDay(ctx, "contoso", "signIns.interactive", day, compactOpts)
	if err != nil {
		t.Fatal(err)
	}
	names := r.expect(t, want)
	if st.Hours != 2 || st.Inputs != 10 || len(names) != 2 || !strings.HasSuffix(names[0], "merged-0003.ndjson.gz") {
		t.Errorf("second compaction %+v: %v", st, names)
	}
}

func TestParseMerged(t *testing.T) {
	good := "integration=c/type=t/date=2026-01-10/hour=07/merged-0012.ndjson.gz"
	p, ok := parseMerged(good)
	if !ok || !p.Merged || p.Part != 12 || !p.BucketStart.Equal(day.Add(7*time.Hour)) {
		t.Errorf("parseMerged = %+v %v", p, ok)
	}
	for _, bad := range []string{"integration=c/type=t/date=2026-01-10/hour=07/merged-12.ndjson.gz",
		"integration=c/type=t/date=2026-01-10/hour=07/merged-0012.manifest.json",
		"integration=c/type=t/date=2026-01-10/merged-0012.ndjson.gz",
		"integration=c/type=t/date=2026-01-10/hour=07/merged-+012.ndjson.gz"} {
		if _, ok := parseMerged(bad); ok {
			t.Errorf("parseMerged(%q) accepted", bad)
		}
	}
}

// TestCompactKeepsVersions: a data type archived in versions (a risk detection archived again when its state
// changes) has records that share an id; compaction keys them by id and version, so each version survives, and
// only a true duplicate — the same id and version in two inputs — is dropped. The control compacts the same parts
// keyed by id alone and loses the later version, which is what the version key is for.
func TestCompactKeepsVersions(t *testing.T) {
	recs := [][]string{
		{`{"id":"d1","lastUpdatedDateTime":"2026-01-10T10:05:00Z","riskState":"atRisk"}`,
			`{"id":"d2","lastUpdatedDateTime":"2026-01-10T10:06:00Z","riskState":"atRisk"}`},
		{`{"id":"d1","lastUpdatedDateTime":"2026-01-10T10:40:00Z","riskState":"dismissed"}`,
			`{"id":"d2","lastUpdatedDateTime":"2026-01-10T10:06:00Z","riskState":"atRisk"}`}, // d2 again: a duplicate
	}
	for _, tc := range []struct {
		name         string
		versionField string
		want         []string
	}{
		{"control: keyed by id alone", "", []string{"d1:atRisk", "d2:atRisk"}},
		{"keyed by id and version", "lastUpdatedDateTime", []string{"d1:atRisk", "d1:dismissed", "d2:atRisk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			start := day.Add(10 * time.Hour)
			b := Bucket{Integration: "contoso", DataType: "riskDetections", Start: start, End: start.Add(time.Hour)}
			for i, rs := range recs {
				p := s.NewPart(b, i, "graph", "initial")
				for _, r := range rs {
					f, err := rawjson.Fields([]byte(r), "lastUpdatedDateTime")
					if err != nil {
						t.Fatal(err)
					}
					at, _ := time.Parse(time.RFC3339, f[0])
					if err := p.Add(ctx, []byte(r), at, "req"); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			o := CompactOptions{DedupKey: "id", TimeField: "lastUpdatedDateTime", VersionField: tc.versionField}
			st, err := s.CompactDay(ctx, "contoso", "riskDetections", day, o)
			if err != nil {
				t.Fatal(err)
			}
			if st.Records != len(tc.want) || st.Hours != 1 {
				t.Errorf("stats %+v, want %d records in 1 hour", st, len(tc.want))
			}
			parts, err := s.Parts(ctx, "contoso", "riskDetections", day, day.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var states []string
			for _, ps := range parts {
				for _, p := range ps {
					if err := s.ReadRecords(ctx, p.Name, func(rec []byte) error {
						f, err := rawjson.Fields(rec, "id", "riskState")
						states = append(states, f[0]+":"+f[1])
						return err
					}); err != nil {
						t.Fatal(err)
					}
				}
			}
			slices.Sort(states)
			if !slices.Equal(states, tc.want) {
				t.Fatalf("after compaction %v, want %v", states, tc.want)
			}
		})
	}
}
