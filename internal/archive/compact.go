package archive

// Compaction merges a closed day's small parts into one part per hour. Blob Storage has no transaction over two
// blobs, so the switch from the inputs to the merged part is one blob commit plus a naming rule every reader
// applies (Parts here, the README's DuckDB macro, tests/lake):
//
//	integration=<id>/type=<dataType>/date=YYYY-MM-DD/hour=HH/merged-GGGG.ndjson.gz
//
// holds every record of the hour's parts numbered below GGGG, and a file of an hour folder is visible exactly when
// its number (a bucket part's NNNN, a merged part's GGGG) is at least the highest GGGG of that folder (0 without
// a merged part). GGGG is one more than the highest input number, so:
//   - before the merged part is committed the inputs are visible and it is not; from its commit on it is, and they
//     are not — one Put Blob or Put Block List, atomic. Deleting the inputs afterwards changes nothing visible.
//   - a listing runs in name order, and "merged-" sorts after every bucket part ("2026…") and after every earlier
//     merged part of the folder. A reader that listed an input which was then deleted therefore lists the merged
//     part too (it was committed before the deletion, so before the listing reached its name); a reader that
//     missed the merged part missed no input. Either way it reads every record once.
//   - a re-sweep after compaction numbers its parts from GGGG up (Parts reports the merged part, and the
//     collector reads its dedup keys), so its late records are visible and never repeat an archived one; the next
//     compaction merges the merged part and those parts into a higher GGGG.
//   - kill -9 anywhere leaves either the inputs visible (merged part not committed: its staged blocks are dropped
//     by the next commit of the name) or the merged part visible (inputs hidden, deleted by the next compaction).
//
// Each merged part has the usual metadata (records, first/last event time, sha256, sources, request ids) and a
// manifest, merged-GGGG.manifest.json, written before it: every input's name, records, sha256, size, sweep and
// Graph request ids.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/rawjson"
)

// mergedPrefix starts a merged part's file name; it sorts after the digits every bucket part's name starts with.
const mergedPrefix = "merged-"

// MetaManifest names, in a merged part's metadata, the manifest that lists its inputs.
const MetaManifest = "compaction_manifest"

// Hour is one hour folder of a data type: the partition of merged parts.
type Hour struct {
	Integration, DataType string
	Start                 time.Time
}

// Prefix is the hour's folder, ending in a slash.
func (h Hour) Prefix() string { return HourFolder(h.Integration, h.DataType, h.Start) }

// PartName is the blob name of the merged part numbered g.
func (h Hour) PartName(g int) string {
	return fmt.Sprintf("%s%s%04d.ndjson.gz", h.Prefix(), mergedPrefix, g)
}

// ManifestName is the blob name of the manifest of the merged part numbered g.
func (h Hour) ManifestName(g int) string {
	return fmt.Sprintf("%s%s%04d.manifest.json", h.Prefix(), mergedPrefix, g)
}

func (h Hour) metadata() map[string]*string {
	return map[string]*string{
		MetaIntegration: to.Ptr(h.Integration),
		MetaDataType:    to.Ptr(h.DataType),
		MetaBucketStart: to.Ptr(h.Start.UTC().Format(time.RFC3339)),
		MetaBucketEnd:   to.Ptr(h.Start.Add(time.Hour).UTC().Format(time.RFC3339)),
	}
}

// parseMerged reads the hour and number of a merged part from its name ("…/date=D/hour=HH/merged-GGGG.ndjson.gz").
func parseMerged(name string) (PartInfo, bool) {
	dir, base := name[:strings.LastIndexByte(name, '/')+1], name[strings.LastIndexByte(name, '/')+1:]
	digits, ok := strings.CutPrefix(base, mergedPrefix)
	if !ok {
		return PartInfo{}, false
	}
	digits, ok = strings.CutSuffix(digits, ".ndjson.gz")
	if !ok || len(digits) != 4 || strings.Trim(digits, "0123456789") != "" {
		return PartInfo{}, false
	}
	g, _ := strconv.Atoi(digits)
	i := strings.Index(dir, "/date=")
	if i < 0 || len(dir) < i+len("/date=YYYY-MM-DD/hour=HH/") {
		return PartInfo{}, false
	}
	at, err := time.Parse("2006-01-02/hour=15/", dir[i+len("/date="):])
	if err != nil {
		return PartInfo{}, false
	}
	return PartInfo{Name: name, BucketStart: at, Part: g, Merged: true}, true
}

// folder is the hour folder of a part's name.
func folder(name string) string { return name[:strings.LastIndexByte(name, '/')+1] }

