// Package secretscan finds secret values in what a deployment produces — log lines, HTTP responses, invocation
// replies, blobs, table entities and queue messages — so tests can prove that no secret ever leaves the places it
// belongs (SPEC §8: never logged, never in an API response, blob, table or error).
//
// A Scanner knows secrets by name and value and looks for each value in the forms it would take on its way out:
// as is, URL-encoded, JSON-escaped and base64-encoded. A generic rule also flags anything shaped like a JSON Web
// Token (three base64url segments, the first two starting "eyJ", the encoding of `{"`), so bearer tokens the tests
// never saw are caught too. Findings name the secret and where it was found, never the value: an excerpt around
// the match is kept with every known secret in it redacted.
//
//	s := secretscan.New()
//	s.Add("integration client secret", tenant.ClientSecret())
//	out := s.Writer("handler output", os.Stderr)   // scans everything written through it
//	…
//	findings := s.Scan("reply of invocation 42", body)
//	more, err := s.ScanStorage(ctx, blobs, tables, queues)
//	if err := secretscan.Check(append(out.Findings(), append(findings, more...)...)); err != nil { t.Error(err) }
package secretscan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// MinLength is the shortest value Add accepts: shorter ones would match by chance.
const MinLength = 8

// JWTRule is the name findings of the generic token rule carry.
const JWTRule = "JWT-shaped token"

// jwtPattern matches a compact JWS: header and payload are base64url JSON objects (so they start "eyJ"), then a
// signature. Real access tokens have segments far longer than the minimums.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)

// excerptContext is how many bytes of context a finding's excerpt keeps on each side.
const excerptContext = 40

// form is one encoding of a secret value to look for.
type form struct {
	name    string // "as is", "URL-encoded", …
	pattern []byte
}

type secret struct {
	name  string
	forms []form
}

// Scanner holds the secrets to look for. It is safe for concurrent use; secrets may be added while scanning.
type Scanner struct {
	mu      sync.RWMutex
	secrets []secret
	values  map[string]bool
	noJWT   bool
}

// New returns a Scanner with the generic JWT rule on and no secrets yet.
func New() *Scanner { return &Scanner{values: map[string]bool{}} }

// DisableJWTRule turns the generic token rule off (for content that legitimately carries tokens).
func (s *Scanner) DisableJWTRule() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noJWT = true
}

// Add registers a secret under a descriptive name ("integration client secret"). Values shorter than MinLength
// are ignored and reported false; adding a value twice keeps the first name.
func (s *Scanner) Add(name, value string) bool {
	if len(value) < MinLength {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values[value] {
		return true
	}
	s.values[value] = true
	sec := secret{name: name}
	seen := map[string]bool{}
	addForm := func(fname, p string) {
		if len(p) >= MinLength && !seen[p] {
			seen[p] = true
			sec.forms = append(sec.forms, form{name: fname, pattern: []byte(p)})
		}
	}
	addForm("as is", value)
	addForm("URL-encoded", url.QueryEscape(value))
	addForm("URL-path-encoded", url.PathEscape(value))
	if b, err := json.Marshal(value); err == nil {
		addForm("JSON-escaped", string(b[1:len(b)-1]))
	}
	addForm("base64-encoded", base64.StdEncoding.EncodeToString([]byte(value)))
	addForm("base64url-encoded", base64.RawURLEncoding.EncodeToString([]byte(value)))
	s.secrets = append(s.secrets, sec)
	return true
}

// Names returns the names of the registered secrets, for logs.
func (s *Scanner) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, sec := range s.secrets {
		if !slices.Contains(out, sec.name) {
			out = append(out, sec.name)
		}
	}
	return out
}

// Finding is one secret found somewhere. It never holds the secret's value.
type Finding struct {
	// Secret names the secret (as given to Add) or the rule (JWTRule).
	Secret string
	// Form says how the value appeared: "as is", "URL-encoded", "JSON-escaped", "base64-encoded", … or "token".
	Form string
	// Where names the place: "handler output", "blob entra-raw/…", "table runs entity default/…", …
	Where string
	// Offset is the byte offset of the match in what was scanned at Where.
	Offset int
	// Excerpt is the text around the match with the match and every other known secret redacted.
	Excerpt string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s (%s) in %s at byte %d: %q", f.Secret, f.Form, f.Where, f.Offset, f.Excerpt)
}

// match is one hit before it becomes a Finding.
type match struct {
	start, end int
	secret     string
	form       string
}

// matches returns every hit in data, ordered by position; overlapping hits of different forms of one secret are
// reported once.
func (s *Scanner) matches(data []byte) []match {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []match
	for _, sec := range s.secrets {
		for _, f := range sec.forms {
			for off := 0; ; {
				i := bytes.Index(data[off:], f.pattern)
				if i < 0 {
					break
				}
				start := off + i
				out = append(out, match{start: start, end: start + len(f.pattern), secret: sec.name, form: f.name})
				off = start + len(f.pattern)
			}
		}
	}
	if !s.noJWT {
		for _, loc := range jwtPattern.FindAllIndex(data, -1) {
			out = append(out, match{start: loc[0], end: loc[1], secret: JWTRule, form: "token"})
		}
	}
	slices.SortFunc(out, func(a, b match) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	// Drop hits contained in an earlier hit (a secret inside a token it was also encoded in stays one finding).
	kept := out[:0]
	for _, m := range out {
		if n := len(kept); n > 0 && m.end <= kept[n-1].end && m.secret == kept[n-1].secret {
			continue
		}
		kept = append(kept, m)
	}
	return kept
}

// Scan looks for every secret in data and reports where.
func (s *Scanner) Scan(where string, data []byte) []Finding {
	ms := s.matches(data)
	if len(ms) == 0 {
		return nil
	}
	out := make([]Finding, 0, len(ms))
	for _, m := range ms {
		out = append(out, Finding{Secret: m.secret, Form: m.form, Where: where, Offset: m.start, Excerpt: s.excerpt(data, m, ms)})
	}
	return out
}

// excerpt is the text around m with every hit in it replaced by the name of what was hit.
func (s *Scanner) excerpt(data []byte, m match, all []match) string {
	from, to := max(0, m.start-excerptContext), min(len(data), m.end+excerptContext)
	var b strings.Builder
	pos := from
	for _, o := range all {
		if o.end <= from || o.start >= to || o.start < pos {
			continue
		}
		b.WriteString(printable(data[pos:o.start]))
		fmt.Fprintf(&b, "«%s»", o.secret)
		pos = o.end
	}
	if pos < to {
		b.WriteString(printable(data[pos:to]))
	}
	return b.String()
}

// printable keeps excerpts readable when they come from binary data.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '.'
		}
		return r
	}, string(b))
}

// maxPattern is the longest pattern of any secret, for the streaming writer's overlap.
func (s *Scanner) maxPattern() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 4096 // tokens are a few KiB at most
	for _, sec := range s.secrets {
		for _, f := range sec.forms {
			n = max(n, len(f.pattern))
		}
	}
	return n
}

// Error reports findings; its message names every secret and place, never a value.
type Error struct {
	Findings []Finding
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "secret scan: %d finding(s)", len(e.Findings))
	const shown = 20
	for i, f := range e.Findings {
		if i == shown {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Findings)-shown)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return b.String()
}

// Check returns an *Error when there are findings, nil otherwise.
func Check(findings []Finding) error {
	if len(findings) == 0 {
		return nil
	}
	return &Error{Findings: findings}
}
