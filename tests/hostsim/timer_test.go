package hostsim

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type timerInfo struct {
	Schedule struct {
		AdjustForDST bool
	}
	ScheduleStatus *struct {
		Last, Next, LastUpdated string
	}
	IsPastDue bool
}

func timerInfoOf(t *testing.T, pc probeCall) (timerInfo, json.RawMessage) {
	t.Helper()
	data, _ := pc.envelope(t)
	raw := data["myTimer"]
	if len(raw) == 0 || raw[0] != '{' {
		t.Fatalf("Data.myTimer = %s, want a nested object", raw)
	}
	var ti timerInfo
	if err := json.Unmarshal(raw, &ti); err != nil {
		t.Fatal(err)
	}
	return ti, raw
}

func callsOf(c *control, function string) []probeCall {
	var out []probeCall
	for _, pc := range c.Calls() {
		if pc.Function == function {
			out = append(out, pc)
		}
	}
	return out
}

func invocationsOf(invs []*Invocation, function string) []*Invocation {
	var out []*Invocation
	for _, inv := range invs {
		if inv.Function == function {
			out = append(out, inv)
		}
	}
	return out
}

var t0 = time.Date(2026, 1, 10, 10, 2, 3, 500_000_000, time.UTC)

// TestTimerScheduleStatus checks TimerInfo: null ScheduleStatus without the monitor, and Last/Next persisted
// between runs with it.
func TestTimerScheduleStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		function   string
		wantStatus [2]string // Last/Next of the first and second run; "" means null
	}{
		{"TimerNoMonitor", [2]string{"", ""}},
		{"TimerFast", [2]string{"", ""}},
		{"Timer", [2]string{"0001-01-01T00:00:00 2026-01-10T10:05:00+00:00", "2026-01-10T10:02:03.5+00:00 2026-01-10T10:05:00+00:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newControl(t)
			clock := newFakeClock(t0)
			h := startProbe(t, c, func(o *Options) { o.Now = clock.Now })
			for run := range 2 {
				inv, err := h.Timer(ctx, tc.function, nil)
				if err != nil || !inv.Succeeded() {
					t.Fatalf("run %d: %v %+v", run, err, inv)
				}
				ti, raw := timerInfoOf(t, callsOf(c, tc.function)[run])
				if ti.IsPastDue || !ti.Schedule.AdjustForDST {
					t.Errorf("run %d: TimerInfo = %s", run, raw)
				}
				got := ""
				if ti.ScheduleStatus != nil {
					got = ti.ScheduleStatus.Last + " " + ti.ScheduleStatus.Next
				} else if !strings.Contains(string(raw), `"ScheduleStatus":null`) {
					t.Errorf("run %d: ScheduleStatus missing instead of null: %s", run, raw)
				}
				if got != tc.wantStatus[run] {
					t.Errorf("run %d: ScheduleStatus Last/Next = %q, want %q", run, got, tc.wantStatus[run])
				}
				clock.Advance(3 * time.Minute)
			}
		})
	}
}

