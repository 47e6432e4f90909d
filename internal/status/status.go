// Package status assembles the health report that the Status function serves: the handler's version, its
// configuration without secrets, whether Blob, Table and Queue storage answer, and for every integration its
// connectivity and client secret, every data type's collection state (archived range or last round, lag behind now,
// backlog, records today, last error with its Graph request id), its recent runs, what needs attention (alerts),
// and its latest identity insights. The report is JSON for API clients and one server-rendered HTML page for
// browsers (page.go), carrying the same facts.
package status

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/expiry"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/storage"
	"github.com/entra-di/edi/internal/stream"
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
	// Alerts is everything that needs attention, errors first: each integration's alerts and storage problems.
	Alerts   []Alert  `json:"alerts"`
	Problems []string `json:"problems,omitempty"`
}

// Integration is one integration's state.
type Integration struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	Source   string `json:"source"`
	// Mode is the data-type mode: managed (what the last test found collectable) or custom.
	Mode string `json:"mode"`
	// Connectivity is the last connectivity test (nil when none is known).
	Connectivity *Connectivity `json:"connectivity,omitempty"`
	// Secret is the client secret's expiry as the daily check found it (nil when unknown).
	Secret    *Secret      `json:"secret,omitempty"`
	DataTypes []DataType   `json:"dataTypes"`
	Runs      []cursor.Run `json:"recentRuns"`
	Alerts    []Alert      `json:"alerts"`
	// Insights is the newest day's identity insights (nil before the first computation).
	Insights *insights.Report `json:"insights,omitempty"`
}

// Connectivity is the verdict of an integration's last connectivity test (SPEC §3).
type Connectivity struct {
	// State is "Connected" or a named failure ("Invalid credentials", "Secret expired", "Missing permissions", …).
	State   string `json:"state"`
	Message string `json:"message"`
	// Code is the AADSTS code of a token failure.
	Code     string    `json:"code,omitempty"`
	TestedAt time.Time `json:"testedAt"`
	// DataTypes is each data type's outcome: ok, missing-permission: <names>, not-licensed: <licence>,
	// not-available, error: <text>.
	DataTypes map[string]string `json:"dataTypes,omitempty"`
}

// Connected is the connectivity state of a working integration.
const Connected = "Connected"

// Secret is the integration's client secret as the expiry check found it (SPEC §8).
type Secret struct {
	SecretID string `json:"secretId,omitempty"`
	// Expires is the earlier of the app registration's credential end and the Key Vault secret's expires.
	Expires *time.Time `json:"expires,omitempty"`
	// DaysLeft is whole days from the report's time to Expires (negative once expired); set by Build.
	DaysLeft *int `json:"daysLeft,omitempty"`
	// Problem is what the check could not establish or found wrong ("secret deleted in Entra", "no secret:
	// federated credential").
	Problem   string     `json:"problem,omitempty"`
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
	// LastAlert is the last expiry notification sent.
	LastAlert *SecretAlert `json:"lastAlert,omitempty"`
}

// SecretAlert is one sent expiry notification.
type SecretAlert struct {
	// Threshold is the threshold it was sent for ("90", "30", …, "expired").
	Threshold string    `json:"threshold"`
	SentAt    time.Time `json:"sentAt"`
}

// SecretWarningDays: a secret expiring within this many days puts a warning banner on the page.
const SecretWarningDays = 30

