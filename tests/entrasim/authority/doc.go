// Package authority is the local stand-in for the Microsoft Entra ID token authority (login.microsoftonline.com):
// OpenID Connect metadata, the signing keys and the OAuth 2.0 client-credentials token endpoint of the v2.0
// protocol, served over TLS with a certificate from tests/testca so that the real azidentity/MSAL clients can use
// it as a custom authority host.
//
// What it reproduces, and where each fact comes from ("unverified" marks what could not be confirmed from public
// material and is a best guess):
//
//   - GET /{tenant}/v2.0/.well-known/openid-configuration answers the v2.0 metadata with every endpoint on the
//     stand-in's own host and the tenant GUID in the paths, and an issuer of <base>{tenantGUID}/v2.0 (MSAL's
//     ValidateIssuerMatchesAuthority requires the issuer's scheme and host to match the authority). An unknown
//     tenant gets 400 {"error":"invalid_tenant", … "error_codes":[90002] …} (body: public issue reports; the 400
//     status on this endpoint is unverified).
//   - POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials. The client may authenticate with
//     client_secret in the form (client_secret_post) or with HTTP Basic (client_secret_basic); both are listed in
//     Entra's token_endpoint_auth_methods_supported. MSAL adds "openid offline_access profile" to the scope; those
//     are ignored when a "<resource>/.default" scope is present.
//   - Instead of a secret the client may present client_assertion (client_assertion_type
//     urn:ietf:params:oauth:client-assertion-type:jwt-bearer). One the app signed itself (iss = sub = client id) is a
//     certificate credential: its x5t#S256 (MSAL, PS256) or x5t (RS256) must name one of App.Certificates, the
//     signature must verify with that key and aud must be the token endpoint, else AADSTS700027. Any other is a
//     federated credential: it must be a token of this authority (its signature and kid are checked, else
//     AADSTS50013), within its validity (AADSTS700024), and match one of App.FederatedCredentials exactly — none
//     at all gives AADSTS70021, then issuer AADSTS700211, audience AADSTS700212, subject AADSTS700213, as Entra
//     reports them. A token for api://AzureADTokenExchange (what a managed identity presents) is a v2.0 token
//     with iss <base>{tid}/v2.0, sub the caller's object id and aud api://AzureADTokenExchange.
//   - After the client is authenticated: a disabled service principal (App.Disabled) gets AADSTS7000112, a
//     Conditional Access block for workload identities (App.BlockedByConditionalAccess) AADSTS53003.
//   - Errors carry Entra's body: error, error_description ("AADSTSnnnn: …\r\nTrace ID: …\r\nCorrelation ID:
//     …\r\nTimestamp: …"), error_codes, timestamp, trace_id, correlation_id (the client-request-id header when the
//     client sends one) and error_uri. See the Code* constants for each AADSTS code, its OAuth error and status.
//   - Access tokens are RS256 JWS in the v1.0 format the Microsoft Graph and Key Vault resources receive: iss
//     https://sts.windows.net/{tid}/, appid/appidacr (v1 tokens carry appid, not azp), oid = sub = the service
//     principal, tid, idtyp "app" and app_displayname (Graph only, as observed on Graph tokens), roles (the
//     granted Graph application permissions, omitted when none), uti, ver "1.0". iat and nbf are backdated five
//     minutes and exp is now+lifetime, which matches Microsoft's documented Key Vault token sample (exp-iat =
//     3900 s for a one-hour token); expires_in is lifetime-1 s (3599).
//
// All times come from Options.Now, so a test that advances a simulated clock by a day sees yesterday's tokens as
// expired. Secrets are compared in constant time and never appear in a response, error or log line.
//
// Clients built on azcore cache tokens by wall-clock time (expires_in from now), so after a simulated-clock jump
// a client may still send a token that Verify reports expired. When the token was requested by a CAE-capable
// client (claims xms_cc "cp1", which azcore always sends), a resource can answer with a CAE claims challenge
// (see CAEChallenge) and azcore/kiota fetch a fresh token bypassing their cache, which is the outcome a real
// client would reach with a clock that moved in step.
package authority
