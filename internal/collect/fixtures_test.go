package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

const fixtures = "../../tests/testdata/graph-docs"

// fixtureGraph serves one Graph documentation fixture page for one data type's queries (its nextLink pointed
// back at itself, answered with an empty page) and an empty page for every other query.
func fixtureGraph(t *testing.T, dt catalog.DataType, page []byte) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", fmt.Sprintf("rid-%d", time.Now().UnixNano()))
		w.Header().Set("Content-Type", "application/json")
		mine := r.URL.Path == "/"+dt.Version+"/"+dt.Path && strings.Contains(r.URL.Query().Get("$filter"), dt.Buckets.Filter)
		if !mine || r.URL.Query().Get("$skiptoken") != "" {
			fmt.Fprint(w, `{"value":[]}`)
			return
		}
		_, _ = w.Write(bytes.ReplaceAll(page, []byte("https://graph.microsoft.com"), []byte(srv.URL)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type testEnv struct {
	cursors *cursor.Store
	archive *archive.Store
}

func newTestEnv(t *testing.T) testEnv {
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
	prefix := azurite.UniqueName(t, "c")
	e := testEnv{
		cursors: cursor.New(tables, &cursor.Tables{Cursors: prefix + "cur", Leases: prefix + "lea", Runs: prefix + "run"}),
		archive: archive.New(blobs, azurite.UniqueName(t, "raw")),
	}
	ctx := context.Background()
	if err := e.cursors.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.archive.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

var testIntegration = integrations.Integration{ID: "contoso", TenantID: "6e2a8f3c-1111-4222-8333-944445555666",
	ClientID: "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111", SecretName: "integration-contoso", Permissions: catalog.ReadOnly,
	Licences: map[catalog.Licence]integrations.Answer{catalog.EntraP1P2: integrations.Yes}}

// testGraph is a Graph client for srv with quick retries and a budget that never holds a test back.
func testGraph(t *testing.T, srv *httptest.Server) *graph.Client {
	t.Helper()
	g, err := graph.New(staticCred{}, &graph.Options{Endpoint: srv.URL, Transport: srv.Client().Transport,
		Retry: graph.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: time.Millisecond},
		Budgets: map[catalog.Family]catalog.Budget{catalog.Reports: {Requests: 1000, Window: time.Second},
			catalog.Protection: {Requests: 1000, Window: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fastOptions() *Options {
	return &Options{RetryBase: time.Millisecond, Attempts: 2, LeaseTTL: 10 * time.Second, StopBefore: time.Second, CommitBefore: time.Second}
}

// TestFixturesArchivedByteForByte sends the Graph documentation's example pages through the whole pipeline:
// valid pages come out of the archive as the very objects Graph sent (duplicate keys, odd values and all);
// invalid ones fail their window, naming data type, window and request id, and move no cursor.
func TestFixturesArchivedByteForByte(t *testing.T) {
	cases := []struct {
		dataType, file string
		valid          bool
	}{
		{"signIns.interactive", "beta-signin-list.json", true},
		{"signIns.interactive", "beta-signin-list-filter-top10.json", true},
		{"signIns.interactive", "beta-signin-list-2018-singlefactor.json", true},
		{"directoryAudits", "directoryaudit-list.json", true},
		{"directoryAudits", "directoryaudit-list-filter-initiatedby.json", true},
		{"provisioning", "provisioningobjectsummary-list-error.json", true},
		{"provisioning", "provisioningobjectsummary-list.json", false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			page, err := os.ReadFile(filepath.Join(fixtures, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			dt, _ := catalog.Lookup(tc.dataType)
			var items []json.RawMessage
			var newest time.Time
			if tc.valid {
				var doc struct{ Value []json.RawMessage }
				if err := json.Unmarshal(page, &doc); err != nil {
					t.Fatal(err)
				}
				items = doc.Value
				for _, it := range items {
					var f map[string]any
					_ = json.Unmarshal(it, &f)
					at, _ := time.Parse(time.RFC3339Nano, f[dt.Buckets.TimeField].(string))
					if at.After(newest) {
						newest = at
					}
				}
			} else {
				newest = time.Date(2019, 5, 4, 3, 0, 54, 0, time.UTC)
			}
			srv := fixtureGraph(t, dt, page)
			g := testGraph(t, srv)
			env := newTestEnv(t)
			w := NewWorker(StorageDeps(env.cursors, env.archive), fastOptions())
			now := newest.Add(24 * time.Hour)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ctx = logging.With(ctx, logging.New(t.Output(), slog.LevelDebug))
			item := WorkItem{Integration: testIntegration.ID, Family: catalog.Reports, Reason: ReasonSchedule}
			res, err := w.Run(ctx, testIntegration, item, "inv-"+tc.file, g, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			c, err := env.cursors.Get(ctx, testIntegration.ID, dt.Name)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := env.archive.Parts(ctx, testIntegration.ID, dt.Name, c.Target, now)
			if err != nil {
				t.Fatal(err)
			}
			var archived [][]byte
			for _, ps := range parts {
				for _, p := range ps {
					content, _, err := env.archive.ReadAll(ctx, p.Name)
					if err != nil {
						t.Fatal(err)
					}
					for _, line := range bytes.Split(bytes.TrimSuffix(content, []byte("\n")), []byte("\n")) {
						archived = append(archived, line)
					}
				}
			}
			if !tc.valid {
				if len(archived) != 0 {
					t.Errorf("invalid page archived %d records", len(archived))
				}
				if res.Run.Outcome != OutcomePartial || len(res.Run.Errors) == 0 {
					t.Fatalf("run = %+v", res.Run)
				}
				e := res.Run.Errors[0]
				if e.DataType != dt.Name || e.Bucket == "" || !strings.HasPrefix(e.RequestID, "rid-") || e.Kind != string(graph.InvalidPage) {
					t.Errorf("run error = %+v", e)
				}
				if !c.Low.Equal(c.High) || c.State != cursor.StateError || !strings.Contains(c.LastError, dt.Name) || !strings.Contains(c.LastError, "request-id rid-") {
					t.Errorf("cursor moved or lacks the error: %s", describeCursor(c))
				}
				return
			}
			if len(archived) != len(items) {
				t.Fatalf("archived %d records, fixture has %d", len(archived), len(items))
			}
			for _, item := range items {
				// Graph's own pages are compact; the docs' examples are pretty-printed, and NDJSON keeps one
				// object per line, so an object is compared without its insignificant whitespace.
				var compact bytes.Buffer
				if err := json.Compact(&compact, item); err != nil {
					t.Fatal(err)
				}
				want := compact.Bytes()
				found := false
				for _, got := range archived {
					found = found || bytes.Equal(got, want)
				}
				if !found {
					t.Errorf("fixture object not archived byte for byte:\n%s", want)
				}
			}
			if c.Records != int64(len(items)) || c.State != cursor.StateOK || c.Low.After(newest) {
				t.Errorf("cursor = %s", describeCursor(c))
			}
		})
	}
}

func describeCursor(c *cursor.Cursor) string {
	return fmt.Sprintf("%s state %q [%v, %v) records %d error %q", c.DataType, c.State, c.Low, c.High, c.Records, c.LastError)
}
