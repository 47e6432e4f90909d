package insights

import "time"

// Report is one day's insights of one integration: the content of insights.json.
type Report struct {
	Integration      string    `json:"integration"`
	Date             string    `json:"date"`
	ComputedAt       time.Time `json:"computedAt"`
	CollectorVersion string    `json:"collectorVersion"`
	// Sources says which archived data each section was computed from, and as of when.
	Sources    []Source   `json:"sources"`
	Exclusions Exclusions `json:"exclusions"`
	Users      Users      `json:"users"`
	Inactive   Inactive   `json:"inactive"`
	MFA        MFA        `json:"mfa"`
	SSO        SSO        `json:"sso"`
	Guests     Guests     `json:"guests"`
	// Caveats are the limits of the data behind the figures, in words.
	Caveats []string `json:"caveats"`
}

// Source is one archived data type the report read.
type Source struct {
	DataType string `json:"dataType"`
	// AsOf is the start of the newest round read (delta and snapshot data types).
	AsOf *time.Time `json:"asOf,omitempty"`
	// From and To bound the sign-in buckets read.
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// Rounds is the number of rounds replayed (a full round and the delta rounds after it), Parts of parts read.
	Rounds  int   `json:"rounds,omitempty"`
	Parts   int   `json:"parts"`
	Records int64 `json:"records"`
	// Missing says why the data type was not there ("" when it was).
	Missing string `json:"missing,omitempty"`
}

// Exclusions is what the integration leaves out, as applied to this report.
type Exclusions struct {
	Groups []string `json:"excludedGroups,omitempty"`
	Guests bool     `json:"excludeGuests"`
	// Users is the number of users of the directory left out (in the excluded groups, or guests when excluded).
	Users int `json:"excludedUsers"`
}

// Users counts the directory's users the report covers (exclusions applied).
type Users struct {
	Unavailable string `json:"unavailable,omitempty"`
	Total       int    `json:"total"`
	Enabled     int    `json:"enabled"`
	Disabled    int    `json:"disabled"`
	// ByUserType counts by userType ("Member", "Guest", "" when unset).
	ByUserType map[string]int `json:"byUserType"`
}

// Inactive is the inactive-user report.
type Inactive struct {
	// Unavailable says why there is no inactivity report ("" when there is one).
	Unavailable string `json:"unavailable,omitempty"`
	// AsOf is the time of the signInActivity snapshot the thresholds are measured from.
	AsOf          *time.Time `json:"asOf,omitempty"`
	ThresholdDays int        `json:"thresholdDays"`
	ExpiredDays   int        `json:"expiredDays"`
	// Totals and ByUserType count the judged users.
	Totals     InactiveCounts            `json:"totals"`
	ByUserType map[string]InactiveCounts `json:"byUserType,omitempty"`
	// Not judged: disabled accounts, guests pending acceptance, users without a signInActivity row.
	Disabled      int `json:"disabled"`
	PendingGuests int `json:"pendingGuests"`
	NoActivityRow int `json:"noActivityRow"`
	// Approximate counts judged users whose last success is unknown because it predates December 2023.
	Approximate int `json:"approximate"`
	// Longest lists the users inactive longest (never signed in first, then by last activity), at most MaxListed.
	Longest []UserRef `json:"longest,omitempty"`
}

// InactiveCounts are the inactivity counts of a set of judged users.
type InactiveCounts struct {
	Users         int `json:"users"`
	Inactive      int `json:"inactive"`
	Expired       int `json:"expired"`
	NeverSignedIn int `json:"neverSignedIn"`
}

// MFA is the MFA-coverage report.
type MFA struct {
	// Source is "userRegistrationDetails" or "signIns"; Unavailable says why there is none.
	Source       string                `json:"source,omitempty"`
	Unavailable  string                `json:"unavailable,omitempty"`
	Registration *RegistrationCoverage `json:"registration,omitempty"`
	SignIns      *SignInCoverage       `json:"signIns,omitempty"`
	// Admins are the users holding a directory role (isAdmin in the registration report); AdminsWithoutMFA those
	// not MFA capable (registration) or who signed in without ever performing MFA (sign-ins).
	Admins           int       `json:"admins"`
	AdminsWithoutMFA int       `json:"adminsWithoutMfa"`
	AdminList        []UserRef `json:"adminsWithoutMfaList,omitempty"`
}

// RegistrationCoverage is MFA coverage from the userRegistrationDetails report, over the enabled users.
type RegistrationCoverage struct {
	AsOf         time.Time `json:"asOf"`
	Users        int       `json:"users"`
	Registered   int       `json:"mfaRegistered"`
	Capable      int       `json:"mfaCapable"`
	Passwordless int       `json:"passwordlessCapable"`
	// NoRow counts enabled users without a row in the report (counted as not registered).
	NoRow int `json:"noRow"`
}

// SignInCoverage is MFA performed, from the interactive sign-ins of the window: since 00:00 UTC SignInDays days
// before the computation, up to it.
type SignInCoverage struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Users is the enabled users of the directory; SignedIn those with a successful interactive sign-in.
	Users            int `json:"users"`
	SignedIn         int `json:"signedIn"`
	PerformedMFA     int `json:"performedMfa"`
	SingleFactorOnly int `json:"singleFactorOnly"`
	Passwordless     int `json:"passwordless"`
}

// SSO is the SSO-coverage report.
type SSO struct {
	Unavailable string    `json:"unavailable,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// Denominator names what AppsKnown counts: the service principals of type Application ("apps known to Entra").
	Denominator     string `json:"denominator"`
	AppsKnown       int    `json:"appsKnown"`
	AppsWithSignIns int    `json:"appsWithSignIns"`
	// ByMode counts by preferredSingleSignOnMode ("none" when unset), in a fixed order.
	ByMode []ModeCount `json:"byMode"`
	// UnknownApps counts applications with sign-ins but no service principal in the archive.
	UnknownApps int `json:"unknownApps"`
	// Top lists the applications with the most successful sign-ins, at most MaxListed.
	Top []AppRef `json:"top,omitempty"`
}

// ModeCount is one SSO mode's applications.
type ModeCount struct {
	Mode            string `json:"mode"`
	Apps            int    `json:"apps"`
	AppsWithSignIns int    `json:"appsWithSignIns"`
	SignIns         int    `json:"signIns"`
}

// AppRef names an application.
type AppRef struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	Mode        string `json:"mode"`
	SignIns     int    `json:"signIns"`
}

// Guests is the guest report.
type Guests struct {
	Unavailable string `json:"unavailable,omitempty"`
	Total       int    `json:"total"`
	Enabled     int    `json:"enabled"`
	// PendingAcceptance counts guests who never redeemed their invitation; PendingOver30Days those invited (or
	// re-invited) more than 30 days ago.
	PendingAcceptance int `json:"pendingAcceptance"`
	PendingOver30Days int `json:"pendingOver30Days"`
	// Inactive and NeverSignedIn come from the inactivity report (nil when it is unavailable).
	Inactive      *int `json:"inactive,omitempty"`
	NeverSignedIn *int `json:"neverSignedIn,omitempty"`
}

// UserRef names a user in a list.
type UserRef struct {
	ID                string     `json:"id"`
	UserPrincipalName string     `json:"userPrincipalName"`
	DisplayName       string     `json:"displayName"`
	UserType          string     `json:"userType"`
	Created           *time.Time `json:"created,omitempty"`
	LastActivity      *time.Time `json:"lastActivity,omitempty"`
}

// MaxListed bounds every list in a report.
const MaxListed = 20
