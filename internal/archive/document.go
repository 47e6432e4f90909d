package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// A document is one JSON file the product derives from the archive once a day, kept beside the raw data in the
// same Hive-style layout so that the same tools read it:
//
//	integration=<id>/type=<kind>/date=YYYY-MM-DD/<file>
//
// Unlike a part, a document may be written again the same day (a retried or repeated computation): it is uploaded
// whole in one request, so a reader sees the old or the new content, never a mix, and the write is conditional on
// the ETag that was read, so two writers never overwrite each other unnoticed.

// Document names one day's document of a derived kind ("insights").
type Document struct {
	Integration, Kind string
	Day               time.Time
	File              string
}

// Name is the document's blob name.
func (d Document) Name() string { return dayPrefix(d.Integration, d.Kind, d.Day) + d.File }

// ErrNotFound means the document does not exist.
var ErrNotFound = errors.New("archive: document not found")

// ErrChanged means the document changed (or appeared) since it was read: the conditional write was refused.
var ErrChanged = errors.New("archive: document changed since it was read")

// DocumentETag identifies the version of a document that was read; the zero value means "did not exist".
type DocumentETag = azcore.ETag

// maxDocument bounds what ReadDocument accepts: a document is a summary, not data.
const maxDocument = 16 << 20

// ReadDocument returns a document's content and the ETag of that version; ErrNotFound when there is none.
func (s *Store) ReadDocument(ctx context.Context, d Document) ([]byte, DocumentETag, error) {
	name := d.Name()
	resp, err := s.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxDocument {
		return nil, "", fmt.Errorf("read %s: larger than %d bytes", name, maxDocument)
	}
	var etag DocumentETag
	if resp.ETag != nil {
		etag = *resp.ETag
	}
	return b, etag, nil
}

// WriteDocument uploads a document whole. With etag "" it creates the document and fails with ErrChanged when one
// exists; otherwise it replaces exactly the version read (ErrChanged when another writer came first).
func (s *Store) WriteDocument(ctx context.Context, d Document, body []byte, etag DocumentETag) error {
	name := d.Name()
	cond := &blob.ModifiedAccessConditions{}
	if etag == "" {
		none := azcore.ETagAny
		cond.IfNoneMatch = &none
	} else {
		cond.IfMatch = &etag
	}
	_, err := s.container.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
		Metadata: map[string]*string{
			MetaIntegration: to.Ptr(d.Integration),
			MetaDataType:    to.Ptr(d.Kind),
		},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("write %s: %w", name, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// LatestDocument returns the newest day's document of a kind for an integration (by the date in its name);
// ErrNotFound when there is none.
func (s *Store) LatestDocument(ctx context.Context, integration, kind, file string) (Document, error) {
	prefix := fmt.Sprintf("integration=%s/type=%s/", integration, kind)
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	var days []time.Time
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return Document{}, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			rest := strings.TrimPrefix(*item.Name, prefix)
			date, f, ok := strings.Cut(strings.TrimPrefix(rest, "date="), "/")
			if !ok || f != file || !strings.HasPrefix(rest, "date=") {
				continue
			}
			if day, err := time.Parse("2006-01-02", date); err == nil {
				days = append(days, day)
			}
		}
	}
	if len(days) == 0 {
		return Document{}, fmt.Errorf("%s…/%s: %w", prefix, file, ErrNotFound)
	}
	return Document{Integration: integration, Kind: kind, Day: slices.MaxFunc(days, time.Time.Compare), File: file}, nil
}
