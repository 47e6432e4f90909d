package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// RoundKind says what a round folder holds.
type RoundKind string

// Round kinds, as they appear in folder names.
const (
	// DeltaRound holds the changes of one delta round: the raw delta items since the round before it.
	DeltaRound RoundKind = "delta"
	// SnapshotRound holds a full read: every object as it was (a snapshot, or a full delta round, which reads every
	// object and starts a new chain of delta rounds).
	SnapshotRound RoundKind = "snapshot"
)

// roundStamp is the round-start form in folder names: sortable, UTC, to the second.
const roundStamp = "20060102T150405Z"

// ManifestFile is the name of a round's manifest inside its folder.
const ManifestFile = "_manifest.json"

// Round is one delta round or snapshot of one data type of one integration, named by the time it started.
type Round struct {
	Integration, DataType string
	Kind                  RoundKind
	Start                 time.Time
}

// Prefix is the round's folder, ending in a slash.
func (r Round) Prefix() string {
	return fmt.Sprintf("integration=%s/type=%s/%s=%s/", r.Integration, r.DataType, r.Kind, r.Start.UTC().Format(roundStamp))
}

// PartName is the blob name of part n of the round.
func (r Round) PartName(n int) string { return fmt.Sprintf("%spart-%04d.ndjson.gz", r.Prefix(), n) }

// ManifestName is the blob name of the round's manifest.
func (r Round) ManifestName() string { return r.Prefix() + ManifestFile }

func (r Round) metadata() map[string]*string {
	return map[string]*string{
		MetaIntegration: to.Ptr(r.Integration),
		MetaDataType:    to.Ptr(r.DataType),
		MetaRoundKind:   to.Ptr(string(r.Kind)),
		MetaRoundStart:  to.Ptr(r.Start.UTC().Format(time.RFC3339)),
	}
}