// visible applies the reading rule to the parts of one listing: a part is visible when its number is at least the
// highest merged number of its hour folder. It returns the visible parts and the hidden ones (replaced).
func visible(parts []PartInfo) (shown, hidden []PartInfo) {
	floor := map[string]int{}
	for _, p := range parts {
		if p.Merged {
			floor[folder(p.Name)] = max(floor[folder(p.Name)], p.Part)
		}
	}
	for _, p := range parts {
		if p.Part >= floor[folder(p.Name)] {
			shown = append(shown, p)
		} else {
			hidden = append(hidden, p)
		}
	}
	return shown, hidden
}

// listDay lists every part (bucket and merged) of a data type's day, in name order, with size and metadata.
func (s *Store) listDay(ctx context.Context, integration, dataType string, day time.Time) ([]PartInfo, error) {
	prefix := dayPrefix(integration, dataType, day)
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{Metadata: true}})
	var out []PartInfo
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			info, ok := parsePart(*item.Name)
			if !ok {
				if info, ok = parseMerged(*item.Name); !ok {
					continue
				}
			}
			if item.Properties != nil && item.Properties.ContentLength != nil {
				info.Size = *item.Properties.ContentLength
			}
			info.Records, _ = strconv.Atoi(meta(item.Metadata, MetaRecords))
			info.SHA256 = meta(item.Metadata, MetaSHA256)
			info.metadata = item.Metadata
			out = append(out, info)
		}
	}
	return out, nil
}

// CompactOptions say how to read a data type's records and bound the work.
type CompactOptions struct {
	// DedupKey and TimeField are the data type's record key and event time (catalog).
	DedupKey, TimeField string
	// VersionField, for a data type archived in versions (catalog.DataType.VersionField), is the property that
	// tells a record's versions apart: a record's key is then its DedupKey and VersionField values together, so
	// every version of a record survives compaction.
	VersionField string
	// MaxBytes: an hour whose visible parts add up to more compressed bytes is left as it is (already large
	// files). 0 means 256 MiB.
	MaxBytes int64
}

// CompactStats is what a compaction did.
type CompactStats struct {
	// Hours merged, Inputs replaced by them (deleted), Records written into merged parts, Deleted blobs (inputs and
	// leftovers of an earlier compaction), Duplicates dropped (a record key in two inputs; 0 in a sound archive).
	Hours, Inputs, Records, Deleted, Duplicates int
}

// CompactionManifest lists the inputs of one merged part.
type CompactionManifest struct {
	Part      string          `json:"part"`
	Hour      time.Time       `json:"hour"`
	Records   int             `json:"records"`
	SHA256    string          `json:"sha256"`
	Inputs    []CompactedPart `json:"inputs"`
	Compacted time.Time       `json:"compacted"`
}

// CompactedPart is one input of a merged part, as its blob metadata described it.
type CompactedPart struct {
	Name       string   `json:"name"`
	Records    int      `json:"records"`
	SHA256     string   `json:"sha256"`
	Size       int64    `json:"size"`
	Source     string   `json:"source,omitempty"`
	Sweep      string   `json:"sweep,omitempty"`
	RequestIDs []string `json:"graphRequestIds,omitempty"`
	FirstEvent string   `json:"firstEventTime,omitempty"`
	LastEvent  string   `json:"lastEventTime,omitempty"`
}

// CompactDay merges the parts of each hour of a data type's UTC day into one part (see the reading rule at the top
// of this file), then deletes the replaced parts. The caller decides that the day is closed (past its last
// re-sweep); the rule keeps readers exact even when it is not. It is idempotent: run again after a crash at any
// point, it finishes what was begun.
func (s *Store) CompactDay(ctx context.Context, integration, dataType string, day time.Time, o CompactOptions) (CompactStats, error) {
	var st CompactStats
	if o.DedupKey == "" || o.TimeField == "" {
		return st, errors.New("archive: compaction needs the data type's dedup key and time field")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 256 << 20
	}
	all, err := s.listDay(ctx, integration, dataType, day)
	if err != nil {
		return st, err
	}
	shown, hidden := visible(all)
	byHour := map[string][]PartInfo{}
	var hours []string
	for _, p := range shown {
		f := folder(p.Name)
		if _, ok := byHour[f]; !ok {
			hours = append(hours, f)
		}
		byHour[f] = append(byHour[f], p)
	}
	// Hours are merged concurrently; each hour's inputs are deleted only once its merged part is committed.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(compactConcurrency)
	for _, f := range hours {
		parts := byHour[f]
		var size int64
		for _, p := range parts {
			size += p.Size
		}
		if len(parts) < 2 || size > o.MaxBytes {
			continue
		}
		g.Go(func() error {
			var hst CompactStats
			n, err := s.compactHour(gctx, integration, dataType, parts, o, &hst)
			if err != nil {
				return err
			}
			hst.Hours, hst.Inputs, hst.Records = 1, len(parts), n
			// Only now, with the merged part committed, are the parts it replaces deleted.
			hst.Deleted, err = s.deleteParts(gctx, parts)
			mu.Lock()
			st.add(hst)
			mu.Unlock()
			return err
		})
	}
	// hidden are leftovers of an earlier compaction, whose merged parts are committed.
	g.Go(func() error {
		n, err := s.deleteParts(gctx, hidden)
		mu.Lock()
		st.Deleted += n
		mu.Unlock()
		return err
	})
	err = g.Wait()
	return st, err
}

