package entrasim

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/tests/testca"
)

// Licence is a licence (service plan family) the simulated tenant holds.
type Licence string

// Licences the simulated tenant knows. P2 includes P1.
const (
	LicenceFree                      Licence = "Free"
	LicenceP1                        Licence = "P1"
	LicenceP2                        Licence = "P2"
	LicenceIntune                    Licence = "Intune"
	LicenceWorkloadIdentitiesPremium Licence = "WorkloadIdentitiesPremium"
	LicenceAgentID                   Licence = "AgentID"
)

var allLicences = []Licence{LicenceFree, LicenceP1, LicenceP2, LicenceIntune, LicenceWorkloadIdentitiesPremium, LicenceAgentID}

// ParseLicences reads a comma-separated licence list such as "P1,P2,Intune" (case-insensitive).
func ParseLicences(s string) ([]Licence, error) {
	var out []Licence
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, l := range allLicences {
			if strings.EqualFold(part, string(l)) {
				out = append(out, l)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown licence %q (want one of %v)", part, allLicences)
		}
	}
	return out, nil
}

// licences is the resolved licence set.
type licences struct{ p1, p2, intune, workloadID, agentID bool }

func resolveLicences(list []Licence) licences {
	var l licences
	for _, x := range list {
		switch x {
		case LicenceP1:
			l.p1 = true
		case LicenceP2:
			l.p1, l.p2 = true, true
		case LicenceIntune:
			l.intune = true
		case LicenceWorkloadIdentitiesPremium:
			l.workloadID = true
		case LicenceAgentID:
			l.agentID = true
		}
	}
	return l
}

// premium reports whether the tenant has Entra ID P1 or P2.
func (l licences) premium() bool { return l.p1 || l.p2 }

// Microsoft Graph application permissions (app roles) by value, with their app-role ids (reference §2).
var appRoleIDs = map[string]string{
	"AgentCardManifest.Read.All":              "3ee18438-e6e5-4858-8f1c-d7b723b45213",
	"AgentInstance.Read.All":                  "799a4732-85b8-4c67-b048-75f0e88a232b",
	"Application.Read.All":                    "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
	"AuditLog.Read.All":                       "b0afded3-3588-46d8-8b3d-9842eff778da",
	"DeviceManagementApps.Read.All":           "7a6ee1e7-141e-4cec-ae74-d9db155731ff",
	"DeviceManagementConfiguration.Read.All":  "dc377aa6-52d8-4e23-b271-2a7ae04cedf3",
	"DeviceManagementManagedDevices.Read.All": "2f51be20-0bb4-4fed-bf7b-db946066c75e",
	"Directory.Read.All":                      "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
	"Group.Read.All":                          "5b567255-7703-4780-807c-7be8301ae99b",
	"GroupMember.Read.All":                    "98830695-27a2-44f7-8c18-0c3ebc9698f6",
	"IdentityRiskEvent.Read.All":              "6e472fd1-ad78-48da-a0f0-97ab2c6b769e",
	"IdentityRiskyAgent.Read.All":             "4aadfb66-d49a-414a-a883-d8c240b6fa33",
	"IdentityRiskyServicePrincipal.Read.All":  "607c7344-0eed-41e5-823a-9695ebe1b7b0",
	"IdentityRiskyUser.Read.All":              "dc5007c0-2d7d-4c42-879c-2dab87571379",
	"MailboxSettings.Read":                    "40f97065-369a-49f4-947c-6a255697ae91",
	"Policy.Read.All":                         "246dd0d5-5bd0-4def-940b-0421030a5b68",
	"Reports.Read.All":                        "230c1aed-a721-4c5d-9cb4-a90514e508ef",
	"Synchronization.Read.All":                "5ba43d2f-fa88-4db2-bd1c-a67c5f0fb1ce",
	"User.Read.All":                           "df021288-bdef-4463-88db-98f22de89214",
	"UserAuthenticationMethod.Read.All":       "38d9df27-64da-44fd-b7c5-a6fbac20248f",
	"User.ReadWrite.All":                      "741f803b-c850-494e-b5df-cde7c675a1ca",
	"User.ManageIdentities.All":               "c529cfca-c91b-489c-af2b-d92990b66ce6",
	"Directory.ReadWrite.All":                 "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
	"UserAuthenticationMethod.ReadWrite.All":  "50483e42-d915-4231-9639-7fdb7fd190e5",
	"RoleManagement.Read.Directory":           "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
	// Not in reference §2; ids as used in public deployment scripts (several agree).
	"Application.ReadWrite.All":     "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
	"Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
	"Device.Read.All":               "7438b122-aefc-4978-80ed-43db9fcc7715",
	"Policy.Read.ConditionalAccess": "37730810-e9ba-4e46-b07e-8ca78d182097",
}

