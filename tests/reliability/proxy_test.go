package reliability

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/entra-di/edi/tests/azurite"
)

// op is the kind of a storage request the handler makes, as the proxy sees it.
type op string

// Storage operations the proxy tells apart.
const (
	opPartCommit  op = "part-commit"  // Put Blob or Put Block List of an archive part
	opBlockStage  op = "block-stage"  // Put Block
	opBlobList    op = "blob-list"    // List Blobs: a window starts by listing its buckets' parts
	opBlobRead    op = "blob-read"    // Get Blob or Get Properties: reading archived keys
	opBlobOther   op = "blob-other"   // container operations
	opCursorWrite op = "cursor-write" // insert or update of a cursor entity
	opLeaseWrite  op = "lease-write"  // acquire, renew or release of a lease
	opRunWrite    op = "run-write"    // the run record
	opTableRead   op = "table-read"
	opTableOther  op = "table-other"
)

// storageProxy sits between the handler and Azurite's Blob and Table services (queues are the host's and go to
// Azurite directly). It counts the handler's requests by operation, can act — kill the handler, pause Azurite —
// at the n-th request of an operation, either before the request reaches Azurite or after Azurite answered and
// before the handler hears it, and can block every request as an outage the handler sees.
type storageProxy struct {
	az          *azurite.Server
	blob, table *httptest.Server

	mu        sync.Mutex
	counts    map[op]int
	trig      *trigger
	blocked   bool
	latency   time.Duration        // added before each request is forwarded
	lastWrite map[string]time.Time // by service, the end of the last write Azurite acknowledged
}

// trigger acts once, at the n-th request of kind counted from arming.
type trigger struct {
	kind op
	// dataType, when set, counts only the requests of that data type: its blobs and its cursor.
	dataType string
	n        int
	after    bool
	action   func()
	seen     int
	// done is closed once the action ran.
	done chan struct{}
}

func newStorageProxy(az *azurite.Server) (*storageProxy, error) {
	p := &storageProxy{az: az, counts: map[op]int{}, lastWrite: map[string]time.Time{}}
	var err error
	if p.blob, err = p.serve("blob", az.BlobURL); err != nil {
		return nil, err
	}
	if p.table, err = p.serve("table", az.TableURL); err != nil {
		p.blob.Close()
		return nil, err
	}
	return p, nil
}

// behindProxy is scenario.Options.HandlerStorage for a handler whose Blob and Table traffic goes through a new
// storageProxy, stored in *p once the scenario's Azurite runs.
func behindProxy(p **storageProxy) func(*azurite.Server) (string, error) {
	return func(az *azurite.Server) (string, error) {
		proxy, err := newStorageProxy(az)
		if err != nil {
			return "", err
		}
		*p = proxy
		return proxy.ConnectionString(), nil
	}
}

// ConnectionString points the handler's Blob and Table services at the proxy and its queues at Azurite.
func (p *storageProxy) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + azurite.AccountName + ";AccountKey=" + azurite.AccountKey +
		";BlobEndpoint=" + p.blob.URL + "/" + azurite.AccountName + ";QueueEndpoint=" + p.az.QueueURL +
		";TableEndpoint=" + p.table.URL + "/" + azurite.AccountName + ";"
}

// Close stops the proxy.
func (p *storageProxy) Close() {
	p.blob.Close()
	p.table.Close()
}