// compactConcurrency is how many hours a compaction merges at once, and deleteConcurrency how many deletes it
// sends at once: each step is a storage round trip.
const (
	compactConcurrency = 8
	deleteConcurrency  = 8
)

func (st *CompactStats) add(o CompactStats) {
	st.Hours += o.Hours
	st.Inputs += o.Inputs
	st.Records += o.Records
	st.Deleted += o.Deleted
	st.Duplicates += o.Duplicates
}

// deleteParts deletes replaced parts (one already gone counts too) and returns how many.
func (s *Store) deleteParts(ctx context.Context, parts []PartInfo) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteConcurrency)
	for _, p := range parts {
		g.Go(func() error {
			_, err := s.container.NewBlobClient(p.Name).Delete(gctx, nil)
			if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
				return fmt.Errorf("delete replaced part %s: %w", p.Name, err)
			}
			return nil
		})
	}
	err := g.Wait()
	if err != nil {
		return 0, err
	}
	return len(parts), nil
}

// compactHour writes the manifest, then the merged part, of one hour's visible parts; it returns the records.
func (s *Store) compactHour(ctx context.Context, integration, dataType string, parts []PartInfo, o CompactOptions, st *CompactStats) (int, error) {
	g := 0
	for _, p := range parts {
		g = max(g, p.Part+1)
	}
	if g > 9999 {
		return 0, fmt.Errorf("compact %s: part numbers exhausted", folder(parts[0].Name))
	}
	at := parts[0].BucketStart.UTC().Truncate(time.Hour)
	h := Hour{Integration: integration, DataType: dataType, Start: at}
	m := CompactionManifest{Part: h.PartName(g), Hour: at}
	var sources, rids []string
	for _, p := range parts {
		in := CompactedPart{Name: p.Name, Records: p.Records, SHA256: p.SHA256, Size: p.Size,
			Source: meta(p.metadata, MetaSource), Sweep: meta(p.metadata, MetaSweep),
			FirstEvent: meta(p.metadata, MetaFirstEvent), LastEvent: meta(p.metadata, MetaLastEvent)}
		if ids := meta(p.metadata, MetaRequestIDs); ids != "" {
			in.RequestIDs = strings.Split(ids, ",")
		}
		for _, src := range strings.Split(in.Source, ",") {
			if src != "" && !slices.Contains(sources, src) {
				sources = append(sources, src)
			}
		}
		for _, id := range in.RequestIDs {
			if len(rids) < maxRequestIDs && !slices.Contains(rids, id) {
				rids = append(rids, id)
			}
		}
		m.Inputs = append(m.Inputs, in)
	}
	slices.Sort(sources)

	part := s.NewPart(h, g, strings.Join(sources, ","), "compaction")
	seen := map[string]struct{}{}
	fields := []string{o.DedupKey, o.TimeField}
	if o.VersionField != "" {
		fields = append(fields, o.VersionField)
	}
	for _, p := range parts {
		err := s.ReadRecords(ctx, p.Name, func(rec []byte) error {
			f, err := rawjson.Fields(rec, fields...)
			if err != nil {
				return err
			}
			key := f[0]
			if o.VersionField != "" {
				key += "|" + f[2]
			}
			if _, dup := seen[key]; dup {
				st.Duplicates++
				return nil
			}
			seen[key] = struct{}{}
			t, err := time.Parse(time.RFC3339Nano, f[1])
			if err != nil {
				return fmt.Errorf("field %s: %w", o.TimeField, err)
			}
			return part.Add(ctx, rec, t, "")
		})
		if err != nil {
			return 0, fmt.Errorf("compact %s: %w", h.Prefix(), err)
		}
	}
	if err := part.Close(ctx); err != nil {
		return 0, err
	}
	part.rids = rids
	part.extra = map[string]*string{MetaManifest: to.Ptr(h.ManifestName(g))}
	m.Records, m.SHA256, m.Compacted = part.Records(), part.SHA256(), time.Now().UTC()
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return 0, err
	}
	// The manifest first (replacing one a crashed attempt left): it must exist whenever the part does.
	_, err = s.container.NewBlockBlobClient(h.ManifestName(g)).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)),
		&blockblob.UploadOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")}})
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", h.ManifestName(g), err)
	}
	if err := part.Commit(ctx); err != nil {
		return 0, err
	}
	return part.Records(), nil
}
