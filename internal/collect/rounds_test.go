package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/logging"
)

// deltaGraph is a scripted Graph for delta rounds of users (every other directory collection is empty): objects
// change between rounds; a full round pages through every object, a delta round through the ids changed since
// its token. Tokens are the change counter; skip tokens carry it and an offset.
type deltaGraph struct {
	mu       sync.Mutex
	users    map[string]string // id → JSON, "" for deleted
	changes  []string          // ids in change order; a token is an index into it
	pageSize int
	delay    time.Duration // per users page
	gone     map[string]bool
	expired  bool // skip tokens are refused (Directory_ExpiredPageToken)
	requests []string
}

func newDeltaGraph(n int) *deltaGraph {
	g := &deltaGraph{users: map[string]string{}, pageSize: 3, gone: map[string]bool{}}
	for i := range n {
		g.set(fmt.Sprintf("u%02d", i), "Member")
	}
	return g
}

func (g *deltaGraph) set(id, userType string) {
	g.users[id] = fmt.Sprintf(`{"id":%q,"displayName":"user %s","userType":%q}`, id, id, userType)
	g.changes = append(g.changes, id)
}

func (g *deltaGraph) remove(id string) {
	g.users[id] = ""
	g.changes = append(g.changes, id)
}

func (g *deltaGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", fmt.Sprintf("rid-%d", len(g.requests)))
	base := "https://" + r.Host + r.URL.Path
	q := r.URL.Query()
	if !strings.HasSuffix(r.URL.Path, "/users/delta") {
		if strings.HasSuffix(r.URL.Path, "/delta") {
			fmt.Fprintf(w, `{"value":[],"@odata.deltaLink":"%s?$deltatoken=0"}`, base)
			return
		}
		fmt.Fprint(w, `{"value":[]}`)
		return
	}
	time.Sleep(g.delay)
	var ids []string
	var offset int
	var from int // change index the round reports from; -1: full
	switch {
	case q.Get("$skiptoken") != "":
		if g.expired {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":"Directory_ExpiredPageToken","message":"The specified page token value has expired and can no longer be included in your request."}}`)
			return
		}
		f := strings.Split(q.Get("$skiptoken"), ":")
		from, _ = strconv.Atoi(f[0])
		offset, _ = strconv.Atoi(f[1])
	case q.Get("$deltatoken") != "":
		tok := q.Get("$deltatoken")
		if g.gone[tok] {
			w.Header().Set("Location", base)
			w.WriteHeader(http.StatusGone)
			fmt.Fprint(w, `{"error":{"code":"syncStateNotFound","message":"The sync state generation is not found."}}`)
			return
		}
		from, _ = strconv.Atoi(tok)
	default:
		from = -1
	}
	if from < 0 {
		for id, v := range g.users {
			if v != "" {
				ids = append(ids, id)
			}
		}
	} else {
		for _, id := range g.changes[from:] {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	end := min(offset+g.pageSize, len(ids))
	var items []string
	for _, id := range ids[offset:end] {
		if v := g.users[id]; v != "" {
			items = append(items, v)
		} else {
			items = append(items, fmt.Sprintf(`{"id":%q,"@removed":{"reason":"deleted"}}`, id))
		}
	}
	link := fmt.Sprintf(`"@odata.deltaLink":"%s?$deltatoken=%d"`, base, len(g.changes))
	if end < len(ids) {
		link = fmt.Sprintf(`"@odata.nextLink":"%s?$skiptoken=%d:%d"`, base, from, end)
	}
	fmt.Fprintf(w, `{"value":[%s],%s}`, strings.Join(items, ","), link)
}

// replayUsers is the test's own reading of the archive: the newest full round, then the delta rounds after it,
// upserting by id and dropping @removed.
func replayUsers(t *testing.T, env testEnv) map[string]string {
	t.Helper()
	ctx := context.Background()
	rounds, err := env.archive.Rounds(ctx, testIntegration.ID, "users")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, m := range rounds {
		for _, p := range m.Parts {
			err := env.archive.ReadRecords(ctx, p.Name, func(b []byte) error {
				var o struct {
					ID      string          `json:"id"`
					Removed json.RawMessage `json:"@removed"`
				}
				if err := json.Unmarshal(b, &o); err != nil {
					return err
				}
				if o.Removed != nil {
					delete(state, o.ID)
				} else {
					state[o.ID] = string(b)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return state
}

func (g *deltaGraph) live() map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]string{}
	for id, v := range g.users {
		if v != "" {
			out[id] = v
		}
	}
	return out
}

type roundsEnv struct {
	testEnv
	g     *deltaGraph
	srv   *httptest.Server
	clock time.Time
}

func newRoundsEnv(t *testing.T, users int) *roundsEnv {
	g := newDeltaGraph(users)
	srv := httptest.NewTLSServer(g)
	t.Cleanup(srv.Close)
	return &roundsEnv{testEnv: newTestEnv(t), g: g, srv: srv, clock: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)}
}

// collect runs one directory work item with options o and a deadline d from now (none when 0).
func (e *roundsEnv) collect(t *testing.T, o *Options, d time.Duration) *Result {
	t.Helper()
	ctx := logging.With(context.Background(), logging.New(t.Output(), slog.LevelInfo))
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	e.clock = e.clock.Add(time.Hour)
	at := e.clock
	res, err := NewWorker(StorageDeps(e.cursors, e.archive), o).Run(ctx, testIntegration,
		WorkItem{Integration: testIntegration.ID, Family: catalog.Directory, Reason: ReasonSchedule}, fmt.Sprintf("inv-%d", at.Unix()),
		testGraph(t, e.srv), func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Run.Errors) > 0 {
		t.Logf("run errors: %+v", res.Run.Errors)
	}
	return res
}

func (e *roundsEnv) check(t *testing.T, stage string) {
	t.Helper()
	got, want := replayUsers(t, e.testEnv), e.g.live()
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%s: user %s archived as %q, want %q", stage, id, got[id], v)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: user %s archived but gone", stage, id)
		}
	}
}

func roundOptions() *Options {
	o := fastOptions()
	o.RoundPart = 4 // a part and a checkpoint every two pages
	return o
}

// TestRoundsFullThenDelta: the first round reads every user into parts of a snapshot folder, its manifest last,
// then the deltaLink; later rounds archive only the changes, creations, updates and deletions, in delta folders;
// replaying the archive gives the directory's state after every round.
func TestRoundsFullThenDelta(t *testing.T) {
	e := newRoundsEnv(t, 10)
	res := e.collect(t, roundOptions(), 0)
	if len(res.Run.Errors) > 0 || res.Continue {
		t.Fatalf("first run: errors %v, continue %v", res.Run.Errors, res.Continue)
	}
	e.check(t, "after the full round")
	c, err := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	if err != nil {
		t.Fatal(err)
	}
	if c.DeltaLink == "" || !c.LastFull.Equal(c.LastRound) || c.Objects != 10 || c.InRound() {
		t.Fatalf("cursor after the full round: %+v", c)
	}
	rounds, _ := e.archive.Rounds(context.Background(), testIntegration.ID, "users")
	// Parts close at the first page boundary past RoundPart: 6 records (two pages of 3), then the last 4.
	if len(rounds) != 1 || !rounds[0].Full || len(rounds[0].Parts) != 2 || rounds[0].Parts[0].Records != 6 || rounds[0].Records != 10 ||
		rounds[0].Reason != "initial" {
		t.Fatalf("rounds %+v: want one full round in parts of 6 and 4 records", rounds)
	}

	e.g.mu.Lock()
	e.g.set("u03", "Guest")
	e.g.remove("u05")
	e.g.set("u42", "Member")
	e.g.mu.Unlock()
	e.collect(t, roundOptions(), 0)
	e.check(t, "after a delta round")
	rounds, _ = e.archive.Rounds(context.Background(), testIntegration.ID, "users")
	if len(rounds) != 2 || rounds[1].Full || rounds[1].Records != 3 || rounds[1].Previous != rounds[0].Parts[0].Name[:strings.LastIndex(rounds[0].Parts[0].Name, "/")+1] {
		t.Fatalf("rounds %+v: want the full round and a delta round of 3 changes after it", rounds)
	}
	c2, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	if c2.DeltaLink == c.DeltaLink || c2.Changes != 3 || !c2.LastFull.Equal(c.LastFull) {
		t.Errorf("cursor after the delta round: %+v", c2)
	}
	// A round with nothing changed is a round too: an empty manifest, a new deltaLink.
	e.collect(t, roundOptions(), 0)
	e.check(t, "after an empty round")
}

// TestRoundsResumeAtCheckpoint: a round that meets the deadline commits what it read, checkpoints the next page
// and stops; the continuation resumes there, and the archive holds every user once.
func TestRoundsResumeAtCheckpoint(t *testing.T) {
	e := newRoundsEnv(t, 12)
	e.g.delay = 150 * time.Millisecond
	o := roundOptions()
	o.StopBefore, o.CommitBefore = 1800*time.Millisecond, 100*time.Millisecond
	res := e.collect(t, o, 2*time.Second)
	if !res.Continue {
		t.Fatalf("a round stopped by the deadline asks for no continuation: %+v", res.Run)
	}
	c, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	if !c.InRound() || c.Round.Next == "" || c.DeltaLink != "" {
		t.Fatalf("cursor after the deadline: %+v", c)
	}
	if rounds, _ := e.archive.Rounds(context.Background(), testIntegration.ID, "users"); len(rounds) != 0 {
		t.Fatalf("an unfinished round is visible: %+v", rounds)
	}
	e.g.delay = 0
	e.collect(t, roundOptions(), 0)
	e.check(t, "after the continuation")
	// The continuation finishes the full round, then reads the changes made meanwhile (none) in a delta round.
	rounds, _ := e.archive.Rounds(context.Background(), testIntegration.ID, "users")
	if len(rounds) != 2 || !rounds[0].Full || rounds[0].Records != 12 || rounds[1].Full || rounds[1].Records != 0 {
		t.Fatalf("rounds %+v: want one full round holding each of the 12 users once, then an empty delta round", rounds)
	}
}

// TestRoundsResync: Graph answers a deltaLink with 410 (or syncStateNotFound): the same run reads one clean full
// round, and no error is recorded.
func TestRoundsResync(t *testing.T) {
	e := newRoundsEnv(t, 5)
	e.collect(t, roundOptions(), 0)
	c, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	tok := c.DeltaLink[strings.LastIndex(c.DeltaLink, "=")+1:]
	e.g.mu.Lock()
	e.g.gone[tok] = true
	e.g.set("u07", "Member")
	e.g.mu.Unlock()
	res := e.collect(t, roundOptions(), 0)
	if len(res.Run.Errors) > 0 {
		t.Fatalf("a resync recorded errors: %+v", res.Run.Errors)
	}
	e.check(t, "after the resync")
	rounds, _ := e.archive.Rounds(context.Background(), testIntegration.ID, "users")
	if len(rounds) != 1 || !rounds[0].Full || !strings.HasPrefix(rounds[0].Reason, "resync: ") {
		t.Fatalf("rounds %+v: want one full round for the resync", rounds)
	}
	c2, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	if c2.Resync != "" || c2.DeltaLink == c.DeltaLink {
		t.Errorf("cursor after the resync: %+v", c2)
	}
	full := 0
	for _, r := range e.g.requests {
		if strings.Contains(r, "/users/delta?$select=") {
			full++
		}
	}
	if full != 2 {
		t.Errorf("%d full rounds started, want the initial one and one resync", full)
	}
}

// TestRoundsRestartAfterExpiredPageToken: a resumed round whose page link Graph no longer takes is read again
// from its first link, in a new folder; the old folder's parts are removed.
func TestRoundsRestartAfterExpiredPageToken(t *testing.T) {
	e := newRoundsEnv(t, 12)
	e.g.delay = 150 * time.Millisecond
	o := roundOptions()
	o.StopBefore, o.CommitBefore = 1800*time.Millisecond, 100*time.Millisecond
	e.collect(t, o, 2*time.Second)
	c, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
	if !c.InRound() {
		t.Fatal("the round finished before the deadline")
	}
	abandoned := archive.Round{Integration: testIntegration.ID, DataType: "users", Kind: archive.RoundKind(c.Round.Kind), Start: c.Round.Start}
	e.g.mu.Lock()
	e.g.expired, e.g.delay = true, 0
	e.g.pageSize = 20 // the restarted round needs no skip token
	e.g.mu.Unlock()
	res := e.collect(t, roundOptions(), 0)
	if len(res.Run.Errors) > 0 {
		t.Errorf("errors: %+v", res.Run.Errors)
	}
	e.check(t, "after the restart")
	if parts, _, _ := e.archive.RoundParts(context.Background(), abandoned); len(parts) != 0 {
		t.Errorf("the abandoned round kept %d parts", len(parts))
	}
}

// TestRoundsManifestWithoutCursor: a run that wrote a round's manifest and died before it moved the cursor; the
// next run finds the round finished and goes on from the deltaLink the cursor kept for it before the manifest. A
// cursor that did not keep it (written before Round.DeltaLink existed) asks for a full round instead: reading on
// from the older deltaLink would not undo what the finished round archived.
func TestRoundsManifestWithoutCursor(t *testing.T) {
	for _, tc := range []struct {
		name string
		kept bool // the cursor holds the finished round's deltaLink
	}{
		{"deltaLink kept before the manifest", true},
		{"deltaLink not kept", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRoundsEnv(t, 6)
			e.collect(t, roundOptions(), 0)
			before, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
			e.g.mu.Lock()
			e.g.set("u09", "Member")
			e.g.mu.Unlock()
			e.collect(t, roundOptions(), 0)
			after, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
			// Put the cursor back as the dying run left it: the delta round in progress, the old deltaLink.
			cur, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
			cur.DeltaLink, cur.DeltaAt, cur.LastRound, cur.Changes = before.DeltaLink, before.DeltaAt, before.LastRound, before.Changes
			cur.Round.Start, cur.Round.Kind = after.LastRound, string(archive.DeltaRound)
			if tc.kept {
				cur.Round.Complete, cur.Round.DeltaLink = true, after.DeltaLink
			}
			if err := e.cursors.Put(context.Background(), cur); err != nil {
				t.Fatal(err)
			}
			e.g.mu.Lock()
			seen := len(e.g.requests)
			e.g.mu.Unlock()
			e.collect(t, roundOptions(), 0)
			final, _ := e.cursors.Get(context.Background(), testIntegration.ID, "users")
			if final.InRound() || !final.LastRound.After(after.LastRound) || final.Resync != "" {
				t.Errorf("cursor %+v: want the found round closed and a new round read", final)
			}
			e.g.mu.Lock()
			requests := slices.Clone(e.g.requests[seen:])
			e.g.mu.Unlock()
			next := after.DeltaLink[strings.Index(after.DeltaLink, "/v1.0/"):]
			full := slices.ContainsFunc(requests, func(r string) bool { return strings.Contains(r, "/users/delta?$select=") })
			if tc.kept && (!slices.Contains(requests, next) || full) {
				t.Errorf("requests %v: want the next delta round read from the found round's deltaLink %s", requests, next)
			}
			if !tc.kept && !full {
				t.Errorf("requests %v: want a full round", requests)
			}
			e.check(t, "after the recovery")
		})
	}
}
