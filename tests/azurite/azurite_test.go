package azurite

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

func TestMain(m *testing.M) { Main(m) }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip writes one item to each service and reads it back; it is used before and after outages.
type roundTrip struct {
	container, table, queue string
}

func (rt roundTrip) write(ctx context.Context, t *testing.T, s *Server, payload string) {
	t.Helper()
	bc, err := s.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.UploadBuffer(ctx, rt.container, "item.txt", []byte(payload), nil); err != nil {
		t.Fatalf("upload blob: %v", err)
	}
	tc, err := s.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	entity := []byte(`{"PartitionKey":"p","RowKey":"r","Payload":"` + payload + `"}`)
	if _, err := tc.NewClient(rt.table).UpsertEntity(ctx, entity, nil); err != nil {
		t.Fatalf("upsert entity: %v", err)
	}
	qc, err := s.QueueClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qc.NewQueueClient(rt.queue).EnqueueMessage(ctx, payload, nil); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func (rt roundTrip) read(ctx context.Context, t *testing.T, s *Server, want string) {
	t.Helper()
	bc, err := s.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bc.DownloadStream(ctx, rt.container, "item.txt", nil)
	if err != nil {
		t.Fatalf("download blob: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(got) != want {
		t.Errorf("blob = %q, %v; want %q", got, err, want)
	}
	tc, err := s.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	ent, err := tc.NewClient(rt.table).GetEntity(ctx, "p", "r", nil)
	if err != nil {
		t.Fatalf("get entity: %v", err)
	}
	if !strings.Contains(string(ent.Value), `"Payload":"`+want+`"`) {
		t.Errorf("entity = %s; want Payload %q", ent.Value, want)
	}
	qc, err := s.QueueClient()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := qc.NewQueueClient(rt.queue).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: ptr(int32(32))})
	if err != nil {
		t.Fatalf("peek: %v", err)
	}
	found := false
	for _, m := range msgs.Messages {
		if m.MessageText != nil && *m.MessageText == want {
			found = true
		}
	}
	if !found {
		t.Errorf("queue %s has no message %q", rt.queue, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSharedServicesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := Shared(t)
	rt := roundTrip{container: NewContainer(t), table: NewTable(t), queue: NewQueue(t)}
	rt.write(ctx, t, s, "hello-azurite")
	rt.read(ctx, t, s, "hello-azurite")
}

func TestConnectionStringUsesActualPorts(t *testing.T) {
	t.Parallel()
	s := Shared(t)
	cs := s.ConnectionString()
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(cs, ";"), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("malformed pair %q in %q", kv, cs)
		}
		fields[k] = v
	}
	tests := []struct{ key, want string }{
		{"DefaultEndpointsProtocol", "http"},
		{"AccountName", AccountName},
		{"AccountKey", AccountKey},
		{"BlobEndpoint", "http://127.0.0.1:" + strconv.Itoa(s.BlobPort) + "/devstoreaccount1"},
		{"QueueEndpoint", "http://127.0.0.1:" + strconv.Itoa(s.QueuePort) + "/devstoreaccount1"},
		{"TableEndpoint", "http://127.0.0.1:" + strconv.Itoa(s.TablePort) + "/devstoreaccount1"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := fields[tc.key]; got != tc.want {
				t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
	if s.BlobPort == s.QueuePort || s.QueuePort == s.TablePort || s.BlobPort == s.TablePort {
		t.Errorf("ports not distinct: %d %d %d", s.BlobPort, s.QueuePort, s.TablePort)
	}
}

func TestFreshResourcesAreDeletedAfterTheTest(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := Shared(t)
	var rt roundTrip
	t.Run("inner", func(t *testing.T) {
		rt = roundTrip{container: s.NewContainer(t), table: s.NewTable(t), queue: s.NewQueue(t)}
		rt.write(ctx, t, s, "short-lived")
	})
	bc, _ := s.BlobClient()
	if _, err := bc.ServiceClient().NewContainerClient(rt.container).GetProperties(ctx, nil); !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		t.Errorf("container %s still there after the test: %v", rt.container, err)
	}
	qc, _ := s.QueueClient()
	if _, err := qc.NewQueueClient(rt.queue).GetProperties(ctx, nil); !queueerror.HasCode(err, queueerror.QueueNotFound) {
		t.Errorf("queue %s still there after the test: %v", rt.queue, err)
	}
	tc, _ := s.TableClient()
	pager := tc.NewListTablesPager(&aztables.ListTablesOptions{Filter: ptr("TableName eq '" + rt.table + "'")})
	page, err := pager.NextPage(ctx)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	if len(page.Tables) != 0 {
		t.Errorf("table %s still there after the test", rt.table)
	}
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9]{2,62}$`)

func TestUniqueName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, prefix string }{
		{"plain", "c"},
		{"empty prefix", ""},
		{"digit prefix", "7up"},
		{"upper and symbols", "My_Queue-Name!"},
		{"long prefix", strings.Repeat("abcdefghij", 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 500 {
				n := UniqueName(t, tc.prefix)
				if !validName.MatchString(n) {
					t.Fatalf("UniqueName(%q) = %q: not a valid container/queue/table name", tc.prefix, n)
				}
				if seen[n] {
					t.Fatalf("UniqueName(%q) repeated %q", tc.prefix, n)
				}
				seen[n] = true
			}
		})
	}
}

func TestStartWithoutAzuriteSaysMakeTools(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Start(testContext(t), &Options{Root: root})
	if err == nil {
		_ = s.Stop()
		t.Fatal("Start succeeded without node_modules")
	}
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("error = %v; want ErrNotInstalled mentioning `make tools`", err)
	}
}

// TestOutagesKeepPortsAndData drives one private Azurite through the outages reliability tests need: a graceful
// restart (data kept), a pause (requests hang) and a crash followed by a restart (service back on the same ports).
func TestOutagesKeepPortsAndData(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, err := Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	rt := roundTrip{container: s.NewContainer(t), table: s.NewTable(t), queue: s.NewQueue(t)}
	rt.write(ctx, t, s, "before-outage")
	ports := [3]int{s.BlobPort, s.QueuePort, s.TablePort}

	steps := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"restart keeps ports and data", func(t *testing.T) {
			if err := s.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if got := [3]int{s.BlobPort, s.QueuePort, s.TablePort}; got != ports {
				t.Errorf("ports after restart = %v, want %v", got, ports)
			}
			rt.read(ctx, t, s, "before-outage")
		}},
		{"pause makes requests hang until resume", func(t *testing.T) {
			if err := s.Pause(); err != nil {
				t.Fatal(err)
			}
			bc, _ := s.BlobClient()
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := bc.ServiceClient().NewContainerClient(rt.container).GetProperties(short, nil)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("request to a paused Azurite: err = %v, want deadline exceeded", err)
			}
			if err := s.Resume(); err != nil {
				t.Fatal(err)
			}
			rt.read(ctx, t, s, "before-outage")
		}},
		{"kill then restart serves again", func(t *testing.T) {
			if err := s.Kill(); err != nil {
				t.Fatal(err)
			}
			if s.Running() {
				t.Fatal("Running after Kill")
			}
			// No retries, so the refused connection surfaces at once.
			noRetry := &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
			bc, err := azblob.NewClientFromConnectionString(s.ConnectionString(), noRetry)
			if err != nil {
				t.Fatal(err)
			}
			// Refused, or — a connection the dying process had accepted — reset or a broken pipe: not served.
			_, err = bc.UploadBuffer(ctx, rt.container, "x", []byte("x"), nil)
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("upload to a killed Azurite: err = %v, want connection refused (or reset)", err)
			}
			if err := s.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			c := UniqueName(t, "c")
			if _, err := bc.CreateContainer(ctx, c, nil); err != nil {
				t.Errorf("create container after restart: %v", err)
			}
		}},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.check) {
			return
		}
	}
}

func TestStopEndsProcessAndRemovesTemporaryData(t *testing.T) {
	t.Parallel()
	s, err := Start(testContext(t), &Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.cmd.Process.Pid
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("azurite pid %d still exists after Stop (kill -0: %v)", pid, err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data folder %s still exists after Stop: %v", s.Dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
