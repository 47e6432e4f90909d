package secretscan

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"golang.org/x/sync/errgroup"
)

// Storage is the storage account to scan; nil clients are skipped.
type Storage struct {
	Blobs  *azblob.Client
	Tables *aztables.ServiceClient
	Queues *azqueue.ServiceClient
}

// Counts says how much a storage scan read, so a test can show it looked at something.
type Counts struct {
	Containers, Blobs, Tables, Entities, Queues, Messages int
	// Bytes is the content scanned (blobs uncompressed).
	Bytes int64
}

func (c Counts) String() string {
	return fmt.Sprintf("%d blobs in %d containers, %d entities in %d tables, %d messages in %d queues, %d bytes",
		c.Blobs, c.Containers, c.Entities, c.Tables, c.Messages, c.Queues, c.Bytes)
}

// blobConcurrency bounds parallel blob downloads (Azurite is one Node.js process).
const blobConcurrency = 8

// ScanStorage reads every blob of every container (names, metadata and content; gzip content uncompressed), every
// entity of every table and the visible messages of every queue, and reports the secrets found. The error is about
// reading storage, not about findings.
func (s *Scanner) ScanStorage(ctx context.Context, st Storage) ([]Finding, Counts, error) {
	var (
		mu     sync.Mutex
		out    []Finding
		counts Counts
	)
	add := func(fs []Finding, n Counts) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, fs...)
		counts.Containers += n.Containers
		counts.Blobs += n.Blobs
		counts.Tables += n.Tables
		counts.Entities += n.Entities
		counts.Queues += n.Queues
		counts.Messages += n.Messages
		counts.Bytes += n.Bytes
	}
	if st.Blobs != nil {
		if err := s.scanBlobs(ctx, st.Blobs, add); err != nil {
			return nil, counts, err
		}
	}
	if st.Tables != nil {
		if err := s.scanTables(ctx, st.Tables, add); err != nil {
			return nil, counts, err
		}
	}
	if st.Queues != nil {
		if err := s.scanQueues(ctx, st.Queues, add); err != nil {
			return nil, counts, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Where < out[j].Where })
	return out, counts, nil
}

func (s *Scanner) scanBlobs(ctx context.Context, client *azblob.Client, add func([]Finding, Counts)) error {
	pager := client.NewListContainersPager(&azblob.ListContainersOptions{Include: azblob.ListContainersInclude{Metadata: true}})
	var containers []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		for _, c := range page.ContainerItems {
			containers = append(containers, *c.Name)
			add(s.Scan("container name "+*c.Name, []byte(*c.Name)), Counts{Containers: 1})
			add(s.scanMetadata("metadata of container "+*c.Name, c.Metadata), Counts{})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blobConcurrency)
	for _, name := range containers {
		cc := client.ServiceClient().NewContainerClient(name)
		bp := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
		for bp.More() {
			page, err := bp.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list blobs of %s: %w", name, err)
			}
			for _, item := range page.Segment.BlobItems {
				where := "blob " + name + "/" + *item.Name
				add(s.Scan(where+" (name)", []byte(*item.Name)), Counts{})
				add(s.scanMetadata(where+" (metadata)", item.Metadata), Counts{})
				blobName := *item.Name
				g.Go(func() error {
					content, err := readBlob(gctx, cc, blobName)
					if err != nil {
						return err
					}
					add(s.Scan(where, content), Counts{Blobs: 1, Bytes: int64(len(content))})
					return nil
				})
			}
		}
	}
	return g.Wait()
}

// readBlob downloads a blob, uncompressing gzip content (each part of the archive is gzip NDJSON).
func readBlob(ctx context.Context, cc *container.Client, name string) ([]byte, error) {
	resp, err := cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read blob %s/%s: %w", cc.URL(), name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", name, err)
	}
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return raw, nil
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		// Not gzip after all, or damaged: scan what came out and the raw bytes.
		return append(plain, raw...), nil
	}
	return plain, nil
}

func (s *Scanner) scanMetadata(where string, md map[string]*string) []Finding {
	if len(md) == 0 {
		return nil
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := ""
		if md[k] != nil {
			v = *md[k]
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return s.Scan(where, []byte(b.String()))
}

func (s *Scanner) scanTables(ctx context.Context, client *aztables.ServiceClient, add func([]Finding, Counts)) error {
	pager := client.NewListTablesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		for _, t := range page.Tables {
			name := *t.Name
			add(s.Scan("table name "+name, []byte(name)), Counts{Tables: 1})
			ep := client.NewClient(name).NewListEntitiesPager(nil)
			for ep.More() {
				ents, err := ep.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("list entities of table %s: %w", name, err)
				}
				for _, raw := range ents.Entities {
					add(s.Scan("table "+name+" entity "+entityKey(raw), raw), Counts{Entities: 1, Bytes: int64(len(raw))})
				}
			}
		}
	}
	return nil
}

// entityKey is "PartitionKey/RowKey" of an entity's JSON, for findings.
func entityKey(raw []byte) string {
	var k struct{ PartitionKey, RowKey string }
	if json.Unmarshal(raw, &k) != nil {
		return "(undecodable)"
	}
	return k.PartitionKey + "/" + k.RowKey
}

// peekLimit is the most messages a queue returns to one peek.
const peekLimit = 32

func (s *Scanner) scanQueues(ctx context.Context, client *azqueue.ServiceClient, add func([]Finding, Counts)) error {
	pager := client.NewListQueuesPager(&azqueue.ListQueuesOptions{Include: azqueue.ListQueuesInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list queues: %w", err)
		}
		for _, q := range page.Queues {
			name := *q.Name
			add(s.Scan("queue name "+name, []byte(name)), Counts{Queues: 1})
			add(s.scanMetadata("metadata of queue "+name, q.Metadata), Counts{})
			n := int32(peekLimit)
			resp, err := client.NewQueueClient(name).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: &n})
			if err != nil {
				return fmt.Errorf("peek queue %s: %w", name, err)
			}
			for _, m := range resp.Messages {
				if m.MessageText == nil {
					continue
				}
				where := "queue " + name + " message"
				if m.MessageID != nil {
					where += " " + *m.MessageID
				}
				text := []byte(*m.MessageText)
				// Queue messages are usually base64 (host.json messageEncoding); scan both forms.
				fs := s.Scan(where, text)
				if dec, err := decodeBase64(*m.MessageText); err == nil {
					fs = append(fs, s.Scan(where+" (base64-decoded)", dec)...)
				}
				add(fs, Counts{Messages: 1, Bytes: int64(len(text))})
			}
		}
	}
	return nil
}

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
