// Package status assembles the health report that the Status function serves: the handler's version, its
// configuration without secrets, and whether Blob, Table and Queue storage answer.
package status

import (
	"context"
	"html/template"
	"io"
	"time"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/storage"
	"github.com/entra-di/edi/internal/version"
)

// Report is the Status function's answer.
type Report struct {
	Version     string               `json:"version"`
	GeneratedAt time.Time            `json:"generatedAt"`
	Healthy     bool                 `json:"healthy"`
	Config      config.Summary       `json:"config"`
	Storage     storage.Reachability `json:"storage"`
}

// Pinger answers whether the storage services are reachable.
type Pinger interface {
	Ping(ctx context.Context, timeout time.Duration) storage.Reachability
}

// ProbeTimeout bounds each storage probe.
const ProbeTimeout = 5 * time.Second

// Build assembles a report at now.
func Build(ctx context.Context, cfg *config.Config, store Pinger, now time.Time) Report {
	r := Report{
		Version:     version.Version,
		GeneratedAt: now.UTC(),
		Config:      cfg.Summary(),
		Storage:     store.Ping(ctx, ProbeTimeout),
	}
	r.Healthy = r.Storage.OK()
	return r
}

var page = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Entra ID Data Integration — status</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}td,th{padding:.25rem .75rem;text-align:left}
.ok{color:#0a7d2c}.bad{color:#b00020}</style></head><body>
<h1>Entra ID Data Integration</h1>
<p>Version {{.Version}} · generated {{.GeneratedAt.Format "2006-01-02 15:04:05Z07:00"}} ·
{{if .Healthy}}<span class="ok">healthy</span>{{else}}<span class="bad">degraded</span>{{end}}</p>
<h2>Storage</h2>
<table><tr><th>Blob</th><td>{{.Storage.Blob}}</td></tr><tr><th>Table</th><td>{{.Storage.Table}}</td></tr>
<tr><th>Queue</th><td>{{.Storage.Queue}}</td></tr></table>
<h2>Configuration</h2>
<table><tr><th>App root</th><td>{{.Config.AppRoot}}</td></tr><tr><th>Function timeout</th><td>{{.Config.FunctionTimeout}}</td></tr>
<tr><th>Storage</th><td>{{.Config.Storage}}</td></tr><tr><th>Raw container</th><td>{{.Config.RawContainer}}</td></tr>
<tr><th>Log level</th><td>{{.Config.LogLevel}}</td></tr></table>
</body></html>
`))

// HTML renders the report as a page for browsers.
func (r Report) HTML(w io.Writer) error { return page.Execute(w, r) }
