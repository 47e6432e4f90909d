package hostsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Claim is one claim of an App Service Authentication principal.
type Claim struct {
	Type  string `json:"typ"`
	Value string `json:"val"`
}

// Principal is a signed-in user as App Service Authentication (Easy Auth) presents it.
type Principal struct {
	// AuthType is auth_typ, e.g. "aad".
	AuthType string
	// Claims are the principal's claims (e.g. {"roles", "Integration.Admin"}).
	Claims []Claim
	// NameType and RoleType are name_typ and role_typ; defaults are the .NET ClaimTypes.Name and .Role URIs.
	NameType, RoleType string
	// ID, Name and IDP fill X-MS-CLIENT-PRINCIPAL-ID, -NAME and -IDP (IDP defaults to AuthType).
	ID, Name, IDP string
}

// Claim type URIs of .NET and the Functions key authentication.
const (
	ClaimTypeName      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimTypeRole      = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
	ClaimTypeAuthLevel = "http://schemas.microsoft.com/2017/07/functions/claims/authlevel"
	ClaimTypeKeyID     = "http://schemas.microsoft.com/2017/07/functions/claims/keyid"
	ClaimTypeInvoke    = "http://schemas.microsoft.com/2017/07/functions/claims/invoke"
)

// HTTPRequest is a request from a client to the function app's front end.
type HTTPRequest struct {
	// Method defaults to GET.
	Method string
	// Path is the request path including the route prefix, e.g. /api/status.
	Path string
	// RawQuery is the query string without "?"; Query values are appended to it.
	RawQuery string
	Query    url.Values
	// Header holds the request headers as the client sent them (names keep their case).
	Header http.Header
	// Body is the request body; Chunked sends it without Content-Length, and the host then leaves Body out of
	// the request it gives the handler.
	Body    []byte
	Chunked bool
	// Principal, when set, is injected as App Service Authentication would (X-MS-CLIENT-PRINCIPAL and the
	// matching identity); client-supplied X-MS-CLIENT-PRINCIPAL* headers are always removed.
	Principal *Principal
	// Host and Scheme make up Url (default localhost:7071 and http).
	Host, Scheme string
}

// HTTPResult is what the client gets back.
type HTTPResult struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Function is the function the route matched ("" for 404).
	Function string
	// Invocation is the handler call, nil when the host answered without calling the handler (401, 404).
	Invocation *Invocation
	// FrontEndTimeout reports that the 230 s front-end cap cut the response; the invocation goes on.
	FrontEndTimeout bool
}

