package remediate

import (
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/graph"
)

// Outcomes of a request.
const (
	// OutcomeDone: every change was made (or Graph already was as asked).
	OutcomeDone = "done"
	// OutcomeNoChange: nothing was to be changed (no methods to delete, userType already as asked).
	OutcomeNoChange = "no-change"
	// OutcomePartial: some changes were made, some failed; the reply says what is left.
	OutcomePartial = "partial"
	// OutcomeFailed: no change could be made.
	OutcomeFailed = "failed"
	// OutcomeDryRun: the plan, nothing sent that changes anything.
	OutcomeDryRun = "dry-run"
	// OutcomeRefused: turned down before any change.
	OutcomeRefused = "refused"
	// OutcomeReplayed: a retry with the same Idempotency-Key, answered with the first outcome.
	OutcomeReplayed = "replayed"
	// OutcomeError: the request could not be carried out (storage, Graph, credential); nothing known changed.
	OutcomeError = "error"
)

// Caller is who asked, as App Service Authentication identified them.
type Caller struct {
	Name     string        `json:"name,omitempty"`
	ObjectID string        `json:"objectId,omitempty"`
	Roles    []access.Role `json:"roles"`
	// Provider is the identity provider ("aad"), or "functionKey" for a caller identified by the key alone.
	Provider string `json:"provider,omitempty"`
}

func callerOf(p *access.Principal) Caller {
	if p == nil {
		return Caller{Roles: []access.Role{}, Provider: "none"}
	}
	return Caller{Name: clip(p.Name), ObjectID: clip(p.ObjectID), Roles: p.Roles, Provider: clip(p.IdentityProvider)}
}

// scope is the caller's namespace of Idempotency-Keys: one caller's key never answers another's request.
func (c Caller) scope() string {
	switch {
	case c.ObjectID != "":
		return "oid:" + c.ObjectID
	case c.Name != "":
		return c.Provider + ":" + c.Name
	}
	return c.Provider
}

// Target is the user acted on.
type Target struct {
	// Requested is the user as the request named it.
	Requested string `json:"requested"`
	*User
	Roles []Role `json:"roles,omitempty"`
}

// MethodOutcome is what reset-mfa did with one authentication method.
type MethodOutcome struct {
	Method
	// Outcome is deleted, already-gone, failed, kept (the password) or unsupported (a type v1.0 cannot delete).
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// Method outcomes.
const (
	methodDeleted     = "deleted"
	methodGone        = "already-gone"
	methodFailed      = "failed"
	methodKept        = "kept"
	methodUnsupported = "unsupported"
	methodPlanned     = "planned"
)

// Confirmation is the target re-read after acting.
type Confirmation struct {
	// MethodsLeft are the methods the user still has (reset-mfa), the password included.
	MethodsLeft []Method `json:"methodsLeft,omitempty"`
	// UserType is userType now (update-user-type).
	UserType string `json:"userType,omitempty"`
	// SessionsValidFrom is signInSessionsValidFromDateTime before and after (revoke-sessions).
	SessionsValidFromBefore *time.Time `json:"signInSessionsValidFromBefore,omitempty"`
	SessionsValidFromAfter  *time.Time `json:"signInSessionsValidFromAfter,omitempty"`
	// Deleted is when the user was deleted, as deletedItems shows it (delete-guest-user).
	Deleted *time.Time `json:"deletedDateTime,omitempty"`
	// RestorableUntil is 30 days after Deleted.
	RestorableUntil *time.Time `json:"restorableUntil,omitempty"`
	// Restore is the request that restores the user.
	Restore string `json:"restore,omitempty"`
	// StillLive reports a user that reads as live after its delete.
	StillLive bool `json:"stillLive,omitempty"`
}

// Resumed says that a request continued the work of an earlier one with the same Idempotency-Key that ended
// before finishing (its handler died, or Graph failed): what that one had recorded as done.
type Resumed struct {
	From     string    `json:"from"`
	Started  time.Time `json:"started"`
	Attempts int       `json:"attempts"`
	// Done are the changes the earlier attempts recorded as made.
	Done []Step `json:"done,omitempty"`
}

// Result is the answer to a remediation request that was carried out or planned.
type Result struct {
	// ID identifies the request in the audit trail.
	ID          string `json:"id"`
	Action      Action `json:"action"`
	Integration string `json:"integration"`
	DryRun      bool   `json:"dryRun"`
	Outcome     string `json:"outcome"`
	Message     string `json:"message"`
	Target      Target `json:"target"`
	// Plan are the requests that change the tenant, exactly as sent (or, in a dry run, as they would be).
	Plan []Step `json:"plan"`
	// Requests are the Graph requests this request sent, reads included, with their request-ids.
	Requests     []graph.Exchange `json:"requests"`
	Methods      []MethodOutcome  `json:"methods,omitempty"`
	Confirmation *Confirmation    `json:"confirmation,omitempty"`
	Notes        []string         `json:"notes,omitempty"`
	Resumed      *Resumed         `json:"resumed,omitempty"`
	// IdempotencyKey is the key the request was made with.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// ErrorReply is the answer to a refused or failed request.
type ErrorReply struct {
	ID      string  `json:"id"`
	Error   string  `json:"error"`
	Code    string  `json:"code"`
	Target  *Target `json:"target,omitempty"`
	Outcome string  `json:"outcome"`
}
