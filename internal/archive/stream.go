package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/version"
)

// Parts written from Event Hubs (StreamEvents) sit in the same partitions as Graph's, one part per event hub event
// and hour folder:
//
//	integration=<id>/type=<dataType>/date=YYYY-MM-DD/hour=HH/eh-<hub>-p<partition>-s<sequence>-<event>.ndjson.gz
//
// Graph's part names start with the bucket start's digits (<bucket-start>-NNNN.ndjson.gz), so the "eh-" prefix
// never collides with them, and the Graph collector's part listing skips these names.

// StreamPartPrefix starts the name of every part written from Event Hubs.
const StreamPartPrefix = "eh-"

// SourceEventHub is the blob metadata source of parts written from Event Hubs (SPEC §6).
const SourceEventHub = "eventhub"

// HourFolder is the folder of one UTC hour of a data type, "integration=<id>/type=<dataType>/date=…/hour=HH/".
func HourFolder(integration, dataType string, hour time.Time) string {
	return fmt.Sprintf("%shour=%02d/", dayPrefix(integration, dataType, hour), hour.UTC().Hour())
}

// HourBucket is the bucket of one UTC hour, as the metadata of a part in HourFolder describes it.
func HourBucket(integration, dataType string, t time.Time) Bucket {
	start := t.UTC().Truncate(time.Hour)
	return Bucket{Integration: integration, DataType: dataType, Start: start, End: start.Add(time.Hour)}
}

// HourParts lists the committed parts in one hour folder of a data type: Graph's parts of the buckets starting in
// that hour (their names start with the hour's stamp, so the listing skips the folder's stream parts) when stream
// is false, the parts written from Event Hubs (names starting with StreamPartPrefix) when it is true.
func (s *Store) HourParts(ctx context.Context, integration, dataType string, hour time.Time, stream bool) ([]string, error) {
	prefix := HourFolder(integration, dataType, hour)
	if stream {
		prefix += StreamPartPrefix
	} else {
		prefix += hour.UTC().Format(stamp[:len("20060102T15")])
	}
	var out []string
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			name := *item.Name
			if !strings.HasSuffix(name, ".ndjson.gz") {
				continue
			}
			if _, graph := parsePart(name); graph == stream {
				continue
			}
			out = append(out, name)
		}
	}
	return out, nil
}

// NewNamedPart starts a part with the given blob name; bucket fills its metadata (integration, data type, bucket
// start and end). Like every part it is invisible until Commit, which never replaces a blob of that name.
func (s *Store) NewNamedPart(bucket Bucket, name, source, sweep string) *Part {
	p := s.NewPart(bucket, 0, source, sweep)
	p.name = name
	return p
}

// Raw-blob metadata keys, besides MetaSHA256, MetaSource and MetaVersion.
const (
	// MetaReason says why a record is quarantined.
	MetaReason = "quarantine_reason"
)

// maxMetaValue bounds one metadata value (Azure allows 8 KiB of metadata per blob).
const maxMetaValue = 1024

// PutRaw writes content as one blob, unchanged (no compression), with metadata, once: like Commit it never
// replaces a blob, succeeds when the name already holds the same content, and returns ErrExists when it holds
// other content. Metadata values are reduced to printable ASCII (they travel as HTTP headers).
func (s *Store) PutRaw(ctx context.Context, name string, content []byte, md map[string]string) error {
	sum := sha256.Sum256(content)
	hexSum := hex.EncodeToString(sum[:])
	values := map[string]*string{
		MetaSHA256:  to.Ptr(hexSum),
		MetaVersion: to.Ptr(version.Version),
	}
	for k, v := range md {
		values[k] = to.Ptr(MetaValue(v))
	}
	etagAny := azcore.ETagAny
	bb := s.container.NewBlockBlobClient(name)
	_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(content)), &blockblob.UploadOptions{
		Metadata:         values,
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/octet-stream")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}},
	})
	if err == nil {
		return nil
	}
	if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("write %s: %w", name, err)
	}
	props, perr := s.container.NewBlobClient(name).GetProperties(ctx, nil)
	if perr != nil {
		return fmt.Errorf("write %s: %w", name, perr)
	}
	if meta(props.Metadata, MetaSHA256) != hexSum {
		return fmt.Errorf("write %s: %w", name, ErrExists)
	}
	return nil
}

// MetaValue reduces s to what a blob metadata value may hold: printable ASCII (anything else becomes '?'), at most
// 1 KiB.
func MetaValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxMetaValue {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
