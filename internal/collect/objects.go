package collect

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/rawjson"
)

// A per-object data type (catalog.ObjectSpec) is a snapshot round whose "pages" are pages of targets: each page
// of users or service principals is read, the data below each target is asked for (at most the spec's
// Concurrency at once), and the records are handed to the round in target order. The round's checkpoint is the
// targets' nextLink, so a round stopped at the deadline resumes with the next page of targets.

// target is one object a per-object data type reads below.
type target struct {
	id, upn, userType, spType string
}

// fetched is what one target gave: its records (none when it has no data of the type) and the request id.
type fetched struct {
	records   [][]byte
	requestID string
}

// objectPage reads the page of targets at link and the data of each target, calling add for each record.
func (c *roundCollector) objectPage(ctx context.Context, link string, keep func([]byte) (bool, error), add func([]byte, string) error) (graph.PageInfo, error) {
	items, info, err := c.readPage(ctx, link)
	if err != nil {
		return info, err
	}
	var targets []target
	for _, it := range items {
		t, ok, err := c.target(it.Raw, keep)
		if err != nil {
			return info, err
		}
		if ok {
			targets = append(targets, t)
		}
	}
	return info, c.readTargets(ctx, targets, add)
}

// listedTargets resolves the users the integration lists: a user that does not exist is archived as absent (the
// list names it, so its absence is news), one the exclusions leave out is skipped.
func (c *roundCollector) listedTargets(ctx context.Context, keep func([]byte) (bool, error), add func([]byte, string) error) error {
	var targets []target
	for _, ref := range c.r.integ.AuthenticationMethodsUsers {
		raw, rid, err := c.r.g.Object(ctx, catalog.ListedUserPath(ref))
		if graph.KindOf(err) == graph.NotFound {
			if err := add(c.absentRecord(target{id: strings.ToLower(ref)}, err), rid); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		t, ok, err := c.target(raw, keep)
		if err != nil {
			return err
		}
		if ok {
			targets = append(targets, t)
		}
	}
	return c.readTargets(ctx, targets, add)
}

// target reads a target's id and kind, and whether the data type asks it: not a skipped service principal type,
// not a user the integration's exclusions leave out.
func (c *roundCollector) target(raw []byte, keep func([]byte) (bool, error)) (target, bool, error) {
	f, err := rawjson.Fields(raw, "id", "userPrincipalName", "userType", "servicePrincipalType")
	if err != nil || f[0] == "" {
		return target{}, false, &RecordError{DataType: c.dt.Name, Field: "id", Problem: "a target object without an id"}
	}
	t := target{id: f[0], upn: f[1], userType: f[2], spType: f[3]}
	if slices.Contains(c.dt.PerObject().SkipTypes, t.spType) {
		return t, false, nil
	}
	if keep != nil {
		ok, err := keep(raw)
		if err != nil || !ok {
			return t, false, err
		}
	}
	return t, true, nil
}

// readTargets asks for every target's data, at most Concurrency requests at once, and adds the records in target
// order once all succeeded: a failure fails the page, nothing of it is added.
func (c *roundCollector) readTargets(ctx context.Context, targets []target, add func([]byte, string) error) error {
	o := c.dt.PerObject()
	out := make([]fetched, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.Concurrency, 1))
	for i, t := range targets {
		g.Go(func() error {
			f, err := c.fetch(gctx, t)
			out[i] = f
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, f := range out {
		for _, rec := range f.records {
			if err := add(rec, f.requestID); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetch reads one target's data. A target deleted since it was listed has none; an answer whose code the spec
// names absent (no mailbox) is archived as such.
func (c *roundCollector) fetch(ctx context.Context, t target) (fetched, error) {
	o, path := c.dt.PerObject(), c.dt.ObjectPath(t.id)
	if !o.Collection {
		raw, rid, err := c.r.g.Object(ctx, path)
		if err != nil {
			return c.failedFetch(t, rid, err)
		}
		return fetched{records: [][]byte{c.record(t, t.id, raw)}, requestID: rid}, nil
	}
	var items [][]byte
	sum, err := c.r.g.Pages(ctx, path, func(it graph.Item) error {
		items = append(items, slices.Clone(it.Raw))
		return nil
	})
	rid := ""
	if n := len(sum.RequestIDs); n > 0 {
		rid = sum.RequestIDs[n-1]
	}
	if err != nil {
		return c.failedFetch(t, rid, err)
	}
	if !o.PerItem {
		return fetched{records: [][]byte{c.record(t, t.id, jsonArray(items))}, requestID: rid}, nil
	}
	f := fetched{requestID: rid}
	for _, it := range items {
		id, err := rawjson.Fields(it, "id")
		if err != nil || id[0] == "" {
			return f, &RecordError{DataType: c.dt.Name, Field: "id", Problem: "a member of " + path + " without an id"}
		}
		f.records = append(f.records, c.record(t, t.id+"/"+id[0], it))
	}
	return f, nil
}

// failedFetch settles a target's failed read: Graph's "none of this data" is an absent record, a target deleted
// since it was listed has nothing, anything else fails the page.
func (c *roundCollector) failedFetch(t target, rid string, err error) (fetched, error) {
	switch {
	case c.absent(err):
		return fetched{records: [][]byte{c.absentRecord(t, err)}, requestID: rid}, nil
	case graph.KindOf(err) == graph.NotFound:
		return fetched{requestID: rid}, nil
	}
	return fetched{requestID: rid}, err
}

// absent reports whether err is Graph's answer that the target has none of the data.
func (c *roundCollector) absent(err error) bool {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return false
	}
	return slices.ContainsFunc(c.dt.PerObject().Absent, func(code string) bool { return strings.EqualFold(code, ge.Code) })
}

// record is the archived record of a target's data: the target's id (and name and kind), and under the spec's
// field what Graph answered. id is the record's dedup key.
func (c *roundCollector) record(t target, id string, data []byte) []byte {
	m := c.recordBase(t, id)
	m[c.dt.PerObject().Field] = json.RawMessage(data)
	b, _ := json.Marshal(m) // strings and Graph's own valid JSON only
	return b
}

// absentRecord is the record of a target without the data: the field is null, and "absent" holds Graph's code and
// message.
func (c *roundCollector) absentRecord(t target, err error) []byte {
	var ge *graph.Error
	errors.As(err, &ge)
	m := c.recordBase(t, t.id)
	m[c.dt.PerObject().Field] = nil
	m["absent"] = map[string]string{"code": ge.Code, "message": ge.Message}
	b, _ := json.Marshal(m)
	return b
}

func (c *roundCollector) recordBase(t target, id string) map[string]any {
	m := map[string]any{"id": id}
	if c.dt.PerObject().Users {
		m["userId"], m["userPrincipalName"], m["userType"] = t.id, t.upn, t.userType
	} else {
		m["servicePrincipalId"] = t.id
	}
	return m
}

// jsonArray joins JSON values into an array.
func jsonArray(items [][]byte) []byte {
	b := []byte{'['}
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}
