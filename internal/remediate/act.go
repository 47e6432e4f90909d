package remediate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/graph"
)

// softDeleteRetention is how long a deleted user stays restorable (user-delete).
const softDeleteRetention = 30 * 24 * time.Hour

// Notes the replies carry.
const (
	noteExternalRevoke = "This is an external (B2B) account: it signs in at its home tenant, and Graph does not revoke the sign-in " +
		"sessions of external users (the call still succeeds). Ask the home organisation to revoke them, or block this guest " +
		"here (delete-guest-user, or accountEnabled=false in the portal)."
	noteRevokeDelay  = "Revocation can take a few minutes; access tokens already issued stay valid until they expire (about an hour)."
	noteDefaultLast  = "Graph does not say which method is the user's default, and refuses to delete it while others remain: a method it refuses with 400 is deleted again after the others."
	noteUserType     = "userType decides what the account may see and do in the directory; it does not change where the account signs in (an external account stays external)."
	noteRestoreShort = "The user is soft-deleted: restorable for 30 days with POST /v1.0/directory/deletedItems/{id}/restore, then purged."
)

// act reads the target, applies the target rules and runs (or plans) the action.
func (j *job) act(ctx context.Context) Reply {
	var plan *planRecord
	if j.resumed != nil && j.prior != nil {
		plan = j.prior.Plan
	}
	u, err := j.t.user(ctx, j.req.User)
	if graph.KindOf(err) == graph.NotFound {
		if plan != nil && j.action == DeleteGuestUser && plan.TargetID != "" {
			return j.deletedEarlier(ctx, plan)
		}
		return j.finish(ctx, j.refused(refuse(http.StatusNotFound, "unknown-user", "no user %q in integration %q's tenant", j.req.User, j.integ.ID)), stateDone)
	}
	if err != nil {
		return j.graphFailure(ctx, "reading the user", err)
	}
	j.target.User = u
	j.e.Target = &j.target
	if plan != nil && plan.TargetID != u.ID {
		return j.finish(ctx, j.refused(refuse(http.StatusConflict, "target-changed", "%q names another user (%s) than when this Idempotency-Key was first used (%s): use a new key",
			j.req.User, u.ID, plan.TargetID)), stateDone)
	}
	if protects(j.integ, j.req.User, u.ID, u.UPN) {
		return j.finish(ctx, j.refused(refuse(http.StatusForbidden, "protected-target", "%s (%s) is in integration %q's protected users: remediation never acts on it",
			u.UPN, u.ID, j.integ.ID)), stateDone)
	}
	roles, err := j.t.roles(ctx, u.ID)
	if err != nil {
		return j.graphFailure(ctx, "reading the user's directory roles", err)
	}
	j.target.Roles = roles
	if len(roles) > 0 && !j.req.AllowPrivileged {
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = r.DisplayName
		}
		return j.finish(ctx, j.refused(refuse(http.StatusForbidden, "privileged-target", "%s holds the directory role(s) %s: refused unless an Integration.Admin sets allowPrivileged",
			u.UPN, strings.Join(names, ", "))), stateDone)
	}
	switch j.action {
	case RevokeSessions:
		return j.revoke(ctx, u, plan)
	case ResetMFA:
		return j.resetMFA(ctx, u, plan)
	case UpdateUserType:
		return j.updateUserType(ctx, u, plan)
	}
	return j.deleteGuest(ctx, u, plan)
}

// result starts the answer.
func (j *job) result(outcome, message string, plan []Step) Result {
	if plan == nil {
		plan = []Step{}
	}
	return Result{ID: j.c.ID, Action: j.action, Integration: j.integ.ID, DryRun: j.req.DryRun, Outcome: outcome, Message: message,
		Target: j.target, Plan: plan, Resumed: j.resumed, IdempotencyKey: j.c.IdempotencyKey}
}

// answer records the result in the audit entry and under the key, and answers it.
func (j *job) answer(ctx context.Context, res Result) Reply {
	res.Requests = slices.Clone(j.e.Requests)
	j.e.Outcome, j.e.Message, j.e.Plan, j.e.Target = res.Outcome, res.Message, res.Plan, &res.Target
	status, state := http.StatusOK, stateDone
	if res.Outcome == OutcomePartial || res.Outcome == OutcomeFailed {
		status, state = http.StatusBadGateway, stateFailed
		res.Message += " Send the same request with the same Idempotency-Key to resume: what is done stays done."
		j.e.Message = res.Message
	}
	return j.finish(ctx, Reply{Status: status, Body: res}, state)
}

