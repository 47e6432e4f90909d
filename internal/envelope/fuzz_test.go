package envelope

import (
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
