package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/rawjson"
)

// Record is one diagnostic-log record of an event, as Entra sent it, with what StreamEvents reads from it. Nothing
// read here changes Raw: the archive holds the record's exact bytes.
type Record struct {
	// Raw is the record's exact bytes (a slice of the event body).
	Raw []byte
	// Index is the record's position in its event.
	Index int
	// Category is the diagnostic-log category as written ("SignInLogs"; legacy "SignIn", "Audit").
	Category string
	// TenantID is the tenant the record belongs to: tenantId (any case), else AADTenantId, else the tenant of
	// resourceId (/tenants/{tid}/providers/Microsoft.aadiam); "" when the record names none.
	TenantID string
	// ID is properties.id (properties.requestId for Graph activity logs, a top-level Id for Log Analytics-shaped
	// records); "" when there is none.
	ID string
	// Time is the event time; TimeFrom says where it came from ("properties.createdDateTime", "time",
	// "enqueued", …).
	Time     time.Time
	TimeFrom string
	// Level is the severity as a name ("Informational"), whether the record wrote it as a number (4), a numeric
	// string ("4") or a name, under "Level" or "level"; "" when absent.
	Level string
	// DurationMs is durationMs as a number or a numeric string ("0", "-1"); HasDuration is false when it is absent
	// or not a number.
	DurationMs  int64
	HasDuration bool
}

// Reject is an item of an event that cannot be read as a record. It is quarantined raw, with its reason.
type Reject struct {
	// Raw is the item's exact bytes: the whole event body when Index is -1.
	Raw    []byte
	Index  int
	Reason string
}

// WholeEvent is the Reject.Index of an event body that could not be split into records.
const WholeEvent = -1

// TimeFields are the properties that hold a record's event time, in the order they are tried after the data
// type's own (reference/eventhub.md §2.3, §6.2): sign-ins, audits and provisioning, risk detections, risk-state
// snapshots, Graph activity logs, and the Agent ID risk types whose catalog entries name lastModifiedDateTime and
// riskLastModifiedDateTime. Every data type's StreamTimeField must be one of them (a test says so), or its hint
// would find nothing and a record would be filed under another time's hour.
var TimeFields = []string{"createdDateTime", "activityDateTime", "detectedDateTime", "riskLastUpdatedDateTime", "lastUpdatedDateTime", "timeGenerated",
	"riskLastModifiedDateTime", "lastModifiedDateTime"}

// minPlausible is the earliest event time taken from a record; earlier values (0001-01-01, .NET's
// DateTime.MinValue, or 1970 from a zero Unix time) mean "no time".
var minPlausible = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Split reads one event body: {"records":[…]} (any case of "records"), a JSON array of records, or one bare record.
// It returns the records and the items it cannot read — an event body that is not valid JSON or not an object or
// array, a record that is not a JSON object, a record without a category — which go to quarantine. timeField
// names the data type's time property for a category ("" when unknown); enqueued is the event's enqueued time,
// the event time of a record that carries none of its own.
func Split(body []byte, enqueued time.Time, timeField func(category string) string) ([]Record, []Reject) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, []Reject{{Raw: body, Index: WholeEvent, Reason: "event body is empty"}}
	}
	if !rawjson.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		reason := "event body is not valid JSON"
		if err != nil {
			reason += ": " + err.Error()
		}
		return nil, []Reject{{Raw: body, Index: WholeEvent, Reason: reason}}
	}
	var items [][]byte
	switch trimmed[0] {
	case '[':
		// The body is valid JSON: walking it cannot fail.
		_ = rawjson.Elements(trimmed, collect(&items))
	case '{':
		var records []byte
		_ = rawjson.Members(trimmed, func(key, val []byte) bool {
			if keyIs(key, "records") && len(val) > 0 && val[0] == '[' {
				records = val
				return false
			}
			return true
		})
		if records == nil {
			items = [][]byte{trimmed}
		} else {
			_ = rawjson.Elements(records, collect(&items))
		}
	default:
		return nil, []Reject{{Raw: body, Index: WholeEvent, Reason: "event body is a JSON " + kindOf(trimmed[0]) + ", not an object or array of records"}}
	}
	var recs []Record
	var rejects []Reject
	for i, item := range items {
		r, err := ReadRecord(item, enqueued, timeField)
		if err != nil {
			rejects = append(rejects, Reject{Raw: item, Index: i, Reason: err.Error()})
			continue
		}
		r.Index = i
		recs = append(recs, r)
	}
	return recs, rejects
}

