// Package cursor keeps the collector's state in Table Storage: one cursor per (integration, data type) — what
// has been archived, what is due again, why a data type is skipped —, one lease per (integration, throttle
// family) so that one worker at a time spends a family's budget, and one row per worker run. Every update uses
// the entity's ETag, so two instances can never silently overwrite each other.
package cursor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/text"
)

// Tables names the tables the package uses.
type Tables struct {
	Cursors, Leases, Runs string
}

// DefaultTables are the tables SPEC §6 names.
var DefaultTables = Tables{Cursors: "cursors", Leases: "leases", Runs: "runs"}

// Store reads and writes cursors, leases and runs.
type Store struct {
	cursors, leases, runs *aztables.Client
	svc                   *aztables.ServiceClient
	names                 Tables
}

// New returns a Store on the given tables (DefaultTables when t is nil).
func New(svc *aztables.ServiceClient, t *Tables) *Store {
	names := DefaultTables
	if t != nil {
		names = *t
	}
	return &Store{cursors: svc.NewClient(names.Cursors), leases: svc.NewClient(names.Leases), runs: svc.NewClient(names.Runs), svc: svc, names: names}
}

// Ensure creates the tables that do not exist yet.
func (s *Store) Ensure(ctx context.Context) error {
	for _, name := range []string{s.names.Cursors, s.names.Leases, s.names.Runs} {
		if _, err := s.svc.CreateTable(ctx, name, nil); err != nil && !hasCode(err, aztables.TableAlreadyExists) {
			return fmt.Errorf("create table %s: %w", name, err)
		}
	}
	return nil
}

func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// ErrConflict means the entity changed since it was read (ETag mismatch) or was created by someone else.
var ErrConflict = errors.New("cursor: changed by someone else")

// Data type states shown in Status.
const (
	StateOK                = "ok"
	StateNotLicensed       = "not-licensed"
	StateMissingPermission = "missing-permission"
	// StateNotAvailable: Graph does not serve a preview data type's endpoint to the tenant (catalog
	// DataType.Preview); parked like not-licensed and looked at again a day later.
	StateNotAvailable = "not-available"
	StateError        = "error"
)

// Cursor is the collection state of one data type of one integration.
//
// For a time-bucketed log stream, the archived buckets are always one contiguous range [Low, High): fresh
// buckets extend High, backfill (newest first) lowers Low until it reaches Target. Resweep[k] is the bucket
// end up to which re-sweep level k is done: every bucket ending at or before it was read again at least
// resweep-delay k after it closed (or first read that late).
//
// For a delta or snapshot data type, rounds are read one at a time. DeltaLink is where the next delta round
// starts; it moves only after a round's parts and manifest are committed. A round in progress (Round.Start set)
// is checkpointed after each committed part: Round.Next is the link of the first page not yet in a committed
// part, so a round spanning invocations resumes there; after its last part, Round.Complete and Round.DeltaLink
// hold the new deltaLink until the manifest is written and the cursor moves.
type Cursor struct {
	Integration, DataType string
	Low, High             time.Time
	Target                time.Time
	Resweep               []time.Time

	// DeltaLink is the committed deltaLink; DeltaAt when the round that ended with it started (its age).
	DeltaLink string
	DeltaAt   time.Time
	// LastRound and LastFull are the starts of the last finished round and of the last finished full round.
	LastRound, LastFull time.Time
	// Objects is the number of records of the last full round; Changes the delta items archived since.
	Objects, Changes int64
	// Resync asks for a full round at the next run and says why (410, syncStateNotFound, …).
	Resync string
	// Round is the round in progress.
	Round Round
	// Excluded are the users excluded from directory data at the last users round (integration exclusions);
	// ExcludedHash identifies that set when it was too large to keep.
	Excluded     []string
	ExcludedHash string

	// State is "", ok, not-licensed, missing-permission, not-available or error; Detail says which licence, which
	// permissions, why not available or which error.
	State, Detail string
	// SkipUntil: a not-licensed, missing-permission or not-available data type is not asked for again before then.
	SkipUntil time.Time
	// LastError names the data type, bucket and Graph request id of the last failure; LastRequestID is that
	// request id alone ("" when the failure had none).
	LastError     string
	LastErrorAt   time.Time
	LastRequestID string

	// Records and Parts count what was archived; Density is the recent records per bucket, for window sizing.
	Records, Parts int64
	Density        float64
	// Filled counts the records a log stream's first reads and re-sweeps archived while the data type streamed
	// (StreamEvents archived it too): the stream's gaps that Graph filled.
	Filled int64
	// Day is the UTC day DayRecords counts the records archived in.
	Day        time.Time
	DayRecords int64
	// LastRun is when a worker last touched the cursor; LastSuccess when it last archived a window.
	LastRun, LastSuccess time.Time

	etag azcore.ETag
}

