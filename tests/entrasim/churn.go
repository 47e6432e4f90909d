package entrasim

import (
	"slices"
	"time"
)

// Directory churn: with Options.Churn > 0 the directory changes on its own as the simulated clock advances —
// job titles, enabled accounts, VPN group membership, device sign-in times, group descriptions — so delta
// queries have something to report. Changes are derived from (seed, hour) like log events and applied lazily
// for every hour that has fully elapsed, before a directory request is served.

func (t *Tenant) syncChurn() {
	if t.cfg.Churn <= 0 {
		return
	}
	now := t.Now()
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		start := time.Unix(0, t.churnSlot*int64(time.Hour)).UTC()
		if start.Add(time.Hour).After(now) {
			return
		}
		t.applyChurn(t.churnSlot)
		t.churnSlot++
	}
}

// applyChurn applies the changes of one hour (caller holds the store lock).
func (t *Tenant) applyChurn(slot int64) {
	s := t.store
	seed := uint64(t.cfg.Seed)
	r := newRNG(seed, strKey("churn"), uint64(slot))
	n := r.poisson(t.cfg.Churn)
	users, groups, devices := s.cols[colUsers], s.cols[colGroups], s.cols[colDevices]
	pickLive := func(c *collection) *resource {
		if len(c.ids) == 0 {
			return nil
		}
		for tries := 0; tries < 8; tries++ {
			if x := c.byID[c.ids[r.intn(len(c.ids))]]; x.live() {
				return x
			}
		}
		return nil
	}
	for i := 0; i < n; i++ {
		switch x := r.float(); {
		case x < 0.4:
			if u := pickLive(users); u != nil && u.props.str("userType") == "Member" {
				u.props.set("jobTitle", pick(r, jobTitles))
				s.touch(u)
			}
		case x < 0.6:
			if u := pickLive(users); u != nil && u.hidden["admin"] != true {
				on, _ := u.props.get("accountEnabled")
				u.props.set("accountEnabled", on != true)
				s.touch(u)
			}
		case x < 0.8:
			vpn := groups.get(groupID(seed, slices.Index(groupNames, "VPN Users")))
			if u := pickLive(users); u != nil && vpn != nil {
				s.setMember(vpn, u.id, "user", slices.Contains(vpn.members, u.id))
			}
		case x < 0.9:
			if d := pickLive(devices); d != nil {
				d.props.set("approximateLastSignInDateTime", time.Unix(0, slot*int64(time.Hour)).UTC().Add(time.Duration(r.intn(3600))*time.Second))
				s.touch(d)
			}
		default:
			if g := pickLive(groups); g != nil {
				g.props.set("description", g.props.str("displayName")+" ("+pick(r, []string{"updated", "reviewed", "owners changed"})+")")
				s.touch(g)
			}
		}
	}
}
