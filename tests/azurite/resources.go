package azurite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

var nameSeq atomic.Uint64

// UniqueName returns a name that is unique in this process and across runs, valid at once as a blob container,
// queue and table name: 3–63 lowercase letters and digits, starting with a letter. It is built from prefix, the
// test's name (so a leftover resource says which test made it), a counter and random hex.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	p := alnum(prefix, 12)
	if p == "" || p[0] < 'a' {
		p = "x" + p
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	name := p + alnum(t.Name(), 24) + strconv.FormatUint(nameSeq.Add(1), 36) + hex.EncodeToString(rnd[:])
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// alnum lowercases s and keeps its first max letters and digits.
func alnum(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= max {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cleanupTimeout bounds deleting a test's resources; a stopped Azurite must not hang the cleanup.
const cleanupTimeout = 10 * time.Second

// NewContainer creates a fresh blob container in the shared Azurite and deletes it when the test ends.
func NewContainer(t testing.TB) string { t.Helper(); return Shared(t).NewContainer(t) }

// NewTable creates a fresh table in the shared Azurite and deletes it when the test ends.
func NewTable(t testing.TB) string { t.Helper(); return Shared(t).NewTable(t) }

// NewQueue creates a fresh queue in the shared Azurite and deletes it when the test ends.
func NewQueue(t testing.TB) string { t.Helper(); return Shared(t).NewQueue(t) }

// NewContainer creates a fresh blob container and deletes it when the test ends.
func (s *Server) NewContainer(t testing.TB) string {
	t.Helper()
	c, err := s.BlobClient()
	if err != nil {
		t.Fatalf("blob client: %v", err)
	}
	name := UniqueName(t, "c")
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := c.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := c.DeleteContainer(ctx, name, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerNotFound) && s.Running() {
			t.Logf("delete container %s: %v", name, err)
		}
	})
	return name
}

// NewTable creates a fresh table and deletes it when the test ends.
func (s *Server) NewTable(t testing.TB) string {
	t.Helper()
	c, err := s.TableClient()
	if err != nil {
		t.Fatalf("table client: %v", err)
	}
	name := UniqueName(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := c.CreateTable(ctx, name, nil); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := c.DeleteTable(ctx, name, nil); err != nil && !isTableNotFound(err) && s.Running() {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	return name
}

func isTableNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(aztables.TableNotFound)
}

// NewQueue creates a fresh queue and deletes it, and its poison queue if one appeared, when the test ends.
func (s *Server) NewQueue(t testing.TB) string {
	t.Helper()
	c, err := s.QueueClient()
	if err != nil {
		t.Fatalf("queue client: %v", err)
	}
	name := UniqueName(t, "q")
	// Leave room for the "-poison" suffix the Functions host appends.
	if len(name) > 63-len("-poison") {
		name = name[:63-len("-poison")]
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := c.CreateQueue(ctx, name, nil); err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		for _, q := range []string{name, name + "-poison"} {
			if _, err := c.DeleteQueue(ctx, q, nil); err != nil && !queueerror.HasCode(err, queueerror.QueueNotFound) && s.Running() {
				t.Logf("delete queue %s: %v", q, err)
			}
		}
	})
	return name
}
