// Package status assembles the health report that the Status function serves: the handler's version, its
// configuration without secrets, whether Blob, Table and Queue storage answer, and for every integration and data
// type what has been archived, what is still to do, and the last error.
package status

import (
	"context"
	"html/template"
	"io"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/storage"
	"github.com/entra-di/edi/internal/version"
)

// Report is the Status function's answer.
type Report struct {
	Version      string               `json:"version"`
	GeneratedAt  time.Time            `json:"generatedAt"`
	Healthy      bool                 `json:"healthy"`
	Config       config.Summary       `json:"config"`
	Storage      storage.Reachability `json:"storage"`
	Integrations []Integration        `json:"integrations"`
	Problems     []string             `json:"problems,omitempty"`
}

// Integration is one integration's collection state.
type Integration struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	Source   string `json:"source"`
	Mode     string `json:"mode"`
	// Connectivity is the last connectivity test's verdict (nil before the first).
	Connectivity *Connectivity `json:"connectivity,omitempty"`
	DataTypes    []DataType    `json:"dataTypes"`
	Runs         []cursor.Run  `json:"recentRuns"`
}

// Connectivity is the verdict of an integration's last connectivity test.
type Connectivity struct {
	State    string    `json:"state"`
	Message  string    `json:"message"`
	Code     string    `json:"code,omitempty"`
	TestedAt time.Time `json:"testedAt"`
}

