package entrasim

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Per-object data below users and service principals (reference §1.3, §1.4):
//
//   - GET /users/{id | userPrincipalName}/mailboxSettings (MailboxSettings.Read): the mailboxSettings resource as
//     user-get-mailboxsettings.md shows it. A user without an Exchange Online mailbox — a guest, or a member whose
//     mailbox is hosted on-premises (here: no mail address, or one member in five) — is answered 404
//     MailboxNotEnabledForRESTAPI "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
//     (microsoft-graph-docs #5888, msgraph-sdk-powershell #3531). Outlook allows 4 concurrent requests per app: a
//     fifth in flight is answered 429 ApplicationThrottled "Application is over its MailboxConcurrency limit."
//     (magodo/terraform-provider-outlook #21, calcom #343; its Retry-After here is unverified).
//   - GET /servicePrincipals/{id}/synchronization/jobs (Synchronization.Read.All or Application.ReadWrite.OwnedBy,
//     synchronization-synchronization-list-jobs.md): the provisioning jobs of one service principal in four of the
//     application-type ones, an empty collection for the others.
//
// A user's authentication methods are served by remediate.go (GET users/{id}/authentication/methods).

// mailboxLatency is how long Outlook takes for one mailboxSettings request: long enough that concurrent requests
// overlap and the concurrency limit is measured.
const mailboxLatency = 15 * time.Millisecond

// OutlookConcurrency is Outlook's limit of concurrent requests per app.
const OutlookConcurrency = 4

