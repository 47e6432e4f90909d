package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/logging"
)

// Hub names the event hub partition a batch comes from (the trigger's PartitionContext).
type Hub struct {
	Namespace, EventHub, ConsumerGroup, Partition string
}

// Event is one event of a batch with its system properties.
type Event struct {
	Body           []byte
	SequenceNumber int64
	Offset         string
	Enqueued       time.Time
}

// Batch is the events of one invocation, all from one partition, in order.
type Batch struct {
	Hub    Hub
	Events []Event
}

// Result counts what Archive did.
type Result struct {
	Events, Records int
	// Archived records are in committed parts (written now, or by an earlier delivery of the same event).
	Archived int
	// Duplicates are records whose content another part holds (or that repeat within the batch).
	Duplicates int
	// GraphHad are records whose id the Graph collector had already archived in their hour: the stream came later
	// than Graph's gap-filling read (an outage, a backlog replayed), and the record is not archived twice.
	GraphHad int
	// UnknownTenant records belong to a tenant no integration names; they are in quarantine/tenant=….
	UnknownTenant int
	// Quarantined items could not be read as records; they are in quarantine/unparsed, raw.
	Quarantined int
	// Parts is the number of parts committed (archive and unknown-tenant quarantine).
	Parts int
	// Pruned is the number of expired claims deleted.
	Pruned int
}

