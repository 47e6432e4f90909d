package eventgen

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Report compares an archive with a stream's truth.
type Report struct {
	// Records is the number of distinct records in the truth; Found how many of them the archive holds.
	Records, Found int
	// Missing are truth records the archive lacks; Duplicates those it holds more than once (with the count).
	Missing    []Record
	Duplicates map[string]int
	// Misplaced names records under the wrong owner, data type or hour, Extra lines the truth does not hold.
	Misplaced, Extra []string
	// CorruptFound counts the corrupt items in quarantine; CorruptMissing are those that are not, QuarantineExtra
	// quarantined blobs that hold no corrupt item or hold one twice.
	CorruptFound    int
	CorruptMissing  []Corrupt
	QuarantineExtra []string
	// BadParts are parts whose metadata is wrong (source other than eventhub, record count off).
	BadParts []string
	// Parts counts the stream parts read.
	Parts int
}

// OK reports an archive that holds exactly the truth.
func (r *Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Duplicates) == 0 && len(r.Misplaced) == 0 && len(r.Extra) == 0 &&
		len(r.CorruptMissing) == 0 && len(r.QuarantineExtra) == 0 && len(r.BadParts) == 0
}

// String summarises the report.
func (r *Report) String() string {
	return fmt.Sprintf("records %d found %d missing %d duplicates %d misplaced %d extra %d; corrupt found %d missing %d quarantine extra %d; bad parts %d; parts %d",
		r.Records, r.Found, len(r.Missing), len(r.Duplicates), len(r.Misplaced), len(r.Extra), r.CorruptFound,
		len(r.CorruptMissing), len(r.QuarantineExtra), len(r.BadParts), r.Parts)
}

// Verify reads every part written from Event Hubs (names starting with "eh-") and every quarantined blob in the
// container and compares them with the stream: each distinct record exactly once, under its owner
// (integration=<id>, or quarantine/tenant=<id>), data type and the hour of its event time (of its event's
// enqueued time, from enqueued, when it has none); each corrupt item exactly once in quarantine/unparsed with a
// reason. Graph's parts are ignored.
func Verify(ctx context.Context, client *azblob.Client, containerName string, s *Stream, enqueued func(event int) time.Time) (*Report, error) {
	truth := make(map[string]*Record, len(s.Records))
	for i := range s.Records {
		truth[s.Records[i].Raw] = &s.Records[i]
	}
	corrupt := map[string]*Corrupt{}
	for i := range s.Corrupt {
		corrupt[s.Corrupt[i].Raw] = &s.Corrupt[i]
	}
	rep := &Report{Records: len(s.Records), Duplicates: map[string]int{}}
	count := map[string]int{}
	corruptCount := map[string]int{}
	cc := client.ServiceClient().NewContainerClient(containerName)
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Segment.BlobItems {
			name := *item.Name
			meta := map[string]string{}
			for k, v := range item.Metadata {
				if v != nil {
					meta[strings.ToLower(k)] = *v
				}
			}
			base := name[strings.LastIndexByte(name, '/')+1:]
			switch {
			case strings.HasPrefix(name, "quarantine/unparsed/"):
				content, err := download(ctx, client, containerName, name, false)
				if err != nil {
					return nil, err
				}
				c, ok := corrupt[string(content)]
				switch {
				case !ok:
					rep.QuarantineExtra = append(rep.QuarantineExtra, fmt.Sprintf("%s holds no corrupt item: %.80q", name, content))
				case meta["quarantine_reason"] == "":
					rep.QuarantineExtra = append(rep.QuarantineExtra, name+" has no reason")
				default:
					corruptCount[c.Raw]++
				}
			case strings.HasPrefix(base, "eh-") && strings.HasSuffix(base, ".ndjson.gz"):
				rep.Parts++
				owner, dataType, hour, ok := partLocation(name)
				if !ok {
					rep.BadParts = append(rep.BadParts, name+": not in a partition")
					continue
				}
				content, err := download(ctx, client, containerName, name, true)
				if err != nil {
					return nil, err
				}
				lines := 0
				sc := bufio.NewScanner(strings.NewReader(string(content)))
				sc.Buffer(make([]byte, 64<<10), 16<<20)
				for sc.Scan() {
					line := sc.Text()
					lines++
					r, ok := truth[line]
					if !ok {
						rep.Extra = append(rep.Extra, fmt.Sprintf("%s: %.120s", name, line))
						continue
					}
					count[line]++
					want := r.Time
					if want.IsZero() {
						want = enqueued(r.Event)
					}
					if r.Owner != owner || r.DataType != dataType || !want.UTC().Truncate(time.Hour).Equal(hour) {
						rep.Misplaced = append(rep.Misplaced, fmt.Sprintf("%s holds a record of %s/%s/%s", name, r.Owner, r.DataType, want.UTC().Format("2006-01-02T15")))
					}
				}
				if err := sc.Err(); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				if meta["source"] != "eventhub" || meta["records"] != fmt.Sprint(lines) {
					rep.BadParts = append(rep.BadParts, fmt.Sprintf("%s: source %q, records %q for %d lines", name, meta["source"], meta["records"], lines))
				}
			}
		}
	}
	for raw, n := range count {
		if n > 1 {
			rep.Duplicates[raw] = n
		}
	}
	for _, r := range s.Records {
		if count[r.Raw] == 0 {
			rep.Missing = append(rep.Missing, r)
		} else {
			rep.Found++
		}
	}
	for _, c := range s.Corrupt {
		switch n := corruptCount[c.Raw]; {
		case n == 0:
			rep.CorruptMissing = append(rep.CorruptMissing, c)
		case n > 1:
			rep.QuarantineExtra = append(rep.QuarantineExtra, fmt.Sprintf("corrupt item quarantined %d times: %.80q", n, c.Raw))
			rep.CorruptFound++
		default:
			rep.CorruptFound++
		}
	}
	return rep, nil
}

// partLocation reads owner, data type and hour from integration=<id>/type=<dt>/date=<d>/hour=<h>/… or
// quarantine/tenant=<id>/type=<dt>/date=<d>/hour=<h>/….
func partLocation(name string) (owner, dataType string, hour time.Time, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) > 0 && parts[0] == "quarantine" {
		parts = parts[1:]
	}
	if len(parts) != 5 {
		return "", "", time.Time{}, false
	}
	owner, ok1 := strings.CutPrefix(parts[0], "integration=")
	if !ok1 {
		if !strings.HasPrefix(parts[0], "tenant=") {
			return "", "", time.Time{}, false
		}
		owner = parts[0]
	}
	dataType, ok2 := strings.CutPrefix(parts[1], "type=")
	date, ok3 := strings.CutPrefix(parts[2], "date=")
	h, ok4 := strings.CutPrefix(parts[3], "hour=")
	t, err := time.Parse("2006-01-02T15", date+"T"+h)
	if !ok2 || !ok3 || !ok4 || err != nil {
		return "", "", time.Time{}, false
	}
	return owner, dataType, t, true
}

func download(ctx context.Context, client *azblob.Client, containerName, name string, gz bool) ([]byte, error) {
	resp, err := client.DownloadStream(ctx, containerName, name, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if gz {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	return io.ReadAll(r)
}