// DataType is one data type's collection state.
type DataType struct {
	Name string `json:"dataType"`
	// Mode is buckets, delta or snapshot.
	Mode string `json:"mode"`
	// Connectivity is the data type's outcome in the last connectivity test ("" when unknown).
	Connectivity string `json:"connectivity,omitempty"`
	// Collected says whether the integration collects the data type, and Why.
	Collected bool   `json:"collected"`
	Why       string `json:"why"`
	// State is ok, not-licensed, missing-permission, not-available, error, or "not started".
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// ArchivedFrom and ArchivedTo bound the archived buckets; LastBucket is the newest one's start.
	ArchivedFrom   *time.Time `json:"archivedFrom,omitempty"`
	ArchivedTo     *time.Time `json:"archivedTo,omitempty"`
	LastBucket     *time.Time `json:"lastBucket,omitempty"`
	BackfillTarget *time.Time `json:"backfillTarget,omitempty"`
	BacklogBuckets int        `json:"backlogBuckets"`
	// LagSeconds is how far the data is behind the report's time: the end of the archived range (buckets) or the
	// start of the last finished round (delta, snapshot); nil before any.
	LagSeconds *int64 `json:"lagSeconds,omitempty"`
	Records    int64  `json:"records"`
	// RecordsToday counts the records archived since 00:00 UTC of the report's day.
	RecordsToday int64      `json:"recordsToday"`
	Parts        int64      `json:"parts"`
	LastSuccess  *time.Time `json:"lastSuccess,omitempty"`
	LastError    string     `json:"lastError,omitempty"`
	LastErrorAt  *time.Time `json:"lastErrorAt,omitempty"`
	// LastRequestID is the Graph request id of the last failure, for Microsoft support.
	LastRequestID string     `json:"lastRequestId,omitempty"`
	SkipUntil     *time.Time `json:"skipUntil,omitempty"`

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

	// Data types that Event Hubs delivers too (StreamEvents): StreamRecords are the records the stream archived
	// and LastStreamed the newest event time among them; Streaming is true while that is within
	// COLLECT_STREAM_WINDOW, when Graph only fills the stream's gaps; GraphFilled counts the records Graph archived
	// that the stream had not (of Records, the Graph-archived ones).
	Streaming     bool       `json:"streaming,omitempty"`
	StreamRecords int64      `json:"streamRecords,omitempty"`
	LastStreamed  *time.Time `json:"lastStreamed,omitempty"`
	GraphFilled   int64      `json:"graphFilled,omitempty"`
}

// Alert is something that needs attention.
type Alert struct {
	Severity    Severity `json:"severity"`
	Integration string   `json:"integration,omitempty"`
	Message     string   `json:"message"`
}

// Severity is how urgent an alert is.
type Severity string

// Severities, the more urgent first.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Pinger answers whether the storage services are reachable.
type Pinger interface {
	Ping(ctx context.Context, timeout time.Duration) storage.Reachability
}

// ConnectivitySource gives an integration's last connectivity test (nil, nil when it was never tested).
type ConnectivitySource interface {
	Connectivity(ctx context.Context, integration string) (*Connectivity, error)
}

// ConnectivityTests reads the connectivity tests' table (internal/connect) as a ConnectivitySource.
func ConnectivityTests(s *connect.Statuses) ConnectivitySource { return connectivityTests{s} }

type connectivityTests struct{ s *connect.Statuses }

func (c connectivityTests) Connectivity(ctx context.Context, integration string) (*Connectivity, error) {
	res, err := c.s.Get(ctx, integration)
	if err != nil || res == nil {
		return nil, err
	}
	out := &Connectivity{State: string(res.State), Message: res.Message, Code: res.Code, TestedAt: res.TestedAt}
	if len(res.DataTypes) > 0 {
		out.DataTypes = make(map[string]string, len(res.DataTypes))
		for _, d := range res.DataTypes {
			out.DataTypes[d.DataType] = d.Outcome
		}
	}
	return out, nil
}

// SecretChecks reads the expiry check's results (internal/expiry, the alerts table) as a SecretSource.
func SecretChecks(a *expiry.Alerts) SecretSource { return secretChecks{a} }

type secretChecks struct{ a *expiry.Alerts }

func (s secretChecks) Secret(ctx context.Context, integration string) (*Secret, error) {
	r, err := s.a.GetResult(ctx, integration)
	if err != nil || r == nil {
		return nil, err
	}
	checked := r.CheckedAt
	out := &Secret{SecretID: r.SecretID, Expires: r.Expires, Problem: r.Problem, CheckedAt: &checked}
	if r.LastAlert != nil {
		out.LastAlert = &SecretAlert{Threshold: r.LastAlert.Threshold, SentAt: r.LastAlert.SentAt}
	}
	return out, nil
}

// SecretSource gives an integration's client secret expiry as the daily check found it (nil, nil when unknown).
type SecretSource interface {
	Secret(ctx context.Context, integration string) (*Secret, error)
}

// Sources are where the report's facts come from; nil fields are left out of the report.
type Sources struct {
	Integrations *integrations.Store
	Cursors      *cursor.Store
	Collect      collect.Options
	// Insights reads each integration's newest insights document.
	Insights insights.Documents
	// Connectivity and Secrets give the connectivity test and the secret expiry.
	Connectivity ConnectivitySource
	Secrets      SecretSource
	// Streams say what StreamEvents archived of each data type.
	Streams collect.StreamActivity
}

// ProbeTimeout bounds each storage probe.
const ProbeTimeout = 5 * time.Second

// RecentRuns is how many runs per integration the report shows.
const RecentRuns = 5

// Concurrency bounds the integrations read at once.
const Concurrency = 8

