package hostsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Form chooses how Data and Metadata values are written.
type Form int

const (
	// SourceForm is what the host's code does (GetHttpScriptInvocationContextValue): strings, numbers, booleans
	// and arrays are serialized to JSON text and that text is sent as a JSON string, i.e. encoded twice.
	SourceForm Form = iota
	// DocsForm is what the Microsoft Learn custom-handler page shows: values encoded once, a numeric
	// DequeueCount, and an HTTP Query sent as a string holding the object.
	DocsForm
)

// The value kinds the simulator hands to the encoder; they stand for the .NET types the host serializes.
type (
	// object is a POCO or dictionary: JObject.FromObject succeeds, so it is sent as a nested JSON object.
	object = json.RawMessage
	// dotnetTime is a DateTime/DateTimeOffset binding-data value: re-parsed from its ToString(), so sub-second
	// precision is lost.
	dotnetTime time.Time
	// jsonArray is an array (long[], string[], object[]): JObject.FromObject fails on it, so it is serialized.
	jsonArray []any
)

// wireValue encodes one Data or Metadata value by the rules of reference §4.
func wireValue(v any, form Form) json.RawMessage {
	switch x := v.(type) {
	case []byte:
		// byte[] → base64 string, whatever the dataType.
		return mustJSON(base64.StdEncoding.EncodeToString(x))
	case dotnetTime:
		return mustJSON(formatOffsetSeconds(time.Time(x)))
	case object:
		return x
	}
	text := mustJSON(v)
	if form == DocsForm {
		return text
	}
	// JsonConvert.SerializeObject(value), then that text as a JSON string: "hello" → "\"hello\"", 1 → "1".
	return mustJSON(string(text))
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("hostsim: encode %T: %v", v, err))
	}
	return b
}

// formatOffsetSeconds writes a DateTimeOffset after the host's ToString()/Parse round trip: whole seconds and an
// offset, e.g. 2019-10-16T17:58:31+00:00.
func formatOffsetSeconds(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05-07:00")
}

// formatUtc writes a UTC-kind DateTime as Newtonsoft does: up to 7 fractional digits, trailing zeros dropped, and
// "Z" (sys.UtcNow).
func formatUtc(t time.Time) string {
	return t.UTC().Round(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z07:00")
}

// formatLocal writes a local-kind DateTime on a UTC machine (timer schedule status): fractional digits as
// Newtonsoft writes them and a "+00:00" offset.
func formatLocal(t time.Time) string {
	return t.UTC().Round(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999-07:00")
}

// formatUnspecified writes an unspecified-kind DateTime (no zone designator), as Event Hub enqueued times and
// DateTime.MinValue arrive.
func formatUnspecified(t time.Time) string {
	return t.UTC().Round(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999")
}

// newGUID returns a random (version 4) GUID in the host's lower-case "D" format.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// dropTriggerKeys removes binding-data keys ending in "trigger" (case-insensitive): the trigger value is already in
// Data (ScriptInvocationContextExtensions.ToHttpScriptInvocationContext).
func dropTriggerKeys(meta map[string]json.RawMessage) {
	for k := range meta {
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			delete(meta, k)
		}
	}
}