// AppRoleID returns the Microsoft Graph app-role id of an application permission, e.g. AuditLog.Read.All.
func AppRoleID(permission string) (string, bool) {
	id, ok := appRoleIDs[permission]
	return id, ok
}

var readOnlyRoles = []string{
	"AgentCardManifest.Read.All", "AgentInstance.Read.All", "Application.Read.All", "AuditLog.Read.All",
	"DeviceManagementApps.Read.All", "DeviceManagementConfiguration.Read.All",
	"DeviceManagementManagedDevices.Read.All", "Directory.Read.All", "Group.Read.All", "GroupMember.Read.All",
	"IdentityRiskEvent.Read.All", "IdentityRiskyAgent.Read.All", "IdentityRiskyServicePrincipal.Read.All",
	"IdentityRiskyUser.Read.All", "MailboxSettings.Read", "Policy.Read.All", "Reports.Read.All",
	"Synchronization.Read.All", "User.Read.All", "UserAuthenticationMethod.Read.All",
}

var readWriteExtra = []string{
	"User.ReadWrite.All", "User.ManageIdentities.All", "Directory.ReadWrite.All",
	"UserAuthenticationMethod.ReadWrite.All",
}

// ReadOnlyRoles returns the integration's read-only Graph permission set (SPEC §4), the default grant.
func ReadOnlyRoles() []string { return slices.Clone(readOnlyRoles) }

// ReadWriteRoles returns the read-only set plus the permissions remediation needs (SPEC §4).
func ReadWriteRoles() []string { return append(ReadOnlyRoles(), readWriteExtra...) }

// StreamOptions tunes one log stream. Zero fields take the tenant-wide default.
type StreamOptions struct {
	// Rate is the mean number of events per hour; 0 derives it from the tenant size, a negative value means
	// the stream has no events.
	Rate float64
	// LateShare is the share of events that arrive late (LateDelay instead of IngestDelay); 0 takes
	// Options.LateShare, a negative value means none.
	LateShare float64
	// IngestDelay is the usual delay between an event and its visibility.
	IngestDelay Dist
	// LateDelay is the delay of late events.
	LateDelay Dist
}

