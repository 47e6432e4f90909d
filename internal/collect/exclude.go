package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/membership"
	"github.com/entra-di/edi/internal/rawjson"
)

// Data types the integration's exclusions apply to (SPEC §3): the users, their sign-in activity and the per-user
// data types; the sign-in
// logs only with ExcludeFromLogs. Group memberships still name an excluded user's object id: an id is no user data,
// and leaving it out would break the groups' membership for every reader.
const (
	usersType    = "users"
	activityType = "userSignInActivity"
)

// maxKeptExcluded bounds the excluded users kept in a cursor (a table property holds 64 KiB); beyond it only their
// hash is kept, and a change of the set is answered with a full round instead of fetching who came back.
const maxKeptExcluded = 1000

// excludes reports whether the integration's exclusions apply to dt.
func (r *run) excludes(dt catalog.DataType) bool {
	if !r.integ.Excludes() {
		return false
	}
	if o := dt.PerObject(); o != nil && o.Users {
		// Per-user data (mailbox settings, authentication methods): an excluded user is not even asked.
		return true
	}
	return dt.Name == usersType || dt.Name == activityType || r.integ.ExcludeFromLogs && strings.HasPrefix(dt.Name, "signIns.")
}

// excludedUsers returns the users in the integration's excluded groups, transitively, as the archived groups say;
// computed once per run.
func (r *run) excludedUsers(ctx context.Context) (map[string]bool, error) {
	r.exclMu.Lock()
	defer r.exclMu.Unlock()
	if r.excluded != nil {
		return r.excluded, nil
	}
	groups := make([]string, len(r.integ.ExcludedGroups))
	for i, g := range r.integ.ExcludedGroups {
		groups[i] = strings.ToLower(g)
	}
	users, err := membership.Users(ctx, r.w.deps.Archive, r.integ.ID, groups)
	if errors.Is(err, membership.ErrNoGroups) {
		return nil, &graph.Error{Kind: graph.Unknown, Message: "the integration excludes groups, and the archive holds no finished full round of groups yet: users wait for it"}
	}
	if err != nil {
		return nil, fmt.Errorf("excluded groups: %w", err)
	}
	r.excluded = users
	return users, nil
}

// recordFilter returns what a task of dt keeps — nil keeps everything: a record of an excluded user, or of a guest
// when guests are excluded, is left out.
func (r *run) recordFilter(ctx context.Context, dt catalog.DataType) (func(raw []byte) (bool, error), error) {
	if !r.excludes(dt) {
		return nil, nil
	}
	excluded, err := r.excludedUsers(ctx)
	if err != nil {
		return nil, err
	}
	idField := "id"
	if dt.Mode() == catalog.Buckets {
		idField = "userId"
	}
	guests := r.integ.ExcludeGuests
	return func(raw []byte) (bool, error) {
		f, err := rawjson.Fields(raw, idField, "userType")
		if err != nil {
			return false, &RecordError{DataType: dt.Name, Field: idField, Problem: err.Error()}
		}
		if excluded[strings.ToLower(f[0])] || guests && strings.EqualFold(f[1], "Guest") {
			return false, nil
		}
		return true, nil
	}, nil
}

// exclusionState is the excluded set as a cursor keeps it: the sorted ids (when few enough) and their hash.
func exclusionState(set map[string]bool) ([]string, string) {
	ids := slices.Sorted(maps.Keys(set))
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if len(ids) > maxKeptExcluded {
		return nil, sum
	}
	return ids, sum
}

// reincludedUsers are the users excluded at the last users round and no longer now: a delta round would never
// report them (membership changes do not surface in users/delta), so the round reads them itself. known is false
// when the last set was too large to keep: only a full round is sure to bring everyone back.
func reincludedUsers(keptIDs []string, keptHash string, now map[string]bool) (ids []string, known bool) {
	if keptIDs == nil && keptHash != "" {
		_, h := exclusionState(now)
		return nil, h == keptHash
	}
	for _, id := range keptIDs {
		if !now[id] {
			ids = append(ids, id)
		}
	}
	return ids, true
}

// userPath is the request for one user with the properties the users data type tracks. A single object read with
// $select carries only what is selected — unlike delta, not even the id unless asked for.
func userPath(dt catalog.DataType, id string) string {
	return fmt.Sprintf("/%s/%s/%s?$select=id,%s", dt.Version, dt.Path, url.PathEscape(id), strings.Join(dt.Delta.Select, ","))
}
