package stream

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := func(y, mo, d, h, m, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, m, s, ns, time.UTC)
	}
	cases := []struct {
		in   string
		want time.Time
	}{
		// ISO 8601 as the sign-in schema documents it: 7 fractional digits, Z.
		{"2026-01-10T10:02:15.1234567Z", utc(2026, 1, 10, 10, 2, 15, 123456700)},
		// createdDateTime with an offset instead of Z.
		{"2026-01-10T10:00:58.7654321+00:00", utc(2026, 1, 10, 10, 0, 58, 765432100)},
		{"2026-01-10T12:00:58.5+02:00", utc(2026, 1, 10, 10, 0, 58, 500000000)},
		{"2026-01-10T05:00:58-0500", utc(2026, 1, 10, 10, 0, 58, 0)},
		{"2026-01-10T10:00:58+01", utc(2026, 1, 10, 9, 0, 58, 0)},
		// 0 to 9 fractional digits.
		{"2026-01-10T10:00:58Z", utc(2026, 1, 10, 10, 0, 58, 0)},
		{"2026-01-10T10:00:58.1Z", utc(2026, 1, 10, 10, 0, 58, 100000000)},
		{"2026-01-10T10:00:58.123Z", utc(2026, 1, 10, 10, 0, 58, 123000000)},
		{"2026-01-10T10:00:58.123456789Z", utc(2026, 1, 10, 10, 0, 58, 123456789)},
		{"2026-01-10T10:00:58.1234567891Z", utc(2026, 1, 10, 10, 0, 58, 123456789)},
		// No zone: UTC (Event Hub enqueued times, .NET DateTime of unspecified kind).
		{"2026-01-10T10:00:58.123", utc(2026, 1, 10, 10, 0, 58, 123000000)},
		{"2026-01-10 10:00:58", utc(2026, 1, 10, 10, 0, 58, 0)},
		// One-digit hours in risk detections (elastic/integrations identity_protection pipeline).
		{"2022-09-09T8:48:50.361Z", utc(2022, 9, 9, 8, 48, 50, 361000000)},
		{"2022-9-9T8:48:50Z", utc(2022, 9, 9, 8, 48, 50, 0)},
		// Minutes only; a date alone.
		{"2026-01-10T10:00Z", utc(2026, 1, 10, 10, 0, 0, 0)},
		{"2026-01-10", utc(2026, 1, 10, 0, 0, 0, 0)},
		// M/d/yyyy h:mm:ss AM/PM (elastic/integrations#15977).
		{"1/10/2026 10:02:15 AM", utc(2026, 1, 10, 10, 2, 15, 0)},
		{"1/10/2026 10:02:15 PM", utc(2026, 1, 10, 22, 2, 15, 0)},
		{"1/10/2026 12:02:15 AM", utc(2026, 1, 10, 0, 2, 15, 0)},
		{"1/10/2026 12:02:15 PM", utc(2026, 1, 10, 12, 2, 15, 0)},
		{"12/31/2025 1:05:09 pm", utc(2025, 12, 31, 13, 5, 9, 0)},
		{"1/10/2026 10:02:15.250 AM", utc(2026, 1, 10, 10, 2, 15, 250000000)},
		{"1/10/2026 22:02:15", utc(2026, 1, 10, 22, 2, 15, 0)},
		{"  2026-01-10T10:00:58Z ", utc(2026, 1, 10, 10, 0, 58, 0)},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", c.in, err)
			continue
		}
		if !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-10T25:00:00Z",
		"2026-01-10T10:60:00Z", "26-01-10T10:00:00Z", "2026-01-10T10:00:00Zjunk", "2026-01-10T10:00:00+25:00",
		"1/10/26 10:02:15 AM", "1/10/2026 13:02:15 PM", "1/10/2026 0:02:15 AM", "13/10/2026 10:02:15", "2026/01/10",
		"2026-01-10X10:00:00", "2026-01-10T10", "2026-01-10T10:00:00.Z"} {
		if got, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}
