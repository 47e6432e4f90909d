package insights

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/membership"
	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/internal/version"
)

// Reader is what the computation needs of the archive (archive.Store).
type Reader interface {
	Rounds(ctx context.Context, integration, dataType string) ([]archive.Manifest, error)
	ReadRecords(ctx context.Context, name string, fn func(record []byte) error) error
	Parts(ctx context.Context, integration, dataType string, from, to time.Time) (map[time.Time][]archive.PartInfo, error)
}

// Options tune the computation. Zero values mean the defaults.
type Options struct {
	// InactiveDays is N: no successful sign-in for more than N days is inactive (DefaultInactiveDays).
	InactiveDays int
	// SignInDays is how many days of interactive sign-ins are read for SSO and, without a registration report,
	// MFA (DefaultSignInDays).
	SignInDays int
}

// Defaults and fixed thresholds.
const (
	DefaultInactiveDays = 90
	DefaultSignInDays   = 30
	// ExpiredDays is the "expired user" threshold: no activity in 30 days, as SaaS-management tools count it.
	ExpiredDays = 30
)

// The archived data types the computation reads.
const (
	usersType         = "users"
	activityType      = "userSignInActivity"
	roleAssignments   = "roleAssignments"
	registrationType  = "userRegistrationDetails"
	servicePrincipals = "servicePrincipals"
	signInsType       = "signIns.interactive"
)

// successfulSince is when Graph started recording lastSuccessfulSignInDateTime (not backfilled).
var successfulSince = time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC)

// ErrExcludedGroupsUnknown means the integration excludes groups and the archive holds no finished round of groups
// yet: every count would include users that must be left out, so nothing is computed.
var ErrExcludedGroupsUnknown = errors.New("insights: the integration excludes groups and the archive holds no finished full round of groups yet")

// RecordError is an archived record the computation cannot read.
type RecordError struct {
	DataType, Part string
	Problem        string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("insights: %s record in %s: %s", e.DataType, e.Part, e.Problem)
}

// key is a user's (or service principal's) object id as 16 bytes.
type key [16]byte

// keyOf parses a GUID object id case-insensitively; an id that is not a GUID gets a stable digest instead.
func keyOf(id string) key {
	var k key
	if len(id) == 36 {
		if _, err := hex.Decode(k[:], []byte(strings.ReplaceAll(id, "-", ""))); err == nil && strings.Count(id, "-") == 4 {
			return k
		}
	}
	sum := sha256.Sum256([]byte(strings.ToLower(id)))
	copy(k[:], sum[:])
	return k
}

// User flags.
const (
	fEnabled uint16 = 1 << iota
	fPending
	fActivity // a signInActivity row
	fAdmin
	fExcluded
	fRegRow
	fRegRegistered
	fRegCapable
	fRegPasswordless
	fSignedIn
	fMFA
	fPasswordless
)

// User types as kept per user.
const (
	typeUnset uint8 = iota
	typeMember
	typeGuest
	typeOther
)

var typeNames = [...]string{typeUnset: "unset", typeMember: "Member", typeGuest: "Guest", typeOther: "other"}

func typeOf(s string) uint8 {
	switch {
	case s == "":
		return typeUnset
	case strings.EqualFold(s, "Member"):
		return typeMember
	case strings.EqualFold(s, "Guest"):
		return typeGuest
	}
	return typeOther
}

// user is what the computation keeps of a user: about 40 bytes. Times are Unix seconds, 0 for none.
type user struct {
	created, extChanged            uint32
	success, interactive, nonInter uint32
	flags                          uint16
	typ                            uint8
}

func (u *user) has(f uint16) bool { return u.flags&f != 0 }

func (u *user) set(f uint16, on bool) {
	if on {
		u.flags |= f
	} else {
		u.flags &^= f
	}
}

// app is what the computation keeps of a service principal (or of an application seen only in sign-ins).
type app struct {
	name    string
	mode    string
	sp      bool // a service principal of type Application
	ms      bool
	signIns int
}

