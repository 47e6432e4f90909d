package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/integrations"
)

// Kind and File name the insights documents in the archive: integration=<id>/type=insights/date=<d>/insights.json.
const (
	Kind = "insights"
	File = "insights.json"
)

// Documents is what reading and writing reports needs of the archive (archive.Store).
type Documents interface {
	ReadDocument(ctx context.Context, d archive.Document) ([]byte, archive.DocumentETag, error)
	WriteDocument(ctx context.Context, d archive.Document, body []byte, etag archive.DocumentETag) error
	LatestDocument(ctx context.Context, integration, kind, file string) (archive.Document, error)
}

// Document is the archive document of an integration's insights of a day (UTC).
func Document(integration string, day time.Time) archive.Document {
	return archive.Document{Integration: integration, Kind: Kind, Day: day.UTC(), File: File}
}

// Outcome says what Write did.
type Outcome string

// Outcomes of Write.
const (
	// Created: the day had no document yet.
	Created Outcome = "created"
	// Replaced: the day's document was an older computation and was replaced.
	Replaced Outcome = "replaced"
	// KeptNewer: the day's document is a newer computation (a later run finished first) and was kept.
	KeptNewer Outcome = "kept-newer"
)

// Write stores the report as its day's document, unless the day already has a newer computation. The upload is
// one conditional request on the version read, so concurrent runs never interleave or lose the newest.
func Write(ctx context.Context, docs Documents, r *Report) (Outcome, error) {
	day, err := time.Parse("2006-01-02", r.Date)
	if err != nil {
		return "", fmt.Errorf("insights: report date %q: %w", r.Date, err)
	}
	doc := Document(r.Integration, day)
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		old, etag, err := docs.ReadDocument(ctx, doc)
		outcome := Replaced
		switch {
		case errors.Is(err, archive.ErrNotFound):
			etag, outcome = "", Created
		case err != nil:
			return "", err
		default:
			var prev Report
			// A document that does not parse is replaced: it cannot be newer than anything.
			if json.Unmarshal(old, &prev) == nil && prev.ComputedAt.After(r.ComputedAt) {
				return KeptNewer, nil
			}
		}
		err = docs.WriteDocument(ctx, doc, body, etag)
		if errors.Is(err, archive.ErrChanged) && attempt < 3 {
			continue // another run wrote meanwhile: compare with what it wrote
		}
		if err != nil {
			return "", err
		}
		return outcome, nil
	}
}

// Latest returns an integration's newest report; nil when it has none yet.
func Latest(ctx context.Context, docs Documents, integration string) (*Report, error) {
	doc, err := docs.LatestDocument(ctx, integration, Kind, File)
	if errors.Is(err, archive.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, _, err := docs.ReadDocument(ctx, doc)
	if errors.Is(err, archive.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("insights: %s: %w", doc.Name(), err)
	}
	return &r, nil
}

// Archive is the archive as the daily run uses it: the data it reads and the documents it writes.
type Archive interface {
	Reader
	Documents
}

// Run computes an integration's insights at now and writes them as the day's document.
func Run(ctx context.Context, a Archive, integ integrations.Integration, opts Options, now time.Time) (*Report, Outcome, error) {
	r, err := Compute(ctx, a, integ, opts, now)
	if err != nil {
		return nil, "", err
	}
	outcome, err := Write(ctx, a, r)
	return r, outcome, err
}
