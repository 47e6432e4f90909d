package entrasim

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// route is one Graph operation. Phase-2 endpoints (directory objects, delta, remediation) add routes here
// with their own family, permissions and handler; the pipeline in ServeHTTP (request ids, authentication,
// throttling, permissions, counters, request log) is shared.
type route struct {
	method  string
	version string   // "v1.0" or "beta"
	segs    []string // path segments; "{}" matches any one segment; matched case-insensitively
	family  family
	name    string // endpoint name in counters
	perms   []permission
	// cost is the directory resource-unit cost (directory family only); nil means 1.
	cost func(r *http.Request) float64
	// classify, when set, names the request's endpoint and the families it counts against (the first is the
	// one its counters go to), overriding name and family: a users list selecting signInActivity counts
	// against signInActivity, reports and directory.
	classify func(r *http.Request) (name string, families []family)
	serve    func(rc *reqCtx)
}

// reqCtx carries one request through the pipeline.
type reqCtx struct {
	w               *statusWriter
	r               *http.Request
	arrival         time.Time
	sim             time.Time
	requestID       string
	clientRequestID string
	base            string // scheme://host of this server
	route           *route
	family          family   // the family counters go to (route.family unless classify says otherwise)
	endpoint        string   // the endpoint name in counters
	params          []string // values of the "{}" segments
	principal       Principal
	streams         []string
	records         int
	fault           FaultKind
	throttled       bool
	finished        bool // recorded already (a reset records before closing)
}

// statusWriter records the status and lets handlers flush and hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush, Hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		// OData functions without parameters may be called with or without "()": users/delta() is
		// users/delta (msgraph-sdk-go sends the former).
		s = strings.TrimSuffix(s, "()")
		// Graph's schema aliases its namespace microsoft.graph as "graph" (<Schema Namespace="microsoft.graph"
		// Alias="graph">), so a cast segment may use either; msgraph-sdk-go sends graph.directoryRole.
		if len(s) > len("graph.") && strings.EqualFold(s[:len("graph.")], "graph.") {
			s = "microsoft." + s
		}
		segs[i] = s
	}
	return segs
}

func (t *Tenant) buildRoutes() {
	for _, ep := range logEndpoints {
		ep := ep
		t.routes = append(t.routes, &route{
			method: http.MethodGet, version: ep.version, segs: splitPath(ep.path), family: familyReports,
			name: ep.name, perms: ep.perms, serve: func(rc *reqCtx) { t.serveLog(rc, ep) },
		})
	}
}

