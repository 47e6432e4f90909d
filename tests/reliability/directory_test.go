package reliability

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// directoryKillKinds are the kill points of a directory collection: while Graph serves a delta or snapshot page,
// before and after a round's part or manifest is committed (both are archive writes), before and after a cursor
// write (a round's begin, a checkpoint, the new deltaLink), at a lease write and before the run record.
var directoryKillKinds = []killKind{
	{name: "graph-page", graph: true, maxN: 60, needs: "Graph requests"},
	{name: "round-write-before", op: opPartCommit, maxN: 12, needs: "round parts and manifests"},
	{name: "round-write-after", op: opPartCommit, after: true, maxN: 12, needs: "round parts and manifests"},
	{name: "cursor-write-before", op: opCursorWrite, maxN: 20, needs: "cursor writes"},
	{name: "cursor-write-after", op: opCursorWrite, after: true, maxN: 20, needs: "cursor writes"},
	{name: "lease-acquire-or-renewal", op: opLeaseWrite, maxN: 2, needs: "lease writes"},
	{name: "run-record", op: opRunWrite, maxN: 1, needs: "run records"},
}

// roundFolder is one round's folder as the archive holds it.
type roundFolder struct {
	round    archive.Round
	manifest bool
	parts    map[string]string // committed part → its content_sha256 metadata
}

// listRounds lists a data type's round folders by start.
func listRounds(ctx context.Context, env *scenario.Env, dataType string) (map[time.Time]*roundFolder, error) {
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("integration=%s/type=%s/", scenario.Integration, dataType)
	pager := blobs.NewListBlobsFlatPager(env.Settings["RAW_CONTAINER"], &azblob.ListBlobsFlatOptions{Prefix: &prefix,
		Include: container.ListBlobsInclude{Metadata: true}})
	out := map[time.Time]*roundFolder{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			dir, file, _ := strings.Cut(strings.TrimPrefix(*b.Name, prefix), "/")
			kind, stamp, ok := strings.Cut(dir, "=")
			if !ok || kind != string(archive.DeltaRound) && kind != string(archive.SnapshotRound) {
				continue
			}
			start, err := time.Parse("20060102T150405Z", stamp)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", *b.Name, err)
			}
			f := out[start]
			if f == nil {
				f = &roundFolder{round: archive.Round{Integration: scenario.Integration, DataType: dataType, Kind: archive.RoundKind(kind), Start: start},
					parts: map[string]string{}}
				out[start] = f
			}
			switch {
			case file == archive.ManifestFile:
				f.manifest = true
			case strings.HasSuffix(file, ".ndjson.gz"):
				sha := ""
				if v := b.Metadata[archive.MetaSHA256]; v != nil {
					sha = *v
				}
				f.parts[*b.Name] = sha
			}
		}
	}
	return out, nil
}

