package collect

import (
	"context"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/stream"
)

// Graph is what a run needs of a Graph client.
type Graph interface {
	// Pages reads a collection through all its nextLinks (a log window).
	Pages(ctx context.Context, first string, item func(graph.Item) error) (graph.Summary, error)
	// Page reads one page (a round checkpoints between pages).
	Page(ctx context.Context, link string, item func(graph.Item) error) (graph.PageInfo, error)
	// Object reads one object (a user collected again after leaving an excluded group).
	Object(ctx context.Context, path string) ([]byte, string, error)
	Stats() map[catalog.Family]graph.FamilyStats
	GrantedRoles(ctx context.Context) ([]string, error)
	// SetDirectoryUsers raises the directory family's budget to the tier of a tenant with that many users.
	SetDirectoryUsers(n int)
}

// Cursors stores the data types' cursors, with optimistic concurrency (cursor.ErrConflict).
type Cursors interface {
	Get(ctx context.Context, integration, dataType string) (*cursor.Cursor, error)
	Put(ctx context.Context, c *cursor.Cursor) error
}

// Leases gives one worker at a time a family of an integration.
type Leases interface {
	Acquire(ctx context.Context, integration, family, owner string, ttl time.Duration) (*cursor.Lease, error)
	Renew(ctx context.Context, l *cursor.Lease, ttl time.Duration) error
	Release(ctx context.Context, l *cursor.Lease) error
}

// Runs records what each run did.
type Runs interface {
	AddRun(ctx context.Context, r *cursor.Run) error
}

// Part is one part being written (archive.Part).
type Part interface {
	Add(ctx context.Context, record []byte, at time.Time, requestID string) error
	Close(ctx context.Context) error
	Stage(ctx context.Context) error
	Commit(ctx context.Context) error
	Buffered() int
	Name() string
	Records() int
	SHA256() string
	Size() int64
}

// Archive is what the collectors need of the archive (archive.Store).
type Archive interface {
	// Parts lists a log stream's committed parts by bucket start; ReadKeys reads their dedup keys.
	Parts(ctx context.Context, integration, dataType string, from, to time.Time) (map[time.Time][]archive.PartInfo, error)
	ReadKeys(ctx context.Context, name, key string, fn func(k string)) error
	// NewPart starts part n of a bucket or round.
	NewPart(p archive.Partition, n int, source, sweep string) Part
	// RoundParts, WriteManifest and DeleteRound keep a round's folder; Rounds and ReadRecords replay a data
	// type's finished rounds (the archived group membership that exclusions are computed from).
	RoundParts(ctx context.Context, r archive.Round) ([]archive.PartInfo, bool, error)
	WriteManifest(ctx context.Context, r archive.Round, m archive.Manifest) error
	DeleteRound(ctx context.Context, r archive.Round) error
	Rounds(ctx context.Context, integration, dataType string) ([]archive.Manifest, error)
	ReadRecords(ctx context.Context, name string, fn func(record []byte) error) error
	// HourParts lists the parts of one hour folder of a log stream: Graph's, or (stream) those StreamEvents wrote.
	HourParts(ctx context.Context, integration, dataType string, hour time.Time, stream bool) ([]string, error)
}

// StreamActivity says what StreamEvents archived of each data type of an integration (stream.Activity).
type StreamActivity interface {
	Read(ctx context.Context, integration string) (map[string]stream.DataTypeActivity, error)
}

// Deps are a worker's storage. Each is a small interface, so a test gives the run in-memory ones.
type Deps struct {
	Cursors Cursors
	Leases  Leases
	Runs    Runs
	Archive Archive
	// Streams, when set, tells which log data types stream; nil: none does.
	Streams StreamActivity
}

// StorageDeps are the deps on Table Storage (cursors, leases, runs) and Blob Storage (the archive).
func StorageDeps(c *cursor.Store, a *archive.Store) Deps {
	return Deps{Cursors: c, Leases: c, Runs: c, Archive: blobArchive{a}}
}

// blobArchive adapts archive.Store, whose NewPart returns the concrete *archive.Part.
type blobArchive struct{ *archive.Store }

func (b blobArchive) NewPart(p archive.Partition, n int, source, sweep string) Part {
	return b.Store.NewPart(p, n, source, sweep)
}
