package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

const fixtures = "../../tests/testdata/graph-docs"

// reference decodes a page with encoding/json: RawMessage keeps each element's exact bytes.
func reference(b []byte) (items []json.RawMessage, next, delta string, err error) {
	var p struct {
		Value []json.RawMessage `json:"value"`
		Next  string            `json:"@odata.nextLink"`
		Delta string            `json:"@odata.deltaLink"`
	}
	err = json.Unmarshal(b, &p)
	return p.Value, p.Next, p.Delta, err
}

// exactReference is what a page holds by Graph's exact member names, read with encoding/json's tokenizer: the
// elements of every top-level member named exactly "value" (after unescaping the name), in order. It differs from
// reference only where encoding/json is lenient — member names matched case-insensitively, and the last of
// duplicate members winning — which a streaming reader of Graph's exact keys does not (and Graph never sends).
func exactReference(b []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %v", err)
	}
	var out []json.RawMessage
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if key != "value" || len(raw) == 0 || raw[0] != '[' {
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, err
		}
		out = append(out, elems...)
	}
	return out, nil
}

func readAll(t testing.TB, b []byte, wrap func([]byte) *bytes.Reader) ([][]byte, Page, error) {
	var got [][]byte
	var rd Reader
	page, err := rd.ReadPage(wrap(b), func(raw []byte) error {
		got = append(got, append([]byte(nil), raw...))
		return nil
	})
	return got, page, err
}

func TestFixturesMatchEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if len(files) < 20 {
		t.Fatalf("found %d fixtures", len(files))
	}
	readers := map[string]func(r *bytes.Reader) interface{ Read([]byte) (int, error) }{
		"whole":    func(r *bytes.Reader) interface{ Read([]byte) (int, error) } { return r },
		"one byte": func(r *bytes.Reader) interface{ Read([]byte) (int, error) } { return iotest.OneByteReader(r) },
		"half":     func(r *bytes.Reader) interface{ Read([]byte) (int, error) } { return iotest.HalfReader(r) },
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, next, delta, refErr := reference(b)
		for name, mk := range readers {
			t.Run(filepath.Base(f)+"/"+name, func(t *testing.T) {
				var got [][]byte
				var rd Reader
				page, err := rd.ReadPage(mk(bytes.NewReader(b)), func(raw []byte) error {
					got = append(got, append([]byte(nil), raw...))
					return nil
				})
				if refErr != nil {
					if err == nil {
						t.Fatalf("accepted a page encoding/json rejects (%v)", refErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("ReadPage: %v", err)
				}
				if len(got) != len(want) || page.Items != len(want) {
					t.Fatalf("%d items (page says %d), want %d", len(got), page.Items, len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Errorf("item %d differs:\n got %s\nwant %s", i, got[i], want[i])
					}
				}
				if page.NextLink != next || page.DeltaLink != delta {
					t.Errorf("links = %q %q, want %q %q", page.NextLink, page.DeltaLink, next, delta)
				}
				if page.Bytes != int64(len(b)) {
					t.Errorf("Bytes = %d, want %d", page.Bytes, len(b))
				}
			})
		}
	}
}

func TestInvalidFixturesNameTheProblem(t *testing.T) {
	for _, name := range []string{"signin-list.json", "signin-list-filter-top10.json", "provisioningobjectsummary-list.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = readAll(t, b, bytes.NewReader)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset <= 0 || se.Offset >= int64(len(b)) {
			t.Errorf("%s: err = %v, want a SyntaxError with an offset inside the page", name, err)
		}
	}
}

// TestEveryTruncationFails cuts a valid page at every byte: no prefix may read as a complete page.
func TestEveryTruncationFails(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "beta-signin-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(b, '}')
	for cut := 0; cut <= end; cut++ {
		_, _, err := readAll(t, b[:cut], bytes.NewReader)
		if err == nil {
			t.Fatalf("page cut at %d of %d read without error", cut, len(b))
		}
		var se *SyntaxError
		if !errors.Is(err, ErrTruncated) && !errors.As(err, &se) {
			t.Fatalf("cut at %d: err = %v", cut, err)
		}
	}
}

