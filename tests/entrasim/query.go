package entrasim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// OData system query options of the list endpoints: parsing, validation against the endpoint, and the
// opaque, tamper-evident $skiptoken of nextLinks.

// options are the raw system query options of a request. Graph accepts them with or without the "$".
type options struct {
	vals map[string]string // lower-case name without "$" → value
}

func parseOptions(raw string) (options, *gerr) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return options{}, badRequest(fmt.Sprintf("The query specified in the URI is not valid. %v", err))
	}
	o := options{vals: map[string]string{}}
	for k, vs := range q {
		name := strings.ToLower(strings.TrimPrefix(k, "$"))
		if _, dup := o.vals[name]; dup || len(vs) > 1 {
			// OData: "Query option 'Filter' was specified more than once, but it must be specified at most once."
			return options{}, badRequest(fmt.Sprintf("Query option '%s' was specified more than once, but it must be specified at most once.", strings.TrimPrefix(k, "$")))
		}
		if !strings.HasPrefix(k, "$") && !knownOption[name] {
			continue // custom query parameters are ignored
		}
		o.vals[name] = vs[0]
	}
	return o, nil
}

var knownOption = map[string]bool{
	"filter": true, "top": true, "skiptoken": true, "select": true, "orderby": true, "skip": true,
	"count": true, "search": true, "expand": true, "format": true, "deltatoken": true,
}

func (o options) get(name string) (string, bool) {
	v, ok := o.vals[name]
	return v, ok
}

// logQuery is a validated list request.
type logQuery struct {
	ep        *logEndpoint
	filterRaw string
	selectRaw string
	orderRaw  string
	topRaw    string
	filter    cnode
	pageSize  int
	sel       map[string]bool
	selList   []string
	desc      bool
	streams   []*streamDef
	span      span
	after     *cursor
	skipToken bool
	// recordFilter is set when the filter reads fields beyond time and event type.
	recordFilter bool
}

func (t *Tenant) parseLogQuery(ep *logEndpoint, o options) (*logQuery, *gerr) {
	q := &logQuery{ep: ep, pageSize: ep.defaultTop, desc: true, span: fullSpan}
	for name := range o.vals {
		switch name {
		case "filter", "top", "skiptoken", "select", "orderby":
		default:
			// Unverified wording; the reporting endpoints document only $filter, $top, $skiptoken (and
			// $orderby, $select where noted).
			return nil, badRequest(fmt.Sprintf("Query option '$%s' is not supported for this request.", name))
		}
	}
	if v, ok := o.get("top"); ok {
		q.topRaw = v
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return nil, badRequest(fmt.Sprintf("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v))
		}
		// A $top above the maximum is served at the maximum page size rather than refused: public scripts
		// use $top=5000 on signIns without an error, and the docs give 1,000 as the maximum page size.
		q.pageSize = min(n, ep.maxTop)
	}
	if v, ok := o.get("select"); ok && strings.TrimSpace(v) != "" {
		q.selectRaw = v
		q.sel = map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "*" {
				q.sel = nil
				q.selList = nil
				break
			}
			canon := ""
			for _, k := range ep.schema.knownProps {
				if k == p || !ep.schema.caseSensitive && strings.EqualFold(k, p) {
					canon = k
					break
				}
			}
			if canon == "" {
				return nil, badRequest(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", p, ep.schema.typeName))
			}
			if !q.sel[canon] {
				q.sel[canon] = true
				q.selList = append(q.selList, canon)
			}
		}
	}
	if v, ok := o.get("orderby"); ok && strings.TrimSpace(v) != "" {
		q.orderRaw = v
		f := strings.Fields(v)
		match := len(f) > 0 && (f[0] == ep.schema.timeProp || !ep.schema.caseSensitive && strings.EqualFold(f[0], ep.schema.timeProp))
		if !match || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "asc") && !strings.EqualFold(f[1], "desc") {
			// Unverified wording: only the time property is documented as sortable.
			return nil, badRequest(fmt.Sprintf("OrderBy not supported for '%s'.", v))
		}
		// "prop desc" sorts newest first; "prop" and "prop asc" oldest first (OData's default direction).
		q.desc = len(f) == 2 && strings.EqualFold(f[1], "desc")
	}
	if v, ok := o.get("filter"); ok && strings.TrimSpace(v) != "" {
		q.filterRaw = v
		n, err := parseFilter(v)
		if err != nil {
			return nil, filterError(err)
		}
		c, err := ep.schema.compile(n)
		if err != nil {
			return nil, filterError(err)
		}
		q.filter = c
		q.span = timeSpan(c, ep.schema.timeProp)
		q.recordFilter = readsRecord(c, ep.schema.timeProp)
	}
	// Streams: the beta sign-in endpoint serves one stream per signInEventTypes value and, without a
	// filter on the event type, interactive sign-ins only (signIn resource, signInEventTypes: "Only
	// interactive sign-ins are returned unless you set an explicit filter").
	q.streams = ep.streams
	if ep.eventTypes {
		if q.filter == nil || !mentions(q.filter, "signInEventTypes") {
			q.streams = ep.streams[:1]
		} else {
			q.streams = nil
			for _, d := range ep.streams {
				if selects(q.filter, "signInEventTypes", d.eventType, ep.schema.caseSensitive) != triFalse {
					q.streams = append(q.streams, d)
				}
			}
		}
	}
	if v, ok := o.get("skiptoken"); ok {
		q.skipToken = true
		c, desc, ok := t.decodeSkipToken(v, q)
		if !ok {
			return nil, errInvalidSkipToken
		}
		q.after, q.desc = &c, desc
	}
	return q, nil
}