// Staleness at which a data type is reported as falling behind.
const (
	// BucketsBehind: a log stream whose archive ends this long before now is not keeping up (normally the lag plus
	// one bucket, well under an hour).
	BucketsBehind = 2 * time.Hour
	// RoundsBehind: a delta or snapshot data type whose last round is this old has missed its daily reads.
	RoundsBehind = 48 * time.Hour
)

// Build assembles a report at now (the data clock).
func Build(ctx context.Context, cfg *config.Config, store Pinger, src Sources, now time.Time) Report {
	r := Report{
		Version:      version.Version,
		GeneratedAt:  now.UTC(),
		Config:       cfg.Summary(),
		Storage:      store.Ping(ctx, ProbeTimeout),
		Integrations: []Integration{},
		Alerts:       []Alert{},
	}
	r.Healthy = r.Storage.OK()
	if !r.Healthy {
		r.Alerts = append(r.Alerts, Alert{Severity: Error, Message: fmt.Sprintf("storage unreachable: blob %s, table %s, queue %s", r.Storage.Blob, r.Storage.Table, r.Storage.Queue)})
	}
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
	r.Integrations = make([]Integration, len(list))
	var mu sync.Mutex
	problem := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		r.Problems = append(r.Problems, err.Error())
	}
	g := errgroup.Group{}
	g.SetLimit(Concurrency)
	for n, integ := range list {
		g.Go(func() error {
			r.Integrations[n] = integration(ctx, integ, src, now, problem)
			return nil
		})
	}
	_ = g.Wait()
	for _, i := range r.Integrations {
		r.Alerts = append(r.Alerts, i.Alerts...)
	}
	slices.SortStableFunc(r.Alerts, func(a, b Alert) int { return cmp.Compare(rank(a.Severity), rank(b.Severity)) })
	slices.Sort(r.Problems)
	return r
}

func rank(s Severity) int {
	if s == Error {
		return 0
	}
	return 1
}

// integration reads one integration's state; what cannot be read is reported through problem.
func integration(ctx context.Context, integ integrations.Integration, src Sources, now time.Time, problem func(error)) Integration {
	ri := Integration{ID: integ.ID, Name: integ.Name, TenantID: integ.TenantID, ClientID: integ.ClientID, Source: integ.Source,
		Mode: string(integ.DataMode()), Runs: []cursor.Run{}, Alerts: []Alert{}}
	if src.Connectivity != nil {
		c, err := src.Connectivity.Connectivity(ctx, integ.ID)
		if err != nil {
			problem(err)
		}
		ri.Connectivity = c
	}
	if src.Secrets != nil {
		s, err := src.Secrets.Secret(ctx, integ.ID)
		if err != nil {
			problem(err)
		}
		if s != nil && s.Expires != nil {
			days := daysLeft(*s.Expires, now)
			s.DaysLeft = &days
		}
		ri.Secret = s
	}
	cursors, err := src.Cursors.List(ctx, integ.ID)
	if err != nil {
		problem(err)
	}
	var streamed map[string]stream.DataTypeActivity
	if src.Streams != nil {
		if streamed, err = src.Streams.Read(ctx, integ.ID); err != nil {
			problem(err)
		}
	}
	premium := integ.Licence(catalog.EntraP1P2) != integrations.No
	for _, dt := range catalog.DataTypes {
		d := DataType{Name: dt.Name, Mode: string(dt.Mode()), State: "not started"}
		d.Collected, d.Why = integ.Collects(dt)
		if ri.Connectivity != nil {
			d.Connectivity = ri.Connectivity.DataTypes[dt.Name]
		} else if integ.LastTest != nil {
			d.Connectivity = integ.LastTest.DataTypes[dt.Name]
		}
		for _, c := range cursors {
			if c.DataType == dt.Name {
				fill(&d, c, dt, now, premium, src.Collect)
			}
		}
		if a, ok := streamed[dt.Name]; ok {
			d.StreamRecords, d.LastStreamed = a.Records, ptr(a.LastEvent)
			d.Streaming = dt.Mode() == catalog.Buckets && src.Collect.Streaming(a.LastEvent, now)
		}
		ri.DataTypes = append(ri.DataTypes, d)
	}
	runs, err := src.Cursors.Runs(ctx, integ.ID, RecentRuns)
	if err != nil {
		problem(err)
	}
	if runs != nil {
		ri.Runs = runs
	}
	if src.Insights != nil {
		if ri.Insights, err = insights.Latest(ctx, src.Insights, integ.ID); err != nil {
			problem(err)
		}
	}
	ri.Alerts = alerts(&ri, now)
	return ri
}