// parseRoundPart reads the part number from a round part's name ("…/part-0007.ndjson.gz").
func parseRoundPart(name string) (int, bool) {
	base := name[strings.LastIndexByte(name, '/')+1:]
	digits, ok := strings.CutPrefix(base, "part-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".ndjson.gz")
	if !ok || len(digits) != 4 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// Manifest lists a finished round's parts. It is written once, after every part is committed.
type Manifest struct {
	Integration string    `json:"integration"`
	DataType    string    `json:"dataType"`
	Kind        RoundKind `json:"kind"`
	Start       time.Time `json:"start"`
	Finished    time.Time `json:"finished"`
	// Full is true for a round that read every object (a snapshot or a full delta round): a reader starts there.
	Full bool `json:"full"`
	// Previous names the folder of the round this one continues (delta rounds), "" after a full one.
	Previous string `json:"previous,omitempty"`
	// Reason says why a full round was read: "initial", "weekly", "resync: <why>".
	Reason  string         `json:"reason,omitempty"`
	Records int            `json:"records"`
	Parts   []ManifestPart `json:"parts"`
	// Versions, for a versioned snapshot data type (catalog.DataType.VersionField), are the version keys
	// ("id|version") the collection held when the round read it. Such a round archives only the versions the last
	// round's Versions lack, so its parts are the changes and Versions the state: each version is archived once.
	Versions []string `json:"versions,omitempty"`
	// ContentHash, for a hashed snapshot data type (catalog.SnapshotSpec.Hashed), is the SHA-256 of the records'
	// content, independent of their order: a read with the same hash is not kept as a new snapshot.
	ContentHash      string `json:"contentHash,omitempty"`
	Source           string `json:"source"`
	CollectorVersion string `json:"collectorVersion"`
}

// ManifestPart is one part in a manifest.
type ManifestPart struct {
	Name    string `json:"name"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// RoundParts lists the committed parts of a round, in part order, and reports whether its manifest exists.
func (s *Store) RoundParts(ctx context.Context, r Round) ([]PartInfo, bool, error) {
	prefix := r.Prefix()
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{Metadata: true}})
	var parts []PartInfo
	manifest := false
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			name := *item.Name
			if name == r.ManifestName() {
				manifest = true
				continue
			}
			n, ok := parseRoundPart(name)
			if !ok {
				continue
			}
			info := PartInfo{Name: name, BucketStart: r.Start, Part: n, SHA256: meta(item.Metadata, MetaSHA256)}
			info.Records, _ = strconv.Atoi(meta(item.Metadata, MetaRecords))
			if item.Properties != nil && item.Properties.ContentLength != nil {
				info.Size = *item.Properties.ContentLength
			}
			parts = append(parts, info)
		}
	}
	slices.SortFunc(parts, func(a, b PartInfo) int { return a.Part - b.Part })
	return parts, manifest, nil
}

// WriteManifest commits the round's manifest, listing its committed parts. Like a part, it is written once:
// writing the same manifest again (an earlier attempt whose answer was lost) succeeds, a different one is
// ErrExists.
func (s *Store) WriteManifest(ctx context.Context, r Round, m Manifest) error {
	m.Integration, m.DataType, m.Kind, m.Start = r.Integration, r.DataType, r.Kind, r.Start.UTC()
	m.CollectorVersion = version.Version
	if m.Source == "" {
		m.Source = "graph"
	}
	if m.Parts == nil {
		m.Parts = []ManifestPart{}
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	name := r.ManifestName()
	etagAny := azcore.ETagAny
	_, err = s.container.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
		Metadata:         r.metadata(),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}},
	})
	if err == nil {
		return nil
	}
	if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("commit %s: %w", name, err)
	}
	existing, rerr := s.ReadManifest(ctx, r)
	if rerr == nil && sameManifest(existing, m) {
		return nil
	}
	return fmt.Errorf("commit %s: %w", name, ErrExists)
}

// sameManifest compares what a manifest says about the round, not when it was written.
func sameManifest(a, b Manifest) bool {
	return a.Full == b.Full && a.Previous == b.Previous && a.Records == b.Records && slices.Equal(a.Parts, b.Parts)
}

// ErrNoManifest means the round has no manifest: it did not finish (or is still being written).
var ErrNoManifest = errors.New("archive: round has no manifest")

// ReadManifest reads a round's manifest; ErrNoManifest when there is none.
func (s *Store) ReadManifest(ctx context.Context, r Round) (Manifest, error) {
	return s.readManifest(ctx, r.ManifestName())
}

func (s *Store) readManifest(ctx context.Context, name string) (Manifest, error) {
	var m Manifest
	resp, err := s.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return m, ErrNoManifest
	}
	if err != nil {
		return m, fmt.Errorf("read %s: %w", name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return m, fmt.Errorf("read %s: %w", name, err)
	}
	return m, nil
}

// Rounds returns the finished rounds a reader replays for the current state of a data type: the newest full
// round (snapshot) and every round after it, oldest first. Rounds without a manifest are skipped. A data type
// with no finished full round has none.
func (s *Store) Rounds(ctx context.Context, integration, dataType string) ([]Manifest, error) {
	prefix := fmt.Sprintf("integration=%s/type=%s/", integration, dataType)
	pager := s.container.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	var folders []Round
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, p := range page.Segment.BlobPrefixes {
			kind, stamp, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(*p.Name, prefix), "/"), "=")
			if !ok || kind != string(DeltaRound) && kind != string(SnapshotRound) {
				continue
			}
			start, err := time.Parse(roundStamp, stamp)
			if err != nil {
				continue
			}
			folders = append(folders, Round{Integration: integration, DataType: dataType, Kind: RoundKind(kind), Start: start})
		}
	}
	// Newest first until a finished full round; then replay order.
	slices.SortFunc(folders, func(a, b Round) int { return b.Start.Compare(a.Start) })
	var out []Manifest
	for _, r := range folders {
		m, err := s.ReadManifest(ctx, r)
		if errors.Is(err, ErrNoManifest) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		if m.Full {
			slices.Reverse(out)
			return out, nil
		}
	}
	return nil, nil
}

// DeleteRound removes the parts of a round that did not finish (no manifest), so an abandoned attempt does not
// linger. A finished round is never deleted.
func (s *Store) DeleteRound(ctx context.Context, r Round) error {
	parts, manifest, err := s.RoundParts(ctx, r)
	if err != nil || manifest {
		return err
	}
	for _, p := range parts {
		if _, err := s.container.NewBlobClient(p.Name).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
			return fmt.Errorf("delete %s: %w", p.Name, err)
		}
	}
	return nil
}
