package entrasim

import (
	"encoding/json"
	"testing"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r", "\x00\x1f", "São Paulo \u00a0", "\u2028\u2029", "bad \xff utf8", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q for %q", got, s)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s) // encoding/json replaces invalid UTF-8 the same way
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("round trip of %q gave %q, want %q", s, back, wantBack)
		}
	})
}

func TestJSONWriterSelect(t *testing.T) {
	w := jw{sel: map[string]bool{"b": true}, selDepth: 1}
	w.beginObj()
	w.kstr("a", "x")
	if w.key("b") {
		w.beginObj()
		w.kstr("a", "nested keys are not filtered")
		w.endObj()
	}
	w.kint("c", 1)
	w.endObj()
	if got := string(w.b); got != `{"b":{"a":"nested keys are not filtered"}}` {
		t.Fatalf("got %s", got)
	}
}
