package stream

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var enqueued = time.Date(2026, 1, 10, 10, 7, 0, 0, time.UTC)

// The records below are synthesized from Microsoft's documented schemas (reference/eventhub.md §2) with every
// variation the reference lists.
const (
	signIn = `{"time":"2026-01-10T10:02:15.1234567Z","resourceId":"/tenants/tid-1/providers/Microsoft.aadiam","operationName":"Sign-in activity",` +
		`"operationVersion":"1.0","category":"SignInLogs","tenantId":"tid-1","resultType":"0","resultSignature":"None","durationMs":0,` +
		`"callerIpAddress":"203.0.113.7","correlationId":"corr-1","identity":"Test User","Level":4,"location":"US",` +
		`"properties":{"id":"signin-1","createdDateTime":"2026-01-10T10:00:58.7654321+00:00","userPrincipalName":"u@contoso.example",` +
		`"status":{"errorCode":0},"isInteractive":true}}`
	audit = `{"time":"2026-01-10T10:03:01.0000000Z","operationName":"Update policy","operationVersion":"1.0","category":"AuditLogs",` +
		`"tenantId":"tid-1","resultSignature":"None","durationMs":"-1","callerIpAddress":"<null>","correlationId":"corr-2",` +
		`"identity":"MS-PIM","level":"Informational","properties":{"id":"Directory_ABCDE_12345678","category":"Policy","result":0,` +
		`"activityDateTime":"2026-01-10T10:02:59.0000000+00:00","loggedByService":"Core Directory","targetResources":[]}}`
)

func TestSplitEnvelopes(t *testing.T) {
	recordsBody := `{"records":[` + signIn + `,` + audit + `]}`
	cases := []struct {
		name      string
		body      string
		records   []string
		rejects   int
		wholeBody bool
	}{
		{"records envelope", recordsBody, []string{signIn, audit}, 0, false},
		{"Records in PascalCase", `{"Records": [ ` + signIn + ` ]}`, []string{signIn}, 0, false},
		{"pretty-printed", "{\n  \"records\": [\n    " + audit + "\n  ]\n}\n", []string{audit}, 0, false},
		{"bare record", signIn, []string{signIn}, 0, false},
		{"array of records", `[` + audit + `, ` + signIn + `]`, []string{audit, signIn}, 0, false},
		{"empty records", `{"records":[]}`, nil, 0, false},
		{"records not an array: a bare record without category", `{"records":"x"}`, nil, 1, false},
		{"truncated", recordsBody[:len(recordsBody)-40], nil, 1, true},
		{"not JSON", "plain text event", nil, 1, true},
		{"empty", "   ", nil, 1, true},
		{"a JSON string", `"hello"`, nil, 1, true},
		{"a number", `42`, nil, 1, true},
		{"record not an object", `{"records":[` + signIn + `,"oops",17,null,[1]]}`, []string{signIn}, 4, false},
		{"record without category", `{"records":[{"time":"2026-01-10T10:00:00Z","properties":{}},` + audit + `]}`, []string{audit}, 1, false},
		{"blank category", `{"records":[{"category":"  "}]}`, nil, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(c.body)
			recs, rej := Split(body, enqueued, timeFieldOf)
			if len(recs) != len(c.records) {
				t.Fatalf("%d records, want %d (rejects %+v)", len(recs), len(c.records), rej)
			}
			for i, r := range recs {
				if string(r.Raw) != c.records[i] {
					t.Errorf("record %d bytes changed:\n got %s\nwant %s", i, r.Raw, c.records[i])
				}
				// The bytes are the event's own, not a copy or a re-encoding.
				if !bytes.Contains(body, r.Raw) {
					t.Errorf("record %d is not a slice of the body", i)
				}
			}
			if len(rej) != c.rejects {
				t.Fatalf("%d rejects, want %d: %+v", len(rej), c.rejects, rej)
			}
			for _, r := range rej {
				if r.Reason == "" {
					t.Error("reject without a reason")
				}
				if c.wholeBody && (r.Index != WholeEvent || string(r.Raw) != c.body) {
					t.Errorf("whole-body reject %+v does not hold the body", r)
				}
				if !c.wholeBody && (r.Index < 0 || !bytes.Contains(body, r.Raw)) {
					t.Errorf("record reject %+v", r)
				}
			}
		})
	}
}

