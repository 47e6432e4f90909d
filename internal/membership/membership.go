// Package membership answers "which users are in these groups, directly or through nested groups" from the
// archive alone: the finished rounds of the groups data type (the newest full round and the delta rounds after
// it), replayed as Graph's delta documentation says — members@delta adds a member, or removes it when it carries
// @removed; a group may appear several times in one round with another slice of its members, so slices are
// merged and never replace each other; a group with @removed is gone, and so are its memberships. Nested groups
// are followed with a visited set, so cycles (which Entra allows) end.
//
// Two passes over the archive keep memory proportional to the nesting and to the users of the groups asked
// about, not to the whole directory: the first keeps only group-in-group edges, the second only the users of the
// groups reachable from the ones asked about.
package membership

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/entra-di/edi/internal/archive"
)

// Reader is what the replay needs of the archive (archive.Store).
type Reader interface {
	Rounds(ctx context.Context, integration, dataType string) ([]archive.Manifest, error)
	ReadRecords(ctx context.Context, name string, fn func(record []byte) error) error
}

// GroupsDataType is the data type whose rounds hold the membership.
const GroupsDataType = "groups"

// Graph's @odata.type of the members that matter here.
const (
	typeUser  = "#microsoft.graph.user"
	typeGroup = "#microsoft.graph.group"
)

// ErrNoGroups means the archive holds no finished full round of groups yet: membership is unknown.
var ErrNoGroups = fmt.Errorf("membership: no finished full round of %s in the archive", GroupsDataType)

// groupRecord is what a groups delta item says about membership.
type groupRecord struct {
	ID      string          `json:"id"`
	Removed json.RawMessage `json:"@removed"`
	Members []struct {
		Type    string          `json:"@odata.type"`
		ID      string          `json:"id"`
		Removed json.RawMessage `json:"@removed"`
	} `json:"members@delta"`
}

// replay applies every record of the rounds in order: reset is called at each full round, apply for each record.
func replay(ctx context.Context, rd Reader, rounds []archive.Manifest, reset func(), apply func(groupRecord)) error {
	for _, m := range rounds {
		if m.Full {
			reset()
		}
		for _, p := range m.Parts {
			err := rd.ReadRecords(ctx, p.Name, func(b []byte) error {
				var g groupRecord
				if err := json.Unmarshal(b, &g); err != nil {
					return fmt.Errorf("group record: %w", err)
				}
				if g.ID == "" {
					return fmt.Errorf("group record without id")
				}
				apply(g)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// edges are one kind of membership: group → members.
type edges map[string]map[string]bool

func (e edges) set(group, member string, on bool) {
	if on {
		if e[group] == nil {
			e[group] = map[string]bool{}
		}
		e[group][member] = true
	} else if e[group] != nil {
		delete(e[group], member)
	}
}

// Users returns the users that are members of any of groups, directly or through nested groups, as the archived
// groups rounds of the integration say. Groups that do not exist (any more) contribute nothing.
func Users(ctx context.Context, rd Reader, integration string, groups []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(groups) == 0 {
		return out, nil
	}
	rounds, err := rd.Rounds(ctx, integration, GroupsDataType)
	if err != nil {
		return nil, err
	}
	if len(rounds) == 0 {
		return nil, ErrNoGroups
	}
	// Pass 1: which groups exist, and group-in-group edges.
	alive, nested := map[string]bool{}, edges{}
	err = replay(ctx, rd, rounds, func() { alive, nested = map[string]bool{}, edges{} }, func(g groupRecord) {
		if g.Removed != nil {
			delete(alive, g.ID)
			delete(nested, g.ID)
			return
		}
		alive[g.ID] = true
		for _, m := range g.Members {
			if m.Type == typeGroup {
				nested.set(g.ID, m.ID, m.Removed == nil)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	reach := map[string]bool{}
	queue := append([]string(nil), groups...)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if reach[g] || !alive[g] {
			continue
		}
		reach[g] = true
		for m := range nested[g] {
			queue = append(queue, m)
		}
	}
	// Pass 2: the users of the reachable groups.
	users := edges{}
	err = replay(ctx, rd, rounds, func() { users = edges{} }, func(g groupRecord) {
		if !reach[g.ID] {
			return
		}
		if g.Removed != nil {
			delete(users, g.ID)
			return
		}
		for _, m := range g.Members {
			if m.Type == typeUser {
				users.set(g.ID, m.ID, m.Removed == nil)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for g := range reach {
		for u := range users[g] {
			out[u] = true
		}
	}
	return out, nil
}
