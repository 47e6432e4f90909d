package membership

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/archive"
)

// rounds is an in-memory archive of groups rounds: each round is its parts, each part its records.
type fakeArchive struct {
	rounds []archive.Manifest
	parts  map[string][]string
}

func (f *fakeArchive) round(full bool, parts ...[]string) {
	m := archive.Manifest{Full: full}
	for _, recs := range parts {
		name := fmt.Sprintf("part-%d", len(f.parts))
		f.parts[name] = recs
		m.Parts = append(m.Parts, archive.ManifestPart{Name: name, Records: len(recs)})
	}
	f.rounds = append(f.rounds, m)
}

func (f *fakeArchive) Rounds(_ context.Context, integration, dataType string) ([]archive.Manifest, error) {
	if dataType != GroupsDataType {
		return nil, fmt.Errorf("rounds of %s", dataType)
	}
	// As archive.Store: the newest full round and the rounds after it.
	for i := len(f.rounds) - 1; i >= 0; i-- {
		if f.rounds[i].Full {
			return f.rounds[i:], nil
		}
	}
	return nil, nil
}

func (f *fakeArchive) ReadRecords(_ context.Context, name string, fn func([]byte) error) error {
	for _, r := range f.parts[name] {
		if err := fn([]byte(r)); err != nil {
			return err
		}
	}
	return nil
}

func group(id string, members ...string) string {
	var ms []string
	for _, m := range members {
		typ, removed := "user", ""
		if strings.HasPrefix(m, "-") {
			m, removed = m[1:], `,"@removed":{"reason":"deleted"}`
		}
		if strings.HasPrefix(m, "g") {
			typ = "group"
		}
		ms = append(ms, fmt.Sprintf(`{"@odata.type":"#microsoft.graph.%s","id":"%s"%s}`, typ, m, removed))
	}
	return fmt.Sprintf(`{"id":"%s","displayName":"%s","members@delta":[%s]}`, id, id, strings.Join(ms, ","))
}

func removedGroup(id string) string {
	return fmt.Sprintf(`{"id":"%s","@removed":{"reason":"changed"}}`, id)
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	f := &fakeArchive{parts: map[string][]string{}}
	if _, err := Users(ctx, f, "contoso", []string{"g1"}); !errors.Is(err, ErrNoGroups) {
		t.Fatalf("no archive: err = %v, want ErrNoGroups", err)
	}
	// A full round: g1 holds u1 and g2 (split over two pages), g2 holds u2 and g3, g3 holds u3 and g1 (a cycle);
	// g4 holds u4 and is not nested anywhere.
	f.round(true,
		[]string{group("g1", "u1"), group("g2", "u2", "g3")},
		[]string{group("g3", "u3", "g1"), group("g1", "g2"), group("g4", "u4")})
	check := func(stage string, groups []string, want ...string) {
		t.Helper()
		got, err := Users(ctx, f, "contoso", groups)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
			t.Errorf("%s: users of %v = %v, want %v", stage, groups, keys, want)
		}
	}
	check("full round", []string{"g1"}, "u1", "u2", "u3")
	check("full round", []string{"g3"}, "u1", "u2", "u3")
	check("full round", []string{"g4", "missing"}, "u4")
	// A delta round: u2 leaves g2, u5 joins g3, g3 leaves g2 (so g3's users only via g1? no: g3 is reached from
	// g2 only) — g3 is no longer under g1.
	f.round(false, []string{group("g2", "-u2", "-g3"), group("g3", "u5")})
	check("after a delta round", []string{"g1"}, "u1")
	check("after a delta round", []string{"g3"}, "u1", "u3", "u5")
	// g1 is deleted: its members no longer count, through it or directly.
	f.round(false, []string{removedGroup("g1")})
	check("after a deletion", []string{"g3"}, "u3", "u5")
	check("after a deletion", []string{"g1"})
	// A new full round replaces everything before it.
	f.round(true, []string{group("g1", "u9")})
	check("after a new full round", []string{"g1"}, "u9")
	check("after a new full round", []string{"g3"})
	// A broken record is an error, not a silent gap.
	f.round(false, []string{`{"displayName":"no id"}`})
	if _, err := Users(ctx, f, "contoso", []string{"g1"}); err == nil {
		t.Error("a record without id was accepted")
	}
}
