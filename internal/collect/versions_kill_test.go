package collect

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/entrasim"
)

// newProtectionEnv is a P2 tenant whose Identity Protection and Conditional Access data (the protection family) is
// collected. Its history holds remediated user risk: risky users with their versions, whatever the churn.
func newProtectionEnv(t *testing.T) *killEnv {
	integ := testIntegration
	integ.Licences = map[catalog.Licence]integrations.Answer{catalog.EntraP1P2: integrations.Yes, catalog.EntraP2: integrations.Yes,
		catalog.WorkloadIdentitiesPremium: integrations.No}
	return newFamilyKillEnv(t, catalog.Protection, entrasim.Options{Seed: 7, Users: 40, History: 3 * 24 * time.Hour,
		Licences: []entrasim.Licence{entrasim.LicenceP2}}, integ)
}

// manifest reads the manifest of the data type's snapshot round that started at start (ok false: none).
func (e *killEnv) manifest(t *testing.T, dataType string, start time.Time) (archive.Manifest, bool) {
	t.Helper()
	m, err := e.archive.ReadManifest(context.Background(), archive.Round{Integration: testIntegration.ID, DataType: dataType,
		Kind: archive.SnapshotRound, Start: start})
	if errors.Is(err, archive.ErrNoManifest) {
		return m, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return m, true
}

// TestSnapshotFinishedAfterKill: a versioned or hashed snapshot round dies after its every part is committed and
// the cursor says so, before its manifest. The next run finds the round complete and writes the manifest; the
// manifest must say what a manifest written by the round itself says — the versions the collection held (else the
// next round finds none known and archives every version again) and the content hash (else the next round keeps a
// snapshot of an unchanged collection).
func TestSnapshotFinishedAfterKill(t *testing.T) {
	for _, dataType := range []string{"riskyUsers", "conditionalAccessPolicies"} {
		t.Run(dataType, func(t *testing.T) {
			ctx := context.Background()
			dt, _ := catalog.Lookup(dataType)
			e := newProtectionEnv(t)
			e.collect(t, &killSwitch{at: func(w string) bool { return w == "cursor "+dataType+" complete" }})
			c, err := e.cursors.Get(ctx, testIntegration.ID, dataType)
			if err != nil {
				t.Fatal(err)
			}
			first := c.Round.Start
			if _, ok := e.manifest(t, dataType, first); ok || !c.Round.Complete {
				t.Fatalf("the killed round: manifest %v, cursor %s; want every part committed and no manifest", ok, describeCursor(c))
			}
			e.collect(t, nil) // finds the round complete: writes its manifest, moves the cursor
			m, ok := e.manifest(t, dataType, first)
			if !ok {
				t.Fatal("the next run did not finish the killed round")
			}
			t.Logf("finished by the next run: %d records, %d versions, content hash %q", m.Records, len(m.Versions), m.ContentHash)
			e.clock.Advance(time.Hour) // nothing changes: no churn
			e.collect(t, nil)
			if c, err = e.cursors.Get(ctx, testIntegration.ID, dataType); err != nil {
				t.Fatal(err)
			}
			if !c.LastRound.After(first) || c.InRound() {
				t.Fatalf("cursor %s: want a second round finished", describeCursor(c))
			}
			second, kept := e.manifest(t, dataType, c.LastRound)
			if dt.Snapshot.Hashed {
				if m.ContentHash == "" {
					t.Error("the manifest written by the next run has no content hash")
				}
				if kept {
					t.Errorf("the second read kept a snapshot (%d records) of an unchanged collection", second.Records)
				}
				return
			}
			if len(m.Versions) == 0 || len(m.Versions) != m.Records {
				t.Errorf("the manifest written by the next run lists %d versions for its %d records", len(m.Versions), m.Records)
			}
			if m.Records == 0 {
				t.Fatal("no version archived: the tenant has no risky users")
			}
			seen := map[string]int{}
			for _, mf := range []archive.Manifest{m, second} {
				for _, p := range mf.Parts {
					if err := readVersionKeys(ctx, blobArchive{e.archive}, p.Name, dt, func(k string) { seen[k]++ }); err != nil {
						t.Fatal(err)
					}
				}
			}
			for k, n := range seen {
				if n > 1 {
					t.Errorf("version %s archived %d times", k, n)
				}
			}
		})
	}
}

// TestRoundPageReadAgain: a snapshot page whose body fails midway (cut in the middle of its value array, after
// some whole objects) is read again by the Graph client. The objects of the failed read must not stay in the
// round's part besides the same objects of the read that succeeded: each object once in the snapshot, and the
// content hash that of the collection (a second read of the unchanged collection keeps nothing).
func TestRoundPageReadAgain(t *testing.T) {
	ctx := context.Background()
	e := newProtectionEnv(t)
	const dataType = "conditionalAccessPolicies"
	id, err := e.tn.AddFault(entrasim.FaultRule{Kind: entrasim.FaultTruncate, Path: "/v1.0/identity/conditionalAccess/policies", Nth: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.collect(t, nil)
	if fs := e.tn.Faults(); len(fs) != 1 || fs[0].Fired != 1 {
		t.Fatalf("faults %+v: want the truncation fired once", fs)
	}
	e.tn.RemoveFault(id)
	c, err := e.cursors.Get(ctx, testIntegration.ID, dataType)
	if err != nil {
		t.Fatal(err)
	}
	first, ok := e.manifest(t, dataType, c.LastRound)
	if !ok {
		t.Fatalf("no snapshot kept: %s", describeCursor(c))
	}
	ids := map[string]int{}
	for _, p := range first.Parts {
		if err := e.archive.ReadKeys(ctx, p.Name, "id", func(k string) { ids[k]++ }); err != nil {
			t.Fatal(err)
		}
	}
	for k, n := range ids {
		if n > 1 {
			t.Errorf("policy %s archived %d times in one snapshot", k, n)
		}
	}
	if len(ids) < 2 {
		t.Fatalf("%d policies: too few for a page cut after a whole one", len(ids))
	}
	e.clock.Advance(time.Hour)
	e.collect(t, nil)
	if c, err = e.cursors.Get(ctx, testIntegration.ID, dataType); err != nil {
		t.Fatal(err)
	}
	if m, kept := e.manifest(t, dataType, c.LastRound); kept && c.LastRound.After(first.Start) {
		t.Errorf("the second read of the unchanged policies kept a snapshot (%d records; the first has %d)", m.Records, first.Records)
	}
}

// TestObjectTargetsPageReadAgain: the page of targets of a per-object data type (the users whose mailbox settings
// are read) is cut midway and read again by the Graph client. The targets of the failed read must not be read, and
// archived, besides those of the read that succeeded: each user once in the snapshot.
func TestObjectTargetsPageReadAgain(t *testing.T) {
	ctx := context.Background()
	integ := testIntegration
	integ.Mode, integ.DataTypes = integrations.Custom, map[string]bool{"mailboxSettings": true}
	e := newFamilyKillEnv(t, catalog.Directory, entrasim.Options{Seed: 5, Users: 30, History: time.Hour}, integ)
	if _, err := e.tn.AddFault(entrasim.FaultRule{Kind: entrasim.FaultTruncate, Path: "/v1.0/users", Nth: 1}); err != nil {
		t.Fatal(err)
	}
	e.collect(t, nil)
	if fs := e.tn.Faults(); len(fs) != 1 || fs[0].Fired != 1 {
		t.Fatalf("faults %+v: want the truncation fired once", fs)
	}
	c, err := e.cursors.Get(ctx, integ.ID, "mailboxSettings")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := e.manifest(t, "mailboxSettings", c.LastRound)
	if !ok {
		t.Fatalf("no snapshot kept: %s", describeCursor(c))
	}
	ids := map[string]int{}
	for _, p := range m.Parts {
		if err := e.archive.ReadKeys(ctx, p.Name, "id", func(k string) { ids[k]++ }); err != nil {
			t.Fatal(err)
		}
	}
	for k, n := range ids {
		if n > 1 {
			t.Errorf("user %s archived %d times in one snapshot", k, n)
		}
	}
	if len(ids) < 2 {
		t.Fatalf("%d users archived: too few for a page cut after a whole one", len(ids))
	}
}