// collect returns an Elements callback that appends every element to items.
func collect(items *[][]byte) func([]byte) bool {
	return func(e []byte) bool {
		*items = append(*items, e)
		return true
	}
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// fields of a record that ReadRecord looks at; the first occurrence of each (any key case) counts.
type fields struct {
	category, tenantID, aadTenantID, resourceID, time, level, durationMs, properties, id, requestID []byte
	times                                                                                           [8][]byte // TimeFields
}

func (f *fields) take(key, val []byte) {
	set := func(dst *[]byte) {
		if *dst == nil {
			*dst = val
		}
	}
	switch {
	case keyIs(key, "category"):
		set(&f.category)
	case keyIs(key, "tenantId"):
		set(&f.tenantID)
	case keyIs(key, "AADTenantId"):
		set(&f.aadTenantID)
	case keyIs(key, "resourceId"):
		set(&f.resourceID)
	case keyIs(key, "time"):
		set(&f.time)
	case keyIs(key, "level"):
		set(&f.level)
	case keyIs(key, "durationMs"):
		set(&f.durationMs)
	case keyIs(key, "properties"):
		set(&f.properties)
	case keyIs(key, "id"):
		set(&f.id)
	case keyIs(key, "requestId"):
		set(&f.requestID)
	default:
		for i, name := range TimeFields {
			if keyIs(key, name) {
				set(&f.times[i])
				return
			}
		}
	}
}

// read takes the fields of a valid JSON object.
func read(obj []byte) *fields {
	f := &fields{}
	_ = rawjson.Members(obj, func(key, val []byte) bool {
		f.take(key, val)
		return true
	})
	return f
}

// ReadRecord reads one record (valid JSON). A record must be a JSON object with a category; everything else is
// read leniently: keys in any case, properties as an object or a string holding one, Level and durationMs as
// numbers or strings, times in every form ParseTime knows. Its event time is the data type's time property, else
// the first of TimeFields the record has (in properties, else at the top level as Log Analytics-shaped records
// have them), else its top-level time, else enqueued.
func ReadRecord(raw []byte, enqueued time.Time, timeField func(category string) string) (Record, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		kind := "nothing"
		if len(raw) > 0 {
			kind = "a JSON " + kindOf(raw[0])
			if raw[0] == '[' {
				kind = "a JSON array"
			}
		}
		return Record{}, fmt.Errorf("record is %s, not an object", kind)
	}
	top := read(raw)
	r := Record{Raw: raw}
	cat, ok := text(top.category)
	if !ok || strings.TrimSpace(cat) == "" {
		return Record{}, fmt.Errorf("record has no category")
	}
	r.Category = strings.TrimSpace(cat)

	r.TenantID = firstText(top.tenantID, top.aadTenantID)
	if r.TenantID == "" {
		if rid, ok := text(top.resourceID); ok {
			r.TenantID = tenantOfResource(rid)
		}
	}
	props := top
	if p := propertiesObject(top.properties); p != nil {
		props = read(p)
	}
	r.ID = firstText(props.id, props.requestID, top.id)
	r.Level = level(top.level)
	r.DurationMs, r.HasDuration = number(top.durationMs)

	hint := ""
	if timeField != nil {
		hint = timeField(r.Category)
	}
	r.Time, r.TimeFrom = eventTime(top, props, hint)
	if r.Time.IsZero() {
		r.Time, r.TimeFrom = enqueued.UTC(), "enqueued"
	}
	return r, nil
}

// propertiesObject returns the properties object: as sent, or parsed from a string holding one.
func propertiesObject(raw []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '{':
		return raw
	case '"':
		s, ok := text(raw)
		if !ok {
			return nil
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) > 0 && inner[0] == '{' && json.Valid(inner) {
			return inner
		}
	}
	return nil
}

// eventTime picks the record's own event time.
func eventTime(top, props *fields, hint string) (time.Time, string) {
	try := func(raw []byte) (time.Time, bool) {
		s, ok := text(raw)
		if !ok {
			return time.Time{}, false
		}
		t, err := ParseTime(s)
		if err != nil || t.Before(minPlausible) {
			return time.Time{}, false
		}
		return t, true
	}
	order := make([]int, 0, len(TimeFields)+1)
	for i, name := range TimeFields {
		if strings.EqualFold(name, hint) {
			order = append(order, i)
		}
	}
	for i := range TimeFields {
		order = append(order, i)
	}
	if props != top {
		for _, i := range order {
			if t, ok := try(props.times[i]); ok {
				return t, "properties." + TimeFields[i]
			}
		}
	}
	for _, i := range order {
		if t, ok := try(top.times[i]); ok {
			return t, TimeFields[i]
		}
	}
	if t, ok := try(top.time); ok {
		return t, "time"
	}
	return time.Time{}, ""
}

func firstText(raws ...[]byte) string {
	for _, raw := range raws {
		if s, ok := text(raw); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// tenantOfResource reads the tenant from a resourceId of the form /tenants/{tid}/providers/Microsoft.aadiam.
func tenantOfResource(rid string) string {
	parts := strings.Split(strings.Trim(rid, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "tenants") {
			return parts[i+1]
		}
	}
	return ""
}

// levels are the Azure resource-log severities by number.
var levels = map[int64]string{1: "Critical", 2: "Error", 3: "Warning", 4: "Informational", 5: "Verbose"}

// level reads Level as a name: numbers and numeric strings map to their severity; names are kept.
func level(raw []byte) string {
	s, ok := text(raw)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if name, ok := levels[n]; ok {
			return name
		}
	}
	return s
}

// number reads an integer written as a number or a string; fractions are truncated.
func number(raw []byte) (int64, bool) {
	s, ok := text(raw)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}
