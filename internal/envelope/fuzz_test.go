package envelope

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// FuzzParse feeds arbitrary bytes through the decoder and every accessor. Nothing may panic; a request that parses
// must be readable by each accessor without panicking (errors are fine). Seeds: the forms in envelope_test.go plus
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{queueSource, queueDocs, timerSource, timerNoMonitor, httpSource, httpDocs, eventsSource, eventsDocs,
		`{}`, `{"Data":null,"Metadata":null}`, `{"Data":{"x":"\"\\\"\\\"\""}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body)
		if err != nil {
			return
		}
		_, _ = r.Sys()
		for name := range r.Data {
			_, _ = r.String(name)
			_, _ = r.JSON(name)
			_, _ = r.Timer(name)
			_, _ = r.HTTP(name)
			_, _ = r.Queue(name)
			_, _ = r.StringArray(name)
			_, _ = r.EventHub(name)
		}
		for key := range r.Metadata {
			_, _ = r.MetaString(key)
			_, _ = r.MetaInt(key)
			_, _ = r.MetaTime(key)
			_, _ = r.MetaArray(key)
		}
		reply := NewReply()
		reply.Log("%d data keys", len(r.Data))
		reply.Write(httptest.NewRecorder(), 200)
	})
}

// FuzzStringArray checks the one-pass decoder of Event Hub batches against encoding/json: whenever encoding/json
// reads the input as an array of strings, stringArray must read the same strings (or decline, leaving it to
// encoding/json); whatever it reads must be what encoding/json reads.
func FuzzStringArray(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `["{\"records\":[]}","\"quoted\""]`, `[]`, `["\u00e9\ud83d\ude00","\ud800x"]`,
		"[\"\xff\xfe\"]", `["a\/b\n\t\u0041"]`, `[1,"a"]`, `["a",]`, `["a"] x`, `[ "a" , "b" ]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var got [][]byte
		ok := false
		if len(doc) > 0 && doc[0] == '[' {
			got, ok = stringArray(doc)
		}
		var want []string
		err := json.Unmarshal(doc, &want)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("stringArray read %q, which encoding/json refuses: %v", doc, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d strings, encoding/json %d", doc, len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != want[i] {
				t.Fatalf("%q: element %d = %q, encoding/json %q", doc, i, got[i], want[i])
			}
		}
	})
}