// HTTP sends a request through the simulated front end: the route (with routePrefix) picks the function, the
// key in x-functions-key or ?code= is checked against its authLevel (401 without calling the handler), the
// request becomes Data.<name> (reference §5.2), and the http output becomes the response. A failed invocation
// answers 500. The error reports only problems other than an HTTP answer.
func (h *Host) HTTP(ctx context.Context, r *HTTPRequest) (*HTTPResult, error) {
	if r == nil {
		return nil, errors.New("hostsim: nil HTTPRequest")
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	rawQuery := r.RawQuery
	if len(r.Query) > 0 {
		if rawQuery != "" {
			rawQuery += "&"
		}
		rawQuery += r.Query.Encode()
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return &HTTPResult{StatusCode: http.StatusBadRequest, Header: http.Header{}}, nil
	}
	fn, params := h.route(method, r.Path)
	if fn == nil {
		return &HTTPResult{StatusCode: http.StatusNotFound, Header: http.Header{}}, nil
	}
	res := &HTTPResult{Function: fn.Name, Header: http.Header{}}

	level, keyName := h.keyLevel(r.Header, query)
	if !authorized(fn.Trigger.AuthLevel, level) {
		res.StatusCode = http.StatusUnauthorized
		h.logf("%s %s: 401, key level %s below authLevel %s", method, r.Path, level, authLevelName(fn.Trigger.AuthLevel))
		return res, nil
	}

	header := http.Header{}
	for k, vs := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-ms-client-principal") {
			// Easy Auth strips these from external requests; only the platform sets them.
			continue
		}
		header[k] = append([]string(nil), vs...)
	}
	host := r.Host
	if host == "" {
		host = "localhost:7071"
	}
	if headerValue(header, "Host") == "" {
		header["Host"] = []string{host}
	}
	hasBody := len(r.Body) > 0 && !r.Chunked
	if hasBody {
		header["Content-Length"] = []string{strconv.Itoa(len(r.Body))}
	} else if len(r.Body) > 0 {
		header["Transfer-Encoding"] = []string{"chunked"}
	}
	var identities []json.RawMessage
	if p := r.Principal; p != nil {
		hdrs, id := p.easyAuth()
		for k, v := range hdrs {
			header[k] = []string{v}
		}
		identities = append(identities, id)
	}
	if level != levelAnonymous {
		identities = append(identities, keyIdentity(level, keyName))
	}
	if len(identities) == 0 {
		// HttpContext.User of an unauthenticated request: one empty identity. (unverified)
		identities = append(identities, mustJSON(identity{NameClaimType: ClaimTypeName, RoleClaimType: ClaimTypeRole, Claims: []identityClaim{}}))
	}

	scheme := r.Scheme
	if scheme == "" {
		scheme = "http"
	}
	fullURL := scheme + "://" + host + r.Path
	if rawQuery != "" {
		fullURL += "?" + rawQuery
	}
	queryObj := map[string]string{}
	for k, vs := range query {
		// StringValues.ToString(): repeated keys comma-joined.
		queryObj[k] = strings.Join(vs, ",")
	}
	req := map[string]any{
		"Url":        fullURL,
		"Method":     method,
		"Query":      queryObj,
		"Headers":    header,
		"Params":     params,
		"Identities": identities,
	}
	if h.opts.Form == DocsForm {
		// The docs show Query as a string holding the object.
		req["Query"] = string(mustJSON(queryObj))
	}
	if hasBody {
		if isOctetOrMultipart(headerValue(header, "Content-Type")) {
			req["Body"] = base64.StdEncoding.EncodeToString(r.Body)
		} else {
			req["Body"] = string(r.Body)
		}
	}
	data := map[string]json.RawMessage{fn.Trigger.Name: mustJSON(req)}
	meta := h.httpBindingData(header, queryObj, params, hasBody, r.Body)

	type outcome struct{ inv *Invocation }
	done := make(chan outcome, 1)
	now := h.now()
	go func() {
		// The invocation is not cancelled when the front end gives up on it.
		done <- outcome{h.call(context.WithoutCancel(ctx), fn, data, meta, now)}
	}()
	capTimer := time.NewTimer(h.opts.FrontEndTimeout)
	defer capTimer.Stop()
	var inv *Invocation
	select {
	case o := <-done:
		inv = o.inv
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-capTimer.C:
		// (unverified) App Service's front end answers "500 - The request timed out." after 230 s.
		res.StatusCode = http.StatusInternalServerError
		res.FrontEndTimeout = true
		res.Header.Set("Content-Type", "text/html")
		res.Body = []byte("500 - The request timed out.\nThe web server failed to respond within the specified time.")
		return res, nil
	}
	res.Invocation = inv
	if !inv.Succeeded() || inv.HTTPResponse == nil {
		res.StatusCode = http.StatusInternalServerError
		return res, nil
	}
	res.StatusCode = inv.HTTPResponse.StatusCode
	res.Header = inv.HTTPResponse.Header.Clone()
	res.Body = inv.HTTPResponse.Body
	return res, nil
}

// httpBindingData is the HTTP trigger's binding data that reaches Metadata: Query and Headers dictionaries,
// route values, and the top-level fields of a JSON object body. (unverified) The docs example shows none of it;
// handlers should read Data.<name> only.
func (h *Host) httpBindingData(header http.Header, query map[string]string, params map[string]string, hasBody bool, body []byte) map[string]json.RawMessage {
	meta := map[string]json.RawMessage{}
	if hasBody && strings.Contains(strings.ToLower(headerValue(header, "Content-Type")), "json") {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			for k, v := range fields {
				meta[k] = wireJSONValue(v, h.opts.Form)
			}
		}
	}
	for k, v := range params {
		meta[k] = wireValue(v, h.opts.Form)
	}
	hdrs := map[string]string{}
	for k, vs := range header {
		hdrs[k] = strings.Join(vs, ",")
	}
	meta["Headers"] = mustJSON(hdrs)
	meta["Query"] = mustJSON(query)
	return meta
}

// wireJSONValue encodes a JSON body field: objects nested, everything else by the scalar/array rule.
func wireJSONValue(v json.RawMessage, form Form) json.RawMessage {
	if len(v) > 0 && v[0] == '{' {
		return v
	}
	if form == DocsForm {
		return v
	}
	return mustJSON(string(v))
}

