package integrations

import (
	"fmt"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/catalog"
)

// Outcomes of one data type's probe in a connectivity test (SPEC §3): "ok", or one of the prefixes below followed
// by what is missing.
const (
	OutcomeOK = "ok"
	// OutcomeMissingPermission is followed by the missing permissions: "missing-permission: AuditLog.Read.All".
	OutcomeMissingPermission = "missing-permission: "
	// OutcomeNotLicensed is followed by the licence: "not-licensed: entraP1P2".
	OutcomeNotLicensed = "not-licensed: "
	// OutcomeNotAvailable: the endpoint does not exist for this tenant or cloud.
	OutcomeNotAvailable = "not-available"
	// OutcomeError is followed by what went wrong: the probe could not decide.
	OutcomeError = "error: "
)

// TestSummary is what the integration keeps of its last connectivity test: enough for Collects and for the
// remediation's write-permission check. The full result is in the status table.
type TestSummary struct {
	// At is when the test ran (the data clock).
	At time.Time `json:"at"`
	// State is the test's verdict ("Connected", "Invalid credentials", …).
	State string `json:"state"`
	// TokenOK reports that a token was issued; without one no data type was probed.
	TokenOK bool `json:"tokenOk"`
	// Undecided reports a test that could not reach a verdict on the credential (Key Vault or Entra unavailable):
	// it changes nothing about what is collected, and is repeated after RetestUndecided.
	Undecided bool `json:"undecided,omitempty"`
	// Granted are the Graph application permissions the token carried.
	Granted []string `json:"granted,omitempty"`
	// DataTypes is each probed data type's outcome.
	DataTypes map[string]string `json:"dataTypes,omitempty"`
}

// Usable reports whether an outcome lets the data type be collected: ok, or an error that left the probe
// undecided (a transient failure must not park a data type for a day; the collector meets it again and records
// it).
func Usable(outcome string) bool {
	return outcome == OutcomeOK || strings.HasPrefix(outcome, OutcomeError)
}

// Collects decides whether the collector collects data type dt for this integration, and says why. It reads only
// the integration (its licence answers, mode, choices and last connectivity test), so it is cheap and pure.
//
//   - A licence answered "no" that dt needs: not collected.
//   - Managed mode: exactly what the last test found collectable. Before the first test, and after a test that
//     could not decide (Key Vault or Entra unavailable), everything is collected (the collector parks what Graph
//     refuses); a data type the last test did not probe waits for the next test.
//   - Custom mode: the data types switched on, except one the last test showed unusable (reported, not retried).
//   - An opt-in data type (catalog.DataType.OptIn) only when custom mode switches it on: never by managed mode.
func (i Integration) Collects(dt catalog.DataType) (ok bool, reason string) {
	for _, l := range dt.Licences {
		if i.Licence(l) == No {
			return false, fmt.Sprintf("licence %s answered no", l)
		}
	}
	t := i.LastTest
	if dt.OptIn && (i.DataMode() != Custom || !i.DataTypes[dt.Name]) {
		return false, "opt-in: switched on only in custom mode (one request per object)"
	}
	if i.DataMode() == Custom {
		if !i.DataTypes[dt.Name] {
			return false, "switched off (custom mode)"
		}
		if t != nil && t.TokenOK {
			if o, probed := t.DataTypes[dt.Name]; probed && !Usable(o) {
				return false, fmt.Sprintf("switched on, but %s (connectivity test of %s)", o, stamp(t.At))
			}
		}
		return true, "switched on (custom mode)"
	}
	switch {
	case t == nil:
		return true, "not tested yet (managed mode collects until the first connectivity test)"
	case t.Undecided:
		// A passing outage must not park collection for a day: the collector meets it and records it itself.
		return true, fmt.Sprintf("the connectivity test of %s could not decide (%s); collecting until a test does", stamp(t.At), t.State)
	case !t.TokenOK:
		return false, fmt.Sprintf("connectivity test of %s: %s", stamp(t.At), t.State)
	}
	o, probed := t.DataTypes[dt.Name]
	switch {
	case !probed:
		return false, fmt.Sprintf("not in the connectivity test of %s; the next test decides", stamp(t.At))
	case !Usable(o):
		return false, fmt.Sprintf("%s (connectivity test of %s)", o, stamp(t.At))
	}
	return true, fmt.Sprintf("%s in the connectivity test of %s", o, stamp(t.At))
}

// TestDue reports whether a connectivity test is due at now: the first test of the integration declared in app
// settings (deployment passes it in settings, so the first timer after start tests it, SPEC §3), and managed
// mode's daily re-test of a tested integration. An integration added through the API is tested when it is added.
func (i Integration) TestDue(now time.Time) bool {
	switch {
	case i.Disabled:
		return false
	case i.LastTest == nil:
		return i.Source == SourceSettings
	}
	if i.LastTest.Undecided {
		return !now.Before(i.LastTest.At.Add(RetestUndecided))
	}
	return i.DataMode() == Managed && !now.Before(i.LastTest.At.Add(RetestEvery))
}

// RetestUndecided is how soon a test that could not decide is repeated.
const RetestUndecided = time.Hour

// RetestEvery is managed mode's re-test interval.
const RetestEvery = 24 * time.Hour

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }
