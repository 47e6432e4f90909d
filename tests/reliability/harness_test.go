package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// baseSeed is the run's seed: -seed, or one drawn now (and printed by every test that uses it).
var baseSeed = sync.OnceValue(func() uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	return rand.Uint64()%1_000_000_000 + 1
})

// testRand returns the test's random source: the run's seed mixed with the test's name, so -seed reproduces every
// test's choices whichever tests run.
func testRand(t *testing.T) (*rand.Rand, uint64) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	seed := baseSeed()
	t.Logf("seed %d (reproduce with: go test ./tests/reliability -run '^%s$' -args -seed %d)", seed, t.Name(), seed)
	return rand.New(rand.NewPCG(seed, h.Sum64())), seed
}

// shortOrLong picks the short-mode or the long-mode value.
func shortOrLong[T any](short, long T) T {
	if *longMode {
		return long
	}
	return short
}

// baseSettings are the app settings every reliability scenario starts from: a lease that a killed worker loses
// within seconds, and a short backfill.
func baseSettings() map[string]string {
	return map[string]string{
		"COLLECT_LEASE_TTL":     "3s",
		"COLLECT_BACKFILL_DAYS": shortOrLong("2", "5"),
	}
}

// startEnv brings a scenario up for t. When the test ends, everything the deployment produced is scanned for
// secrets, the handler's output for data race reports, and the scenario is closed.
func startEnv(t *testing.T, o scenario.Options) *scenario.Env {
	t.Helper()
	if o.AppRoot == "" {
		o.AppRoot = appRoot
	}
	if o.Output == nil {
		o.Output = t.Output()
	}
	settings := baseSettings()
	for k, v := range o.Settings {
		settings[k] = v
	}
	o.Settings = settings
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := scenario.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	t.Cleanup(func() {
		if out := env.Host.HandlerOutput(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the handler reported a data race:\n%s", out[strings.Index(out, "WARNING: DATA RACE"):])
		}
	})
	env.ScanSecretsAtEnd(t)
	return env
}

// verifySettled compares the whole archive with the truth (settled buckets) and fails the test on any difference.
func verifySettled(t *testing.T, env *scenario.Env) []scenario.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reports, err := env.Verify(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		t.Logf("%s parts=%d compared %s..%s", r.Line(), r.Parts, r.From.Format("01-02T15:04"), r.To.Format("01-02T15:04"))
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s: missing %d, extra %d, duplicates %d, bad parts %v, records %d", r.DataType, r.Missing, r.Extra, r.Duplicates, r.BadParts, r.Records)
		}
		// The comparison covers the cursor's range; a backfill stuck short of its target would lose the rest.
		c, err := env.Cursor(ctx, r.DataType)
		if err != nil {
			t.Fatal(err)
		}
		if c.Low.After(c.Target) || c.State != "ok" {
			t.Errorf("%s: not settled: %s", r.DataType, scenario.Describe(c))
		}
	}
	return reports
}

