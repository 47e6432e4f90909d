package lake

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// signInStreams are the four sign-in data types.
var signInStreams = []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal", "signIns.managedIdentity"}

// monthQuery is the query the benchmark times: a month of every sign-in stream, per day — how many sign-ins, by
// how many users, to how many apps — through the README's entra() macro. (It stays off nested structs such as
// status: at a million records DuckDB's sampled schema inference types a nested field of one stream as JSON and
// then fails on a plain string; reading every field is the same work either way.)
const monthQuery = `SELECT type, date, count(*) AS signins, count(DISTINCT userPrincipalName) AS users,
       count(DISTINCT appId) AS apps
FROM (SELECT type, date, userPrincipalName, appId FROM entra('signIns.interactive')
      UNION ALL SELECT type, date, userPrincipalName, appId FROM entra('signIns.nonInteractive')
      UNION ALL SELECT type, date, userPrincipalName, appId FROM entra('signIns.servicePrincipal')
      UNION ALL SELECT type, date, userPrincipalName, appId FROM entra('signIns.managedIdentity'))
GROUP BY type, date`

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCompaction archives BENCH_COMPACT_SIGNINS sign-ins (1,000,000 by default) spread over
// BENCH_COMPACT_DAYS days (30) of the four sign-in streams through the real handler, copies the archive out and
// times monthQuery with DuckDB; then runs CompactArchive, copies and times again, in the same run. It reports the
// sign-in parts per 100,000 archived sign-ins before and after, the most parts any closed hour of a sign-in type
// keeps after compaction, the query's time before and after and their ratio, and — through the README macro, per
// sign-in type against the tenant's truth — the records missing and read twice after compaction.
//
// The archive is collected live, as the product runs: the tenant starts empty, the clock moves
// BENCH_COMPACT_STEP (15 minutes) at a time and CollectLogs runs after every step — fresh buckets, re-sweeps
// at 1 h, 6 h, 24 h and 48 h for the 2 % of events Entra delivers late — for the month and two days more, so
// that every day of the month is past its last re-sweep. BENCH_COMPACT_BACKFILL=1 archives the month by
// backfill instead (one part per bucket, the least fragmented archive the collector writes).
func BenchmarkCompaction(b *testing.B) {
	total := envInt("BENCH_COMPACT_SIGNINS", 1_000_000)
	days := envInt("BENCH_COMPACT_DAYS", 30)
	backfill := os.Getenv("BENCH_COMPACT_BACKFILL") == "1"
	step := 15 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("BENCH_COMPACT_STEP")); err == nil && d > 0 {
		step = d
	}
	for b.Loop() {
		perHour := float64(total) / float64(days*24) / 4
		streams := map[string]entrasim.StreamOptions{"directoryAudits": {Rate: -1}, "provisioning": {Rate: -1}}
		history, late := time.Duration(days)*24*time.Hour, 0.0
		if backfill {
			late = -1
		} else {
			history = step
		}
		for _, s := range signInStreams {
			streams[s] = entrasim.StreamOptions{Rate: perHour, LateShare: late}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 240*time.Minute)
		env, err := scenario.Start(ctx, scenario.Options{
			AppRoot: appRoot,
			Tenant: entrasim.Options{Seed: 61, Users: 2000, ThrottleScale: 0.001, Streams: streams, RequestLogLimit: -1,
				History: history},
			Settings: map[string]string{"COLLECT_BACKFILL_DAYS": strconv.Itoa(days), "LOG_LEVEL": "warn"},
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		collectStart := time.Now()
		if backfill {
			err = env.Collect(ctx)
		} else {
			err = collectLive(ctx, env, time.Duration(days)*24*time.Hour, step)
		}
		collecting := time.Since(collectStart)
		var res *compactionResult
		if err == nil {
			res, err = measureCompaction(ctx, b, env)
		}
		env.Close()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(collecting.Seconds(), "s-collect")
		b.ReportMetric(float64(res.records), "signins")
		b.ReportMetric(float64(res.monthRecords), "month-signins")
		b.ReportMetric(float64(res.partsBefore)*100_000/float64(res.monthRecords), "blobs/100k-before")
		b.ReportMetric(float64(res.partsAfter)*100_000/float64(res.monthRecords), "blobs/100k-after")
		b.ReportMetric(float64(res.maxPerHour), "max-blobs/closed-hour")
		b.ReportMetric(float64(res.closedHours), "closed-hours")
		b.ReportMetric(res.before.Seconds(), "s-query-before")
		b.ReportMetric(res.after.Seconds(), "s-query-after")
		b.ReportMetric(res.before.Seconds()/res.after.Seconds(), "x-faster")
		b.ReportMetric(res.copyBefore.Seconds(), "s-copy-before")
		b.ReportMetric(res.copyAfter.Seconds(), "s-copy-after")
		b.ReportMetric((res.copyBefore+res.before).Seconds()/(res.copyAfter+res.after).Seconds(), "x-faster-copy+query")
		b.ReportMetric(res.compaction.Seconds(), "s-compaction")
		b.ReportMetric(float64(res.missing), "missing")
		b.ReportMetric(float64(res.duplicates), "duplicates")
		b.ReportMetric(float64(res.missingBefore), "missing-before")
		b.ReportMetric(float64(res.duplicatesBefore), "duplicates-before")
	}
}

// collectLive runs CollectLogs after every step of the clock over span and the 49 hours of re-sweeps after it.
func collectLive(ctx context.Context, env *scenario.Env, span, step time.Duration) error {
	end := env.Clock.Now().Add(span + 49*time.Hour)
	for env.Clock.Now().Before(end) {
		env.Clock.Advance(step)
		if err := env.Collect(ctx); err != nil {
			return err
		}
	}
	return nil
}

type compactionResult struct {
	records, monthRecords, partsBefore, partsAfter, maxPerHour, closedHours, missing, duplicates int
	missingBefore, duplicatesBefore                                                              int
	before, after, copyBefore, copyAfter, compaction                                             time.Duration
}

// closedDays is the end of the last UTC day that every sign-in type has past its last re-sweep at now.
func closedDays(now time.Time) time.Time {
	var closed time.Time
	for _, name := range signInStreams {
		dt, _ := catalog.Lookup(name)
		if c := collect.ClosedBefore(dt, now, collect.Options{}); closed.IsZero() || c.Before(closed) {
			closed = c
		}
	}
	return closed
}

// measureCompaction times the month query — every day before the closed ones end, the days compaction merges —
// on a copy of the archive before and after CompactArchive, and checks both copies against the truth.
func measureCompaction(ctx context.Context, b *testing.B, env *scenario.Env) (*compactionResult, error) {
	res := &compactionResult{}
	closed := closedDays(env.Clock.Now())
	month := monthQuery + fmt.Sprintf("\nHAVING date < DATE '%s'", closed.Format(time.DateOnly))
	root := os.Getenv("BENCH_COMPACT_KEEP") // keeps both copies there, for a look with DuckDB afterwards
	if root == "" {
		root = b.TempDir()
	}
	container := env.Settings["RAW_CONTAINER"]
	copyOut := func(stage string) (string, time.Duration, error) {
		dir := filepath.Join(root, stage)
		start := time.Now()
		_, err := downloadContainer(ctx, env.Azurite, container, filepath.Join(dir, container))
		return dir, time.Since(start), err
	}
	query := readmeQuery(b)
	timeQuery := func(dir string) (time.Duration, int, error) {
		db, err := openReadme(ctx, dir, query)
		if err != nil {
			return 0, 0, err
		}
		defer db.Close()
		best, records := time.Duration(0), 0
		for range 2 { // the faster of two runs: the first may pay for the page cache
			start := time.Now()
			rows, err := db.QueryContext(ctx, month)
			if err != nil {
				return 0, 0, err
			}
			n := 0
			for rows.Next() {
				var typ, date string
				var signins, users, apps int
				if err := rows.Scan(&typ, &date, &signins, &users, &apps); err != nil {
					rows.Close()
					return 0, 0, err
				}
				n += signins
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return 0, 0, err
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
			if n == 0 {
				return 0, 0, fmt.Errorf("the month query returned no rows in %s", dir)
			}
			records = n
		}
		return best, records, nil
	}

	before, copyBefore, err := copyOut("before")
	if err != nil {
		return nil, err
	}
	res.copyBefore = copyBefore
	res.partsBefore, _, _ = signInParts(before, closed)
	if res.before, res.monthRecords, err = timeQuery(before); err != nil {
		return nil, err
	}
	// The archive before compaction against the truth too, so that a difference after it is compaction's.
	if _, res.missingBefore, res.duplicatesBefore, err = againstTruth(ctx, env, before, query, closed); err != nil {
		return nil, err
	}
	if os.Getenv("BENCH_COMPACT_KEEP") == "" {
		_ = os.RemoveAll(before)
	}

	start := time.Now()
	for attempt := 1; ; attempt++ {
		// A compaction longer than the function timeout is finished by the next invocation.
		inv, err := env.Host.Timer(ctx, "CompactArchive", nil)
		if err != nil {
			return nil, err
		}
		if inv.Failure == "" {
			break
		}
		if attempt == 5 {
			return nil, fmt.Errorf("CompactArchive failed 5 times: %s", inv.Failure)
		}
	}
	res.compaction = time.Since(start)

	after, copyAfter, err := copyOut("after")
	if err != nil {
		return nil, err
	}
	res.copyAfter = copyAfter
	res.partsAfter, res.maxPerHour, res.closedHours = signInParts(after, closed)
	var monthAfter int
	if res.after, monthAfter, err = timeQuery(after); err != nil {
		return nil, err
	}
	if monthAfter != res.monthRecords {
		return nil, fmt.Errorf("the month query counts %d sign-ins after compaction, %d before", monthAfter, res.monthRecords)
	}

	// The compacted archive as DuckDB reads it against the truth.
	if res.records, res.missing, res.duplicates, err = againstTruth(ctx, env, after, query, closed); err != nil {
		return nil, err
	}
	return res, nil
}

// againstTruth reads every sign-in type of the copy in dir through the README macro and compares it with the
// tenant's truth over each cursor's range: distinct records read, truth records missing, records read twice.
func againstTruth(ctx context.Context, env *scenario.Env, dir, query string, closed time.Time) (records, missing, duplicates int, err error) {
	db, err := openReadme(ctx, dir, query)
	if err != nil {
		return 0, 0, 0, err
	}
	defer db.Close()
	now := env.Clock.Now()
	for _, name := range signInStreams {
		dt, _ := catalog.Lookup(name)
		c, err := env.Cursor(ctx, name)
		if err != nil {
			return 0, 0, 0, err
		}
		ids, err := readIDs(ctx, db, dt)
		if err != nil {
			return 0, 0, 0, err
		}
		// Only the days past their last re-sweep: in the others a late event can be visible and not yet read.
		high := c.High
		if closed.Before(high) {
			high = closed
		}
		truth, err := env.Tenant.Truth(name, c.Low, high, now)
		if err != nil {
			return 0, 0, 0, err
		}
		seen := make(map[string]int, len(ids))
		for _, r := range ids {
			seen[r.id]++
			if seen[r.id] == 2 {
				duplicates++
			}
		}
		for _, id := range truth {
			if seen[id] == 0 {
				missing++
			}
		}
		records += len(seen)
	}
	return records, missing, duplicates, nil
}

// openReadme opens DuckDB in dir and runs the README block's statements (the macros), not its example query.
func openReadme(ctx context.Context, dir, query string) (*sql.DB, error) {
	if err := os.Chdir(dir); err != nil {
		return nil, err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	for _, stmt := range statements(query) {
		if strings.HasPrefix(strings.ToUpper(stmt), "SELECT") {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	return db, nil
}

// signInParts counts the sign-in log parts of a copied archive in the days before closed, the most parts of one
// of their hour folders, and how many such hours there are.
func signInParts(dir string, closed time.Time) (parts, maxPerHour, closedHours int) {
	perHour := map[string]int{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ndjson.gz") || !strings.Contains(path, "/type=signIns.") {
			return err
		}
		folder := filepath.Dir(path)
		i := strings.Index(folder, "/date=")
		if day, err := time.Parse("2006-01-02", folder[i+6:i+16]); err == nil && day.Before(closed) {
			parts++
			perHour[folder]++
		}
		return nil
	})
	for _, n := range perHour {
		maxPerHour = max(maxPerHour, n)
	}
	return parts, maxPerHour, len(perHour)
}
