package entrasim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// BenchmarkSignInPage measures serving one full page (1,000 beta sign-ins) in-process.
func BenchmarkSignInPage(b *testing.B) {
	clock := NewSimClock(testStart)
	tn, err := New(&Options{Seed: 3, Users: 1000, Clock: clock, Verifier: fakeVerifier{}, DisableThrottling: true})
	if err != nil {
		b.Fatal(err)
	}
	token := fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
	f := "createdDateTime ge " + odataTime(testStart.Add(-48*time.Hour)) + " and createdDateTime lt " + odataTime(testStart.Add(-24*time.Hour)) +
		" and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	u := "/beta/auditLogs/signIns?$filter=" + url.QueryEscape(f)
	b.ReportAllocs()
	var bytes int64
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		tn.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		bytes += int64(rec.Body.Len())
		_, _ = io.Copy(io.Discard, rec.Body)
	}
	b.ReportMetric(float64(bytes)/float64(b.N)/1000, "records(KB)/page")
}
