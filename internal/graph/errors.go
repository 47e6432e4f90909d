package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/text"
)

// Kind classifies a failed Graph call by what the caller should do about it.
type Kind string

// Error kinds (reference/graph.md §3, §4).
const (
	// Throttled: 429 after the retries ran out.
	Throttled Kind = "throttled"
	// Transient: 5xx, connection reset, timeout — worth retrying later.
	Transient Kind = "transient"
	// NotLicensed: the tenant lacks the licence the data (403 non-premium, Intune's 400, Identity Protection 403).
	NotLicensed Kind = "not-licensed"
	// MissingPermission: the app lacks a Graph permission or consent.
	MissingPermission Kind = "missing-permission"
	// InvalidCredential: the token could not be acquired (wrong, expired or unknown secret, app or tenant) or
	// Graph refused it.
	InvalidCredential Kind = "invalid-credential"
	// SecretUnavailable: the client secret could not be read (Key Vault unreachable or refusing, secret missing);
	// no token can be requested until it can.
	SecretUnavailable Kind = "secret-unavailable"
	// BadRequest: Graph does not support the query; retrying the same request will not help.
	BadRequest Kind = "bad-request"
	// NotFound: the object does not exist.
	NotFound Kind = "not-found"
	// SyncReset: a delta token expired (410 or syncStateNotFound): resynchronise from scratch.
	SyncReset Kind = "sync-reset"
	// InvalidPage: the response was not a valid, complete Graph page (truncated, not JSON).
	InvalidPage Kind = "invalid-page"
	// Forbidden: a 403 that is neither a licence nor a permission error.
	Forbidden Kind = "forbidden"
	// Unknown: anything else.
	Unknown Kind = "unknown"
)

// Error is a failed Graph call. Use errors.As to get it from a wrapped error.
type Error struct {
	Kind   Kind
	Status int
	// Code is Graph's error code (error.code), or the AADSTS code for token errors ("AADSTS7000215").
	Code    string
	Message string
	// RequestID is Graph's request-id (response header or error.innerError), for support cases.
	RequestID string
	// Path is the request path without the query string (no secrets are ever in it).
	Path string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s", e.Kind)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		b.WriteString(")")
	} else if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " %s", e.Path)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil && e.Message == "" {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request-id %s]", e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of a Graph error anywhere in err's chain, or "" when there is none.
func KindOf(err error) Kind {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Kind
	}
	return ""
}

// odataError is Graph's error body: {"error":{"code","message","innerError":{"request-id","date",...}}}.
type odataError struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		InnerError json.RawMessage `json:"innerError"`
	} `json:"error"`
}

type innerError struct {
	RequestID  string          `json:"request-id"`
	Code       string          `json:"code"`
	InnerError json.RawMessage `json:"innerError"`
}

// Error codes Graph uses for the licence, permission and resync cases (reference/graph.md §4,
// reference/directory-insights.md §1.5). Codes are compared case-insensitively: services differ in case
// (Outlook sends SyncStateNotFound).
const (
	codeNonPremium        = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
	codeRequestDenied     = "Authorization_RequestDenied"
	codePermissionMissing = "Authentication_MSGraphPermissionMissing"
	codeAccessDenied      = "AccessDenied"
	codeForbidden         = "Forbidden"
	codeUnknown           = "UnknownError"
	codeBadRequest        = "BadRequest"
	codeSyncStateGone     = "syncStateNotFound"
	codeResyncRequired    = "resyncRequired"
)

// classify builds the Error for a non-2xx Graph response from its status, headers and (already read) body.
func classify(status int, header http.Header, body []byte, path string) *Error {
	e := &Error{Status: status, Path: path, RequestID: header.Get("request-id")}
	var oe odataError
	if json.Unmarshal(body, &oe) == nil {
		e.Code, e.Message = oe.Error.Code, oe.Error.Message
		// Intune nests a JSON document in message: {"ErrorCode":"Forbidden","Message":"{...}"}.
		var nested struct{ ErrorCode, Message string }
		if strings.HasPrefix(strings.TrimSpace(e.Message), "{") && json.Unmarshal([]byte(e.Message), &nested) == nil && nested.ErrorCode != "" {
			e.Code = nested.ErrorCode
			e.Message = firstLine(nested.Message)
		}
		// Walk innerError for the request id.
		raw := oe.Error.InnerError
		for depth := 0; len(raw) > 0 && depth < 8; depth++ {
			var ie innerError
			if json.Unmarshal(raw, &ie) != nil {
				break
			}
			if e.RequestID == "" {
				e.RequestID = ie.RequestID
			}
			raw = ie.InnerError
		}
	} else if len(body) > 0 {
		e.Message = firstLine(string(body))
	}
	e.Message = text.Truncate(e.Message, 300)
	e.Kind = kindFor(status, e.Code, catalog.FamilyOf(path))
	return e
}

