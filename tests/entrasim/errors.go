package entrasim

import (
	"net/http"
	"strconv"
)

// gerr is a Graph error response: status, code and message, plus headers (Retry-After and the like).
// Bodies follow concepts/errors.md: {"error":{"code","message","innerError":{"date","request-id",
// "client-request-id"}}} (innerError key order as Graph sends it, e.g. microsoft-graph-docs #14173).
type gerr struct {
	status  int
	code    string
	message string
	header  map[string]string
}

func (e *gerr) Error() string { return strconv.Itoa(e.status) + " " + e.code + ": " + e.message }

func badRequest(msg string) *gerr {
	return &gerr{status: http.StatusBadRequest, code: "BadRequest", message: msg}
}

// Errors the simulator answers with, and where they come from.
var (
	// 401 without a bearer token.
	errTokenEmpty = &gerr{status: 401, code: "InvalidAuthenticationToken", message: "Access token is empty."}
	// 401 for an expired token (message as Graph sends it, e.g. mail-archiver #267).
	errTokenExpired = &gerr{status: 401, code: "InvalidAuthenticationToken", message: "Lifetime validation failed, the token is expired."}
	// 401 for a token for another resource.
	errTokenAudience = &gerr{status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience."}
	// 401 for any other invalid token (wording unverified).
	errTokenInvalid = &gerr{status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure."}
	// 403 without the directory permission (reference §4; unverified on reporting endpoints).
	errInsufficientPrivileges = &gerr{status: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation."}
	// 403 on sign-ins (and provisioning, unverified) without Entra ID P1/P2 (reference §4).
	errNonPremium = &gerr{status: 403, code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", message: "Neither tenant is B2C or tenant doesn't have premium license"}
	// 400 for an invalid or tampered skip token. Message as reported for sign-ins (msgraph-sdk-powershell
	// #1388, code UnknownError); the status code is unverified.
	errInvalidSkipToken = &gerr{status: 400, code: "UnknownError", message: "Invalid Skip Token, skip token is null"}
)

// errPermissionMissing is the reporting endpoints' answer without AuditLog.Read.All: 403
// Authentication_MSGraphPermissionMissing (source: microsoft-graph-explorer-v4 #2731 on users/signInActivity,
// #3165 on auditLogs/provisioning; microsoft-graph-docs-contrib #8997, #3196 on sign-ins).
func errPermissionMissing(perm string) *gerr {
	return &gerr{status: 403, code: "Authentication_MSGraphPermissionMissing", message: "Calling principal does not have required MSGraph permissions " + perm}
}

// faultError is the error a FaultStatus rule answers with, nil for a status it does not inject.
func faultError(status int) *gerr {
	switch status {
	case 500, 503, 504:
		return serverError(status)
	case 400:
		return badRequest("Invalid request.")
	case 403:
		return errInsufficientPrivileges
	case 404:
		return &gerr{status: 404, code: "Request_ResourceNotFound", message: "Resource not found."}
	case 409:
		return &gerr{status: 409, code: "Conflict", message: "The operation conflicts with a concurrent change; retry it."}
	}
	return nil
}

// Server errors injected by fault rules (codes from concepts/errors.md).
func serverError(status int) *gerr {
	switch status {
	case 503:
		return &gerr{status: 503, code: "serviceNotAvailable", message: "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, the length of which may be specified in a Retry-After header."}
	case 504:
		return &gerr{status: 504, code: "UnknownError", message: "The operation timed out before it could be completed."}
	default:
		return &gerr{status: status, code: "generalException", message: "An unspecified error has occurred."}
	}
}
