package lake

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestDuckDBReadsTheArchive collects two days of a small tenant (with late events, so buckets have re-sweep parts
// too) until every re-sweep of its buckets is done, copies the container out of Azurite into a folder named like
// the container, and runs README.md's DuckDB query there: its macro reads every log data type, and the archive as
// DuckDB sees it must be the tenant's truth — no record missing, none extra, none twice — and the README's example
// query must count every record once.
func TestDuckDBReadsTheArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := scenario.Start(ctx, scenario.Options{
		AppRoot: appRoot,
		Output:  t.Output(),
		Tenant: entrasim.Options{Seed: 17, Users: 40, Apps: 3, ManagedIdentities: 2, History: 3 * 24 * time.Hour, LateShare: 0.1,
			Streams: map[string]entrasim.StreamOptions{
				entrasim.StreamNonInteractive: {Rate: 60},
				entrasim.StreamInteractive:    {Rate: 12},
				"signIns.servicePrincipal":    {Rate: 6},
				"signIns.managedIdentity":     {Rate: 4},
				"directoryAudits":             {Rate: 6},
				"provisioning":                {Rate: 3},
			}},
		Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "2", "LOG_LEVEL": "warn"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := env.CollectUntilSettled(ctx, 6*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The scenario's own check first, so that a difference below is the reader's.
	reports, err := env.Verify(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !r.OK() || r.Records == 0 {
			t.Fatalf("the archive itself differs from the truth: %+v", r)
		}
	}

	root := t.TempDir()
	container := env.Settings["RAW_CONTAINER"]
	copyOut := func(stage string) string {
		dir := filepath.Join(root, stage)
		n, err := downloadContainer(ctx, env.Azurite, container, filepath.Join(dir, container))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: copied %d blobs of %s", stage, n, container)
		return dir
	}
	query := readmeQuery(t)
	before := copyOut("before")
	readWithDuckDB(ctx, t, env, reports, before, query)

	// Compaction merges the closed days; DuckDB reads the same records from fewer files.
	inv, err := env.Host.Timer(ctx, "CompactArchive", nil)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Failure != "" {
		t.Fatalf("CompactArchive failed: %s", inv.Failure)
	}
	after := copyOut("after")
	readWithDuckDB(ctx, t, env, reports, after, query)
	nBefore, nAfter := countFiles(t, before), countFiles(t, after)
	t.Logf("log parts: %d before compaction, %d after", nBefore, nAfter)
	if nAfter >= nBefore {
		t.Errorf("compaction left %d log parts of %d", nAfter, nBefore)
	}

	// The state a compaction killed after its merged parts' commits and before any delete — every replaced part
	// still there — is what a reader copying the container at that moment gets: still every record once.
	mixed := filepath.Join(root, "mixed")
	for _, src := range []string{after, before} {
		if err := union(mixed, src); err != nil {
			t.Fatal(err)
		}
	}
	readWithDuckDB(ctx, t, env, reports, mixed, query)
	// Negative control: without the reading rule that copy holds records twice.
	t.Chdir(mixed)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total, distinct int
	err = db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT id) FROM read_ndjson('entra-raw/integration=*/type=signIns.nonInteractive/date=*/hour=*/*.ndjson.gz')`).Scan(&total, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if total <= distinct {
		t.Errorf("negative control: a plain read of the mixed copy found no record twice (%d records, %d distinct)", total, distinct)
	}
}

// union copies the files of src into dst that dst does not have yet.
func union(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if _, err := os.Stat(to); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// countFiles counts the log parts (.ndjson.gz) of a copied archive.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".ndjson.gz") && strings.Contains(path, "hour=") {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readWithDuckDB runs README.md's DuckDB block in dir (which holds the container's copy): the archive as its
// macro reads it must be the tenant's truth per log data type — no record missing, none extra, none twice — and
// the README's example query must count every record once.
func readWithDuckDB(ctx context.Context, t *testing.T, env *scenario.Env, reports []scenario.Report, dir, query string) {
	t.Helper()
	t.Chdir(dir) // the README's paths are relative to the folder holding the container's copy
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var example string
	for _, stmt := range statements(query) {
		if strings.HasPrefix(strings.ToUpper(stmt), "SELECT") {
			example = stmt
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("README statement failed: %v\n%s", err, stmt)
		}
	}
	if example == "" {
		t.Fatal("README's DuckDB block has no example SELECT")
	}

	now := env.Clock.Now()
	archived := map[string]int{}
	for _, r := range reports {
		dt, ok := catalog.Lookup(r.DataType)
		if !ok {
			t.Fatalf("no data type %q in the catalog", r.DataType)
		}
		ids, err := readIDs(ctx, db, dt)
		if err != nil {
			t.Fatal(err)
		}
		truth, err := env.TruthEvents(dt, r.From, r.To, now)
		if err != nil {
			t.Fatal(err)
		}
		want := make(map[string]bool, len(truth))
		for _, e := range truth {
			want[e.ID] = true
		}
		seen := map[string]int{}
		var extra, duplicates, inRange int
		for _, rec := range ids {
			seen[rec.id]++
			if seen[rec.id] == 2 {
				duplicates++
			}
			if !rec.at.Before(r.From) && rec.at.Before(r.To) && seen[rec.id] == 1 {
				inRange++
				if !want[rec.id] {
					extra++
				}
			}
		}
		missing := 0
		for _, e := range truth {
			if seen[e.ID] == 0 {
				missing++
			}
		}
		archived[dt.Name] = len(seen)
		t.Logf("duckdb %s: %d records (%d compared, %s..%s): missing=%d extra=%d duplicates=%d", dt.Name, len(ids),
			inRange, r.From.Format("01-02T15:04"), r.To.Format("01-02T15:04"), missing, extra, duplicates)
		if missing > 0 || extra > 0 || duplicates > 0 || inRange != len(truth) {
			t.Errorf("%s as DuckDB reads it: missing %d, extra %d, duplicates %d; %d in range, truth %d", dt.Name, missing, extra,
				duplicates, inRange, len(truth))
		}
	}

	// The README's example counts every record of its data type once.
	rows, err := db.QueryContext(ctx, example)
	if err != nil {
		t.Fatalf("README example failed: %v\n%s", err, example)
	}
	defer rows.Close()
	exampleType := regexp.MustCompile(`entra\('([^']+)'\)`).FindStringSubmatch(example)
	if exampleType == nil {
		t.Fatalf("README example reads no entra('<data type>'):\n%s", example)
	}
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	total, days := 0, 0
	for rows.Next() {
		// The first two columns are the day and its records; the rest are whatever the example adds.
		var day time.Time
		var count int
		dest := []any{&day, &count}
		for range cols[2:] {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		total += count
		days++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if total != archived[exampleType[1]] || days < 2 {
		t.Errorf("README example: %d records over %d days, want %d distinct records of %s", total, days, archived[exampleType[1]], exampleType[1])
	}
}

// record is one archived record as DuckDB read it.
type record struct {
	id string
	at time.Time
}

// readIDs reads every record's key (scenario.VersionKey) and time of a data type through the README's entra() macro.
func readIDs(ctx context.Context, db *sql.DB, dt catalog.DataType) ([]record, error) {
	// DuckDB reads GUID-shaped ids as UUID values; as text they are Graph's.
	q := fmt.Sprintf(`SELECT CAST(%q AS VARCHAR), %q FROM entra('%s')`, dt.DedupKey, dt.Buckets.TimeField, dt.Name)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var id string
		var at any
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		var r record
		switch v := at.(type) {
		case time.Time:
			r.at = v
		case string:
			if r.at, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, fmt.Errorf("%s %s: %w", dt.Name, dt.Buckets.TimeField, err)
			}
		default:
			return nil, fmt.Errorf("%s %s: unexpected %T from DuckDB", dt.Name, dt.Buckets.TimeField, at)
		}
		// A versioned data type (risk detections) holds each version once: the key is the id and the version's time.
		r.id = scenario.VersionKey(dt, id, r.at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// readmeQuery returns the SQL of README.md's DuckDB block (between the duckdb-query markers).
func readmeQuery(t testing.TB) string {
	t.Helper()
	root, err := azurite.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- duckdb-query:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- duckdb-query:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- duckdb-query:begin --> … <!-- duckdb-query:end --> block")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```sql")
	block = strings.TrimSuffix(block, "```")
	return block
}

// statements splits SQL at semicolons that end a line, dropping comment lines.
func statements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(sqlText))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// downloadContainer copies every blob of a container into dir, at its name (the partition folders), as
// `az storage blob download-batch` does (8 downloads at a time), and returns how many it copied.
func downloadContainer(ctx context.Context, az *azurite.Server, container, dir string) (int, error) {
	client, err := az.BlobClient()
	if err != nil {
		return 0, err
	}
	n := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	pager := client.NewListBlobsFlatPager(container, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return n, errors.Join(err, g.Wait())
		}
		for _, item := range page.Segment.BlobItems {
			name := *item.Name
			n++
			g.Go(func() error {
				path := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				f, err := os.Create(path)
				if err != nil {
					return err
				}
				_, err = client.DownloadFile(gctx, container, name, f, &azblob.DownloadFileOptions{})
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("download %s: %w", name, err)
				}
				return nil
			})
		}
	}
	return n, g.Wait()
}