// Options configures a simulated tenant. The zero value (or nil) is a P1/P2 tenant of 100 users with 30 days
// of history at Graph's real throttling limits.
type Options struct {
	// Seed selects the tenant: the same seed, size and clock give the same tenant, byte for byte.
	Seed int64
	// TenantName is the organisation's name (default derived from the seed); the initial domain is
	// <name><4 hex>.onmicrosoft.com.
	TenantName string
	// Users is the number of users (members, guests, admins, disabled accounts); default 100.
	Users int
	// Groups is the number of groups, the named ones audit events use (All Staff, VPN Users, Privileged
	// Admins, Guests and one per department) included; default the named ones plus one per 20 users (at
	// least four more, so nested groups and a nesting cycle exist in every tenant).
	Groups int
	// Apps is the number of application registrations besides the integration's own; default 20.
	Apps int
	// ManagedIdentities is the number of managed identities; default 5.
	ManagedIdentities int
	// Licences is the licence set; nil means P1 and P2. Use []Licence{LicenceFree} for a free tenant.
	Licences []Licence
	// Roles are the Graph application permissions (by value) granted to the integration's app;
	// nil means ReadOnlyRoles().
	Roles []string
	// SecretLifetime is the validity of the integration app's client secret, counted from one day before
	// the start time; default 180 days.
	SecretLifetime time.Duration
	// Now is the simulated clock for event time, visibility and retention; default time.Now. Latency and
	// throttling always use the real clock.
	Now func() time.Time
	// Clock, when set, is the simulated clock (Now is then ignored), and the /_sim/clock endpoint can
	// move it (for the CLI and scripts).
	Clock *SimClock
	// History is how far back events exist before the start time; default 30 days.
	History time.Duration
	// Streams tunes the log streams by name (signIns.interactive, …, directoryAudits, provisioning).
	Streams map[string]StreamOptions
	// Churn is the mean number of directory changes per simulated hour, each applied when the clock passes
	// its instant, so delta queries see changes: creates, updates, soft deletes, restores and permanent
	// deletes of users, groups, applications, service principals, devices and administrative units; group,
	// role and administrative unit membership (nested groups included); invited guests and their acceptance;
	// role activation. Deterministic from the seed and the hour; 0 means a static directory.
	Churn float64
	// MemberSliceSize is the most members@delta entries a delta item carries: a group, role or administrative
	// unit with more is reported several times in the same round, each time with the next slice, as Graph
	// splits large groups; a page holds at most this many entries. 0 means 1,000.
	MemberSliceSize int
	// DeltaReplayShare is the share of the objects a delta round reported that the next round reports again
	// (Graph's "replays"), deterministic from the seed; 0 means none.
	DeltaReplayShare float64
	// RemovalDelay is how much later (simulated time) than they happen deletions and membership removals
	// reach delta queries and the ground truth (DirectoryAt); 0 means at once.
	RemovalDelay time.Duration
	// LateShare is the default share of late-arriving events; 0 means 2 %, a negative value means none.
	LateShare float64
	// LateDelay is the default delay distribution of late events; zero means 1 h to 48 h, uniform.
	LateDelay Dist
	// ThrottleScale multiplies every throttling window (0.01 turns 5 requests / 10 s into 5 / 100 ms);
	// 0 means 1.
	ThrottleScale float64
	// ResourceUnitScale multiplies the directory family's resource-unit bucket (0.02 turns a large tenant's
	// 8,000 units / 10 s into 160): a benchmark whose initial sync is smaller than one bucket still runs at the
	// limit instead of inside the bucket's first burst; 0 means 1.
	ResourceUnitScale float64
	// DisableThrottling turns the limiters off.
	DisableThrottling bool
	// ThrottleCountRejected makes rejected (429) requests count in the sliding windows too, punishing
	// clients that ignore Retry-After. Off by default: only admitted requests use the budget.
	ThrottleCountRejected bool
	// SharedBudget names, by throttling family ("reports", "protection", "directory", "intune", "agents",
	// "signInActivity"), the share in [0, 1) of its budget that another client of the same budget spends (another
	// tool reading the tenant with the same app registration). That client sends its requests at that share of
	// the family's rate through the same limiter (a refused one again after its Retry-After) from the first
	// request on; the directory bucket refills that much slower. Its requests are in the request log and
	// Counters.Shared, marked Shared.
	SharedBudget map[string]float64
	// PageLatency is the extra time taken to serve each page of a list endpoint (honours cancellation).
	PageLatency Dist
	// NonPremiumShare is the share of sign-in requests on a licensed tenant answered with the non-premium
	// 403, as Graph intermittently does.
	NonPremiumShare float64
	// Faults are fault rules active from the start; more can be added at run time.
	Faults []FaultRule
	// Unavailable lists Agent ID API paths (or prefixes of them: "agentRegistry") the tenant is not served, as
	// before a preview reaches it or after Microsoft replaced it: they answer Graph's 400 "Resource not found for
	// the segment …" (agents.go).
	Unavailable []string
	// Verifier checks bearer tokens; nil starts the built-in token authority (tests/entrasim/authority) and
	// uses its Verify.
	Verifier TokenVerifier
	// TokenLifetime is the lifetime of tokens from the built-in authority (its default when zero).
	TokenLifetime time.Duration
	// CA issues the TLS certificates; nil means testca.Shared().
	CA *testca.CA
	// RequestLogLimit caps the per-request log (oldest entries dropped); 0 means 100,000, negative
	// disables the log.
	RequestLogLimit int
	// Logger receives the simulator's own diagnostics; nil discards them.
	Logger *slog.Logger
}

