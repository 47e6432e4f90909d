// Package collect plans and runs collection. A planner turns integrations into work items, one per (integration,
// throttling family), which travel on queue `collect-work`; a worker takes one item, holds the family's lease,
// and runs every data type of the family through Graph in the data type's collection mode — one run, several
// collectors:
//
//   - time buckets (log streams): fresh buckets first, then due re-sweeps for late events, then backfill newest
//     first, each window's new records written before the data type's cursor moves; a record is written to its
//     bucket only if its dedup key is in none of the bucket's committed parts, and parts are committed once;
//   - delta rounds (directory collections): the changes since the committed deltaLink, or a full round (first
//     run, weekly, after Graph resets the sync), into a round folder whose manifest is written after its parts,
//     and only then the new deltaLink;
//   - snapshots: the whole collection at a cadence, the same way.
//
// The run owns what the modes share: the lease, the run record, the budget, the error policy (not-licensed and
// missing-permission answers park a data type for a day; a refused credential stops the run) and the deadline,
// at which it stops and asks for a continuation item.
package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/integrations"
)

// Reasons a work item exists.
const (
	ReasonSchedule     = "schedule"
	ReasonContinuation = "continuation"
	ReasonCollectNow   = "collect-now"
)

// Kinds of work item.
const (
	// KindCollect collects one family of one integration (the default: an item without a kind).
	KindCollect = "collect"
	// KindTest runs an integration's connectivity test (managed mode's daily re-test); it has no family.
	KindTest = "test"
)

// WorkItem asks a worker to collect one family of one integration, or to test an integration's connectivity.
type WorkItem struct {
	Integration string `json:"integration"`
	// Kind is KindCollect (or empty) or KindTest.
	Kind    string         `json:"kind,omitempty"`
	Family  catalog.Family `json:"family,omitempty"`
	Reason  string         `json:"reason"`
	Planned time.Time      `json:"planned"`
	// Generation counts continuations since the item was planned.
	Generation int `json:"generation"`
}

// IsTest reports whether the item asks for a connectivity test.
func (w WorkItem) IsTest() bool { return w.Kind == KindTest }

// ParseWorkItem decodes and validates a queue message. Unknown fields are refused: a message that is not a work
// item is a bug somewhere, and should end in the poison queue rather than be half understood.
func ParseWorkItem(b []byte) (WorkItem, error) {
	var w WorkItem
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return w, fmt.Errorf("work item: %w", err)
	}
	// Decode stops after the first JSON value; anything but white space after it is another message glued on.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return WorkItem{}, fmt.Errorf("work item: data after the JSON object at byte %d", dec.InputOffset())
	}
	switch {
	case !config.ValidSlug(w.Integration):
		return w, fmt.Errorf("work item field integration: %q is not an integration id", w.Integration)
	case w.Kind != "" && w.Kind != KindCollect && w.Kind != KindTest:
		return w, fmt.Errorf("work item field kind: %q is not collect or test", w.Kind)
	case w.Kind == KindTest && w.Family != "":
		return w, fmt.Errorf("work item field family: a test item has none (got %q)", w.Family)
	case w.Kind != KindTest && !slices.Contains(catalog.Families(), w.Family):
		return w, fmt.Errorf("work item field family: %q is not a family with data types (%v)", w.Family, catalog.Families())
	case w.Reason != ReasonSchedule && w.Reason != ReasonContinuation && w.Reason != ReasonCollectNow:
		return w, fmt.Errorf("work item field reason: %q is not schedule, continuation or collect-now", w.Reason)
	case w.Generation < 0:
		return w, fmt.Errorf("work item field generation: %d is negative", w.Generation)
	case w.Kind == KindTest && (w.Reason == ReasonContinuation || w.Generation != 0):
		return w, fmt.Errorf("work item field reason: a test item is never continued")
	}
	return w, nil
}

// Plan returns one work item per (integration, family) for each integration, for the families that hold data
// types of the given modes — every family when none is given (Collect Now). CollectLogs plans the families with
// time-bucketed log streams, CollectDirectory those with delta or snapshot data types; a family with both is
// planned by both timers, and its lease lets one worker at a time do whatever is due.
func Plan(integrationIDs []string, reason string, now time.Time, modes ...catalog.Mode) []WorkItem {
	var families []catalog.Family
	for _, f := range catalog.Families() {
		if len(modes) == 0 || slices.ContainsFunc(catalog.InFamily(f), func(d catalog.DataType) bool { return slices.Contains(modes, d.Mode()) }) {
			families = append(families, f)
		}
	}
	var out []WorkItem
	for _, id := range integrationIDs {
		for _, f := range families {
			out = append(out, WorkItem{Integration: id, Family: f, Reason: reason, Planned: now.UTC()})
		}
	}
	return out
}

// PlanTests returns a connectivity-test item for each integration whose managed-mode re-test is due at now (its
// last test is a day old), so a granted permission or a new licence is picked up within a day and a revoked one
// parks its data types.
func PlanTests(list []integrations.Integration, reason string, now time.Time) []WorkItem {
	var out []WorkItem
	for _, i := range list {
		if i.TestDue(now) {
			out = append(out, WorkItem{Integration: i.ID, Kind: KindTest, Reason: reason, Planned: now.UTC()})
		}
	}
	return out
}

// Continuation is the item that carries on where w stopped.
func (w WorkItem) Continuation() WorkItem {
	c := w
	c.Reason = ReasonContinuation
	c.Generation++
	return c
}