// DataType is one data type's collection state.
type DataType struct {
	Name string `json:"dataType"`
	// Mode is buckets, delta or snapshot.
	Mode string `json:"mode"`
	// Connectivity is the data type's outcome in the last connectivity test ("ok", "not-licensed: entraP1P2", …).
	Connectivity string `json:"connectivity,omitempty"`
	// Collected says whether the integration collects the data type, and Why.
	Collected bool   `json:"collected"`
	Why       string `json:"why"`
	// State is ok, not-licensed, missing-permission, error, or "not started".
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// ArchivedFrom and ArchivedTo bound the archived buckets; LastBucket is the newest one's start.
	ArchivedFrom   *time.Time `json:"archivedFrom,omitempty"`
	ArchivedTo     *time.Time `json:"archivedTo,omitempty"`
	LastBucket     *time.Time `json:"lastBucket,omitempty"`
	BackfillTarget *time.Time `json:"backfillTarget,omitempty"`
	BacklogBuckets int        `json:"backlogBuckets"`
	Records        int64      `json:"records"`
	Parts          int64      `json:"parts"`
	LastSuccess    *time.Time `json:"lastSuccess,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
	LastErrorAt    *time.Time `json:"lastErrorAt,omitempty"`
	SkipUntil      *time.Time `json:"skipUntil,omitempty"`

	// Delta and snapshot data types: the last finished round and the last full one, the objects of the last full
	// round and the changes archived since, the age of the deltaLink, when the next full read is due, and a round
	// in progress (its start).
	LastRound       *time.Time `json:"lastRound,omitempty"`
	LastFull        *time.Time `json:"lastFull,omitempty"`
	Objects         int64      `json:"objects,omitempty"`
	Changes         int64      `json:"changes,omitempty"`
	DeltaLinkAge    string     `json:"deltaLinkAge,omitempty"`
	NextFull        *time.Time `json:"nextFull,omitempty"`
	RoundInProgress *time.Time `json:"roundInProgress,omitempty"`
	Resync          string     `json:"resync,omitempty"`
}

// Pinger answers whether the storage services are reachable.
type Pinger interface {
	Ping(ctx context.Context, timeout time.Duration) storage.Reachability
}

// Sources are where the report's collection state comes from; nil fields are left out of the report.
type Sources struct {
	Integrations *integrations.Store
	Cursors      *cursor.Store
	// Statuses, when set, add each integration's last connectivity test.
	Statuses *connect.Statuses
	Collect  collect.Options
}

// ProbeTimeout bounds each storage probe.
const ProbeTimeout = 5 * time.Second

// RecentRuns is how many runs per integration the report shows.
const RecentRuns = 5

// Build assembles a report at now (the data clock).
func Build(ctx context.Context, cfg *config.Config, store Pinger, src Sources, now time.Time) Report {
	r := Report{
		Version:      version.Version,
		GeneratedAt:  now.UTC(),
		Config:       cfg.Summary(),
		Storage:      store.Ping(ctx, ProbeTimeout),
		Integrations: []Integration{},
	}
	r.Healthy = r.Storage.OK()
	if !r.Healthy || src.Integrations == nil || src.Cursors == nil {
		return r
	}
	list, bad, err := src.Integrations.List(ctx)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	for _, e := range bad {
		r.Problems = append(r.Problems, e.Error())
	}
	for _, integ := range list {
		ri := Integration{ID: integ.ID, Name: integ.Name, TenantID: integ.TenantID, ClientID: integ.ClientID, Source: integ.Source,
			Mode: string(integ.DataMode())}
		if src.Statuses != nil {
			res, err := src.Statuses.Get(ctx, integ.ID)
			if err != nil {
				r.Problems = append(r.Problems, err.Error())
			} else if res != nil {
				ri.Connectivity = &Connectivity{State: string(res.State), Message: res.Message, Code: res.Code, TestedAt: res.TestedAt}
			}
		}
		cursors, err := src.Cursors.List(ctx, integ.ID)
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		premium := integ.Licence(catalog.EntraP1P2) != integrations.No
		for _, dt := range catalog.DataTypes {
			d := DataType{Name: dt.Name, Mode: string(dt.Mode()), State: "not started"}
			d.Collected, d.Why = integ.Collects(dt)
			if integ.LastTest != nil {
				d.Connectivity = integ.LastTest.DataTypes[dt.Name]
			}
			for _, c := range cursors {
				if c.DataType == dt.Name {
					fill(&d, c, dt, now, premium, src.Collect)
				}
			}
			ri.DataTypes = append(ri.DataTypes, d)
		}
		if ri.Runs, err = src.Cursors.Runs(ctx, integ.ID, RecentRuns); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		r.Integrations = append(r.Integrations, ri)
	}
	return r
}

func fill(d *DataType, c *cursor.Cursor, dt catalog.DataType, now time.Time, premium bool, o collect.Options) {
	if c.State != "" {
		d.State = c.State
	}
	d.Detail, d.Records, d.Parts, d.LastError = c.Detail, c.Records, c.Parts, c.LastError
	d.LastSuccess, d.LastErrorAt, d.SkipUntil = ptr(c.LastSuccess), ptr(c.LastErrorAt), ptr(c.SkipUntil)
	if dt.Mode() != catalog.Buckets {
		fillRounds(d, c, dt, now, o)
		return
	}
	if c.Started() {
		d.ArchivedFrom, d.ArchivedTo, d.BackfillTarget = ptr(c.Low), ptr(c.High), ptr(c.Target)
		if c.High.After(c.Low) {
			d.LastBucket = ptr(c.High.Add(-dt.Buckets.Bucket))
		}
		d.BacklogBuckets = collect.Backlog(c, dt, now, premium, o)
	}
}

// fillRounds describes a delta or snapshot data type's rounds.
func fillRounds(d *DataType, c *cursor.Cursor, dt catalog.DataType, now time.Time, o collect.Options) {
	d.LastRound, d.LastFull, d.Objects, d.Changes, d.Resync = ptr(c.LastRound), ptr(c.LastFull), c.Objects, c.Changes, c.Resync
	if c.InRound() {
		d.RoundInProgress = ptr(c.Round.Start)
	}
	every := time.Duration(0)
	switch {
	case dt.Snapshot != nil:
		every = dt.Snapshot.Every
	case o.FullEvery > 0:
		every = o.FullEvery
	default:
		every = dt.Delta.FullEvery
	}
	if !c.LastFull.IsZero() {
		d.NextFull = ptr(c.LastFull.Add(every))
	}
	if c.DeltaLink != "" && !c.DeltaAt.IsZero() {
		d.DeltaLinkAge = now.Sub(c.DeltaAt).Round(time.Second).String()
	}
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"t": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04Z")
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Entra ID Data Integration — status</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}td,th{padding:.25rem .75rem;text-align:left;vertical-align:top}
.ok{color:#0a7d2c}.bad{color:#b00020}table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style></head><body>
<h1>Entra ID Data Integration</h1>
<p>Version {{.Version}} · generated {{.GeneratedAt.Format "2006-01-02 15:04:05Z07:00"}} ·
{{if .Healthy}}<span class="ok">healthy</span>{{else}}<span class="bad">degraded</span>{{end}}</p>
<h2>Storage</h2>
<table><tr><th>Blob</th><td>{{.Storage.Blob}}</td></tr><tr><th>Table</th><td>{{.Storage.Table}}</td></tr>
<tr><th>Queue</th><td>{{.Storage.Queue}}</td></tr></table>
{{range .Integrations}}
<h2>Integration {{.Name}} <small>({{.ID}}, tenant {{.TenantID}}, app {{.ClientID}}, from {{.Source}}, {{.Mode}} mode)</small></h2>
{{with .Connectivity}}<p>Connectivity: <span class="{{if eq .State "Connected"}}ok{{else}}bad{{end}}">{{.State}}</span> — {{.Message}} <small>(tested {{.TestedAt.Format "2006-01-02 15:04Z"}})</small></p>{{else}}<p>Connectivity: not tested yet.</p>{{end}}
<table><tr><th>data type</th><th>mode</th><th>connectivity</th><th>collected</th><th>state</th><th>archived from / last full read</th><th>archived to / last round</th><th>backlog (buckets) / objects</th><th>records</th><th>parts</th><th>last error</th></tr>
{{range .DataTypes}}<tr><td>{{.Name}}</td><td>{{.Mode}}</td><td>{{or .Connectivity "—"}}</td><td title="{{.Why}}">{{if .Collected}}yes{{else}}no{{end}}</td><td>{{.State}}{{if .Detail}}: {{.Detail}}{{end}}{{if .Resync}} ({{.Resync}}){{end}}</td>
{{if eq .Mode "buckets"}}<td>{{t .ArchivedFrom}}</td><td>{{t .ArchivedTo}}</td><td>{{.BacklogBuckets}}</td>
{{else}}<td>{{t .LastFull}}{{if .NextFull}} (next {{t .NextFull}}){{end}}</td><td>{{t .LastRound}}{{if .DeltaLinkAge}} (deltaLink {{.DeltaLinkAge}} old){{end}}{{if .RoundInProgress}}; round since {{t .RoundInProgress}}{{end}}</td><td>{{.Objects}} (+{{.Changes}} changes)</td>{{end}}
<td>{{.Records}}</td><td>{{.Parts}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>
{{end}}
{{range .Problems}}<p class="bad">{{.}}</p>{{end}}
<h2>Configuration</h2>
<table><tr><th>App root</th><td>{{.Config.AppRoot}}</td></tr><tr><th>Function timeout</th><td>{{.Config.FunctionTimeout}}</td></tr>
<tr><th>Storage</th><td>{{.Config.Storage}}</td></tr><tr><th>Raw container</th><td>{{.Config.RawContainer}}</td></tr>
<tr><th>Key Vault</th><td>{{.Config.KeyVault}}</td></tr><tr><th>Graph</th><td>{{.Config.GraphEndpoint}}</td></tr>
<tr><th>Log level</th><td>{{.Config.LogLevel}}</td></tr></table>
</body></html>
`))

// HTML renders the report as a page for browsers.
func (r Report) HTML(w io.Writer) error { return page.Execute(w, r) }
