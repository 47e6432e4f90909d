package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

const (
	signInsPath = "/beta/auditLogs/signIns"
	auditsPath  = "/v1.0/auditLogs/directoryAudits"
	provPath    = "/v1.0/auditLogs/provisioning"
)

// faultPhase is one row of the fault matrix: rules active together while the collector runs.
type faultPhase struct {
	name  string
	rules []entrasim.FaultRule
	// step is how far the clock moves before each collection (larger steps give windows of several pages).
	step time.Duration
	// directory: each collection fires CollectDirectory after CollectLogs (Intune is planned only by it);
	// otherwise it fires once, after the row's last CollectLogs, with the rules still in place.
	directory bool
	// collections bounds the collections until every rule fired (6 when zero).
	collections int
	// outlast lists failures that outlast every retry: a run must record an error of that data type and kind,
	// with Graph's request id when Graph answered.
	outlast []wantError
}

type wantError struct {
	dataType, kind string
	requestID      bool
}

// faultMatrix is every fault kind of the simulated Graph alone (with probability, nth and every triggers), all
// of them together, and bursts that no retry outlasts.
var faultMatrix = []faultPhase{
	// Four hours a collection: windows of several pages, so nextLinks (and their skip tokens) come up. No more:
	// the tenant's risk churns, and a detection's version lives at least six hours (entrasim's riskMinAge); a
	// bucket just short of its lag at one collection is read at the next, so the steps stay below six hours less
	// the lag and a bucket's length, and every version is still served when its bucket is first read.
	{name: "invalid skip tokens on nextLinks (every 2nd)", step: 4 * time.Hour,
		rules: []entrasim.FaultRule{{Kind: entrasim.FaultInvalidSkipToken, Every: 2, Count: 3}}},
	{name: "throttle storms with Retry-After (probability)", step: time.Hour,
		rules: []entrasim.FaultRule{{Kind: entrasim.FaultThrottle, Storm: 3, RetryAfter: 20 * time.Millisecond, Probability: 0.2, Count: 4}}},
	{name: "throttling without Retry-After (nth)", step: time.Hour,
		rules: []entrasim.FaultRule{{Kind: entrasim.FaultThrottle, Nth: 3}}},
	{name: "HTTP 500, 503 and 504 (nth, every, probability)", step: time.Hour,
		rules: []entrasim.FaultRule{
			{Kind: entrasim.FaultStatus, Status: 500, Nth: 2},
			{Kind: entrasim.FaultStatus, Status: 503, RetryAfter: 10 * time.Millisecond, Every: 5, Count: 3},
			{Kind: entrasim.FaultStatus, Status: 504, Probability: 0.1, Count: 2},
		}},
	{name: "connection resets (every 4th)", step: time.Hour,
		rules: []entrasim.FaultRule{{Kind: entrasim.FaultReset, Every: 4, Count: 3}}},
	{name: "truncated pages, clean end and aborted (nth, every)", step: time.Hour,
		rules: []entrasim.FaultRule{
			{Kind: entrasim.FaultTruncate, Nth: 2},
			{Kind: entrasim.FaultTruncate, Abort: true, Every: 5, Count: 2},
		}},
	{name: "invalid JSON pages (probability)", step: time.Hour,
		rules: []entrasim.FaultRule{{Kind: entrasim.FaultInvalidJSON, Probability: 0.15, Count: 3}}},
	// Four hours: windows of several pages, so nextLinks (and their skip tokens) come up.
	{name: "every kind at once", step: 4 * time.Hour,
		rules: []entrasim.FaultRule{
			{Kind: entrasim.FaultThrottle, Storm: 2, RetryAfter: 10 * time.Millisecond, Probability: 0.05},
			{Kind: entrasim.FaultStatus, Status: 503, Probability: 0.05},
			{Kind: entrasim.FaultReset, Probability: 0.04},
			{Kind: entrasim.FaultTruncate, Probability: 0.04},
			{Kind: entrasim.FaultTruncate, Abort: true, Probability: 0.04},
			{Kind: entrasim.FaultInvalidJSON, Probability: 0.04},
			{Kind: entrasim.FaultInvalidSkipToken, Probability: 0.3},
		}},
	// The fault kinds again, one on each of issue 16's snapshot and versioned data types' paths (the generic rules
	// above fire where the requests happen to go: mostly the log streams). Up to eight collections four hours
	// apart, so that the daily snapshots fall due within the row, and CollectDirectory each time for Intune.
	{name: "every kind on the security snapshots", step: 4 * time.Hour, directory: true, collections: 8,
		rules: []entrasim.FaultRule{
			{Kind: entrasim.FaultStatus, Status: 503, RetryAfter: 10 * time.Millisecond, Path: "/v1.0/identityProtection/riskyUsers", Nth: 1},
			{Kind: entrasim.FaultReset, Path: "/v1.0/identityProtection/riskyServicePrincipals", Nth: 1},
			{Kind: entrasim.FaultTruncate, Path: "/beta/identityProtection/riskyAgents", Nth: 1},
			{Kind: entrasim.FaultInvalidJSON, Path: "/v1.0/identity/conditionalAccess/policies", Nth: 1},
			{Kind: entrasim.FaultThrottle, Path: "/v1.0/identity/conditionalAccess/namedLocations", Nth: 1},
			{Kind: entrasim.FaultTruncate, Abort: true, Path: "/v1.0/reports/authenticationMethods/userRegistrationDetails", Nth: 1},
			{Kind: entrasim.FaultStatus, Status: 500, Path: "/v1.0/deviceManagement/managedDevices", Nth: 1},
			{Kind: entrasim.FaultThrottle, Storm: 3, RetryAfter: 10 * time.Millisecond, Path: "/v1.0/deviceManagement/deviceConfigurations", Nth: 1},
			{Kind: entrasim.FaultStatus, Status: 504, Path: "/v1.0/deviceAppManagement/mobileApps", Nth: 1},
			{Kind: entrasim.FaultReset, Path: "/beta/agentRegistry/agentInstances", Nth: 1},
			{Kind: entrasim.FaultInvalidJSON, Path: "/beta/agentRegistry/agentCardManifests", Nth: 1},
		}},
	{name: "bursts that outlast the retries", step: time.Hour,
		rules: []entrasim.FaultRule{
			// 503s (Retry-After keeps it quick) until some request has had its eight sends: up to four windows run
			// at once, each absorbing seven, so forty answers outlast the retries of at least one.
			{Kind: entrasim.FaultStatus, Status: 503, RetryAfter: 5 * time.Millisecond, Path: provPath, Count: 40},
			// A storm of 429s longer than the eight sends of every request in flight, for the same reason.
			{Kind: entrasim.FaultThrottle, Storm: 40, RetryAfter: 5 * time.Millisecond, Path: auditsPath, Count: 1},
			// Six invalid pages in a row: two window attempts of three page reads each.
			{Kind: entrasim.FaultInvalidJSON, Stream: "signIns.managedIdentity", Count: 6},
			// A versioned and a hashed snapshot whose every read fails in the run: the round stays due, nothing moves.
			{Kind: entrasim.FaultStatus, Status: 503, RetryAfter: 5 * time.Millisecond, Path: "/beta/identityProtection/riskyAgents", Count: 40},
			{Kind: entrasim.FaultInvalidJSON, Path: "/v1.0/identity/conditionalAccess/namedLocations", Count: 12},
		},
		outlast: []wantError{
			{dataType: "provisioning", kind: "transient", requestID: true},
			{dataType: "directoryAudits", kind: "throttled", requestID: true},
			{dataType: "signIns.managedIdentity", kind: "invalid-page", requestID: true},
			{dataType: "riskyAgents", kind: "transient", requestID: true},
			{dataType: "namedLocations", kind: "invalid-page", requestID: true},
		}},
}

