package entrasim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jw appends JSON to a byte slice without reflection. Records are written field by field, in Graph's order;
// at the record's top level a $select set (sel) drops fields that were not asked for.
type jw struct {
	b        []byte
	stack    []jwFrame
	afterKey bool
	sel      map[string]bool // top-level properties to keep; nil keeps all
	selDepth int             // depth at which sel applies (the record object)
}

type jwFrame struct {
	n   int
	obj bool
}

func (w *jw) reset() {
	w.b = w.b[:0]
	w.stack = w.stack[:0]
	w.afterKey = false
}

func (w *jw) sep() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if d := len(w.stack); d > 0 {
		if w.stack[d-1].n > 0 {
			w.b = append(w.b, ',')
		}
		w.stack[d-1].n++
	}
}

func (w *jw) beginObj() {
	w.sep()
	w.b = append(w.b, '{')
	w.stack = append(w.stack, jwFrame{obj: true})
}

func (w *jw) endObj() {
	w.b = append(w.b, '}')
	w.stack = w.stack[:len(w.stack)-1]
}

func (w *jw) beginArr() {
	w.sep()
	w.b = append(w.b, '[')
	w.stack = append(w.stack, jwFrame{})
}

func (w *jw) endArr() {
	w.b = append(w.b, ']')
	w.stack = w.stack[:len(w.stack)-1]
}

// key writes an object key and reports whether its value should follow (false: dropped by $select).
func (w *jw) key(k string) bool {
	if w.sel != nil && len(w.stack) == w.selDepth && !w.sel[k] {
		return false
	}
	w.sep()
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
	w.afterKey = true
	return true
}

func (w *jw) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
}

func (w *jw) strOrNull(s string) {
	if s == "" {
		w.null()
		return
	}
	w.str(s)
}

func (w *jw) int(n int) {
	w.sep()
	w.b = strconv.AppendInt(w.b, int64(n), 10)
}

func (w *jw) float(f float64) {
	w.sep()
	w.b = strconv.AppendFloat(w.b, f, 'f', -1, 64)
}

func (w *jw) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jw) null() {
	w.sep()
	w.b = append(w.b, "null"...)
}

// time writes an ISO 8601 UTC timestamp with up to seven fractional digits, trailing zeros trimmed, as
// Graph writes DateTimeOffset values ("2020-03-13T19:15:41.6195833Z", "2021-06-30T16:34:32Z").
// timeOf writes a time; unlike time(ns) it takes any year (Intune's 9999-12-31 "never" overflows nanoseconds).
func (w *jw) timeOf(t time.Time) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

func (w *jw) time(ns int64) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = time.Unix(0, ns).UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

// strs writes an array of strings.
func (w *jw) strs(list ...string) {
	w.beginArr()
	for _, s := range list {
		w.str(s)
	}
	w.endArr()
}

// Convenience: key + value.
func (w *jw) kstr(k, v string) {
	if w.key(k) {
		w.str(v)
	}
}
func (w *jw) kstrOrNull(k, v string) {
	if w.key(k) {
		w.strOrNull(v)
	}
}
func (w *jw) kint(k string, v int) {
	if w.key(k) {
		w.int(v)
	}
}
func (w *jw) kbool(k string, v bool) {
	if w.key(k) {
		w.bool(v)
	}
}
func (w *jw) knull(k string) {
	if w.key(k) {
		w.null()
	}
}
func (w *jw) ktime(k string, ns int64) {
	if w.key(k) {
		w.time(ns)
	}
}
func (w *jw) kstrs(k string, list ...string) {
	if w.key(k) {
		w.strs(list...)
	}
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes that need no attention in a JSON string (printable ASCII except '"' and '\\').
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced, other characters as they are.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start, i := 0, 0
	for i < len(s) {
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
		default:
			i += size
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