// computation holds the state of one Compute.
type computation struct {
	rd     Reader
	integ  integrations.Integration
	opts   Options
	now    time.Time
	r      *Report
	users  map[key]*user
	apps   map[string]*app // by appId
	spApps map[key]string  // service principal object id → appId (for @removed)
	// inactiveList and adminList are the users the report lists, named by the second pass (names).
	inactiveList, adminList []listed
}

// Compute computes the integration's insights at now from the archive.
func Compute(ctx context.Context, rd Reader, integ integrations.Integration, opts Options, now time.Time) (*Report, error) {
	if opts.InactiveDays <= 0 {
		opts.InactiveDays = DefaultInactiveDays
	}
	if opts.SignInDays <= 0 {
		opts.SignInDays = DefaultSignInDays
	}
	now = now.UTC()
	c := &computation{rd: rd, integ: integ, opts: opts, now: now, users: map[key]*user{}, apps: map[string]*app{}, spApps: map[key]string{}}
	c.r = &Report{
		Integration: integ.ID, Date: now.Format("2006-01-02"), ComputedAt: now, CollectorVersion: version.Version,
		Sources:    []Source{},
		Exclusions: Exclusions{Groups: slices.Clone(integ.ExcludedGroups), Guests: integ.ExcludeGuests},
		Users:      Users{ByUserType: map[string]int{}},
		Inactive:   Inactive{ThresholdDays: opts.InactiveDays, ExpiredDays: ExpiredDays},
		SSO:        SSO{Denominator: "apps known to Entra (service principals of type Application)"},
		Caveats:    []string{},
	}
	excluded, err := c.excludedUsers(ctx)
	if err != nil {
		return nil, err
	}
	if ok, err := c.readUsers(ctx, excluded); err != nil || !ok {
		return c.r, err
	}
	c.countUsers()
	steps := []func(context.Context) error{c.readActivity, c.readAdmins, c.readServicePrincipals, c.readMFA, c.readSignIns}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	c.inactivity()
	c.mfa()
	c.sso()
	c.guests()
	if err := c.names(ctx); err != nil {
		return nil, err
	}
	return c.r, nil
}

// excludedUsers returns the users in the integration's excluded groups, transitively.
func (c *computation) excludedUsers(ctx context.Context) (map[key]bool, error) {
	out := map[key]bool{}
	if len(c.integ.ExcludedGroups) == 0 {
		return out, nil
	}
	groups := make([]string, len(c.integ.ExcludedGroups))
	for i, g := range c.integ.ExcludedGroups {
		groups[i] = strings.ToLower(g)
	}
	ids, err := membership.Users(ctx, c.rd, c.integ.ID, groups)
	if errors.Is(err, membership.ErrNoGroups) {
		return nil, ErrExcludedGroupsUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("excluded groups: %w", err)
	}
	for id := range ids {
		out[keyOf(id)] = true
	}
	return out, nil
}

// replay reads every record of the rounds a reader replays for the current state of a data type (the newest full
// round and the delta rounds after it), and records it as a source. It reports false when there is none.
func (c *computation) replay(ctx context.Context, dataType string, fn func(rec []byte) error) (bool, error) {
	rounds, err := c.rd.Rounds(ctx, c.integ.ID, dataType)
	if err != nil {
		return false, err
	}
	src := Source{DataType: dataType, Rounds: len(rounds)}
	if len(rounds) == 0 {
		src.Missing = "no finished full round in the archive"
		c.r.Sources = append(c.r.Sources, src)
		return false, nil
	}
	asOf := rounds[len(rounds)-1].Start
	src.AsOf = &asOf
	for _, m := range rounds {
		for _, p := range m.Parts {
			src.Parts++
			err := c.rd.ReadRecords(ctx, p.Name, func(rec []byte) error {
				src.Records++
				return fn(rec)
			})
			var re *RecordError
			if errors.As(err, &re) && re.Part == "" {
				re.Part = p.Name
			}
			if err != nil {
				return false, err
			}
		}
	}
	c.r.Sources = append(c.r.Sources, src)
	return true, nil
}

