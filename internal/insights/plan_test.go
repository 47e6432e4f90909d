package insights

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWorkItems(t *testing.T) {
	items := Plan([]string{"contoso", "fabrikam"}, now)
	if len(items) != 2 || items[1].Integration != "fabrikam" || !items[0].Planned.Equal(now) {
		t.Fatalf("Plan = %+v", items)
	}
	b, _ := json.Marshal(items[0])
	if w, err := ParseWorkItem(b); err != nil || w != items[0] {
		t.Errorf("round trip: %+v, %v", w, err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"integration":"Contoso!"}`, "field integration"},
		{`{"integration":"contoso","family":"reports"}`, "unknown field"},
		{`{"integration":"contoso"} {"integration":"x"}`, "data after"},
		{`[]`, "insights work item"},
		{``, "insights work item"},
	} {
		if _, err := ParseWorkItem([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseWorkItem(%s) = %v, want an error with %q", tc.body, err, tc.want)
		}
	}
}
