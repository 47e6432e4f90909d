package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/eventgen"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// gapFillCategories are the diagnostic-log categories of the tenant's log streams (reference/eventhub.md §1.1).
var gapFillCategories = map[string]string{
	"signIns.interactive":      "SignInLogs",
	"signIns.nonInteractive":   "NonInteractiveUserSignInLogs",
	"signIns.servicePrincipal": "ServicePrincipalSignInLogs",
	"signIns.managedIdentity":  "ManagedIdentitySignInLogs",
	"directoryAudits":          "AuditLogs",
	"provisioning":             "ProvisioningLogs",
}

// gapFillDropped is the data type whose category the hub drops for six hours.
const gapFillDropped = "signIns.interactive"

// TestStreamGapFill: the tenant's diagnostic setting streams every log category to the event hub from two hours
// before the start, and StreamEvents archives them as they become visible; every 30 simulated minutes Graph is
// polled too. For six hours the hub drops SignInLogs (a misconfigured diagnostic setting). Then StreamEvents stops
// reading for two and a half hours, longer than the hub's retention (2h15m): the oldest events of the outage are
// lost at the hub, the rest are delivered when it resumes — after Graph's gap-filling reads archived some of them.
// Against the tenant's truth every record of every data type must be in the archive exactly once, from one of the
// two sources; Graph's parts since the stream began must hold exactly the dropped and the lost records plus
// outage records it read before the stream delivered them (which the stream then leaves out), and the cursor and
// Status must count exactly what Graph filled. The negative control polls Graph only once, at the start (no
// gap-fill once the stream runs): the same check must then miss exactly the dropped and the lost records.
func TestStreamGapFill(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		gapFill bool
	}{{"gap-fill", true}, {"negative control without gap-fill", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runGapFill(t, tc.gapFill)
		})
	}
}

