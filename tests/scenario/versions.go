package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/rawjson"
)

// VerifyVersions checks every versioned snapshot data type (risky users, service principals and agents: one record
// per id and risk last-updated time) against the tenant's truth: every version the tenant held when one of the data
// type's rounds read it is archived (missing), none is archived twice over all rounds (duplicates), and none is
// archived that the tenant never served (extra). A version that came and went between two reads (a risk raised and
// raised again within the hour) was never there to read: a snapshot cannot have it, so it is not missing. Records
// counts the versions archived.
func (e *Env) VerifyVersions(ctx context.Context) ([]Report, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	store := archive.New(blobs, e.Settings["RAW_CONTAINER"])
	var out []Report
	for _, dt := range catalog.InMode(catalog.Snapshot) {
		if dt.VersionField == "" || !e.Licensed(dt) {
			continue
		}
		c, err := e.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, err
		}
		r := Report{DataType: dt.Name, State: c.State, To: c.LastRound}
		if c.LastRound.IsZero() {
			out = append(out, r)
			continue
		}
		got := map[string]int{}
		var reads []time.Time // the rounds' starts (their folders' stamps): when the collection was read
		prefix := fmt.Sprintf("integration=%s/type=%s/", Integration, dt.Name)
		pager := blobs.NewListBlobsFlatPager(e.Settings["RAW_CONTAINER"], &azblob.ListBlobsFlatOptions{Prefix: &prefix})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, b := range page.Segment.BlobItems {
				if _, rest, ok := strings.Cut(*b.Name, "/"+string(archive.SnapshotRound)+"="); ok {
					stamp, _, _ := strings.Cut(rest, "/")
					if at, err := time.Parse("20060102T150405Z", stamp); err == nil && !slices.Contains(reads, at) {
						reads = append(reads, at)
					}
				}
				if !strings.HasSuffix(*b.Name, ".ndjson.gz") {
					continue
				}
				r.Parts++
				err := store.ReadRecords(ctx, *b.Name, func(rec []byte) error {
					f, err := rawjson.Fields(rec, dt.DedupKey, dt.VersionField)
					if err != nil {
						return err
					}
					at, err := time.Parse(time.RFC3339Nano, f[1])
					if err != nil {
						return fmt.Errorf("%s %q: %w", dt.VersionField, f[1], err)
					}
					k := versionKey(dt, f[0], at)
					if got[k]++; got[k] == 2 {
						r.Duplicates++
					}
					return nil
				})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", *b.Name, err)
				}
			}
		}
		r.Records = len(got)
		asOf, err := e.Tenant.RiskVersions(dt.Name, c.LastRound)
		if err != nil {
			return nil, err
		}
		for _, v := range asOf {
			read := func(at time.Time) bool { return !v.At.After(at) && (v.Until.IsZero() || at.Before(v.Until)) }
			if !slices.ContainsFunc(reads, read) {
				continue // no round read it
			}
			if got[versionKey(dt, v.ID, v.At)] == 0 {
				r.Missing++
			}
		}
		now, err := e.Tenant.RiskVersions(dt.Name, e.Clock.Now())
		if err != nil {
			return nil, err
		}
		served := map[string]bool{}
		for _, v := range now {
			served[versionKey(dt, v.ID, v.At)] = true
		}
		for k := range got {
			if !served[k] {
				r.Extra++
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// VerifySnapshots checks the snapshot data types the tenant has a truth for (Conditional Access policies, named
// locations, the registration report, Intune's devices, configurations and apps, the agent registry) against it:
// the newest snapshot kept must be the collection as the tenant served it at the data type's last read (for a
// hashed snapshot an unchanged read keeps none, so the newest kept one must still hold). An object the tenant has
// but the snapshot lacks, or holds with another value of one of its properties, is missing; one the tenant does not
// have is extra; an id twice in the snapshot a duplicate.
func (e *Env) VerifySnapshots(ctx context.Context) ([]Report, error) {
	store, err := e.Archive()
	if err != nil {
		return nil, err
	}
	var out []Report
	for _, name := range []string{"userRegistrationDetails", "conditionalAccessPolicies", "namedLocations",
		"managedDevices", "deviceConfigurations", "mobileApps", "agentInstances", "agentCardManifests"} {
		dt, _ := catalog.Lookup(name)
		if !e.Licensed(dt) {
			continue
		}
		c, err := e.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, err
		}
		r := Report{DataType: dt.Name, State: c.State, To: c.LastRound}
		rounds, err := store.Rounds(ctx, Integration, dt.Name)
		if err != nil {
			return nil, err
		}
		if len(rounds) == 0 {
			out = append(out, r)
			continue
		}
		got := map[string]map[string]json.RawMessage{}
		for _, p := range rounds[len(rounds)-1].Parts {
			r.Parts++
			err := store.ReadRecords(ctx, p.Name, func(b []byte) error {
				var o map[string]json.RawMessage
				if err := json.Unmarshal(b, &o); err != nil {
					return err
				}
				var id string
				if err := json.Unmarshal(o["id"], &id); err != nil {
					return fmt.Errorf("a record without id: %s", b)
				}
				if got[id] != nil {
					r.Duplicates++
				}
				got[id] = o
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		r.Records = len(got)
		truth, err := e.Tenant.SnapshotAt(dt.Name, c.LastRound)
		if err != nil {
			return nil, err
		}
		for id, want := range truth {
			have := got[id]
			if have == nil {
				r.Missing++
				continue
			}
			for k, v := range want {
				if !sameJSON(have[k], v) {
					r.Missing++
					break
				}
			}
		}
		for id := range got {
			if truth[id] == nil {
				r.Extra++
			}
		}
		out = append(out, r)
	}
	return out, nil
}
