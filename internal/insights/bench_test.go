package insights

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/integrations"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// partWriter archives records of a round or bucket in parts of at most perPart records, as the collector does,
// without holding them.
type partWriter struct {
	tb      testing.TB
	s       *archive.Store
	p       archive.Partition
	part    *archive.Part
	n       int
	perPart int
	m       archive.Manifest
}

func (w *partWriter) add(rec string, at time.Time) {
	ctx := context.Background()
	if w.part == nil {
		w.part = w.s.NewPart(w.p, w.n, "graph", "bench")
	}
	if err := w.part.Add(ctx, []byte(rec), at, "req"); err != nil {
		w.tb.Fatal(err)
	}
	if w.part.Records() == w.perPart {
		w.flush()
	}
}

func (w *partWriter) flush() {
	if w.part == nil {
		return
	}
	if err := w.part.Commit(context.Background()); err != nil {
		w.tb.Fatal(err)
	}
	w.m.Parts = append(w.m.Parts, archive.ManifestPart{Name: w.part.Name(), Records: w.part.Records(), SHA256: w.part.SHA256(), Size: w.part.Size()})
	w.m.Records += w.part.Records()
	w.part, w.n = nil, w.n+1
}

// finish commits the last part and, for a round, its manifest.
func (w *partWriter) finish() {
	w.flush()
	if r, ok := w.p.(archive.Round); ok {
		w.m.Full, w.m.Finished = true, r.Start.Add(time.Minute)
		if err := w.s.WriteManifest(context.Background(), r, w.m); err != nil {
			w.tb.Fatal(err)
		}
	}
}

// largeTenant archives a tenant of n users (one in ten a guest), their signInActivity, n/100 service principals,
// role assignments, and signIns interactive sign-ins over the last seven days.
func largeTenant(tb testing.TB, s *archive.Store, n, signIns int) {
	round := func(dataType string) *partWriter {
		return &partWriter{tb: tb, s: s, perPart: 10000, p: archive.Round{Integration: integ, DataType: dataType, Kind: archive.SnapshotRound, Start: snap}}
	}
	usersW, actW := round(usersType), round(activityType)
	for i := range n {
		u := userSpec{n: i, typ: "Member", enabled: i%20 != 19, created: days(30 + i%900)}
		if i%10 == 9 {
			u.typ = "Guest"
		}
		usersW.add(userRecord(u), snap)
		act := "null"
		if i%7 != 0 {
			act = activity(ago(days(i%200)), ago(days(i%200)), ago(days(i%150)))
		}
		actW.add(fmt.Sprintf(`{"id":%q,"userPrincipalName":"u%d@contoso.example","userType":%q,"signInActivity":%s}`, uid(i), i, u.typ, act), snap)
	}
	usersW.finish()
	actW.finish()
	spW, raW := round(servicePrincipals), round(roleAssignments)
	apps := max(n/100, 10)
	for a := range apps {
		spW.add(sp(a, fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", a), "Application", []string{"saml", "oidc", "", "password"}[a%4]), snap)
	}
	for i := 0; i < n; i += 50 {
		raW.add(fmt.Sprintf(`{"id":"ra%d","principalId":%q,"roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10"}`, i, uid(i)), snap)
	}
	spW.finish()
	raW.finish()
	// Sign-ins in hourly buckets over seven days.
	per := max(signIns/(7*24), 1)
	start := now.Truncate(time.Hour).Add(-7 * 24 * time.Hour)
	k := 0
	for h := range 7 * 24 {
		b := archive.Bucket{Integration: integ, DataType: signInsType, Start: start.Add(time.Duration(h) * time.Hour)}
		b.End = b.Start.Add(time.Hour)
		w := &partWriter{tb: tb, s: s, perPart: 5000, p: b}
		for range per {
			req := "singleFactorAuthentication"
			if k%3 == 0 {
				req = "multiFactorAuthentication"
			}
			w.add(signIn(k*7919%n, fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", k%apps), 0, req, "Password", "Mobile app notification"), b.Start)
			k++
		}
		w.finish()
	}
}

// BenchmarkComputeLargeTenant computes the insights of a large tenant (BENCH_INSIGHTS_USERS users, default 200,000;
// BENCH_INSIGHTS_SIGNINS sign-ins, default 300,000) under the handler's 48 MiB memory limit, and reports the peak
// live heap: what the computation keeps per user, not what it reads, must fit.
func BenchmarkComputeLargeTenant(b *testing.B) {
	users, signIns := envInt("BENCH_INSIGHTS_USERS", 200000), envInt("BENCH_INSIGHTS_SIGNINS", 300000)
	s := newArchive(b)
	built := time.Now()
	largeTenant(b, s, users, signIns)
	b.Logf("archived %d users and %d sign-ins in %v", users, signIns, time.Since(built).Round(time.Second))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	var peak atomic.Uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var r *Report
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		var err error
		r, err = Compute(context.Background(), s, integrations.Integration{ID: integ}, Options{SignInDays: 7}, now)
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if r.Users.Total != users || r.Inactive.Totals.Users == 0 || r.MFA.SignIns == nil || r.MFA.SignIns.SignedIn == 0 {
		b.Fatalf("report: %d users, %+v, %+v", r.Users.Total, r.Inactive.Totals, r.MFA.SignIns)
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB-peak-heap")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/1000, "s/compute")
	b.ReportMetric(float64(users), "users")
}