// securityTypes are issue 16's data types collected whole (snapshots, versioned or hashed): the fault matrix
// reaches their paths, the durable check and the verification cover them.
var securityTypes = []string{"riskyUsers", "riskyServicePrincipals", "riskyAgents", "conditionalAccessPolicies", "namedLocations",
	"userRegistrationDetails", "managedDevices", "deviceConfigurations", "mobileApps", "agentInstances", "agentCardManifests"}

// TestGraphFaultMatrix runs the collector through every row of the fault matrix in turn, on one tenant with every
// licence, moving the clock between collections until every rule of the row has fired. After each row no cursor
// may claim data the archive lacks — no bucket range past a missing event, no round, snapshot or version a cursor
// or manifest names past what is durably archived, and the snapshots and versions kept equal the tenant's truth —,
// and failures that outlasted the retries must be in the runs with data type, window and Graph's request id.
// Faults must have reached every snapshot and versioned data type's path. With the faults cleared it collects until
// settled: the archive equals the truth, log streams, versions, snapshots and directory.
func TestGraphFaultMatrix(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{
			Seed: int64(rng.Uint32()), Users: 20, Apps: 3, ManagedIdentities: 2, History: 3 * 24 * time.Hour,
			// Every licence, so every data type is collected; churn changes risk, Conditional Access policies and the
			// directory as the clock moves.
			Licences: []entrasim.Licence{entrasim.LicenceP1, entrasim.LicenceP2, entrasim.LicenceIntune,
				entrasim.LicenceWorkloadIdentitiesPremium, entrasim.LicenceAgentID},
			Churn: 1,
			Streams: map[string]entrasim.StreamOptions{
				// Enough sign-ins for windows of several pages (nextLinks) when the clock moves by hours.
				entrasim.StreamNonInteractive: {Rate: 300},
				entrasim.StreamInteractive:    {Rate: 4},
				"signIns.servicePrincipal":    {Rate: 4},
				"signIns.managedIdentity":     {Rate: 4},
				"directoryAudits":             {Rate: 6},
				"provisioning":                {Rate: 4},
			},
			PageLatency: entrasim.Dist{Fixed: 5 * time.Millisecond},
		},
		Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(10*time.Minute, 40*time.Minute))
	defer cancel()
	idx, err := newArchiveIndex(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := collect(ctx, env); err != nil {
		t.Fatal(err)
	}
	rounds := shortOrLong(1, 3)
	fired := 0
	for round := 0; round < rounds; round++ {
		for _, ph := range faultMatrix {
			fired += runFaultPhase(ctx, t, env, idx, ph)
		}
	}
	env.Tenant.ClearFaults()
	// Four-hour steps, as the rows': the tenant's risk churns.
	if err := settle(ctx, env, 4*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := env.CollectDirectory(ctx); err != nil { // Intune's last read, without faults
		t.Fatal(err)
	}
	verifySettled(t, env)
	verifyRounds(ctx, t, env, "at the end", true)
	verifyDirectory(ctx, t, env)
	c := env.Tenant.Counters()
	t.Logf("%d faults fired over %d Graph requests", fired, c.Requests)
	faulted := faultsByDataType(env)
	for _, name := range securityTypes {
		t.Logf("%s: %d requests answered by a fault", name, faulted[name])
		if faulted[name] == 0 {
			t.Errorf("%s: no fault reached its path", name)
		}
	}
}

// faultsByDataType counts, by data type, the Graph requests a fault rule answered (the tenant's request log).
func faultsByDataType(env *scenario.Env) map[string]int {
	byPath := map[string]string{}
	for _, dt := range catalog.DataTypes {
		if dt.Path != "" {
			byPath["/"+dt.Version+"/"+dt.Path] = dt.Name
		}
	}
	out := map[string]int{}
	for _, r := range env.Tenant.Requests() {
		if name := byPath[r.Path]; r.Fault != "" && name != "" {
			out[name]++
		}
	}
	return out
}

// verifyRounds checks the data types collected in rounds: the durable check (checkRounds) of every family's, and
// the versions and snapshots kept against the tenant's truth — nothing missing, nothing twice, nothing the tenant
// never had. At the end (final) every security data type must be verified, ok and with records.
func verifyRounds(ctx context.Context, t *testing.T, env *scenario.Env, when string, final bool) {
	t.Helper()
	problems, err := checkRounds(ctx, env, roundTypes(env, catalog.Families()...))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", when, p)
	}
	versions, err := env.VerifyVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snapshots, err := env.VerifySnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range append(versions, snapshots...) {
		seen[r.DataType] = true
		if final {
			t.Logf("%s extra=%d parts=%d state %s", r.Line(), r.Extra, r.Parts, r.State)
		}
		if !r.OK() {
			t.Errorf("%s: %s extra=%d", when, r.Line(), r.Extra)
		}
		if final && (r.Records == 0 || r.State != "ok") {
			t.Errorf("%s: %s state %q: want records and state ok", when, r.Line(), r.State)
		}
	}
	if final {
		for _, name := range securityTypes {
			if !seen[name] {
				t.Errorf("%s: %s was not verified", when, name)
			}
		}
	}
}

