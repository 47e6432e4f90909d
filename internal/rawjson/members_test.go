package rawjson

import (
	"errors"
	"slices"
	"testing"
)

func TestMembersAndElements(t *testing.T) {
	var got []string
	err := Members([]byte(` { "a" : 1 , "b\"c":{"x":[1,"]"]}, "":"" , "d":[ ] } trailing`), func(k, v []byte) bool {
		got = append(got, string(k)+"="+string(v))
		return true
	})
	if want := []string{`"a"=1`, `"b\"c"={"x":[1,"]"]}`, `""=""`, `"d"=[ ]`}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Members = %q, %v; want %q", got, err, want)
	}
	got = nil
	_ = Members([]byte(`{"a":1,"b":2}`), func(k, v []byte) bool { got = append(got, string(k)); return false })
	if len(got) != 1 {
		t.Errorf("Members did not stop: %q", got)
	}
	got = nil
	err = Elements([]byte(`[1, "x" ,{"k":[true]},null,-2.5e3]`), func(v []byte) bool { got = append(got, string(v)); return true })
	if want := []string{`1`, `"x"`, `{"k":[true]}`, `null`, `-2.5e3`}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Elements = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`{"a":1`, `{"a" 1}`, `{a:1}`, `{"a":tru}`, `{"a":1,}`, `{"a":"x`} {
		var syn *SyntaxError
		if err := Members([]byte(bad), func(k, v []byte) bool { return true }); !errors.As(err, &syn) {
			t.Errorf("Members(%q) = %v, want a *SyntaxError", bad, err)
		}
	}
	for _, bad := range []string{`[1,2`, `[1 2]`, `["x]`, `[,]`} {
		var syn *SyntaxError
		if err := Elements([]byte(bad), func(v []byte) bool { return true }); !errors.As(err, &syn) {
			t.Errorf("Elements(%q) = %v, want a *SyntaxError", bad, err)
		}
	}
	if Members([]byte(`[1]`), nil) == nil || Elements([]byte(`{}`), nil) == nil {
		t.Error("the wrong kind of value was accepted")
	}
}
