package entrasim

// logEndpoint declares a time-windowed log endpoint once: path, version, streams, filter schema, page
// sizes, permissions, licence, throttling family and rendering. Routes, permission checks, licence checks
// and the tests derive from this table.
type logEndpoint struct {
	name        string // counters name: "<version>/<path>"
	version     string // "v1.0" or "beta"
	path        string // canonical path, e.g. "auditLogs/signIns"
	streams     []*streamDef
	eventTypes  bool // the filter selects streams by signInEventTypes (first stream is the default)
	schema      *schema
	defaultTop  int
	maxTop      int
	defaultDesc bool // newest first without $orderby
	perms       []permission
	licence     func(l licences) *gerr
	write       func(v view, w *jw)
}

func premiumOnly(l licences) *gerr {
	if !l.premium() {
		return errNonPremium
	}
	return nil
}

func anyLicence(licences) *gerr { return nil }

func signInStreams() []*streamDef {
	return []*streamDef{streamByName(StreamInteractive), streamByName(StreamNonInteractive),
		streamByName(StreamServicePrincipal), streamByName(StreamManagedIdentity)}
}

// logEndpoints lists the log endpoints.
//
// Page sizes: sign-ins default to and cap at 1,000 (signin-list.md). The directoryAudits and provisioning
// pages are not documented; 1,000 is what collectors observe for audits (unverified) and is assumed for
// provisioning (unverified). Order: sign-ins come newest first (signin-list.md); the other two are served
// newest first as well (unverified).
var logEndpoints = []*logEndpoint{
	{
		name: "beta/auditLogs/signIns", version: "beta", path: "auditLogs/signIns",
		streams: signInStreams(), eventTypes: true, schema: signInSchema(true),
		defaultTop: 1000, maxTop: 1000, defaultDesc: true,
		perms: []permission{permAuditLog, permDirectory}, licence: premiumOnly,
		write: func(v view, w *jw) { v.(*signInRec).writeBeta(w) },
	},
	{
		name: "v1.0/auditLogs/signIns", version: "v1.0", path: "auditLogs/signIns",
		streams: []*streamDef{streamByName(StreamInteractive)}, schema: signInSchema(false),
		defaultTop: 1000, maxTop: 1000, defaultDesc: true,
		perms: []permission{permAuditLog, permDirectory}, licence: premiumOnly,
		write: func(v view, w *jw) { v.(*signInRec).writeV1(w) },
	},
	{
		name: "v1.0/auditLogs/directoryAudits", version: "v1.0", path: "auditLogs/directoryAudits",
		streams: []*streamDef{streamByName(StreamDirectoryAudits)}, schema: auditSchema(),
		defaultTop: 1000, maxTop: 1000, defaultDesc: true,
		perms: []permission{permAuditLog}, licence: anyLicence,
		write: func(v view, w *jw) { v.(*auditRec).write(w) },
	},
	{
		name: "v1.0/auditLogs/provisioning", version: "v1.0", path: "auditLogs/provisioning",
		streams: []*streamDef{streamByName(StreamProvisioning)}, schema: provisioningSchema(),
		defaultTop: 1000, maxTop: 1000, defaultDesc: true,
		// Provisioning logs need Entra ID P1 or P2 (entra-docs licensing-monitoring-health.md); the answer
		// on a free tenant is assumed to be the sign-ins' non-premium 403 (unverified).
		perms: []permission{permAuditLog}, licence: premiumOnly,
		write: func(v view, w *jw) { v.(*provRec).write(w) },
	},
}
