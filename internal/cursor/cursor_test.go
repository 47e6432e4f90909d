package cursor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

func newStore(t *testing.T) *Store {
	t.Helper()
	svc, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	prefix := azurite.UniqueName(t, "t")
	s := New(svc, &Tables{Cursors: prefix + "c", Leases: prefix + "l", Runs: prefix + "r"})
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure is not idempotent: %v", err)
	}
	return s
}

func TestCursorRoundTripAndETags(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, err := s.Get(ctx, "contoso", "signIns.interactive")
	if err != nil || !c.New() || c.Started() {
		t.Fatalf("fresh cursor = %+v, %v", c, err)
	}
	t0 := time.Date(2026, 1, 10, 10, 15, 0, 0, time.UTC)
	c.Low, c.High, c.Target = t0.Add(-time.Hour), t0, t0.Add(-30*24*time.Hour)
	c.Resweep = []time.Time{t0.Add(-time.Hour), t0.Add(-6 * time.Hour)}
	c.State, c.Records, c.Parts, c.Density, c.Filled = StateOK, 1<<40, 12, 42.5, 1<<33
	c.LastError = "signIns.interactive bucket 2026-01-10T10:00Z: graph transient [request-id r1]"
	c.LastRequestID = "r1"
	c.AddRecords(t0.Add(-24*time.Hour), 7) // yesterday
	c.AddRecords(t0, 5)
	c.AddRecords(t0.Add(time.Hour), 3)
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "contoso", "signIns.interactive")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Low.Equal(c.Low) || !got.High.Equal(t0) || !got.Target.Equal(c.Target) || len(got.Resweep) != 2 ||
		!got.Resweep[1].Equal(c.Resweep[1]) || got.Records != 1<<40+15 || got.Parts != 12 || got.Density != 42.5 || got.Filled != 1<<33 ||
		got.LastRequestID != "r1" || got.RecordsOn(t0) != 8 || got.RecordsOn(t0.Add(24*time.Hour)) != 0 ||
		got.State != StateOK || got.LastError != c.LastError || !got.LastRun.IsZero() {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}

	// Two readers: the first write wins, the second gets ErrConflict and changes nothing.
	a, _ := s.Get(ctx, "contoso", "signIns.interactive")
	b, _ := s.Get(ctx, "contoso", "signIns.interactive")
	a.High = t0.Add(15 * time.Minute)
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.High = t0.Add(time.Hour)
	if err := s.Put(ctx, b); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	if got, _ := s.Get(ctx, "contoso", "signIns.interactive"); !got.High.Equal(a.High) {
		t.Errorf("High = %v after the refused write", got.High)
	}
	// A second insert of a new cursor conflicts too.
	dup := &Cursor{Integration: "contoso", DataType: "signIns.interactive"}
	if err := s.Put(ctx, dup); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate insert: %v", err)
	}
	if err := s.Put(ctx, &Cursor{Integration: "contoso", DataType: "directoryAudits", State: StateNotLicensed}); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "contoso")
	if err != nil || len(list) != 2 || list[0].DataType != "directoryAudits" || list[0].State != StateNotLicensed {
		t.Errorf("List = %+v, %v", list, err)
	}
	if list, err := s.List(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Errorf("List of an unknown integration = %+v, %v", list, err)
	}
}

