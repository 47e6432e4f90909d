// Package text holds the small string helpers every layer needs the same way.
package text

import "unicode/utf8"

// Truncate shortens s to at most n bytes plus an ellipsis, cutting before a character rather than through it,
// so a shortened message stays valid UTF-8.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