// logCursors writes every data type's cursor to the test log.
func logCursors(t *testing.T, env *scenario.Env) {
	t.Helper()
	for _, dt := range catalog.InMode(catalog.Buckets) {
		c, err := env.Cursor(context.Background(), dt.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(scenario.Describe(c))
	}
}

// waitLeaseFree waits until no worker holds the family's lease (released, or expired on the real clock), so a
// fresh work item is not skipped because of a worker that was killed.
func waitLeaseFree(ctx context.Context, env *scenario.Env, family catalog.Family) error {
	tables, err := env.Azurite.TableClient()
	if err != nil {
		return err
	}
	leases := tables.NewClient(cursor.DefaultTables.Leases)
	for {
		resp, err := leases.GetEntity(ctx, scenario.Integration, string(family), nil)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return nil
		}
		if err == nil {
			var e aztables.EDMEntity
			if err := json.Unmarshal(resp.Value, &e); err != nil {
				return err
			}
			exp, _ := e.Properties["Expires"].(aztables.EDMDateTime)
			if time.Now().After(time.Time(exp)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lease of %s still held: %w (last error %v)", family, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// collectSettings are the collection settings of a scenario as the handler reads them (defaults applied).
type collectSettings struct {
	lag      time.Duration
	resweeps []time.Duration
}

func settingsOf(env *scenario.Env) (collectSettings, error) {
	cs := collectSettings{lag: 10 * time.Minute, resweeps: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 48 * time.Hour}}
	if v := env.Settings["COLLECT_LAG"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cs, err
		}
		cs.lag = d
	}
	if v := env.Settings["COLLECT_RESWEEPS"]; v != "" {
		cs.resweeps = nil
		if v != "none" {
			for _, p := range strings.Split(v, ",") {
				d, err := time.ParseDuration(strings.TrimSpace(p))
				if err != nil {
					return cs, err
				}
				cs.resweeps = append(cs.resweeps, d)
			}
		}
	}
	return cs, nil
}

// archiveIndex reads the archive's record keys (scenario.RecordKey), part by part. Parts are committed once and
// never replaced, so each is read once per test however often the archive is checked.
type archiveIndex struct {
	store *archive.Store
	parts map[string][]string
}

func newArchiveIndex(env *scenario.Env) (*archiveIndex, error) {
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	return &archiveIndex{store: archive.New(blobs, env.Settings["RAW_CONTAINER"]), parts: map[string][]string{}}, nil
}

// keys counts the archived records of a data type in the buckets starting in [from, to), by dedup key.
func (x *archiveIndex) keys(ctx context.Context, dt catalog.DataType, from, to time.Time) (map[string]int, error) {
	parts, err := x.store.Parts(ctx, scenario.Integration, dt.Name, from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, ps := range parts {
		for _, p := range ps {
			keys, ok := x.parts[p.Name]
			if !ok {
				content, _, err := x.store.ReadAll(ctx, p.Name)
				if err != nil {
					return nil, err
				}
				for _, line := range bytes.Split(bytes.TrimSuffix(content, []byte{'\n'}), []byte{'\n'}) {
					if len(line) == 0 {
						continue
					}
					k, _, err := scenario.RecordKey(dt, line)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", p.Name, err)
					}
					keys = append(keys, k)
				}
				x.parts[p.Name] = keys
			}
			for _, k := range keys {
				out[k]++
			}
		}
	}
	return out, nil
}

// checkDurable is the direct check that cursors never point past durable data, valid at any moment (mid-run,
// right after a crash): every bucket in a data type's [Low, High) was read at least the lag after it closed, and
// every bucket ending at or before re-sweep watermark k was read again at least re-sweep delay k after it closed.
// So every truth event of [Low, High) that was visible by then must be in the archive — and no record may be
// there twice. It returns the violations (at most a few per data type) and how many events it checked.
func checkDurable(ctx context.Context, env *scenario.Env, idx *archiveIndex) ([]string, int, error) {
	cs, err := settingsOf(env)
	if err != nil {
		return nil, 0, err
	}
	var problems []string
	checked := 0
	now := env.Clock.Now()
	for _, dt := range catalog.InMode(catalog.Buckets) {
		c, err := env.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, 0, err
		}
		if !c.Started() || !c.High.After(c.Low) {
			continue
		}
		keys, err := idx.keys(ctx, dt, c.Low, c.High)
		if err != nil {
			return nil, 0, err
		}
		dups := 0
		for k, n := range keys {
			if n > 1 {
				dups++
				if dups <= 3 {
					problems = append(problems, fmt.Sprintf("%s: record %s archived %d times", dt.Name, k, n))
				}
			}
		}
		truth, err := env.TruthEvents(dt, c.Low, c.High, now)
		if err != nil {
			return nil, 0, err
		}
		missing := 0
		for _, e := range truth {
			end := e.Time.UTC().Truncate(dt.Buckets.Bucket).Add(dt.Buckets.Bucket)
			bound := end.Add(cs.lag)
			for k, d := range cs.resweeps {
				if k < len(c.Resweep) && !end.After(c.Resweep[k]) && end.Add(d).After(bound) {
					bound = end.Add(d)
				}
			}
			if e.Visible.After(bound) {
				continue // may still arrive: the cursor promises nothing about it yet
			}
			checked++
			if keys[e.ID] == 0 {
				missing++
				if missing <= 3 {
					problems = append(problems, fmt.Sprintf("%s: cursor [%s, %s) resweeps %v claims bucket %s, but event %s (visible %s) is not archived",
						dt.Name, c.Low.Format(time.RFC3339), c.High.Format(time.RFC3339), fmtTimes(c.Resweep), end.Add(-dt.Buckets.Bucket).Format(time.RFC3339), e.ID, e.Visible.Format(time.RFC3339)))
				}
			}
		}
		if missing > 3 {
			problems = append(problems, fmt.Sprintf("%s: … %d events missing in all", dt.Name, missing))
		}
	}
	return problems, checked, nil
}

func fmtTimes(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format("01-02T15:04")
	}
	return out
}