var (
	readMailboxSettings = anyOf("MailboxSettings.Read", "MailboxSettings.ReadWrite")
	readSynchronization = anyOf("Synchronization.Read.All", "Synchronization.ReadWrite.All", "Application.ReadWrite.OwnedBy")
	errNoMailbox        = &gerr{status: http.StatusNotFound, code: "MailboxNotEnabledForRESTAPI", message: "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}
	errMailboxBusy      = &gerr{status: http.StatusTooManyRequests, code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit.",
		header: map[string]string{"Retry-After": "1"}}
)

// mailboxGauge counts the mailboxSettings requests in flight per app.
type mailboxGauge struct {
	mu       sync.Mutex
	inflight map[string]int
	peak     map[string]int
	refused  map[string]int
}

// MailboxConcurrency reports, for an app, the most mailboxSettings requests it had in flight at once and how many
// were refused for exceeding Outlook's limit.
func (t *Tenant) MailboxConcurrency(appID string) (peak, refused int) {
	g := &t.mailboxes
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak[appID], g.refused[appID]
}

func (g *mailboxGauge) enter(app string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight == nil {
		g.inflight, g.peak, g.refused = map[string]int{}, map[string]int{}, map[string]int{}
	}
	g.inflight[app]++
	g.peak[app] = max(g.peak[app], g.inflight[app])
	if g.inflight[app] > OutlookConcurrency {
		g.refused[app]++
		return false
	}
	return true
}

func (g *mailboxGauge) leave(app string) {
	g.mu.Lock()
	g.inflight[app]--
	g.mu.Unlock()
}

func (t *Tenant) buildPerObjectRoutes() {
	for _, version := range []string{"v1.0", "beta"} {
		add := func(path string, perm permission, serve func(rc *reqCtx)) {
			t.routes = append(t.routes, &route{method: http.MethodGet, version: version, segs: splitPath(path), family: familyDirectory,
				name: version + "/" + path, perms: []permission{perm}, serve: t.withFaults(serve)})
		}
		add("users/{}/mailboxSettings", readMailboxSettings, t.serveMailboxSettings)
		add("servicePrincipals/{}/synchronization/jobs", readSynchronization, t.serveSynchronizationJobs)
	}
}

// hasMailbox reports whether a live user with properties p has an Exchange Online mailbox.
func hasMailbox(id string, p obj) bool {
	return p.str("userType") == "Member" && p.str("mail") != "" && strKey(id)%5 != 0
}

// liveNow is the view of an object a request served now has: its properties, and whether it is live.
func liveNow(r *resource) (obj, bool) {
	if !r.live() {
		return nil, false
	}
	return r.props(), true
}

// listedAt is the view of an object a plain list (not a delta query) read at the simulated time asOf had: after
// every change made until then, a removal at once (a delta query sees it Options.RemovalDelay later). It answers
// the object's properties then, and whether it was live.
func listedAt(asOf time.Time) func(*resource) (obj, bool) {
	at := asOf.UnixNano()
	return func(r *resource) (obj, bool) {
		var seq uint64
		for _, x := range r.vers {
			if x.at <= at {
				seq = max(seq, x.seq)
			}
		}
		v := pin{s: seq, t: math.MaxInt64}
		if st, exists := r.existsAt(v); !exists || st != stLive {
			return nil, false
		}
		return r.propsAt(v), true
	}
}

// mailboxTimeZone is a user's mailbox time zone.
func mailboxTimeZone(u *resource) string {
	zones := []string{"Pacific Standard Time", "Eastern Standard Time", "W. Europe Standard Time", "GMT Standard Time", "Tokyo Standard Time"}
	return zones[strKey(u.id+"tz")%uint64(len(zones))]
}

func (t *Tenant) serveMailboxSettings(rc *reqCtx) {
	app := rc.principal.AppID
	if !t.mailboxes.enter(app) {
		t.mailboxes.leave(app)
		t.writeError(rc, errMailboxBusy)
		return
	}
	defer t.mailboxes.leave(app)
	if !hold(rc.r.Context(), mailboxLatency) {
		return
	}
	t.syncChurn()
	t.store.mu.RLock()
	u := t.liveUser(param(rc, 0))
	switch {
	case u == nil:
		t.store.mu.RUnlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	case !hasMailbox(u.id, u.props()):
		t.store.mu.RUnlock()
		t.writeError(rc, errNoMailbox)
		return
	}
	id, tz, away := u.id, mailboxTimeZone(u), strKey(u.id+"away")%4 == 0
	t.store.mu.RUnlock()
	day := t.Now().UTC().Truncate(24 * time.Hour)
	var w jw
	w.beginObj()
	w.kstr("@odata.context", t.contextURL(rc, "users('"+id+"')/mailboxSettings", nil))
	w.kstr("archiveFolder", "AQMkAGI2TG93AAAAA"+strings.ToUpper(strings.ReplaceAll(id, "-", ""))[:16]+"AAAAAEMAAAA=")
	w.kstr("timeZone", tz)
	w.kstr("delegateMeetingMessageDeliveryOptions", "sendToDelegateOnly")
	w.kstr("dateFormat", "M/d/yyyy")
	w.kstr("timeFormat", "h:mm tt")
	w.kstr("userPurpose", "user")
	w.key("automaticRepliesSetting")
	w.beginObj()
	status := "disabled"
	if away {
		status = "scheduled"
	}
	w.kstr("status", status)
	w.kstr("externalAudience", "all")
	w.kstr("internalReplyMessage", "")
	w.kstr("externalReplyMessage", "")
	for _, d := range []struct {
		k  string
		at time.Time
	}{{"scheduledStartDateTime", day.Add(24 * time.Hour)}, {"scheduledEndDateTime", day.Add(8 * 24 * time.Hour)}} {
		w.key(d.k)
		w.beginObj()
		w.kstr("dateTime", d.at.Format("2006-01-02T15:04:05.0000000"))
		w.kstr("timeZone", "UTC")
		w.endObj()
	}
	w.endObj()
	w.key("language")
	w.beginObj()
	w.kstr("locale", "en-US")
	w.kstr("displayName", "English (United States)")
	w.endObj()
	w.key("workingHours")
	w.beginObj()
	w.key("daysOfWeek")
	w.strs("monday", "tuesday", "wednesday", "thursday", "friday")
	w.kstr("startTime", "08:00:00.0000000")
	w.kstr("endTime", "17:00:00.0000000")
	w.key("timeZone")
	w.beginObj()
	w.kstr("name", tz)
	w.endObj()
	w.endObj()
	w.endObj()
	t.writeJSONBody(rc, http.StatusOK, &w)
}

// MailboxTruth is every live user's mailbox as the tenant has it: the time zone of its mailbox settings, or "" for a
// user without an Exchange Online mailbox.
func (t *Tenant) MailboxTruth() map[string]string {
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	return t.mailboxTruth(liveNow)
}

// MailboxTruthAt is MailboxTruth as a read at the simulated time asOf found it: the users live then (the users'
// list drops a deleted user at once), each with its mailbox's time zone or "". asOf must lie between the tenant's
// start and the simulated now.
func (t *Tenant) MailboxTruthAt(asOf time.Time) (map[string]string, error) {
	if err := t.checkAsOf(asOf); err != nil {
		return nil, err
	}
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	return t.mailboxTruth(listedAt(asOf)), nil
}

// mailboxTruth is the mailbox of every user live in view (caller holds the store's read lock).
func (t *Tenant) mailboxTruth(view func(*resource) (obj, bool)) map[string]string {
	out := map[string]string{}
	t.store.cols[colUsers].each("", func(u *resource) bool {
		if p, ok := view(u); ok {
			out[u.id] = ""
			if hasMailbox(u.id, p) {
				out[u.id] = mailboxTimeZone(u)
			}
		}
		return true
	})
	return out
}

// syncJobs returns a service principal's provisioning jobs: one in four application-type service principals has
// one (every third of those two), the others none.
func syncJobs(spID string, p obj, now time.Time) []obj {
	k := strKey(spID + "provisioning")
	if p.str("servicePrincipalType") != "Application" || k%4 != 0 {
		return nil
	}
	n := 1 + int(k/4%3/2)
	templates := []string{"scim", "AWSSingleAccount", "salesforce", "servicenow"}
	var out []obj
	for i := range n {
		tmpl := templates[(k/12+uint64(i))%uint64(len(templates))]
		id := fmt.Sprintf("%s.%s.%s", tmpl, strings.ReplaceAll(guidFrom(k, uint64(i)), "-", ""), strings.ReplaceAll(spID, "-", ""))
		last := now.Truncate(40 * time.Minute).Add(-time.Duration(i) * 40 * time.Minute)
		// synchronizationStatusCode and synchronizationScheduleState are PascalCase enums
		// (synchronization-synchronizationstatus.md); a quarantined job carries its synchronizationQuarantine.
		state, code := "Active", "Active"
		var quarantine any
		if k%7 == 0 {
			code = "Quarantine"
			quarantine = obj{{"currentBegan", last}, {"nextAttempt", last.Add(12 * time.Hour)}, {"reason", "EncounteredQuarantineException"},
				{"seriesBegan", last.Add(-24 * time.Hour)}, {"seriesCount", 2}, {"error", nil}}
		}
		out = append(out, obj{{"id", id}, {"templateId", tmpl},
			{"schedule", obj{{"expiration", nil}, {"interval", "PT40M"}, {"state", state}}},
			{"status", obj{{"code", code}, {"countSuccessiveCompleteFailures", 0}, {"escrowsPruned", false},
				{"lastSuccessfulExecution", obj{{"activityIdentifier", nil}, {"countEntitled", 0}, {"countEntitledForProvisioning", 0},
					{"countEscrowed", 0}, {"countEscrowedRaw", 0}, {"countExported", 3}, {"countExports", 3}, {"countImported", 12},
					{"countImportedDeltas", 2}, {"countImportedReferenceDeltas", 0}, {"error", nil}, {"state", "Succeeded"},
					{"timeBegan", last}, {"timeEnded", last.Add(90 * time.Second)}}},
				{"progress", []obj{}}, {"quarantine", quarantine}, {"synchronizedEntryCountByType", []obj{}},
				{"steadyStateFirstAchievedTime", last.Add(-30 * 24 * time.Hour)}, {"steadyStateLastAchievedTime", last},
				{"troubleshootingUrl", nil}}},
			{"synchronizationJobSettings", []obj{{{"name", "QuarantineTooManyDeletesThreshold"}, {"value", "500"}}}}})
	}
	return out
}

func (t *Tenant) serveSynchronizationJobs(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.RLock()
	sp := t.store.cols[colSPs].get(param(rc, 0))
	if sp == nil || !sp.live() {
		t.store.mu.RUnlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	body, n := objectsPage(t.contextURL(rc, "servicePrincipals('"+sp.id+"')/synchronization/jobs", nil), syncJobs(sp.id, sp.props(), t.Now().UTC())).render()
	t.store.mu.RUnlock()
	t.sendPage(rc, body, n)
}

// objectsPage is a page of whole objects, each written with every property it has.
func objectsPage(context string, items []obj) dirPage {
	return dirPage{context: context, items: func(w *jw, emit func()) {
		for _, o := range items {
			w.beginObj()
			for _, kv := range o {
				w.key(kv.k)
				writeValue(w, kv.v)
			}
			emit()
		}
	}}
}

// SynchronizationJobs is every live service principal's provisioning job ids, for those that have any.
func (t *Tenant) SynchronizationJobs() map[string][]string {
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	return t.synchronizationJobs(liveNow, t.Now().UTC())
}

// SynchronizationJobsAt is SynchronizationJobs as a read at the simulated time asOf found them: the job ids of the
// service principals live then that have any. asOf must lie between the tenant's start and the simulated now.
func (t *Tenant) SynchronizationJobsAt(asOf time.Time) (map[string][]string, error) {
	if err := t.checkAsOf(asOf); err != nil {
		return nil, err
	}
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	return t.synchronizationJobs(listedAt(asOf), asOf.UTC()), nil
}

// synchronizationJobs is the provisioning job ids of every service principal live in view that has any (caller
// holds the store's read lock).
func (t *Tenant) synchronizationJobs(view func(*resource) (obj, bool), now time.Time) map[string][]string {
	out := map[string][]string{}
	t.store.cols[colSPs].each("", func(sp *resource) bool {
		if p, ok := view(sp); ok {
			for _, j := range syncJobs(sp.id, p, now) {
				out[sp.id] = append(out[sp.id], j.str("id"))
			}
		}
		return true
	})
	return out
}
