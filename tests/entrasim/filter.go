package entrasim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// An OData $filter parser for the subset Graph's reporting endpoints accept: comparisons (eq, ne, gt, ge,
// lt, le), and/or/not, parentheses, startswith/endswith/contains, and lambda any() over collections, with
// string, number, boolean, null, GUID and date-time literals. Parsing is separate from validation: the
// parse tree is checked against the endpoint's schema (which properties, which operators), so each endpoint
// answers with its own Graph error.

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDateTime
	tGUID
	tLParen
	tRParen
	tComma
	tColon
	tSlash
)

type token struct {
	kind tokKind
	text string // identifier or raw literal text
	str  string // decoded string literal
	pos  int
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// syntaxError is a $filter the parser cannot read.
type syntaxError struct {
	pos int
	src string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("Syntax error at position %d in '%s'.", e.pos, e.src)
}

func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	for {
		for l.pos < len(src) && (src[l.pos] == ' ' || src[l.pos] == '\t' || src[l.pos] == '\n' || src[l.pos] == '\r') {
			l.pos++
		}
		if l.pos >= len(src) {
			l.toks = append(l.toks, token{kind: tEOF, pos: l.pos})
			return l.toks, nil
		}
		start := l.pos
		c := src[l.pos]
		switch {
		case c == '(':
			l.pos++
			l.toks = append(l.toks, token{kind: tLParen, text: "(", pos: start})
		case c == ')':
			l.pos++
			l.toks = append(l.toks, token{kind: tRParen, text: ")", pos: start})
		case c == ',':
			l.pos++
			l.toks = append(l.toks, token{kind: tComma, text: ",", pos: start})
		case c == ':':
			l.pos++
			l.toks = append(l.toks, token{kind: tColon, text: ":", pos: start})
		case c == '/':
			l.pos++
			l.toks = append(l.toks, token{kind: tSlash, text: "/", pos: start})
		case c == '\'':
			var b strings.Builder
			l.pos++
			for {
				if l.pos >= len(src) {
					return nil, &syntaxError{pos: start, src: src}
				}
				if src[l.pos] == '\'' {
					if l.pos+1 < len(src) && src[l.pos+1] == '\'' {
						b.WriteByte('\'')
						l.pos += 2
						continue
					}
					l.pos++
					break
				}
				b.WriteByte(src[l.pos])
				l.pos++
			}
			l.toks = append(l.toks, token{kind: tString, text: src[start:l.pos], str: b.String(), pos: start})
		case isDigit(c) || c == '-' && l.pos+1 < len(src) && isDigit(src[l.pos+1]):
			// A GUID (8-4-4-4-12 hex), a date-time (yyyy-mm-dd…) or a number.
			if g, ok := l.guidAt(l.pos); ok {
				l.pos += len(g)
				l.toks = append(l.toks, token{kind: tGUID, text: g, pos: start})
				continue
			}
			if l.pos+4 < len(src) && isDigit(c) && isDigit(src[l.pos+1]) && isDigit(src[l.pos+2]) && isDigit(src[l.pos+3]) && src[l.pos+4] == '-' {
				end := l.pos
				for end < len(src) && (isIdentChar(src[end]) || strings.IndexByte(":.+-", src[end]) >= 0) {
					end++
				}
				l.toks = append(l.toks, token{kind: tDateTime, text: src[l.pos:end], pos: start})
				l.pos = end
				continue
			}
			end := l.pos + 1
			for end < len(src) && (isDigit(src[end]) || src[end] == '.' || src[end] == 'e' || src[end] == 'E' ||
				(src[end] == '-' || src[end] == '+') && (src[end-1] == 'e' || src[end-1] == 'E')) {
				end++
			}
			// OData type suffixes (L, M, D, F) are accepted and ignored.
			if end < len(src) && strings.IndexByte("lLmMdDfF", src[end]) >= 0 && (end+1 >= len(src) || !isIdentChar(src[end+1])) {
				end++
			}
			l.toks = append(l.toks, token{kind: tNumber, text: src[l.pos:end], pos: start})
			l.pos = end
		case isIdentStart(c):
			if g, ok := l.guidAt(l.pos); ok {
				l.pos += len(g)
				l.toks = append(l.toks, token{kind: tGUID, text: g, pos: start})
				continue
			}
			end := l.pos
			for end < len(src) && (isIdentChar(src[end]) || src[end] == '.') {
				end++
			}
			l.toks = append(l.toks, token{kind: tIdent, text: src[l.pos:end], pos: start})
			l.pos = end
		default:
			return nil, &syntaxError{pos: start, src: src}
		}
	}
}