// daysLeft is the whole days from now until t: 0 on the last day, negative once past.
func daysLeft(t, now time.Time) int {
	d := t.Sub(now)
	if d < 0 {
		return -int((-d + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return int(d / (24 * time.Hour))
}

// alerts lists what needs attention in an integration, errors first.
func alerts(i *Integration, now time.Time) []Alert {
	var out []Alert
	add := func(s Severity, format string, args ...any) {
		out = append(out, Alert{Severity: s, Integration: i.ID, Message: fmt.Sprintf(format, args...)})
	}
	if c := i.Connectivity; c != nil && c.State != Connected {
		add(Error, "connectivity: %s — %s", c.State, c.Message)
	}
	if s := i.Secret; s != nil {
		switch {
		case s.Problem != "":
			add(Error, "client secret: %s", s.Problem)
		case s.DaysLeft != nil && *s.DaysLeft < 0:
			add(Error, "client secret expired on %s: collection stops until the credentials are reset", s.Expires.UTC().Format("2006-01-02"))
		case s.DaysLeft != nil && *s.DaysLeft <= SecretWarningDays:
			add(Warning, "client secret expires in %d days (%s)", *s.DaysLeft, s.Expires.UTC().Format("2006-01-02"))
		}
	}
	for _, d := range i.DataTypes {
		switch {
		case d.State == cursor.StateError:
			// The last error names the data type, the window and Graph's request id.
			add(Error, "%s", cmp.Or(d.LastError, d.Name+": failed"))
		case d.LagSeconds == nil || d.State != cursor.StateOK:
		case d.Mode == string(catalog.Buckets) && time.Duration(*d.LagSeconds)*time.Second > BucketsBehind:
			add(Warning, "%s is %s behind", d.Name, Duration(*d.LagSeconds))
		case d.Mode != string(catalog.Buckets) && time.Duration(*d.LagSeconds)*time.Second > RoundsBehind:
			add(Warning, "%s: last round %s ago", d.Name, Duration(*d.LagSeconds))
		}
	}
	if in := i.Insights; in != nil && in.MFA.AdminsWithoutMFA > 0 {
		add(Warning, "%d admins without MFA (insights of %s)", in.MFA.AdminsWithoutMFA, in.Date)
	}
	slices.SortStableFunc(out, func(a, b Alert) int { return cmp.Compare(rank(a.Severity), rank(b.Severity)) })
	if out == nil {
		out = []Alert{}
	}
	return out
}

func fill(d *DataType, c *cursor.Cursor, dt catalog.DataType, now time.Time, premium bool, o collect.Options) {
	if c.State != "" {
		d.State = c.State
	}
	d.Detail, d.Records, d.Parts, d.LastError, d.LastRequestID = c.Detail, c.Records, c.Parts, c.LastError, c.LastRequestID
	d.GraphFilled = c.Filled
	d.RecordsToday = c.RecordsOn(now)
	d.LastSuccess, d.LastErrorAt, d.SkipUntil = ptr(c.LastSuccess), ptr(c.LastErrorAt), ptr(c.SkipUntil)
	switch dt.Mode() {
	case catalog.Delta, catalog.Snapshot:
		fillRounds(d, c, dt, now, o)
		return
	case catalog.Stream:
		return // streamed only: its parts are counted by StreamEvents, it has no range or rounds
	}
	if c.Started() {
		d.ArchivedFrom, d.ArchivedTo, d.BackfillTarget = ptr(c.Low), ptr(c.High), ptr(c.Target)
		if c.High.After(c.Low) {
			d.LastBucket = ptr(c.High.Add(-dt.Buckets.Bucket))
			d.LagSeconds = lag(c.High, now)
		}
		d.BacklogBuckets = collect.Backlog(c, dt, now, premium, o)
	}
}

// fillRounds describes a delta or snapshot data type's rounds.
func fillRounds(d *DataType, c *cursor.Cursor, dt catalog.DataType, now time.Time, o collect.Options) {
	d.LastRound, d.LastFull, d.Objects, d.Changes, d.Resync = ptr(c.LastRound), ptr(c.LastFull), c.Objects, c.Changes, c.Resync
	if !c.LastRound.IsZero() {
		d.LagSeconds = lag(c.LastRound, now)
	}
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

func lag(t, now time.Time) *int64 {
	s := max(int64(now.Sub(t)/time.Second), 0)
	return &s
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Duration writes seconds the way the page shows them: "45s", "12m", "3h 20m", "2d 4h".
func Duration(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", seconds)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}