func TestReadRecordFields(t *testing.T) {
	utc := func(h, m, s, ns int) time.Time { return time.Date(2026, 1, 10, h, m, s, ns, time.UTC) }
	cases := []struct {
		name                    string
		rec                     string
		category, tenant, id    string
		at                      time.Time
		from                    string
		level                   string
		duration                int64
		hasDuration             bool
		ignoreLevelAndDurations bool
	}{
		{"sign-in: createdDateTime with +00:00 wins over time", signIn, "SignInLogs", "tid-1", "signin-1",
			utc(10, 0, 58, 765432100), "properties.createdDateTime", "Informational", 0, true, false},
		{"audit: activityDateTime, durationMs string -1, level name", audit, "AuditLogs", "tid-1", "Directory_ABCDE_12345678",
			utc(10, 2, 59, 0), "properties.activityDateTime", "Informational", -1, true, false},
		{"legacy category, level as a numeric string, durationMs string 0",
			`{"category":"SignIn","level":"4","durationMs":"0","tenantId":"t","properties":{"id":"x","createdDateTime":"1/10/2026 10:00:00 AM"}}`,
			"SignIn", "t", "x", utc(10, 0, 0, 0), "properties.createdDateTime", "Informational", 0, true, false},
		{"both Level and level: the first wins",
			`{"category":"AuditLogs","Level":2,"level":"4","properties":{"activityDateTime":"2026-01-10T10:00:00Z"}}`,
			"AuditLogs", "", "", utc(10, 0, 0, 0), "properties.activityDateTime", "Error", 0, false, false},
		{"PascalCase keys and TenantId",
			`{"Category":"ServicePrincipalSignInLogs","TenantId":"T-UP","Properties":{"Id":"sp-1","CreatedDateTime":"2026-01-10T10:00:01Z"}}`,
			"ServicePrincipalSignInLogs", "T-UP", "sp-1", utc(10, 0, 1, 0), "properties.createdDateTime", "", 0, false, false},
		{"Log Analytics shape: no time, no properties, top-level CreatedDateTime and Id; AADTenantId",
			`{"Category":"ServicePrincipalSignInLogs","AADTenantId":"t2","Id":"sp-2","CreatedDateTime":"2026-01-10T10:00:02.1Z","Agent":"{\"agentType\":\"x\"}"}`,
			"ServicePrincipalSignInLogs", "t2", "sp-2", utc(10, 0, 2, 100000000), "createdDateTime", "", 0, false, false},
		{"tenant from resourceId",
			`{"category":"AuditLogs","resourceId":"/tenants/0f0e0d0c-0000-4000-8000-000000000001/providers/Microsoft.aadiam","properties":{"activityDateTime":"2026-01-10T10:00:00Z"}}`,
			"AuditLogs", "0f0e0d0c-0000-4000-8000-000000000001", "", utc(10, 0, 0, 0), "properties.activityDateTime", "", 0, false, false},
		{"properties as a JSON string",
			`{"category":"UserRiskEvents","tenantId":"t","properties":"{\"id\":\"rd-1\",\"activityDateTime\":\"2022-09-09T8:48:50.361Z\",\"additionalInfo\":\"[]\"}"}`,
			"UserRiskEvents", "t", "rd-1", time.Date(2022, 9, 9, 8, 48, 50, 361000000, time.UTC), "properties.activityDateTime", "", 0, false, false},
		{"risky user: riskLastUpdatedDateTime",
			`{"category":"RiskyUsers","tenantId":"t","properties":{"id":"u-1","riskLastUpdatedDateTime":"2026-01-10T09:00:00Z"}}`,
			"RiskyUsers", "t", "u-1", utc(9, 0, 0, 0), "properties.riskLastUpdatedDateTime", "", 0, false, false},
		{"Graph activity: requestId and timeGenerated, the data type's own time field first",
			`{"time":"2026-01-10T10:05:00Z","category":"MicrosoftGraphActivityLogs","tenantId":"t","properties":{"requestId":"req-1","createdDateTime":"2026-01-10T09:00:00Z","timeGenerated":"2026-01-10T10:04:00Z"}}`,
			"MicrosoftGraphActivityLogs", "t", "req-1", utc(10, 4, 0, 0), "properties.timeGenerated", "", 0, false, false},
		{"no own time in properties: the record's time",
			`{"time":"1/10/2026 10:05:00 AM","category":"NetworkAccessTrafficLogs","tenantId":"t","properties":{"transactionId":"x"}}`,
			"NetworkAccessTrafficLogs", "t", "", utc(10, 5, 0, 0), "time", "", 0, false, false},
		{"unparseable and implausible times fall through to the enqueued time",
			`{"time":"yesterday","category":"AuditLogs","properties":{"activityDateTime":"0001-01-01T00:00:00"}}`,
			"AuditLogs", "", "", enqueued, "enqueued", "", 0, false, false},
		{"durationMs not a number, Level a name outside the scale",
			`{"category":"AuditLogs","durationMs":"n/a","level":"Noteworthy","time":"2026-01-10T10:00:00Z"}`,
			"AuditLogs", "", "", utc(10, 0, 0, 0), "time", "Noteworthy", 0, false, false},
		{"durationMs fractional", `{"category":"X","durationMs":12.9}`, "X", "", "", enqueued, "enqueued", "", 12, true, false},
		{"empty key and nested noise", `{"":"","category":"ProvisioningLogs","properties":{"":"","id":"p-1","activityDateTime":"2026-01-10T10:00:00Z","initiatedBy":{"Id":"i","Name":"n","Type":"t"}}}`,
			"ProvisioningLogs", "", "p-1", utc(10, 0, 0, 0), "properties.activityDateTime", "", 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !json.Valid([]byte(c.rec)) {
				t.Fatalf("test record is not JSON: %s", c.rec)
			}
			r, err := ReadRecord([]byte(c.rec), enqueued, timeFieldOf)
			if err != nil {
				t.Fatal(err)
			}
			if r.Category != c.category || r.TenantID != c.tenant || r.ID != c.id {
				t.Errorf("category %q tenant %q id %q, want %q %q %q", r.Category, r.TenantID, r.ID, c.category, c.tenant, c.id)
			}
			if !r.Time.Equal(c.at) || r.TimeFrom != c.from {
				t.Errorf("time %v from %q, want %v from %q", r.Time, r.TimeFrom, c.at, c.from)
			}
			if r.Level != c.level || r.DurationMs != c.duration || r.HasDuration != c.hasDuration {
				t.Errorf("level %q duration %d/%v, want %q %d/%v", r.Level, r.DurationMs, r.HasDuration, c.level, c.duration, c.hasDuration)
			}
			if string(r.Raw) != c.rec {
				t.Error("raw bytes changed")
			}
		})
	}
}

// TestTimeFieldsCoverTheCatalog keeps the reader's time fields in step with the data types' own.
func TestTimeFieldsCoverTheCatalog(t *testing.T) {
	for _, cat := range []string{"SignInLogs", "AuditLogs", "ProvisioningLogs", "MicrosoftGraphActivityLogs", "RiskyUsers",
		"UserRiskEvents", "CustomSecurityAttributeAuditLogs", "ADFSSignInLogs"} {
		f := timeFieldOf(cat)
		found := false
		for _, name := range TimeFields {
			found = found || strings.EqualFold(name, f)
		}
		if f == "" || !found {
			t.Errorf("%s: time field %q is not one the reader looks for (%v)", cat, f, TimeFields)
		}
	}
}