// Round is a delta round or snapshot in progress.
type Round struct {
	// Start names the round's folder; Kind is "delta" or "snapshot" (a full read).
	Start time.Time `json:"start"`
	Kind  string    `json:"kind"`
	// Reason says why a full round is read ("initial", "weekly", "resync: …").
	Reason string `json:"reason,omitempty"`
	// Next is the link of the first page not yet in a committed part ("" before the first checkpoint). A round
	// with neither a checkpoint nor Complete is not resumed but read again in a new folder: its first link is
	// not a fixed position (a deltaLink read later reports the changes up to then), so what a resumed read
	// returned could not be mixed with the parts already committed.
	Next string `json:"next,omitempty"`
	// Complete marks a round whose every part is committed: only its manifest is left to write. DeltaLink is the
	// deltaLink its last page carried (delta data types): kept here before the manifest is written, it is never
	// lost between the manifest and the cursor's move.
	Complete  bool   `json:"complete,omitempty"`
	DeltaLink string `json:"deltaLink,omitempty"`
	// Resumed marks a round continued by a later invocation; Restart asks for the round to be read again from its
	// first link in a new folder (its page token outlived it).
	Resumed bool `json:"resumed,omitempty"`
	Restart bool `json:"restart,omitempty"`
	// Excluded and ExcludedHash are the excluded users the round is read with (users only); they become the
	// cursor's when the round finishes.
	Excluded     []string `json:"excluded,omitempty"`
	ExcludedHash string   `json:"excludedHash,omitempty"`
}

// AddRecords counts n records archived at now, in total and in now's UTC day.
func (c *Cursor) AddRecords(now time.Time, n int64) {
	c.Records += n
	day := now.UTC().Truncate(24 * time.Hour)
	if !c.Day.Equal(day) {
		c.Day, c.DayRecords = day, 0
	}
	c.DayRecords += n
}

// RecordsOn returns the records archived during now's UTC day.
func (c *Cursor) RecordsOn(now time.Time) int64 {
	if c.Day.Equal(now.UTC().Truncate(24 * time.Hour)) {
		return c.DayRecords
	}
	return 0
}

// InRound reports whether a round is in progress.
func (c *Cursor) InRound() bool { return !c.Round.Start.IsZero() }

// New reports whether the cursor has never been stored.
func (c *Cursor) New() bool { return c.etag == "" }

// Started reports whether the data type's range has been initialised.
func (c *Cursor) Started() bool { return !c.High.IsZero() }

// toEntity is the Table Storage form of a Cursor: typed properties (Edm.DateTime, Edm.Int64) so the table reads
// well in Storage Explorer. Zero times are omitted (Edm.DateTime cannot hold year 1).
func (c *Cursor) toEntity() ([]byte, error) {
	props := map[string]any{
		"State": c.State, "Detail": c.Detail, "LastError": text.Truncate(c.LastError, 4000),
		"Records": aztables.EDMInt64(c.Records), "Parts": aztables.EDMInt64(c.Parts), "Density": c.Density,
	}
	if c.DeltaLink != "" || !c.LastRound.IsZero() || c.InRound() {
		maps.Copy(props, map[string]any{"DeltaLink": c.DeltaLink, "Objects": aztables.EDMInt64(c.Objects),
			"Changes": aztables.EDMInt64(c.Changes)})
	}
	if !c.Day.IsZero() {
		props["DayRecords"] = aztables.EDMInt64(c.DayRecords)
	}
	if c.Filled != 0 {
		props["Filled"] = aztables.EDMInt64(c.Filled)
	}
	for name, v := range map[string]string{"Resync": c.Resync, "ExcludedHash": c.ExcludedHash, "LastRequestID": c.LastRequestID} {
		if v != "" {
			props[name] = v
		}
	}
	if c.InRound() {
		b, err := json.Marshal(c.Round)
		if err != nil {
			return nil, err
		}
		props["Round"] = string(b)
	}
	if len(c.Excluded) > 0 {
		b, err := json.Marshal(c.Excluded)
		if err != nil {
			return nil, err
		}
		props["Excluded"] = string(b)
	}
	for name, t := range map[string]time.Time{"Low": c.Low, "High": c.High, "Target": c.Target, "SkipUntil": c.SkipUntil,
		"LastErrorAt": c.LastErrorAt, "LastRun": c.LastRun, "LastSuccess": c.LastSuccess,
		"DeltaAt": c.DeltaAt, "LastRound": c.LastRound, "LastFull": c.LastFull, "Day": c.Day} {
		if !t.IsZero() {
			props[name] = aztables.EDMDateTime(t.UTC())
		}
	}
	if len(c.Resweep) > 0 {
		b, err := json.Marshal(c.Resweep)
		if err != nil {
			return nil, err
		}
		props["Resweep"] = string(b)
	}
	return json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: c.Integration, RowKey: c.DataType}, Properties: props})
}

