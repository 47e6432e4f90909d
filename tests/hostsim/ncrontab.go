package hostsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is an NCRONTAB expression as the timer trigger reads it: six fields
// {second} {minute} {hour} {day} {month} {day-of-week}, or five without the seconds (second 0). Times are UTC
// (WEBSITE_TIME_ZONE is not supported on Linux Consumption and Flex Consumption).
//
// Like NCrontab, and unlike Vixie cron, a day-of-month and a day-of-week restriction must both match.
type Schedule struct {
	expr                          string
	sec, min, hour, dom, mon, dow uint64 // bit sets
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParseSchedule parses an NCRONTAB expression. TimeSpan schedules ("01:00:00") are refused: the host accepts them
// only on the App Service (Dedicated) plan, and this app runs on Flex Consumption.
func ParseSchedule(expr string) (*Schedule, error) {
	fields := strings.Fields(expr)
	if len(fields) == 1 && strings.Contains(expr, ":") {
		return nil, fmt.Errorf("schedule %q: TimeSpan schedules work only on the App Service plan, not Flex Consumption", expr)
	}
	if len(fields) == 5 {
		fields = append([]string{"0"}, fields...)
	}
	if len(fields) != 6 {
		return nil, fmt.Errorf("schedule %q: want 6 NCRONTAB fields (second minute hour day month day-of-week) or 5", expr)
	}
	s := &Schedule{expr: expr}
	specs := []struct {
		dst      *uint64
		lo, hi   int
		names    map[string]int
		fieldNam string
	}{
		{&s.sec, 0, 59, nil, "second"},
		{&s.min, 0, 59, nil, "minute"},
		{&s.hour, 0, 23, nil, "hour"},
		{&s.dom, 1, 31, nil, "day"},
		{&s.mon, 1, 12, monthNames, "month"},
		{&s.dow, 0, 6, dayNames, "day-of-week"},
	}
	for i, sp := range specs {
		set, err := parseField(fields[i], sp.lo, sp.hi, sp.names)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %s field %q: %w", expr, sp.fieldNam, fields[i], err)
		}
		*sp.dst = set
	}
	return s, nil
}

// String returns the expression as written.
func (s *Schedule) String() string { return s.expr }

func parseField(f string, lo, hi int, names map[string]int) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*":
			from, to = lo, hi
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = fieldValue(a, names); err != nil {
				return 0, err
			}
			if to, err = fieldValue(b, names); err != nil {
				return 0, err
			}
		default:
			v, err := fieldValue(rng, names)
			if err != nil {
				return 0, err
			}
			from, to = v, v
			if hasStep {
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return 0, fmt.Errorf("%q out of range %d-%d", part, lo, hi)
		}
		for v := from; v <= to; v += step {
			set |= 1 << uint(v)
		}
	}
	if set == 0 {
		return 0, errors.New("empty")
	}
	return set, nil
}

func fieldValue(s string, names map[string]int) (int, error) {
	if v, ok := names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return v, nil
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

// Next returns the first occurrence strictly after t (in UTC), or the zero time if there is none within five
// years (e.g. 30 February).
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case !has(s.mon, int(t.Month())):
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !has(s.dom, t.Day()) || !has(s.dow, int(t.Weekday())):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !has(s.hour, t.Hour()):
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
		case !has(s.min, t.Minute()):
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
		case !has(s.sec, t.Second()):
			t = t.Add(time.Second)
		default:
			return t
		}
	}
	return time.Time{}
}

// FiresMoreThanOncePerMinute reports whether two consecutive occurrences after t are less than a minute apart;
// the timer listener then turns the schedule monitor off (useMonitor false).
func (s *Schedule) FiresMoreThanOncePerMinute(t time.Time) bool {
	a := s.Next(t)
	if a.IsZero() {
		return false
	}
	b := s.Next(a)
	return !b.IsZero() && b.Sub(a) < time.Minute
}
