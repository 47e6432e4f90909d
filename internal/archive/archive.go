// Package archive writes the raw archive: gzip NDJSON parts, one Graph object per line exactly as Graph sent it, in
// Hive-style partitions of three kinds —
//
//	integration=<id>/type=<dataType>/date=YYYY-MM-DD/hour=HH/<bucket-start>-<part>.ndjson.gz   a log stream's time bucket
//	integration=<id>/type=<dataType>/delta=<round-start>/part-NNNN.ndjson.gz                  a delta round's changes
//	integration=<id>/type=<dataType>/snapshot=<round-start>/part-NNNN.ndjson.gz               a full read
//
// A delta round or a snapshot ends with its _manifest.json (parts, counts, sha256), written after every part is
// committed: a folder without one is a round that did not finish, and readers skip it.
//
// A part is written as staged blocks that stay invisible until Commit, which sets the blob metadata (record count,
// first and last event time, sha256 of the uncompressed content, source, Graph request ids, collector version) and
// refuses to replace an existing blob: a part name is written once, so a retry or a second writer can never
// duplicate what is there. Names are deterministic: a bucket's parts are numbered from 0000 up.
package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/klauspost/compress/gzip"

	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/internal/version"
)

// Store is the archive container.
type Store struct {
	container *container.Client
	// BlockSize is the compressed size at which a part stages a block; 1 MiB by default.
	BlockSize int
}

// New returns the archive in the named container.
func New(client *azblob.Client, containerName string) *Store {
	return &Store{container: client.ServiceClient().NewContainerClient(containerName), BlockSize: 1 << 20}
}

// Ensure creates the container if it does not exist.
func (s *Store) Ensure(ctx context.Context) error {
	_, err := s.container.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create archive container: %w", err)
	}
	return nil
}

// Partition is one folder of a data type's archive that parts are written into: a Bucket or a Round.
type Partition interface {
	// PartName is the blob name of part n.
	PartName(n int) string
	// metadata names the partition in a part's blob metadata.
	metadata() map[string]*string
}

// Bucket is one time bucket of one data type of one integration.
type Bucket struct {
	Integration, DataType string
	Start, End            time.Time
}

// stamp is the bucket-start form used in part names: compact, sortable, UTC.
const stamp = "20060102T1504Z"

// dayPrefix is the folder of one UTC day of a data type.
func dayPrefix(integration, dataType string, day time.Time) string {
	return fmt.Sprintf("integration=%s/type=%s/date=%s/", integration, dataType, day.UTC().Format("2006-01-02"))
}

// Prefix is the name prefix shared by the bucket's parts.
func (b Bucket) Prefix() string {
	return fmt.Sprintf("%shour=%02d/%s-", dayPrefix(b.Integration, b.DataType, b.Start), b.Start.UTC().Hour(), b.Start.UTC().Format(stamp))
}

// PartName is the blob name of part n of the bucket.
func (b Bucket) PartName(n int) string { return fmt.Sprintf("%s%04d.ndjson.gz", b.Prefix(), n) }

func (b Bucket) metadata() map[string]*string {
	return map[string]*string{
		MetaIntegration: to.Ptr(b.Integration),
		MetaDataType:    to.Ptr(b.DataType),
		MetaBucketStart: to.Ptr(b.Start.UTC().Format(time.RFC3339)),
		MetaBucketEnd:   to.Ptr(b.End.UTC().Format(time.RFC3339)),
	}
}

// PartInfo describes a committed part.
type PartInfo struct {
	Name        string
	BucketStart time.Time
	Part        int
	Records     int
	Size        int64
	SHA256      string
}

// Parts lists the committed parts of a data type whose bucket starts in [from, to), keyed by bucket start.
func (s *Store) Parts(ctx context.Context, integration, dataType string, from, to time.Time) (map[time.Time][]PartInfo, error) {
	out := map[time.Time][]PartInfo{}
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		prefix := dayPrefix(integration, dataType, day)
		pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{Metadata: true}})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", prefix, err)
			}
			for _, item := range page.Segment.BlobItems {
				info, ok := parsePart(*item.Name)
				if !ok || info.BucketStart.Before(from) || !info.BucketStart.Before(to) {
					continue
				}
				if item.Properties != nil && item.Properties.ContentLength != nil {
					info.Size = *item.Properties.ContentLength
				}
				info.Records, _ = strconv.Atoi(meta(item.Metadata, MetaRecords))
				info.SHA256 = meta(item.Metadata, MetaSHA256)
				out[info.BucketStart] = append(out[info.BucketStart], info)
			}
		}
	}
	for k := range out {
		slices.SortFunc(out[k], func(a, b PartInfo) int { return a.Part - b.Part })
	}
	return out, nil
}