func isOctetOrMultipart(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

func headerValue(h http.Header, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// Key levels, lowest first.
const (
	levelAnonymous = "Anonymous"
	levelFunction  = "Function"
	levelAdmin     = "Admin"
)

// keyLevel reads the key from x-functions-key, then ?code=, and maps it to a level and key name.
func (h *Host) keyLevel(header http.Header, query url.Values) (level, name string) {
	key := headerValue(header, "x-functions-key")
	if key == "" {
		key = query.Get("code")
	}
	if key == "" {
		return levelAnonymous, ""
	}
	if h.opts.Keys.Master != "" && key == h.opts.Keys.Master {
		return levelAdmin, "master"
	}
	for n, v := range h.opts.Keys.Function {
		if v != "" && key == v {
			return levelFunction, n
		}
	}
	return levelAnonymous, ""
}

func authLevelName(a string) string {
	if a == "" {
		return "function"
	}
	return strings.ToLower(a)
}

// authorized compares a key level with a function's authLevel (default function).
func authorized(authLevel, level string) bool {
	switch authLevelName(authLevel) {
	case "anonymous":
		return true
	case "function":
		return level == levelFunction || level == levelAdmin
	case "admin":
		return level == levelAdmin
	}
	return false
}

// identity is a serialized .NET ClaimsIdentity (public properties; Claim.Subject is dropped as a reference loop).
type identity struct {
	AuthenticationType *string         `json:"AuthenticationType"`
	IsAuthenticated    bool            `json:"IsAuthenticated"`
	Actor              any             `json:"Actor"`
	BootstrapContext   any             `json:"BootstrapContext"`
	Claims             []identityClaim `json:"Claims"`
	Label              any             `json:"Label"`
	Name               *string         `json:"Name"`
	NameClaimType      string          `json:"NameClaimType"`
	RoleClaimType      string          `json:"RoleClaimType"`
}

type identityClaim struct {
	Issuer         string            `json:"Issuer"`
	OriginalIssuer string            `json:"OriginalIssuer"`
	Properties     map[string]string `json:"Properties"`
	Type           string            `json:"Type"`
	Value          string            `json:"Value"`
	ValueType      string            `json:"ValueType"`
}

func newClaim(typ, val string) identityClaim {
	return identityClaim{Issuer: "LOCAL AUTHORITY", OriginalIssuer: "LOCAL AUTHORITY", Properties: map[string]string{},
		Type: typ, Value: val, ValueType: "http://www.w3.org/2001/XMLSchema#string"}
}

func newIdentity(authType string, claims []identityClaim, nameType, roleType string) json.RawMessage {
	id := identity{AuthenticationType: &authType, IsAuthenticated: authType != "", Claims: claims, NameClaimType: nameType, RoleClaimType: roleType}
	for _, c := range claims {
		if c.Type == nameType {
			v := c.Value
			id.Name = &v
			break
		}
	}
	return mustJSON(id)
}

// keyIdentity is the WebJobsAuthLevel identity the key authentication adds.
func keyIdentity(level, keyName string) json.RawMessage {
	return newIdentity("WebJobsAuthLevel", []identityClaim{
		newClaim(ClaimTypeAuthLevel, level),
		newClaim(ClaimTypeInvoke, "true"),
		newClaim(ClaimTypeKeyID, keyName),
	}, ClaimTypeName, ClaimTypeRole)
}

// easyAuth returns the headers App Service Authentication adds and the identity built from them.
func (p *Principal) easyAuth() (map[string]string, json.RawMessage) {
	nameType, roleType := p.NameType, p.RoleType
	if nameType == "" {
		nameType = ClaimTypeName
	}
	if roleType == "" {
		roleType = ClaimTypeRole
	}
	claims := p.Claims
	if claims == nil {
		claims = []Claim{}
	}
	payload := mustJSON(struct {
		AuthType string  `json:"auth_typ"`
		Claims   []Claim `json:"claims"`
		NameType string  `json:"name_typ"`
		RoleType string  `json:"role_typ"`
	}{p.AuthType, claims, nameType, roleType})
	idp := p.IDP
	if idp == "" {
		idp = p.AuthType
	}
	hdrs := map[string]string{
		"X-MS-CLIENT-PRINCIPAL":      base64.StdEncoding.EncodeToString(payload),
		"X-MS-CLIENT-PRINCIPAL-ID":   p.ID,
		"X-MS-CLIENT-PRINCIPAL-NAME": p.Name,
		"X-MS-CLIENT-PRINCIPAL-IDP":  idp,
	}
	var ic []identityClaim
	for _, c := range claims {
		ic = append(ic, newClaim(c.Type, c.Value))
	}
	if ic == nil {
		ic = []identityClaim{}
	}
	return hdrs, newIdentity(p.AuthType, ic, nameType, roleType)
}

// routeSegment is one segment of a route template.
type routeSegment struct {
	literal    string
	param      string
	optional   bool
	catchAll   bool
	constraint string
}

var paramSegment = regexp.MustCompile(`^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}$`)

// parseRoute parses a route template such as "integrations/{id?}/{action?}" or "items/{id:int}".
func parseRoute(tmpl string) ([]routeSegment, error) {
	tmpl = strings.Trim(tmpl, "/")
	if tmpl == "" {
		return nil, nil
	}
	var segs []routeSegment
	parts := strings.Split(tmpl, "/")
	for i, p := range parts {
		if !strings.ContainsAny(p, "{}") {
			segs = append(segs, routeSegment{literal: p})
			continue
		}
		m := paramSegment.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("route %q: segment %q: want {name}, {name?}, {name:constraint} or {*name}", tmpl, p)
		}
		s := routeSegment{param: m[2], catchAll: m[1] == "*", constraint: strings.ToLower(m[3]), optional: m[4] == "?"}
		if (s.optional || s.catchAll) && i != len(parts)-1 {
			// Optional parameters may also be followed by further optional ones.
			if !s.optional || !allOptional(parts[i+1:]) {
				return nil, fmt.Errorf("route %q: %q must be the last segment", tmpl, p)
			}
		}
		switch s.constraint {
		case "", "int", "long", "alpha", "bool", "guid":
		default:
			return nil, fmt.Errorf("route %q: constraint %q is not simulated", tmpl, s.constraint)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func allOptional(parts []string) bool {
	for _, p := range parts {
		m := paramSegment.FindStringSubmatch(p)
		if m == nil || m[4] != "?" {
			return false
		}
	}
	return true
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func constraintOK(c, v string) bool {
	switch c {
	case "int":
		_, err := strconv.ParseInt(v, 10, 32)
		return err == nil
	case "long":
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil
	case "alpha":
		return v != "" && strings.Trim(strings.ToLower(v), "abcdefghijklmnopqrstuvwxyz") == ""
	case "bool":
		return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
	case "guid":
		return guidPattern.MatchString(v)
	}
	return true
}

// matchRoute matches a path (without the route prefix) against a template and returns the route values.
func matchRoute(segs []routeSegment, parts []string) (map[string]string, bool) {
	vals := map[string]string{}
	for i, s := range segs {
		if i >= len(parts) {
			if s.optional || s.catchAll {
				continue
			}
			return nil, false
		}
		seg, err := url.PathUnescape(parts[i])
		if err != nil {
			return nil, false
		}
		switch {
		case s.catchAll:
			rest := strings.Join(parts[i:], "/")
			if r, err := url.PathUnescape(rest); err == nil {
				rest = r
			}
			vals[s.param] = rest
			return vals, true
		case s.param != "":
			if seg == "" || !constraintOK(s.constraint, seg) {
				return nil, false
			}
			vals[s.param] = seg
		default:
			if !strings.EqualFold(seg, s.literal) {
				return nil, false
			}
		}
	}
	if len(parts) > len(segs) {
		return nil, false
	}
	return vals, true
}

// route finds the HTTP function for method and path: the route prefix must match, then the function's route
// (default: its name); among several matches the one with more literal segments wins.
func (h *Host) route(method, path string) (*Function, map[string]string) {
	p := strings.Trim(path, "/")
	if prefix := h.app.Host.RoutePrefix; prefix != "" {
		if !strings.EqualFold(p, prefix) && !strings.HasPrefix(strings.ToLower(p), strings.ToLower(prefix)+"/") {
			return nil, nil
		}
		p = strings.TrimPrefix(p[len(prefix):], "/")
	}
	var parts []string
	if p != "" {
		parts = strings.Split(p, "/")
	}
	var best *Function
	var bestVals map[string]string
	bestScore := -1
	for _, fn := range h.app.Functions {
		t := fn.Trigger
		if t.Type != TypeHTTP || h.disabled(fn) || !methodAllowed(t.Methods, method) {
			continue
		}
		tmpl := t.Route
		if tmpl == "" {
			tmpl = fn.Name
		}
		segs, err := parseRoute(tmpl)
		if err != nil {
			continue
		}
		vals, ok := matchRoute(segs, parts)
		if !ok {
			continue
		}
		score := 0
		for _, s := range segs {
			if s.literal != "" {
				score += 2
			} else if !s.catchAll {
				score++
			}
		}
		if score > bestScore {
			best, bestVals, bestScore = fn, vals, score
		}
	}
	return best, bestVals
}

func methodAllowed(methods []string, method string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, m := range methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

// ServeHTTP makes the host the app's HTTP front end (for `hostsim serve`): each request goes through HTTP.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReplyBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	header := r.Header.Clone()
	res, err := h.HTTP(r.Context(), &HTTPRequest{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   header,
		Body:     body,
		Chunked:  r.ContentLength < 0 && len(body) > 0,
		Host:     r.Host,
		Scheme:   "http",
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(res.Body)
}
