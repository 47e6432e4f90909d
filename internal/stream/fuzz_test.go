package stream

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzSplit feeds arbitrary event bodies to the record reader: it must never panic, must account for every item
// (as a record or a reject), must hand out records only as unchanged slices of the body that are JSON objects
// with a category, and must give every record an event time.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		`{"records":[` + signIn + `,` + audit + `]}`, signIn, audit, `[` + audit + `]`, `{"records":[1,"x",null]}`,
		`{"Records":[{"category":"SignIn","properties":"{\"createdDateTime\":\"1/10/2026 10:00:00 PM\"}"}]}`,
		`{"records":[{"category":"UserRiskEvents","level":"4","durationMs":"-1","properties":{"activityDateTime":"2022-09-09T8:48:50.361Z"}}]}`,
		`{"records":[{"Category":"X","AADTenantId":"t","CreatedDateTime":"2026-01-10T10:00:00.123456789+05:30"}]}`,
		"{\"records\":[{\"category\":\"a\\u0000b\",\"\":\"\"}]}", `{"records":`, `"x"`, ``, `{}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, rejects := Split(body, enqueued, timeFieldOf)
		for _, r := range recs {
			if !bytes.Contains(body, r.Raw) {
				t.Fatalf("record %q is not a slice of the body", r.Raw)
			}
			if !json.Valid(r.Raw) || r.Raw[0] != '{' {
				t.Fatalf("record %q is not a JSON object", r.Raw)
			}
			if r.Category == "" {
				t.Fatalf("record %q without a category was accepted", r.Raw)
			}
			if r.Time.IsZero() || r.TimeFrom == "" {
				t.Fatalf("record %q has no event time", r.Raw)
			}
		}
		for _, r := range rejects {
			if r.Reason == "" || (r.Index == WholeEvent && !bytes.Equal(r.Raw, body)) {
				t.Fatalf("reject %+v", r)
			}
		}
		if len(recs) == 0 && len(rejects) == 0 {
			// Only an empty records array yields nothing.
			var env map[string]json.RawMessage
			if json.Unmarshal(body, &env) != nil && !json.Valid(body) {
				t.Fatalf("invalid body %q yielded neither records nor a reject", body)
			}
		}
	})
}

// FuzzParseTime checks that ParseTime never panics and that what it accepts is a real instant that survives a
// round trip through RFC 3339.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-01-10T10:02:15.1234567Z", "2026-01-10T10:00:58.7654321+00:00", "2022-09-09T8:48:50.361Z",
		"1/10/2026 10:02:15 PM", "2026-01-10 10:00:58", "2026-01-10T10:00:58-0500", "12/31/2025 12:00:00 am", "9999-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) is not UTC", s)
		}
		back, err := time.Parse(time.RFC3339Nano, got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v does not round-trip: %v", s, got, err)
		}
	})
}