// kindFor classifies by status, Graph's error code and the throttling family of the request, never by message
// text (reference/graph.md §4):
//   - licence: the non-premium code anywhere; Intune's 400 BadRequest ("Request not applicable to target
//     tenant."), the only 400 Intune answers to the catalog's fixed queries; Identity Protection's and Agent ID's
//     403 Forbidden ("Your tenant is not licensed for this feature.");
//   - permission: 403 Authorization_RequestDenied, Authentication_MSGraphPermissionMissing, AccessDenied,
//     UnknownError (the reports endpoints' "Calling principal does not have required MSGraph permissions"), and
//     Forbidden elsewhere; 401 with Intune's nested ErrorCode Forbidden or UnknownError;
//   - resync: 410, or a 4xx with syncStateNotFound / resyncRequired.
func kindFor(status int, code string, family catalog.Family) Kind {
	is := func(codes ...string) bool {
		return slices.ContainsFunc(codes, func(c string) bool { return strings.EqualFold(code, c) })
	}
	switch {
	case status == http.StatusTooManyRequests:
		// A 429 can carry codes other than TooManyRequests ("activityLimitReached", "accessDenied"): classify by
		// status (fixtures/graph-docs/errors/README.md).
		return Throttled
	case status == http.StatusGone || status/100 == 4 && is(codeSyncStateGone, codeResyncRequired):
		return SyncReset
	case status >= 500:
		return Transient
	case status == http.StatusUnauthorized:
		if is(codeUnknown, codeForbidden) {
			return MissingPermission
		}
		return InvalidCredential
	case is(codeNonPremium):
		return NotLicensed
	case status == http.StatusBadRequest && family == catalog.Intune && is(codeBadRequest):
		return NotLicensed
	case status == http.StatusForbidden && is(codeForbidden) && (family == catalog.Protection || family == catalog.Agents):
		return NotLicensed
	case status == http.StatusForbidden && is(codeRequestDenied, codePermissionMissing, codeAccessDenied, codeUnknown, codeForbidden):
		return MissingPermission
	case status == http.StatusForbidden:
		return Forbidden
	case status == http.StatusNotFound:
		return NotFound
	case status == http.StatusBadRequest:
		return BadRequest
	}
	return Unknown
}

// tokenError is the token endpoint's error body.
type tokenError struct {
	Error      string `json:"error"`
	ErrorCodes []int  `json:"error_codes"`
	TraceID    string `json:"trace_id"`
}

// credentialError turns a token acquisition failure into an InvalidCredential Error quoting the AADSTS code from
// the token endpoint's error_codes. Only the code and our own description are kept: the response text is not
// copied into the message.
func credentialError(err error) error {
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		return err
	}
	e := &Error{Kind: InvalidCredential, Err: err, Message: "token request failed"}
	if afe.RawResponse != nil {
		e.Status = afe.RawResponse.StatusCode
		var te tokenError
		if body, perr := runtime.Payload(afe.RawResponse); perr == nil && json.Unmarshal(body, &te) == nil {
			e.RequestID = te.TraceID
			if len(te.ErrorCodes) > 0 {
				code := strconv.Itoa(te.ErrorCodes[0])
				e.Code = "AADSTS" + code
				e.Message = describeAADSTS(code)
			} else if te.Error != "" {
				e.Code = te.Error
			}
		}
	}
	return e
}

// CredentialError is a token acquisition failure (from an azidentity credential) as an InvalidCredential *Error
// with its AADSTS code; any other error is returned as it is.
func CredentialError(err error) error { return credentialError(err) }

// AADSTS returns the numeric AADSTS code of an InvalidCredential error, or 0.
func AADSTS(err error) int {
	var ge *Error
	if !errors.As(err, &ge) || !strings.HasPrefix(ge.Code, "AADSTS") {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(ge.Code, "AADSTS"))
	return n
}

// describeAADSTS gives each credential failure its own clear message (SPEC §3).
func describeAADSTS(code string) string {
	switch code {
	case "7000215":
		return "invalid client secret: the secret value is wrong (is it the Secret ID instead of its value?)"
	case "7000222":
		return "the client secret has expired: create a new one and use Reset Credentials"
	case "700016":
		return "unknown application: no app with this Application (client) ID in the tenant"
	case "90002", "900023":
		return "unknown tenant: check the Directory (tenant) ID"
	case "7000229":
		return "the application has no service principal in the tenant"
	case "500011":
		return "the resource principal was not found in the tenant"
	case "7000112":
		return "the application or its service principal is disabled"
	case "53003", "530032":
		return "a Conditional Access or security policy blocks the application's sign-in"
	case "700027":
		return "the client certificate was not accepted"
	case "70021", "700211", "700212", "700213":
		return "no federated identity credential of the application matches the presented assertion"
	case "700024":
		return "the client assertion is outside its validity period"
	}
	return "token request refused"
}

// IsInvalidClient reports whether err means the client secret or certificate itself was refused (wrong or
// expired), the case in which a fresh read of it may help.
func IsInvalidClient(err error) bool {
	switch AADSTS(err) {
	case 7000215, 7000222, 700027:
		return true
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