// collect fires CollectLogs once the family's lease is free and waits until the collection it started finished
// (its last CollectWork invocation succeeded without a continuation and nothing runs). Unlike
// scenario.Env.Collect it does not wait for the queue to be empty: messages of killed invocations stay hidden for
// the 30 s visibility timeout and run whenever they come back.
func collect(ctx context.Context, env *scenario.Env) error {
	if err := env.Host.WaitReady(ctx); err != nil {
		return err
	}
	// A killed worker's lease lapses within its 3 s TTL; a live one (still catching up, slower under -race) holds
	// it until it finishes.
	lctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err := waitLeaseFree(lctx, env, catalog.Reports)
	cancel()
	if err != nil {
		return err
	}
	started := time.Now()
	inv, err := env.Host.Timer(ctx, "CollectLogs", nil)
	if err != nil {
		return err
	}
	if inv.Failure != "" {
		return fmt.Errorf("CollectLogs failed: %s", inv.Failure)
	}
	_, err = env.Host.WaitFor(ctx, func(done []*hostsim.Invocation, inflight int) bool {
		return inflight == 0 && finished(done, started)
	})
	return err
}

// settle collects every step of simulated time until the +48 h re-sweep has passed every bucket that was fresh
// when it started, then waits until the queue is empty (messages of killed invocations included).
func settle(ctx context.Context, env *scenario.Env, step time.Duration) error {
	until := env.Clock.Now().Add(49 * time.Hour)
	for {
		if err := collect(ctx, env); err != nil {
			return err
		}
		if !env.Clock.Now().Before(until) {
			break
		}
		env.Clock.Advance(step)
	}
	if err := env.Host.WaitIdle(ctx); err != nil {
		return err
	}
	// A message that came back may have found work the last collection left (it ran with a later data clock).
	return collect(ctx, env)
}

// finished reports whether the newest CollectWork invocation that started after since completed its work: it
// succeeded, asked for no continuation and was not skipped because the lease was held.
func finished(done []*hostsim.Invocation, since time.Time) bool {
	for i := len(done) - 1; i >= 0; i-- {
		inv := done[i]
		if inv.Function != "CollectWork" || inv.Started.Before(since) {
			continue
		}
		// The handler's reply says "<integration>/<family>: <outcome>, …" (handlers/collect.go).
		skipped := false
		for _, l := range inv.Logs {
			skipped = skipped || strings.Contains(l, ": skipped,")
		}
		return inv.Succeeded() && !continued(inv) && !skipped
	}
	return false
}

// runOf returns the run row a CollectWork invocation wrote, if any.
func runOf(ctx context.Context, env *scenario.Env, invocation string) (*cursor.Run, error) {
	runs, err := env.Runs(ctx, 50)
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].Invocation == invocation {
			return &runs[i], nil
		}
	}
	return nil, nil
}

// continued reports whether an invocation asked for a continuation work item.
func continued(inv *hostsim.Invocation) bool {
	for _, qw := range inv.QueueWrites {
		if qw.Binding == "continuations" && len(qw.Messages) > 0 {
			return true
		}
	}
	return false
}
