package hostsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr, from, want string
	}{
		{"0 */5 * * * *", "2026-01-10T10:02:03Z", "2026-01-10T10:05:00Z"},
		{"0 */5 * * * *", "2026-01-10T10:05:00Z", "2026-01-10T10:10:00Z"},
		{"*/10 * * * * *", "2026-01-10T10:02:03Z", "2026-01-10T10:02:10Z"},
		{"0 0 * * * *", "2026-01-10T23:30:00Z", "2026-01-11T00:00:00Z"},
		{"30 9 * * *", "2026-01-10T09:29:59Z", "2026-01-10T09:30:00Z"},
		{"0 30 9 * * 1-5", "2026-01-10T10:00:00Z", "2026-01-12T09:30:00Z"}, // Saturday → Monday
		{"0 0 0 1 jan *", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"0 0 12 * * sun", "2026-01-10T13:00:00Z", "2026-01-11T12:00:00Z"},
		{"0 0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-02-13T00:00:00Z"}, // day AND day-of-week (Friday the 13th)
		{"0 15,45 * * * *", "2026-01-10T10:16:00Z", "2026-01-10T10:45:00Z"},
		{"5/20 * * * * *", "2026-01-10T10:00:06Z", "2026-01-10T10:00:25Z"},
		{"0 0 0 30 2 *", "2026-01-10T10:00:00Z", "0001-01-01T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+" after "+tc.from, func(t *testing.T) {
			s, err := ParseSchedule(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(tc.from)); !got.Equal(at(tc.want)) {
				t.Errorf("Next = %s, want %s", got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{"00:05:00", "TimeSpan"},
		{"* * * *", "6 NCRONTAB fields"},
		{"60 * * * * *", "out of range"},
		{"0 0 25 * * *", "out of range"},
		{"0 */0 * * * *", "bad step"},
		{"0 x * * * *", "not a number"},
		{"0 0 0 * * 7", "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			if _, err := ParseSchedule(tc.expr); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFiresMoreThanOncePerMinute(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 10, 0, 30, 0, time.UTC)
	tests := []struct {
		expr string
		want bool
	}{
		{"*/10 * * * * *", true},
		{"0,30 * * * * *", true},
		{"0 * * * * *", false},
		{"0 */5 * * * *", false},
		{"* * * * *", false},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := ParseSchedule(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.FiresMoreThanOncePerMinute(now); got != tc.want {
				t.Errorf("= %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseTimeSpan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:10:00", 10 * time.Minute, true},
		{"01:00:00", time.Hour, true},
		{"1.02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"00:00:00.500", 500 * time.Millisecond, true},
		{"00:00:01.0000001", time.Second + 100, true},
		{"10:00", 0, false},
		{"00:60:00", 0, false},
		{"abc", 0, false},
		{"00:00:00.12345678", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTimeSpan(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseTimeSpan(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDotnetFromBase64(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"dGVzdA==", "test", true},
		{"test", "\xb5\xeb\x2d", true},
		{"abcd1234", "i\xb7\x1d\xd7m\xf8", true},
		{"dGVz dA==", "test", true},
		{"", "", true},
		{"abc", "", false},
		{"not base64!", "", false},
		{`{"a":1}`, "", false},
		{"ab=c", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := dotnetFromBase64(tc.in)
			if ok != tc.ok || (ok && string(got) != tc.want) {
				t.Errorf("= %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestWireValue(t *testing.T) {
	t.Parallel()
	when := dotnetTime(time.Date(2019, 10, 16, 17, 58, 31, 987_654_321, time.UTC))
	tests := []struct {
		name         string
		v            any
		source, docs string
	}{
		{"string", "hello", `"\"hello\""`, `"hello"`},
		{"json text", `{"a":1}`, `"\"{\\\"a\\\":1}\""`, `"{\"a\":1}"`},
		{"number", int64(1), `"1"`, `1`},
		{"bool", true, `"true"`, `true`},
		{"long array", jsonArray{int64(12), int64(13)}, `"[12,13]"`, `[12,13]`},
		{"string array", jsonArray{"a", "b"}, `"[\"a\",\"b\"]"`, `["a","b"]`},
		{"bytes", []byte("hi"), `"aGk="`, `"aGk="`},
		{"time loses sub-seconds", when, `"2019-10-16T17:58:31+00:00"`, `"2019-10-16T17:58:31+00:00"`},
		{"object stays nested", object(`{"Schedule":{}}`), `{"Schedule":{}}`, `{"Schedule":{}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(wireValue(tc.v, SourceForm)); got != tc.source {
				t.Errorf("source form = %s, want %s", got, tc.source)
			}
			if got := string(wireValue(tc.v, DocsForm)); got != tc.docs {
				t.Errorf("docs form = %s, want %s", got, tc.docs)
			}
		})
	}
}

func TestTimeFormats(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 10, 10, 20, 0, 12_345_600, time.UTC)
	tests := []struct{ name, got, want string }{
		{"utc", formatUtc(ts), "2026-01-10T10:20:00.0123456Z"},
		{"utc whole", formatUtc(ts.Truncate(time.Second)), "2026-01-10T10:20:00Z"},
		{"local", formatLocal(ts), "2026-01-10T10:20:00.0123456+00:00"},
		{"unspecified", formatUnspecified(ts), "2026-01-10T10:20:00.0123456"},
		{"offset seconds", formatOffsetSeconds(ts.In(time.FixedZone("x", 3600))), "2026-01-10T10:20:00+00:00"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

func TestRouteMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tmpl, path string
		want       map[string]string
	}{
		{"status", "status", map[string]string{}},
		{"status", "STATUS", map[string]string{}},
		{"status", "status/x", nil},
		{"items/{id}/{action?}", "items/42", map[string]string{"id": "42"}},
		{"items/{id}/{action?}", "items/42/revoke", map[string]string{"id": "42", "action": "revoke"}},
		{"items/{id}/{action?}", "items", nil},
		{"integrations/{id?}/{action?}", "integrations", map[string]string{}},
		{"items/{id:int}", "items/abc", nil},
		{"items/{id:int}", "items/7", map[string]string{"id": "7"}},
		{"files/{*rest}", "files/a/b%20c", map[string]string{"rest": "a/b c"}},
		{"users/{upn}", "users/a%40b.c", map[string]string{"upn": "a@b.c"}},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl+" "+tc.path, func(t *testing.T) {
			segs, err := parseRoute(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := matchRoute(segs, strings.Split(tc.path, "/"))
			if ok != (tc.want != nil) || (ok && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("= %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
	for _, bad := range []string{"a/{id?}/b", "{*rest}/x", "a/{id:regex}", "a/{}"} {
		if _, err := parseRoute(bad); err == nil {
			t.Errorf("parseRoute(%q) accepted", bad)
		}
	}
}

func TestReadEventBatches(t *testing.T) {
	t.Parallel()
	ndjson := "{\"id\":1}\n\n{\"id\":2}\r\nplain\n{\"id\":4}\n{\"id\":5}"
	want := [][]string{{`{"id":1}`, `{"id":2}`}, {"plain", `{"id":4}`}, {`{"id":5}`}}
	dir := t.TempDir()
	plain := filepath.Join(dir, "events.ndjson")
	if err := os.WriteFile(plain, []byte(ndjson), 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(ndjson))
	_ = zw.Close()
	zipped := filepath.Join(dir, "events.ndjson.gz")
	if err := os.WriteFile(zipped, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, zipped} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, err := ReadEventBatchesFile(path, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("batches = %q, want %q", got, want)
			}
		})
	}
	if _, err := ReadEventBatches(strings.NewReader("x"), 0); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestCheckReplyAndHTTPOutputUnits(t *testing.T) {
	t.Parallel()
	if rep, why, _ := checkReply(200, "application/json; charset=utf-8", []byte(`{"Logs":[1,"a"]}`)); why != "" || !reflect.DeepEqual(rep.logs, []string{"1", "a"}) {
		t.Errorf("non-string log entries: %v %q", rep, why)
	}
	resp, err := httpResponseFrom(json.RawMessage(`{"StatusCode":"201","Headers":{"X-Flag":true}}`), true)
	if err != nil || resp.StatusCode != 201 || resp.Header.Get("X-Flag") != "True" {
		t.Errorf("PascalCase http output: %+v %v", resp, err)
	}
	if _, err := httpResponseFrom(json.RawMessage(`{"headers":{"content-type":null}}`), true); err == nil {
		t.Error("null content-type accepted")
	}
}