// match finds the route for a request, or the error Graph gives for an unknown path or method.
func (t *Tenant) match(r *http.Request) (*route, []string, *gerr) {
	segs := splitPath(r.URL.Path)
	if len(segs) == 0 || segs[0] != "v1.0" && segs[0] != "beta" {
		// Graph answers unknown versions with 400 (wording unverified).
		return nil, nil, badRequest("Invalid version.")
	}
	version, rest := segs[0], segs[1:]
	methodMismatch := false
	for _, rt := range t.routes {
		if rt.version != version || len(rt.segs) != len(rest) {
			continue
		}
		var params []string
		ok := true
		for i, s := range rt.segs {
			if s == "{}" {
				params = append(params, rest[i])
				continue
			}
			if !strings.EqualFold(s, rest[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method != r.Method {
			methodMismatch = true
			continue
		}
		return rt, params, nil
	}
	if methodMismatch {
		// Unverified wording.
		return nil, nil, &gerr{status: http.StatusMethodNotAllowed, code: "Request_BadRequest", message: fmt.Sprintf("The HTTP method '%s' is not allowed for this resource.", r.Method)}
	}
	// The first segment no route continues with: "Resource not found for the segment 'x'." (Graph's
	// answer, e.g. msgraph-sdk-powershell #3189).
	bad := ""
	for i := range rest {
		found := false
		for _, rt := range t.routes {
			if rt.version != version || len(rt.segs) <= i {
				continue
			}
			prefix := true
			for j := 0; j <= i; j++ {
				if rt.segs[j] != "{}" && !strings.EqualFold(rt.segs[j], rest[j]) {
					prefix = false
					break
				}
			}
			if prefix {
				found = true
				break
			}
		}
		if !found {
			bad = rest[i]
			break
		}
	}
	if bad == "" && len(rest) > 0 {
		bad = rest[len(rest)-1]
	}
	return nil, nil, badRequest(fmt.Sprintf("Resource not found for the segment '%s'.", bad))
}

// ServeHTTP serves the Graph API and the simulator's own /_sim endpoints.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := &reqCtx{
		w:       &statusWriter{ResponseWriter: w},
		r:       r,
		arrival: time.Now(),
		sim:     t.cfg.Now().UTC(),
	}
	rc.requestID = guidFrom(uint64(t.cfg.Seed), strKey("request"), t.reqSeq.Add(1), uint64(rc.arrival.UnixNano()))
	rc.clientRequestID = r.Header.Get("client-request-id")
	if rc.clientRequestID == "" {
		rc.clientRequestID = rc.requestID
	}
	rc.base = t.graphURL
	if rc.base == "" {
		rc.base = "https://" + r.Host
	}
	h := w.Header()
	h.Set("request-id", rc.requestID)
	h.Set("client-request-id", rc.clientRequestID)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"ENTRASIM"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		t.serveSim(rc)
		return
	}
	defer t.finish(rc)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			t.cfg.Logger.Error("entrasim: handler panic", "panic", fmt.Sprint(p), "path", r.URL.Path)
			if rc.w.status == 0 {
				t.writeError(rc, serverError(500))
			}
		}
	}()
	rt, params, gerr := t.match(r)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	rc.route, rc.params = rt, params
	rc.family, rc.endpoint = rt.family, rt.name
	families := []family{rt.family}
	if rt.classify != nil {
		rc.endpoint, families = rt.classify(r)
		rc.family = families[0]
	}
	p, gerr := t.authenticate(r)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	rc.principal = p
	cost := 1.0
	if rt.cost != nil {
		cost = rt.cost(r)
	}
	if slices.Contains(families, familyDirectory) {
		h.Set("x-ms-resource-unit", strconv.FormatFloat(cost, 'f', -1, 64))
	}
	if !t.cfg.DisableThrottling {
		keyOf := func(f family) string {
			if familyDefs[f].perTenant {
				return p.TenantID
			}
			return p.TenantID + "|" + p.AppID
		}
		a := t.limiter.admitAll(families, keyOf, rc.arrival, cost)
		if slices.Contains(families, familyDirectory) {
			if a.used > 0.8 {
				h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(min(a.used, 1), 'f', 1, 64))
			}
		}
		if !a.ok {
			rc.throttled = true
			t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) { c.Throttled++ })
			t.writeError(rc, t.throttleError(a.rejectedBy, p, a.retryAfter))
			return
		}
	}
	t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) {
		c.Accepted++
		if slices.Contains(families, familyDirectory) {
			c.ResourceUnits += cost
		}
	})
	for _, perm := range rt.perms {
		if !perm.granted(p.Roles) {
			t.writeError(rc, perm.missing())
			return
		}
	}
	rt.serve(rc)
}