// TestTimerPastDueAfterHostRestart: a host that was down for two days fires the missed timer exactly once, with
// IsPastDue=true, when it starts again; then the schedule continues.
func TestTimerPastDueAfterHostRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	clock := newFakeClock(t0)
	store := NewMemoryScheduleStore()
	opts := func(o *Options) { o.Now = clock.Now; o.ScheduleStore = store }
	h1 := startProbe(t, c, opts)
	steps := []struct {
		name    string
		advance time.Duration
		host    func() *Host
		want    []bool // IsPastDue of the Timer invocations this step
	}{
		{"listener start records the next occurrence", 0, func() *Host { return h1 }, nil},
		{"before the occurrence", 2 * time.Minute, func() *Host { return h1 }, nil},
		{"at the occurrence", time.Minute, func() *Host { return h1 }, []bool{false}},
		{"down for two days, new host: one catch-up", 48 * time.Hour, func() *Host {
			if err := h1.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			return startProbe(t, c, opts)
		}, []bool{true}},
		{"no second catch-up", 0, nil, nil},
		{"schedule continues", 5 * time.Minute, nil, []bool{false}},
	}
	var h *Host
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Advance(st.advance)
			if st.host != nil {
				h = st.host()
			}
			invs, err := h.FireDueTimers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, inv := range invocationsOf(invs, "Timer") {
				var env struct{ Data struct{ MyTimer timerInfo } }
				_ = json.Unmarshal(inv.Request, &env)
				got = append(got, env.Data.MyTimer.IsPastDue)
			}
			if len(got) != len(st.want) || (len(got) > 0 && got[0] != st.want[0]) {
				t.Errorf("Timer invocations IsPastDue = %v, want %v", got, st.want)
			}
		})
	}
	st, err := h.ScheduleStatus(ctx, "Timer")
	if err != nil || st == nil || !st.Next.Equal(time.Date(2026, 1, 12, 10, 15, 0, 0, time.UTC)) {
		t.Errorf("final schedule status = %v, %v", st, err)
	}
}

// TestTimerSchedulerCatchUpAfterListenerRestart drives the background scheduler with the simulated clock: it fires
// on schedule, and after the listeners were stopped for a day it catches up exactly once.
func TestTimerSchedulerCatchUpAfterListenerRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	clock := newFakeClock(t0)
	h := startProbe(t, c, func(o *Options) { o.Now = clock.Now; o.TimerPollInterval = 5 * time.Millisecond })
	if err := h.RunTimers(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait until the listener has recorded its first status, so the advance below is an occurrence it awaits.
	waitStatus(t, ctx, h)
	clock.Advance(3 * time.Minute)
	if _, err := h.WaitInvocations(ctx, "Timer", 1); err != nil {
		t.Fatal(err)
	}
	h.StopTimers(ctx)
	clock.Advance(24 * time.Hour)
	if err := h.RunTimers(ctx); err != nil {
		t.Fatal(err)
	}
	invs, err := h.WaitInvocations(ctx, "Timer", 2)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := timerInfoOf(t, callsOf(c, "Timer")[1])
	if !ti.IsPastDue || ti.ScheduleStatus == nil || ti.ScheduleStatus.Next != "2026-01-10T10:10:00+00:00" {
		t.Errorf("catch-up TimerInfo = %+v", ti)
	}
	// Nothing else is due at this clock: a synchronous pass fires nothing.
	more, err := h.FireDueTimers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(invocationsOf(more, "Timer")); n != 0 || len(invocationsOf(h.Invocations(), "Timer")) != len(invs) {
		t.Errorf("extra Timer invocations after the catch-up: %d", n)
	}
}

func waitStatus(t *testing.T, ctx context.Context, h *Host) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := h.ScheduleStatus(ctx, "Timer")
		if err != nil {
			t.Fatal(err)
		}
		if st != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("timer listener never recorded its status")
		case <-tick.C:
		}
	}
}

// TestTimerNeverOverlaps: while a timer invocation runs, the timer does not fire again, however far the clock
// moves.
func TestTimerNeverOverlaps(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	release := make(chan struct{})
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		if pc.Function == "Timer" && len(callsOf(c, "Timer")) == 1 {
			select {
			case <-release:
			case <-rctx.Done():
			}
		}
		return okReply()
	})
	clock := newFakeClock(t0)
	h := startProbe(t, c, func(o *Options) { o.Now = clock.Now; o.TimerPollInterval = 5 * time.Millisecond })
	if err := h.RunTimers(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, h)
	clock.Advance(3 * time.Minute)
	c.waitCalls(t, ctx, 1)
	for len(callsOf(c, "Timer")) == 0 {
		c.waitCalls(t, ctx, len(c.Calls())+1)
	}
	clock.Advance(20 * time.Minute)
	// A synchronous pass must wait for the running invocation instead of firing a second one.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := h.FireDueTimers(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FireDueTimers during a running timer: err = %v, want it to wait (deadline exceeded)", err)
	}
	if n := len(callsOf(c, "Timer")); n != 1 {
		t.Fatalf("Timer called %d times while its first invocation ran, want 1", n)
	}
	close(release)
	if _, err := h.WaitInvocations(ctx, "Timer", 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := h.WaitInvocations(ctx, "Timer", 2); err != nil {
		t.Fatal(err)
	}
}

