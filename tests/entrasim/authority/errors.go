package authority

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// AADSTS codes the stand-in answers with. The OAuth error string and HTTP status of each are in the comment;
// "(source)" marks bodies seen in public issue reports, "(unverified)" a best guess.
const (
	// CodeInvalidSecret (AADSTS7000215): invalid_client, 401. The secret matches none of the app's secrets
	// (source: body and 401 status in public reports).
	CodeInvalidSecret = 7000215
	// CodeExpiredSecret (AADSTS7000222): invalid_client, 401. The secret matches one of the app's secrets whose
	// end date has passed (source: message; the 401 status is assumed from invalid_client).
	CodeExpiredSecret = 7000222
	// CodeMissingSecret (AADSTS7000216): invalid_request, 400. client_credentials without client_secret or
	// client_assertion (source: message; error string and status unverified).
	CodeMissingSecret = 7000216
	// CodeUnknownApp (AADSTS700016): unauthorized_client, 400. No app with that client_id in the tenant
	// (source: message; unauthorized_client and 400 are what Entra sends for this code in reports).
	CodeUnknownApp = 700016
	// CodeUnknownTenant (AADSTS90002): invalid_request, 400 at the token endpoint; invalid_tenant at the
	// metadata endpoint (source: bodies; the metadata status is unverified).
	CodeUnknownTenant = 90002
	// CodeMissingParameter (AADSTS900144): invalid_request, 400. grant_type or client_id missing (source).
	CodeMissingParameter = 900144
	// CodeMissingScope (AADSTS90014): invalid_request, 400. A client-credentials request without scope
	// (source: current message "The required field 'scope' is missing from the credential").
	CodeMissingScope = 90014
	// CodeScopeNotDefault (AADSTS1002012): invalid_scope, 400. Client credentials need "<resource>/.default";
	// Entra used AADSTS70011 for this before about 2020 (source).
	CodeScopeNotDefault = 1002012
	// CodeMultipleResources (AADSTS28000): invalid_scope, 400. More than one resource in one request
	// (unverified wording).
	CodeMultipleResources = 28000
	// CodeUnknownResource (AADSTS500011): invalid_resource, 400. The "<resource>/.default" names no resource the
	// stand-in knows (source).
	CodeUnknownResource = 500011
	// CodeUnsupportedGrant (AADSTS70003): unsupported_grant_type, 400. The stand-in implements only
	// client_credentials, so every other grant gets this (source: message; real Entra supports more grants).
	CodeUnsupportedGrant = 70003
	// CodePostOnly (AADSTS900561): invalid_request, 400. The token endpoint only accepts POST (unverified).
	CodePostOnly = 900561
	// CodeAppDisabled (AADSTS7000112): unauthorized_client, 400. The app's service principal is disabled, or
	// Microsoft disabled the app (source: message; error string and status unverified).
	CodeAppDisabled = 7000112
	// CodeConditionalAccess (AADSTS53003): invalid_grant, 400. A Conditional Access policy for workload
	// identities blocks the app (source: Microsoft's workload-identity Conditional Access page, which shows this
	// body).
	CodeConditionalAccess = 53003
	// CodeCertificateInvalid (AADSTS700027): invalid_client, 401. A certificate client assertion whose key is not
	// among the app's keyCredentials, or whose signature does not verify (source: message; status assumed from
	// invalid_client).
	CodeCertificateInvalid = 700027
	// CodeAssertionTime (AADSTS700024): invalid_client, 400. A client assertion outside its nbf/exp window
	// (source: message; error string and status unverified).
	CodeAssertionTime = 700024
	// CodeInvalidAssertion (AADSTS50013): invalid_request, 400. A federated assertion that is not a token of a
	// trusted issuer, or whose signature does not verify (unverified wording).
	CodeInvalidAssertion = 50013
	// CodeNoFederatedRecord (AADSTS70021): invalid_request, 400. The app has no federated identity credential
	// matching the assertion (source: the azure-workload-identity troubleshooting page shows this body).
	CodeNoFederatedRecord = 70021
	// CodeFederatedIssuer (AADSTS700211): invalid_request, 400. No federated credential of the app names the
	// assertion's issuer (source: code and message in public reports; error string and status unverified).
	CodeFederatedIssuer = 700211
	// CodeFederatedAudience (AADSTS700212): invalid_client, 401. The issuer matches but no audience does (source:
	// a recorded body in a public test suite; the status is assumed from invalid_client).
	CodeFederatedAudience = 700212
	// CodeFederatedSubject (AADSTS700213): invalid_request, 400. Issuer and audience match but the subject does
	// not (source: code in public reports; error string and status unverified).
	CodeFederatedSubject = 700213
)

// ErrorResponse is the JSON body of an Entra error, exported so tests can decode what the stand-in (or a
// recorded real response) sent.
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// aadError is one error the endpoints answer with; desc is the message after "AADSTSnnnn: ".
type aadError struct {
	status int
	oauth  string
	code   int
	desc   string
}

