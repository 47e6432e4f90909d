package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/membership"
)

// Round names of tasks and of the sweep recorded in part metadata.
const (
	roundDelta    = "delta"    // the changes since the last deltaLink
	roundFull     = "full"     // a delta data type read whole: every object, and a new deltaLink
	roundSnapshot = "snapshot" // a snapshot data type read whole
	roundResume   = "resume"   // the round in progress, from its checkpoint
)

// roundCollector collects a directory collection in rounds (catalog.DeltaSpec, catalog.SnapshotSpec). A round
// reads pages into parts of its own folder (archive.Round), commits a part every RoundPart records and
// checkpoints the link of the next page in the cursor, and ends by writing the folder's manifest; only then does
// the cursor move (a delta data type's deltaLink, the time of the last full read). A round that meets the
// deadline stops at a checkpoint and resumes there in the continuation. One round at a time: while it runs,
// read owns the cursor.
type roundCollector struct {
	r   *run
	dt  catalog.DataType
	cur *cursor.Cursor
	// end is the finished round read reports to done.
	end *roundEnd
	// pending carries the excluded set from exclusions to begin.
	pending *cursor.Round
	// versions, for a versioned snapshot data type, are the versions archived before and read by the round.
	versions *versionSet
	// hash, for a hashed snapshot data type, is the content hash of the records the round read.
	hash *contentHash
}

// roundEnd is what a finished round leaves for the cursor.
type roundEnd struct {
	deltaLink string
	// lost: the manifest was found written by a run that died before moving the cursor, and the cursor does not
	// hold the round's deltaLink (a cursor from before Round.DeltaLink was kept).
	lost bool
	// records is the round's records (all its parts', for a round found finished).
	records int
	// unchanged: a hashed snapshot read the same content as the last one kept, and kept nothing.
	unchanged bool
}

func newRoundCollector(r *run, dt catalog.DataType, c *cursor.Cursor) *roundCollector {
	if dt.Name == usersType && c.Objects > 0 {
		// Graph's directory budget grows with the tenant: the last full round counted its users.
		r.g.SetDirectoryUsers(int(c.Objects + c.Changes))
	}
	return &roundCollector{r: r, dt: dt, cur: c}
}

func (c *roundCollector) dataType() catalog.DataType { return c.dt }
func (c *roundCollector) cursor() *cursor.Cursor     { return c.cur }
func (c *roundCollector) concurrent() bool           { return false }

// after makes a users round with exclusions wait for the groups round of the same run: the excluded set is
// computed from the archived groups.
func (c *roundCollector) after() []string {
	if c.r.excludes(c.dt) {
		return []string{membership.GroupsDataType}
	}
	return nil
}

func (c *roundCollector) start(context.Context, time.Time) error { return nil }

// fullEvery is the longest time between full rounds of a delta data type.
func (c *roundCollector) fullEvery() time.Duration {
	if o := c.r.w.opts.FullEvery; o > 0 {
		return o
	}
	return c.dt.Delta.FullEvery
}

// due returns the one round due at now: the round in progress, from its checkpoint; a full round (never read,
// resync asked for, the weekly one, a deltaLink about to expire); a delta round once per run; a snapshot at its
// cadence. A round in progress without a checkpoint is read again as a new round (resumable).
func (c *roundCollector) due(now time.Time) []task {
	cur := c.cur
	if resumable(cur) {
		k := fresh
		if cur.Round.Kind == string(archive.SnapshotRound) {
			k = backfill
		}
		return []task{{dt: c.dt, kind: k, round: roundResume, from: cur.Round.Start}}
	}
	if c.dt.Mode() == catalog.Snapshot {
		if cur.LastFull.IsZero() || now.Sub(cur.LastFull) >= c.dt.Snapshot.Every {
			return []task{{dt: c.dt, kind: resweep, round: roundSnapshot}}
		}
		return nil
	}
	why := ""
	switch {
	case cur.Resync != "":
		why = cur.Resync
	case cur.DeltaLink == "":
		why = "initial"
	case now.Sub(cur.LastFull) >= c.fullEvery():
		why = "full round every " + c.fullEvery().String()
	case now.Sub(cur.DeltaAt) >= c.r.w.opts.DeltaMaxAge:
		why = "deltaLink older than " + c.r.w.opts.DeltaMaxAge.String()
	}
	if why != "" {
		return []task{{dt: c.dt, kind: backfill, round: roundFull, why: why}}
	}
	if cur.LastRound.Before(c.r.started) && now.Sub(cur.LastRound) >= c.r.w.opts.RoundGap {
		return []task{{dt: c.dt, kind: fresh, round: roundDelta}}
	}
	return nil
}

