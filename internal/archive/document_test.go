package archive

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDocuments: a document is created once, replaced only on the version read, read back whole, and the newest
// day's is found by its name.
func TestDocuments(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	day := time.Date(2026, 1, 10, 17, 30, 0, 0, time.UTC)
	d := Document{Integration: "contoso", Kind: "insights", Day: day, File: "insights.json"}
	if got, want := d.Name(), "integration=contoso/type=insights/date=2026-01-10/insights.json"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if _, _, err := s.ReadDocument(ctx, d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadDocument of nothing = %v, want ErrNotFound", err)
	}
	if _, err := s.LatestDocument(ctx, "contoso", "insights", "insights.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestDocument of nothing = %v, want ErrNotFound", err)
	}
	if err := s.WriteDocument(ctx, d, []byte(`{"v":1}`), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteDocument(ctx, d, []byte(`{"v":2}`), ""); !errors.Is(err, ErrChanged) {
		t.Fatalf("second create = %v, want ErrChanged", err)
	}
	body, etag, err := s.ReadDocument(ctx, d)
	if err != nil || string(body) != `{"v":1}` || etag == "" {
		t.Fatalf("ReadDocument = %s, %q, %v", body, etag, err)
	}
	if err := s.WriteDocument(ctx, d, []byte(`{"v":3}`), etag); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteDocument(ctx, d, []byte(`{"v":4}`), etag); !errors.Is(err, ErrChanged) {
		t.Fatalf("replace on a stale version = %v, want ErrChanged", err)
	}
	if body, _, _ := s.ReadDocument(ctx, d); string(body) != `{"v":3}` {
		t.Errorf("content = %s, want the replacement", body)
	}
	for _, other := range []Document{
		{Integration: "contoso", Kind: "insights", Day: day.Add(-48 * time.Hour), File: "insights.json"},
		{Integration: "contoso", Kind: "insights", Day: day.Add(24 * time.Hour), File: "other.json"},
		{Integration: "contoso-eu", Kind: "insights", Day: day.Add(72 * time.Hour), File: "insights.json"},
	} {
		if err := s.WriteDocument(ctx, other, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestDocument(ctx, "contoso", "insights", "insights.json")
	if err != nil || latest.Name() != d.Name() {
		t.Errorf("LatestDocument = %q, %v; want %q", latest.Name(), err, d.Name())
	}
}
