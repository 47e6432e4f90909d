package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

func newStore(t *testing.T) *Store {
	t.Helper()
	srv := azurite.Shared(t)
	client, err := srv.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	s := New(client, azurite.UniqueName(t, "arch"))
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure is not idempotent: %v", err)
	}
	return s
}

var bucket = Bucket{Integration: "contoso", DataType: "signIns.interactive",
	Start: time.Date(2026, 1, 10, 10, 15, 0, 0, time.UTC), End: time.Date(2026, 1, 10, 10, 30, 0, 0, time.UTC)}

func TestNames(t *testing.T) {
	want := "integration=contoso/type=signIns.interactive/date=2026-01-10/hour=10/20260110T1015Z-0003.ndjson.gz"
	if got := bucket.PartName(3); got != want {
		t.Errorf("PartName = %q", got)
	}
	info, ok := parsePart(want)
	if !ok || !info.BucketStart.Equal(bucket.Start) || info.Part != 3 {
		t.Errorf("parsePart = %+v %v", info, ok)
	}
	for _, bad := range []string{"x/20260110T1015Z-0003.json", "x/2026-0003.ndjson.gz", "x/20260110T1015Z-00a3.ndjson.gz",
		// Signed numbers are not what PartName writes: "-001" would be part -1, "+001" part 1 under a second name.
		"x/20260110T1015Z--001.ndjson.gz", "x/20260110T1015Z-+001.ndjson.gz"} {
		if _, ok := parsePart(bad); ok {
			t.Errorf("parsePart(%q) accepted", bad)
		}
	}
}

