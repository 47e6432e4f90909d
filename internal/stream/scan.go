package stream

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// keyIs reports whether the raw key token (with quotes) names key, ignoring ASCII case. A key written with escapes
// never matches; Entra writes none.
func keyIs(token []byte, key string) bool {
	return len(token) == len(key)+2 && bytes.EqualFold(token[1:len(token)-1], []byte(key))
}

// text returns a JSON string token's value, or a number's or literal's text; ok is false for objects, arrays,
// null and empty input.
func text(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '{', '[':
		return "", false
	case '"':
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			return string(body), true
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	if bytes.Equal(raw, []byte("null")) {
		return "", false
	}
	return string(raw), true
}