// Options tune an Archiver; nil means the defaults.
type Options struct {
	// Concurrency bounds the storage requests one batch has in flight (8).
	Concurrency int
	// DedupDays is how long, by event time, a record content's claim is kept (14 days); 0 keeps claims forever.
	DedupDays int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Activity, when set, counts the archived records per integration and data type (what the Graph collector and
	// Status read).
	Activity *Activity
}

// Archiver archives Event Hub batches of Entra diagnostic logs.
type Archiver struct {
	store   *archive.Store
	claims  *Claims
	tenants *Tenants
	opts    Options

	pruneMu        sync.Mutex
	pruning        bool
	pruneIdleUntil time.Time
}

// NewArchiver returns an Archiver writing to store, deduplicating through claims and deciding integrations
// through tenants.
func NewArchiver(store *archive.Store, claims *Claims, tenants *Tenants, o *Options) *Archiver {
	a := &Archiver{store: store, claims: claims, tenants: tenants, opts: Options{Concurrency: 8, DedupDays: 14, Now: time.Now}}
	if o != nil {
		if o.Concurrency > 0 {
			a.opts.Concurrency = o.Concurrency
		}
		if o.DedupDays >= 0 {
			a.opts.DedupDays = o.DedupDays
		}
		if o.Now != nil {
			a.opts.Now = o.Now
		}
		a.opts.Activity = o.Activity
	}
	return a
}

// Sweep is the blob metadata "sweep" of parts written from Event Hubs.
const Sweep = "stream"

// QuarantinePrefix starts every quarantined blob's name.
const QuarantinePrefix = "quarantine/"

// entry is one record on its way into a part.
type entry struct {
	rec   Record
	group *group
	claim Claim
	// state: dup (repeats an earlier entry of the batch), owned (its claim names this entry's part).
	dup, owned bool
}

// group is one part to build: one event's records of one owner, data type and hour.
type group struct {
	name    string
	bucket  archive.Bucket
	entries []*entry
	part    *archive.Part
	// event is the event the records come from; integration is "" for an unknown tenant's group.
	event       Event
	integration string
}

// routedRecord is a record of the batch with its route and owner, on its way into a group.
type routedRecord struct {
	rec         Record
	route       Route
	integration string
	known       bool
	base        string
	ev          Event
}

// Archive writes every record of the batch into the archive, exactly once per distinct content, and returns only
// when every part is committed: an error means nothing of the batch may be checkpointed (the invocation fails and
// the host's retry policy delivers the batch again). Items that cannot be read go to quarantine raw, with their
// reason; they never fail the batch.
//
// Part names derive from the hub, partition, sequence number and a hash of the event's body, so a batch
// delivered again — after a failure, a restart, a lost checkpoint — rebuilds the same parts and adds nothing.
func (a *Archiver) Archive(ctx context.Context, b Batch) (Result, error) {
	res := Result{Events: len(b.Events)}
	var (
		groups  []*group
		byName  = map[string]*group{}
		entries []*entry
		rejects []rawItem
		routed  []routedRecord
		graph   = newGraphLookup()
	)
	for _, ev := range b.Events {
		base := eventBase(b.Hub, ev)
		recs, rej := Split(ev.Body, ev.Enqueued, timeFieldOf)
		for _, r := range rej {
			rejects = append(rejects, rawItem{base: base, enqueued: ev.Enqueued, Reject: r})
		}
		res.Records += len(recs)
		for _, rec := range recs {
			route, ok := routeOf(rec.Category)
			if !ok {
				rejects = append(rejects, rawItem{base: base, enqueued: ev.Enqueued,
					Reject: Reject{Raw: rec.Raw, Index: rec.Index, Reason: fmt.Sprintf("category %q cannot name a data type", truncate(rec.Category, 64))}})
				res.Records--
				continue
			}
			integ, known, err := a.tenants.Integration(ctx, rec.TenantID)
			if err != nil {
				return res, fmt.Errorf("find the integration of tenant %q: %w", rec.TenantID, err)
			}
			if known && route.Graph {
				graph.add(integ, route, rec)
			}
			routed = append(routed, routedRecord{rec: rec, route: route, integration: integ, known: known, base: base, ev: ev})
		}
	}
	// Records whose id the Graph collector archived in their hour first are left out.
	if err := graph.resolve(ctx, a.store, a.opts.Concurrency); err != nil {
		return res, fmt.Errorf("read the ids Graph archived: %w", err)
	}
	for _, r := range routed {
		rec, route, integ, base := r.rec, r.route, r.integration, r.base
		var name, owner string
		var bucket archive.Bucket
		if r.known {
			if route.Graph && graph.has(integ, route, rec) {
				res.GraphHad++
				continue
			}
			owner = integ
			bucket = archive.HourBucket(integ, route.DataType, rec.Time)
			name = archive.HourFolder(integ, route.DataType, rec.Time) + base + ".ndjson.gz"
		} else {
			tenant := tenantFolder(rec.TenantID)
			owner = "~" + tenant
			bucket = archive.HourBucket("tenant="+tenant, route.DataType, rec.Time)
			name = tenantQuarantineFolder(tenant, route.DataType, rec.Time) + base + ".ndjson.gz"
			res.UnknownTenant++
		}
		g := byName[name]
		if g == nil {
			g = &group{name: name, bucket: bucket, event: r.ev}
			if r.known {
				g.integration = integ
			}
			byName[name] = g
			groups = append(groups, g)
		}
		sum := sha256.Sum256(rec.Raw)
		e := &entry{rec: rec, group: g, claim: Claim{
			Partition: ClaimPartition(rec.Time, owner, route.DataType, sum[0]),
			Key:       hex.EncodeToString(sum[:16]),
			Part:      name,
		}}
		g.entries = append(g.entries, e)
		entries = append(entries, e)
	}

	// The first occurrence of a content in the batch claims it; later ones are duplicates already.
	seen := map[[2]string]bool{}
	var claims []Claim
	var claimed []*entry
	for _, e := range entries {
		k := [2]string{e.claim.Partition, e.claim.Key}
		if seen[k] {
			e.dup = true
			continue
		}
		seen[k] = true
		claims = append(claims, e.claim)
		claimed = append(claimed, e)
	}
	owned, err := a.claims.Claim(ctx, claims, a.opts.Concurrency)
	if err != nil {
		return res, err
	}
	for i, e := range claimed {
		e.owned = owned[i]
	}

	// Build every part (closed at once, so only one compressor is open at a time), then commit them all.
	var parts []*group
	var counts []Count
	for _, g := range groups {
		n := 0
		var newest time.Time
		for _, e := range g.entries {
			if !e.owned || e.dup {
				res.Duplicates++
				continue
			}
			if g.part == nil {
				g.part = a.store.NewNamedPart(g.bucket, g.name, archive.SourceEventHub, Sweep)
			}
			if err := g.part.Add(ctx, e.rec.Raw, e.rec.Time, ""); err != nil {
				return res, err
			}
			n++
			if e.rec.Time.After(newest) {
				newest = e.rec.Time
			}
		}
		if g.part == nil {
			continue
		}
		if err := g.part.Close(ctx); err != nil {
			return res, err
		}
		if !strings.HasPrefix(g.name, QuarantinePrefix) {
			res.Archived += n
		}
		if g.integration != "" {
			counts = append(counts, Count{Integration: g.integration, DataType: g.bucket.DataType, Records: n, Newest: newest,
				Sequence: g.event.SequenceNumber, Enqueued: g.event.Enqueued})
		}
		parts = append(parts, g)
	}
	log := logging.From(ctx)
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(a.opts.Concurrency)
	for _, g := range parts {
		eg.Go(func() error {
			err := g.part.Commit(gctx)
			if errors.Is(err, archive.ErrExists) {
				// The name is this event's: an earlier delivery committed it, when claims of its records were
				// younger than they are now. What is there is this event's content.
				log.Warn("part of a redelivered event already committed with other content", "part", g.name)
				return nil
			}
			return err
		})
	}
	for _, r := range rejects {
		eg.Go(func() error { return a.quarantine(gctx, b.Hub, r) })
	}
	if err := eg.Wait(); err != nil {
		return res, err
	}
	// Counted once every part is committed: a count that fails fails the batch, which is then counted when it comes
	// again (the counters skip what they already counted).
	if a.opts.Activity != nil && len(counts) > 0 {
		if err := a.opts.Activity.Add(ctx, b.Hub, counts); err != nil {
			return res, err
		}
	}
	res.Parts = len(parts)
	res.Quarantined = len(rejects)
	res.Pruned = a.prune(ctx, len(claims))
	return res, nil
}

// rawItem is a rejected item with the event it came from.
type rawItem struct {
	Reject
	base     string
	enqueued time.Time
}

// quarantine writes one unreadable item raw, with its reason and where it came from.
func (a *Archiver) quarantine(ctx context.Context, hub Hub, r rawItem) error {
	// The enqueued time, not the clock: a redelivered event must land on the same name.
	at := r.enqueued.UTC()
	which := fmt.Sprintf("r%04d", r.Index)
	if r.Index == WholeEvent {
		which = "event"
	}
	name := fmt.Sprintf("%sunparsed/date=%s/hour=%02d/%s-%s.raw", QuarantinePrefix, at.Format("2006-01-02"), at.Hour(), r.base, which)
	return a.store.PutRaw(ctx, name, r.Raw, map[string]string{
		archive.MetaReason:   r.Reason,
		archive.MetaSource:   archive.SourceEventHub,
		"eventhub":           hub.Namespace + "/" + hub.EventHub,
		"eventhub_partition": hub.Partition,
		"eventhub_enqueued":  at.Format(time.RFC3339Nano),
	})
}

// prune deletes expired claims when some are due: about as many as the batch inserted (at least 100), so the
// table stays near its steady size; when a pass finds fewer than it may delete, the next is an hour away. A
// failure is logged and left for the next batch: the archive is complete either way.
func (a *Archiver) prune(ctx context.Context, inserted int) int {
	if a.opts.DedupDays <= 0 {
		return 0
	}
	now := a.opts.Now()
	a.pruneMu.Lock()
	if a.pruning || now.Before(a.pruneIdleUntil) {
		a.pruneMu.Unlock()
		return 0
	}
	a.pruning = true
	a.pruneMu.Unlock()

	budget := min(max(inserted, 100), 2000)
	before := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -a.opts.DedupDays)
	n, err := a.claims.Prune(ctx, before, budget)

	a.pruneMu.Lock()
	a.pruning = false
	if err == nil && n < budget {
		a.pruneIdleUntil = now.Add(time.Hour)
	}
	a.pruneMu.Unlock()
	if err != nil {
		logging.From(ctx).Warn("pruning expired stream claims failed", "error", err.Error())
	}
	return n
}

