package insights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/entra-di/edi/internal/config"
)

// Queue is the queue that carries insights work items from the ComputeInsights timer to InsightsWork.
const Queue = "insights-work"

// WorkItem asks for one integration's insights. The day is the one the run computes in: a message retried after
// midnight computes the next day's.
type WorkItem struct {
	Integration string    `json:"integration"`
	Planned     time.Time `json:"planned"`
}

// Plan returns one work item per integration.
func Plan(integrationIDs []string, now time.Time) []WorkItem {
	out := make([]WorkItem, 0, len(integrationIDs))
	for _, id := range integrationIDs {
		out = append(out, WorkItem{Integration: id, Planned: now.UTC()})
	}
	return out
}

// ParseWorkItem decodes and validates a queue message; unknown fields and trailing data are refused, so a message
// that is not an insights work item ends in the poison queue.
func ParseWorkItem(b []byte) (WorkItem, error) {
	var w WorkItem
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return w, fmt.Errorf("insights work item: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return WorkItem{}, fmt.Errorf("insights work item: data after the JSON object at byte %d", dec.InputOffset())
	}
	if !config.ValidSlug(w.Integration) {
		return w, fmt.Errorf("insights work item field integration: %q is not an integration id", w.Integration)
	}
	return w, nil
}
