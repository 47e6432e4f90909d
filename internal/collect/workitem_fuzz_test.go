package collect

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
)

// FuzzParseWorkItem feeds arbitrary queue message bodies to ParseWorkItem. Nothing may panic; a refused body gets
// an error that says it is about the work item; an accepted body is exactly one JSON object whose fields are all
// valid, and the item survives a round trip through its own JSON unchanged. Seeds: testdata/fuzz/FuzzParseWorkItem.
func FuzzParseWorkItem(f *testing.F) {
	for _, it := range Plan([]string{"contoso"}, ReasonSchedule, t0) {
		b, _ := json.Marshal(it)
		f.Add(b)
		b, _ = json.Marshal(it.Continuation())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := ParseWorkItem(body)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "work item") {
				t.Fatalf("error %q does not say it is about the work item", err)
			}
			return
		}
		switch {
		case !config.ValidSlug(w.Integration):
			t.Fatalf("accepted integration %q", w.Integration)
		case w.Kind != "" && w.Kind != KindCollect && w.Kind != KindTest:
			t.Fatalf("accepted kind %q", w.Kind)
		case w.IsTest() && (w.Family != "" || w.Generation != 0 || w.Reason == ReasonContinuation):
			t.Fatalf("accepted test item %+v", w)
		case !w.IsTest() && !slices.Contains(catalog.Families(), w.Family):
			t.Fatalf("accepted family %q", w.Family)
		case w.Reason != ReasonSchedule && w.Reason != ReasonContinuation && w.Reason != ReasonCollectNow:
			t.Fatalf("accepted reason %q", w.Reason)
		case w.Generation < 0:
			t.Fatalf("accepted generation %d", w.Generation)
		}
		// encoding/json's Unmarshal refuses trailing data: an accepted message must be one JSON object, nothing more.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted %q, which is not exactly one JSON object: %v", body, err)
		}
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("marshal %+v: %v", w, err)
		}
		again, err := ParseWorkItem(b)
		if err != nil {
			t.Fatalf("the item's own JSON %s is refused: %v", b, err)
		}
		if again.Integration != w.Integration || again.Family != w.Family || again.Reason != w.Reason ||
			again.Generation != w.Generation || !again.Planned.Equal(w.Planned) {
			t.Fatalf("round trip changed %+v into %+v", w, again)
		}
	})
}