func errInvalidSecret(appID string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", CodeInvalidSecret, fmt.Sprintf(
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
			"not the client secret ID, for a secret added to app '%s'.", appID)}
}

func errExpiredSecret(appID string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", CodeExpiredSecret, fmt.Sprintf(
		"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for "+
			"your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: "+
			"https://aka.ms/certCreds.", appID)}
}

func errMissingSecret() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeMissingSecret,
		"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."}
}

func errUnknownApp(appID, tenantName string) aadError {
	return aadError{http.StatusBadRequest, "unauthorized_client", CodeUnknownApp, fmt.Sprintf(
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application "+
			"has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You may have sent your authentication request to the wrong tenant.", appID, tenantName)}
}

func errUnknownTenant(oauth, tenant string) aadError {
	return aadError{http.StatusBadRequest, oauth, CodeUnknownTenant, fmt.Sprintf(
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct "+
			"cloud. Check with your subscription administrator, this may happen if there are no active "+
			"subscriptions for the tenant.", tenant)}
}

func errMissingParameter(name string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeMissingParameter,
		fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

func errMissingScope() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeMissingScope,
		"The required field 'scope' is missing from the credential. Ensure that you have all the necessary " +
			"parameters for the login request."}
}

func errScopeNotDefault(scope string) aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", CodeScopeNotDefault, fmt.Sprintf(
		"The provided value for scope %s is not valid. Client credential flows must have a scope value with "+
			"/.default suffixed to the resource identifier (application ID URI).", scope)}
}

func errMultipleResources(scope string) aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", CodeMultipleResources, fmt.Sprintf(
		"Provided value for the input parameter scope is not valid because it contains more than one resource. "+
			"Scope %s is not valid.", scope)}
}

func errUnknownResource(resource, tenantName string) aadError {
	return aadError{http.StatusBadRequest, "invalid_resource", CodeUnknownResource, fmt.Sprintf(
		"The resource principal named %s was not found in the tenant named %s. This can happen if the "+
			"application has not been installed by the administrator of the tenant or consented to by any user in "+
			"the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenantName)}
}

func errUnsupportedGrant(grant string) aadError {
	return aadError{http.StatusBadRequest, "unsupported_grant_type", CodeUnsupportedGrant,
		fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant)}
}

func errPostOnly(method string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodePostOnly,
		fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", method)}
}

func errAppDisabled(appID, name string) aadError {
	return aadError{http.StatusBadRequest, "unauthorized_client", CodeAppDisabled,
		fmt.Sprintf("Application '%s'(%s) is disabled.", appID, name)}
}

func errConditionalAccess() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", CodeConditionalAccess,
		"Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."}
}

func errCertificate(appID, why string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", CodeCertificateInvalid, fmt.Sprintf(
		"Client assertion failed signature validation. (%s) Ensure a certificate of app '%s' signed the assertion "+
			"and that its public key is registered in the app's keyCredentials.", why, appID)}
}

func errAssertionTime(now, nbf, exp time.Time) aadError {
	return aadError{http.StatusBadRequest, "invalid_client", CodeAssertionTime, fmt.Sprintf(
		"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry "+
			"time of assertion %s.", now.UTC().Format(time.RFC3339), nbf.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))}
}

func errInvalidAssertion(why string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeInvalidAssertion,
		fmt.Sprintf("Assertion failed signature validation. (%s)", why)}
}

func errNoFederatedRecord(iss, sub, aud string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeNoFederatedRecord, fmt.Sprintf(
		"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion "+
			"Subject: '%s'. Assertion Audience: '%s'.", iss, sub, aud)}
}

const ficHint = " Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."

func errFederatedIssuer(iss string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeFederatedIssuer,
		fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'.", iss) + ficHint}
}

func errFederatedAudience(aud string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", CodeFederatedAudience,
		fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", aud) + ficHint}
}

func errFederatedSubject(sub string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", CodeFederatedSubject,
		fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'.", sub) + ficHint}
}

// entraTimestamp is the timestamp format of Entra error bodies ("2023-05-06 06:03:00Z").
const entraTimestamp = "2006-01-02 15:04:05Z"

// body renders the error as Entra does; base is the stand-in's base URL (for error_uri).
func (e aadError) body(now time.Time, traceID, correlationID, base string) []byte {
	ts := now.UTC().Format(entraTimestamp)
	resp := ErrorResponse{
		Error: e.oauth,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.desc, traceID, correlationID, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       traceID,
		CorrelationID: correlationID,
		ErrorURI:      fmt.Sprintf("%serror?code=%d", base, e.code),
	}
	b, err := json.Marshal(resp)
	if err != nil { // cannot happen: the struct holds only strings and ints
		panic(err)
	}
	return b
}
