package envelope

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Requests in the host's source form (double encoded) and in the form the Learn docs show.
const (
	queueSource = `{"Data":{"item":"\"{\\\"integration\\\":\\\"contoso\\\",\\\"family\\\":\\\"reports\\\"}\""},
 "Metadata":{"DequeueCount":"3","ExpirationTime":"2026-01-17T17:58:31+00:00",
   "Id":"\"800ae4b3-bdd2-4c08-badd-f08e5a34b865\"","InsertionTime":"2026-01-10T17:58:31+00:00",
   "NextVisibleTime":"2026-01-10T18:08:32+00:00","PopReceipt":"\"AgAAAAMAAAAAAAAAAgtnj8x+1QE=\"",
   "sys":{"MethodName":"CollectWork","UtcNow":"2026-01-10T17:58:32.2205399Z","RandGuid":"0f1c"}}}`
	queueDocs = `{"Data":{"item":"{\"integration\":\"contoso\",\"family\":\"reports\"}"},
 "Metadata":{"DequeueCount":3,"Id":"800ae4b3-bdd2-4c08-badd-f08e5a34b865","InsertionTime":"2026-01-10T17:58:31+00:00",
   "sys":{"MethodName":"CollectWork","UtcNow":"2026-01-10T17:58:32.2205399Z","RandGuid":"0f1c"}}}`
	timerSource = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},
   "ScheduleStatus":{"Last":"2026-01-10T10:15:00.0148914+00:00","Next":"2026-01-10T10:20:00+00:00","LastUpdated":"2026-01-10T10:15:00.0148914+00:00"},
   "IsPastDue":false}},
 "Metadata":{"sys":{"MethodName":"CollectLogs","UtcNow":"2026-01-10T10:20:00.0123456Z","RandGuid":"9a1d"}}}`
	timerNoMonitor = `{"Data":{"timer":{"Schedule":{"AdjustForDST":false},"ScheduleStatus":null,"IsPastDue":true}},
 "Metadata":{"sys":{"MethodName":"CollectLogs","UtcNow":"2026-01-10T10:20:00Z","RandGuid":"9a1d"}}}`
	httpSource = `{"Data":{"req":{"Url":"https://app.azurewebsites.net/api/integrations/contoso/collect?code=k&x=1","Method":"post",
  "Query":{"code":"k","x":"1"},"Headers":{"Content-Type":["application/json"],"x-functions-key":["k"]},
  "Params":{"id":"contoso","action":"collect"},
  "Identities":[{"AuthenticationType":"WebJobsAuthLevel","IsAuthenticated":true,"Claims":[]}],
  "Body":"{\"dryRun\":true}"}},
 "Metadata":{"sys":{"MethodName":"Integrations","UtcNow":"2026-01-10T10:20:00Z","RandGuid":"1"}}}`
	httpDocs = `{"Data":{"req":{"Url":"http://localhost:7071/api/status?x=1&x=2","Method":"GET","Query":"{}",
  "Headers":{"Accept":"text/html"}}},"Metadata":{}}`
	eventsSource = `{"Data":{"events":"[\"{\\\"id\\\":\\\"e1\\\"}\",\"plain text event\"]"},
 "Metadata":{"SequenceNumberArray":"[12,13]","EnqueuedTimeUtcArray":"[\"2026-01-10T10:00:00.123\",\"2026-01-10T10:00:00.456\"]",
   "PartitionContext":{"EventHubName":"entra","PartitionId":"0"},
   "sys":{"MethodName":"StreamEvents","UtcNow":"2026-01-10T10:00:01Z","RandGuid":"2"}}}`
	eventsDocs = `{"Data":{"events":["{\"id\":\"e1\"}","plain text event"]},"Metadata":{"SequenceNumberArray":[12,13]}}`
)

func mustParse(t *testing.T, s string) *Request {
	t.Helper()
	r, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func TestQueueBothForms(t *testing.T) {
	for name, body := range map[string]string{"source": queueSource, "docs": queueDocs} {
		t.Run(name, func(t *testing.T) {
			m, err := mustParse(t, body).Queue("item")
			if err != nil {
				t.Fatal(err)
			}
			var item struct{ Integration, Family string }
			if err := json.Unmarshal(m.Body, &item); err != nil {
				t.Fatalf("body %s: %v", m.Body, err)
			}
			if item.Integration != "contoso" || item.Family != "reports" {
				t.Errorf("item = %+v", item)
			}
			if m.DequeueCount != 3 {
				t.Errorf("DequeueCount = %d, want 3", m.DequeueCount)
			}
			if m.ID != "800ae4b3-bdd2-4c08-badd-f08e5a34b865" {
				t.Errorf("ID = %q", m.ID)
			}
			if !m.InsertionTime.Equal(time.Date(2026, 1, 10, 17, 58, 31, 0, time.UTC)) {
				t.Errorf("InsertionTime = %v", m.InsertionTime)
			}
		})
	}
}

func TestQueuePlainStringIsNotJSON(t *testing.T) {
	r := mustParse(t, `{"Data":{"item":"\"hello\""},"Metadata":{}}`)
	s, err := r.String("item")
	if err != nil || s != "hello" {
		t.Fatalf("String = %q, %v", s, err)
	}
	if _, err := r.Queue("item"); err == nil {
		t.Fatal("Queue accepted a message that is not a JSON document")
	}
}

func TestTimer(t *testing.T) {
	r := mustParse(t, timerSource)
	ti, err := r.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if ti.IsPastDue || !ti.Schedule.AdjustForDST || ti.ScheduleStatus == nil {
		t.Fatalf("timer = %+v", ti)
	}
	if want := time.Date(2026, 1, 10, 10, 20, 0, 0, time.UTC); !ti.ScheduleStatus.Next.Equal(want) {
		t.Errorf("Next = %v", ti.ScheduleStatus.Next)
	}
	sys, err := r.Sys()
	if err != nil {
		t.Fatal(err)
	}
	if sys.MethodName != "CollectLogs" || sys.UtcNow.Nanosecond() != 12345600 {
		t.Errorf("sys = %+v", sys)
	}

	ti, err = mustParse(t, timerNoMonitor).Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if !ti.IsPastDue || ti.ScheduleStatus != nil {
		t.Errorf("no-monitor timer = %+v", ti)
	}
}

func TestTimerMinValueLast(t *testing.T) {
	r := mustParse(t, `{"Data":{"t":{"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-01-10T10:20:00+00:00"},"IsPastDue":"false"}},"Metadata":{}}`)
	ti, err := r.Timer("t")
	if err != nil {
		t.Fatal(err)
	}
	if !ti.ScheduleStatus.Last.IsZero() || ti.IsPastDue {
		t.Errorf("timer = %+v", ti)
	}
}

func TestHTTP(t *testing.T) {
	h, err := mustParse(t, httpSource).HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	if h.Method != "POST" || h.Param("ID") != "contoso" || h.Param("action") != "collect" {
		t.Errorf("request = %+v", h)
	}
	if h.Header("content-type") != "application/json" || string(h.Body) != `{"dryRun":true}` {
		t.Errorf("header/body = %q / %q", h.Header("content-type"), h.Body)
	}

	h, err = mustParse(t, httpDocs).HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	if h.Header("Accept") != "text/html" || h.Body != nil {
		t.Errorf("docs form = %+v", h)
	}
	if h.QueryValue("x") != "1,2" {
		t.Errorf("repeated query keys = %q, want comma-joined", h.QueryValue("x"))
	}
}

func TestHTTPBinaryBody(t *testing.T) {
	r := mustParse(t, `{"Data":{"req":{"Method":"POST","Headers":{"Content-Type":["application/octet-stream"]},"Body":"AAEC"}}}`)
	h, err := r.HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	if string(h.Body) != "\x00\x01\x02" {
		t.Errorf("body = %q", h.Body)
	}
}

func TestEventHubBothForms(t *testing.T) {
	for name, body := range map[string]string{"source": eventsSource, "docs": eventsDocs} {
		t.Run(name, func(t *testing.T) {
			r := mustParse(t, body)
			events, err := r.StringArray("events")
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 2 || events[0] != `{"id":"e1"}` || events[1] != "plain text event" {
				t.Errorf("events = %q", events)
			}
			seq, err := r.MetaArray("SequenceNumberArray")
			if err != nil || len(seq) != 2 || string(seq[1]) != "13" {
				t.Errorf("sequence numbers = %s, %v", seq, err)
			}
		})
	}
}

func TestEventHubBatch(t *testing.T) {
	retrySource := `{"Data":{"events":"[\"{\\\"records\\\":[]}\",\"\\\"quoted\\\"\"]"},
 "Metadata":{"SequenceNumberArray":"[12,13]","OffsetStringArray":"[\"4294967296\",\"4294967400\"]",
   "EnqueuedTimeUtcArray":"[\"2026-01-10T10:00:00.123\",\"2026-01-10T10:00:00.456\"]",
   "PartitionContext":{"FullyQualifiedNamespace":"ns.servicebus.windows.net","EventHubName":"entra","ConsumerGroup":"archive","PartitionId":"3"},
   "RetryContext":{"RetryCount":"2","MaxRetryCount":-1,"Exception":{"Message":"x"}},
   "sys":{"MethodName":"StreamEvents","UtcNow":"2026-01-10T10:00:01Z","RandGuid":"2"}}}`
	for name, c := range map[string]struct {
		body   string
		events []string
		pc     PartitionContext
		retry  *RetryContext
		times  int
	}{
		"source":        {eventsSource, []string{`{"id":"e1"}`, "plain text event"}, PartitionContext{EventHubName: "entra", PartitionID: "0"}, nil, 2},
		"docs, trigger": {strings.Replace(eventsDocs, `"Metadata":{`, `"Metadata":{"TriggerPartitionContext":"{\"EventHubName\":\"h\",\"PartitionId\":\"1\"}",`, 1), []string{`{"id":"e1"}`, "plain text event"}, PartitionContext{EventHubName: "h", PartitionID: "1"}, nil, 0},
		// A body that is itself a JSON string literal keeps its quotes: only the host's array encoding is undone.
		"retry": {retrySource, []string{`{"records":[]}`, `"quoted"`}, PartitionContext{"ns.servicebus.windows.net", "entra", "archive", "3"}, &RetryContext{RetryCount: 2, MaxRetryCount: -1}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := mustParse(t, c.body).EventHub("events")
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Events) != len(c.events) {
				t.Fatalf("events %q", b.Events)
			}
			for i, e := range b.Events {
				if string(e) != c.events[i] {
					t.Errorf("event %d = %q, want %q", i, e, c.events[i])
				}
			}
			if b.Partition != c.pc || len(b.SequenceNumbers) != 2 || b.SequenceNumbers[0] != 12 || b.SequenceNumbers[1] != 13 {
				t.Errorf("partition %+v sequence numbers %v", b.Partition, b.SequenceNumbers)
			}
			if len(b.EnqueuedTimes) != c.times || (c.times > 0 && !b.EnqueuedTimes[1].Equal(time.Date(2026, 1, 10, 10, 0, 0, 456e6, time.UTC))) {
				t.Errorf("enqueued %v", b.EnqueuedTimes)
			}
			if (b.Retry == nil) != (c.retry == nil) || (b.Retry != nil && *b.Retry != *c.retry) {
				t.Errorf("retry %+v, want %+v", b.Retry, c.retry)
			}
		})
	}
}

func TestEventHubBadBatchesNameTheField(t *testing.T) {
	pc := `"PartitionContext":{"EventHubName":"h","PartitionId":"0"}`
	cases := map[string]struct{ body, field string }{
		"no events":            {`{"Data":{"events":"[]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[]"}}`, "Data.events"},
		"no sequence numbers":  {`{"Data":{"events":"[\"a\"]"},"Metadata":{` + pc + `}}`, "Metadata.SequenceNumberArray"},
		"too few":              {`{"Data":{"events":"[\"a\",\"b\"]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[1]"}}`, "Metadata.SequenceNumberArray"},
		"negative":             {`{"Data":{"events":"[\"a\"]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[-1]"}}`, "Metadata.SequenceNumberArray[0]"},
		"no partition":         {`{"Data":{"events":"[\"a\"]"},"Metadata":{"SequenceNumberArray":"[1]"}}`, "Metadata.PartitionContext"},
		"no partition id":      {`{"Data":{"events":"[\"a\"]"},"Metadata":{"PartitionContext":{"EventHubName":"h"},"SequenceNumberArray":"[1]"}}`, "Metadata.PartitionContext.PartitionId"},
		"enqueued times short": {`{"Data":{"events":"[\"a\"]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[1]","EnqueuedTimeUtcArray":"[]"}}`, "Metadata.EnqueuedTimeUtcArray"},
		"bad enqueued time":    {`{"Data":{"events":"[\"a\"]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[1]","EnqueuedTimeUtcArray":"[\"soon\"]"}}`, "Metadata.EnqueuedTimeUtcArray[0]"},
		"bad retry":            {`{"Data":{"events":"[\"a\"]"},"Metadata":{` + pc + `,"SequenceNumberArray":"[1]","RetryContext":{"RetryCount":"x"}}}`, "Metadata.RetryContext.RetryCount"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := mustParse(t, c.body).EventHub("events")
			var e *Error
			if !errors.As(err, &e) || e.Field != c.field {
				t.Errorf("err = %v, want a field error on %s", err, c.field)
			}
		})
	}
}

func TestEnqueuedTimeWithoutZoneIsUTC(t *testing.T) {
	got, err := ParseTime("2026-01-10T10:00:00.123")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(time.Date(2026, 1, 10, 10, 0, 0, 123e6, time.UTC)) {
		t.Errorf("got %v", got)
	}
}

func TestBadRequestsNameTheField(t *testing.T) {
	cases := []struct {
		name, body, field string
		call              func(*Request) error
	}{
		{"not an object", `[1,2]`, "body", nil},
		{"empty", ``, "body", nil},
		{"trailing data", `{"Data":{}} {}`, "body", nil},
		{"wrong Data type", `{"Data":[1]}`, "body", nil},
		{"missing binding", `{"Data":{}}`, "Data.item", func(r *Request) error { _, err := r.Queue("item"); return err }},
		{"dequeue count", `{"Data":{"item":"{}"},"Metadata":{"DequeueCount":"x"}}`, "Metadata.DequeueCount", func(r *Request) error { _, err := r.Queue("item"); return err }},
		{"past due", `{"Data":{"t":{"IsPastDue":"maybe"}}}`, "Data.t.IsPastDue", func(r *Request) error { _, err := r.Timer("t"); return err }},
		{"headers", `{"Data":{"req":{"Headers":[1]}}}`, "Data.req.Headers", func(r *Request) error { _, err := r.HTTP("req"); return err }},
		{"utc now", `{"Metadata":{"sys":{"UtcNow":"yesterday"}}}`, "Metadata.sys.UtcNow", func(r *Request) error { _, err := r.Sys(); return err }},
		{"events", `{"Data":{"e":"not an array"}}`, "Data.e", func(r *Request) error { _, err := r.StringArray("e"); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse([]byte(c.body))
			if err == nil && c.call != nil {
				err = c.call(r)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *envelope.Error", err)
			}
			if e.Field != c.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, c.field, err)
			}
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	_, err := Decode(strings.NewReader(`{"Data":{"x":"`+strings.Repeat("a", 100)+`"}}`), 50)
	if err == nil || !strings.Contains(err.Error(), "larger than 50 bytes") {
		t.Fatalf("err = %v", err)
	}
}

func TestReplyIsNeverEmptyAndAlwaysJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	var r *Reply
	r.Write(rec, 200)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
		if _, ok := got[k]; !ok {
			t.Errorf("reply lacks %s: %s", k, rec.Body)
		}
	}
}

func TestReplyOutputs(t *testing.T) {
	r := NewReply()
	if err := r.SetHTTP("res", 202, map[string]bool{"ok": true}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHTTPHeader("res", "Retry-After", "3"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHTTPHeader("other", "Retry-After", "3"); err == nil {
		t.Error("SetHTTPHeader on an output never set")
	}
	if err := r.AddQueue("work", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddQueue("work", map[string]string{"a": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddQueue("work", "dGVzdA=="); err == nil {
		t.Error("AddQueue accepted a bare string, which the host may base64-decode")
	}
	rec := httptest.NewRecorder()
	r.Write(rec, 200)
	var got struct {
		Outputs struct {
			Res  HTTPResponse
			Work []map[string]string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Outputs.Res.StatusCode != 202 || got.Outputs.Res.Body != `{"ok":true}` || !strings.HasPrefix(got.Outputs.Res.Headers["Content-Type"], "application/json") ||
		got.Outputs.Res.Headers["Retry-After"] != "3" {
		t.Errorf("res = %+v", got.Outputs.Res)
	}
	if len(got.Outputs.Work) != 2 || got.Outputs.Work[1]["a"] != "2" {
		t.Errorf("work = %+v", got.Outputs.Work)
	}
}
