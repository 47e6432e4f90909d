package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/rawjson"
)

// readVersionKeys calls fn with the version key (catalog.DataType.VersionKey) of every record of a committed part.
func readVersionKeys(ctx context.Context, a Archive, name string, dt catalog.DataType, fn func(k string)) error {
	if dt.VersionField == "" {
		return a.ReadKeys(ctx, name, dt.DedupKey, fn)
	}
	return a.ReadRecords(ctx, name, func(record []byte) error {
		f, err := rawjson.Fields(record, dt.KeyFields()...)
		if err != nil {
			return err
		}
		fn(dt.VersionKey(f[0], f[1]))
		return nil
	})
}

// versionSet is what a versioned snapshot round knows of the versions: those archived before (the last finished
// round's state and this round's committed parts) and those the round has read.
type versionSet struct {
	known map[string]bool
	read  map[string]bool
}

// loadVersions prepares a versioned snapshot round: the last finished round's version keys, and the keys of the
// parts this round committed before it was interrupted (they count as read: a resumed round does not read those
// pages again).
func (c *roundCollector) loadVersions(ctx context.Context, folder archive.Round) (*versionSet, error) {
	arch := c.r.w.deps.Archive
	v := &versionSet{known: map[string]bool{}, read: map[string]bool{}}
	rounds, err := arch.Rounds(ctx, c.r.integ.ID, c.dt.Name)
	if err != nil {
		return nil, err
	}
	for _, m := range rounds {
		if m.Start.Equal(folder.Start) {
			continue
		}
		for _, k := range m.Versions {
			v.known[k] = true
		}
	}
	parts, _, err := arch.RoundParts(ctx, folder)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := readVersionKeys(ctx, arch, p.Name, c.dt, func(k string) { v.known[k], v.read[k] = true, true }); err != nil {
			return nil, err
		}
	}
	if c.cur.Round.Resumed {
		// The pages read before the interruption are not read again: their versions still held then are among the
		// known ones. A version superseded since is never served again, so keeping it is harmless.
		maps.Copy(v.read, v.known)
	}
	return v, nil
}

// recoverState rebuilds, for a round found with every part committed but no manifest (its run died in between),
// what its manifest records besides the parts: for a versioned data type the versions — the pages read are not
// known any more, so those of the last finished round and those this round archived, as a resumed round keeps
// them (a version superseded since is never served again) —, and for a hashed snapshot the content hash of the
// records its parts hold, which are the records the round read. Without them the next round would find no version
// known and archive every one again, or keep a snapshot of an unchanged collection.
func (c *roundCollector) recoverState(ctx context.Context, folder archive.Round, parts []archive.PartInfo) error {
	c.versions, c.hash = nil, nil
	if c.dt.VersionField != "" {
		v, err := c.loadVersions(ctx, folder)
		if err != nil {
			return err
		}
		maps.Copy(v.read, v.known)
		c.versions = v
	}
	if c.dt.Mode() == catalog.Snapshot && c.dt.Snapshot.Hashed {
		h := newContentHash()
		for _, p := range parts {
			if err := c.r.w.deps.Archive.ReadRecords(ctx, p.Name, func(rec []byte) error { h.add(rec); return nil }); err != nil {
				return err
			}
		}
		c.hash = h
	}
	return nil
}

// fresh reports whether a record read is a version not archived before, and notes it as read.
func (v *versionSet) fresh(dt catalog.DataType, raw []byte) (bool, error) {
	f, err := rawjson.Fields(raw, dt.KeyFields()...)
	if err != nil {
		return false, &RecordError{DataType: dt.Name, Field: dt.DedupKey, Problem: err.Error()}
	}
	if f[0] == "" {
		return false, &RecordError{DataType: dt.Name, Field: dt.DedupKey, Problem: "is missing or not a string"}
	}
	k := dt.VersionKey(f[0], f[1])
	v.read[k] = true
	if v.known[k] {
		return false, nil
	}
	v.known[k] = true
	return true, nil
}

// keys are the version keys the round read, sorted, for its manifest.
func (v *versionSet) keys() []string { return slices.Sorted(maps.Keys(v.read)) }

// contentHash is the SHA-256 of a snapshot's records, independent of their order: the sorted digests of the
// records, hashed.
type contentHash struct{ digests [][sha256.Size]byte }

func newContentHash() *contentHash { return &contentHash{} }

func (h *contentHash) add(raw []byte) { h.digests = append(h.digests, sha256.Sum256(raw)) }

func (h *contentHash) sum() string {
	slices.SortFunc(h.digests, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	all := sha256.New()
	for _, d := range h.digests {
		all.Write(d[:])
	}
	return hex.EncodeToString(all.Sum(nil))
}

// unchanged reports whether the round read the same content as the last snapshot kept.
func (c *roundCollector) unchanged(ctx context.Context) (bool, error) {
	rounds, err := c.r.w.deps.Archive.Rounds(ctx, c.r.integ.ID, c.dt.Name)
	if err != nil || len(rounds) == 0 {
		return false, err
	}
	last := rounds[len(rounds)-1]
	return last.ContentHash != "" && last.ContentHash == c.hash.sum(), nil
}
