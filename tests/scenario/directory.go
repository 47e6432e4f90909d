package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
)

// DirReport compares one delta data type's archive, replayed, with the tenant's directory at the time of the
// data type's last round.
type DirReport struct {
	DataType string
	// AsOf is the start of the last finished round: the state the archive should hold.
	AsOf time.Time
	// Objects is the number of objects the replayed archive holds.
	Objects int
	// Missing objects exist in the tenant but not in the archive; Extra the other way round; Stale are in both
	// with a property or membership that differs.
	Missing, Extra, Stale int
	// Examples name a few of the differences.
	Examples []string
	// Rounds is the number of finished rounds replayed (the newest full round and the delta rounds after it).
	Rounds int
}

// Line is the demo's verification line for the report.
func (r DirReport) Line() string {
	return fmt.Sprintf("verify %s objects=%d missing=%d extra=%d stale=%d", r.DataType, r.Objects, r.Missing, r.Extra, r.Stale)
}

// OK reports whether the replayed archive equals the tenant's directory.
func (r DirReport) OK() bool { return r.Rounds > 0 && r.Missing == 0 && r.Extra == 0 && r.Stale == 0 }

// dirObject is an object as the replay holds it: its properties and, for groups, roles and units, its members.
type dirObject struct {
	props   map[string]json.RawMessage
	members map[string]bool
}

// replay reads a delta data type's finished rounds — the newest full round, then every delta round after it — as
// Graph's delta documentation describes them: an item replaces the object's properties it carries, @removed
// drops the object, members@delta adds members or removes those marked @removed, and a group met again in the
// same round (its members split over pages) adds its next slice. This is the test's own reading, independent of
// internal/membership.
func replay(ctx context.Context, store *archive.Store, integration string, dt catalog.DataType) (map[string]*dirObject, int, error) {
	rounds, err := store.Rounds(ctx, integration, dt.Name)
	if err != nil {
		return nil, 0, err
	}
	state := map[string]*dirObject{}
	for _, m := range rounds {
		if m.Full {
			state = map[string]*dirObject{}
		}
		for _, p := range m.Parts {
			err := store.ReadRecords(ctx, p.Name, func(b []byte) error {
				var item map[string]json.RawMessage
				if err := json.Unmarshal(b, &item); err != nil {
					return err
				}
				var id string
				if err := json.Unmarshal(item["id"], &id); err != nil || id == "" {
					return fmt.Errorf("%s: an item without id: %s", p.Name, b)
				}
				if _, removed := item["@removed"]; removed {
					delete(state, id)
					return nil
				}
				o := state[id]
				if o == nil {
					o = &dirObject{props: map[string]json.RawMessage{}, members: map[string]bool{}}
					state[id] = o
				}
				for k, v := range item {
					if k != "members@delta" && k[0] != '@' {
						o.props[k] = v
					}
				}
				var members []struct {
					ID      string          `json:"id"`
					Removed json.RawMessage `json:"@removed"`
				}
				if raw, ok := item["members@delta"]; ok {
					if err := json.Unmarshal(raw, &members); err != nil {
						return fmt.Errorf("%s: members@delta: %w", p.Name, err)
					}
				}
				for _, mb := range members {
					if mb.Removed != nil {
						delete(o.members, mb.ID)
					} else {
						o.members[mb.ID] = true
					}
				}
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
		}
	}
	return state, len(rounds), nil
}

// VerifyDirectory replays every delta data type's archive and compares it with the tenant's directory at the
// start of the data type's last round.
func (e *Env) VerifyDirectory(ctx context.Context) ([]DirReport, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	store := archive.New(blobs, e.Settings["RAW_CONTAINER"])
	var out []DirReport
	for _, dt := range catalog.InMode(catalog.Delta) {
		c, err := e.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, err
		}
		r := DirReport{DataType: dt.Name, AsOf: c.LastRound}
		got, rounds, err := replay(ctx, store, Integration, dt)
		if err != nil {
			return nil, err
		}
		r.Rounds, r.Objects = rounds, len(got)
		if rounds == 0 {
			out = append(out, r)
			continue
		}
		truth, err := e.Tenant.DirectoryAt(dt.Name, c.LastRound, dt.Delta.Select)
		if err != nil {
			return nil, err
		}
		note := func(format string, args ...any) {
			if len(r.Examples) < 5 {
				r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
			}
		}
		want := map[string]bool{}
		for _, o := range truth {
			want[o.ID] = true
			a := got[o.ID]
			if a == nil {
				r.Missing++
				note("missing %s", o.ID)
				continue
			}
			for k, v := range o.Props {
				if !sameJSON(a.props[k], v) {
					r.Stale++
					note("%s: %s is %s, want %s", o.ID, k, a.props[k], v)
					break
				}
			}
			if dt.Delta.Members {
				keys := make([]string, 0, len(a.members))
				for m := range a.members {
					keys = append(keys, m)
				}
				slices.Sort(keys)
				wantMembers := slices.Sorted(slices.Values(o.Members))
				if !slices.Equal(keys, wantMembers) {
					r.Stale++
					note("%s: members %v, want %v", o.ID, keys, wantMembers)
				}
			}
		}
		for id := range got {
			if !want[id] {
				r.Extra++
				note("extra %s", id)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// sameJSON compares two JSON values ignoring insignificant whitespace.
func sameJSON(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// FullRounds counts a data type's finished full rounds in the archive (snapshot folders with a manifest).
func (e *Env) FullRounds(ctx context.Context, dataType string) (int, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return 0, err
	}
	prefix := fmt.Sprintf("integration=%s/type=%s/%s=", Integration, dataType, archive.SnapshotRound)
	pager := blobs.NewListBlobsFlatPager(e.Settings["RAW_CONTAINER"], &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, b := range page.Segment.BlobItems {
			if strings.HasSuffix(*b.Name, "/"+archive.ManifestFile) {
				n++
			}
		}
	}
	return n, nil
}

// Replayed returns a delta data type's objects as its archive replays (the newest full round and the delta
// rounds after it): id → properties.
func (e *Env) Replayed(ctx context.Context, dataType string) (map[string]map[string]json.RawMessage, error) {
	dt, ok := catalog.Lookup(dataType)
	if !ok || dt.Mode() != catalog.Delta {
		return nil, fmt.Errorf("scenario: %q is not a delta data type", dataType)
	}
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	state, _, err := replay(ctx, archive.New(blobs, e.Settings["RAW_CONTAINER"]), Integration, dt)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]json.RawMessage, len(state))
	for id, o := range state {
		out[id] = o.props
	}
	return out, nil
}

// ArchivedValues counts the values a string field takes in every record of a data type's archive, in any part of
// any partition (finished rounds or not).
func (e *Env) ArchivedValues(ctx context.Context, dataType, field string) (map[string]int, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	store := archive.New(blobs, e.Settings["RAW_CONTAINER"])
	prefix := fmt.Sprintf("integration=%s/type=%s/", Integration, dataType)
	pager := blobs.NewListBlobsFlatPager(e.Settings["RAW_CONTAINER"], &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	ids := map[string]int{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			if !strings.HasSuffix(*b.Name, ".ndjson.gz") {
				continue
			}
			err := store.ReadRecords(ctx, *b.Name, func(rec []byte) error {
				var o map[string]json.RawMessage
				if err := json.Unmarshal(rec, &o); err != nil {
					return err
				}
				var v string
				_ = json.Unmarshal(o[field], &v)
				ids[v]++
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}