func (c *computation) source(dataType string) *Source {
	for i := range c.r.Sources {
		if c.r.Sources[i].DataType == dataType {
			return &c.r.Sources[i]
		}
	}
	return nil
}

// fields reads the named top-level values of a record, as RecordError when it is not a JSON object.
func fields(dataType string, rec []byte, keys ...string) ([][]byte, error) {
	v, err := rawjson.Values(rec, keys...)
	if err != nil {
		return nil, &RecordError{DataType: dataType, Problem: err.Error()}
	}
	return v, nil
}

func str(dataType, field string, raw []byte) (string, error) {
	s, err := rawjson.String(raw)
	if err != nil {
		return "", &RecordError{DataType: dataType, Problem: fmt.Sprintf("%s: %v", field, err)}
	}
	return s, nil
}

// stamp reads a date-time value as Unix seconds (0 for null or missing).
func stamp(dataType, field string, raw []byte) (uint32, error) {
	s, err := str(dataType, field, raw)
	if err != nil || s == "" {
		return 0, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, &RecordError{DataType: dataType, Problem: fmt.Sprintf("%s: %v", field, err)}
	}
	if t.Unix() <= 0 {
		return 1, nil
	}
	return uint32(min(t.Unix(), 1<<32-1)), nil
}

func at(s uint32) time.Time { return time.Unix(int64(s), 0).UTC() }

func isTrue(raw []byte) bool { return string(raw) == "true" }