func TestLeases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	l, err := s.Acquire(ctx, "contoso", "reports", "inv-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := s.Acquire(ctx, "contoso", "reports", "inv-2", time.Minute); !errors.As(err, &held) || held.Owner != "inv-1" {
		t.Fatalf("second acquire: %v", err)
	}
	if _, err := s.Acquire(ctx, "contoso", "directory", "inv-2", time.Minute); err != nil {
		t.Errorf("another family: %v", err)
	}
	if err := s.Renew(ctx, l, time.Minute); err != nil {
		t.Fatal(err)
	}
	// An expired lease is taken over; the old holder's renewal then fails.
	short, err := s.Acquire(ctx, "fabrikam", "reports", "old", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var taken *Lease
	for taken == nil && time.Now().Before(deadline) {
		taken, err = s.Acquire(ctx, "fabrikam", "reports", "new", time.Minute)
		if err != nil && !errors.As(err, &held) {
			t.Fatal(err)
		}
	}
	if taken == nil {
		t.Fatal("expired lease never taken over")
	}
	if err := s.Renew(ctx, short, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renew of a lost lease: %v", err)
	}
	if err := s.Release(ctx, short); err != nil {
		t.Errorf("release of a lost lease must be harmless: %v", err)
	}
	if _, err := s.Acquire(ctx, "fabrikam", "reports", "third", time.Minute); !errors.As(err, &held) || held.Owner != "new" {
		t.Errorf("lost lease's release freed the new holder's lease: %v", err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "contoso", "reports", "inv-3", time.Minute); err != nil {
		t.Errorf("acquire after release: %v", err)
	}
}

func TestRuns(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := &Run{Integration: "contoso", Family: "reports", Invocation: "inv-" + string(rune('a'+i)), Reason: "schedule",
			Started: base.Add(time.Duration(i) * time.Minute), Finished: base.Add(time.Duration(i)*time.Minute + 30*time.Second),
			Outcome: "ok", Requests: 10, Throttled: 1, Pages: 9, Records: 9000,
			DataTypes: map[string]DataTypeRun{"signIns.interactive": {Windows: 2, Records: 9000}}}
		if i == 2 {
			r.Outcome = "partial"
			for range 60 {
				r.Errors = append(r.Errors, RunError{DataType: "provisioning", Bucket: "2026-01-10T09:00Z", RequestID: "rid", Kind: "invalid-page", Message: strings.Repeat("x", 100)})
			}
		}
		if err := s.AddRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.Runs(ctx, "contoso", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Invocation != "inv-c" || runs[1].Invocation != "inv-b" {
		t.Fatalf("runs not newest first: %+v", runs)
	}
	r := runs[0]
	if r.Outcome != "partial" || len(r.Errors) != maxRunErrors+1 || r.Errors[0].RequestID != "rid" || r.DataTypes["signIns.interactive"].Records != 9000 || r.Throttled != 1 {
		t.Errorf("run = %+v", r)
	}
}

// TestRunsWithLongErrors: storage errors quote whole responses (a kilobyte and more each). A run with many of them
// must still read back with its errors (the first ones whole, the rest counted), never as a cut JSON that decodes
// to no errors at all.
func TestRunsWithLongErrors(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	long := "commit integration=contoso/…: PUT http://127.0.0.1:10000/devstoreaccount1/entra-raw/…\n" +
		strings.Repeat("RESPONSE 500: 500 Internal Server Error — é ", 40)
	r := &Run{Integration: "contoso", Family: "reports", Invocation: "inv-long", Reason: "schedule", Outcome: "partial",
		Started: time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 1, 10, 10, 1, 0, 0, time.UTC)}
	for i := range 60 {
		r.Errors = append(r.Errors, RunError{DataType: "signIns.interactive", Bucket: fmt.Sprintf("window %d", i), Kind: "", Message: long})
	}
	c := &Cursor{Integration: "contoso", DataType: "signIns.interactive", LastError: "x" + strings.Repeat("ü", 3000)}
	if err := s.AddRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, "contoso", 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	errs := runs[0].Errors
	if len(errs) < 2 || errs[0].Bucket != "window 0" || !strings.HasPrefix(errs[0].Message, "commit integration=contoso") {
		t.Fatalf("errors read back: %d, first %+v", len(errs), errs)
	}
	last := errs[len(errs)-1]
	if want := fmt.Sprintf("… and %d more", 60-(len(errs)-1)); last.Message != want {
		t.Errorf("last error %q, want %q", last.Message, want)
	}
	for _, e := range errs {
		if !utf8.ValidString(e.Message) {
			t.Errorf("message is not valid UTF-8: %q", e.Message)
		}
	}
	got, err := s.Get(ctx, "contoso", "signIns.interactive")
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(got.LastError) || !strings.HasPrefix(got.LastError, "xüü") {
		t.Errorf("last error cut through a character: …%q", got.LastError[len(got.LastError)-8:])
	}
}

// TestRoundCursorRoundTrip: a delta data type's cursor keeps its deltaLink, its round in progress (with the new
// deltaLink of a round whose parts are all committed) and its excluded users across a store and a read.
func TestRoundCursorRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, err := s.Get(ctx, "contoso", "users")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	c.DeltaLink = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc"
	c.DeltaAt, c.LastRound, c.LastFull, c.Objects, c.Changes = at, at.Add(time.Hour), at, 1000, 17
	c.Resync = "resync: graph sync-reset (HTTP 410)"
	c.Round = Round{Start: at.Add(2 * time.Hour), Kind: "delta", Next: "https://graph.microsoft.com/v1.0/users/delta?$skiptoken=x", Resumed: true,
		Complete: true, DeltaLink: "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=def"}
	c.Excluded, c.ExcludedHash = []string{"a", "b"}, "h"
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "contoso", "users")
	if err != nil {
		t.Fatal(err)
	}
	if got.DeltaLink != c.DeltaLink || !got.DeltaAt.Equal(at) || !got.LastRound.Equal(c.LastRound) || !got.LastFull.Equal(at) ||
		got.Objects != 1000 || got.Changes != 17 || got.Resync != c.Resync || !reflect.DeepEqual(got.Round, c.Round) || !got.InRound() ||
		!slices.Equal(got.Excluded, c.Excluded) || got.ExcludedHash != "h" {
		t.Fatalf("read back %+v, stored %+v", got, c)
	}
	got.Round = Round{}
	if err := s.Put(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Get(ctx, "contoso", "users"); again.InRound() {
		t.Errorf("a finished round is still in progress: %+v", again.Round)
	}
}
