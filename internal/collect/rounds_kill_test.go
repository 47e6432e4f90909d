package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/tests/entrasim"
)

// errDead is what every write of a killed run answers: the process is gone.
var errDead = errors.New("test: the run was killed")

// killSwitch models a SIGKILL right after one chosen write succeeds — an archive write (named by its blob) or a
// cursor write (cursorWrite): from then on no cursor, part or manifest is written, and the run's context ends.
type killSwitch struct {
	mu     sync.Mutex
	at     func(write string) bool // the write after which the run dies
	dead   bool
	cancel context.CancelFunc
}

func (k *killSwitch) check() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return errDead
	}
	return nil
}

func (k *killSwitch) wrote(write string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.dead && k.at(write) {
		k.dead = true
		k.cancel()
	}
}

type dyingCursors struct {
	Cursors
	k *killSwitch
}

func (d dyingCursors) Put(ctx context.Context, c *cursor.Cursor) error {
	if err := d.k.check(); err != nil {
		return err
	}
	if err := d.Cursors.Put(ctx, c); err != nil {
		return err
	}
	d.k.wrote(cursorWrite(c))
	return nil
}

// cursorWrite names a cursor write for a kill point: "cursor <data type>", with " complete" when the cursor keeps
// a round whose every part is committed and whose manifest is left to write.
func cursorWrite(c *cursor.Cursor) string {
	if c.Round.Complete {
		return "cursor " + c.DataType + " complete"
	}
	return "cursor " + c.DataType
}

type dyingArchive struct {
	Archive
	k *killSwitch
}

func (d dyingArchive) NewPart(p archive.Partition, n int, source, sweep string) Part {
	return dyingPart{Part: d.Archive.NewPart(p, n, source, sweep), k: d.k}
}

func (d dyingArchive) WriteManifest(ctx context.Context, r archive.Round, m archive.Manifest) error {
	if err := d.k.check(); err != nil {
		return err
	}
	if err := d.Archive.WriteManifest(ctx, r, m); err != nil {
		return err
	}
	d.k.wrote(r.ManifestName())
	return nil
}

func (d dyingArchive) DeleteRound(ctx context.Context, r archive.Round) error {
	if err := d.k.check(); err != nil {
		return err
	}
	return d.Archive.DeleteRound(ctx, r)
}

type dyingPart struct {
	Part
	k *killSwitch
}

func (p dyingPart) Stage(ctx context.Context) error {
	if err := p.k.check(); err != nil {
		return err
	}
	return p.Part.Stage(ctx)
}

func (p dyingPart) Commit(ctx context.Context) error {
	if err := p.k.check(); err != nil {
		return err
	}
	if err := p.Part.Commit(ctx); err != nil {
		return err
	}
	p.k.wrote(p.Name())
	return nil
}

// killEnv is a simulated tenant (pinned delta rounds, members@delta as net changes between two positions, as
// Graph reports them) collected into Azurite, one family's work item at a time, with a clock the test moves.
type killEnv struct {
	testEnv
	tn     *entrasim.Tenant
	clock  *entrasim.SimClock
	srv    *httptest.Server
	family catalog.Family
	integ  integrations.Integration
}

// newKillEnv is a small tenant without log streams whose directory family is collected.
func newKillEnv(t *testing.T) *killEnv {
	return newFamilyKillEnv(t, catalog.Directory, entrasim.Options{Seed: 11, Users: 40, Groups: 8, History: time.Hour}, testIntegration)
}

// newFamilyKillEnv is a tenant of the given options (its log streams off) whose family is collected for integ.
func newFamilyKillEnv(t *testing.T, family catalog.Family, opts entrasim.Options, integ integrations.Integration) *killEnv {
	t.Helper()
	clock := entrasim.NewSimClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	v := &anyToken{}
	opts.Streams = map[string]entrasim.StreamOptions{}
	for _, name := range entrasim.StreamNames() {
		opts.Streams[name] = entrasim.StreamOptions{Rate: -1}
	}
	opts.Clock, opts.Verifier, opts.DisableThrottling = clock, v, true
	tn, err := entrasim.New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	v.tenant, v.app = tn.TenantID(), tn.ClientID()
	srv := httptest.NewTLSServer(tn.Handler())
	t.Cleanup(srv.Close)
	return &killEnv{testEnv: newTestEnv(t), tn: tn, clock: clock, srv: srv, family: family, integ: integ}
}

// collect runs one work item of the family at the simulated now; with k, the run dies at k's write.
func (e *killEnv) collect(t *testing.T, k *killSwitch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx = logging.With(ctx, logging.New(t.Output(), slog.LevelInfo))
	deps := StorageDeps(e.cursors, e.archive)
	if k != nil {
		ctx, k.cancel = context.WithCancel(ctx)
		deps.Cursors, deps.Archive = dyingCursors{deps.Cursors, k}, dyingArchive{deps.Archive, k}
	}
	o := fastOptions()
	o.BackfillDays = 1
	if k != nil {
		// The killed run's lease is not released: it must expire before the next run.
		o.LeaseTTL = time.Second
		defer time.Sleep(o.LeaseTTL + 200*time.Millisecond)
	}
	now := e.clock.Now()
	_, err := NewWorker(deps, o).Run(ctx, e.integ,
		WorkItem{Integration: e.integ.ID, Family: e.family, Reason: ReasonSchedule},
		fmt.Sprintf("inv-%d", now.Unix()), testGraph(t, e.srv), func() time.Time { return now })
	switch {
	case k != nil && !k.dead:
		t.Fatal("the run finished before its kill point")
	case k == nil && err != nil:
		t.Fatal(err)
	}
}

