// Package remediate runs the manual remediation actions of SPEC §7 — revoke-sessions ("User Log out"), reset-mfa,
// update-user-type, delete-guest-user — against an integration's tenant through Microsoft Graph (typed
// msgraph-sdk-go calls), safely:
//
//   - who may do what: the App Service Authentication principal's app roles, per action (access.Require), on top
//     of the function key; a caller nobody identified is refused unless a setting gives the key holder a role;
//   - refusals that change nothing: unknown action, bad body, wrong role, read-only integration or missing write
//     permission (the integration token's granted roles), unknown user, a protected target (break-glass
//     accounts), a target holding a directory role (unless an Admin sets allowPrivileged), a member given to
//     delete-guest-user;
//   - a dry run that answers exactly the Graph requests it would send, computed from the live user and methods;
//   - idempotency: the Idempotency-Key (per caller) with the same body answers the first outcome without calling
//     Graph again, with another body 409, for 24 hours. The intent is recorded durably (Table Storage, ETags, a
//     renewed lease) before anything changes, each write's outcome after it is made; the retry of a request whose
//     handler died re-reads the live state and does only what is left;
//   - an audit trail of every request, refused and dry runs included: one row in Table `audit` (insert only) and
//     one line in the day's append blob (never rewritten), with the caller, integration, target, action, reason,
//     ticket, outcome and every Graph request with its request-id;
//   - a confirmation read after acting: methods left, userType now, the deleted item and how to restore it.
//
// Graph facts it relies on (reference/graph.md §6, checked against the v1.0 API pages): revokeSignInSessions
// answers 200 or 204 and does nothing for external (B2B) users; an alternate mobile phone must go before the
// mobile one; the default method cannot be deleted while others remain (400 "Cannot delete default method with
// other methods configured"), and v1.0 does not say which one it is, so a method refused with 400 is retried
// after the others; the password method cannot be deleted; deleted users stay restorable for 30 days.
package remediate