// parsePart reads bucket start and part number from a part's name.
func parsePart(name string) (PartInfo, bool) {
	base := name[strings.LastIndexByte(name, '/')+1:]
	base, ok := strings.CutSuffix(base, ".ndjson.gz")
	if !ok || len(base) != len(stamp)+5 || base[len(stamp)] != '-' {
		return PartInfo{}, false
	}
	start, err := time.Parse(stamp, base[:len(stamp)])
	if err != nil {
		return PartInfo{}, false
	}
	digits := base[len(stamp)+1:]
	if strings.Trim(digits, "0123456789") != "" {
		// Atoi takes a sign too; PartName writes four digits.
		return PartInfo{}, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return PartInfo{}, false
	}
	return PartInfo{Name: name, BucketStart: start, Part: n}, true
}

// meta reads a metadata value case-insensitively (the SDK canonicalises header names).
func meta(m map[string]*string, key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) && v != nil {
			return *v
		}
	}
	return ""
}

// ReadKeys calls fn with the dedup key of every record of a committed part.
func (s *Store) ReadKeys(ctx context.Context, name, key string, fn func(k string)) error {
	return s.ReadRecords(ctx, name, func(record []byte) error {
		v, err := rawjson.Fields(record, key)
		if err != nil {
			return err
		}
		fn(v[0])
		return nil
	})
}

// ReadRecords calls fn with every record (line) of a committed part, in order; the bytes are valid during the call
// only. It streams: a part is never held in memory whole.
func (s *Store) ReadRecords(ctx context.Context, name string, fn func(record []byte) error) error {
	resp, err := s.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer resp.Body.Close()
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// Blob metadata keys. Azure metadata names must be C# identifiers; lower case keeps them stable across SDKs.
const (
	MetaRecords     = "records"
	MetaFirstEvent  = "first_event_time"
	MetaLastEvent   = "last_event_time"
	MetaSHA256      = "content_sha256"
	MetaSource      = "source"
	MetaRequestIDs  = "graph_request_ids"
	MetaVersion     = "collector_version"
	MetaIntegration = "integration"
	MetaDataType    = "data_type"
	MetaBucketStart = "bucket_start"
	MetaBucketEnd   = "bucket_end"
	MetaSweep       = "sweep"
	MetaRoundKind   = "round_kind"
	MetaRoundStart  = "round_start"
)

// maxRequestIDs bounds the request ids kept in metadata (Azure allows 8 KiB of metadata per blob).
const maxRequestIDs = 100

// Encoder turns records into a part's content: one record per line, gzip-compressed into w, with the sha256 of
// the uncompressed lines.
type Encoder struct {
	scratch bytes.Buffer
	zw      *gzip.Writer
	hash    hash.Hash
	records int
}

// gzipWriters recycles compressors: each holds a few hundred KiB of tables, and a window opens one per part.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, Compression)
	return zw
}}

// NewEncoder returns an Encoder writing compressed output to w.
func NewEncoder(w io.Writer) *Encoder {
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	return &Encoder{zw: zw, hash: sha256.New()}
}

// Add writes one record as a line, byte for byte. Graph sends compact JSON; a pretty-printed object (the
// documentation's examples are) holds line breaks, which JSON only allows as whitespace between tokens, so such a
// record loses its insignificant whitespace — keys, their order and duplicates, escapes and values stay as they
// were. A record that is not valid JSON is refused.
func (e *Encoder) Add(record []byte) error {
	if e.zw == nil {
		return errors.New("archive: add to a closed encoder")
	}
	if bytes.IndexByte(record, '\n') >= 0 || bytes.IndexByte(record, '\r') >= 0 {
		e.scratch.Reset()
		if err := json.Compact(&e.scratch, record); err != nil {
			return fmt.Errorf("archive: record with line breaks is not valid JSON: %w", err)
		}
		record = e.scratch.Bytes()
	}
	for _, b := range [][]byte{record, newline} {
		if _, err := e.zw.Write(b); err != nil {
			return err
		}
		_, _ = e.hash.Write(b)
	}
	e.records++
	return nil
}

