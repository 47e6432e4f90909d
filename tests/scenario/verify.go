package scenario

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/tests/entrasim"
)

// Report compares one data type's archive with the tenant's ground truth.
type Report struct {
	DataType string
	// From and To bound the compared buckets.
	From, To time.Time
	// Records is the number of distinct records archived in [From, To).
	Records int
	// Missing are truth ids not archived; Extra archived ids the truth does not have in [From, To).
	Missing, Extra int
	// Duplicates counts records archived more than once, over the whole archive of the data type.
	Duplicates int
	// Parts is the number of blobs; BadParts those whose metadata count differs from their lines.
	Parts    int
	BadParts []string
	// State is the cursor's state (ok, not-licensed, …).
	State string
	// Absent, for a per-object data type, counts the records of targets that have none of the data: a user without
	// a mailbox, a listed user that does not exist.
	Absent int
	// Examples name a few of the differences.
	Examples []string
}

// Line is the demo's verification line for the report.
func (r Report) Line() string {
	return fmt.Sprintf("verify %s records=%d missing=%d duplicates=%d", r.DataType, r.Records, r.Missing, r.Duplicates)
}

// OK reports whether the archive equals the truth.
func (r Report) OK() bool {
	return r.Missing == 0 && r.Extra == 0 && r.Duplicates == 0 && len(r.BadParts) == 0
}

// Verify checks every data type's archive against the truth as of now. settled limits the comparison to buckets
// whose last re-sweep is done (late events up to the last re-sweep delay are then all in); otherwise every
// archived bucket is compared.
func (e *Env) Verify(ctx context.Context, settled bool) ([]Report, error) {
	return e.VerifyAsOf(ctx, settled, e.Clock.Now())
}

// VerifyAsOf is Verify for a collection that began at asOf while the clock ran on: an event counts as missing only
// if it was visible at asOf (an event that became visible while the collection ran may rightly wait for the next
// re-sweep), and as extra only if the truth does not have it now.
func (e *Env) VerifyAsOf(ctx context.Context, settled bool, asOf time.Time) ([]Report, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	container := e.Settings["RAW_CONTAINER"]
	store := archive.New(blobs, container)
	now := e.Clock.Now()
	var out []Report
	for _, dt := range catalog.InMode(catalog.Buckets) {
		if !e.Licensed(dt) {
			continue // the tenant cannot have it (the licence tests check its parked state)
		}
		c, err := e.Cursor(ctx, dt.Name)
		if err != nil {
			return nil, err
		}
		r := Report{DataType: dt.Name, State: c.State, From: c.Low, To: c.High}
		// Events older than the tenant's retention are gone from the truth as they are from Graph; compare from the
		// first bucket still wholly kept.
		if kept := now.Add(-time.Duration(dt.Retention(e.premium)) * 24 * time.Hour).Truncate(dt.Buckets.Bucket).Add(dt.Buckets.Bucket); kept.After(r.From) {
			r.From = kept
		}
		if settled && len(c.Resweep) > 0 && c.Resweep[len(c.Resweep)-1].Before(r.To) {
			r.To = c.Resweep[len(c.Resweep)-1]
		}
		if !c.Started() {
			out = append(out, r)
			continue
		}
		ids, inRange := map[string]int{}, map[string]bool{}
		parts, err := store.Parts(ctx, Integration, dt.Name, c.Low.Add(-24*time.Hour), c.High.Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		for _, ps := range parts {
			for _, p := range ps {
				r.Parts++
				content, md, err := store.ReadAll(ctx, p.Name)
				if err != nil {
					return nil, err
				}
				lines := bytes.Count(content, []byte{'\n'})
				if want, _ := strconv.Atoi(md[archive.MetaRecords]); want != lines {
					r.BadParts = append(r.BadParts, fmt.Sprintf("%s: metadata records %s, %d lines", p.Name, md[archive.MetaRecords], lines))
				}
				for _, line := range bytes.Split(bytes.TrimSuffix(content, []byte{'\n'}), []byte{'\n'}) {
					if len(line) == 0 {
						continue
					}
					// A versioned stream (risk detections) is archived once per version: id and time field.
					key, at, err := RecordKey(dt, line)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", p.Name, err)
					}
					ids[key]++
					if ids[key] == 2 {
						r.Duplicates++
					}
					if !at.Before(r.From) && at.Before(r.To) {
						inRange[key] = true
					}
				}
			}
		}
		truth, err := e.truth(dt, r.From, r.To, now)
		if err != nil {
			return nil, err
		}
		want := make(map[string]bool, len(truth))
		for _, id := range truth {
			want[id] = true
		}
		if asOf.Before(now) {
			if truth, err = e.truth(dt, r.From, r.To, asOf); err != nil {
				return nil, err
			}
		}
		for _, id := range truth {
			if ids[id] == 0 {
				r.Missing++
			}
		}
		r.Records = len(inRange)
		for id := range inRange {
			if !want[id] {
				r.Extra++
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// versionKey is the key the verification counts a record under: its id, and for a versioned data type its
// version's time as well.
func versionKey(dt catalog.DataType, id string, version time.Time) string {
	if dt.VersionField == "" {
		return id
	}
	return id + "|" + version.UTC().Format(time.RFC3339Nano)
}

// truth is the tenant's ground truth of a log stream in [from, to) as of asOf: event ids, or for a versioned data
// type every version served by then whose time lies in [from, to).
func (e *Env) truth(dt catalog.DataType, from, to, asOf time.Time) ([]string, error) {
	if dt.VersionField == "" {
		return e.Tenant.Truth(dt.Name, from, to, asOf)
	}
	evs, err := e.TruthEvents(dt, from, to, asOf)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out, nil
}

// TruthEvents is the tenant's ground truth of any data type collected in time buckets, in [from, to) as of asOf
// (a zero bound leaves that side open), each event under the key RecordKey gives its archived record: a log
// stream's events, or for a versioned data type (risk detections) every version Graph served by then, visible from
// its own time and keyed by id and version.
func (e *Env) TruthEvents(dt catalog.DataType, from, to, asOf time.Time) ([]entrasim.TruthEvent, error) {
	if dt.VersionField == "" {
		return e.Tenant.TruthEvents(dt.Name, from, to, asOf)
	}
	vs, err := e.Tenant.RiskVersions(dt.Name, asOf)
	if err != nil {
		return nil, err
	}
	var out []entrasim.TruthEvent
	for _, v := range vs {
		if !v.At.Before(from) && (to.IsZero() || v.At.Before(to)) {
			out = append(out, entrasim.TruthEvent{ID: versionKey(dt, v.ID, v.At), Time: v.At, Visible: v.At})
		}
	}
	return out, nil
}

// RecordKey is the key an archived record of a data type collected in time buckets counts under, and its time: its
// DedupKey value, and for a versioned data type its version's time as well (as TruthEvents keys the truth).
func RecordKey(dt catalog.DataType, line []byte) (string, time.Time, error) {
	f, err := rawjson.Fields(line, dt.DedupKey, dt.Buckets.TimeField)
	if err != nil {
		return "", time.Time{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s %q: %w", dt.Buckets.TimeField, f[1], err)
	}
	return versionKey(dt, f[0], at), at, nil
}

// VersionKey is RecordKey for a record whose id and time were read apart (by DuckDB, say).
func VersionKey(dt catalog.DataType, id string, at time.Time) string { return versionKey(dt, id, at) }