// recordPlan writes what this request sees and means to do under its key before the first change.
func (j *job) recordPlan(ctx context.Context, u *User, steps []Step, methods []Method) error {
	if j.claim == nil || j.claim.record().Plan != nil {
		return nil
	}
	p := &planRecord{TargetID: u.ID, TargetUPN: u.UPN, TargetType: u.Type, SessionsBefore: u.SessionsValidFrom, Methods: methods, Steps: steps}
	return j.claim.update(ctx, func(in *intent) { in.Plan = p })
}

// send makes one change and records it under the key once Graph confirmed it.
func (j *job) send(ctx context.Context, st Step) error {
	if err := graph.SDKError(st.send(ctx), st.Path); err != nil {
		return err
	}
	if j.claim != nil {
		if err := j.claim.update(ctx, func(in *intent) { in.Done = append(in.Done, st) }); err != nil {
			j.log(ctx).Warn("remediation: recording a change under the Idempotency-Key failed", "path", st.Path, "error", err.Error())
		}
	}
	return nil
}

// doneEarlier reports whether an earlier attempt with this key recorded the change as made.
func (j *job) doneEarlier(st Step) bool {
	return j.resumed != nil && slices.ContainsFunc(j.resumed.Done, func(d Step) bool { return d.Method == st.Method && d.Path == st.Path })
}

func (j *job) revoke(ctx context.Context, u *User, plan *planRecord) Reply {
	st, err := j.t.revokeStep(ctx, u.ID)
	if err != nil {
		return j.graphFailure(ctx, "building the request", err)
	}
	var notes []string
	if u.External {
		notes = append(notes, noteExternalRevoke)
	}
	steps := []Step{st}
	if plan != nil && (j.doneEarlier(st) || !u.External && !sameTime(u.SessionsValidFrom, plan.SessionsBefore)) {
		steps = nil
		notes = append(notes, "An earlier request with this Idempotency-Key already revoked the sessions: not sent again.")
	}
	if j.req.DryRun {
		res := j.result(OutcomeDryRun, fmt.Sprintf("would revoke the sign-in sessions of %s", u.UPN), steps)
		res.Notes = append(notes, noteRevokeDelay)
		return j.answer(ctx, res)
	}
	if err := j.recordPlan(ctx, u, steps, nil); err != nil {
		return j.graphFailure(ctx, "recording the intent", err)
	}
	before := u.SessionsValidFrom
	if plan != nil {
		before = plan.SessionsBefore
	}
	for _, s := range steps {
		if err := j.send(ctx, s); err != nil {
			res := j.result(OutcomeFailed, fmt.Sprintf("revoking the sign-in sessions of %s failed: %v.", u.UPN, err), steps)
			res.Notes = notes
			return j.answer(ctx, res)
		}
	}
	conf := &Confirmation{SessionsValidFromBefore: before}
	if now, err := j.t.user(ctx, u.ID); err == nil {
		conf.SessionsValidFromAfter = now.SessionsValidFrom
	} else {
		notes = append(notes, "The confirmation read failed: "+err.Error())
	}
	msg := fmt.Sprintf("revoked the sign-in sessions of %s", u.UPN)
	switch {
	case u.External:
		msg += " (no effect on an external account)"
	case conf.SessionsValidFromAfter != nil && !sameTime(conf.SessionsValidFromAfter, before):
		msg += fmt.Sprintf(": signInSessionsValidFromDateTime is now %s", conf.SessionsValidFromAfter.UTC().Format(time.RFC3339))
	}
	res := j.result(OutcomeDone, msg+".", steps)
	res.Confirmation, res.Notes = conf, append(notes, noteRevokeDelay)
	return j.answer(ctx, res)
}

