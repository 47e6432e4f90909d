// Package bench holds the benchmarks behind BENCHMARKS.md and scripts/bench.sh: CPU per archived sign-in (the
// raw pipeline against msgraph-sdk-go's typed models), collection against the simulated tenant at Graph's
// throttling limit, the handler's peak memory, its cold start and the binary's size.
package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/tests/entrasim"
)

// allowAll accepts any bearer token as the integration app with every read permission.
type allowAll struct{ tenant, app string }

func (a allowAll) VerifyToken(token, audience string) (entrasim.Principal, error) {
	return entrasim.Principal{TenantID: a.tenant, AppID: a.app, Roles: entrasim.ReadOnlyRoles(), Expires: time.Now().Add(time.Hour)}, nil
}

// signInPages returns n pages of 1000 beta sign-ins (non-interactive, the bulk of real tenants) as the simulated
// Graph serves them: the same pages for both sides of the comparison.
func signInPages(tb testing.TB, n int) [][]byte {
	tb.Helper()
	v := &allowAll{}
	tn, err := entrasim.New(&entrasim.Options{Seed: 42, Users: 2000, DisableThrottling: true, Verifier: v,
		Streams: map[string]entrasim.StreamOptions{"signIns.nonInteractive": {Rate: 20000}}})
	if err != nil {
		tb.Fatal(err)
	}
	v.tenant, v.app = tn.TenantID(), tn.ClientID()
	var pages [][]byte
	link := "/beta/auditLogs/signIns?$top=1000&$filter=" +
		"signInEventTypes/any(t:%20t%20eq%20'nonInteractiveUser')"
	for len(pages) < n && link != "" {
		req := httptest.NewRequest(http.MethodGet, link, nil)
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		tn.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			tb.Fatalf("page %d: %d %s", len(pages), rec.Code, rec.Body)
		}
		body := rec.Body.Bytes()
		var rd rawjson.Reader
		items := 0
		page, err := rd.ReadPage(bytes.NewReader(body), func([]byte) error { items++; return nil })
		if err != nil || items != 1000 {
			tb.Fatalf("page %d: %d items, %v", len(pages), items, err)
		}
		pages = append(pages, body)
		link = ""
		if page.NextLink != "" {
			link = page.NextLink[len("https://example.com"):] // same host; only the path and query matter here
		}
	}
	if len(pages) < n {
		tb.Fatalf("only %d pages", len(pages))
	}
	return pages
}

// rawPipeline is what the collector does per page: stream the page, read each record's id and time, check the
// dedup set, and write the record into a gzip part with its sha256.
func rawPipeline(page []byte, rd *rawjson.Reader, seen map[string]struct{}, enc *archive.Encoder) (int, error) {
	n := 0
	_, err := rd.ReadPage(bytes.NewReader(page), func(raw []byte) error {
		f, err := rawjson.Fields(raw, "id", "createdDateTime")
		if err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339Nano, f[1]); err != nil {
			return err
		}
		if _, dup := seen[f[0]]; dup {
			return nil
		}
		seen[f[0]] = struct{}{}
		n++
		return enc.Add(raw)
	})
	return n, err
}

// BenchmarkArchiveSignIns measures the raw pipeline per 1000-sign-in page; ns/record is the CPU per archived
// sign-in.
func BenchmarkArchiveSignIns(b *testing.B) {
	pages := signInPages(b, 8)
	var size int64
	for _, p := range pages {
		size += int64(len(p))
	}
	var rd rawjson.Reader
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for b.Loop() {
		seen := map[string]struct{}{}
		enc := archive.NewEncoder(io.Discard)
		for _, p := range pages {
			n, err := rawPipeline(p, &rd, seen, enc)
			if err != nil {
				b.Fatal(err)
			}
			records += n
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}

// BenchmarkTypedSignIns decodes the same pages into msgraph-sdk-go models, as a collector built on the SDK's typed
// requests would (and nothing more: no archiving).
func BenchmarkTypedSignIns(b *testing.B) {
	pages := signInPages(b, 8)
	var size int64
	for _, p := range pages {
		size += int64(len(p))
	}
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for b.Loop() {
		for _, p := range pages {
			node, err := jsonserialization.NewJsonParseNode(p)
			if err != nil {
				b.Fatal(err)
			}
			v, err := node.GetObjectValue(models.CreateSignInCollectionResponseFromDiscriminatorValue)
			if err != nil {
				b.Fatal(err)
			}
			resp := v.(models.SignInCollectionResponseable)
			for _, s := range resp.GetValue() {
				if s.GetId() == nil || s.GetCreatedDateTime() == nil {
					b.Fatal("typed sign-in without id or time")
				}
				records++
			}
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}

// BenchmarkCompression compresses the NDJSON of the same sign-in pages at the archive's level (BestSpeed) and at
// gzip's default, reporting the compressed size as a share of the raw size: the evidence for archive.Compression.
func BenchmarkCompression(b *testing.B) {
	var ndjson bytes.Buffer
	var rd rawjson.Reader
	for _, p := range signInPages(b, 8) {
		if _, err := rd.ReadPage(bytes.NewReader(p), func(raw []byte) error {
			ndjson.Write(raw)
			return ndjson.WriteByte('\n')
		}); err != nil {
			b.Fatal(err)
		}
	}
	for _, level := range []struct {
		name  string
		level int
	}{{"archive", archive.Compression}, {"default", gzip.DefaultCompression}} {
		b.Run(level.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(ndjson.Len()))
			for b.Loop() {
				out.Reset()
				zw, err := gzip.NewWriterLevel(&out, level.level)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := zw.Write(ndjson.Bytes()); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(ndjson.Len())*100, "%size")
		})
	}
}