func TestPartRoundTripAcrossBlocks(t *testing.T) {
	s := newStore(t)
	s.BlockSize = 4096 // force several staged blocks
	ctx := context.Background()
	p := s.NewPart(bucket, 0, "graph", "initial")
	var want bytes.Buffer
	base := bucket.Start
	for i := range 3000 {
		rec := fmt.Appendf(nil, `{"id":"id-%03d","createdDateTime":"%s","pad":"%s","dup":1,"dup":2}`, i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), strings.Repeat("x", i%50)+hex.EncodeToString(sha256.New().Sum([]byte{byte(i)})))
		want.Write(rec)
		want.WriteByte('\n')
		if err := p.Add(ctx, rec, base.Add(time.Duration(i)*time.Second), fmt.Sprintf("rid-%d", i/1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A window keeps its closed parts until it commits them all: a staged, closed part must not keep its buffer.
	if c := p.buf.Cap(); c != 0 {
		t.Errorf("closed part still holds a %d-byte buffer after staging", c)
	}
	if len(p.blocks) < 2 {
		t.Fatalf("only %d blocks staged", len(p.blocks))
	}
	// Not visible before Commit.
	parts, err := s.Parts(ctx, "contoso", "signIns.interactive", bucket.Start, bucket.End)
	if err != nil || len(parts) != 0 {
		t.Fatalf("parts before commit: %v %v", parts, err)
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, md, err := s.ReadAll(ctx, p.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("content differs from what was added")
	}
	sum := sha256.Sum256(want.Bytes())
	checks := map[string]string{
		MetaRecords: "3000", MetaSHA256: hex.EncodeToString(sum[:]), MetaSource: "graph", MetaSweep: "initial",
		MetaFirstEvent: "2026-01-10T10:15:00Z", MetaLastEvent: "2026-01-10T11:04:59Z",
		MetaRequestIDs: "rid-0,rid-1,rid-2", MetaDataType: "signIns.interactive", MetaBucketStart: "2026-01-10T10:15:00Z",
	}
	for k, v := range checks {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	parts, err = s.Parts(ctx, "contoso", "signIns.interactive", bucket.Start, bucket.End)
	if err != nil {
		t.Fatal(err)
	}
	ps := parts[bucket.Start]
	if len(ps) != 1 || ps[0].Records != 3000 || ps[0].Part != 0 || ps[0].SHA256 != checks[MetaSHA256] {
		t.Fatalf("Parts = %+v", parts)
	}
	var keys []string
	if err := s.ReadKeys(ctx, p.Name(), "id", func(k string) { keys = append(keys, k) }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3000 || keys[7] != "id-007" {
		t.Errorf("keys = %d, %v", len(keys), keys[:3])
	}
}

func TestCommitNeverReplaces(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	write := func(rec string) *Part {
		p := s.NewPart(bucket, 1, "graph", "initial")
		if err := p.Add(ctx, []byte(rec), bucket.Start, ""); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := write(`{"id":"a"}`)
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The same content again (a commit whose answer was lost) is fine.
	if err := write(`{"id":"a"}`).Commit(ctx); err != nil {
		t.Errorf("recommit of identical part: %v", err)
	}
	// Other content under the same name is refused, and the first content stays.
	if err := write(`{"id":"b"}`).Commit(ctx); !errors.Is(err, ErrExists) {
		t.Errorf("commit over another part: %v", err)
	}
	got, _, err := s.ReadAll(ctx, first.Name())
	if err != nil || string(got) != "{\"id\":\"a\"}\n" {
		t.Errorf("content after refused commit = %q, %v", got, err)
	}
}

// TestCommitOverStaleBlocks: a writer staged a block under a part's name and died before committing. Listings do
// not show the name, so the next writer picks it again; its small part (one Put Blob) must still commit, with
// exactly its own content, and the name is still never taken from a committed part.
func TestCommitOverStaleBlocks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	name := bucket.PartName(2)
	stale := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef-000000"))
	if _, err := s.container.NewBlockBlobClient(name).StageBlock(ctx, stale, streaming.NopCloser(strings.NewReader("stale bytes")), nil); err != nil {
		t.Fatal(err)
	}
	parts, err := s.Parts(ctx, bucket.Integration, bucket.DataType, bucket.Start, bucket.End)
	if err != nil || len(parts) != 0 {
		t.Fatalf("listing shows %v, %v: want no committed part", parts, err)
	}
	p := s.NewPart(bucket, 2, "graph", "resweep+1h")
	if err := p.Add(ctx, []byte(`{"id":"fresh"}`), bucket.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatalf("commit over stale uncommitted blocks: %v", err)
	}
	got, md, err := s.ReadAll(ctx, name)
	if err != nil || string(got) != "{\"id\":\"fresh\"}\n" || md[MetaRecords] != "1" {
		t.Errorf("content %q, metadata %v, %v", got, md, err)
	}
	other := s.NewPart(bucket, 2, "graph", "resweep+1h")
	if err := other.Add(ctx, []byte(`{"id":"other"}`), bucket.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx); !errors.Is(err, ErrExists) {
		t.Errorf("commit over the committed part: %v", err)
	}
}

func TestEmptyPartAndNewlines(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	empty := s.NewPart(bucket, 2, "graph", "resweep+1h")
	if err := empty.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, md, err := s.ReadAll(ctx, empty.Name())
	if err != nil || len(got) != 0 || md[MetaRecords] != "0" {
		t.Errorf("empty part: %q %v %v", got, md, err)
	}
	// A pretty-printed record keeps everything but its insignificant whitespace; broken JSON with a line break is
	// refused.
	p := s.NewPart(bucket, 3, "graph", "initial")
	if err := p.Add(ctx, []byte("{\"a\":\n 1,\r\n \"a\" : \"x\\u00a0\\ny\",\"b\":[ 1,\n2 ]}"), bucket.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(ctx, []byte("{\"a\":\n"), bucket.Start, ""); err == nil {
		t.Error("broken JSON with a line break was accepted")
	}
	if err := p.Add(ctx, []byte(`{"compact" : true}`), bucket.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.ReadAll(ctx, p.Name())
	want := "{\"a\":1,\"a\":\"x\\u00a0\\ny\",\"b\":[1,2]}\n{\"compact\" : true}\n"
	if err != nil || string(got) != want {
		t.Errorf("content = %q, want %q (%v)", got, want, err)
	}
}

// TestRounds: a round's parts are committed once each, its manifest after them; a reader replays the newest full
// round and the finished rounds after it, and never a round without a manifest.
func TestRounds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	round := func(kind RoundKind, at time.Duration) Round {
		return Round{Integration: "contoso", DataType: "users", Kind: kind, Start: t0.Add(at)}
	}
	if want := "integration=contoso/type=users/delta=20260110T100000Z/part-0002.ndjson.gz"; round(DeltaRound, 0).PartName(2) != want {
		t.Fatalf("PartName = %q, want %q", round(DeltaRound, 0).PartName(2), want)
	}
	write := func(r Round, full bool, previous string, records ...string) Manifest {
		t.Helper()
		m := Manifest{Full: full, Previous: previous, Finished: r.Start.Add(time.Minute)}
		for n, rec := range records {
			p := s.NewPart(r, n, "graph", string(r.Kind))
			if err := p.Add(ctx, []byte(rec), r.Start, "rid"); err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			m.Records++
			m.Parts = append(m.Parts, ManifestPart{Name: p.Name(), Records: 1, SHA256: p.SHA256(), Size: p.Size()})
			if p.Size() <= 0 {
				t.Fatalf("part %s has size %d", p.Name(), p.Size())
			}
		}
		if err := s.WriteManifest(ctx, r, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got, err := s.Rounds(ctx, "contoso", "users"); err != nil || got != nil {
		t.Fatalf("Rounds of an empty archive = %v, %v", got, err)
	}
	write(round(SnapshotRound, 0), true, "", `{"id":"a"}`, `{"id":"b"}`)
	write(round(DeltaRound, time.Hour), false, round(SnapshotRound, 0).Prefix(), `{"id":"c"}`)
	full := round(SnapshotRound, 2*time.Hour)
	fm := write(full, true, "", `{"id":"a"}`, `{"id":"c"}`)
	d1 := round(DeltaRound, 3*time.Hour)
	write(d1, false, full.Prefix(), `{"id":"d"}`)
	// A round that died before its manifest: parts, no manifest.
	dead := round(DeltaRound, 4*time.Hour)
	p := s.NewPart(dead, 0, "graph", "delta")
	if err := p.Add(ctx, []byte(`{"id":"zombie"}`), dead.Start, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rounds(ctx, "contoso", "users")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Start.Equal(full.Start) || !got[0].Full || !got[1].Start.Equal(d1.Start) {
		t.Fatalf("Rounds = %+v, want the newest full round and the finished delta round after it", got)
	}
	if len(got[0].Parts) != 2 || got[0].Parts[1].Name != full.PartName(1) || got[0].Records != 2 {
		t.Errorf("manifest %+v", got[0])
	}
	// The manifest is written once: the same again succeeds, another one is refused.
	if err := s.WriteManifest(ctx, full, fm); err != nil {
		t.Errorf("rewriting the same manifest: %v", err)
	}
	fm.Records++
	if err := s.WriteManifest(ctx, full, fm); !errors.Is(err, ErrExists) {
		t.Errorf("writing another manifest over one = %v, want ErrExists", err)
	}
	parts, finished, err := s.RoundParts(ctx, dead)
	if err != nil || finished || len(parts) != 1 || parts[0].Part != 0 {
		t.Fatalf("RoundParts(dead) = %+v, %v, %v", parts, finished, err)
	}
	if err := s.DeleteRound(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if parts, _, _ := s.RoundParts(ctx, dead); len(parts) != 0 {
		t.Errorf("an unfinished round's parts survived DeleteRound: %+v", parts)
	}
	if err := s.DeleteRound(ctx, full); err != nil {
		t.Fatal(err)
	}
	if parts, finished, _ := s.RoundParts(ctx, full); len(parts) != 2 || !finished {
		t.Errorf("DeleteRound deleted a finished round: %d parts, manifest %v", len(parts), finished)
	}
	var lines []string
	if err := s.ReadRecords(ctx, full.PartName(1), func(b []byte) error { lines = append(lines, string(b)); return nil }); err != nil || len(lines) != 1 || lines[0] != `{"id":"c"}` {
		t.Errorf("ReadRecords = %q, %v", lines, err)
	}
}