// Close flushes the compressed stream and gives the compressor back: a closed part keeps only its bytes.
func (e *Encoder) Close() error {
	if e.zw == nil {
		return nil
	}
	err := e.zw.Close()
	e.zw.Reset(io.Discard)
	gzipWriters.Put(e.zw)
	e.zw = nil
	return err
}

// SHA256 is the hex sha256 of the lines written so far.
func (e *Encoder) SHA256() string { return hex.EncodeToString(e.hash.Sum(nil)) }

// Records is the number of records written.
func (e *Encoder) Records() int { return e.records }

// Part writes one part. Add records, then Close and Commit; until Commit nothing is visible. A Part is not safe
// for concurrent use.
type Part struct {
	store  *Store
	part   Partition
	name   string
	source string
	sweep  string

	enc    *Encoder
	buf    bytes.Buffer // compressed bytes not yet staged
	blocks []string
	idBase string
	first  time.Time
	last   time.Time
	rids   []string
	closed bool
	size   int64 // compressed bytes sent (staged or uploaded)
}

// Compression is the gzip level of parts: BestSpeed compresses Graph sign-ins to about 10 % of their NDJSON at
// 1.8× the speed of the default level (7.8 %); the CPU matters more here (see BENCHMARKS.md).
const Compression = gzip.BestSpeed

// NewPart starts part n of a partition. source is "graph" or "eventhub"; sweep says which pass wrote it
// ("initial", "resweep+1h", "delta", "full", …).
func (s *Store) NewPart(partition Partition, n int, source, sweep string) *Part {
	var id [8]byte
	_, _ = rand.Read(id[:])
	p := &Part{store: s, part: partition, name: partition.PartName(n), source: source, sweep: sweep, idBase: hex.EncodeToString(id[:])}
	p.enc = NewEncoder(&p.buf)
	return p
}

// Name is the part's blob name.
func (p *Part) Name() string { return p.name }

// Records is the number of records added.
func (p *Part) Records() int { return p.enc.Records() }

// Size is the part's compressed size, known once it is committed.
func (p *Part) Size() int64 { return p.size }

// SHA256 is the hex sha256 of the part's uncompressed content so far (final once the part is closed).
func (p *Part) SHA256() string { return p.enc.SHA256() }

// Add appends one record (one line, as given) with its event time and the Graph request id of its page.
func (p *Part) Add(ctx context.Context, record []byte, at time.Time, requestID string) error {
	if p.closed {
		return errors.New("archive: add to a closed part")
	}
	if err := p.enc.Add(record); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	if p.first.IsZero() || at.Before(p.first) {
		p.first = at
	}
	if at.After(p.last) {
		p.last = at
	}
	if requestID != "" && len(p.rids) < maxRequestIDs && (len(p.rids) == 0 || p.rids[len(p.rids)-1] != requestID) {
		p.rids = append(p.rids, requestID)
	}
	if p.buf.Len() >= p.store.BlockSize {
		return p.stage(ctx)
	}
	return nil
}

var newline = []byte{'\n'}

func (p *Part) stage(ctx context.Context) error {
	if p.buf.Len() == 0 {
		return nil
	}
	// Block ids must have one length per blob: a random base per writer plus a fixed-width index.
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", p.idBase, len(p.blocks)))
	body := streaming.NopCloser(bytes.NewReader(p.buf.Bytes()))
	if _, err := p.store.container.NewBlockBlobClient(p.name).StageBlock(ctx, id, body, nil); err != nil {
		return fmt.Errorf("stage block of %s: %w", p.name, err)
	}
	p.blocks = append(p.blocks, id)
	p.size += int64(p.buf.Len())
	if p.closed {
		// Nothing more will be written: let the bytes go. (Reset would keep the array, and a window keeps its
		// closed parts until it commits them all.)
		p.buf = bytes.Buffer{}
	} else {
		p.buf.Reset()
	}
	return nil
}

