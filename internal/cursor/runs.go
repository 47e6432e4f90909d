package cursor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/text"
)

// Run is one execution of a work item: what it did and how it ended.
type Run struct {
	Integration, Family string
	// Invocation is the Functions invocation id.
	Invocation string
	// Reason is why the work item exists: schedule, continuation, collect-now.
	Reason            string
	Started, Finished time.Time
	// Outcome is ok, partial (some data types failed), error, skipped (lease held) or deadline (continued).
	Outcome string
	// Requests, Throttled and Retries are the family's Graph request counters for the run.
	Requests, Throttled, Retries int64
	Pages, Records, Parts        int
	// Continued says a continuation work item was emitted.
	Continued bool
	// DataTypes holds per-data-type counts and state.
	DataTypes map[string]DataTypeRun
	// Errors lists failures with data type, bucket and Graph request id.
	Errors []RunError
}

// DataTypeRun is one data type's share of a run.
type DataTypeRun struct {
	Windows int    `json:"windows"`
	Pages   int    `json:"pages"`
	Records int    `json:"records"`
	Parts   int    `json:"parts"`
	State   string `json:"state,omitempty"`
	Backlog int    `json:"backlogBuckets"`
	// Streaming says StreamEvents archives the data type too: Graph only filled the stream's gaps; FromStream
	// counts the records Graph read that the stream had archived already (left out).
	Streaming  bool `json:"streaming,omitempty"`
	FromStream int  `json:"fromStream,omitempty"`
}

// RunError is one failure recorded in a run.
type RunError struct {
	DataType  string `json:"dataType"`
	Bucket    string `json:"bucket,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Message   string `json:"message"`
}

// Bounds of the errors kept in one row: an entity property holds at most 64 KiB, and a cut JSON would read back
// as no errors at all, so whole errors are dropped instead (and counted in a last entry).
const (
	maxRunErrors       = 50
	maxRunErrorMessage = 1000
	maxRunErrorsBytes  = 30000
)

// errorsJSON encodes a run's errors within those bounds: the first maxRunErrors, messages cut at
// maxRunErrorMessage bytes, as many as fit in maxRunErrorsBytes, and "… and N more" for the rest.
func errorsJSON(all []RunError) ([]byte, error) {
	errs := make([]RunError, 0, min(len(all), maxRunErrors))
	for _, e := range all[:min(len(all), maxRunErrors)] {
		e.Message = text.Truncate(e.Message, maxRunErrorMessage)
		errs = append(errs, e)
	}
	for {
		list := errs
		if dropped := len(all) - len(errs); dropped > 0 {
			list = append(errs[:len(errs):len(errs)], RunError{Message: fmt.Sprintf("… and %d more", dropped)})
		}
		b, err := json.Marshal(list)
		if err != nil || len(b) <= maxRunErrorsBytes || len(errs) == 0 {
			return b, err
		}
		errs = errs[:len(errs)-1]
	}
}

// runKey orders a partition's rows newest first.
func runKey(started time.Time, invocation string) string {
	return fmt.Sprintf("%019d-%s", math.MaxInt64-started.UnixNano(), invocation)
}

// AddRun writes one run row (partition = integration).
func (s *Store) AddRun(ctx context.Context, r *Run) error {
	dt, err := json.Marshal(r.DataTypes)
	if err != nil {
		return err
	}
	eb, err := errorsJSON(r.Errors)
	if err != nil {
		return err
	}
	e := aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: r.Integration, RowKey: runKey(r.Started, r.Invocation)},
		Properties: map[string]any{
			"Family": r.Family, "Invocation": r.Invocation, "Reason": r.Reason, "Outcome": r.Outcome,
			"Started": aztables.EDMDateTime(r.Started.UTC()), "Finished": aztables.EDMDateTime(r.Finished.UTC()),
			"DurationMs": aztables.EDMInt64(r.Finished.Sub(r.Started).Milliseconds()),
			"Requests":   aztables.EDMInt64(r.Requests), "Throttled": aztables.EDMInt64(r.Throttled), "Retries": aztables.EDMInt64(r.Retries),
			"Pages": int32(r.Pages), "Records": int32(r.Records), "Parts": int32(r.Parts), "Continued": r.Continued,
			"DataTypes": string(dt), "Errors": string(eb), "ErrorCount": int32(len(r.Errors)),
		},
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := s.runs.AddEntity(ctx, b, nil); err != nil {
		return fmt.Errorf("write run of %s/%s: %w", r.Integration, r.Family, err)
	}
	return nil
}

// Runs returns the newest runs of an integration, at most limit.
func (s *Store) Runs(ctx context.Context, integration string, limit int) ([]Run, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", escape(integration))
	top := int32(min(limit, 1000))
	pager := s.runs.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []Run
	for pager.More() && len(out) < limit {
		page, err := pager.NextPage(ctx)
		if isStatus(err, 404) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list runs of %s: %w", integration, err)
		}
		for _, b := range page.Entities {
			var e aztables.EDMEntity
			if err := json.Unmarshal(b, &e); err != nil {
				return nil, err
			}
			p := props(e.Properties)
			r := Run{
				Integration: e.PartitionKey, Family: p.str("Family"), Invocation: p.str("Invocation"), Reason: p.str("Reason"),
				Outcome: p.str("Outcome"), Started: p.time("Started"), Finished: p.time("Finished"),
				Requests: p.int("Requests"), Throttled: p.int("Throttled"), Retries: p.int("Retries"),
				Pages: int(p.int("Pages")), Records: int(p.int("Records")), Parts: int(p.int("Parts")),
			}
			r.Continued, _ = e.Properties["Continued"].(bool)
			if s := p.str("DataTypes"); s != "" {
				_ = json.Unmarshal([]byte(s), &r.DataTypes)
			}
			if s := p.str("Errors"); s != "" {
				_ = json.Unmarshal([]byte(s), &r.Errors)
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}