func fromEntity(b []byte, etag azcore.ETag) (*Cursor, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode cursor: %w", err)
	}
	p := props(e.Properties)
	c := &Cursor{
		Integration: e.PartitionKey, DataType: e.RowKey,
		Low: p.time("Low"), High: p.time("High"), Target: p.time("Target"), SkipUntil: p.time("SkipUntil"),
		LastErrorAt: p.time("LastErrorAt"), LastRun: p.time("LastRun"), LastSuccess: p.time("LastSuccess"),
		State: p.str("State"), Detail: p.str("Detail"), LastError: p.str("LastError"),
		Records: p.int("Records"), Parts: p.int("Parts"), Density: p.float("Density"),
		DeltaLink: p.str("DeltaLink"), DeltaAt: p.time("DeltaAt"), LastRound: p.time("LastRound"), LastFull: p.time("LastFull"),
		Objects: p.int("Objects"), Changes: p.int("Changes"), Resync: p.str("Resync"), ExcludedHash: p.str("ExcludedHash"),
		LastRequestID: p.str("LastRequestID"), Day: p.time("Day"), DayRecords: p.int("DayRecords"), Filled: p.int("Filled"),
		etag: etag,
	}
	if r := p.str("Round"); r != "" {
		if err := json.Unmarshal([]byte(r), &c.Round); err != nil {
			return nil, fmt.Errorf("decode cursor %s/%s round: %w", e.PartitionKey, e.RowKey, err)
		}
	}
	if x := p.str("Excluded"); x != "" {
		if err := json.Unmarshal([]byte(x), &c.Excluded); err != nil {
			return nil, fmt.Errorf("decode cursor %s/%s excluded: %w", e.PartitionKey, e.RowKey, err)
		}
	}
	if r := p.str("Resweep"); r != "" {
		if err := json.Unmarshal([]byte(r), &c.Resweep); err != nil {
			return nil, fmt.Errorf("decode cursor %s/%s resweep: %w", e.PartitionKey, e.RowKey, err)
		}
	}
	return c, nil
}

// props reads typed entity properties leniently: a missing or mistyped property is the zero value.
type props map[string]any

func (p props) time(k string) time.Time {
	if v, ok := p[k].(aztables.EDMDateTime); ok {
		return time.Time(v).UTC()
	}
	return time.Time{}
}

func (p props) str(k string) string { s, _ := p[k].(string); return s }

func (p props) int(k string) int64 {
	switch v := p[k].(type) {
	case aztables.EDMInt64:
		return int64(v)
	case int32:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func (p props) float(k string) float64 {
	switch v := p[k].(type) {
	case float64:
		return v
	case int32:
		return float64(v)
	}
	return 0
}

// Get returns the cursor of a data type; one that was never stored comes back empty (New() true).
func (s *Store) Get(ctx context.Context, integration, dataType string) (*Cursor, error) {
	resp, err := s.cursors.GetEntity(ctx, integration, dataType, nil)
	if isStatus(err, 404) {
		return &Cursor{Integration: integration, DataType: dataType}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cursor %s/%s: %w", integration, dataType, err)
	}
	return fromEntity(resp.Value, resp.ETag)
}

// List returns every cursor of an integration.
func (s *Store) List(ctx context.Context, integration string) ([]*Cursor, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", escape(integration))
	pager := s.cursors.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []*Cursor
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isStatus(err, 404) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list cursors of %s: %w", integration, err)
		}
		for _, b := range page.Entities {
			c, err := fromEntity(b, "")
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Put stores the cursor: it inserts one that is New, and otherwise replaces it only if nobody changed it since it
// was read (ErrConflict). On success the cursor carries the new ETag.
func (s *Store) Put(ctx context.Context, c *Cursor) error {
	b, err := c.toEntity()
	if err != nil {
		return err
	}
	if c.New() {
		resp, err := s.cursors.AddEntity(ctx, b, nil)
		if isStatus(err, 409) {
			return fmt.Errorf("cursor %s/%s: %w", c.Integration, c.DataType, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert cursor %s/%s: %w", c.Integration, c.DataType, err)
		}
		c.etag = resp.ETag
		return nil
	}
	etag := c.etag
	resp, err := s.cursors.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if isStatus(err, 412) || isStatus(err, 404) {
		return fmt.Errorf("cursor %s/%s: %w", c.Integration, c.DataType, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update cursor %s/%s: %w", c.Integration, c.DataType, err)
	}
	c.etag = resp.ETag
	return nil
}

// Clone returns a copy that shares nothing with c (including the ETag, so Put on either works once).
func (c *Cursor) Clone() *Cursor {
	d := *c
	d.Resweep = slices.Clone(c.Resweep)
	d.Excluded = slices.Clone(c.Excluded)
	d.Round.Excluded = slices.Clone(c.Round.Excluded)
	return &d
}

func escape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}
