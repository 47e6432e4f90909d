package eventgen

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	tenant = "0a0a0a0a-0000-4000-8000-00000000000a"
	other  = "0b0b0b0b-0000-4000-8000-00000000000b"
)

// TestStreamTruth checks the generator against its own truth: every record is valid JSON, distinct, carried by
// the event it names and mapped to a data type; every corrupt item is in its event; and the stream holds every
// category and every variation the package documents.
func TestStreamTruth(t *testing.T) {
	s := Generate(Options{Seed: 7, TenantID: tenant, Integration: "contoso", OtherTenant: other, Records: 3000})
	seen := map[string]bool{}
	cats := map[string]bool{}
	owners := map[string]int{}
	for _, r := range s.Records {
		if seen[r.Raw] {
			t.Fatalf("record twice in the truth: %s", r.Raw)
		}
		seen[r.Raw] = true
		if !json.Valid([]byte(r.Raw)) || r.DataType == "" || r.Owner == "" {
			t.Fatalf("bad truth %+v", r)
		}
		if r.Event < 0 || r.Event >= len(s.Events) || !strings.Contains(s.Events[r.Event].Body, r.Raw) {
			t.Fatalf("record not in its event %d: %s", r.Event, r.Raw)
		}
		cats[strings.ToLower(r.Category)] = true
		owners[r.Owner]++
	}
	for c := range DataTypes {
		if !cats[c] {
			t.Errorf("no record of category %q", c)
		}
	}
	if !cats[strings.ToLower(UnknownCategory)] {
		t.Error("no record of an unknown category")
	}
	if owners["contoso"] == 0 || owners["tenant="+other] == 0 {
		t.Errorf("owners %v", owners)
	}
	whole := 0
	for _, c := range s.Corrupt {
		if c.WholeEvent {
			whole++
			if s.Events[c.Event].Body != c.Raw {
				t.Errorf("corrupt event %d is not its body", c.Event)
			}
		} else if !strings.Contains(s.Events[c.Event].Body, c.Raw) {
			t.Errorf("corrupt record not in event %d: %s", c.Event, c.Raw)
		}
	}
	if len(s.Corrupt) != 12 || whole != 6 {
		t.Errorf("%d corrupt items, %d whole events", len(s.Corrupt), whole)
	}
	if s.Republished == 0 || s.Resent == 0 {
		t.Errorf("republished %d, resent %d", s.Republished, s.Resent)
	}
	all := ""
	for _, e := range s.Events {
		all += e.Body + "\n"
	}
	for name, marker := range map[string]string{
		"US time":                  ` AM"`,
		"ISO without zone":         `:00.`,
		"one-digit hour":           `T8:`,
		"offset":                   `+00:00"`,
		"TenantId":                 `"TenantId"`,
		"AADTenantId":              `"AADTenantId"`,
		"Level number":             `"Level":4`,
		"level string":             `"level":"4"`,
		"level name":               `"level":"Informational"`,
		"both level keys":          `"Level":4,"level":"Informational"`,
		"durationMs string":        `"durationMs":"-1"`,
		"properties string":        `"properties":"{`,
		"legacy SignIn":            `"category":"SignIn"`,
		"legacy Audit":             `"category":"Audit"`,
		"typo":                     `NonInteractiveUserSIgnInLogs`,
		"Log Analytics shape":      `"CreatedDateTime"`,
		"empty key":                `"":""`,
		"PascalCase nested":        `"ApplicationId"`,
		"Records key":              `{"Records":[`,
		"IPAddress":                `"IPAddress"`,
		"conditionsSatisfied 0":    `"conditionsSatisfied":0`,
		"StatusSequence":           `"StatusSequence"`,
		"null caller":              `"<null>"`,
		"JSON in a string":         `"additionalInfo":"[{\"Key\"`,
		"unknown category":         `BrandNewCategoryLogs`,
		"other tenant":             other,
		"re-published with risk":   `"riskLevelDuringSignIn":"high"`,
		"re-published with MFA":    `Mobile app notification`,
		"record without own time":  `"category":"`, // checked below
		"lower-case category name": `"category":"signinlogs"`,
	} {
		if !strings.Contains(all, marker) {
			t.Errorf("no %s (%s) in the stream", name, marker)
		}
	}
	noTime := 0
	for _, r := range s.Records {
		if r.Time.IsZero() {
			noTime++
		}
	}
	if noTime == 0 {
		t.Error("no record without a time of its own")
	}
	// Same seed, same stream.
	again := Generate(Options{Seed: 7, TenantID: tenant, Integration: "contoso", OtherTenant: other, Records: 3000})
	if len(again.Events) != len(s.Events) || again.Events[5].Body != s.Events[5].Body {
		t.Error("the stream is not reproducible")
	}
}
