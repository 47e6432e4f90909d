package remediate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/config"
)

// Action is a remediation action, the {action} of POST /api/remediation/{action}.
type Action string

// The actions (SPEC §7).
const (
	// RevokeSessions ("User Log out") invalidates the user's refresh tokens and session cookies.
	RevokeSessions Action = "revoke-sessions"
	// ResetMFA deletes every authentication method but the password, so the user registers again.
	ResetMFA Action = "reset-mfa"
	// UpdateUserType changes userType between Member and Guest.
	UpdateUserType Action = "update-user-type"
	// DeleteGuestUser soft-deletes a guest (restorable for 30 days).
	DeleteGuestUser Action = "delete-guest-user"
)

// Actions lists every action.
var Actions = []Action{RevokeSessions, ResetMFA, UpdateUserType, DeleteGuestUser}

func (a Action) valid() bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// Roles are the app roles that may run the action (SPEC §7).
func (a Action) Roles() []access.Role {
	switch a {
	case RevokeSessions, ResetMFA:
		return []access.Role{access.Admin, access.Helpdesk}
	}
	return []access.Role{access.Admin}
}

// Permissions are the Graph application permissions, any one of which lets the integration's app make the
// action's changes (the v1.0 API pages' application permissions).
func (a Action) Permissions() []string {
	switch a {
	case RevokeSessions:
		return []string{"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	case ResetMFA:
		return []string{"UserAuthenticationMethod.ReadWrite.All"}
	case UpdateUserType:
		return []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	}
	// user-delete lists User.ReadWrite.All alone for applications.
	return []string{"User.ReadWrite.All"}
}

// Request is the body of POST /api/remediation/{action}.
type Request struct {
	// Integration is the id of the integration whose tenant holds the user.
	Integration string `json:"integration"`
	// User is the target: an object id or a user principal name (guests' "#EXT#" UPNs included).
	User string `json:"user"`
	// Reason says why, for the audit trail (required).
	Reason string `json:"reason"`
	// Ticket is an optional reference (incident, ticket number).
	Ticket string `json:"ticket,omitempty"`
	// DryRun answers the Graph requests that would be sent, and sends none that change anything.
	DryRun bool `json:"dryRun"`
	// AllowPrivileged lets an Integration.Admin act on a user holding a directory role.
	AllowPrivileged bool `json:"allowPrivileged,omitempty"`
	// UserType is the new userType, Member or Guest (update-user-type only).
	UserType string `json:"userType,omitempty"`
}

// Limits of a request.
const (
	MaxBody      = 16 << 10
	maxReason    = 1000
	maxTicket    = 200
	maxKeyLength = 255
)

// Refusal is a request the service turns down (nothing was changed), with the HTTP status to answer and a stable
// code for programs.
type Refusal struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, says when the same request may succeed (a key in use).
	RetryAfter int
}

func (r *Refusal) Error() string { return r.Message }

func refuse(status int, code, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Refusal {
	return refuse(http.StatusBadRequest, "bad-request", format, args...)
}

// DecodeRequest reads and validates a request body for action. Unknown fields, duplicate keys, wrong types and
// trailing data are refused, naming the field: a misspelt "dryrun" must never run a real action.
func DecodeRequest(action Action, body []byte) (Request, error) {
	var r Request
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return r, badRequest("the request body is empty: send a JSON object with integration, user and reason")
	case len(body) > MaxBody:
		return r, badRequest("the request body is larger than %d bytes", MaxBody)
	case !utf8.Valid(body):
		return r, badRequest("the request body is not UTF-8")
	}
	if err := uniqueKeys(body); err != nil {
		return r, badRequest("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, badRequest("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, badRequest("the request body has data after the JSON object")
	}
	switch {
	case r.Integration == "":
		return r, badRequest("field integration: required (the integration's id)")
	case !config.ValidSlug(r.Integration):
		return r, badRequest("field integration: %q is not an integration id", clip(r.Integration))
	case r.User == "":
		return r, badRequest("field user: required (an object id or user principal name)")
	case !config.ValidUserRef(r.User):
		return r, badRequest("field user: %q is neither an object id (GUID) nor a user principal name", clip(r.User))
	case strings.TrimSpace(r.Reason) == "":
		return r, badRequest("field reason: required (why, for the audit trail)")
	case utf8.RuneCountInString(r.Reason) > maxReason:
		return r, badRequest("field reason: at most %d characters", maxReason)
	case utf8.RuneCountInString(r.Ticket) > maxTicket:
		return r, badRequest("field ticket: at most %d characters", maxTicket)
	case hasControl(r.Reason) || hasControl(r.Ticket):
		return r, badRequest("fields reason and ticket: no control characters")
	case action == UpdateUserType && r.UserType != "Member" && r.UserType != "Guest":
		return r, badRequest("field userType: required for update-user-type, Member or Guest (got %q)", clip(r.UserType))
	case action != UpdateUserType && r.UserType != "":
		return r, badRequest("field userType: only update-user-type takes it")
	}
	return r, nil
}

// looseRequest reads what it can of a body that failed validation, for the audit trail.
func looseRequest(body []byte) Request {
	var r Request
	if len(body) <= MaxBody {
		_ = json.Unmarshal(body, &r)
	}
	r.Integration, r.User, r.Reason, r.Ticket, r.UserType = clip(r.Integration), clip(r.User), clipN(r.Reason, maxReason), clip(r.Ticket), clip(r.UserType)
	return r
}

// hash identifies a request for its Idempotency-Key: the action and the decoded fields, so the same request
// written differently (spacing, key order) is the same request.
func (r Request) hash(action Action) string {
	b, _ := json.Marshal(struct {
		Action Action
		Request
	}{action, r})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkKey validates an Idempotency-Key: 1-255 printable ASCII characters.
func checkKey(key string) *Refusal {
	if len(key) > maxKeyLength {
		return badRequest("header Idempotency-Key: at most %d characters", maxKeyLength)
	}
	for _, c := range []byte(key) {
		if c < 0x21 || c > 0x7e {
			return badRequest("header Idempotency-Key: printable ASCII only (a UUID is a good key)")
		}
	}
	return nil
}

// requestFields are Request's JSON names.
var requestFields = []string{"integration", "user", "reason", "ticket", "dryRun", "allowPrivileged", "userType"}

// uniqueKeys refuses a top-level object with a key that is not exactly a field name, or given twice (JSON
// decoders disagree on which one wins).
func uniqueKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return errors.New(describeJSONError(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("the request body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New(describeJSONError(err))
		}
		key, _ := tok.(string)
		if !slices.Contains(requestFields, key) {
			// encoding/json would match "dryrun" to dryRun; only the exact names are taken.
			return fmt.Errorf("unknown field %q (the fields are %s)", clip(key), strings.Join(requestFields, ", "))
		}
		if seen[key] {
			return fmt.Errorf("field %s: given twice", clip(key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errors.New(describeJSONError(err))
		}
	}
	return nil
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: want a %s, got a JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("the request body is not JSON (at byte %d: %v)", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is truncated JSON"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + clip(f) + " (the fields are " + strings.Join(requestFields, ", ") + ")"
	}
	return "the request body is not a valid request: " + clip(msg)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// clip shortens a caller's value before it is echoed or stored.
func clip(s string) string { return clipN(s, 120) }

func clipN(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return string([]rune(s)[:n]) + "…"
}
