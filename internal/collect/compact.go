package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/logging"
)

// Compactor is what compaction needs of the archive (archive.Store).
type Compactor interface {
	CompactDay(ctx context.Context, integration, dataType string, day time.Time, o archive.CompactOptions) (archive.CompactStats, error)
}

// ClosedBefore is the end of the last UTC day whose every bucket of dt is past its last re-sweep at now: a bucket
// ending at e is read for the last time once now ≥ e + Lag and e + the longest re-sweep (plan.go).
func ClosedBefore(dt catalog.DataType, now time.Time, o Options) time.Time {
	o = o.withDefaults()
	last := o.Lag
	if len(o.Resweeps) > 0 {
		last = max(last, slices.Max(o.Resweeps))
	}
	// The day's last bucket ends at the day's end; one bucket more for the floor() of the re-sweep horizon.
	return now.Add(-last - dt.Buckets.Bucket).UTC().Truncate(24 * time.Hour)
}

// Compact merges the closed days of every log data type of the integrations (the days of the backfill window
// before ClosedBefore) into one part per hour; days already compacted cost one listing. It goes on after a data
// type's error and returns the errors joined.
func Compact(ctx context.Context, a Compactor, integrationIDs []string, now time.Time, o Options) (archive.CompactStats, error) {
	o = o.withDefaults()
	var total archive.CompactStats
	var errs []error
	for _, id := range integrationIDs {
		for _, dt := range catalog.InMode(catalog.Buckets) {
			end := ClosedBefore(dt, now, o)
			for day := end.Add(-time.Duration(o.BackfillDays+1) * 24 * time.Hour); day.Before(end); day = day.Add(24 * time.Hour) {
				if err := ctx.Err(); err != nil {
					return total, err
				}
				st, err := a.CompactDay(ctx, id, dt.Name, day, archive.CompactOptions{DedupKey: dt.DedupKey, TimeField: dt.Buckets.TimeField, VersionField: dt.VersionField})
				total.Hours += st.Hours
				total.Inputs += st.Inputs
				total.Records += st.Records
				total.Deleted += st.Deleted
				total.Duplicates += st.Duplicates
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s %s: %w", id, dt.Name, day.Format("2006-01-02"), err))
					break
				}
				if st.Hours > 0 {
					logging.From(ctx).Info("compacted", "integration", id, "data_type", dt.Name, "day", day.Format("2006-01-02"),
						"hours", st.Hours, "inputs", st.Inputs, "records", st.Records)
				}
			}
		}
	}
	return total, errors.Join(errs...)
}