// Validate names the first bad setting.
func (o *Options) Validate() error {
	switch {
	case o.Users < 0:
		return fmt.Errorf("entrasim: Users must not be negative (got %d)", o.Users)
	case o.Groups < 0:
		return fmt.Errorf("entrasim: Groups must not be negative (got %d)", o.Groups)
	case o.MemberSliceSize < 0:
		return fmt.Errorf("entrasim: MemberSliceSize must not be negative (got %d)", o.MemberSliceSize)
	case o.DeltaReplayShare < 0 || o.DeltaReplayShare > 1 || math.IsNaN(o.DeltaReplayShare):
		return fmt.Errorf("entrasim: DeltaReplayShare must be in [0, 1] (got %g)", o.DeltaReplayShare)
	case o.RemovalDelay < 0:
		return fmt.Errorf("entrasim: RemovalDelay must not be negative (got %s)", o.RemovalDelay)
	case o.Apps < 0:
		return fmt.Errorf("entrasim: Apps must not be negative (got %d)", o.Apps)
	case o.ManagedIdentities < 0:
		return fmt.Errorf("entrasim: ManagedIdentities must not be negative (got %d)", o.ManagedIdentities)
	case o.History < 0:
		return fmt.Errorf("entrasim: History must not be negative (got %s)", o.History)
	case o.LateShare > 1 || math.IsNaN(o.LateShare):
		return fmt.Errorf("entrasim: LateShare must be at most 1 (got %g)", o.LateShare)
	case o.ThrottleScale < 0 || math.IsNaN(o.ThrottleScale):
		return fmt.Errorf("entrasim: ThrottleScale must not be negative (got %g)", o.ThrottleScale)
	case o.ResourceUnitScale < 0 || math.IsNaN(o.ResourceUnitScale):
		return fmt.Errorf("entrasim: ResourceUnitScale must not be negative (got %g)", o.ResourceUnitScale)
	case o.NonPremiumShare < 0 || o.NonPremiumShare > 1 || math.IsNaN(o.NonPremiumShare):
		return fmt.Errorf("entrasim: NonPremiumShare must be in [0, 1] (got %g)", o.NonPremiumShare)
	case o.Churn < 0 || math.IsNaN(o.Churn):
		return fmt.Errorf("entrasim: Churn must not be negative (got %g)", o.Churn)
	case o.SecretLifetime < 0:
		return fmt.Errorf("entrasim: SecretLifetime must not be negative (got %s)", o.SecretLifetime)
	}
	for name, share := range o.SharedBudget {
		if _, ok := familyDefs[family(name)]; !ok {
			return fmt.Errorf("entrasim: SharedBudget: unknown throttling family %q (want reports, protection, directory, intune, agents or signInActivity)", name)
		}
		if !(share >= 0 && share < 1) {
			return fmt.Errorf("entrasim: SharedBudget[%q] must be in [0, 1) (got %g)", name, share)
		}
	}
	for name, s := range o.Streams {
		if streamByName(name) == nil {
			return fmt.Errorf("entrasim: Streams: unknown stream %q (want one of %v)", name, StreamNames())
		}
		if s.LateShare > 1 || math.IsNaN(s.LateShare) || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
			return fmt.Errorf("entrasim: Streams[%q]: bad Rate or LateShare", name)
		}
	}
	for _, r := range o.Roles {
		if _, ok := appRoleIDs[r]; !ok {
			return fmt.Errorf("entrasim: Roles: unknown Graph application permission %q", r)
		}
	}
	if err := validUnavailable(o.Unavailable); err != nil {
		return err
	}
	for i, f := range o.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("entrasim: Faults[%d]: %w", i, err)
		}
	}
	return nil
}

// config is Options with every default applied.
type config struct {
	Options
	lic      licences
	start    time.Time // simulated time at Start
	histFrom time.Time // no events before this
}

func newConfig(o *Options) (*config, error) {
	var c config
	if o != nil {
		c.Options = *o
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Users == 0 {
		c.Users = 100
	}
	if c.Apps == 0 {
		c.Apps = 20
	}
	if c.MemberSliceSize == 0 {
		c.MemberSliceSize = defaultMemberSlice
	}
	if c.ManagedIdentities == 0 {
		c.ManagedIdentities = 5
	}
	if c.Licences == nil {
		c.Licences = []Licence{LicenceP1, LicenceP2}
	}
	c.lic = resolveLicences(c.Licences)
	if c.Roles == nil {
		c.Roles = ReadOnlyRoles()
	}
	if c.SecretLifetime == 0 {
		c.SecretLifetime = 180 * 24 * time.Hour
	}
	if c.Clock != nil {
		c.Now = c.Clock.Now
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.History == 0 {
		c.History = 30 * 24 * time.Hour
	}
	if c.LateShare == 0 {
		c.LateShare = 0.02
	} else if c.LateShare < 0 {
		c.LateShare = 0
	}
	if c.LateDelay.IsZero() {
		c.LateDelay = Dist{Fixed: time.Hour, Jitter: 47 * time.Hour}
	}
	if c.ResourceUnitScale == 0 {
		c.ResourceUnitScale = 1
	}
	if c.ThrottleScale == 0 {
		c.ThrottleScale = 1
	}
	if c.RequestLogLimit == 0 {
		c.RequestLogLimit = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.start = c.Now().UTC()
	c.histFrom = c.start.Add(-c.History)
	return &c, nil
}
