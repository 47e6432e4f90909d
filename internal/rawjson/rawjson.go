// Package rawjson reads Microsoft Graph collection pages without decoding them into types: it validates the page
// as JSON while streaming it, hands every element of "value" to the caller as the exact bytes Graph sent (duplicate
// keys, unknown fields and odd values survive byte for byte), and picks out the page's @odata.nextLink and
// @odata.deltaLink. It also reads a few top-level string fields of one element (an id, a timestamp) leniently.
//
// The collector archives what this package yields, so it is strict where it matters: a truncated page or one that
// is not valid JSON is an error, and the caller must drop everything it received from that page.
package rawjson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Page is what a collection page says besides its items.
type Page struct {
	// Context is @odata.context.
	Context string
	// NextLink is @odata.nextLink: the URL of the next page, "" on the last page.
	NextLink string
	// DeltaLink is @odata.deltaLink, present on the last page of a delta query.
	DeltaLink string
	// Items is the number of elements of value.
	Items int
	// Bytes is the size of the page as read.
	Bytes int64
}

// SyntaxError reports where a page stops being valid JSON.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// ErrTruncated is wrapped by the error for a page that ends before its JSON does.
var ErrTruncated = errors.New("page is truncated")

// errNeedMore is internal: the buffered bytes end inside the token being scanned.
var errNeedMore = errors.New("need more input")

// Reader reads pages; it keeps its buffer between pages, so reuse one Reader per goroutine.
type Reader struct {
	buf []byte
	// MaxItemBytes bounds one element of value (and one top-level value); 0 means 64 MiB.
	MaxItemBytes int
}

const readChunk = 64 << 10

// ReadPage streams one page from r. item is called for every element of the top-level "value" array with the
// element's exact bytes, which are only valid during the call. An error from item stops reading and is returned.
func (rd *Reader) ReadPage(r io.Reader, item func(raw []byte) error) (Page, error) {
	if rd.buf == nil {
		rd.buf = make([]byte, 0, readChunk)
	}
	max := rd.MaxItemBytes
	if max <= 0 {
		max = 64 << 20
	}
	s := &stream{r: r, buf: rd.buf[:0], max: max}
	defer func() { rd.buf = s.buf[:0] }()
	var page Page
	err := s.page(&page, item)
	page.Bytes = s.base + int64(len(s.buf))
	return page, err
}

// stream is a window over the input: buf[pos:] is unread; base is the input offset of buf[0].
type stream struct {
	r    io.Reader
	buf  []byte
	pos  int
	base int64
	eof  bool
	max  int
}

