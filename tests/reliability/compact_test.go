package reliability

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// compactKillKinds are the points inside CompactArchive where TestKillCompaction kills the handler: any storage
// request (lists, reads of the inputs, block stages), the commits (a manifest or a merged part) and the deletes
// of replaced parts, each before the request reaches Azurite or after it answered.
var compactKillKinds = []killKind{
	{name: "compaction-request-before", maxN: 250, needs: "storage requests of a compaction"},
	{name: "compaction-request-after", after: true, maxN: 250, needs: "storage requests of a compaction"},
	{name: "compaction-commit-before", op: opPartCommit, maxN: 40, needs: "manifest and merged part commits"},
	{name: "compaction-commit-after", op: opPartCommit, after: true, maxN: 40, needs: "manifest and merged part commits"},
	{name: "compaction-delete-before", op: opBlobOther, maxN: 120, needs: "deletes of replaced parts"},
	{name: "compaction-delete-after", op: opBlobOther, after: true, maxN: 120, needs: "deletes of replaced parts"},
}

// TestKillCompaction collects a tenant with late events until its oldest days are past their last re-sweep, then
// runs CompactArchive and kills the handler (SIGKILL) at pseudo-random points inside it — while it lists, reads
// inputs, stages, commits the manifest or the merged part, deletes replaced parts. After every kill the archive,
// listed the way every reader lists it (the reading rule of README "Reading the archive"), holds every archived
// record exactly once, and no cursor claims a record it lacks. When a compaction finishes before its kill point,
// the clock moves on by a day (one more closed day) and collection goes on. At the end an uninterrupted
// compaction leaves at most one part per hour of every closed day and no replaced part, and the whole archive
// equals the truth.
func TestKillCompaction(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	count := *kills
	if count == 0 {
		count = shortOrLong(12, 60)
	}
	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{
			Seed: int64(rng.Uint32()), Users: shortOrLong(20, 100), Apps: 3, ManagedIdentities: 2,
			History: 3 * 24 * time.Hour, LateShare: 0.2,
			Streams: map[string]entrasim.StreamOptions{
				entrasim.StreamNonInteractive: {Rate: shortOrLong(30.0, 200.0)},
				entrasim.StreamInteractive:    {Rate: 6},
				"signIns.servicePrincipal":    {Rate: 3},
				"signIns.managedIdentity":     {Rate: 2},
				"directoryAudits":             {Rate: 4},
				"provisioning":                {Rate: 2},
			},
		},
		Settings:       map[string]string{"COLLECT_CONCURRENCY": "2"},
		RestartLimit:   10*count + 10,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(15*time.Minute, 90*time.Minute))
	defer cancel()
	idx, err := newArchiveIndex(env)
	if err != nil {
		t.Fatal(err)
	}
	// Collect on for two simulated days: the oldest days are then past their +48 h re-sweep.
	if err := settle(ctx, env, 8*time.Hour); err != nil {
		t.Fatal(err)
	}
	before, err := archiveLayout(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	k := &killer{t: t, env: env, proxy: proxy, rng: rng}
	fired := map[string]int{}
	for i := 0; i < count; i++ {
		kind := compactKillKinds[rng.IntN(len(compactKillKinds))]
		n := 1 + rng.IntN(kind.maxN)
		killed, err := k.compactUntilKilled(ctx, kind, n)
		if err != nil {
			t.Fatalf("kill point %d (%s #%d): %v", i+1, kind.name, n, err)
		}
		if !killed {
			t.Logf("kill point %d/%d (%s #%d): the compaction finished first; one more day closes", i+1, count, kind.name, n)
			env.Clock.Advance(24 * time.Hour)
			if err := collect(ctx, env); err != nil {
				t.Fatal(err)
			}
			continue
		}
		fired[kind.name]++
		problems, checked, err := checkDurable(ctx, env, idx)
		if err != nil {
			t.Fatal(err)
		}
		twice, records, err := readableTwice(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		problems = append(problems, twice...)
		t.Logf("kill %d/%d: %s #%d (sim %s): %d events checked, %d records listed, %d problems", i+1, count, kind.name, n,
			env.Clock.Now().Format("01-02T15:04"), checked, records, len(problems))
		for _, p := range problems {
			t.Error("after kill: " + p)
		}
		if len(problems) > 0 {
			t.FailNow()
		}
	}
	t.Logf("kills inside compaction: %v", fired)
	if len(fired) == 0 {
		t.Error("no kill point was reached inside a compaction")
	}

	// An uninterrupted compaction finishes every closed day.
	killed, err := k.compactUntilKilled(ctx, killKind{name: "none"}, 0)
	if err != nil || killed {
		t.Fatalf("final compaction: killed %v, %v", killed, err)
	}
	after, err := archiveLayout(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	closedHours := 0
	for hour, files := range after.files {
		if !after.closed(hour) {
			continue
		}
		closedHours++
		if len(files) > 1 {
			t.Errorf("%s: %d parts after compaction: %v", hour, len(files), files)
		}
	}
	if closedHours == 0 {
		t.Error("no closed hour to compact")
	}
	if after.hidden > 0 {
		t.Errorf("%d replaced parts left after an uninterrupted compaction", after.hidden)
	}
	t.Logf("parts: %d before compaction, %d after (%d closed hours)", before.visible, after.visible, closedHours)
	twice, records, err := readableTwice(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range twice {
		t.Error("at the end: " + p)
	}
	problems, checked, err := checkDurable(ctx, env, idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error("at the end: " + p)
	}
	verifySettled(t, env)
	t.Logf("final check: %d events, %d records listed", checked, records)
}

// compactUntilKilled arms the kill point (n == 0: none), fires CompactArchive and reports whether the handler was
// killed inside it; a compaction that finishes must succeed.
func (k *killer) compactUntilKilled(ctx context.Context, kind killKind, n int) (bool, error) {
	if err := k.env.Host.WaitReady(ctx); err != nil {
		return false, err
	}
	killed := make(chan struct{})
	var once sync.Once
	if n > 0 {
		k.proxy.arm(kind.op, n, kind.after, func() {
			if k.kill() {
				once.Do(func() { close(killed) })
			}
		})
	}
	inv, err := k.env.Host.Timer(ctx, "CompactArchive", nil)
	k.proxy.disarm()
	if err == nil && inv.Failure == "" {
		select {
		case <-killed: // killed after the handler answered
		default:
			return false, nil
		}
	}
	select {
	case <-killed:
	case <-time.After(10 * time.Second):
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("CompactArchive failed without a kill: %s", inv.Failure)
	}
	return true, afterKill(ctx, k.env)
}

// partName is a numbered part of an hour folder: a bucket part (<bucket-start>-NNNN) or a merged part
// (merged-GGGG). Written from the README's reading rule, not from internal/archive.
var partName = regexp.MustCompile(`^(.*/hour=\d\d/)(?:\d{8}T\d{4}Z-(\d{4})|merged-(\d{4}))\.ndjson\.gz$`)

// layout is the archive's log parts by hour folder, as the reading rule sees them.
type layout struct {
	files   map[string][]string // visible numbered parts by hour folder
	visible int
	hidden  int
	closed  func(folder string) bool
}

// archiveLayout lists the archive once and applies the reading rule: in an hour folder, a numbered part is
// visible when its number is at least the highest merged number there.
func archiveLayout(ctx context.Context, env *scenario.Env) (*layout, error) {
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	prefix := "integration=" + scenario.Integration + "/"
	pager := blobs.ServiceClient().NewContainerClient(env.Settings["RAW_CONTAINER"]).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	type part struct {
		name   string
		n      int
		merged bool
	}
	byFolder := map[string][]part{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Segment.BlobItems {
			m := partName.FindStringSubmatch(*it.Name)
			if m == nil {
				continue
			}
			p := part{name: *it.Name, merged: m[3] != ""}
			p.n, _ = strconv.Atoi(m[2] + m[3])
			byFolder[m[1]] = append(byFolder[m[1]], p)
		}
	}
	now := env.Clock.Now()
	l := &layout{files: map[string][]string{}, closed: func(folder string) bool {
		i := strings.Index(folder, "/date=")
		day, err := time.Parse("2006-01-02", folder[i+6:i+16])
		// A day is closed once its last bucket is past the +48 h re-sweep (plus the lag and a bucket).
		return err == nil && day.Add(24*time.Hour+48*time.Hour+time.Hour).Before(now)
	}}
	for folder, parts := range byFolder {
		floor := 0
		for _, p := range parts {
			if p.merged {
				floor = max(floor, p.n)
			}
		}
		for _, p := range parts {
			if p.n >= floor {
				l.files[folder] = append(l.files[folder], p.name)
				l.visible++
			} else {
				l.hidden++
			}
		}
	}
	return l, nil
}

// readableTwice reads every visible part of the archive once and reports records a reader would read twice.
func readableTwice(ctx context.Context, env *scenario.Env) ([]string, int, error) {
	l, err := archiveLayout(ctx, env)
	if err != nil {
		return nil, 0, err
	}
	idx, err := newArchiveIndex(env)
	if err != nil {
		return nil, 0, err
	}
	var problems []string
	records := 0
	for _, dt := range catalog.InMode(catalog.Buckets) {
		seen := map[string]string{}
		for folder, files := range l.files {
			if !strings.Contains(folder, "/type="+dt.Name+"/") {
				continue
			}
			for _, f := range files {
				err := idx.store.ReadRecords(ctx, f, func(rec []byte) error {
					key, _, err := scenario.RecordKey(dt, rec) // a versioned type's versions share an id
					if err != nil {
						return err
					}
					records++
					if first, dup := seen[key]; dup && len(problems) < 5 {
						problems = append(problems, fmt.Sprintf("%s: record %s readable twice, in %s and %s", dt.Name, key, first, f))
					}
					seen[key] = f
					return nil
				})
				if err != nil {
					return nil, 0, err
				}
			}
		}
	}
	return problems, records, nil
}