// methodRank orders reset-mfa's deletes: alternate mobile before mobile (a user cannot keep the alternate
// without the mobile), the methods most often the default (the app, the phones) last.
func methodRank(m Method) int {
	switch m.Type {
	case passwordType:
		return -1
	case "emailAuthenticationMethod":
		return 0
	case "fido2AuthenticationMethod":
		return 1
	case "windowsHelloForBusinessAuthenticationMethod":
		return 2
	case "platformCredentialAuthenticationMethod":
		return 3
	case "softwareOathAuthenticationMethod":
		return 4
	case "temporaryAccessPassAuthenticationMethod":
		return 5
	case "microsoftAuthenticatorAuthenticationMethod":
		return 7
	case "phoneAuthenticationMethod":
		switch m.PhoneType {
		case "office":
			return 6
		case "alternateMobile":
			return 8
		case "mobile":
			return 9
		}
	}
	return 5
}

func (j *job) resetMFA(ctx context.Context, u *User, plan *planRecord) Reply {
	live, err := j.t.methods(ctx, u.ID)
	if err != nil {
		return j.graphFailure(ctx, "listing the user's authentication methods", err)
	}
	slices.SortStableFunc(live, func(a, b Method) int {
		return cmp.Or(cmp.Compare(methodRank(a), methodRank(b)), cmp.Compare(a.ID, b.ID))
	})
	outcomes := map[string]*MethodOutcome{}
	var order []string
	add := func(m Method, outcome, msg string) {
		outcomes[m.ID] = &MethodOutcome{Method: m, Outcome: outcome, Error: msg}
		order = append(order, m.ID)
	}
	var steps []Step
	var planned []Method
	for _, m := range live {
		switch {
		case m.Type == passwordType:
			add(m, methodKept, "")
			continue
		case plan != nil && !slices.ContainsFunc(plan.Methods, func(p Method) bool { return p.ID == m.ID }):
			add(m, methodKept, "registered after this Idempotency-Key's first request: left in place (a new request removes it)")
			continue
		}
		st, ok, err := j.t.deleteMethodStep(ctx, u.ID, m)
		if err != nil {
			return j.graphFailure(ctx, "building the request", err)
		}
		if !ok {
			add(m, methodUnsupported, "Graph v1.0 has no delete for this method type")
			continue
		}
		add(m, methodPlanned, "")
		steps, planned = append(steps, st), append(planned, m)
	}
	if plan != nil {
		for _, m := range plan.Methods {
			if _, ok := outcomes[m.ID]; !ok {
				add(m, methodGone, "deleted by an earlier request with this Idempotency-Key")
			}
		}
	}
	methodList := func() []MethodOutcome {
		out := make([]MethodOutcome, 0, len(order))
		for _, id := range order {
			out = append(out, *outcomes[id])
		}
		return out
	}
	notes := []string{noteDefaultLast}
	if j.req.DryRun {
		res := j.result(OutcomeDryRun, fmt.Sprintf("would delete %d authentication method(s) of %s", len(steps), u.UPN), steps)
		res.Methods, res.Notes = methodList(), notes
		return j.answer(ctx, res)
	}
	if len(steps) == 0 {
		res := j.result(OutcomeNoChange, fmt.Sprintf("%s has no authentication method to delete", u.UPN), nil)
		if plan != nil {
			res.Outcome, res.Message = OutcomeDone, fmt.Sprintf("the methods of %s were deleted by an earlier request with this Idempotency-Key", u.UPN)
		}
		if unsupported := countOutcome(outcomes, methodUnsupported); unsupported > 0 {
			res.Outcome = OutcomePartial
			res.Message = fmt.Sprintf("%s keeps %d method(s) Graph v1.0 cannot delete.", u.UPN, unsupported)
		}
		res.Methods = methodList()
		res.Confirmation = &Confirmation{MethodsLeft: live}
		return j.answer(ctx, res)
	}
	if err := j.recordPlan(ctx, u, steps, planned); err != nil {
		return j.graphFailure(ctx, "recording the intent", err)
	}

	// Delete in order; a 400 (most likely the default method, which must go last) is tried again after the
	// others, as long as a round makes progress.
	pending := steps
	for len(pending) > 0 && ctx.Err() == nil {
		var deferred []Step
		progress := false
		for _, st := range pending {
			o := outcomes[st.MethodID]
			err := j.send(ctx, st)
			switch kind := graph.KindOf(err); {
			case err == nil:
				o.Outcome, o.Error, progress = methodDeleted, "", true
			case kind == graph.NotFound:
				o.Outcome, o.Error, progress = methodGone, "", true
			case kind == graph.BadRequest:
				o.Outcome, o.Error = methodFailed, err.Error()
				deferred = append(deferred, st)
			default:
				o.Outcome, o.Error = methodFailed, err.Error()
			}
			o.RequestID = requestIDOf(err, j.e.Requests)
			if ctx.Err() != nil {
				break
			}
		}
		if !progress {
			break
		}
		pending = deferred
	}

	left, err := j.t.methods(ctx, u.ID)
	conf := &Confirmation{MethodsLeft: left}
	if err != nil {
		conf = nil
		notes = append(notes, "The confirmation read failed: "+err.Error())
	}
	deleted := countOutcome(outcomes, methodDeleted) + countOutcome(outcomes, methodGone)
	failed := countOutcome(outcomes, methodFailed) + countOutcome(outcomes, methodUnsupported)
	var res Result
	switch {
	case failed == 0:
		res = j.result(OutcomeDone, fmt.Sprintf("deleted %d authentication method(s) of %s: they register again at their next sign-in", deleted, u.UPN), steps)
	case deleted == 0:
		res = j.result(OutcomeFailed, fmt.Sprintf("no authentication method of %s could be deleted; left: %s.", u.UPN, describeLeft(outcomes, order)), steps)
	default:
		res = j.result(OutcomePartial, fmt.Sprintf("deleted %d authentication method(s) of %s; left: %s.", deleted, u.UPN, describeLeft(outcomes, order)), steps)
	}
	res.Methods, res.Confirmation, res.Notes = methodList(), conf, notes
	return j.answer(ctx, res)
}