// runFaultPhase installs a row's rules, collects until each fired (at most six collections unless the row says
// otherwise), and checks the cursors, the rounds and the runs. It returns how often the rules fired.
func runFaultPhase(ctx context.Context, t *testing.T, env *scenario.Env, idx *archiveIndex, ph faultPhase) int {
	t.Helper()
	phaseStart := time.Now()
	var ids []int
	for _, r := range ph.rules {
		id, err := env.Tenant.AddFault(r)
		if err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
		ids = append(ids, id)
	}
	defer func() {
		for _, id := range ids {
			env.Tenant.RemoveFault(id)
		}
	}()
	states := func() []entrasim.FaultState {
		var out []entrasim.FaultState
		for _, f := range env.Tenant.Faults() {
			for _, id := range ids {
				if f.ID == id {
					out = append(out, f)
				}
			}
		}
		return out
	}
	allFired := func() bool {
		for _, f := range states() {
			if f.Fired == 0 {
				return false
			}
		}
		return true
	}
	limit := ph.collections
	if limit == 0 {
		limit = 6
	}
	collections := 0
	for ; collections < limit && !allFired(); collections++ {
		env.Clock.Advance(ph.step)
		if err := collect(ctx, env); err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
		if ph.directory {
			if err := env.CollectDirectory(ctx); err != nil {
				t.Fatalf("%s: %v", ph.name, err)
			}
		}
	}
	if !ph.directory {
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
	}
	fired := 0
	var summary []string
	for _, f := range states() {
		fired += f.Fired
		summary = append(summary, fmt.Sprintf("%s fired %d/%d", describeRule(f.Rule), f.Fired, f.Matched))
		if f.Fired == 0 {
			t.Errorf("%s: rule %s never fired in %d collections", ph.name, describeRule(f.Rule), collections)
		}
	}
	t.Logf("%s: %d collections in %s; %s", ph.name, collections, time.Since(phaseStart).Round(time.Millisecond), strings.Join(summary, "; "))

	problems, checked, err := checkDurable(ctx, env, idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", ph.name, p)
	}
	if len(problems) > 0 {
		t.Logf("(%d events checked)", checked)
	}
	verifyRounds(ctx, t, env, ph.name, false)
	checkRunErrors(ctx, t, env, ph, phaseStart)
	return fired
}