func TestPageShapes(t *testing.T) {
	cases := []struct {
		name, page string
		items      int
		next       string
		bad        string
	}{
		{"empty value", `{"value":[]}`, 0, "", ""},
		{"links after value", `{"value":[1,{"a":[true,false,null]}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=a\u0026b"}`, 2, "https://graph.microsoft.com/v1.0/x?$skiptoken=a&b", ""},
		{"no value", `{"@odata.context":"x"}`, 0, "", ""},
		{"value not array", `{"value":{}}`, 0, "", "value is not an array"},
		{"trailing data", `{"value":[]} {}`, 0, "", "data after the page object"},
		{"trailing comma", `{"value":[1,]}`, 0, "", "unexpected ']'"},
		{"not object", `[1]`, 0, "", `expected '{'`},
		{"bad escape", `{"value":["\x"]}`, 0, "", "invalid escape"},
		{"control char", "{\"value\":[\"a\tb\"]}", 0, "", "control character"},
		{"leading zero", `{"value":[01]}`, 0, "", "expected ','"},
		{"key not string", `{value:[]}`, 0, "", "not a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, page, err := readAll(t, []byte(c.page), bytes.NewReader)
			if c.bad != "" {
				if err == nil || !strings.Contains(err.Error(), c.bad) {
					t.Fatalf("err = %v, want %q", err, c.bad)
				}
				return
			}
			if err != nil || page.Items != c.items || page.NextLink != c.next {
				t.Fatalf("page = %+v, err = %v", page, err)
			}
		})
	}
}

func TestItemErrorStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	var rd Reader
	_, err := rd.ReadPage(strings.NewReader(`{"value":[1,2,3]}`), func([]byte) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err = %v after %d items", err, n)
	}
}

func TestFields(t *testing.T) {
	obj := []byte(`{"id":"a\u00e9b","n":12,"nested":{"id":"inner"},"createdDateTime":"2026-01-10T10:00:00Z","homeTenantId":"x","homeTenantId":"y","nil":null}`)
	got, err := Fields(obj, "createdDateTime", "id", "homeTenantId", "missing", "n", "nil")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-01-10T10:00:00Z", "aéb", "x", "", "", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := Fields([]byte(`[1]`), "id"); err == nil {
		t.Error("Fields accepted an array")
	}
}

func TestValues(t *testing.T) {
	obj := []byte(`{"id":"a","status":{"errorCode":0},"ok":true,"list":[1,{"x":"y"}],"id":"dup","n":-1.5e3,"nil":null}`)
	got, err := Values(obj, "status", "ok", "list", "id", "missing", "n", "nil")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"errorCode":0}`, `true`, `[1,{"x":"y"}]`, `"a"`, ``, `-1.5e3`, `null`}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("value %d = %q, want %q", i, got[i], want[i])
		}
	}
	if got[4] != nil {
		t.Errorf("missing field = %q, want nil", got[4])
	}
	for raw, want := range map[string]string{`"a\u00e9"`: "aé", `null`: "", `12`: "", ``: ""} {
		if s, err := String([]byte(raw)); err != nil || s != want {
			t.Errorf("String(%s) = %q, %v; want %q", raw, s, err, want)
		}
	}
	if _, err := Values([]byte(`"x"`), "id"); err == nil {
		t.Error("Values accepted a string")
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\u0000"`} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		got, err := unquote([]byte(s))
		if err != nil || got != want {
			t.Errorf("unquote(%s) = %q, want %q", s, got, want)
		}
	}
}

func FuzzReadPage(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"value":[-0.5e+3,"\ud83d",{}],"@odata.nextLink":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if Valid(b) != json.Valid(b) {
			t.Fatalf("Valid = %v, encoding/json says %v", Valid(b), json.Valid(b))
		}
		got, page, err := readAll(t, b, bytes.NewReader)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("ReadPage accepted invalid JSON")
		}
		_, next, _, refErr := reference(b)
		want, err := exactReference(b)
		if err != nil {
			// Not an object: ReadPage accepted valid JSON that is no page at all; nothing more to compare.
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d items, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("item %d = %s, want %s", i, got[i], want[i])
			}
		}
		// encoding/json matches keys case-insensitively; Graph's keys are exact, and so is ReadPage.
		if refErr == nil && bytes.Count(bytes.ToLower(b), []byte(`"@odata.nextlink"`)) == 1 && bytes.Contains(b, []byte(`"@odata.nextLink"`)) && page.NextLink != next {
			t.Fatalf("nextLink %q, want %q", page.NextLink, next)
		}
		for _, it := range got {
			if len(it) > 0 && it[0] == '{' {
				if _, err := Fields(it, "id", "createdDateTime"); err != nil {
					t.Fatalf("Fields on a valid object: %v", err)
				}
			}
		}
	})
}