func countOutcome(outcomes map[string]*MethodOutcome, outcome string) int {
	n := 0
	for _, o := range outcomes {
		if o.Outcome == outcome {
			n++
		}
	}
	return n
}

// describeLeft names the methods a reset left in place and why.
func describeLeft(outcomes map[string]*MethodOutcome, order []string) string {
	var parts []string
	for _, id := range order {
		o := outcomes[id]
		if o.Outcome != methodFailed && o.Outcome != methodUnsupported {
			continue
		}
		name := o.Detail
		if name == "" {
			name = o.Type
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", name, o.ID, o.Error))
	}
	return strings.Join(parts, "; ")
}

// requestIDOf finds the request-id of a failed call, or of the last request sent.
func requestIDOf(err error, sent []graph.Exchange) string {
	var ge *graph.Error
	if err != nil && errors.As(err, &ge) && ge.RequestID != "" {
		return ge.RequestID
	}
	if len(sent) > 0 {
		return sent[len(sent)-1].RequestID
	}
	return ""
}

func (j *job) updateUserType(ctx context.Context, u *User, plan *planRecord) Reply {
	want := j.req.UserType
	if u.Type == want {
		res := j.result(OutcomeNoChange, fmt.Sprintf("%s already is a %s", u.UPN, want), nil)
		if plan != nil {
			res.Outcome, res.Message = OutcomeDone, fmt.Sprintf("%s is a %s: an earlier request with this Idempotency-Key changed it", u.UPN, want)
		}
		res.Confirmation, res.Notes = &Confirmation{UserType: u.Type}, []string{noteUserType}
		return j.answer(ctx, res)
	}
	st, err := j.t.userTypeStep(ctx, u.ID, want)
	if err != nil {
		return j.graphFailure(ctx, "building the request", err)
	}
	steps := []Step{st}
	if j.req.DryRun {
		res := j.result(OutcomeDryRun, fmt.Sprintf("would change %s from %s to %s", u.UPN, u.Type, want), steps)
		res.Notes = []string{noteUserType}
		return j.answer(ctx, res)
	}
	if err := j.recordPlan(ctx, u, steps, nil); err != nil {
		return j.graphFailure(ctx, "recording the intent", err)
	}
	if err := j.send(ctx, st); err != nil {
		res := j.result(OutcomeFailed, fmt.Sprintf("changing %s to %s failed: %v.", u.UPN, want, err), steps)
		return j.answer(ctx, res)
	}
	res := j.result(OutcomeDone, fmt.Sprintf("changed %s from %s to %s", u.UPN, u.Type, want), steps)
	res.Notes = []string{noteUserType}
	if now, err := j.t.user(ctx, u.ID); err == nil {
		res.Confirmation = &Confirmation{UserType: now.Type}
		if now.Type != want {
			res.Outcome, res.Message = OutcomeFailed, fmt.Sprintf("Graph accepted the change but %s still reads as a %s.", u.UPN, now.Type)
		}
	} else {
		res.Notes = append(res.Notes, "The confirmation read failed: "+err.Error())
	}
	return j.answer(ctx, res)
}

func (j *job) deleteGuest(ctx context.Context, u *User, plan *planRecord) Reply {
	if u.Type != "Guest" {
		return j.finish(ctx, j.refused(refuse(http.StatusConflict, "not-a-guest", "%s is a %s: delete-guest-user deletes guests only (the live userType must be Guest)",
			u.UPN, cmp.Or(u.Type, "user without a userType"))), stateDone)
	}
	st, err := j.t.deleteUserStep(ctx, u.ID)
	if err != nil {
		return j.graphFailure(ctx, "building the request", err)
	}
	steps := []Step{st}
	if j.req.DryRun {
		res := j.result(OutcomeDryRun, fmt.Sprintf("would delete the guest %s", u.UPN), steps)
		res.Notes = []string{noteRestoreShort}
		return j.answer(ctx, res)
	}
	if err := j.recordPlan(ctx, u, steps, nil); err != nil {
		return j.graphFailure(ctx, "recording the intent", err)
	}
	if err := j.send(ctx, st); err != nil && graph.KindOf(err) != graph.NotFound {
		return j.answer(ctx, j.result(OutcomeFailed, fmt.Sprintf("deleting the guest %s failed: %v.", u.UPN, err), steps))
	}
	return j.confirmDeleted(ctx, u.ID, u.UPN, steps, "deleted the guest "+u.UPN)
}

// deletedEarlier answers a resumed delete whose user is gone: done if it is in deletedItems.
func (j *job) deletedEarlier(ctx context.Context, plan *planRecord) Reply {
	j.target.User = &User{ID: plan.TargetID, UPN: plan.TargetUPN, Type: plan.TargetType}
	j.e.Target = &j.target
	return j.confirmDeleted(ctx, plan.TargetID, plan.TargetUPN, nil, "the guest "+plan.TargetUPN+" was deleted by an earlier request with this Idempotency-Key")
}

// confirmDeleted re-reads a deleted user: gone from users, present in deletedItems.
func (j *job) confirmDeleted(ctx context.Context, id, upn string, steps []Step, msg string) Reply {
	conf := &Confirmation{}
	var notes []string
	if _, err := j.t.user(ctx, id); err == nil {
		conf.StillLive = true
	} else if graph.KindOf(err) != graph.NotFound {
		notes = append(notes, "The confirmation read of the user failed: "+err.Error())
	}
	when, err := j.t.deletedUser(ctx, id)
	switch {
	case err != nil:
		notes = append(notes, "The confirmation read of deletedItems failed: "+err.Error())
	case when != nil:
		until := when.Add(softDeleteRetention)
		conf.Deleted, conf.RestorableUntil = when, &until
		conf.Restore = "POST /v1.0/directory/deletedItems/" + id + "/restore"
	}
	res := j.result(OutcomeDone, msg+".", steps)
	switch {
	case conf.StillLive:
		res.Outcome, res.Message = OutcomeFailed, fmt.Sprintf("Graph accepted the delete but %s still reads as a live user.", upn)
	case conf.Deleted == nil && err == nil:
		res.Outcome, res.Message = OutcomeFailed, fmt.Sprintf("%s is neither a live user nor in deletedItems.", upn)
	case conf.RestorableUntil != nil:
		res.Message = fmt.Sprintf("%s; restorable until %s with %s.", msg, conf.RestorableUntil.UTC().Format(time.RFC3339), conf.Restore)
	}
	res.Confirmation, res.Notes = conf, append(notes, noteRestoreShort)
	return j.answer(ctx, res)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
