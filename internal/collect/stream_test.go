package collect

import (
	"testing"
	"time"

	"github.com/entra-di/edi/internal/cursor"
)

func TestStreaming(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name   string
		window time.Duration
		last   time.Time
		want   bool
	}{
		{"never streamed", 0, time.Time{}, false},
		{"streamed an hour ago", 0, now.Add(-time.Hour), true},
		{"streamed just inside the default 24h", 0, now.Add(-24*time.Hour + time.Second), true},
		{"streamed 24h ago", 0, now.Add(-24 * time.Hour), false},
		{"a shorter window", 2 * time.Hour, now.Add(-3 * time.Hour), false},
		{"streaming switched off", -1, now.Add(-time.Minute), false},
	} {
		if got := (Options{StreamWindow: tc.window}).Streaming(tc.last, now); got != tc.want {
			t.Errorf("%s: Streaming = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name     string
		o        Options
		wantLag  time.Duration
		resweeps int
	}{
		{"defaults: the first re-sweep", Options{}, time.Hour, 4},
		{"an earlier first re-sweep", Options{Resweeps: []time.Duration{30 * time.Minute, 6 * time.Hour}}, 30 * time.Minute, 2},
		{"a lag longer than it stays", Options{Lag: 2 * time.Hour}, 2 * time.Hour, 4},
		{"no re-sweeps: an hour", Options{Resweeps: []time.Duration{}}, time.Hour, 0},
	} {
		if o := tc.o.ForStreaming(); o.Lag != tc.wantLag || len(o.Resweeps) != tc.resweeps {
			t.Errorf("%s: lag %v with %d re-sweeps, want %v with %d", tc.name, o.Lag, len(o.Resweeps), tc.wantLag, tc.resweeps)
		}
	}
}

// TestStreamingSwitches runs a sign-in data type that starts streaming, stops (a category dropped for longer than
// the stream window) and streams again: every bucket is read first exactly once, while streaming never less than
// an hour after it closed, and every re-sweep still comes late enough.
func TestStreamingSwitches(t *testing.T) {
	base := Options{BackfillDays: 1}.withDefaults()
	si := dt("signIns.interactive")
	c := &cursor.Cursor{}
	start := t0
	initCursor(c, si, start, true, base)
	streamingAt := func(now time.Time) bool {
		h := now.Sub(start)
		return h >= 6*time.Hour && h < 20*time.Hour || h >= 30*time.Hour
	}
	initial := map[time.Time]int{}
	lastRead := map[time.Time]time.Time{}
	end := start.Add(72 * time.Hour)
	for now := start; now.Before(end); now = now.Add(5 * time.Minute) {
		o := base
		streaming := streamingAt(now)
		if streaming {
			o = base.ForStreaming()
		}
		for range 20 {
			advanceResweeps(c, si, now, o)
			ts := dueTasks(c, si, now, true, 6*time.Hour, o)
			if len(ts) == 0 {
				break
			}
			task := ts[0]
			task.stream.streaming = streaming
			before := append([]time.Time(nil), c.Resweep...)
			for b := task.from; b.Before(task.to); b = b.Add(si.Buckets.Bucket) {
				lastRead[b] = now
				if task.kind == fresh {
					initial[b]++
					if closed := b.Add(si.Buckets.Bucket); streaming && now.Sub(closed) < time.Hour {
						t.Fatalf("%v: bucket %v read %v after it closed while streaming", now, b, now.Sub(closed))
					}
					if streaming && task.label(o) != "gapfill" {
						t.Fatalf("a streaming fresh read is labelled %q", task.label(o))
					}
				}
				if task.kind == backfill {
					initial[b]++
				}
			}
			task.apply(c)
			for k := range before {
				if c.Resweep[k].Before(before[k]) {
					t.Fatalf("%v: re-sweep %d moved back from %v to %v", now, k, before[k], c.Resweep[k])
				}
			}
		}
	}
	for b := c.Target; b.Before(c.High); b = b.Add(si.Buckets.Bucket) {
		if initial[b] != 1 {
			t.Fatalf("bucket %v read first %d times", b, initial[b])
		}
		closed := b.Add(si.Buckets.Bucket)
		for _, d := range base.Resweeps {
			if closed.Add(d).Before(end.Add(-10*time.Minute)) && lastRead[b].Before(closed.Add(d)) {
				t.Fatalf("bucket %v last read %v, before its +%v re-sweep at %v", b, lastRead[b], d, closed.Add(d))
			}
		}
	}
}
