// Package kvsim is the local stand-in for the Azure Key Vault secrets data plane, served over TLS with a
// certificate from tests/testca, for the azsecrets v1.5.1 client (service API version 2026-04-01) authenticated by
// azidentity against the tests/entrasim/authority stand-in.
//
// What it reproduces, and where each fact comes from ("unverified" marks a best guess):
//
//   - Challenge authentication: a request without a bearer token gets 401 with
//     WWW-Authenticate: Bearer authorization="<authority><tenant>", resource="https://vault.azure.net" and
//     {"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}} (source:
//     recorded service responses in Azure/azure-sdk-for-js). azsecrets' challenge policy
//     (keyvault/internal v1.2.0) takes the tenant from the path of the authorization URL and the scope from
//     resource, then retries with a token. Tokens are checked with Options.Verify for audience
//     https://vault.azure.net and the vault's tenant; a bad token gets 401 with the challenge again and Key Vault's
//     message (AKV10022 wrong audience and AKV10046 unknown signing key are sourced; the texts for expired,
//     malformed, bad-signature and wrong-tenant tokens are unverified).
//   - Access: RBAC by default, 403 {"error":{"code":"Forbidden","message":"Caller is not authorized to perform
//     action on resource.\r\n…","innererror":{"code":"ForbiddenByRbac"}}}, or the access-policy model's "does not
//     have secrets get permission" with innererror AccessDenied (both sourced). azcore's ResponseError.ErrorCode is
//     the outer code, "Forbidden".
//   - Secrets: get (latest or a version), set (a new 32-hex version each time), update (PATCH; an empty version
//     updates the latest), list and list versions with nextLink/$skiptoken paging (25 per page as in Key Vault,
//     maxresults 1..25), soft delete with get/list deleted secrets, recover and purge. Bodies use unix-second
//     attributes and recoveryLevel "Recoverable+Purgeable" with recoverableDays 90 (source: recordings).
//     A missing secret is 404 SecretNotFound with Key Vault's message; a disabled one is 403 Forbidden with
//     innererror SecretDisabled (source). Key Vault documents that get works outside the nbf/exp window, so
//     those dates are stored and returned but not enforced. Setting a secret whose name is soft-deleted is 409
//     Conflict ObjectIsDeletedButRecoverable (message unverified). Deletion is immediate here; the real service
//     completes it asynchronously (GET deletedsecrets answers 404 for a few seconds).
//   - api-version is required: an unknown value gets 400 BadParameter "The specified version (x) is not
//     recognized. Consider using the latest supported version (2026-04-01)." (shape sourced from an Azure Stack
//     response; the message for a missing api-version is unverified).
//   - SetUnavailable makes every request answer 503 ServiceUnavailable (body unverified), which azcore retries.
//
// Time comes from Options.Now. azcore caches tokens by wall-clock time, so after a simulated-clock jump a client
// can present a token the authority's clock has expired; for tokens from CAE-capable clients (all azcore
// clients) the vault answers with a CAE claims challenge, which makes azcore fetch a fresh token and retry — the
// outcome a real client reaches when its clock moves with the service's. Options.StrictExpiry turns this off.
package kvsim
