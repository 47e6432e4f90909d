// Package entrasim is a simulated Microsoft Entra tenant: a deterministic synthetic directory, lazily
// generated log streams, and a Microsoft Graph stand-in serving them over TLS with Graph's query semantics,
// error bodies, permissions, licences and throttling — faithful enough that code passing against it works
// against the real service. It is a library for tests and, through tests/cmd/entrasim, a process for the
// demo and benchmarks.
//
// # Starting a tenant
//
//	clock := entrasim.NewSimClock(time.Now())
//	tn, err := entrasim.Start(&entrasim.Options{Seed: 1, Users: 500, Clock: clock})
//	defer tn.Close()
//	// tn.GraphURL(), tn.AuthorityURL(), tn.TenantID(), tn.ClientID(), tn.ClientSecret(), tn.CACertPath()
//	clock.Advance(6 * time.Hour) // new and late events become visible
//	ids, _ := tn.Truth(entrasim.StreamNonInteractive, from, to, clock.Now())
//
// The same seed, size and start time give the same tenant, byte for byte: directory, event ids, times and
// every rendered field.
//
// # Log streams
//
// Six streams, named as the collector names its data types: signIns.interactive, signIns.nonInteractive,
// signIns.servicePrincipal, signIns.managedIdentity, directoryAudits and provisioning. Events are never
// stored: time is cut into slots per stream and everything about an event is derived from a hash of (seed,
// stream, slot, index), so a history of millions of events costs no memory and a page seeks straight to its
// slot. Each event has an ingestion delay: it is visible once the simulated clock reaches time + delay. Most
// delays are minutes; a configurable share (default 2 %) arrives 1–48 h late, so new events keep appearing
// while a collector runs and late ones appear in windows it already read. Retention is 30 days with P1/P2 and
// 7 days on a free tenant. Some events share a timestamp exactly, and some have whole-second timestamps.
//
// # Endpoints
//
//	GET /beta/auditLogs/signIns          every sign-in type; signInEventTypes/any(t: t eq '…') selects
//	                                     types, interactive only without it; beta shape
//	GET /v1.0/auditLogs/signIns          interactive sign-ins, v1.0 shape, no signInEventTypes
//	GET /v1.0/auditLogs/directoryAudits  directory audits
//	GET /v1.0/auditLogs/provisioning     provisioning events; activityDateTime with gt/lt only, property
//	                                     names case sensitive
//
// $filter is parsed for real (comparisons, and/or, parentheses, startswith/contains, any() with or inside,
// date-time literals with or without fractions) and checked per endpoint; anything unsupported gets Graph's
// 400 "Invalid filter clause" body. $top takes each endpoint's default and maximum (1,000; larger values are
// served at the maximum), $select and $orderby (on the time property) are honoured. Pages are newest first,
// ties in a fixed order (time, then an internal key), and carry an absolute @odata.nextLink pointing at this
// server with the original options and an opaque, HMAC-protected $skiptoken; a tampered or foreign token gets
// Graph's invalid skip token error. Paging is keyset-based: a nextLink continues after the last record served,
// so pages never repeat or skip a record visible throughout, while events that become visible meanwhile
// appear only if they sort after the position reached. Every response carries request-id and
// client-request-id headers.
//
// # Request pipeline
//
// Every Graph request goes through the same steps, in this order: request-id and client-request-id headers;
// routing (400 "Resource not found for the segment …"); authentication (401); the family's limiter (429;
// only authenticated requests use the budget); permissions (403); then the endpoint: licence (403), query
// validation (400), fault rules, page latency, and the page itself, streamed. Counters and the request log
// record the outcome.
//
// # Authentication, permissions and licences
//
// Bearer tokens are verified with the token authority (audience https://graph.microsoft.com); a missing,
// invalid or expired token gets 401 InvalidAuthenticationToken. Permissions come from the token's roles:
// sign-ins need AuditLog.Read.All and Directory.Read.All, audits and provisioning AuditLog.Read.All. Missing
// AuditLog.Read.All gets 403 Authentication_MSGraphPermissionMissing, missing Directory.Read.All 403
// Authorization_RequestDenied. Sign-ins and provisioning on a free tenant get 403
// Authentication_RequestFromNonPremiumTenantOrB2CTenant, which Options.NonPremiumShare also injects
// intermittently on licensed tenants, as Graph does.
//
// # Throttling
//
// Limits per family at Graph's documented values (see throttle.go for the exact window semantics): reports
// 5 requests / 10 s per app per tenant with a fractional Retry-After computed from when the window frees up;
// Identity Protection and Conditional Access 1 request / s per tenant without Retry-After; directory objects
// a resource-unit token bucket per app and tenant (3,500 / 5,000 / 8,000 units per 10 s by tenant size,
// Tenant.DirectoryBudget), each request priced by path (users and applications 2, members 3,
// transitiveMembers 5, appRoleAssignments 2, everything else — delta included — 1; $select −1, $expand +1,
// $top < 20 −1, at least 1) and answered with x-ms-resource-unit, x-ms-throttle-limit-percentage above 80 %,
// and at the limit 429 with Retry-After, x-ms-throttle-scope and x-ms-throttle-information. A users list
// selecting signInActivity counts against its own 10 requests / min, the reports family and the directory
// bucket at once, and is admitted only when all three admit it. Agent ID (agents family) gets 5 requests / 10 s
// per app with Retry-After, an assumption: Graph documents no limit for it. Options.ThrottleScale shrinks every
// window (0.01 → 5 requests / 100 ms). Counters (accepted, throttled, faults, pages, records and resource units
// per family and endpoint) and a per-request log let benchmarks compute the achieved rate against the budget.
//
// # Latency and faults
//
// Options.PageLatency delays every page (fixed + jitter, or lognormal) and honours cancellation. Fault rules
// (at start or at run time, through the API or POST /_sim/faults) match by path prefix and stream and fire by
// probability, on the n-th or every n-th match, a limited number of times: 429 storms with or without
// Retry-After, 500/503/504 (or 400/403/404/409 refusals) with Graph bodies, connection resets, truncated bodies,
// invalid JSON, invalid skip tokens on nextLink requests, delays (FaultDelay: a remediation's change is made and
// its answer held), and on deltaLink requests the synchronization reset (syncReset: 410 Gone with a Location)
// and resyncRequired (400).
//
// # Ground truth
//
// Truth(stream, from, to, asOf) returns every event id of a stream and window as visible at a simulated time;
// GET /_sim/truth serves the same. DirectoryAt(kind, asOf, sel) returns the directory objects of a delta kind
// at a simulated time — exactly what a full delta round started then returns: the objects, their properties
// for a $select, and their direct members (GET /_sim/directory). SignInActivityAt(asOf) returns every user's
// signInActivity then (GET /_sim/signInActivity). /_sim also serves counters, the request log, fault rules,
// the clock and the synchronization reset (POST /_sim/directory/reset).
//
// # Directory objects, delta queries and remediation
//
// The directory is an object store (store.go) of users, groups (nested, with a nesting cycle, some with
// devices or service principals as members), applications, service principals (Microsoft Graph's own with its
// app roles; appRoleAssignments), devices, directory roles, administrative units, role definitions and
// assignments, Conditional Access policies and named locations, risky users, risk detections, registration
// details, Intune managed devices and Agent ID's registry and risk (beta only, agents.go). The large
// collections hold stubs: properties are generated from the seed when rendered (dirgen_*.go), so 100,000 users
// and 20,000 groups build in about a second in ~125 MiB.
// Every object keeps its history — property changes, soft deletes, restores, permanent deletes and membership
// changes, each with a sequence number and a simulated time — so delta rounds are consistent snapshots and
// the ground truth can tell any past state.
//
// Directory objects carry every property of Graph's v1.0 schema (dirprops.go; null where Graph holds no
// value), and the security-relevant ones are varied: users synchronised from Active Directory with their
// on-premises identifiers, password age and policies, licences, guests invited and accepted with their
// identities, signInActivity; applications with web, SPA and public client redirect URIs, implicit grant,
// verified publishers, certificates and secrets (some expired) and high-privilege permissions; SAML service
// principals; rooted, personal, hybrid-joined and non-compliant devices; role assignments scoped to
// administrative units and with conditions; dynamic and restricted administrative units. $select accepts any
// schema property; a request without it returns Graph's default set.
//
// Each collection is declared once (dirapi.go: dirEndpoints) with its throttling family, permissions,
// licence, page sizes, resource-unit cost and filters, and served with list, get, $select, $filter, $top,
// $expand (roleAssignments: principal, roleDefinition) and skip-token paging, and — for users, groups,
// applications, service principals, devices, directory roles and administrative units (also at
// /directory/administrativeUnits) — delta queries as Graph does them (delta.go): rounds pinned at their
// start, $select narrowing what is tracked (signInActivity refused), @removed changed/deleted,
// members@delta (full on an initial round, changes after), large groups split across items
// (Options.MemberSliceSize), replays (Options.DeltaReplayShare), delayed removals (Options.RemovalDelay),
// Prefer: return=minimal, $deltatoken=latest, 400 syncStateNotFound after 7 days, and the synchronization
// reset (Tenant.ResetDeltaSync, POST /_sim/directory/reset, the syncReset and resyncRequired faults).
//
// Options.Churn makes the directory change as the clock advances (churn.go): creates, updates, soft deletes,
// restores and permanent deletes of users, groups, applications, service principals, devices and
// administrative units, membership changes of groups (nested ones included), roles and administrative
// units, invited guests and their acceptance, role activation; the recycle bin is purged after 30 days.
//
// GET /users?$select=…,signInActivity (signinactivity.go) needs Entra ID P1/P2, AuditLog.Read.All and a users
// permission, allows $top up to 500, and derives each user's last interactive, non-interactive and successful
// sign-in from the sign-in streams as visible at the simulated time (null for users who never signed in).
//
// Remediation endpoints (remediate.go) change the store: revokeSignInSessions (a no-op for B2B guests),
// authentication methods listed and deleted per type with Graph's constraints (alternate mobile before mobile,
// the default method only as the last one, never the password), the directory roles a user holds
// (transitiveMemberOf/microsoft.graph.directoryRole, through nested groups), PATCH user, DELETE user into
// deletedItems (listed per type, got by id, restored; users not purged by an application, role holders refused
// as Graph refuses app-only callers), addPassword/removePassword; the token authority reads app secrets from the
// same store. Tests set a user's methods with SetAuthMethods and give roles with AssignRole; fault rules reach
// these endpoints too.
//
// # Extending
//
// A new resource type is a collection loaded in populate.go (stubs with a generator, or objects with their
// properties) plus one dirEndpoints entry; directory types declare their properties in dirprops.go, and the
// conformance tests compare them with Graph's schema (tests/testdata/graph-csdl) and the documentation
// examples. New
// operations add routes (server.go: route) and share the request pipeline. Log events read an immutable
// snapshot of the directory taken at start (cast), so directory changes never rewrite history. Group ids
// referenced by audit events come from groupID.
//
// Where Graph's behaviour is not documented and could not be confirmed, the code says so in a comment marked
// "unverified".
package entrasim