func (p *storageProxy) serve(service, target string) (*httptest.Server, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	u.Path = ""
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "storage proxy: "+err.Error(), http.StatusBadGateway)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := classify(service, r)
		if d := p.getLatency(); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		tr, blocked := p.count(kind, r.URL.Path)
		if blocked {
			// An outage: the connection drops without an answer.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "storage proxy: outage", http.StatusServiceUnavailable)
			return
		}
		if tr != nil && !tr.after {
			tr.fire()
			http.Error(w, "storage proxy: acted before forwarding", http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if isWrite(kind) && rec.Code < 300 {
			p.mu.Lock()
			p.lastWrite[service] = time.Now()
			p.mu.Unlock()
		}
		if tr != nil {
			tr.fire()
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv.Listener = ln
	srv.Start()
	return srv, nil
}

func isWrite(k op) bool {
	switch k {
	case opPartCommit, opBlockStage, opBlobOther, opCursorWrite, opLeaseWrite, opRunWrite, opTableOther:
		return true
	}
	return false
}

// classify names the operation of a request to Azurite's Blob or Table service (path /<account>/…).
func classify(service string, r *http.Request) op {
	rest := strings.TrimPrefix(r.URL.Path, "/"+azurite.AccountName)
	rest = strings.TrimPrefix(rest, "/")
	q := r.URL.Query()
	if service == "blob" {
		container, blob, _ := strings.Cut(rest, "/")
		switch {
		case q.Get("restype") == "container" && q.Get("comp") == "list":
			return opBlobList
		case blob == "" || container == "":
			return opBlobOther
		case r.Method == http.MethodPut && q.Get("comp") == "block":
			return opBlockStage
		case r.Method == http.MethodPut && (q.Get("comp") == "" || q.Get("comp") == "blocklist"):
			return opPartCommit
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			return opBlobRead
		}
		return opBlobOther
	}
	table, _, _ := strings.Cut(rest, "(")
	if r.Method == http.MethodGet {
		return opTableRead
	}
	switch table {
	case "cursors":
		return opCursorWrite
	case "leases":
		return opLeaseWrite
	case "runs":
		return opRunWrite
	}
	return opTableOther
}

// count records a request to path and returns the trigger that acts on it, if any, and whether the proxy is
// blocked.
func (p *storageProxy) count(kind op, path string) (*trigger, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked {
		return nil, true
	}
	p.counts[kind]++
	tr := p.trig
	if tr == nil || tr.kind != "" && tr.kind != kind || tr.dataType != "" && !ofDataType(path, tr.dataType) {
		return nil, false
	}
	tr.seen++
	if tr.seen != tr.n {
		return nil, false
	}
	p.trig = nil
	return tr, false
}

// arm sets a trigger: action runs at the n-th request of kind ("" counts every request) from now, before it is
// forwarded or (after) once Azurite answered it. Arming replaces any earlier trigger.
func (p *storageProxy) arm(kind op, n int, after bool, action func()) *trigger {
	tr := &trigger{kind: kind, n: n, after: after, action: action, done: make(chan struct{})}
	p.mu.Lock()
	p.trig = tr
	p.mu.Unlock()
	return tr
}

// armDataType arms like arm, counting only the requests of one data type: its archive blobs and its cursor.
func (p *storageProxy) armDataType(kind op, dataType string, n int, after bool, action func()) {
	p.mu.Lock()
	p.trig = &trigger{kind: kind, dataType: dataType, n: n, after: after, action: action, done: make(chan struct{})}
	p.mu.Unlock()
}

// ofDataType reports whether a storage request path is about a data type: a blob of its folder
// ("…/type=<name>/…") or its cursor entity ("…cursors(PartitionKey='…',RowKey='<name>')").
func ofDataType(path, dataType string) bool {
	return strings.Contains(path, "/type="+dataType+"/") || strings.Contains(path, "RowKey='"+dataType+"'")
}

// armUnless arms like arm unless ctx is done (checked under the lock disarm takes, so a disarm after ctx ends
// always wins).
func (p *storageProxy) armUnless(ctx context.Context, kind op, n int, after bool, action func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() == nil {
		p.trig = &trigger{kind: kind, n: n, after: after, action: action, done: make(chan struct{})}
	}
}

// disarm removes the trigger that has not acted yet.
func (p *storageProxy) disarm() {
	p.mu.Lock()
	p.trig = nil
	p.mu.Unlock()
}

// disarmPending removes tr if it has not acted yet and reports whether it removed it; false means tr acted (or is
// acting) already.
func (p *storageProxy) disarmPending(tr *trigger) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trig != tr {
		return false
	}
	p.trig = nil
	return true
}

func (tr *trigger) fire() {
	tr.action()
	close(tr.done)
}

// setBlocked starts (true) or ends an outage as the handler sees it.
func (p *storageProxy) setBlocked(b bool) {
	p.mu.Lock()
	p.blocked = b
	p.mu.Unlock()
}

// setLatency delays every request by d before it is counted and forwarded (0: none): slow storage.
func (p *storageProxy) setLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

func (p *storageProxy) getLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

// lastWrites returns when Azurite last acknowledged a write of each service.
func (p *storageProxy) lastWrites() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.lastWrite)
}

// Counts returns the requests seen so far by operation.
func (p *storageProxy) Counts() map[op]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

func (p *storageProxy) String() string {
	c := p.Counts()
	return fmt.Sprintf("part commits %d, lists %d, reads %d, cursor writes %d, lease writes %d, run writes %d",
		c[opPartCommit], c[opBlobList], c[opBlobRead], c[opCursorWrite], c[opLeaseWrite], c[opRunWrite])
}