// throttleError is the 429 of a family. Reports: code and message as the reporting API sends them
// ("UnknownError", "This request is throttled. Please try again after the value specified in the
// Retry-After header." — MicrosoftDocs/azure-docs #70953); protection: no Retry-After (reference §3);
// directory: the x-ms-throttle headers (reference §3).
func (t *Tenant) throttleError(f family, p Principal, retryAfter time.Duration) *gerr {
	e := &gerr{status: http.StatusTooManyRequests, code: "TooManyRequests", header: map[string]string{}}
	switch f {
	case familyReports, familySignInActivity:
		e.code = "UnknownError"
		e.message = "This request is throttled. Please try again after the value specified in the Retry-After header. CorrelationId: " + guidFrom(uint64(t.cfg.Seed), strKey("throttle"), t.reqSeq.Add(1))
	case familyDirectory:
		e.message = fmt.Sprintf("Too many requests from Identifier:%s+%s under category:throttle.aad.ags.tenant.appId.reads. Please try again later.", p.TenantID, p.AppID)
		e.header["x-ms-throttle-scope"] = "Tenant_Application/Read/" + p.TenantID + "/" + p.AppID
		e.header["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
	default:
		e.message = "Too Many Requests"
	}
	if familyDefs[f].retryAfter {
		e.header["Retry-After"] = formatRetryAfter(retryAfter)
	}
	return e
}

// finish records the request in the counters and the request log.
func (t *Tenant) finish(rc *reqCtx) {
	if rc.finished {
		return
	}
	rec := RequestRecord{
		Arrival: rc.arrival, SimTime: rc.sim, Method: rc.r.Method, Path: rc.r.URL.Path,
		Query: rc.r.URL.RawQuery, AppID: rc.principal.AppID, Status: rc.w.status, Records: rc.records, Fault: string(rc.fault),
		Throttled: rc.throttled, Duration: time.Since(rc.arrival),
	}
	if rc.route != nil {
		rec.Family, rec.Endpoint = string(rc.family), rc.endpoint
	}
	if rec.Status == 0 {
		rec.Status = 499 // the client went away (or the connection was cut) before a response
	}
	t.counters.record(rec)
}

// writeError sends a Graph error body.
func (t *Tenant) writeError(rc *reqCtx, e *gerr) {
	h := rc.w.Header()
	for k, v := range e.header {
		h.Set(k, v)
	}
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s", client_id="00000003-0000-0000-c000-000000000000"`, t.authorizeURI()))
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Encoding")
	rc.w.WriteHeader(e.status)
	var w jw
	w.beginObj()
	w.key("error")
	w.beginObj()
	w.kstr("code", e.code)
	w.kstr("message", e.message)
	w.key("innerError")
	w.beginObj()
	w.kstr("date", rc.sim.Format("2006-01-02T15:04:05"))
	w.kstr("request-id", rc.requestID)
	w.kstr("client-request-id", rc.clientRequestID)
	w.endObj()
	w.endObj()
	w.endObj()
	_, _ = rc.w.Write(w.b)
}

func (t *Tenant) authorizeURI() string {
	if t.authorityURL != "" {
		return strings.TrimSuffix(t.authorityURL, "/") + "/common/oauth2/authorize"
	}
	return "https://login.microsoftonline.com/common/oauth2/authorize"
}

// serveLog answers a log endpoint: licence, query, faults, page latency, then the page itself, streamed.
func (t *Tenant) serveLog(rc *reqCtx, ep *logEndpoint) {
	if e := ep.licence(t.lic()); e != nil {
		t.writeError(rc, e)
		return
	}
	if ep.streams[0].kind == kindSignIn && t.cfg.NonPremiumShare > 0 && t.draw(t.cfg.NonPremiumShare) {
		// Graph intermittently answers licensed tenants with the non-premium 403 (reference §4).
		t.writeError(rc, errNonPremium)
		return
	}
	o, gerr := parseOptions(rc.r.URL.RawQuery)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	q, gerr := t.parseLogQuery(ep, o)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	for _, d := range q.streams {
		rc.streams = append(rc.streams, d.name)
	}
	var pageFault *FaultRule
	if f, ok := t.faults.pick(rc.r.URL.Path, rc.streams, q.skipToken, false); ok {
		rc.fault = f.Kind
		t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) { c.Faults++ })
		switch f.Kind {
		case FaultTruncate, FaultInvalidJSON:
			pageFault = &f
		case FaultDelay:
			if !hold(rc.r.Context(), f.Delay) {
				return
			}
		default:
			t.applyFault(rc, f)
			return
		}
	}

	now := rc.sim.UnixNano()
	lo := max(q.span.lo, rc.sim.Add(-retention(t.lic())).UnixNano())
	hi := min(q.span.hi, now)
	spec := &scanSpec{lo: lo, hi: hi, now: now, desc: q.desc, after: q.after}
	for _, d := range q.streams {
		spec.streams = append(spec.streams, t.streams[d.name])
	}
	if q.filter != nil {
		ev := evaluator{caseSensitive: ep.schema.caseSensitive}
		if q.recordFilter {
			spec.match = func(e *event) bool { return ev.eval(q.filter, t.gen.record(e), nil, nil) }
		} else {
			spec.match = func(e *event) bool { return ev.eval(q.filter, skeletonView{e}, nil, nil) }
		}
	}
	var page []event
	more := false
	if q.pageSize > 0 {
		sc := newScanner(spec)
		for {
			e, ok := sc.next()
			if !ok {
				break
			}
			if len(page) == q.pageSize {
				more = true
				break
			}
			page = append(page, e)
		}
	}
	if !t.pageDelay(rc.r.Context()) {
		return
	}
	t.writePage(rc, ep, q, page, more, pageFault)
}

// skeletonView answers the time and event-type atoms of a filter without generating the record.
type skeletonView struct{ e *event }

func (v skeletonView) get(path string) value {
	if path == "createdDateTime" || path == "activityDateTime" {
		return tval(v.e.ts)
	}
	return value{}
}
func (v skeletonView) scalars(coll string) []value {
	if coll == "signInEventTypes" {
		return []value{sval(v.e.st.def.eventType)}
	}
	return nil
}
func (v skeletonView) items(string) []view { return nil }

// draw reports true with probability p from the tenant's seeded generator.
func (t *Tenant) draw(p float64) bool {
	t.rngMu.Lock()
	defer t.rngMu.Unlock()
	return t.rng.chance(p)
}