// resumable reports whether the cursor's round in progress is continued where it stopped: from its checkpoint
// (a page link, which holds the position of the round's first request), or with only its manifest left to
// write. A round stopped before its first checkpoint may have committed parts (the run died between a part and
// its checkpoint); reading its first link again — a deltaLink that now reports the changes up to a later time —
// into the same folder would mix two views of the directory (a member added in the first and removed before the
// second is in neither diff of the second, and would stay). Such a round is read again from its first link as a
// new round, in a new folder, and the old one is cleared (begin).
func resumable(cur *cursor.Cursor) bool {
	return cur.InRound() && !cur.Round.Restart && cur.Resync == "" && (cur.Round.Next != "" || cur.Round.Complete)
}

func (c *roundCollector) backlog(now time.Time) int {
	if len(c.due(now)) > 0 {
		return 1
	}
	return 0
}

// label is the sweep recorded in the parts of the cursor's round.
func (c *roundCollector) label() string {
	switch {
	case c.dt.Mode() == catalog.Snapshot:
		return roundSnapshot
	case c.cur.Round.Kind == string(archive.SnapshotRound):
		return roundFull
	}
	return roundDelta
}

func (c *roundCollector) folder() archive.Round {
	return archive.Round{Integration: c.r.integ.ID, DataType: c.dt.Name, Kind: archive.RoundKind(c.cur.Round.Kind), Start: c.cur.Round.Start}
}

// begin starts a new round in the cursor, first clearing the folder of one given up.
func (c *roundCollector) begin(ctx context.Context, t task) error {
	cur := c.cur
	if cur.InRound() {
		if err := c.r.w.deps.Archive.DeleteRound(ctx, c.folder()); err != nil {
			c.r.log.Warn("could not clear an abandoned round", logging.KeyDataType, c.dt.Name, "round", cur.Round.Start, "error", err.Error())
		}
	}
	kind := archive.DeltaRound
	if t.round != roundDelta {
		kind = archive.SnapshotRound
	}
	// The round starts now (a reader compares it with the directory as of that time); its folder is named to the
	// second, so a round in the same second as the last one, or as the round given up, starts a second later:
	// a new round never writes into the folder of another.
	start := c.r.now().UTC()
	last := cur.LastRound
	if cur.Round.Start.After(last) {
		last = cur.Round.Start
	}
	if last = last.Truncate(time.Second); !start.Truncate(time.Second).After(last) {
		start = last.Add(time.Second)
	}
	cur.Round = cursor.Round{Start: start, Kind: string(kind), Reason: t.why}
	if c.pending != nil {
		cur.Round.Excluded, cur.Round.ExcludedHash = c.pending.Excluded, c.pending.ExcludedHash
		c.pending = nil
	}
	if t.why != "" {
		c.r.log.Info("full round", logging.KeyDataType, c.dt.Name, "reason", t.why)
	}
	// Stored before the first part so that a round given up later can always be found and cleared.
	return c.r.w.deps.Cursors.Put(ctx, cur)
}

// firstLink is where the cursor's round starts reading.
func (c *roundCollector) firstLink() string {
	switch {
	case c.dt.Mode() == catalog.Snapshot:
		return c.dt.SnapshotQuery()
	case c.cur.Round.Kind == string(archive.SnapshotRound):
		return c.dt.DeltaQuery()
	}
	return c.cur.DeltaLink
}

