package secretscan

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

const (
	clientSecret = "Zx8Q~abc/def+ghi=jkl&mno\"pqr"
	accountKey   = azurite.AccountKey
)

// token is a JWT-shaped string like the token authority issues (header, payload, signature).
var token = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." +
	base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"https://graph.microsoft.com","roles":["AuditLog.Read.All"]}`)) + "." +
	base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 64))

func newScanner() *Scanner {
	s := New()
	s.Add("integration client secret", clientSecret)
	s.Add("storage account key", accountKey)
	return s
}

func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestScanFindsEveryForm(t *testing.T) {
	s := newScanner()
	tests := []struct {
		name, data   string
		secret, form string
	}{
		{"as is in a log line", `{"level":"INFO","msg":"secret ` + clientSecret + ` read"}`, "integration client secret", "as is"},
		{"URL-encoded in a query", "GET /x?client_secret=" + url.QueryEscape(clientSecret) + "&y=1", "integration client secret", "URL-encoded"},
		{"JSON-escaped in a body", `{"secret":"` + jsonEscaped(clientSecret) + `"}`, "integration client secret", "JSON-escaped"},
		{"base64 in a header", "X-Thing: " + base64.StdEncoding.EncodeToString([]byte(clientSecret)), "integration client secret", "base64-encoded"},
		{"account key in a connection string", "AccountName=devstoreaccount1;AccountKey=" + accountKey + ";", "storage account key", "as is"},
		{"bearer token", "Authorization: Bearer " + token, JWTRule, "token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := s.Scan("test", []byte(tc.data))
			if len(fs) != 1 {
				t.Fatalf("findings = %v, want one", fs)
			}
			f := fs[0]
			if f.Secret != tc.secret || f.Form != tc.form || f.Where != "test" {
				t.Errorf("finding = %+v, want %s %s", f, tc.secret, tc.form)
			}
			if f.Offset <= 0 || f.Offset >= len(tc.data) {
				t.Errorf("offset %d outside the data", f.Offset)
			}
			for _, v := range []string{clientSecret, accountKey, token, url.QueryEscape(clientSecret)} {
				if strings.Contains(f.Excerpt, v) || strings.Contains(f.String(), v) {
					t.Errorf("excerpt or message shows the secret: %s", f)
				}
			}
			if !strings.Contains(f.Excerpt, "«"+tc.secret+"»") {
				t.Errorf("excerpt %q does not mark the secret", f.Excerpt)
			}
		})
	}
}

func TestScanCleanAndShortValues(t *testing.T) {
	s := newScanner()
	if s.Add("short", "1234567") {
		t.Error("a 7-byte value was accepted")
	}
	clean := []string{
		"",
		`{"msg":"handler listening","port":4711}`,
		"AccountKey=[redacted]",
		"eyJhbGciOiJIUzI1NiJ9 is only a header",
		clientSecret[:len(clientSecret)-1], // a prefix is not the secret
	}
	for _, c := range clean {
		if fs := s.Scan("clean", []byte(c)); len(fs) != 0 {
			t.Errorf("%q: findings %v", c, fs)
		}
	}
	if fs := s.Scan("x", []byte("1234567 1234567")); len(fs) != 0 {
		t.Errorf("short value found: %v", fs)
	}
}

func TestScanReportsEveryOccurrence(t *testing.T) {
	s := newScanner()
	data := clientSecret + " and " + accountKey + " and again " + clientSecret
	fs := s.Scan("x", []byte(data))
	if len(fs) != 3 {
		t.Fatalf("findings = %v, want 3", fs)
	}
	if fs[0].Offset != 0 || fs[2].Offset != strings.LastIndex(data, clientSecret) || fs[1].Secret != "storage account key" {
		t.Errorf("findings = %v", fs)
	}
	err := Check(fs)
	if err == nil || !strings.Contains(err.Error(), "3 finding(s)") || strings.Contains(err.Error(), clientSecret) {
		t.Errorf("Check = %v", err)
	}
	if Check(nil) != nil {
		t.Error("Check(nil) is an error")
	}
}

// TestWriterAcrossWrites feeds a log one byte at a time: the secret split over many writes is found once.
func TestWriterAcrossWrites(t *testing.T) {
	s := newScanner()
	var out bytes.Buffer
	w := s.Writer("handler output", &out)
	log := strings.Repeat("x", 5000) + "secret=" + clientSecret + "\n" + strings.Repeat("y", 10000) + "Bearer " + token + "\n"
	for i := 0; i < len(log); i++ {
		if _, err := w.Write([]byte{log[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != log {
		t.Fatal("the writer changed the stream")
	}
	fs := w.Findings()
	if len(fs) != 2 || fs[0].Secret != "integration client secret" || fs[0].Offset != strings.Index(log, clientSecret) ||
		fs[1].Secret != JWTRule || fs[1].Offset != strings.Index(log, token) || fs[0].Where != "handler output" {
		t.Errorf("findings = %v", fs)
	}
}

// TestAddWhileScanning: secrets learnt later (tokens seen by a stand-in) are found from then on.
func TestAddWhileScanning(t *testing.T) {
	s := New()
	s.DisableJWTRule()
	w := s.Writer("out", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			s.Add(fmt.Sprintf("token %d", i), fmt.Sprintf("tok-%04d-value", i))
		}
	}()
	for i := 0; i < 100; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
	<-done
	fmt.Fprintf(w, "leaked tok-0042-value\n")
	if fs := w.Findings(); len(fs) != 1 || fs[0].Secret != "token 42" {
		t.Errorf("findings = %v", fs)
	}
}

// TestScanStorage plants secrets in a blob (gzip), blob metadata, a table entity and a queue message of a private
// Azurite and expects each to be reported where it is.
func TestScanStorage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := azurite.Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	blobs, err := srv.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := srv.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	queues, err := srv.QueueClient()
	if err != nil {
		t.Fatal(err)
	}
	st := Storage{Blobs: blobs, Tables: tables, Queues: queues}
	s := newScanner()

	// Clean content first: nothing found, but everything read.
	if _, err := blobs.CreateContainer(ctx, "entra-raw", nil); err != nil {
		t.Fatal(err)
	}
	put := func(name string, content []byte, md map[string]*string) {
		t.Helper()
		if _, err := blobs.UploadBuffer(ctx, "entra-raw", name, content, &azblob.UploadBufferOptions{Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	put("clean.ndjson.gz", gz(t, `{"id":"1"}`+"\n"), nil)
	if _, err := tables.CreateTable(ctx, "runs", nil); err != nil {
		t.Fatal(err)
	}
	runs := tables.NewClient("runs")
	addEntity := func(rk, msg string) {
		t.Helper()
		e, _ := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: "default", RowKey: rk}, Properties: map[string]any{"Errors": msg}})
		if _, err := runs.AddEntity(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	addEntity("r1", "graph transient: reset")
	if _, err := queues.CreateQueue(ctx, "collect-work", nil); err != nil {
		t.Fatal(err)
	}
	q := queues.NewQueueClient("collect-work")
	fs, counts, err := s.ScanStorage(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 || counts.Blobs != 1 || counts.Entities != 1 || counts.Queues != 1 || counts.Bytes == 0 {
		t.Fatalf("clean storage: findings %v, counts %s", fs, counts)
	}

	// Now plant one secret in each place.
	put("integration=default/type=x/part-0001.ndjson.gz", gz(t, `{"id":"2","note":"`+jsonEscaped(clientSecret)+`"}`+"\n"), nil)
	leak := accountKey
	put("meta.json", []byte("{}"), map[string]*string{"note": &leak})
	addEntity("r2", "token request with Bearer "+token)
	if _, err := q.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString([]byte(`{"secret":"`+jsonEscaped(clientSecret)+`"}`)), nil); err != nil {
		t.Fatal(err)
	}
	fs, _, err = s.ScanStorage(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"blob entra-raw/integration=default/type=x/part-0001.ndjson.gz": "integration client secret",
		"blob entra-raw/meta.json (metadata)":                           "storage account key",
		"table runs entity default/r2":                                  JWTRule,
	}
	got := map[string]string{}
	var queueHit bool
	for _, f := range fs {
		got[f.Where] = f.Secret
		queueHit = queueHit || strings.HasPrefix(f.Where, "queue collect-work message") && strings.HasSuffix(f.Where, "(base64-decoded)")
	}
	for where, secret := range want {
		if got[where] != secret {
			t.Errorf("%s: got %q, want %q (all findings: %v)", where, got[where], secret, fs)
		}
	}
	if !queueHit {
		t.Errorf("the queue message was not reported: %v", fs)
	}
	if len(fs) != 4 {
		t.Errorf("findings = %v, want 4", fs)
	}
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