// readUsers replays the users rounds into c.users. It reports false when there are none.
func (c *computation) readUsers(ctx context.Context, excluded map[key]bool) (bool, error) {
	ok, err := c.replay(ctx, usersType, func(rec []byte) error {
		v, err := fields(usersType, rec, "id", "@removed", "userType", "accountEnabled", "createdDateTime",
			"externalUserState", "externalUserStateChangeDateTime")
		if err != nil {
			return err
		}
		id, err := str(usersType, "id", v[0])
		if err != nil || id == "" {
			return cmp.Or(err, error(&RecordError{DataType: usersType, Problem: "no id"}))
		}
		k := keyOf(id)
		if v[1] != nil {
			delete(c.users, k)
			return nil
		}
		u := c.users[k]
		if u == nil {
			u = &user{}
			c.users[k] = u
		}
		if v[2] != nil {
			t, err := str(usersType, "userType", v[2])
			if err != nil {
				return err
			}
			u.typ = typeOf(t)
		}
		if v[3] != nil {
			u.set(fEnabled, string(v[3]) != "false")
		}
		if v[4] != nil {
			if u.created, err = stamp(usersType, "createdDateTime", v[4]); err != nil {
				return err
			}
		}
		if v[5] != nil {
			s, err := str(usersType, "externalUserState", v[5])
			if err != nil {
				return err
			}
			u.set(fPending, pendingAcceptance(s))
		}
		if v[6] != nil {
			if u.extChanged, err = stamp(usersType, "externalUserStateChangeDateTime", v[6]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !ok {
		why := "no finished full round of users in the archive yet"
		c.r.Users.Unavailable, c.r.Inactive.Unavailable, c.r.MFA.Unavailable = why, why, why
		c.r.SSO.Unavailable, c.r.Guests.Unavailable = why, why
		return false, err
	}
	for k, u := range c.users {
		if excluded[k] || c.integ.ExcludeGuests && u.typ == typeGuest {
			u.flags |= fExcluded
			c.r.Exclusions.Users++
		}
	}
	return true, nil
}

// pendingAcceptance compares loosely: Graph writes "PendingAcceptance", the B2B guide "Pending Acceptance".
func pendingAcceptance(state string) bool {
	return strings.EqualFold(strings.ReplaceAll(state, " ", ""), "PendingAcceptance")
}

// included calls fn for every user the report covers (exclusions applied).
func (c *computation) included(fn func(k key, u *user)) {
	for k, u := range c.users {
		if !u.has(fExcluded) {
			fn(k, u)
		}
	}
}

func (c *computation) countUsers() {
	c.included(func(_ key, u *user) {
		c.r.Users.Total++
		c.r.Users.ByUserType[typeNames[u.typ]]++
		if u.has(fEnabled) {
			c.r.Users.Enabled++
		} else {
			c.r.Users.Disabled++
		}
	})
}

// readActivity joins the newest signInActivity snapshot.
func (c *computation) readActivity(ctx context.Context) error {
	ok, err := c.replay(ctx, activityType, func(rec []byte) error {
		v, err := fields(activityType, rec, "id", "signInActivity")
		if err != nil {
			return err
		}
		id, err := str(activityType, "id", v[0])
		if err != nil {
			return err
		}
		u := c.users[keyOf(id)]
		if u == nil {
			return nil // deleted since, or not in the users rounds yet
		}
		u.flags |= fActivity
		u.success, u.interactive, u.nonInter = 0, 0, 0
		if v[1] == nil || string(v[1]) == "null" {
			return nil
		}
		a, err := fields(activityType, v[1], "lastSuccessfulSignInDateTime", "lastSignInDateTime", "lastNonInteractiveSignInDateTime")
		if err != nil {
			return err
		}
		if u.success, err = stamp(activityType, "lastSuccessfulSignInDateTime", a[0]); err != nil {
			return err
		}
		if u.interactive, err = stamp(activityType, "lastSignInDateTime", a[1]); err != nil {
			return err
		}
		u.nonInter, err = stamp(activityType, "lastNonInteractiveSignInDateTime", a[2])
		return err
	})
	if err == nil && !ok {
		c.r.Inactive.Unavailable = "no userSignInActivity snapshot in the archive (it needs Entra ID P1/P2 and AuditLog.Read.All)"
	}
	return err
}

// readAdmins marks the users holding a directory role assignment.
func (c *computation) readAdmins(ctx context.Context) error {
	_, err := c.replay(ctx, roleAssignments, func(rec []byte) error {
		v, err := fields(roleAssignments, rec, "principalId")
		if err != nil {
			return err
		}
		id, err := str(roleAssignments, "principalId", v[0])
		if u := c.users[keyOf(id)]; err == nil && u != nil {
			u.flags |= fAdmin
		}
		return err
	})
	return err
}

// microsoftTenants own Microsoft's first-party applications (appOwnerOrganizationId).
var microsoftTenants = []string{"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"}

// readServicePrincipals replays the service principals: each application's SSO mode and name.
func (c *computation) readServicePrincipals(ctx context.Context) error {
	ok, err := c.replay(ctx, servicePrincipals, func(rec []byte) error {
		v, err := fields(servicePrincipals, rec, "id", "@removed", "appId", "displayName", "servicePrincipalType",
			"preferredSingleSignOnMode", "appOwnerOrganizationId")
		if err != nil {
			return err
		}
		var s [7]string
		for i := range s {
			if i == 1 {
				continue
			}
			if s[i], err = str(servicePrincipals, "property", v[i]); err != nil {
				return err
			}
		}
		k := keyOf(s[0])
		if v[1] != nil {
			if appID, ok := c.spApps[k]; ok {
				delete(c.apps, appID)
				delete(c.spApps, k)
			}
			return nil
		}
		a := c.apps[s[2]]
		if a == nil {
			a = &app{}
			c.apps[s[2]] = a
		}
		c.spApps[k] = s[2]
		a.name, a.mode = s[3], cmp.Or(s[5], "none")
		a.sp = strings.EqualFold(s[4], "Application")
		a.ms = slices.Contains(microsoftTenants, strings.ToLower(s[6]))
		return nil
	})
	if err == nil && !ok {
		c.r.SSO.Unavailable = "no finished full round of servicePrincipals in the archive yet"
	}
	return err
}

// readMFA joins the registration report when the archive has one.
func (c *computation) readMFA(ctx context.Context) error {
	ok, err := c.replay(ctx, registrationType, func(rec []byte) error {
		v, err := fields(registrationType, rec, "id", "isAdmin", "isMfaRegistered", "isMfaCapable", "isPasswordlessCapable")
		if err != nil {
			return err
		}
		id, err := str(registrationType, "id", v[0])
		if err != nil {
			return err
		}
		u := c.users[keyOf(id)]
		if u == nil {
			return nil
		}
		u.flags |= fRegRow
		u.set(fAdmin, u.has(fAdmin) || isTrue(v[1]))
		u.set(fRegRegistered, isTrue(v[2]))
		u.set(fRegCapable, isTrue(v[3]))
		u.set(fRegPasswordless, isTrue(v[4]))
		return nil
	})
	if err != nil {
		return err
	}
	if ok {
		c.r.MFA.Source = registrationType
		return nil
	}
	// The registration report is not archived: MFA performed comes from the sign-ins.
	c.r.MFA.Source = "signIns"
	src := c.source(registrationType)
	src.Missing = "not in the archive: MFA coverage falls back to the interactive sign-ins"
	return nil
}

// passwordlessMethods are the sign-in authenticationMethod values of passwordless methods.
var passwordlessMethods = []string{"FIDO2 security key", "Windows Hello for Business", "Passwordless phone sign-in",
	"Passkey (device-bound)", "Passkey (Microsoft Authenticator)"}

// readSignIns reads the interactive sign-ins of the window: successful sign-ins per application, and per user
// (without a registration report) whether MFA was performed and with which methods.
func (c *computation) readSignIns(ctx context.Context) error {
	// Whole days, so the window holds whole buckets of every size: since 00:00 UTC SignInDays days ago.
	to := c.now
	from := to.Truncate(24 * time.Hour).Add(-time.Duration(c.opts.SignInDays) * 24 * time.Hour)
	c.r.SSO.From, c.r.SSO.To = from, to
	src := Source{DataType: signInsType, From: &from, To: &to}
	parts, err := c.rd.Parts(ctx, c.integ.ID, signInsType, from, to)
	if err != nil {
		return err
	}
	perUser := c.r.MFA.Source == "signIns"
	var details []struct {
		Method    string `json:"authenticationMethod"`
		Succeeded bool   `json:"succeeded"`
	}
	for _, start := range slices.SortedFunc(maps.Keys(parts), time.Time.Compare) {
		for _, p := range parts[start] {
			src.Parts++
			err := c.rd.ReadRecords(ctx, p.Name, func(rec []byte) error {
				src.Records++
				v, err := fields(signInsType, rec, "status", "userId", "appId", "appDisplayName", "authenticationRequirement", "authenticationDetails")
				if err != nil {
					return err
				}
				code, err := fields(signInsType, v[0], "errorCode")
				if err != nil || string(code[0]) != "0" {
					return err // a failed sign-in is no use of the application
				}
				id, err := str(signInsType, "userId", v[1])
				if err != nil {
					return err
				}
				u := c.users[keyOf(id)]
				if u != nil && u.has(fExcluded) {
					return nil
				}
				appID, err := str(signInsType, "appId", v[2])
				if err != nil {
					return err
				}
				a := c.apps[appID]
				if a == nil {
					name, err := str(signInsType, "appDisplayName", v[3])
					if err != nil {
						return err
					}
					a = &app{name: name, mode: "none"}
					c.apps[appID] = a
				}
				a.signIns++
				if !perUser || u == nil {
					return nil
				}
				u.flags |= fSignedIn
				if req, _ := rawjson.String(v[4]); req == "multiFactorAuthentication" {
					u.flags |= fMFA
				}
				if v[5] != nil && containsAny(v[5], passwordlessMethods) {
					details = details[:0]
					if err := json.Unmarshal(v[5], &details); err != nil {
						return &RecordError{DataType: signInsType, Problem: "authenticationDetails: " + err.Error()}
					}
					for _, d := range details {
						if d.Succeeded && slices.Contains(passwordlessMethods, d.Method) {
							u.flags |= fPasswordless
						}
					}
				}
				return nil
			})
			var re *RecordError
			if errors.As(err, &re) && re.Part == "" {
				re.Part = p.Name
			}
			if err != nil {
				return err
			}
		}
	}
	c.r.Sources = append(c.r.Sources, src)
	if src.Parts == 0 {
		why := fmt.Sprintf("no interactive sign-ins in the archive for the last %d days (sign-in logs need Entra ID P1/P2)", c.opts.SignInDays)
		c.r.SSO.Unavailable = cmp.Or(c.r.SSO.Unavailable, why)
		if perUser {
			c.r.MFA.Unavailable = "no userRegistrationDetails in the archive, and " + why
		}
	}
	return nil
}

func containsAny(b []byte, words []string) bool {
	for _, w := range words {
		if bytes.Contains(b, []byte(w)) {
			return true
		}
	}
	return false
}

// listed is a user on one of the report's lists, before its names are read.
type listed struct {
	k       key
	u       *user
	last    uint32
	created uint32
}

// inactivity judges every covered user against the thresholds, measured from the signInActivity snapshot.
func (c *computation) inactivity() {
	in := &c.r.Inactive
	if in.Unavailable != "" {
		return
	}
	src := c.source(activityType)
	asOf := *src.AsOf
	in.AsOf = &asOf
	in.ByUserType = map[string]InactiveCounts{}
	ref := asOf.Unix()
	n, expired := int64(c.opts.InactiveDays)*86400, int64(ExpiredDays)*86400
	var longest []listed
	c.included(func(k key, u *user) {
		switch {
		case !u.has(fEnabled):
			in.Disabled++
			return
		case u.typ == typeGuest && u.has(fPending):
			in.PendingGuests++
			return
		case !u.has(fActivity):
			in.NoActivityRow++
			return
		}
		last, approx := lastActivity(u)
		if approx {
			in.Approximate++
		}
		counts := in.ByUserType[typeNames[u.typ]]
		counts.Users++
		since := ref - int64(last) // seconds without activity
		if last == 0 {
			counts.NeverSignedIn++
			since = ref - int64(u.created)
			if u.created == 0 {
				since = 0 // age unknown: not judged
			}
		}
		if since > n {
			counts.Inactive++
			longest = insertListed(longest, listed{k: k, u: u, last: last, created: u.created}, lessInactive)
		}
		if since > expired {
			counts.Expired++
		}
		in.ByUserType[typeNames[u.typ]] = counts
	})
	for _, t := range in.ByUserType {
		in.Totals.Users += t.Users
		in.Totals.Inactive += t.Inactive
		in.Totals.Expired += t.Expired
		in.Totals.NeverSignedIn += t.NeverSignedIn
	}
	c.inactiveList = longest
	c.addCaveat("signInActivity is as Graph reported it at %s and may lag real sign-ins by up to 24 hours.", asOf.Format("2006-01-02 15:04Z"))
	if in.Approximate > 0 {
		c.addCaveat("lastSuccessfulSignInDateTime exists only since 1 December 2023: for %d users without one, the last attempt (before December 2023) or 1 December 2023 stands in.", in.Approximate)
	}
}

// lastActivity is a user's last successful sign-in, or its stand-in (approximate) when Graph has none recorded
// but attempts (lastSuccessfulSignInDateTime exists only since December 2023).
func lastActivity(u *user) (last uint32, approx bool) {
	if u.success != 0 {
		return u.success, false
	}
	attempt := max(u.interactive, u.nonInter)
	if attempt == 0 {
		return 0, false
	}
	if since := uint32(successfulSince.Unix()); attempt >= since {
		return since, true
	}
	return attempt, true
}

// lessInactive orders the longest inactive first: never signed in (oldest accounts first), then by last activity.
func lessInactive(a, b listed) int {
	if (a.last == 0) != (b.last == 0) {
		if a.last == 0 {
			return -1
		}
		return 1
	}
	if a.last == 0 {
		if c := cmp.Compare(a.created, b.created); c != 0 {
			return c
		}
	} else if c := cmp.Compare(a.last, b.last); c != 0 {
		return c
	}
	return bytes.Compare(a.k[:], b.k[:])
}

// insertListed keeps the MaxListed first items in order.
func insertListed(list []listed, x listed, less func(a, b listed) int) []listed {
	if len(list) == MaxListed && less(x, list[len(list)-1]) >= 0 {
		return list
	}
	i, _ := slices.BinarySearchFunc(list, x, less)
	list = slices.Insert(list, i, x)
	if len(list) > MaxListed {
		list = list[:MaxListed]
	}
	return list
}

func (c *computation) addCaveat(format string, args ...any) {
	c.r.Caveats = append(c.r.Caveats, fmt.Sprintf(format, args...))
}

// mfa counts MFA coverage from the source readMFA chose.
func (c *computation) mfa() {
	m := &c.r.MFA
	if m.Unavailable != "" {
		return
	}
	var admins []listed
	withoutMFA := func(k key, u *user) {
		m.AdminsWithoutMFA++
		admins = insertListed(admins, listed{k: k, u: u}, func(a, b listed) int { return bytes.Compare(a.k[:], b.k[:]) })
	}
	if m.Source == registrationType {
		src := c.source(registrationType)
		reg := &RegistrationCoverage{AsOf: *src.AsOf}
		c.included(func(k key, u *user) {
			if u.has(fAdmin) {
				m.Admins++
				if !u.has(fRegCapable) {
					withoutMFA(k, u)
				}
			}
			if !u.has(fEnabled) {
				return
			}
			reg.Users++
			switch {
			case !u.has(fRegRow):
				reg.NoRow++
			default:
				reg.Registered += b2i(u.has(fRegRegistered))
				reg.Capable += b2i(u.has(fRegCapable))
				reg.Passwordless += b2i(u.has(fRegPasswordless))
			}
		})
		m.Registration = reg
		c.addCaveat("MFA coverage is from the userRegistrationDetails report of %s: methods registered outside Entra (third-party MFA) are not counted.", reg.AsOf.Format("2006-01-02 15:04Z"))
	} else {
		cov := &SignInCoverage{From: c.r.SSO.From, To: c.r.SSO.To}
		c.included(func(k key, u *user) {
			if u.has(fAdmin) {
				m.Admins++
				if u.has(fSignedIn) && !u.has(fMFA) {
					withoutMFA(k, u)
				}
			}
			if !u.has(fEnabled) {
				return
			}
			cov.Users++
			if !u.has(fSignedIn) {
				return
			}
			cov.SignedIn++
			cov.PerformedMFA += b2i(u.has(fMFA))
			cov.SingleFactorOnly += b2i(!u.has(fMFA))
			cov.Passwordless += b2i(u.has(fPasswordless))
		})
		m.SignIns = cov
		c.addCaveat("MFA coverage is from the interactive sign-ins of the last %d days (userRegistrationDetails is not archived): it counts MFA performed, not methods registered; users who did not sign in are not judged.", c.opts.SignInDays)
	}
	c.adminList = admins
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ssoModes is the order modes are reported in.
var ssoModes = []string{"saml", "oidc", "password", "notSupported", "none"}

// sso counts applications by SSO mode and use.
func (c *computation) sso() {
	s := &c.r.SSO
	if s.Unavailable != "" {
		return
	}
	byMode := map[string]*ModeCount{}
	for _, mode := range ssoModes {
		byMode[mode] = &ModeCount{Mode: mode}
	}
	var top []AppRef
	for _, appID := range slices.Sorted(maps.Keys(c.apps)) {
		a := c.apps[appID]
		if !a.sp {
			if a.signIns > 0 {
				s.UnknownApps++
			}
			continue
		}
		mc := byMode[a.mode]
		if mc == nil {
			mc = &ModeCount{Mode: a.mode}
			byMode[a.mode] = mc
		}
		s.AppsKnown++
		mc.Apps++
		if a.signIns > 0 {
			s.AppsWithSignIns++
			mc.AppsWithSignIns++
			mc.SignIns += a.signIns
			top = append(top, AppRef{AppID: appID, DisplayName: a.name, Mode: a.mode, SignIns: a.signIns})
		}
	}
	order := slices.Clone(ssoModes)
	for _, mode := range slices.Sorted(maps.Keys(byMode)) {
		if !slices.Contains(order, mode) {
			order = append(order, mode)
		}
	}
	for _, mode := range order {
		if mc := byMode[mode]; mc != nil {
			s.ByMode = append(s.ByMode, *mc)
		}
	}
	slices.SortStableFunc(top, func(a, b AppRef) int { return cmp.Compare(b.SignIns, a.SignIns) })
	s.Top = top[:min(len(top), MaxListed)]
	c.addCaveat("SSO coverage counts the %s; SaaS applications used without Entra are not known to it.", s.Denominator)
}

// guests counts the guests.
func (c *computation) guests() {
	g := &c.r.Guests
	if g.Unavailable != "" {
		return
	}
	if c.integ.ExcludeGuests {
		g.Unavailable = "guests are excluded by the integration (excludeGuests)"
		return
	}
	month := c.now.Add(-ExpiredDays * 24 * time.Hour).Unix()
	c.included(func(_ key, u *user) {
		if u.typ != typeGuest {
			return
		}
		g.Total++
		g.Enabled += b2i(u.has(fEnabled))
		if u.has(fPending) {
			g.PendingAcceptance++
			if u.extChanged != 0 && int64(u.extChanged) < month {
				g.PendingOver30Days++
			}
		}
	})
	if c.r.Inactive.Unavailable == "" {
		t := c.r.Inactive.ByUserType[typeNames[typeGuest]]
		g.Inactive, g.NeverSignedIn = &t.Inactive, &t.NeverSignedIn
	}
}

// names reads, in a second pass over the users rounds, the names of the users the report lists.
func (c *computation) names(ctx context.Context) error {
	want := map[key]*UserRef{}
	ref := func(l listed) *UserRef {
		if r := want[l.k]; r != nil {
			return r
		}
		r := &UserRef{UserType: typeNames[l.u.typ]}
		if l.u.created != 0 {
			t := at(l.u.created)
			r.Created = &t
		}
		if l.last != 0 {
			t := at(l.last)
			r.LastActivity = &t
		}
		want[l.k] = r
		return r
	}
	var inactive, admins []*UserRef
	for _, l := range c.inactiveList {
		inactive = append(inactive, ref(l))
	}
	for _, l := range c.adminList {
		if last, _ := lastActivity(l.u); last != 0 {
			l.last = last
		}
		admins = append(admins, ref(l))
	}
	if len(want) == 0 {
		return nil
	}
	rounds, err := c.rd.Rounds(ctx, c.integ.ID, usersType)
	if err != nil {
		return err
	}
	for _, m := range rounds {
		for _, p := range m.Parts {
			err := c.rd.ReadRecords(ctx, p.Name, func(rec []byte) error {
				v, err := fields(usersType, rec, "id", "userPrincipalName", "displayName")
				if err != nil {
					return err
				}
				id, _ := rawjson.String(v[0])
				r := want[keyOf(id)]
				if r == nil {
					return nil
				}
				r.ID = id
				if v[1] != nil {
					r.UserPrincipalName, _ = rawjson.String(v[1])
				}
				if v[2] != nil {
					r.DisplayName, _ = rawjson.String(v[2])
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	for _, r := range inactive {
		c.r.Inactive.Longest = append(c.r.Inactive.Longest, *r)
	}
	for _, r := range admins {
		c.r.MFA.AdminList = append(c.r.MFA.AdminList, *r)
	}
	return nil
}