// checkRounds holds the archive of data types collected in rounds (delta rounds and snapshots) to their rules, at
// any moment — after a kill, after a fault: a cursor's deltaLink, last round and last full read belong to rounds
// whose manifest is written (a hashed snapshot's read that found nothing changed keeps no round: an older snapshot
// must be kept then); every manifest's parts exist with the content it lists (a manifest is written only after its
// parts); and for a versioned snapshot every version a manifest names as held — the next round's reason not to
// archive it again — is in a part of a finished round, and no version is in two.
func checkRounds(ctx context.Context, env *scenario.Env, dts []catalog.DataType) ([]string, error) {
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	store := archive.New(blobs, env.Settings["RAW_CONTAINER"])
	var problems []string
	for _, dt := range dts {
		c, err := env.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, err
		}
		folders, err := listRounds(ctx, env, dt.Name)
		if err != nil {
			return nil, err
		}
		finished := func(at time.Time, kinds ...archive.RoundKind) bool {
			f := folders[at.UTC().Truncate(time.Second)] // folders are named to the second
			return f != nil && f.manifest && slices.Contains(kinds, f.round.Kind)
		}
		keptBefore := func(at time.Time) bool {
			for start, f := range folders {
				if f.manifest && !start.After(at) {
					return true
				}
			}
			return false
		}
		hashed := dt.Mode() == catalog.Snapshot && dt.Snapshot.Hashed
		if c.DeltaLink != "" && !finished(c.DeltaAt, archive.DeltaRound, archive.SnapshotRound) {
			problems = append(problems, fmt.Sprintf("%s: the cursor keeps a deltaLink from the round of %s, which has no manifest", dt.Name, c.DeltaAt.Format(time.RFC3339Nano)))
		}
		for _, claim := range []struct {
			what  string
			at    time.Time
			kinds []archive.RoundKind
		}{
			{"last full read", c.LastFull, []archive.RoundKind{archive.SnapshotRound}},
			{"last round", c.LastRound, []archive.RoundKind{archive.SnapshotRound, archive.DeltaRound}},
		} {
			if claim.at.IsZero() || finished(claim.at, claim.kinds...) || hashed && keptBefore(claim.at) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: the cursor's %s %s has no manifest", dt.Name, claim.what, claim.at.Format(time.RFC3339Nano)))
		}
		starts := slices.SortedFunc(maps.Keys(folders), time.Time.Compare)
		archived := map[string]int{} // version key → parts of finished rounds holding it
		for _, start := range starts {
			f := folders[start]
			if !f.manifest {
				continue
			}
			m, err := store.ReadManifest(ctx, f.round)
			if err != nil {
				return nil, err
			}
			for _, p := range m.Parts {
				sha, ok := f.parts[p.Name]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("%s: the manifest of %s lists %s, which is not in the archive", dt.Name, start.Format(time.RFC3339), p.Name))
					continue
				case sha != p.SHA256:
					problems = append(problems, fmt.Sprintf("%s: %s has sha256 %s, its manifest says %s", dt.Name, p.Name, sha, p.SHA256))
				}
				if dt.VersionField == "" {
					continue
				}
				err := store.ReadRecords(ctx, p.Name, func(rec []byte) error {
					f, err := rawjson.Fields(rec, dt.KeyFields()...)
					if err != nil {
						return err
					}
					archived[dt.VersionKey(f[0], f[1])]++
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
			// The versions this round names as held must be archived by it or a round before it.
			lost := 0
			for _, k := range m.Versions {
				if archived[k] == 0 {
					if lost++; lost <= 3 {
						problems = append(problems, fmt.Sprintf("%s: the round of %s names version %s as held, but no finished round archived it", dt.Name, start.Format(time.RFC3339), k))
					}
				}
			}
			if lost > 3 {
				problems = append(problems, fmt.Sprintf("%s: … %d versions of the round of %s never archived", dt.Name, lost, start.Format(time.RFC3339)))
			}
		}
		dups := 0
		for k, n := range archived {
			if n > 1 {
				if dups++; dups <= 3 {
					problems = append(problems, fmt.Sprintf("%s: version %s archived in %d parts", dt.Name, k, n))
				}
			}
		}
	}
	return problems, nil
}

// roundTypes are the data types of the families collected in rounds (delta rounds and snapshots) that the
// scenario's tenant can have and its integration collects (the opt-in per-object ones are off).
func roundTypes(env *scenario.Env, families ...catalog.Family) []catalog.DataType {
	var out []catalog.DataType
	for _, dt := range catalog.DataTypes {
		if (dt.Mode() == catalog.Delta || dt.Mode() == catalog.Snapshot) && slices.Contains(families, dt.Family) && !dt.OptIn && env.Licensed(dt) {
			out = append(out, dt)
		}
	}
	return out
}