// checkRunErrors checks the errors the phase's runs recorded: each names its data type, window and kind, an error
// Graph answered carries Graph's request id, and each expected failure is there.
func checkRunErrors(ctx context.Context, t *testing.T, env *scenario.Env, ph faultPhase, since time.Time) {
	t.Helper()
	runs, err := env.Runs(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	var errs []cursor.RunError
	for _, r := range runs {
		if r.Started.Before(since) {
			continue
		}
		errs = append(errs, r.Errors...)
	}
	for _, e := range errs {
		if e.DataType == "" || e.Bucket == "" || e.Message == "" || e.Kind == "" {
			t.Errorf("%s: run error lacks data type, window, kind or message: %+v", ph.name, e)
		}
		if strings.Contains(e.Message, "(HTTP ") && e.RequestID == "" {
			t.Errorf("%s: Graph answered but the run error has no request id: %+v", ph.name, e)
		}
	}
	for _, w := range ph.outlast {
		found := false
		for _, e := range errs {
			if e.DataType == w.dataType && e.Kind == w.kind && (!w.requestID || e.RequestID != "") {
				found = true
				t.Logf("%s: run error %s %s window %s request-id %s: %s", ph.name, e.DataType, e.Kind, e.Bucket, e.RequestID, e.Message)
				break
			}
		}
		if !found {
			t.Errorf("%s: no run error for %s of kind %s with a request id among %d errors: %+v", ph.name, w.dataType, w.kind, len(errs), errs)
		}
	}
}

func describeRule(r entrasim.FaultRule) string {
	var b strings.Builder
	b.WriteString(string(r.Kind))
	if r.Status != 0 {
		fmt.Fprintf(&b, " %d", r.Status)
	}
	if r.Abort {
		b.WriteString(" abort")
	}
	if r.Storm > 1 {
		fmt.Fprintf(&b, " storm %d", r.Storm)
	}
	switch {
	case r.Probability > 0:
		fmt.Fprintf(&b, " p=%g", r.Probability)
	case r.Nth > 0:
		fmt.Fprintf(&b, " nth=%d", r.Nth)
	case r.Every > 0:
		fmt.Fprintf(&b, " every=%d", r.Every)
	}
	if r.Path != "" {
		b.WriteString(" " + r.Path)
	}
	if r.Stream != "" {
		b.WriteString(" " + r.Stream)
	}
	return b.String()
}