func filterError(err error) *gerr {
	switch e := err.(type) {
	case *syntaxError:
		return badRequest("Invalid filter clause: " + e.Error())
	case *unsupportedError:
		g := badRequest(e.msg)
		if e.code != "" {
			g.code = e.code
		}
		return g
	}
	return badRequest("Invalid filter clause")
}

// readsRecord reports whether the filter needs record fields beyond the time and the event type.
func readsRecord(n cnode, timeProp string) bool {
	switch n := n.(type) {
	case *cLogic:
		return readsRecord(n.l, timeProp) || readsRecord(n.r, timeProp)
	case *cNot:
		return readsRecord(n.x, timeProp)
	case *cCmp:
		return n.item || n.prop.path != timeProp
	case *cCall:
		return true
	case *cAny:
		return n.coll.path != "signInEventTypes"
	}
	return true
}

// queryHash binds a skip token to the query it continues.
func (q *logQuery) queryHash() uint64 {
	return hashOf(strKey(q.ep.name), strKey(q.filterRaw), strKey(q.selectRaw), strKey(q.orderRaw), uint64(q.pageSize))
}

// Skip token layout (hex): version, query hash, position (time, k0, k1), direction, then the first 12 bytes
// of an HMAC-SHA256 over the rest under a key derived from the seed. Tokens are deterministic for a given
// tenant and query and cannot be forged or edited.
const skipTokenVersion = 1

func (t *Tenant) encodeSkipToken(q *logQuery, c cursor) string {
	var b [1 + 8 + 8 + 8 + 8 + 1]byte
	b[0] = skipTokenVersion
	binary.BigEndian.PutUint64(b[1:], q.queryHash())
	binary.BigEndian.PutUint64(b[9:], uint64(c.ts))
	binary.BigEndian.PutUint64(b[17:], c.k0)
	binary.BigEndian.PutUint64(b[25:], c.k1)
	if q.desc {
		b[33] = 1
	}
	m := hmac.New(sha256.New, t.skipKey)
	m.Write(b[:])
	return hex.EncodeToString(append(b[:], m.Sum(nil)[:12]...))
}

func (t *Tenant) decodeSkipToken(s string, q *logQuery) (cursor, bool, bool) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 34+12 || raw[0] != skipTokenVersion {
		return cursor{}, false, false
	}
	m := hmac.New(sha256.New, t.skipKey)
	m.Write(raw[:34])
	if !hmac.Equal(m.Sum(nil)[:12], raw[34:]) {
		return cursor{}, false, false
	}
	if binary.BigEndian.Uint64(raw[1:]) != q.queryHash() {
		return cursor{}, false, false
	}
	c := cursor{ts: int64(binary.BigEndian.Uint64(raw[9:])), k0: binary.BigEndian.Uint64(raw[17:]), k1: binary.BigEndian.Uint64(raw[25:])}
	return c, raw[33] == 1, true
}

// nextLink builds the absolute link to the next page: the request's own path on this server with the
// original options re-encoded and the skip token appended (signin-list.md sample nextLinks).
func (t *Tenant) nextLinkFor(base, path string, q *logQuery, c cursor) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(path)
	sep := byte('?')
	add := func(k, v string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
	}
	if q.filterRaw != "" {
		add("$filter", q.filterRaw)
	}
	if q.selectRaw != "" {
		add("$select", q.selectRaw)
	}
	if q.orderRaw != "" {
		add("$orderby", q.orderRaw)
	}
	if q.topRaw != "" {
		add("$top", q.topRaw)
	}
	add("$skiptoken", t.encodeSkipToken(q, c))
	return b.String()
}