// TestKillDirectory kills the handler with SIGKILL at pseudo-random points of directory collections — full
// rounds of every delta data type and the role snapshots, then delta rounds while the directory churns (with
// Graph's replays, delayed removals and groups split over items) — 8 in short mode. Rounds are cut into many
// parts so kills land between checkpoints. After each kill no cursor keeps a deltaLink or full read whose round
// has no manifest, and no manifest lists a part that is missing or differs; at the end every delta data type
// replays to the tenant's directory: 0 missing, 0 extra, 0 stale.
func TestKillDirectory(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	count := *kills
	if count == 0 {
		count = shortOrLong(8, 50)
	}
	plan := planKills(rng, count, directoryKillKinds)
	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{Seed: int64(rng.Uint32()), Users: shortOrLong(800, 4000), Groups: shortOrLong(120, 500),
			Churn: 30, MemberSliceSize: 20, DeltaReplayShare: 0.05, RemovalDelay: 10 * time.Minute, History: time.Hour,
			Streams: noLogStreams(), PageLatency: entrasim.Dist{Fixed: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}},
		Settings:       map[string]string{"COLLECT_ROUND_PART": "150", "COLLECT_CONCURRENCY": "2"},
		RestartLimit:   10 * count,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(10*time.Minute, 90*time.Minute))
	defer cancel()
	k := &killer{t: t, env: env, proxy: proxy, rng: rng, timer: "CollectDirectory", family: catalog.Directory}
	fired := map[string]int{}
	for i, kp := range plan {
		killed := false
		for attempt := 1; attempt <= maxAttempts && !killed; attempt++ {
			var err error
			if killed, err = k.collectUntilKilled(ctx, kp); err != nil {
				t.Fatalf("kill point %d (%s): %v", i+1, kp, err)
			}
			if !killed {
				// The collection finished first: let the directory change, and try a nearer point.
				env.Clock.Advance(time.Duration(20+rng.IntN(60)) * time.Minute)
				kp.n = 1 + rng.IntN(max(1, kp.n/2))
			}
		}
		if !killed {
			t.Logf("kill point %d/%d (%s) skipped: not reached in %d collections", i+1, len(plan), kp, maxAttempts)
			continue
		}
		fired[kp.kind.name]++
		problems, err := checkRounds(ctx, env, roundTypes(env, catalog.Directory))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d/%d: %s (sim %s): %d problems", i+1, len(plan), kp, env.Clock.Now().Format("01-02T15:04"), len(problems))
		for _, p := range problems {
			t.Error("after kill: " + p)
		}
		if len(problems) > 0 {
			t.FailNow()
		}
		if rng.IntN(2) == 0 {
			env.Clock.Advance(time.Duration(10+rng.IntN(50)) * time.Minute)
		}
	}
	proxy.disarm()
	t.Logf("kill points fired: %v", fired)
	// Collect until every data type has finished rounds with nothing in progress, then replay.
	for attempt := 0; ; attempt++ {
		env.Clock.Advance(30 * time.Minute)
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Minute)
		err := waitLeaseFree(lctx, env, catalog.Directory)
		lcancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		busy, err := roundsInProgress(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if busy == "" {
			break
		}
		if attempt == 5 {
			t.Fatalf("rounds still in progress after %d collections: %s", attempt+1, busy)
		}
	}
	problems, err := checkRounds(ctx, env, roundTypes(env, catalog.Directory))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error("at the end: " + p)
	}
	verifyDirectory(ctx, t, env)
}

// verifyDirectory replays every delta data type's archive and fails the test unless it equals the tenant's
// directory: 0 missing, 0 extra, 0 stale objects and memberships.
func verifyDirectory(ctx context.Context, t *testing.T, env *scenario.Env) {
	t.Helper()
	reports, err := env.VerifyDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		t.Log(r.Line())
		if !r.OK() {
			t.Errorf("%s %v", r.Line(), r.Examples)
		}
	}
}

// noLogStreams turns every log stream of the simulated tenant off.
func noLogStreams() map[string]entrasim.StreamOptions {
	off := map[string]entrasim.StreamOptions{}
	for _, name := range entrasim.StreamNames() {
		off[name] = entrasim.StreamOptions{Rate: -1}
	}
	return off
}

// roundsInProgress names the directory data types with a round in progress or a resync pending.
func roundsInProgress(ctx context.Context, env *scenario.Env) (string, error) {
	var busy []string
	for _, dt := range catalog.InFamily(catalog.Directory) {
		if dt.OptIn {
			continue // off unless the integration switches it on (this one does not): it never starts a round
		}
		c, err := env.Cursor(ctx, dt.Name)
		if err != nil {
			return "", err
		}
		if c.InRound() || c.Resync != "" || c.LastRound.IsZero() {
			busy = append(busy, dt.Name)
		}
	}
	if len(busy) == 0 {
		return "", nil
	}
	return strings.Join(busy, ", "), errors.Join()
}
