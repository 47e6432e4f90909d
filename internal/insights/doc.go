// Package insights computes, once a day and from the archive alone (no Graph request), the identity reports an
// operator acts on: inactive users, MFA coverage, SSO coverage and guests. The result is one JSON document per
// integration and day,
//
//	integration=<id>/type=insights/date=YYYY-MM-DD/insights.json
//
// in the archive container, which the Status page shows and any tool can read.
//
// # Sources
//
//   - users: the newest finished full round and the delta rounds after it, replayed (an @removed item deletes).
//   - userSignInActivity: the newest snapshot (Entra ID P1/P2). Thresholds are measured from the snapshot's time,
//     not from the computation's: signInActivity is what Graph said then.
//   - roleAssignments: the newest snapshot; a user with any directory role assignment is an admin.
//   - userRegistrationDetails (MFA registration), when the archive holds a finished round of it.
//   - servicePrincipals: replayed like users; preferredSingleSignOnMode per appId.
//   - signIns.interactive: the buckets since 00:00 UTC SignInDays days ago (whole days, so whole buckets):
//     successful sign-ins per app (SSO) and, when there is no registration report, per user the authentication
//     requirement and methods (MFA performed). Sign-ins of excluded users are left out.
//
// The integration's exclusions apply again at computation time: users in the excluded groups (transitively, from
// the archived groups, internal/membership) and guests when excludeGuests is set are left out of every count.
//
// # Rules
//
// A user is judged for inactivity when the account is enabled, is not a guest still pending acceptance (those are
// reported under guests, aged by externalUserStateChangeDateTime) and has a row in the signInActivity snapshot.
// Its last activity is lastSuccessfulSignInDateTime. That field exists only since 1 December 2023 and is not
// backfilled (reference/directory-insights.md §4): when it is null but an attempt is recorded, the last attempt
// (interactive or not) stands in if it predates December 2023, and 1 December 2023 stands in otherwise (no success
// recorded since the field began); such users are counted as approximate. Inactive means no activity for more
// than InactiveDays days (default 90) before the snapshot, "expired" for more than 30 days; a user who never signed
// in counts as inactive (expired) once the account is older than the threshold, and is also counted as never
// signed in. Graph's signInActivity may lag real sign-ins by up to 24 hours; the report says so.
//
// MFA coverage comes from userRegistrationDetails when the archive has it (registered, capable, passwordless
// capable, over the enabled users of the directory; a user without a row counts as not registered), otherwise
// from the interactive sign-ins of the window: of the enabled users who signed in successfully, who met a
// multi-factor requirement at least once, who only ever signed in with a single factor, who used a passwordless
// method. The report names the source. Admins without MFA: admins not MFA capable (registration), or admins who
// signed in in the window and never performed MFA (sign-ins).
//
// SSO coverage counts the applications (service principals of type Application) by preferredSingleSignOnMode and
// those of them with a successful interactive sign-in in the window; the denominator is "apps known to Entra",
// not every SaaS application the organisation uses (which Entra cannot know).
//
// # Memory
//
// Records are streamed part by part. Per user only a compact record is kept (the id as 16 bytes, a few times and
// flags: about 70 bytes with the map's overhead), per application its mode, name and a counter; display names are
// read in a second pass for the few users the report lists. A 200,000-user tenant peaks at about 25 MiB of live
// heap, well inside the handler's 48 MiB limit; about half a million users fit (BenchmarkComputeLargeTenant,
// BENCHMARKS.md). However many sign-ins there are, they cost no memory.
//
// # Writing
//
// The document is written once per day by the daily run. A run again the same day (a retry, a second instance, a
// manual run) replaces the day's document only with a newer computation: the upload is one request (readers see
// the old or the new document, never a mix), conditional on the ETag read, and an existing document computed
// later than this one is kept. The day's name is deterministic, so nothing is ever duplicated.
package insights
