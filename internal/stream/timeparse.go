package stream

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ParseTime reads a timestamp in every form Entra's diagnostic logs are known to use (reference/eventhub.md §2.2,
// §2.3): ISO 8601 with 0 to 9 fractional digits and Z, an offset (+00:00, +0000) or no zone at all (taken as UTC),
// a date-time separator of T or a space, one-digit months, days, hours, minutes or seconds
// ("2022-09-09T8:48:50.361Z"), and the US form "M/d/yyyy h:mm:ss AM/PM" (with or without fractional seconds,
// with or without AM/PM). The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	p := &timeParser{s: s}
	var t time.Time
	var err error
	if strings.IndexByte(s, '/') >= 0 {
		t, err = p.us()
	} else {
		t, err = p.iso()
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("not a time Entra writes: %q: %w", truncate(s, 64), err)
	}
	return t.UTC(), nil
}

type timeParser struct {
	s   string
	pos int
}

var errTimeSyntax = errors.New("unexpected character")

// num reads 1 to max digits.
func (p *timeParser) num(max int) (int, error) {
	start := p.pos
	n := 0
	for p.pos < len(p.s) && p.pos-start < max && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		n = n*10 + int(p.s[p.pos]-'0')
		p.pos++
	}
	if p.pos == start {
		return 0, errTimeSyntax
	}
	return n, nil
}

func (p *timeParser) expect(c byte) error {
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		return errTimeSyntax
	}
	p.pos++
	return nil
}

func (p *timeParser) done() bool { return p.pos >= len(p.s) }

// clock reads h:mm[:ss[.fffffffff]] and returns hour, minute, second and nanoseconds.
func (p *timeParser) clock() (h, m, sec, nsec int, err error) {
	if h, err = p.num(2); err != nil {
		return
	}
	if err = p.expect(':'); err != nil {
		return
	}
	if m, err = p.num(2); err != nil {
		return
	}
	if p.done() || p.s[p.pos] != ':' {
		return
	}
	p.pos++
	if sec, err = p.num(2); err != nil {
		return
	}
	if !p.done() && (p.s[p.pos] == '.' || p.s[p.pos] == ',') {
		p.pos++
		start := p.pos
		frac, ferr := p.num(9)
		if ferr != nil {
			err = ferr
			return
		}
		digits := p.pos - start
		for range 9 - digits {
			frac *= 10
		}
		nsec = frac
		// More than nine digits: the rest is below a nanosecond.
		for !p.done() && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
	}
	return
}

// zone reads what follows the clock: nothing (UTC), Z, or an offset ±hh:mm, ±hhmm or ±hh.
func (p *timeParser) zone() (*time.Location, error) {
	if p.done() {
		return time.UTC, nil
	}
	switch c := p.s[p.pos]; c {
	case 'Z', 'z':
		p.pos++
		return time.UTC, nil
	case '+', '-':
		p.pos++
		h, err := p.num(2)
		if err != nil {
			return nil, err
		}
		m := 0
		if !p.done() {
			if p.s[p.pos] == ':' {
				p.pos++
			}
			if m, err = p.num(2); err != nil {
				return nil, err
			}
		}
		if h > 23 || m > 59 {
			return nil, errors.New("offset out of range")
		}
		off := (h*60 + m) * 60
		if c == '-' {
			off = -off
		}
		return time.FixedZone("", off), nil
	}
	return nil, errTimeSyntax
}

// iso reads yyyy-M-d[T ]H:mm[:ss[.f]][zone].
func (p *timeParser) iso() (time.Time, error) {
	y, err := p.num(4)
	if err != nil || p.pos != 4 {
		return time.Time{}, errTimeSyntax
	}
	if err := p.expect('-'); err != nil {
		return time.Time{}, err
	}
	mo, err := p.num(2)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.expect('-'); err != nil {
		return time.Time{}, err
	}
	d, err := p.num(2)
	if err != nil {
		return time.Time{}, err
	}
	if p.done() {
		return build(y, mo, d, 0, 0, 0, 0, time.UTC)
	}
	if c := p.s[p.pos]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, errTimeSyntax
	}
	p.pos++
	h, m, sec, nsec, err := p.clock()
	if err != nil {
		return time.Time{}, err
	}
	loc, err := p.zone()
	if err != nil {
		return time.Time{}, err
	}
	if !p.done() {
		return time.Time{}, errTimeSyntax
	}
	return build(y, mo, d, h, m, sec, nsec, loc)
}

// us reads M/d/yyyy h:mm[:ss[.f]] [AM|PM][zone].
func (p *timeParser) us() (time.Time, error) {
	mo, err := p.num(2)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.expect('/'); err != nil {
		return time.Time{}, err
	}
	d, err := p.num(2)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.expect('/'); err != nil {
		return time.Time{}, err
	}
	start := p.pos
	y, err := p.num(4)
	if err != nil || p.pos-start != 4 {
		return time.Time{}, errTimeSyntax
	}
	if p.done() {
		return build(y, mo, d, 0, 0, 0, 0, time.UTC)
	}
	if err := p.expect(' '); err != nil {
		return time.Time{}, err
	}
	h, m, sec, nsec, err := p.clock()
	if err != nil {
		return time.Time{}, err
	}
	for !p.done() && p.s[p.pos] == ' ' {
		p.pos++
	}
	if rest := p.s[p.pos:]; len(rest) >= 2 {
		switch strings.ToUpper(rest[:2]) {
		case "AM", "PM":
			if h < 1 || h > 12 {
				return time.Time{}, errors.New("12-hour clock out of range")
			}
			pm := strings.EqualFold(rest[:2], "PM")
			h %= 12
			if pm {
				h += 12
			}
			p.pos += 2
			for !p.done() && p.s[p.pos] == ' ' {
				p.pos++
			}
		}
	}
	loc, err := p.zone()
	if err != nil {
		return time.Time{}, err
	}
	if !p.done() {
		return time.Time{}, errTimeSyntax
	}
	return build(y, mo, d, h, m, sec, nsec, loc)
}

// build checks the fields (time.Date would normalise 2026-02-30 into March) and makes the time.
func build(y, mo, d, h, m, sec, nsec int, loc *time.Location) (time.Time, error) {
	if mo < 1 || mo > 12 || d < 1 || h > 23 || m > 59 || sec > 60 {
		return time.Time{}, errors.New("field out of range")
	}
	if sec == 60 {
		// A leap second; Go's time has none.
		sec = 59
		nsec = 999_999_999
	}
	t := time.Date(y, time.Month(mo), d, h, m, sec, nsec, loc)
	if t.Day() != d {
		return time.Time{}, errors.New("no such day")
	}
	return t, nil
}

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
