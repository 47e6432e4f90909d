package collect

import (
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
)

func dt(name string) catalog.DataType {
	d, ok := catalog.Lookup(name)
	if !ok {
		panic(name)
	}
	return d
}

var t0 = time.Date(2026, 1, 30, 12, 7, 0, 0, time.UTC)

func TestInitCursor(t *testing.T) {
	o := Options{}.withDefaults()
	si, audits := dt("signIns.interactive"), dt("directoryAudits")
	c := &cursor.Cursor{}
	initCursor(c, si, t0, true, o)
	// 12:07 - 10 min lag = 11:57 → the last closed 15-min bucket ends at 11:45.
	h := time.Date(2026, 1, 30, 11, 45, 0, 0, time.UTC)
	if !c.Low.Equal(h) || !c.High.Equal(h) {
		t.Errorf("Low/High = %v/%v, want %v", c.Low, c.High, h)
	}
	if want := time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC); !c.Target.Equal(want) {
		t.Errorf("Target = %v, want %v", c.Target, want)
	}
	wantRW := []time.Time{time.Date(2026, 1, 30, 11, 0, 0, 0, time.UTC), time.Date(2026, 1, 30, 6, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 29, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 28, 12, 0, 0, 0, time.UTC)}
	for k := range wantRW {
		if !c.Resweep[k].Equal(wantRW[k]) {
			t.Errorf("Resweep[%d] = %v, want %v", k, c.Resweep[k], wantRW[k])
		}
	}
	// A free tenant keeps audits 7 days.
	a := &cursor.Cursor{}
	initCursor(a, audits, t0, false, o)
	if want := time.Date(2026, 1, 23, 12, 0, 0, 0, time.UTC); !a.Target.Equal(want) {
		t.Errorf("free audits Target = %v, want %v", a.Target, want)
	}
	// BackfillDays bounds it further.
	o.BackfillDays = 2
	initCursor(a, audits, t0, true, o)
	if want := time.Date(2026, 1, 28, 12, 0, 0, 0, time.UTC); !a.Target.Equal(want) {
		t.Errorf("2-day Target = %v, want %v", a.Target, want)
	}
}

func describe(ts []task) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(t.kind.String())
		if t.kind == resweep {
			b.WriteString(t.label(Options{}.withDefaults())[len("resweep"):])
		}
		b.WriteString(" " + t.from.Format("01-02T15:04") + ".." + t.to.Format("01-02T15:04") + "; ")
	}
	return b.String()
}

// TestLifecycle walks a sign-in stream through its first day: backfill, fresh buckets, re-sweeps at each level.
func TestLifecycle(t *testing.T) {
	o := Options{}.withDefaults()
	si := dt("signIns.interactive")
	c := &cursor.Cursor{}
	initCursor(c, si, t0, true, o)
	span := 24 * time.Hour

	// At start: nothing fresh (High is at the horizon), no re-sweep due, backfill a day.
	if got := describe(dueTasks(c, si, t0, true, span, o)); got != "backfill 01-29T11:45..01-30T11:45; " {
		t.Errorf("at start: %s", got)
	}
	// Backfill everything: Low reaches the target.
	c.Low = c.Target
	if got := dueTasks(c, si, t0, true, span, o); len(got) != 0 {
		t.Errorf("after backfill: %s", describe(got))
	}
	// At 12:27 two buckets are fresh, and the bucket that closed at 11:15 — backfilled at 12:07, before it was an
	// hour old — is due at +1h (the level's watermark started at 11:00).
	now := t0.Add(20 * time.Minute)
	advanceResweeps(c, si, now, o)
	got := dueTasks(c, si, now, true, span, o)
	if describe(got) != "initial 01-30T11:45..01-30T12:15; resweep+1h0m0s 01-30T11:00..01-30T11:15; " {
		t.Fatalf("12:27: %s", describe(got))
	}
	for _, task := range got {
		task.apply(c)
	}
	// At 13:10: fresh up to the 13:00 horizon, +1h up to the bucket that closed at 12:00.
	now = time.Date(2026, 1, 30, 13, 10, 0, 0, time.UTC)
	advanceResweeps(c, si, now, o)
	got = dueTasks(c, si, now, true, span, o)
	if describe(got) != "initial 01-30T12:15..01-30T13:00; resweep+1h0m0s 01-30T11:15..01-30T12:00; " {
		t.Fatalf("13:10: %s", describe(got))
	}
	for _, task := range got {
		task.apply(c)
	}
	// Two days later everything is due at every level up to High, oldest level first in one window each.
	now = t0.Add(50 * time.Hour)
	advanceResweeps(c, si, now, o)
	got = dueTasks(c, si, now, true, span, o)
	if len(got) != 2 || got[0].kind != fresh || got[1].kind != resweep || got[1].level != 0 {
		t.Fatalf("two days later: %s", describe(got))
	}
	if Backlog(c, si, now, true, o) == 0 {
		t.Error("Backlog = 0 with fresh and re-sweeps due")
	}
	// Drain: keep applying tasks until nothing is due; every level ends at or after High's due horizon.
	for i := 0; i < 1000; i++ {
		advanceResweeps(c, si, now, o)
		ts := dueTasks(c, si, now, true, span, o)
		if len(ts) == 0 {
			break
		}
		for _, task := range ts {
			task.apply(c)
		}
	}
	if n := Backlog(c, si, now, true, o); n != 0 {
		t.Errorf("Backlog after draining = %d", n)
	}
	for k, d := range o.Resweeps {
		if due := floor(now.Add(-d), si.Buckets.Bucket); c.Resweep[k].Before(minTime(due, c.High)) {
			t.Errorf("level %d stopped at %v, due %v", k, c.Resweep[k], due)
		}
	}
}