// groupsReplayed is the test's own reading of the archived groups: the newest full round and the delta rounds
// after it, members@delta adding members and removing those marked @removed.
func (e *killEnv) groupsReplayed(t *testing.T) map[string]map[string]bool {
	t.Helper()
	ctx := context.Background()
	rounds, err := e.archive.Rounds(ctx, testIntegration.ID, "groups")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]map[string]bool{}
	for _, m := range rounds {
		for _, p := range m.Parts {
			err := e.archive.ReadRecords(ctx, p.Name, func(b []byte) error {
				var g struct {
					ID      string          `json:"id"`
					Removed json.RawMessage `json:"@removed"`
					Members []struct {
						ID      string          `json:"id"`
						Removed json.RawMessage `json:"@removed"`
					} `json:"members@delta"`
				}
				if err := json.Unmarshal(b, &g); err != nil {
					return err
				}
				if g.Removed != nil {
					delete(state, g.ID)
					return nil
				}
				if state[g.ID] == nil {
					state[g.ID] = map[string]bool{}
				}
				for _, mb := range g.Members {
					if mb.Removed != nil {
						delete(state[g.ID], mb.ID)
					} else {
						state[g.ID][mb.ID] = true
					}
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

// check compares the replayed groups with the tenant's groups at the start of the last finished round.
func (e *killEnv) check(t *testing.T) {
	t.Helper()
	c, err := e.cursors.Get(context.Background(), testIntegration.ID, "groups")
	if err != nil {
		t.Fatal(err)
	}
	if c.InRound() || c.LastRound.IsZero() {
		t.Fatalf("groups cursor: a round in progress or none finished: %s", describeCursor(c))
	}
	truth, err := e.tn.DirectoryAt("groups", c.LastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := e.groupsReplayed(t)
	for _, g := range truth {
		members := slices.Sorted(func(yield func(string) bool) {
			for m := range got[g.ID] {
				if !yield(m) {
					return
				}
			}
		})
		if want := slices.Sorted(slices.Values(g.Members)); !slices.Equal(members, want) {
			t.Errorf("group %s replays with members %v, want %v", g.ID, members, want)
		}
	}
	if len(got) != len(truth) {
		t.Errorf("%d groups replayed, the tenant has %d", len(got), len(truth))
	}
}

// TestRoundsKilledThenMemberRemoved: a delta round of groups reads a member's addition; the run is killed at a
// point of that round; the member is removed; the next runs collect on. Graph reports a group's members@delta
// as the net change between two positions, so a round read again from the old deltaLink does not mention a
// member added and removed since: the archive must never hold both the first read (the addition) and a later
// read from the same old deltaLink. Each kill point is one way that happened: the round's only part committed
// before its first checkpoint (the round resumed from its first link, later, into the same folder), and the
// manifest written before the cursor kept the round's deltaLink (the next round read from the old one).
func TestRoundsKilledThenMemberRemoved(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(blob string) bool
	}{
		{"after the round's only part, before its checkpoint", func(b string) bool {
			return strings.Contains(b, "/type=groups/delta=") && strings.HasSuffix(b, ".ndjson.gz")
		}},
		{"after the manifest, before the cursor moves", func(b string) bool {
			return strings.Contains(b, "/type=groups/delta=") && strings.HasSuffix(b, "/"+archive.ManifestFile)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKillEnv(t)
			e.collect(t, nil)
			e.check(t)
			groups, err := e.tn.DirectoryAt("groups", e.clock.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			group := groups[0]
			var member string
			for _, u := range e.tn.Users() {
				if !slices.Contains(group.Members, u.ID) {
					member = u.ID
					break
				}
			}
			e.clock.Advance(time.Hour)
			if ok, err := e.tn.SetGroupMember(group.ID, member, false); err != nil || !ok {
				t.Fatalf("add %s to %s: %v %v", member, group.ID, ok, err)
			}
			e.clock.Advance(time.Minute)
			e.collect(t, &killSwitch{at: tc.at})
			e.clock.Advance(30 * time.Minute)
			if ok, err := e.tn.SetGroupMember(group.ID, member, true); err != nil || !ok {
				t.Fatalf("remove %s from %s: %v %v", member, group.ID, ok, err)
			}
			e.clock.Advance(time.Minute)
			e.collect(t, nil)
			e.check(t)
			e.clock.Advance(time.Hour)
			e.collect(t, nil)
			e.check(t)
			if got := e.groupsReplayed(t)[group.ID]; got[member] {
				t.Errorf("group %s still holds %s, removed from it before the last two rounds", group.ID, member)
			}
		})
	}
}