// read runs the round: from its checkpoint (resume) or from its first link, page by page, until its last page
// or the deadline.
func (c *roundCollector) read(ctx context.Context, t task) result {
	res := result{task: t}
	r, cur, arch := c.r, c.cur, c.r.w.deps.Archive
	keep, err := c.r.recordFilter(ctx, c.dt)
	if err != nil {
		res.err = err
		return res
	}
	if cur.InRound() {
		// The round in progress may be finished but for the cursor: close it, whatever was due.
		if done, err := c.finishFound(ctx); done || err != nil {
			res.task.from, res.err = cur.Round.Start, err
			return res
		}
	}
	var back []string
	if t.round == roundResume {
		cur.Round.Resumed = true
	} else {
		if back, err = c.exclusions(ctx, t); err != nil {
			res.err = err
			return res
		}
		if err := c.begin(ctx, t); err != nil {
			res.err = err
			return res
		}
	}
	res.task.from = cur.Round.Start
	folder := c.folder()
	parts, _, err := arch.RoundParts(ctx, folder)
	if err != nil {
		res.err = err
		return res
	}
	n := 0
	if len(parts) > 0 {
		n = parts[len(parts)-1].Part + 1
	}
	c.versions, c.hash = nil, nil
	if c.dt.Mode() == catalog.Snapshot && c.dt.Snapshot.Hashed {
		// The hash covers the whole read: an interrupted round starts again from the first page.
		if len(parts) > 0 || cur.Round.Next != "" {
			if err := arch.DeleteRound(ctx, folder); err != nil {
				res.err = err
				return res
			}
			cur.Round.Next, n = "", 0
		}
		c.hash = newContentHash()
	}
	if c.dt.VersionField != "" {
		if c.versions, err = c.loadVersions(ctx, folder); err != nil {
			res.err = err
			return res
		}
	}
	// A per-object data type's requests spend their own path's family instead: a listed user's lookup the
	// directory's budget, its authentication methods the reports'.
	if c.dt.PerObject() == nil {
		ctx = graph.WithDataType(ctx, c.dt)
	}
	var part Part
	add := func(raw []byte, requestID string) error {
		res.items++
		if c.versions != nil {
			ok, err := c.versions.fresh(c.dt, raw)
			if err != nil {
				return err
			}
			if !ok {
				res.duplicates++ // archived before: not a new version
				return nil
			}
		}
		if keep != nil {
			ok, err := keep(raw)
			if err != nil || !ok {
				res.excluded++
				return err
			}
		}
		if part == nil {
			part = arch.NewPart(folder, n, "graph", c.label())
		}
		if c.hash != nil {
			c.hash.add(raw)
		}
		res.records++
		return part.Add(ctx, raw, folder.Start, requestID)
	}
	commit := func() error {
		if part == nil {
			return nil
		}
		if err := r.ensureLease(); err != nil {
			return err
		}
		if err := part.Commit(ctx); err != nil {
			return err
		}
		res.parts++
		part, n = nil, n+1
		return nil
	}
	link := cur.Round.Next
	if link == "" {
		link = c.firstLink()
	}
	for _, id := range back {
		// A user who left the excluded groups: read now, as users/delta would never report it.
		raw, rid, err := r.g.Object(ctx, userPath(c.dt, id))
		if graph.KindOf(err) == graph.NotFound {
			continue
		}
		if err == nil {
			err = add(raw, rid)
		}
		if err != nil {
			res.err = err
			return res
		}
	}
	if o := c.dt.PerObject(); o != nil && o.ListedUsers {
		// The listed users are few (catalog.MaxListedUsers): read in one go, the round's only "page".
		if err := c.listedTargets(ctx, keep, add); err != nil {
			res.err = err
			return res
		}
		res.pages++
	}
	final := ""
	for link != "" {
		var info graph.PageInfo
		var err error
		if c.dt.PerObject() != nil {
			info, err = c.objectPage(ctx, link, keep, add)
		} else {
			info, err = c.page(ctx, link, add)
		}
		if err != nil {
			res.err = err
			return res
		}
		res.pages++
		res.requestIDs = append(res.requestIDs, info.RequestID)
		if c.dt.Name == usersType && folder.Kind == archive.SnapshotRound {
			// A first read of a large tenant need not wait for its end to use the larger budget.
			r.g.SetDirectoryUsers(res.items)
		}
		if info.DeltaLink != "" {
			final = info.DeltaLink
			break
		}
		link = info.NextLink
		stopping := !r.stopAt.IsZero() && time.Now().After(r.stopAt)
		if link != "" && c.hash == nil && (stopping || part != nil && part.Records() >= r.w.opts.RoundPart) {
			// Checkpoint: the records read so far are committed, the next page is where a resumed round starts.
			if err := commit(); err != nil {
				res.err = err
				return res
			}
			cur.Round.Next = link
			if err := r.w.deps.Cursors.Put(ctx, cur); err != nil {
				res.err = err
				return res
			}
			if stopping {
				res.more = true
				return res
			}
		}
	}
	if c.dt.Mode() == catalog.Delta && final == "" {
		res.err = &graph.Error{Kind: graph.InvalidPage, Message: "the last page of the delta round carries no @odata.deltaLink"}
		return res
	}
	if c.hash != nil {
		same, err := c.unchanged(ctx)
		if err != nil {
			res.err = err
			return res
		}
		if same {
			// Nothing changed since the last snapshot kept: its part is never committed, and the round is done.
			c.end = &roundEnd{unchanged: true}
			return res
		}
	}
	if err := commit(); err != nil {
		res.err = err
		return res
	}
	// Every part is committed: keep the new deltaLink in the cursor before the manifest, so that a run dying
	// after the manifest leaves it to the next (a delta round read again from the old deltaLink reports the net
	// changes since then, which do not undo what the finished round added and was removed since).
	cur.Round.Next, cur.Round.Complete, cur.Round.DeltaLink = "", true, final
	if err := r.w.deps.Cursors.Put(ctx, cur); err != nil {
		res.err = err
		return res
	}
	if err := c.writeManifest(ctx, folder); err != nil {
		res.err = err
		return res
	}
	c.end = &roundEnd{deltaLink: final, records: res.records}
	return res
}