// fill reads more input, keeping buf[keep:]; it returns false at end of input.
func (s *stream) fill(keep int) (bool, error) {
	if s.eof {
		return false, nil
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.base += int64(keep)
		s.buf = s.buf[:n]
		s.pos -= keep
	}
	if len(s.buf) > s.max+readChunk {
		return false, &SyntaxError{Offset: s.base, Msg: fmt.Sprintf("value larger than %d bytes", s.max)}
	}
	if cap(s.buf)-len(s.buf) < readChunk {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+readChunk)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) {
		s.eof = true
		return n > 0, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// token runs scan on the unread input, reading more until scan no longer needs it. scan returns the end index
// (into the slice it is given) of the token.
func (s *stream) token(scan func(b []byte) (int, error)) (start, end int, err error) {
	for {
		end, err = scan(s.buf[s.pos:])
		if err == nil {
			start = s.pos
			s.pos += end
			return start, s.pos, nil
		}
		if !errors.Is(err, errNeedMore) {
			var se *SyntaxError
			if errors.As(err, &se) {
				se.Offset += s.base + int64(s.pos)
			}
			return 0, 0, err
		}
		more, ferr := s.fill(s.pos)
		if ferr != nil {
			return 0, 0, ferr
		}
		if !more {
			return 0, 0, fmt.Errorf("%w at byte %d", ErrTruncated, s.base+int64(len(s.buf)))
		}
	}
}

// expect consumes optional whitespace and then the byte c.
func (s *stream) expect(c byte) error {
	_, _, err := s.token(func(b []byte) (int, error) {
		i := skipSpace(b, 0)
		if i == len(b) {
			return 0, errNeedMore
		}
		if b[i] != c {
			return 0, &SyntaxError{Offset: int64(i), Msg: fmt.Sprintf("expected %q, found %q", c, b[i])}
		}
		return i + 1, nil
	})
	return err
}

// peek returns the next non-space byte without consuming it (consuming the spaces).
func (s *stream) peek() (byte, error) {
	start, _, err := s.token(func(b []byte) (int, error) {
		i := skipSpace(b, 0)
		if i == len(b) {
			return 0, errNeedMore
		}
		return i, nil
	})
	if err != nil {
		return 0, err
	}
	_ = start
	return s.buf[s.pos], nil
}

func (s *stream) value() ([]byte, error) {
	if _, err := s.peek(); err != nil {
		return nil, err
	}
	start, end, err := s.token(func(b []byte) (int, error) { return scanValue(b, 0, 0) })
	if err != nil {
		return nil, err
	}
	return s.buf[start:end], nil
}

func (s *stream) page(page *Page, item func([]byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	first := true
	for {
		c, err := s.peek()
		if err != nil {
			return err
		}
		if c == '}' {
			s.pos++
			break
		}
		if !first {
			if err := s.expect(','); err != nil {
				return err
			}
		}
		first = false
		if c, err := s.peek(); err != nil {
			return err
		} else if c != '"' {
			return &SyntaxError{Offset: s.base + int64(s.pos), Msg: "object key is not a string"}
		}
		keyRaw, err := s.value()
		if err != nil {
			return err
		}
		key, err := unquote(keyRaw)
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		switch key {
		case "value":
			n, err := s.items(item)
			if err != nil {
				return err
			}
			page.Items += n
		case "@odata.nextLink", "@odata.deltaLink", "@odata.context":
			raw, err := s.value()
			if err != nil {
				return err
			}
			v := ""
			if raw[0] == '"' {
				if v, err = unquote(raw); err != nil {
					return err
				}
			}
			switch key {
			case "@odata.nextLink":
				page.NextLink = v
			case "@odata.deltaLink":
				page.DeltaLink = v
			default:
				page.Context = v
			}
		default:
			if _, err := s.value(); err != nil {
				return err
			}
		}
	}
	// Nothing but whitespace may follow the page object.
	for {
		i := skipSpace(s.buf, s.pos)
		if i < len(s.buf) {
			return &SyntaxError{Offset: s.base + int64(i), Msg: "data after the page object"}
		}
		s.pos = i
		more, err := s.fill(s.pos)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

func (s *stream) items(item func([]byte) error) (int, error) {
	c, err := s.peek()
	if err != nil {
		return 0, err
	}
	if c != '[' {
		return 0, &SyntaxError{Offset: s.base + int64(s.pos), Msg: "value is not an array"}
	}
	s.pos++
	n := 0
	for {
		c, err := s.peek()
		if err != nil {
			return n, err
		}
		if c == ']' {
			s.pos++
			return n, nil
		}
		if n > 0 {
			if err := s.expect(','); err != nil {
				return n, err
			}
		}
		raw, err := s.value()
		if err != nil {
			return n, err
		}
		if err := item(raw); err != nil {
			return n, err
		}
		n++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const maxDepth = 10000

// scanValue returns the end of the JSON value that starts at b[i] (no leading space), validating it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errNeedMore
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanObject(b, i, depth+1)
	case c == '[':
		return scanArray(b, i, depth+1)
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	default:
		return 0, &SyntaxError{Offset: int64(i), Msg: fmt.Sprintf("unexpected %q", c)}
	}
}

func scanObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{Offset: int64(i), Msg: "nested too deeply"}
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		return 0, errNeedMore
	}
	if b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return 0, errNeedMore
		}
		if b[i] != '"' {
			return 0, &SyntaxError{Offset: int64(i), Msg: "object key is not a string"}
		}
		end, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return 0, errNeedMore
		}
		if b[i] != ':' {
			return 0, &SyntaxError{Offset: int64(i), Msg: "expected ':' after object key"}
		}
		i = skipSpace(b, i+1)
		if i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, errNeedMore
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, &SyntaxError{Offset: int64(i), Msg: "expected ',' or '}' in object"}
		}
	}
}

func scanArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{Offset: int64(i), Msg: "nested too deeply"}
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		return 0, errNeedMore
	}
	if b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, errNeedMore
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, &SyntaxError{Offset: int64(i), Msg: "expected ',' or ']' in array"}
		}
	}
}

func scanString(b []byte, i int) (int, error) {
	i++ // opening quote
	for {
		// Find the next quote with the vectorised IndexByte, then check the run before it for escapes and
		// control characters eight bytes at a time.
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			if bad := controlOrEscape(b[i:]); bad >= 0 && b[i+bad] != '\\' {
				return 0, &SyntaxError{Offset: int64(i + bad), Msg: "control character in string"}
			}
			return 0, errNeedMore
		}
		run := b[i : i+q]
		bad := controlOrEscape(run)
		if bad < 0 {
			return i + q + 1, nil
		}
		i += bad
		if b[i] != '\\' {
			return 0, &SyntaxError{Offset: int64(i), Msg: "control character in string"}
		}
		if i+1 >= len(b) {
			return 0, errNeedMore
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return 0, errNeedMore
			}
			for _, h := range b[i+2 : i+6] {
				if !isHex(h) {
					return 0, &SyntaxError{Offset: int64(i), Msg: "invalid \\u escape"}
				}
			}
			i += 6
		default:
			return 0, &SyntaxError{Offset: int64(i), Msg: "invalid escape"}
		}
	}
}

