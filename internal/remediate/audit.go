package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/graph"
)

// Entry is one request in the audit trail.
type Entry struct {
	// ID identifies the request (the host's invocation id), and the reply carries it.
	ID string `json:"id"`
	// Time is when the request arrived (the host's clock); Recorded when its entry was written (the instance's
	// clock), which orders requests of the same second.
	Time     time.Time `json:"time"`
	Recorded time.Time `json:"recorded"`
	// Caller is who asked.
	Caller Caller `json:"caller"`
	// Integration is the integration named ("" when the request named none that is valid).
	Integration string  `json:"integration"`
	Action      string  `json:"action"`
	Target      *Target `json:"target,omitempty"`
	Reason      string  `json:"reason,omitempty"`
	Ticket      string  `json:"ticket,omitempty"`
	DryRun      bool    `json:"dryRun"`
	// AllowPrivileged is what the request asked for.
	AllowPrivileged bool   `json:"allowPrivileged,omitempty"`
	UserType        string `json:"userType,omitempty"`
	IdempotencyKey  string `json:"idempotencyKey,omitempty"`
	// Status is the HTTP status answered; Outcome and Message say what happened.
	Status  int    `json:"status"`
	Outcome string `json:"outcome"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	// Plan are the requests that change the tenant, as sent or (dry run) as they would be.
	Plan []Step `json:"plan,omitempty"`
	// Requests are every Graph request the request sent, with Graph's request-id.
	Requests []graph.Exchange `json:"requests"`
	// ReplayOf is the request whose outcome a replay answered.
	ReplayOf string `json:"replayOf,omitempty"`
	// ResumedFrom is the earlier request with the same key whose work this one finished.
	ResumedFrom string `json:"resumedFrom,omitempty"`
}

// AuditOptions name the audit trail's table and container. A nil *AuditOptions means defaults.
type AuditOptions struct {
	// Table is the audit table ("audit", SPEC §6).
	Table string
	// Container holds the daily append blobs ("audit").
	Container string
}

// AuditLog is the audit trail: Table `audit` (rows only ever inserted) and one append blob per day (lines only
// ever appended), each request once in both.
type AuditLog struct {
	svc       *aztables.ServiceClient
	table     *aztables.Client
	tableName string
	container *container.Client
}

// NewAuditLog returns the audit trail on the app's storage. It makes no network call.
func NewAuditLog(tables *aztables.ServiceClient, blobs *azblob.Client, opts *AuditOptions) *AuditLog {
	o := AuditOptions{Table: "audit", Container: "audit"}
	if opts != nil {
		if opts.Table != "" {
			o.Table = opts.Table
		}
		if opts.Container != "" {
			o.Container = opts.Container
		}
	}
	return &AuditLog{svc: tables, table: tables.NewClient(o.Table), tableName: o.Table, container: blobs.ServiceClient().NewContainerClient(o.Container)}
}

// Ensure creates the table and the container if needed.
func (l *AuditLog) Ensure(ctx context.Context) error {
	if _, err := l.svc.CreateTable(ctx, l.tableName, nil); err != nil && !tableExists(err) {
		return fmt.Errorf("create table %s: %w", l.tableName, err)
	}
	if _, err := l.container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create audit container: %w", err)
	}
	return nil
}

// BlobName is the name of the day's audit blob.
func BlobName(day time.Time) string {
	return "remediation/date=" + day.UTC().Format(time.DateOnly) + "/audit.ndjson"
}

const (
	rowTimeFormat = "20060102T150405.000000000Z"
	noIntegration = "-"
	// maxDocument keeps an entry's JSON within a table property (64 KiB of UTF-16).
	maxDocument = 30000
)

func partitionOf(e *Entry) string {
	if e.Integration == "" {
		return noIntegration
	}
	return e.Integration
}

func rowKey(e *Entry) string { return e.Time.UTC().Format(rowTimeFormat) + "_" + e.ID }

// Append writes an entry to the table and to the day's blob. A retried Append writes nothing twice: the row is
// inserted only (a conflict means it is there), and the line is appended at the blob's end only if the lines
// after where it was to go do not already hold it.
func (l *AuditLog) Append(ctx context.Context, e *Entry) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if len(doc) > maxDocument {
		trimmed := *e
		trimmed.Requests = nil
		trimmed.Plan = nil
		trimmed.Message += fmt.Sprintf(" (%d Graph requests and the plan left out: the entry was too large)", len(e.Requests))
		if doc, err = json.Marshal(&trimmed); err != nil {
			return err
		}
	}
	row, err := json.Marshal(aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: partitionOf(e), RowKey: rowKey(e)},
		Properties: map[string]any{
			"Action": e.Action, "Outcome": e.Outcome, "Status": int32(e.Status), "DryRun": e.DryRun,
			"CallerName": e.Caller.Name, "CallerObjectId": e.Caller.ObjectID, "Target": targetID(e),
			"Time": aztables.EDMDateTime(e.Time.UTC()), "Document": string(doc),
		},
	})
	if err != nil {
		return err
	}
	_, err = l.table.AddEntity(ctx, row, nil)
	switch {
	case isStatus(err, http.StatusConflict):
		// The row is there: an earlier Append of this entry got that far, and maybe further.
		if has, err := l.blobHas(ctx, BlobName(e.Time), e.ID); err != nil || has {
			return err
		}
	case err != nil:
		return fmt.Errorf("audit table: %w", err)
	}
	if err := l.appendLine(ctx, BlobName(e.Time), e.ID, append(doc, '\n')); err != nil {
		return fmt.Errorf("audit blob: %w", err)
	}
	return nil
}

func targetID(e *Entry) string {
	switch {
	case e.Target == nil:
		return ""
	case e.Target.User != nil:
		return e.Target.ID
	}
	return e.Target.Requested
}

// appendLine appends line to the append blob name, creating it if needed. It appends at the end it saw; if the
// blob grew meanwhile (another writer, or an earlier try of this very append whose answer was lost), it looks for
// the entry in what was added before trying again.
func (l *AuditLog) appendLine(ctx context.Context, name, id string, line []byte) error {
	ab := l.container.NewAppendBlobClient(name)
	_, err := ab.Create(ctx, &appendblob.CreateOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/x-ndjson")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) && !isStatus(err, http.StatusConflict, http.StatusPreconditionFailed) {
		return err
	}
	marker := entryMarker(id)
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		if attempt > 0 {
			// Someone else appended first: each round lets at least one writer through.
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(min(attempt, 20))*int64(5*time.Millisecond)))); err != nil {
				return err
			}
		}
		props, err := ab.GetProperties(ctx, nil)
		if err != nil {
			return err
		}
		end := int64(0)
		if props.ContentLength != nil {
			end = *props.ContentLength
		}
		_, err = ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(line)), &appendblob.AppendBlockOptions{
			AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: &end},
		})
		if err == nil {
			return nil
		}
		if !bloberror.HasCode(err, bloberror.AppendPositionConditionNotMet) {
			return err
		}
		tail, err := ab.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: end}})
		if err != nil {
			return err
		}
		added, err := io.ReadAll(tail.Body)
		_ = tail.Body.Close()
		if err != nil {
			return err
		}
		if bytes.Contains(added, marker) {
			return nil
		}
	}
	return errors.New("the audit blob kept growing under concurrent appends")
}

// maxAppendAttempts bounds the appends one entry tries while others keep appending first.
const maxAppendAttempts = 100

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// entryMarker is how an entry's line starts: its id is the first field.
func entryMarker(id string) []byte { return []byte(`{"id":` + quoteJSON(id) + `,`) }

// blobHas reports whether the day's blob holds the entry.
func (l *AuditLog) blobHas(ctx context.Context, name, id string) (bool, error) {
	resp, err := l.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit blob: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("audit blob: %w", err)
	}
	return bytes.Contains(b, entryMarker(id)), nil
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Query returns the entries of an integration ("" for every integration) whose time is in [from, until), oldest
// first; with more than limit, the newest limit.
func (l *AuditLog) Query(ctx context.Context, integration string, from, until time.Time, limit int) ([]Entry, error) {
	filter := fmt.Sprintf("RowKey ge '%s' and RowKey lt '%s'", from.UTC().Format(rowTimeFormat), until.UTC().Format(rowTimeFormat))
	if integration != "" {
		filter = fmt.Sprintf("PartitionKey eq '%s' and ", strings.ReplaceAll(integration, "'", "''")) + filter
	}
	pager := l.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: to.Ptr("Document")})
	var out []Entry
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isStatus(err, http.StatusNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit table: %w", err)
		}
		for _, raw := range page.Entities {
			var row struct {
				Document string `json:"Document"`
			}
			var e Entry
			if json.Unmarshal(raw, &row) != nil || json.Unmarshal([]byte(row.Document), &e) != nil {
				return nil, fmt.Errorf("audit table: an entry that is not an audit document")
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		if !out[i].Recorded.Equal(out[j].Recorded) {
			return out[i].Recorded.Before(out[j].Recorded)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func isStatus(err error, codes ...int) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.StatusCode == c {
			return true
		}
	}
	return false
}

func tableExists(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(aztables.TableAlreadyExists)
}