// page reads one page of the round and adds its items (readPage).
func (c *roundCollector) page(ctx context.Context, link string, add func(raw []byte, requestID string) error) (graph.PageInfo, error) {
	items, info, err := c.readPage(ctx, link)
	if err != nil {
		return info, err
	}
	for _, it := range items {
		if err := add(it.Raw, it.RequestID); err != nil {
			return info, err
		}
	}
	return info, nil
}

// readPage reads one page of the round and returns its items. The Graph client reads a page again when its body
// fails midway (a reset, a cut, invalid JSON), after handing over the items before the failure: they are held
// until the page is read whole, and only the items of the read that succeeded — the last info.Items — are
// returned, so a round never archives an object, or reads a target, twice (a log window's dedup keys do that for
// time buckets; a round's part has none).
func (c *roundCollector) readPage(ctx context.Context, link string) ([]graph.Item, graph.PageInfo, error) {
	var items []graph.Item
	info, err := c.r.g.Page(ctx, link, func(it graph.Item) error {
		items = append(items, graph.Item{Raw: bytes.Clone(it.Raw), RequestID: it.RequestID})
		return nil
	})
	if err != nil {
		return nil, info, err
	}
	if info.Items > len(items) {
		return nil, info, &graph.Error{Kind: graph.InvalidPage, RequestID: info.RequestID,
			Message: fmt.Sprintf("the page counted %d items and handed over %d", info.Items, len(items))}
	}
	return items[len(items)-info.Items:], info, nil
}

// finishFound closes the cursor's round in progress when a run that died left only the cursor to move: its
// manifest is written (the deltaLink was kept in the cursor before it), or every part is committed and the
// manifest is left to write. It reports whether the round is done (c.end set).
func (c *roundCollector) finishFound(ctx context.Context) (bool, error) {
	cur := c.cur
	folder := c.folder()
	parts, finished, err := c.r.w.deps.Archive.RoundParts(ctx, folder)
	if err != nil {
		return false, err
	}
	records := 0
	for _, p := range parts {
		records += p.Records
	}
	switch {
	case finished:
		// A round finished by a cursor written before Round.DeltaLink was kept has lost its deltaLink (done).
		c.end = &roundEnd{deltaLink: cur.Round.DeltaLink, lost: !cur.Round.Complete, records: records}
		return true, nil
	case cur.Round.Complete:
		// The manifest must say what the round's own would have: a versioned data type's versions and a hashed
		// one's content hash, which the next round reads as the state it compares with.
		if err := c.recoverState(ctx, folder, parts); err != nil {
			return false, err
		}
		if err := c.writeManifest(ctx, folder); err != nil {
			return false, err
		}
		c.end = &roundEnd{deltaLink: cur.Round.DeltaLink, records: records}
		return true, nil
	}
	return false, nil
}

// errExclusionsChanged asks for a full users round: the excluded set changed, and the last one is known only by
// its hash.
var errExclusionsChanged = errors.New("the excluded users changed and the last set is known only by its hash")

// exclusions computes, before a users round begins, the excluded set the round is read with (kept in the cursor
// when it finishes) and the users to read again because they are no longer excluded.
func (c *roundCollector) exclusions(ctx context.Context, t task) ([]string, error) {
	cur := c.cur
	if c.dt.Name != usersType || !c.r.integ.Excludes() && cur.ExcludedHash == "" {
		return nil, nil
	}
	set := map[string]bool{}
	if c.r.integ.Excludes() {
		var err error
		if set, err = c.r.excludedUsers(ctx); err != nil {
			return nil, err
		}
	}
	ids, hash := exclusionState(set)
	if t.round != roundDelta {
		c.pending = &cursor.Round{Excluded: ids, ExcludedHash: hash}
		return nil, nil
	}
	back, known := reincludedUsers(cur.Excluded, cur.ExcludedHash, set)
	if !known {
		return nil, errExclusionsChanged
	}
	c.pending = &cursor.Round{Excluded: ids, ExcludedHash: hash}
	return back, nil
}