// eventBase is the part-name base of an event:
// eh-<hub>-p<partition>-s<sequence>-<event>, where hub is a hash of the namespace and event hub (a recreated hub
// restarts its sequence numbers, and one archive may read several hubs) and event a hash of the body.
func eventBase(hub Hub, ev Event) string {
	body := sha256.Sum256(ev.Body)
	return fmt.Sprintf("%s%s-p%s-s%019d-%s", archive.StreamPartPrefix, hubHash(hub), nameSafe(hub.Partition, 16),
		ev.SequenceNumber, hex.EncodeToString(body[:8]))
}

// hubHash names an event hub: a hash of its namespace and name.
func hubHash(hub Hub) string {
	h := sha256.Sum256([]byte(strings.ToLower(hub.Namespace) + "/" + strings.ToLower(hub.EventHub)))
	return hex.EncodeToString(h[:4])
}

// tenantFolder is the tenant as a folder name: lower case, letters, digits, '.' and '-' only, at most 64
// characters, "none" when the record names no tenant.
func tenantFolder(tenant string) string {
	t := nameSafe(strings.ToLower(strings.TrimSpace(tenant)), 64)
	if t == "" {
		return "none"
	}
	return t
}

// tenantQuarantineFolder is the hour folder of an unknown tenant's records of one data type.
func tenantQuarantineFolder(tenant, dataType string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%stenant=%s/type=%s/date=%s/hour=%02d/", QuarantinePrefix, tenant, dataType, t.Format("2006-01-02"), t.Hour())
}

// nameSafe keeps letters, digits, '.', '_' and '-' (anything else becomes '_'), at most max bytes.
func nameSafe(s string, max int) string {
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