// hold waits for d; false means the request was cancelled first.
func hold(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pageDelay waits for the configured per-page latency; false means the request was cancelled.
func (t *Tenant) pageDelay(ctx context.Context) bool {
	if t.cfg.PageLatency.IsZero() {
		return ctx.Err() == nil
	}
	t.rngMu.Lock()
	d := t.cfg.PageLatency.sample(t.rng)
	t.rngMu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// applyFault answers a request with a fault that replaces the whole response.
func (t *Tenant) applyFault(rc *reqCtx, f FaultRule) {
	switch f.Kind {
	case FaultThrottle:
		e := &gerr{status: http.StatusTooManyRequests, code: "TooManyRequests", message: "Too Many Requests", header: map[string]string{}}
		if rc.route.family == familyReports {
			e = t.throttleError(familyReports, rc.principal, f.RetryAfter)
		}
		delete(e.header, "Retry-After")
		if f.RetryAfter > 0 {
			e.header["Retry-After"] = formatRetryAfter(f.RetryAfter)
		}
		t.writeError(rc, e)
	case FaultStatus:
		status := f.Status
		if status == 0 {
			status = 500
		}
		e := *faultError(status)
		if f.RetryAfter > 0 {
			e.header = map[string]string{"Retry-After": formatRetryAfter(f.RetryAfter)}
		}
		t.writeError(rc, &e)
	case FaultInvalidSkipToken:
		if rc.route.family == familyDirectory {
			t.writeError(rc, errDirSkipToken)
		} else {
			t.writeError(rc, errInvalidSkipToken)
		}
	case FaultResyncRequired:
		t.writeError(rc, &gerr{status: http.StatusBadRequest, code: "resyncRequired", message: resyncMessage})
	case FaultReset:
		conn, _, err := http.NewResponseController(rc.w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		// Record the request before the client can see the reset, so the log holds it when the client
		// looks.
		t.finish(rc)
		rc.finished = true
		_ = conn.Close()
	}
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// writePage streams one page: @odata.context, @odata.nextLink when more events follow, and the records.
func (t *Tenant) writePage(rc *reqCtx, ep *logEndpoint, q *logQuery, page []event, more bool, fault *FaultRule) {
	var head jw
	head.beginObj()
	ctx := rc.base + "/" + ep.version + "/$metadata#" + ep.path
	if len(q.selList) > 0 {
		ctx += "(" + strings.Join(q.selList, ",") + ")"
	}
	head.kstr("@odata.context", ctx)
	if more {
		head.kstr("@odata.nextLink", t.nextLinkAt(rc, q, page[len(page)-1].pos()))
	}
	head.key("value")
	head.b = append(head.b, '[')

	h := rc.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")

	if fault != nil && fault.Kind == FaultTruncate && fault.Abort {
		t.writeAborted(rc, ep, q, page, head.b)
		return
	}
	var out io.Writer = rc.w
	if strings.Contains(rc.r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz := gzipPool.Get().(*gzip.Writer)
		gz.Reset(rc.w)
		defer func() {
			_ = gz.Close()
			gzipPool.Put(gz)
		}()
		out = gz
	}
	rc.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(out, 64<<10)
	defer bw.Flush()
	_, _ = bw.Write(head.b)

	rec := jw{sel: q.sel, selDepth: 1}
	cut := -1
	if fault != nil && fault.Kind == FaultTruncate {
		cut = len(page) / 2
	}
	for i := range page {
		e := &page[i]
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		rec.reset()
		ep.write(t.gen.record(e), &rec)
		if i == cut {
			// Cut in the middle of this record: a valid start, then nothing.
			_, _ = bw.Write(rec.b[:len(rec.b)/2])
			rc.records = i
			t.countRecords(rc, page[:i])
			return
		}
		if _, err := bw.Write(rec.b); err != nil {
			return
		}
	}
	if cut >= 0 {
		return // an empty page cut right after "value":[
	}
	if fault != nil && fault.Kind == FaultInvalidJSON {
		_ = bw.WriteByte(',') // a trailing comma: not JSON
	}
	_, _ = bw.WriteString("]}")
	rc.records = len(page)
	t.countRecords(rc, page)
	t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) {
		if fault == nil {
			c.Pages++
			c.Records += int64(len(page))
		}
	})
}

func (t *Tenant) countRecords(rc *reqCtx, page []event) {
	for i := range page {
		t.counters.addStream(page[i].st.def.name, 1)
	}
}

// writeAborted announces the whole page in Content-Length, sends half of it and closes the connection.
func (t *Tenant) writeAborted(rc *reqCtx, ep *logEndpoint, q *logQuery, page []event, head []byte) {
	body := append([]byte(nil), head...)
	rec := jw{sel: q.sel, selDepth: 1}
	for i := range page {
		if i > 0 {
			body = append(body, ',')
		}
		rec.reset()
		ep.write(t.gen.record(&page[i]), &rec)
		body = append(body, rec.b...)
	}
	body = append(body, "]}"...)
	rc.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rc.w.WriteHeader(http.StatusOK)
	_, _ = rc.w.Write(body[:len(body)/2])
	ctl := http.NewResponseController(rc.w)
	_ = ctl.Flush()
	conn, _, err := ctl.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (t *Tenant) nextLinkAt(rc *reqCtx, q *logQuery, c cursor) string {
	return t.nextLinkFor(rc.base, rc.r.URL.Path, q, c)
}