// writeManifest lists the round's committed parts in its manifest, the round's last write.
func (c *roundCollector) writeManifest(ctx context.Context, folder archive.Round) error {
	arch := c.r.w.deps.Archive
	parts, _, err := arch.RoundParts(ctx, folder)
	if err != nil {
		return err
	}
	m := archive.Manifest{Full: folder.Kind == archive.SnapshotRound, Reason: c.cur.Round.Reason, Finished: c.r.now().UTC()}
	if !m.Full && !c.cur.LastRound.IsZero() {
		m.Previous = archive.Round{Integration: folder.Integration, DataType: folder.DataType, Kind: previousKind(c.cur),
			Start: c.cur.LastRound}.Prefix()
	}
	if c.versions != nil {
		m.Versions = c.versions.keys()
	}
	if c.hash != nil {
		m.ContentHash = c.hash.sum()
	}
	for _, p := range parts {
		m.Records += p.Records
		m.Parts = append(m.Parts, archive.ManifestPart{Name: p.Name, Records: p.Records, SHA256: p.SHA256, Size: p.Size})
	}
	if err := c.r.ensureLease(); err != nil {
		return err
	}
	if err := arch.WriteManifest(ctx, folder, m); err != nil {
		return fmt.Errorf("manifest of %s: %w", folder.Prefix(), err)
	}
	return nil
}

// previousKind is the folder kind of the last finished round.
func previousKind(c *cursor.Cursor) archive.RoundKind {
	if c.LastRound.Equal(c.LastFull) {
		return archive.SnapshotRound
	}
	return archive.DeltaRound
}

// done moves the cursor past a finished round; a round stopped at a checkpoint leaves it as it is.
func (c *roundCollector) done(task, result, time.Time) {
	e := c.end
	if e == nil {
		return
	}
	c.end = nil
	cur := c.cur
	start, full := cur.Round.Start, cur.Round.Kind == string(archive.SnapshotRound)
	cur.LastRound = start
	switch {
	case e.unchanged:
		// The last snapshot kept still holds: it is as of now.
		cur.LastFull = start
	case e.lost && c.dt.Mode() == catalog.Delta:
		// A finished round whose deltaLink was lost (a cursor written before it was kept): reading on from the
		// old one would not undo what this round archived, so a full round follows.
		if full {
			cur.LastFull = start
		}
		cur.Resync = "resync: the deltaLink of the round of " + start.Format(time.RFC3339) + " was lost"
	case full:
		cur.LastFull, cur.Objects, cur.Changes, cur.Resync = start, int64(e.records), 0, ""
		if e.deltaLink != "" {
			cur.DeltaLink, cur.DeltaAt = e.deltaLink, start
		}
	case e.deltaLink != "":
		cur.DeltaLink, cur.DeltaAt = e.deltaLink, start
		cur.Changes += int64(e.records)
	}
	if cur.Round.ExcludedHash != "" || cur.ExcludedHash != "" {
		cur.Excluded, cur.ExcludedHash = cur.Round.Excluded, cur.Round.ExcludedHash
	}
	cur.Round = cursor.Round{}
}

// failed turns Graph's "start again" answers into one clean full round: a sync reset (410, syncStateNotFound,
// resyncRequired) of a delta round asks for a full round; a page token that outlived a resumed round asks for the
// round to be read again.
func (c *roundCollector) failed(t task, res result) bool {
	cur := c.cur
	kind := graph.KindOf(res.err)
	switch {
	case kind == graph.SyncReset && c.dt.Mode() == catalog.Delta && cur.Round.Kind == string(archive.DeltaRound):
		cur.Resync = "resync: " + res.err.Error()
		c.r.log.Info("delta round reset by Graph; a full round follows", logging.KeyDataType, c.dt.Name, "error", res.err.Error())
		return true
	case errors.Is(res.err, errExclusionsChanged):
		cur.Resync = "resync: " + res.err.Error()
		return true
	case (kind == graph.BadRequest || kind == graph.NotFound) && cur.Round.Resumed && cur.Round.Next != "":
		cur.Round.Restart = true
		c.r.log.Info("a resumed round's page link is no longer valid; reading the round again", logging.KeyDataType, c.dt.Name, "error", res.err.Error())
		return true
	}
	return false
}