// guidAt returns an unquoted GUID literal starting at i, if there is one.
func (l *lexer) guidAt(i int) (string, bool) {
	const n = 36
	if i+n > len(l.src) {
		return "", false
	}
	s := l.src[i : i+n]
	for j := 0; j < n; j++ {
		if j == 8 || j == 13 || j == 18 || j == 23 {
			if s[j] != '-' {
				return "", false
			}
		} else if !isHex(s[j]) {
			return "", false
		}
	}
	if i+n < len(l.src) && isIdentChar(l.src[i+n]) {
		return "", false
	}
	return s, true
}

// Parse tree.

type node interface{ isNode() }

// logicNode is "and" or "or".
type logicNode struct {
	op   string
	l, r node
}

type notNode struct{ x node }

// cmpNode compares a property path with a literal: path op lit.
type cmpNode struct {
	op   string // eq ne gt ge lt le
	path []string
	lit  literal
	pos  int
}

// callNode is a string function: fn(path, 'lit').
type callNode struct {
	fn   string // startswith endswith contains
	path []string
	lit  literal
	pos  int
}

// anyNode is path/any(v: body) (body nil for any()).
type anyNode struct {
	path []string
	v    string
	body node
	pos  int
}

func (*logicNode) isNode() {}
func (*notNode) isNode()   {}
func (*cmpNode) isNode()   {}
func (*callNode) isNode()  {}
func (*anyNode) isNode()   {}

type litKind int

const (
	litString litKind = iota
	litNumber
	litBool
	litNull
	litDateTime
	litGUID
)

type literal struct {
	kind litKind
	raw  string
	str  string
	num  float64
	b    bool
	t    int64 // unix nanoseconds
}

// edmType names the literal's type the way OData error messages do.
func (l literal) edmType() string {
	switch l.kind {
	case litString:
		return "Edm.String"
	case litNumber:
		if strings.ContainsAny(l.raw, ".eE") {
			return "Edm.Double"
		}
		return "Edm.Int32"
	case litBool:
		return "Edm.Boolean"
	case litDateTime:
		return "Edm.DateTimeOffset"
	case litGUID:
		return "Edm.Guid"
	}
	return "null"
}

type parser struct {
	src  string
	toks []token
	i    int
}

// parseFilter parses a $filter expression.
func parseFilter(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.errAt(p.peek())
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) errAt(t token) error { return &syntaxError{pos: t.pos, src: p.src} }

func (p *parser) keyword(word string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &logicNode{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &logicNode{op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	if p.keyword("not") {
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	return p.parsePrimary()
}

var stringFuncs = map[string]bool{"startswith": true, "endswith": true, "contains": true}
var cmpOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *parser) parsePrimary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.errAt(p.peek())
		}
		p.next()
		return n, nil
	case tIdent:
		name := strings.ToLower(t.text)
		if stringFuncs[name] && p.toks[p.i+1].kind == tLParen {
			p.i += 2
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			if p.next().kind != tComma {
				return nil, p.errAt(p.toks[p.i-1])
			}
			lit, err := p.parseLiteral()
			if err != nil {
				return nil, err
			}
			if p.next().kind != tRParen {
				return nil, p.errAt(p.toks[p.i-1])
			}
			return &callNode{fn: name, path: path, lit: lit, pos: t.pos}, nil
		}
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		// path/any(v: body)
		if last := path[len(path)-1]; (strings.EqualFold(last, "any") || strings.EqualFold(last, "all")) && p.peek().kind == tLParen && len(path) > 1 {
			if strings.EqualFold(last, "all") {
				return nil, &unsupportedError{msg: "Invalid filter clause: The 'all' lambda operator is not supported."}
			}
			p.next()
			a := &anyNode{path: path[:len(path)-1], pos: t.pos}
			if p.peek().kind == tRParen {
				p.next()
				return a, nil
			}
			v := p.next()
			if v.kind != tIdent || p.next().kind != tColon {
				return nil, p.errAt(v)
			}
			a.v = v.text
			body, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			if p.next().kind != tRParen {
				return nil, p.errAt(p.toks[p.i-1])
			}
			a.body = body
			return a, nil
		}
		op := p.next()
		if op.kind != tIdent || !cmpOps[strings.ToLower(op.text)] {
			return nil, p.errAt(op)
		}
		lit, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		return &cmpNode{op: strings.ToLower(op.text), path: path, lit: lit, pos: t.pos}, nil
	default:
		return nil, p.errAt(t)
	}
}