// TestEveryBucketSweptLateEnough simulates a collector running every 5 minutes for three days with backfill,
// and checks the invariant the re-sweeps exist for: every bucket is read at least once at or after each
// re-sweep delay past its end, and every bucket from the target to the horizon is read initially exactly once.
func TestEveryBucketSweptLateEnough(t *testing.T) {
	o := Options{}.withDefaults()
	o.BackfillDays = 3
	si := dt("signIns.nonInteractive")
	c := &cursor.Cursor{}
	start := t0
	initCursor(c, si, start, true, o)
	lastRead := map[time.Time]time.Time{} // bucket start → latest read
	initial := map[time.Time]int{}
	end := start.Add(72 * time.Hour)
	for now := start; now.Before(end); now = now.Add(5 * time.Minute) {
		// Backfill moves slowly: one 6-hour window per run.
		for range 20 {
			advanceResweeps(c, si, now, o)
			ts := dueTasks(c, si, now, true, 6*time.Hour, o)
			if len(ts) == 0 {
				break
			}
			task := ts[0]
			for b := task.from; b.Before(task.to); b = b.Add(si.Buckets.Bucket) {
				lastRead[b] = now
				if task.kind != resweep {
					initial[b]++
				}
			}
			task.apply(c)
			if task.kind == backfill {
				break
			}
		}
	}
	for b := c.Target; b.Before(c.High); b = b.Add(si.Buckets.Bucket) {
		if initial[b] != 1 {
			t.Fatalf("bucket %v read initially %d times", b, initial[b])
		}
		closed := b.Add(si.Buckets.Bucket)
		for _, d := range o.Resweeps {
			if closed.Add(d).Before(end.Add(-10*time.Minute)) && lastRead[b].Before(closed.Add(d)) {
				t.Fatalf("bucket %v last read %v, before its +%v re-sweep at %v", b, lastRead[b], d, closed.Add(d))
			}
		}
	}
	if !c.Low.Equal(c.Target) {
		t.Errorf("backfill did not finish: Low %v, Target %v", c.Low, c.Target)
	}
}

func TestWorkItems(t *testing.T) {
	items := Plan([]string{"contoso", "fabrikam"}, ReasonSchedule, t0, catalog.Buckets)
	if len(items) != 6 || items[0].Family != catalog.Reports || items[1].Family != catalog.Protection || items[2].Family != catalog.Agents ||
		items[3].Integration != "fabrikam" {
		t.Fatalf("Plan(buckets) = %+v: want reports, protection (risk detections) and agents (agent risk detections) per integration", items)
	}
	dir := Plan([]string{"contoso"}, ReasonSchedule, t0, catalog.Delta, catalog.Snapshot)
	if len(dir) != 5 || dir[0].Family != catalog.Reports || dir[1].Family != catalog.Directory || dir[2].Family != catalog.Protection ||
		dir[3].Family != catalog.Intune || dir[4].Family != catalog.Agents {
		t.Errorf("Plan(delta, snapshot) = %+v: want reports (userSignInActivity), directory, protection (risky users), intune and agents (registry, risky agents)", dir)
	}
	if all := Plan([]string{"contoso"}, ReasonCollectNow, t0); len(all) != len(catalog.Families()) {
		t.Errorf("Plan() = %+v: want every family", all)
	}
	c := items[0].Continuation()
	if c.Reason != ReasonContinuation || c.Generation != 1 || items[0].Generation != 0 {
		t.Errorf("Continuation = %+v", c)
	}
	good := `{"integration":"contoso","family":"reports","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`
	if w, err := ParseWorkItem([]byte(good)); err != nil || w.Integration != "contoso" {
		t.Errorf("ParseWorkItem(good) = %+v, %v", w, err)
	}
	for field, body := range map[string]string{
		"integration": `{"integration":"Contoso Ltd","family":"reports","reason":"schedule"}`,
		"family":      `{"integration":"contoso","family":"telemetry","reason":"schedule"}`,
		"reason":      `{"integration":"contoso","family":"reports","reason":"because"}`,
		"generation":  `{"integration":"contoso","family":"reports","reason":"schedule","generation":-1}`,
		"unknown":     `{"integration":"contoso","family":"reports","reason":"schedule","extra":1}`,
		"json":        `{"integration":`,
		// A second document after the item is not part of it: the message is refused, not half understood.
		"trailing": `{"integration":"contoso","family":"reports","reason":"schedule"}{"integration":"other"}`,
		"garbage":  `{"integration":"contoso","family":"reports","reason":"schedule"} x`,
	} {
		if _, err := ParseWorkItem([]byte(body)); err == nil || (field != "unknown" && field != "json" && field != "trailing" && field != "garbage" && !strings.Contains(err.Error(), "field "+field)) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
}