// Close finishes the compressed stream. A part that already staged blocks stages the rest; a small one keeps its
// bytes for Commit to upload in one request. The part stays invisible until Commit.
func (p *Part) Close(ctx context.Context) error {
	if p.closed {
		return nil
	}
	if err := p.enc.Close(); err != nil {
		return err
	}
	p.closed = true
	if len(p.blocks) == 0 {
		return nil
	}
	return p.stage(ctx)
}

// Buffered is the number of compressed bytes the part holds in memory (not yet staged).
func (p *Part) Buffered() int { return p.buf.Len() }

// Stage sends the bytes the part holds as a block, still invisible until Commit. A window calls it on closed
// parts when what they hold adds up, to bound its memory.
func (p *Part) Stage(ctx context.Context) error { return p.stage(ctx) }

// ErrExists means a part of that name was already committed by someone else: its content differs from this part's.
var ErrExists = errors.New("archive: part already exists with other content")

// Commit makes the part visible with its metadata. It never replaces an existing blob: when the name is taken by
// a part with the same content (this part's own earlier commit whose answer was lost), Commit succeeds; otherwise
// it returns ErrExists.
func (p *Part) Commit(ctx context.Context) error {
	if err := p.Close(ctx); err != nil {
		return err
	}
	sum := p.enc.SHA256()
	md := p.part.metadata()
	md[MetaRecords] = to.Ptr(strconv.Itoa(p.enc.Records()))
	md[MetaSHA256] = to.Ptr(sum)
	md[MetaSource] = to.Ptr(p.source)
	md[MetaVersion] = to.Ptr(version.Version)
	md[MetaSweep] = to.Ptr(p.sweep)
	if !p.first.IsZero() {
		md[MetaFirstEvent] = to.Ptr(p.first.UTC().Format(time.RFC3339Nano))
		md[MetaLastEvent] = to.Ptr(p.last.UTC().Format(time.RFC3339Nano))
	}
	if len(p.rids) > 0 {
		md[MetaRequestIDs] = to.Ptr(strings.Join(p.rids, ","))
	}
	etagAny := azcore.ETagAny
	headers := &blob.HTTPHeaders{BlobContentType: to.Ptr("application/gzip")}
	cond := &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}}
	bb := p.store.container.NewBlockBlobClient(p.name)
	commitBlocks := func() error {
		_, err := bb.CommitBlockList(ctx, p.blocks, &blockblob.CommitBlockListOptions{Metadata: md, HTTPHeaders: headers, AccessConditions: cond})
		return err
	}
	var err error
	if len(p.blocks) == 0 {
		// Small part: one Put Blob, as atomic as a block list commit.
		p.size = int64(p.buf.Len())
		_, err = bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(p.buf.Bytes())), &blockblob.UploadOptions{
			Metadata: md, HTTPHeaders: headers, AccessConditions: cond,
		})
	} else {
		err = commitBlocks()
	}
	for retried := false; ; retried = true {
		if err == nil {
			p.buf = bytes.Buffer{}
			return nil
		}
		if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
			return fmt.Errorf("commit %s: %w", p.name, err)
		}
		props, perr := p.store.container.NewBlobClient(p.name).GetProperties(ctx, nil)
		if perr == nil && meta(props.Metadata, MetaSHA256) == sum {
			return nil
		}
		if retried || len(p.blocks) > 0 || !bloberror.HasCode(perr, bloberror.BlobNotFound) {
			return fmt.Errorf("commit %s: %w", p.name, ErrExists)
		}
		// No blob, yet Put Blob found one: only uncommitted blocks hold the name (an earlier attempt staged them and
		// died before its commit). Azurite refuses Put Blob's If-None-Match there, and listings never show the
		// name, so every retry would pick it again. Commit the bytes the way staged parts are committed: Put Block
		// List makes the blob from exactly the listed blocks and drops the stale ones.
		p.size = 0 // counted again as the block is staged
		if err := p.stage(ctx); err != nil {
			return err
		}
		err = commitBlocks()
	}
}

// ReadAll returns the uncompressed content of a blob, for tests and tools.
func (s *Store) ReadAll(ctx context.Context, name string) ([]byte, map[string]string, error) {
	resp, err := s.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(zr)
	md := map[string]string{}
	for k, v := range resp.Metadata {
		if v != nil {
			md[strings.ToLower(k)] = *v
		}
	}
	return b, md, err
}
