package entrasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that keeps only the first bytes of the body (where the nextLink is).
type discardWriter struct {
	h      http.Header
	status int
	head   bytes.Buffer
	n      int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.head.Len() < 4096 {
		w.head.Write(b[:min(len(b), 4096-w.head.Len())])
	}
	w.n += int64(len(b))
	return len(b), nil
}

func nextLinkOf(head []byte) string {
	const key = `"@odata.nextLink":"`
	i := bytes.Index(head, []byte(key))
	if i < 0 {
		return ""
	}
	rest := head[i+len(key):]
	var s string
	if err := json.Unmarshal(append([]byte{'"'}, rest[:bytes.IndexByte(rest, '"')+1]...), &s); err != nil {
		return ""
	}
	return s
}

func benchTenant(b *testing.B, users int) (*Tenant, string) {
	b.Helper()
	tn, err := New(&Options{Seed: 3, Users: users, Clock: NewSimClock(testStart), Verifier: fakeVerifier{}, DisableThrottling: true, RequestLogLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	return tn, fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(24*time.Hour))
}

func serve(b *testing.B, tn *Tenant, token, target string) *discardWriter {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := &discardWriter{h: http.Header{}}
	tn.ServeHTTP(w, req)
	if w.status != 200 {
		b.Fatalf("status %d: %s", w.status, w.head.String())
	}
	return w
}

// followPages serves target and every nextLink after it in-process, calling page after each page.
func followPages(b *testing.B, tn *Tenant, token, target string, page func()) {
	for target != "" {
		w := serve(b, tn, token, target)
		page()
		next := nextLinkOf(w.head.Bytes())
		target = ""
		if next != "" {
			u, _ := url.Parse(next)
			target = u.RequestURI()
		}
	}
}

// BenchmarkSignInPage measures serving one full page (1,000 beta sign-ins) in-process.
func BenchmarkSignInPage(b *testing.B) {
	tn, token := benchTenant(b, 1000)
	f := window("createdDateTime", testStart.Add(-48*time.Hour), testStart.Add(-24*time.Hour)) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	target := "/beta/auditLogs/signIns?$filter=" + url.QueryEscape(f)
	b.ReportAllocs()
	var bytes int64
	for i := 0; i < b.N; i++ {
		bytes += serve(b, tn, token, target).n
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/page")
}

// BenchmarkServeMillionSignIns pages through about a million non-interactive sign-ins (a 1,000-user tenant,
// 25 days) and reports CPU time and allocation per record and the peak heap, which must stay flat.
// Run: go test -run '^$' -bench MillionSignIns -benchtime 1x ./tests/entrasim/
func BenchmarkServeMillionSignIns(b *testing.B) {
	tn, token := benchTenant(b, 1000)
	f := window("createdDateTime", testStart.Add(-26*24*time.Hour), testStart.Add(-24*time.Hour)) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	b.ReportAllocs()
	var pages int64
	var peak uint64
	var ms runtime.MemStats
	for i := 0; i < b.N; i++ {
		followPages(b, tn, token, "/beta/auditLogs/signIns?$filter="+url.QueryEscape(f), func() {
			pages++
			if pages%100 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		})
	}
	records := tn.Counters().Streams[StreamNonInteractive]
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
	b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkDirectoryScale builds a large tenant and serves its directory the way an initial sync reads it,
// in-process: every users/delta and groups/delta page, the signInActivity list, and the ground truth. It
// reports the build time, the heap after the build and after serving, and the time per page.
// Run: go test -run '^$' -bench DirectoryScale -benchtime 1x ./tests/entrasim/ (-users, -groups below).
func BenchmarkDirectoryScale(b *testing.B) {
	for _, size := range []struct{ users, groups int }{{100_000, 20_000}, {300_000, 20_000}} {
		b.Run(fmt.Sprintf("users=%d,groups=%d", size.users, size.groups), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchDirectoryScale(b, size.users, size.groups)
			}
		})
	}
}

func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

func benchDirectoryScale(b *testing.B, users, groups int) {
	base := heapMiB()
	start := time.Now()
	tn, err := New(&Options{Seed: 3, Users: users, Groups: groups, Clock: NewSimClock(testStart), Verifier: fakeVerifier{},
		DisableThrottling: true, RequestLogLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "build-s")
	b.ReportMetric(heapMiB()-base, "heap-after-build-MiB")
	token := fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(24*time.Hour))
	pages := func(target string) (int, time.Duration) {
		n, t0 := 0, time.Now()
		followPages(b, tn, token, target, func() { n++ })
		return n, time.Since(t0)
	}
	var peak float64
	for _, tc := range []struct {
		name, target string
	}{
		{"users-delta", "/v1.0/users/delta?$select=id,displayName,userPrincipalName,accountEnabled,userType"},
		{"groups-delta", "/v1.0/groups/delta?$select=id,displayName,members"},
		{"signInActivity", "/v1.0/users?$select=id,userPrincipalName,userType,signInActivity&$top=500"},
	} {
		n, d := pages(tc.target)
		b.ReportMetric(float64(n), tc.name+"-pages")
		b.ReportMetric(float64(d.Microseconds())/float64(n)/1000, tc.name+"-ms/page")
		peak = max(peak, heapMiB()-base)
	}
	start = time.Now()
	objs, err := tn.DirectoryAt(colGroups, tn.Now(), []string{"displayName"})
	if err != nil || len(objs) != groups {
		b.Fatalf("%d groups: %v", len(objs), err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "truth-groups-s")
	b.ReportMetric(peak, "heap-after-serving-MiB")
	runtime.KeepAlive(tn)
}
