package entrasim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The simulator's own endpoints, under /_sim on the Graph server (test only, no authentication):
//
//	GET    /_sim/tenant                                   tenant description (Info)
//	GET    /_sim/truth?stream=&from=&to=&asOf=&details=1  ground truth ids (times RFC 3339; from/to optional,
//	                                                      [from, to); asOf defaults to the simulated now)
//	GET    /_sim/counters                                 counters; DELETE resets counters and request log
//	GET    /_sim/requests                                 per-request log
//	GET    /_sim/faults                                   active fault rules; POST adds one (FaultRule JSON);
//	                                                      DELETE clears; DELETE /_sim/faults/{id} removes one
//	GET    /_sim/clock                                    simulated now; POST {"advance":"1h"} or
//	                                                      {"set":"2025-01-01T00:00:00Z"} (Options.Clock only)
//	GET    /_sim/directory?kind=&asOf=&select=            directory ground truth (DirectoryAt): objects with
//	                                                      their properties and direct members
//	POST   /_sim/directory/reset                          synchronization reset, {"kinds":["users",…]} (empty:
//	                                                      every delta kind)
//	GET    /_sim/signInActivity?asOf=                     every user's signInActivity (SignInActivityAt)

func (t *Tenant) serveSim(rc *reqCtx) {
	w, r := rc.w, rc.r
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sim"), "/")
	switch {
	case path == "/tenant" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, t.Info())
	case path == "/truth" && r.Method == http.MethodGet:
		t.serveTruth(w, r)
	case path == "/counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, t.Counters())
	case path == "/counters" && r.Method == http.MethodDelete:
		t.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	case path == "/requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, t.Requests())
	case path == "/faults" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, t.Faults())
	case path == "/faults" && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		f, err := ParseFaultRule(string(body))
		if err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		id, err := t.AddFault(f)
		if err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	case path == "/faults" && r.Method == http.MethodDelete:
		t.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "/faults/") && r.Method == http.MethodDelete:
		id, err := strconv.Atoi(strings.TrimPrefix(path, "/faults/"))
		if err != nil || !t.RemoveFault(id) {
			simError(w, http.StatusNotFound, "no such fault rule")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "/clock" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"now": t.Now(), "settable": t.cfg.Clock != nil})
	case path == "/clock" && r.Method == http.MethodPost:
		t.serveClock(w, r)
	case path == "/directory" && r.Method == http.MethodGet:
		t.serveSimDirectory(w, r)
	case path == "/directory/reset" && r.Method == http.MethodPost:
		t.serveSimReset(w, r)
	case path == "/signInActivity" && r.Method == http.MethodGet:
		t.serveSimSignInActivity(w, r)
	default:
		simError(w, http.StatusNotFound, "unknown simulator endpoint "+r.Method+" "+r.URL.Path)
	}
}

func (t *Tenant) serveClock(w http.ResponseWriter, r *http.Request) {
	if t.cfg.Clock == nil {
		simError(w, http.StatusConflict, "the tenant's clock is not a SimClock (Options.Clock)")
		return
	}
	var req struct {
		Advance string    `json:"advance"`
		Set     time.Time `json:"set"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<12)).Decode(&req); err != nil {
		simError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	switch {
	case req.Advance != "" && !req.Set.IsZero():
		simError(w, http.StatusBadRequest, "give advance or set, not both")
		return
	case req.Advance != "":
		d, err := time.ParseDuration(req.Advance)
		if err != nil {
			simError(w, http.StatusBadRequest, "advance: "+err.Error())
			return
		}
		t.cfg.Clock.Advance(d)
	case !req.Set.IsZero():
		t.cfg.Clock.Set(req.Set)
	default:
		simError(w, http.StatusBadRequest, "give advance (a duration) or set (RFC 3339)")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"now": t.Now(), "settable": true})
}

func (t *Tenant) serveTruth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stream := q.Get("stream")
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			simError(w, http.StatusBadRequest, fmt.Sprintf("%s: %v", name, err))
			return time.Time{}, false
		}
		return ts, true
	}
	from, ok1 := parse("from")
	if !ok1 {
		return
	}
	to, ok2 := parse("to")
	if !ok2 {
		return
	}
	asOf, ok3 := parse("asOf")
	if !ok3 {
		return
	}
	if asOf.IsZero() {
		asOf = t.Now()
	}
	if streamByName(stream) == nil {
		simError(w, http.StatusBadRequest, fmt.Sprintf("stream: want one of %v", StreamNames()))
		return
	}
	details := q.Get("details") == "1" || q.Get("details") == "true"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var head jw
	head.beginObj()
	head.kstr("stream", stream)
	if !from.IsZero() {
		head.kstr("from", from.UTC().Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		head.kstr("to", to.UTC().Format(time.RFC3339Nano))
	}
	head.kstr("asOf", asOf.UTC().Format(time.RFC3339Nano))
	head.key("ids")
	head.b = append(head.b, '[')
	_, _ = bw.Write(head.b)
	n := 0
	var item jw
	_ = t.eachTruth(stream, from, to, asOf, func(e TruthEvent) bool {
		if n > 0 {
			_ = bw.WriteByte(',')
		}
		item.reset()
		if details {
			item.beginObj()
			item.kstr("id", e.ID)
			item.ktime("time", e.Time.UnixNano())
			item.ktime("visible", e.Visible.UnixNano())
			item.endObj()
		} else {
			item.str(e.ID)
		}
		_, _ = bw.Write(item.b)
		n++
		return true
	})
	fmt.Fprintf(bw, `],"count":%d}`, n)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func simError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