// controlOrEscape returns the index of the first byte below 0x20 or a backslash in b, or -1.
func controlOrEscape(b []byte) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// A byte below 0x20: (x - 0x20…) & ^x & 0x80… ; a backslash: the zero-byte test on x ^ 0x5c….
		y := x ^ (lo * '\\')
		if (x-lo*0x20)&^x&hi != 0 || (y-lo)&^y&hi != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '\\' {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, errNeedMore
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, &SyntaxError{Offset: int64(start), Msg: "invalid number"}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) {
			return 0, errNeedMore
		}
		if !isDigit(b[i]) {
			return 0, &SyntaxError{Offset: int64(start), Msg: "invalid number"}
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return 0, errNeedMore
		}
		if !isDigit(b[i]) {
			return 0, &SyntaxError{Offset: int64(start), Msg: "invalid number"}
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	// A number is only complete once something follows it.
	if i >= len(b) {
		return 0, errNeedMore
	}
	return i, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	n := len(b) - i
	if n >= len(lit) {
		if string(b[i:i+len(lit)]) == lit {
			return i + len(lit), nil
		}
		return 0, &SyntaxError{Offset: int64(i), Msg: "invalid literal"}
	}
	if string(b[i:]) == lit[:n] {
		return 0, errNeedMore
	}
	return 0, &SyntaxError{Offset: int64(i), Msg: "invalid literal"}
}

// Valid reports whether b is one complete JSON value (with optional surrounding whitespace).
func Valid(b []byte) bool {
	i := skipSpace(b, 0)
	// Pad with a space so a trailing number is complete.
	padded := append(append(make([]byte, 0, len(b)+1), b...), ' ')
	end, err := scanValue(padded, i, 0)
	if err != nil {
		return false
	}
	return skipSpace(padded, end) == len(padded)
}

// unquote decodes a JSON string token (with its quotes).
func unquote(raw []byte) (string, error) {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), nil
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			// Invalid UTF-8 becomes U+FFFD, as encoding/json does.
			r, size := utf8.DecodeRune(body[i:])
			out = utf8.AppendRune(out, r)
			i += size
			continue
		}
		switch body[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := strconv.ParseUint(string(body[i+2:i+6]), 16, 32)
			i += 6
			if utf16Surrogate(rune(r)) && i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
				r2, _ := strconv.ParseUint(string(body[i+2:i+6]), 16, 32)
				if c := decodeSurrogates(rune(r), rune(r2)); c != utf8.RuneError {
					out = utf8.AppendRune(out, c)
					i += 6
					continue
				}
			}
			out = utf8.AppendRune(out, rune(r))
			continue
		default: // '"', '\\', '/'
			out = append(out, body[i+1])
		}
		i += 2
	}
	return string(out), nil
}

func utf16Surrogate(r rune) bool { return r >= 0xd800 && r < 0xdc00 }

func decodeSurrogates(hi, lo rune) rune {
	if lo < 0xdc00 || lo >= 0xe000 {
		return utf8.RuneError
	}
	return (hi-0xd800)<<10 | (lo - 0xdc00) + 0x10000
}

// Fields returns the values of the named top-level string fields of a JSON object, in the order of keys: "" for
// a field that is missing or not a string. The first occurrence of a duplicated key wins. obj must be valid JSON
// (as ReadPage hands it out).
func Fields(obj []byte, keys ...string) ([]string, error) {
	out := make([]string, len(keys))
	vals, err := Values(obj, keys...)
	if err != nil {
		return out, err
	}
	for k, v := range vals {
		if len(v) > 0 && v[0] == '"' {
			if out[k], err = unquote(v); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// Values returns the raw JSON values of the named top-level fields of a JSON object, in the order of keys: nil for
// a missing field. Each value is a slice of obj (valid while obj is), to be decoded by the caller — a nested object
// with encoding/json, a string with String. The first occurrence of a duplicated key wins. obj must be valid JSON.
func Values(obj []byte, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	left := len(keys)
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return out, errors.New("not a JSON object")
	}
	i = skipSpace(obj, i+1)
	for i < len(obj) && obj[i] != '}' && left > 0 {
		keyEnd, err := scanString(obj, i)
		if err != nil {
			return out, fmt.Errorf("object key: %w", err)
		}
		key := obj[i+1 : keyEnd-1]
		i = skipSpace(obj, keyEnd)
		i = skipSpace(obj, i+1) // ':'
		valEnd, err := scanValue(obj, i, 0)
		if err != nil {
			return out, fmt.Errorf("value of %q: %w", key, err)
		}
		for k, want := range keys {
			if out[k] == nil && string(key) == want {
				out[k] = obj[i:valEnd:valEnd]
				left--
			}
		}
		i = skipSpace(obj, valEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return out, nil
}

// String decodes a raw JSON value as a string: "" for null, a missing value or a value of another type.
func String(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", nil
	}
	return unquote(raw)
}
