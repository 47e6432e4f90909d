package remediate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/config"
)

// AuditReply is the answer to GET remediation/audit.
type AuditReply struct {
	Integration string    `json:"integration,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// Entries are the requests in [from, to), oldest first.
	Entries []Entry `json:"entries"`
	// Unfinished are the Idempotency-Keys whose request is running, failed or died before finishing (created in
	// the last 24 hours): what they recorded as planned and done.
	Unfinished []Unfinished `json:"unfinished"`
	// Truncated says that more entries matched than the limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Unfinished is a remediation whose outcome is not final.
type Unfinished struct {
	Integration string      `json:"integration"`
	Action      Action      `json:"action"`
	Requested   string      `json:"requested"`
	State       string      `json:"state"`
	First       string      `json:"firstRequest"`
	Owner       string      `json:"lastRequest"`
	Created     time.Time   `json:"created"`
	LeaseUntil  time.Time   `json:"leaseUntil"`
	Attempts    int         `json:"attempts"`
	Plan        *planRecord `json:"plan,omitempty"`
	Done        []Step      `json:"done"`
}

// Audit read limits.
const (
	defaultAuditLimit = 500
	maxAuditLimit     = 5000
	maxAuditRange     = 92 * 24 * time.Hour
)

// readAudit answers GET remediation/audit?integration=&from=&to=&limit= for Readers and above.
func (s *Service) readAudit(ctx context.Context, c Call) Reply {
	bad := func(format string, args ...any) Reply {
		return Reply{Status: http.StatusBadRequest, Body: ErrorReply{ID: c.ID, Code: "bad-request", Error: fmt.Sprintf(format, args...), Outcome: OutcomeRefused}}
	}
	if _, err := access.Check(c.Principal, access.Anyone...); err != nil {
		var d *access.Denied
		if errors.As(err, &d) {
			return Reply{Status: d.Status, Body: ErrorReply{ID: c.ID, Code: "forbidden", Error: d.Message, Outcome: OutcomeRefused}}
		}
		return bad("%v", err)
	}
	q := c.Query
	if q == nil {
		q = func(string) string { return "" }
	}
	integration := q("integration")
	if integration != "" && !config.ValidSlug(integration) {
		return bad("query integration: %q is not an integration id", clip(integration))
	}
	to := c.Time.Add(time.Second)
	if v := q("to"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad("query to: want an RFC 3339 time such as 2026-01-10T12:00:00Z, got %q", clip(v))
		}
		to = t
	}
	from := to.Add(-24 * time.Hour)
	if v := q("from"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad("query from: want an RFC 3339 time such as 2026-01-10T00:00:00Z, got %q", clip(v))
		}
		from = t
	}
	if !from.Before(to) || to.Sub(from) > maxAuditRange {
		return bad("query from/to: from must be before to, at most %d days apart", int(maxAuditRange.Hours()/24))
	}
	limit := defaultAuditLimit
	if v := q("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return bad("query limit: want 1 to %d, got %q", maxAuditLimit, clip(v))
		}
		limit = n
	}
	entries, err := s.audit.Query(ctx, integration, from, to, limit+1)
	if err != nil {
		return Reply{Status: http.StatusServiceUnavailable, Body: ErrorReply{ID: c.ID, Code: "storage-unavailable", Error: err.Error(), Outcome: OutcomeError}}
	}
	out := AuditReply{Integration: integration, From: from.UTC(), To: to.UTC(), Entries: entries, Unfinished: []Unfinished{}}
	if len(entries) > limit {
		out.Entries, out.Truncated = entries[1:], true
	}
	if out.Entries == nil {
		out.Entries = []Entry{}
	}
	open, err := s.intents.unfinished(ctx, s.opts.Now().Add(-s.opts.KeyRetention))
	if err != nil {
		return Reply{Status: http.StatusServiceUnavailable, Body: ErrorReply{ID: c.ID, Code: "storage-unavailable", Error: err.Error(), Outcome: OutcomeError}}
	}
	for _, in := range open {
		if integration != "" && in.Integration != integration {
			continue
		}
		out.Unfinished = append(out.Unfinished, Unfinished{Integration: in.Integration, Action: in.Action, Requested: in.Requested, State: in.State,
			First: in.First, Owner: in.Owner, Created: in.Created, LeaseUntil: in.LeaseUntil, Attempts: in.Attempts, Plan: in.Plan, Done: nonNil(in.Done)})
	}
	return Reply{Status: http.StatusOK, Body: out}
}

func nonNil(s []Step) []Step {
	if s == nil {
		return []Step{}
	}
	return s
}
