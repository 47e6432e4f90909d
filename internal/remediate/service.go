package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// Integrations finds an integration by id (integrations.Store).
type Integrations interface {
	Get(ctx context.Context, id string) (integrations.Integration, error)
}

// GraphClients returns the Graph client of an integration.
type GraphClients func(integrations.Integration) (*graph.Client, error)

// Options tune the service. A nil *Options means defaults.
type Options struct {
	// KeyRole is the role of a caller identified by the function key alone; "" refuses such callers.
	KeyRole access.Role
	// LeaseTTL is how long a request holds its key without renewal (30 s).
	LeaseTTL time.Duration
	// KeyRetention is how long a key answers its first outcome (24 h).
	KeyRetention time.Duration
	// Now is the clock of leases and key retention (time.Now): they are about processes, not data time.
	Now func() time.Time
	// ActTimeout bounds the Graph work of one request (3 minutes: under the HTTP front end's 230 s).
	ActTimeout time.Duration
}

// Service runs remediation requests and answers the audit trail.
type Service struct {
	integ   Integrations
	graphs  GraphClients
	audit   *AuditLog
	intents *Intents
	opts    Options
}

// New returns the service. It makes no network call.
func New(integ Integrations, graphs GraphClients, audit *AuditLog, intents *Intents, opts *Options) *Service {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.KeyRetention <= 0 {
		o.KeyRetention = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ActTimeout <= 0 {
		o.ActTimeout = 3 * time.Minute
	}
	return &Service{integ: integ, graphs: graphs, audit: audit, intents: intents, opts: o}
}

// Ensure creates the service's tables and container if needed.
func (s *Service) Ensure(ctx context.Context) error {
	if err := s.audit.Ensure(ctx); err != nil {
		return err
	}
	return s.intents.Ensure(ctx)
}

// Call is one HTTP request to the Remediate function.
type Call struct {
	// ID identifies the request (the host's invocation id); Time is when it arrived (the host's clock).
	ID   string
	Time time.Time
	// Method is the HTTP method, Action the route's {action}.
	Method, Action string
	// Principal is the X-MS-CLIENT-PRINCIPAL header ("" without App Service Authentication).
	Principal string
	// IdempotencyKey is the Idempotency-Key header.
	IdempotencyKey string
	Body           []byte
	// Query is the query string's values (audit reads).
	Query func(name string) string
}

// Reply is the HTTP answer: a status, a JSON body and extra headers.
type Reply struct {
	Status int
	Body   any
	Header map[string]string
}

// Handle answers a request: POST remediation/{action} runs an action, GET remediation/audit reads the trail.
// Every remediation request is audited, whatever its outcome.
func (s *Service) Handle(ctx context.Context, c Call) Reply {
	if c.Action == "audit" && c.Method == http.MethodGet {
		return s.readAudit(ctx, c)
	}
	j := &job{s: s, c: c, e: &Entry{ID: c.ID, Time: c.Time, Action: clip(c.Action), IdempotencyKey: clip(c.IdempotencyKey),
		Requests: []graph.Exchange{}}}
	reply := j.run(ctx)
	j.e.Status, j.e.Recorded = reply.Status, s.opts.Now().UTC()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.audit.Append(actx, j.e); err != nil {
		logging.From(ctx).Error("remediation audit write failed", "request", c.ID, "outcome", j.e.Outcome, "error", err.Error())
		return Reply{Status: http.StatusInternalServerError, Body: struct {
			ErrorReply
			Reply any `json:"reply"`
		}{ErrorReply{ID: c.ID, Code: "audit-unavailable", Outcome: j.e.Outcome,
			Error: "the audit trail could not be written (" + err.Error() + "); the request's own outcome follows in reply"}, reply.Body}}
	}
	logging.From(ctx).Info("remediation", "request", c.ID, "action", j.e.Action, "integration", j.e.Integration,
		"outcome", j.e.Outcome, "status", reply.Status, "graphRequests", len(j.e.Requests))
	return reply
}

// job is one remediation request on its way.
type job struct {
	s       *Service
	c       Call
	e       *Entry
	action  Action
	req     Request
	caller  *access.Principal
	integ   integrations.Integration
	t       tenant
	target  Target
	claim   *claim
	prior   *intent // the key's record as found (nil: none, or expired)
	resumed *Resumed
}

// refused answers a refusal and records it.
func (j *job) refused(r *Refusal) Reply {
	j.e.Outcome, j.e.Code, j.e.Message = OutcomeRefused, r.Code, r.Message
	body := ErrorReply{ID: j.c.ID, Error: r.Message, Code: r.Code, Outcome: OutcomeRefused}
	if j.target.Requested != "" {
		t := j.target
		body.Target = &t
	}
	reply := Reply{Status: r.Status, Body: body}
	if r.RetryAfter > 0 {
		reply.Header = map[string]string{"Retry-After": fmt.Sprint(r.RetryAfter)}
	}
	return reply
}

// failed answers a request that could not be carried out (storage, credential, Graph) before any change.
func (j *job) failed(status int, code string, err error) Reply {
	j.e.Outcome, j.e.Code, j.e.Message = OutcomeError, code, err.Error()
	return Reply{Status: status, Body: ErrorReply{ID: j.c.ID, Error: err.Error(), Code: code, Outcome: OutcomeError}}
}

func (j *job) run(ctx context.Context) Reply {
	if p, err := access.Parse(j.c.Principal); err == nil {
		j.e.Caller = callerOf(p)
	} else {
		j.e.Caller = callerOf(nil)
	}
	// What the request asks for is recorded whatever happens to it: an unauthorized attempt names its target too.
	j.record(looseRequest(j.c.Body))
	j.action = Action(j.c.Action)
	switch {
	case !j.action.valid():
		return j.refused(refuse(http.StatusNotFound, "unknown-action", "unknown action %q: the actions are revoke-sessions, reset-mfa, update-user-type and delete-guest-user (and GET audit)", clip(j.c.Action)))
	case j.c.Method != http.MethodPost:
		return j.refused(refuse(http.StatusMethodNotAllowed, "method-not-allowed", "%s needs POST", j.action))
	}
	p, err := access.Require(j.c.Principal, j.s.opts.KeyRole, j.action.Roles()...)
	if p != nil {
		j.caller, j.e.Caller = p, callerOf(p)
	}
	var denied *access.Denied
	if errors.As(err, &denied) {
		code := "forbidden"
		if denied.Status == http.StatusUnauthorized {
			code = "unauthenticated"
		}
		return j.refused(refuse(denied.Status, code, "%s", denied.Message))
	}
	req, err := DecodeRequest(j.action, j.c.Body)
	if err != nil {
		var r *Refusal
		errors.As(err, &r)
		return j.refused(r)
	}
	j.req = req
	j.record(req)
	if req.AllowPrivileged && !p.Has(access.Admin) {
		return j.refused(refuse(http.StatusForbidden, "forbidden", "allowPrivileged needs the app role %s", access.Admin))
	}
	if !req.DryRun {
		if j.c.IdempotencyKey == "" {
			return j.refused(badRequest("header Idempotency-Key: required for a real action (any unique value, e.g. a UUID; send the same one when you retry)"))
		}
		if r := checkKey(j.c.IdempotencyKey); r != nil {
			return j.refused(r)
		}
		if reply, done := j.lookupKey(ctx); done {
			return reply
		}
	}

	integ, err := j.s.integ.Get(ctx, req.Integration)
	if errors.Is(err, integrations.ErrNotFound) {
		return j.refused(refuse(http.StatusNotFound, "unknown-integration", "no integration with id %q", req.Integration))
	}
	if err != nil {
		return j.failed(http.StatusServiceUnavailable, "storage-unavailable", fmt.Errorf("reading integration %q: %w", req.Integration, err))
	}
	j.integ = integ
	if integ.Permissions != catalog.ReadWrite {
		return j.refused(refuse(http.StatusForbidden, "read-only-integration", "integration %q is %s: remediation needs read-write permissions "+
			"(grant the write permissions to its app registration and set permissions to read-write)", integ.ID, integ.Permissions))
	}
	client, err := j.s.graphs(integ)
	if err != nil {
		return j.failed(http.StatusServiceUnavailable, "graph-unavailable", fmt.Errorf("integration %q: %w", integ.ID, err))
	}
	granted, err := client.GrantedRoles(ctx)
	if err != nil {
		return j.failed(http.StatusBadGateway, "credential-failed", fmt.Errorf("integration %q: acquiring its Graph token: %w", integ.ID, err))
	}
	if !slices.ContainsFunc(j.action.Permissions(), func(p string) bool { return slices.Contains(granted, p) }) {
		return j.refused(refuse(http.StatusForbidden, "missing-permission", "integration %q's app is not granted %s, which %s needs (granted: %s)",
			integ.ID, strings.Join(j.action.Permissions(), " or "), j.action, strings.Join(granted, ", ")))
	}
	if protects(integ, req.User, "") {
		j.target.Requested = req.User
		return j.refused(refuse(http.StatusForbidden, "protected-target", "%s is in integration %q's protected users: remediation never acts on it", req.User, integ.ID))
	}
	actx, cancel := context.WithTimeout(ctx, j.s.opts.ActTimeout)
	defer cancel()
	if !req.DryRun {
		if r := j.claimKey(actx, cancel); r != nil {
			return *r
		}
		hctx, stop := context.WithCancel(actx)
		defer stop()
		go j.claim.heartbeat(hctx)
	}
	j.t = newTenant(client)
	actx = graph.WithObserver(actx, func(x graph.Exchange) { j.e.Requests = append(j.e.Requests, x) })
	return j.act(actx)
}

// record copies the request's fields into the audit entry.
func (j *job) record(r Request) {
	if config.ValidSlug(r.Integration) {
		j.e.Integration = r.Integration
	}
	j.e.Reason, j.e.Ticket, j.e.DryRun, j.e.AllowPrivileged, j.e.UserType = r.Reason, r.Ticket, r.DryRun, r.AllowPrivileged, r.UserType
	if r.User != "" {
		j.target.Requested = clip(r.User)
		j.e.Target = &Target{Requested: j.target.Requested}
	}
}

// lookupKey answers from the key's record when it has the final outcome, or refuses a reused or busy key; done
// is false when the request goes on (no record, an expired one, or one to resume).
func (j *job) lookupKey(ctx context.Context) (Reply, bool) {
	rec, err := j.s.intents.get(ctx, j.e.Caller.scope(), j.c.IdempotencyKey)
	if err != nil {
		return j.failed(http.StatusServiceUnavailable, "storage-unavailable", err), true
	}
	now := j.s.opts.Now()
	if rec == nil || now.Sub(rec.Created) > j.s.opts.KeyRetention {
		j.prior = rec
		if rec != nil {
			j.prior.Plan, j.prior.Done, j.prior.State = nil, nil, ""
		}
		return Reply{}, false
	}
	switch {
	case rec.Hash != j.req.hash(j.action):
		return j.refused(refuse(http.StatusConflict, "idempotency-key-reused", "Idempotency-Key %q was used for a different request "+
			"(%s on %q) in the last %s: use a new key for a new request", clip(j.c.IdempotencyKey), rec.Action, rec.Requested, j.s.opts.KeyRetention)), true
	case rec.State == stateDone && rec.Reply != nil:
		j.e.Outcome, j.e.ReplayOf = OutcomeReplayed, rec.FinishedBy
		j.e.Message = "the first outcome of this Idempotency-Key, answered again without calling Graph"
		return Reply{Status: rec.Reply.Status, Body: rec.Reply.Body, Header: map[string]string{"Idempotent-Replayed": "true"}}, true
	case rec.State == statePending && now.Before(rec.LeaseUntil):
		wait := int(rec.LeaseUntil.Sub(now).Seconds()) + 1
		r := refuse(http.StatusConflict, "in-progress", "a request with this Idempotency-Key (%s) is in progress: retry after %d s", rec.Owner, wait)
		r.RetryAfter = wait
		return j.refused(r), true
	}
	j.prior = rec
	return Reply{}, false
}

// claimKey records the intent before anything changes: a new record, or the expired or failed record of an
// earlier request with the key, taken over to resume its work.
func (j *job) claimKey(ctx context.Context, lost func()) *Reply {
	now := j.s.opts.Now()
	in := &intent{Scope: j.e.Caller.scope(), Key: j.c.IdempotencyKey, Hash: j.req.hash(j.action), Action: j.action,
		Integration: j.integ.ID, Requested: j.req.User, First: j.c.ID, Owner: j.c.ID, Created: now,
		LeaseUntil: now.Add(j.s.opts.LeaseTTL), State: statePending, Attempts: 1}
	var err error
	switch {
	case j.prior == nil:
		err = j.s.intents.insert(ctx, in)
		// Best effort: keys older than the retention go (one page of them per new key).
		if err == nil {
			if perr := j.s.intents.purge(ctx, now.Add(-j.s.opts.KeyRetention), 20); perr != nil {
				j.log(ctx).Warn("remediation: removing expired Idempotency-Keys failed", "error", perr.Error())
			}
		}
	case j.prior.Plan == nil && j.prior.State == "":
		// An expired record: replaced by a fresh one.
		in.etag = j.prior.etag
		err = j.s.intents.replace(ctx, in)
	default:
		// Resume: keep what the earlier attempts planned and did.
		next := *j.prior
		next.Owner, next.State, next.LeaseUntil, next.Attempts = j.c.ID, statePending, in.LeaseUntil, j.prior.Attempts+1
		in = &next
		err = j.s.intents.replace(ctx, in)
		j.resumed = &Resumed{From: j.prior.Owner, Started: j.prior.Created, Attempts: j.prior.Attempts, Done: j.prior.Done}
		j.e.ResumedFrom = j.prior.Owner
	}
	if errors.Is(err, errIntentExists) || errors.Is(err, errIntentChanged) {
		r := refuse(http.StatusConflict, "in-progress", "another request with this Idempotency-Key started meanwhile: retry after %d s", int(j.s.opts.LeaseTTL.Seconds()))
		r.RetryAfter = int(j.s.opts.LeaseTTL.Seconds())
		reply := j.refused(r)
		return &reply
	}
	if err != nil {
		reply := j.failed(http.StatusServiceUnavailable, "storage-unavailable", err)
		return &reply
	}
	j.claim = &claim{store: j.s.intents, ttl: j.s.opts.LeaseTTL, now: j.s.opts.Now, lost: lost, rec: in}
	return nil
}

// finish ends the key's record: final (the reply is kept for retries), failed (the next retry resumes), or
// released when nothing was changed and the failure was not the target's (the next retry starts afresh).
func (j *job) finish(ctx context.Context, reply Reply, state string) Reply {
	if j.claim == nil {
		return reply
	}
	ctx = context.WithoutCancel(ctx)
	rec := j.claim.record()
	if state == "" && (rec.Plan != nil || len(rec.Done) > 0) {
		// A resumed request keeps what the earlier ones recorded: the next one resumes from it.
		state = stateFailed
	}
	if state == "" {
		if err := j.s.intents.remove(ctx, &rec); err != nil {
			logging.From(ctx).Warn("remediation: freeing the Idempotency-Key failed", "request", j.c.ID, "error", err.Error())
		}
		return reply
	}
	body, err := json.Marshal(reply.Body)
	if err != nil {
		return j.failed(http.StatusInternalServerError, "internal", err)
	}
	err = j.claim.update(ctx, func(in *intent) {
		in.State, in.FinishedBy = state, j.c.ID
		if state == stateDone {
			in.Reply = &storedReply{Status: reply.Status, Body: body}
		}
	})
	if err != nil {
		logging.From(ctx).Warn("remediation: recording the outcome under the Idempotency-Key failed", "request", j.c.ID, "error", err.Error())
		reply.Header = mergeHeader(reply.Header, "Idempotency-Recorded", "false")
	}
	return reply
}

func mergeHeader(h map[string]string, k, v string) map[string]string {
	if h == nil {
		h = map[string]string{}
	}
	h[k] = v
	return h
}

// protects reports whether the integration's protected list names the user (by the reference given, its object
// id or its user principal name).
func protects(integ integrations.Integration, ref, id string, upn ...string) bool {
	for _, p := range integ.ProtectedUsers {
		if strings.EqualFold(p, ref) || id != "" && strings.EqualFold(p, id) || slices.ContainsFunc(upn, func(u string) bool { return u != "" && strings.EqualFold(p, u) }) {
			return true
		}
	}
	return false
}

// graphFailure answers a Graph read that failed before anything changed.
func (j *job) graphFailure(ctx context.Context, what string, err error) Reply {
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		status = http.StatusGatewayTimeout
	}
	return j.finish(ctx, j.failed(status, "graph-failed", fmt.Errorf("%s: %w", what, err)), "")
}

// logger for the job.
func (j *job) log(ctx context.Context) *slog.Logger {
	return logging.From(ctx).With("request", j.c.ID, "action", string(j.action), "integration", j.integ.ID)
}