// TestTimerFailureIsNotRetried: a failed timer run moves the schedule on; nothing fires again until the next
// occurrence.
func TestTimerFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.reply(instruction{Status: 500, ContentType: "application/json", Body: `{}`})
	clock := newFakeClock(t0)
	h := startProbe(t, c, func(o *Options) { o.Now = clock.Now })
	if _, err := h.FireDueTimers(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Minute)
	first, err := h.FireDueTimers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := invocationsOf(first, "Timer"); len(got) != 1 || got[0].Succeeded() {
		t.Fatalf("first pass: %v", got)
	}
	again, err := h.FireDueTimers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := invocationsOf(again, "Timer"); len(got) != 0 {
		t.Errorf("failed timer fired again at the same time: %d invocations", len(got))
	}
	st, _ := h.ScheduleStatus(ctx, "Timer")
	if st == nil || !st.Last.Equal(clock.Now()) {
		t.Errorf("status after the failure = %v, want Last = %s", st, clock.Now())
	}
}

// TestTimerSettingSchedule: %Setting% schedules, six fields and five.
func TestTimerSettingSchedule(t *testing.T) {
	t.Parallel()
	for _, sched := range []string{"0 30 9 * * *", "30 9 * * *"} {
		t.Run(sched, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newControl(t)
			clock := newFakeClock(time.Date(2026, 1, 10, 9, 29, 59, 0, time.UTC))
			h := startProbe(t, c, func(o *Options) { o.Now = clock.Now; o.Settings["PROBE_SCHEDULE"] = sched })
			for i, want := range []int{0, 1} {
				invs, err := h.FireDueTimers(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(invocationsOf(invs, "TimerSetting")); got != want {
					t.Errorf("pass %d: %d TimerSetting invocations, want %d", i, got, want)
				}
				clock.Advance(time.Second)
			}
		})
	}
}

// TestTimerRunOnStartupAndDisabled: runOnStartup fires once when the listener starts (not past due); a function
// disabled by AzureWebJobs.<Name>.Disabled never fires and its HTTP route is gone.
func TestTimerRunOnStartupAndDisabled(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	app := probeVariant(t, func(map[string]any) {})
	fj := `{"bindings":[{"type":"timerTrigger","direction":"in","name":"myTimer","schedule":"0 0 0 1 1 *","runOnStartup":true}]}`
	if err := os.WriteFile(filepath.Join(app, "TimerSetting", "function.json"), []byte(fj), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(t0)
	h := startProbe(t, c, func(o *Options) {
		o.AppRoot = app
		o.Now = clock.Now
		o.Settings["AzureWebJobs.TimerFast.Disabled"] = "true"
		o.Settings["AzureWebJobs.HttpAnon.Disabled"] = "1"
	})
	for pass, want := range []int{1, 0} {
		invs, err := h.FireDueTimers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := invocationsOf(invs, "TimerSetting")
		if len(got) != want {
			t.Fatalf("pass %d: %d runOnStartup invocations, want %d", pass, len(got), want)
		}
		if want == 1 {
			ti, _ := timerInfoOf(t, callsOf(c, "TimerSetting")[0])
			if ti.IsPastDue {
				t.Error("runOnStartup invocation marked past due")
			}
		}
		clock.Advance(time.Hour)
	}
	if n := len(callsOf(c, "TimerFast")); n != 0 {
		t.Errorf("disabled TimerFast fired %d times", n)
	}
	res, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"})
	if err != nil || res.StatusCode != 404 {
		t.Errorf("disabled HttpAnon answered %v %v, want 404", res, err)
	}
}