func runGapFill(t *testing.T, gapFill bool) {
	streams := map[string]entrasim.StreamOptions{}
	for dt := range gapFillCategories {
		streams[dt] = entrasim.StreamOptions{Rate: 12}
	}
	streams[gapFillDropped] = entrasim.StreamOptions{Rate: 30}
	env := startScenario(t, scenario.Options{
		// No late events: each is visible within 45 minutes, so the first gap-filling read (an hour after its bucket
		// closed) finds everything the stream dropped.
		Tenant:   entrasim.Options{Seed: 1313, Users: 10, LateShare: -1, History: 3 * 24 * time.Hour, Streams: streams},
		Settings: map[string]string{"AzureWebJobs.StreamEvents.Disabled": "false", "COLLECT_BACKFILL_DAYS": "1"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := env.Clock.Now().Truncate(time.Hour)
	streamFrom := start.Add(-2 * time.Hour)
	dropFrom, dropTo := start.Add(2*time.Hour), start.Add(8*time.Hour)
	// StreamEvents reads nothing in [outageFrom, outageTo); the hub keeps events retention long.
	outageFrom, outageTo, retention := start.Add(8*time.Hour+30*time.Minute), start.Add(11*time.Hour), 2*time.Hour+15*time.Minute
	end := start.Add(12 * time.Hour)
	// Compared: from the backfill's low end to where Graph has read at the end (its lag is an hour).
	compareTo := end.Add(-90 * time.Minute)

	hub := hostsim.NewHub("edi-test.servicebus.windows.net", env.Settings["STREAM_EVENTHUB_NAME"], 4,
		&hostsim.HubOptions{Now: env.Clock.Now, Retention: retention})
	group := env.Settings["STREAM_EVENTHUB_CONSUMER_GROUP"]
	// lineIDs maps each streamed record's bytes to its Graph id: the archive holds the records unchanged.
	lineIDs := map[string]string{}
	sent := map[string]bool{}
	// dropped: never sent; outage: sent while StreamEvents was stopped; lost: of those, aged out of the hub.
	dropped, outage, lost := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var asOf time.Time
	for step := 0; ; step++ {
		now := env.Clock.Now()
		nominal := start.Add(time.Duration(step) * 30 * time.Minute)
		var batch []eventgen.Mirrored
		for _, dt := range slices.Sorted(maps.Keys(gapFillCategories)) {
			events, err := env.Tenant.TruthEvents(dt, streamFrom, time.Time{}, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				if sent[e.ID] || dropped[e.ID] || !asOf.IsZero() && !e.Visible.After(asOf) {
					continue
				}
				if dt == gapFillDropped && !e.Time.Before(dropFrom) && e.Time.Before(dropTo) {
					dropped[e.ID] = true
					continue
				}
				sent[e.ID] = true
				if !nominal.Before(outageFrom) && nominal.Before(outageTo) {
					outage[e.ID] = true
					if outageTo.Sub(nominal) > retention {
						lost[e.ID] = true
					}
				}
				batch = append(batch, eventgen.Mirrored{Category: gapFillCategories[dt], ID: e.ID, Time: e.Time})
			}
		}
		asOf = now
		st, err := eventgen.Mirror(eventgen.Options{Seed: uint64(step + 1), TenantID: env.Tenant.TenantID(), Integration: scenario.Integration}, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range st.Records {
			lineIDs[r.Raw] = batch[i].ID
		}
		st.NewSender(hub).Send(len(st.Events))
		if nominal.Before(outageFrom) || !nominal.Before(outageTo) {
			if _, err := env.Host.RunEventHub(ctx, "StreamEvents", hub, &hostsim.EventHubRunOptions{UntilCaughtUp: true, RetryDelayScale: 0.002}); err != nil {
				t.Fatal(err)
			}
			if n := hub.Backlog(group); n != 0 {
				t.Fatalf("step %d: %d events not checkpointed", step, n)
			}
		}
		if step == 0 || gapFill {
			if err := env.Collect(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if !nominal.Before(end) {
			break
		}
		env.Clock.Advance(30 * time.Minute)
	}
	if len(dropped) == 0 || len(lost) == 0 || len(lost) == len(outage) {
		t.Fatalf("%d records dropped, %d sent during the outage, %d of them lost: the test needs some of each", len(dropped), len(outage), len(lost))
	}

	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	store := archive.New(blobs, env.Settings["RAW_CONTAINER"])
	now := env.Clock.Now()
	var filledTotal, filledLate int
	filledByType := map[string]int{}
	for _, dt := range slices.Sorted(maps.Keys(gapFillCategories)) {
		c, err := env.Cursor(ctx, dt)
		if err != nil {
			t.Fatal(err)
		}
		if gapFill && c.High.Before(compareTo) {
			t.Errorf("%s: Graph read up to %s only, want %s", dt, c.High, compareTo)
		}
		// Every record in the data type's archive, by source (blob metadata), with its id.
		bySource := map[string]map[string]int{archive.SourceEventHub: {}, "graph": {}}
		prefix := fmt.Sprintf("integration=%s/type=%s/", scenario.Integration, dt)
		pager := blobs.ServiceClient().NewContainerClient(env.Settings["RAW_CONTAINER"]).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page.Segment.BlobItems {
				content, md, err := store.ReadAll(ctx, *b.Name)
				if err != nil {
					t.Fatal(err)
				}
				src := md[archive.MetaSource]
				ids, ok := bySource[src]
				if !ok {
					t.Fatalf("%s: source %q", *b.Name, src)
				}
				for _, line := range bytes.Split(bytes.TrimSuffix(content, []byte{'\n'}), []byte{'\n'}) {
					id := lineIDs[string(line)]
					if src == "graph" {
						var rec struct {
							ID string `json:"id"`
						}
						if err := json.Unmarshal(line, &rec); err != nil {
							t.Fatalf("%s: %v", *b.Name, err)
						}
						id = rec.ID
					}
					if id == "" {
						t.Fatalf("%s: a record of unknown id: %.200s", *b.Name, line)
					}
					ids[id]++
				}
			}
		}
		truth, err := env.Tenant.TruthEvents(dt, c.Low, compareTo, now)
		if err != nil {
			t.Fatal(err)
		}
		var missing, duplicates int
		for _, e := range truth {
			n := bySource["graph"][e.ID] + bySource[archive.SourceEventHub][e.ID]
			switch {
			case n == 0:
				missing++
			case n > 1:
				duplicates++
			}
		}
		truthTime := map[string]time.Time{}
		for _, e := range truth {
			truthTime[e.ID] = e.Time
		}
		// What Graph must fill (the dropped and the lost records) and what it filled since the stream began: those
		// two, and outage records it read before the stream delivered them.
		var mustFill, filled, filledMust, filledOutage, wrongFill int
		for id := range truthTime {
			if dropped[id] || lost[id] {
				mustFill++
			}
		}
		for id := range bySource["graph"] {
			at, ok := truthTime[id]
			if !ok || at.Before(streamFrom) {
				continue
			}
			filled++
			switch {
			case dropped[id] || lost[id]:
				filledMust++
			case outage[id]:
				filledOutage++
			default:
				wrongFill++
			}
		}
		t.Logf("%s: [%s, %s) truth %d; stream %d, graph %d; must fill %d (dropped or lost); Graph filled %d (cursor %d): %d of those, %d delivered late by the stream; missing %d, duplicates %d",
			dt, c.Low.Format("01-02T15:04"), compareTo.Format("01-02T15:04"), len(truth), len(bySource[archive.SourceEventHub]),
			len(bySource["graph"]), mustFill, filled, c.Filled, filledMust, filledOutage, missing, duplicates)
		if duplicates != 0 || wrongFill != 0 {
			t.Errorf("%s: %d records archived twice, %d archived by Graph that the stream had delivered", dt, duplicates, wrongFill)
		}
		if dt == gapFillDropped {
			// The six dropped hours: Graph's parts hold exactly the sign-ins the hub dropped, nothing the stream had.
			var inDrop, notDropped int
			for id := range bySource["graph"] {
				if at := truthTime[id]; !at.Before(dropFrom) && at.Before(dropTo) {
					inDrop++
					if !dropped[id] {
						notDropped++
					}
				}
			}
			if gapFill && (inDrop != len(dropped) || notDropped != 0) || !gapFill && inDrop != 0 {
				t.Errorf("%s: Graph archived %d records of the dropped hours (%d not dropped); the hub dropped %d", dt, inDrop, notDropped, len(dropped))
			}
		}
		if gapFill {
			if missing != 0 || filledMust != mustFill || int(c.Filled) != filled {
				t.Errorf("%s: %d missing, Graph filled %d of the %d dropped or lost (cursor counts %d filled, archive %d)",
					dt, missing, filledMust, mustFill, c.Filled, filled)
			}
			filledTotal, filledLate = filledTotal+filledMust, filledLate+filledOutage
			filledByType[dt] = filled
		} else if missing != mustFill || filled != 0 {
			// Without the gap-fill exactly the dropped and lost records are missing: the check above sees them.
			t.Errorf("%s (negative control): %d missing and %d filled, want exactly the %d dropped or lost missing", dt, missing, filled, mustFill)
		}
	}
	if gapFill {
		if filledTotal != len(dropped)+len(lost) {
			t.Errorf("Graph filled %d records, the hub dropped %d and lost %d", filledTotal, len(dropped), len(lost))
		}
		// The stream left out what Graph had archived before the outage's backlog came.
		if filledLate == 0 {
			t.Error("Graph read no outage record before the stream delivered it: the stream's side of the dedup went untested")
		}
		checkStreamStatus(t, ctx, env, filledByType)
	}
}

// checkStreamStatus checks that Status shows, per data type, the records the stream delivered and that Graph
// filled (filled, by data type).
func checkStreamStatus(t *testing.T, ctx context.Context, env *scenario.Env, filled map[string]int) {
	t.Helper()
	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {env.FunctionKey}}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("status: %v %+v", err, res)
	}
	var report struct {
		Integrations []struct {
			DataTypes []struct {
				Name          string `json:"dataType"`
				Streaming     bool   `json:"streaming"`
				StreamRecords int64  `json:"streamRecords"`
				GraphFilled   int64  `json:"graphFilled"`
			} `json:"dataTypes"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(res.Body, &report); err != nil || len(report.Integrations) != 1 {
		t.Fatalf("status: %v\n%s", err, res.Body)
	}
	seen := 0
	for _, d := range report.Integrations[0].DataTypes {
		if _, ok := gapFillCategories[d.Name]; !ok {
			continue
		}
		seen++
		if !d.Streaming || d.StreamRecords == 0 || d.GraphFilled != int64(filled[d.Name]) {
			t.Errorf("status of %s: streaming %v, %d records streamed, %d filled by Graph; want streaming, some, %d",
				d.Name, d.Streaming, d.StreamRecords, d.GraphFilled, filled[d.Name])
		}
	}
	if seen != len(gapFillCategories) {
		t.Errorf("status lists %d of the %d log data types", seen, len(gapFillCategories))
	}
}