func (p *parser) parsePath() ([]string, error) {
	t := p.next()
	if t.kind != tIdent {
		return nil, p.errAt(t)
	}
	path := []string{t.text}
	for p.peek().kind == tSlash {
		p.next()
		t = p.next()
		if t.kind != tIdent {
			return nil, p.errAt(t)
		}
		path = append(path, t.text)
	}
	return path, nil
}

func (p *parser) parseLiteral() (literal, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return literal{kind: litString, raw: t.text, str: t.str}, nil
	case tNumber:
		v, err := strconv.ParseFloat(strings.TrimRight(t.text, "lLmMdDfF"), 64)
		if err != nil || math.IsInf(v, 0) {
			return literal{}, p.errAt(t)
		}
		return literal{kind: litNumber, raw: t.text, num: v}, nil
	case tGUID:
		return literal{kind: litGUID, raw: t.text, str: t.text}, nil
	case tDateTime:
		ts, err := parseODataTime(t.text)
		if err != nil {
			return literal{}, &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: The DateTimeOffset text '%s' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.", t.text)}
		}
		return literal{kind: litDateTime, raw: t.text, t: ts}, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true", "false":
			return literal{kind: litBool, raw: t.text, b: strings.EqualFold(t.text, "true")}, nil
		case "null":
			return literal{kind: litNull, raw: t.text}, nil
		}
	}
	return literal{}, p.errAt(t)
}

// parseODataTime reads an OData DateTimeOffset literal: yyyy-mm-ddThh:mm(:ss(.fraction)?)? with Z or an
// offset; fractions of up to 12 digits are accepted and truncated to the nanosecond. A bare date is read as
// midnight UTC (lenient; Graph's own handling of date-only literals on these endpoints is unverified).
func parseODataTime(s string) (int64, error) {
	if len(s) == 10 {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return 0, err
		}
		return t.UnixNano(), nil
	}
	date, rest, ok := strings.Cut(s, "T")
	if !ok {
		return 0, fmt.Errorf("no time part")
	}
	// Split off the zone.
	zone := ""
	switch {
	case strings.HasSuffix(rest, "Z") || strings.HasSuffix(rest, "z"):
		zone = "Z"
		rest = rest[:len(rest)-1]
	case len(rest) > 6 && (rest[len(rest)-6] == '+' || rest[len(rest)-6] == '-'):
		zone = rest[len(rest)-6:]
		rest = rest[:len(rest)-6]
	default:
		return 0, fmt.Errorf("no zone")
	}
	clock, frac, hasFrac := strings.Cut(rest, ".")
	if hasFrac {
		if frac == "" || len(frac) > 12 {
			return 0, fmt.Errorf("bad fraction")
		}
		for i := 0; i < len(frac); i++ {
			if !isDigit(frac[i]) {
				return 0, fmt.Errorf("bad fraction")
			}
		}
	}
	layout := "2006-01-02T15:04:05"
	if len(clock) == 5 {
		layout = "2006-01-02T15:04"
	}
	zl := "Z07:00"
	t, err := time.Parse(layout+zl, date+"T"+clock+zone)
	if err != nil {
		return 0, err
	}
	ns := t.UnixNano()
	if hasFrac {
		f := frac
		if len(f) > 9 {
			f = f[:9]
		}
		f += strings.Repeat("0", 9-len(f))
		n, _ := strconv.ParseInt(f, 10, 64)
		ns += n
	}
	return ns, nil
}

// unsupportedError is a $filter that parses but that the endpoint does not support; msg is Graph's message
// and code its error code ("BadRequest" when empty).
type unsupportedError struct{ code, msg string }

func (e *unsupportedError) Error() string { return e.msg }
