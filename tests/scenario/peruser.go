package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// PerObjectDataTypes are the opt-in per-object data types, which an integration collects only when custom mode
// switches them on.
var PerObjectDataTypes = []string{"mailboxSettings", "synchronizationJobs", "authenticationMethods"}

// NoSuchUser is an object id no user of a simulated tenant has: listed for authenticationMethods, it is recorded
// absent.
const NoSuchUser = "0badc0de-0000-4000-8000-000000000000"

// noMailbox is Graph's error code for a user without an Exchange Online mailbox (microsoft-graph-docs #5888).
const noMailbox = "MailboxNotEnabledForRESTAPI"

// perObjectRecord is what the verification reads of an archived per-object record.
type perObjectRecord struct {
	ID                 string `json:"id"`
	UserID             string `json:"userId"`
	ServicePrincipalID string `json:"servicePrincipalId"`
	MailboxSettings    *struct {
		TimeZone string `json:"timeZone"`
	} `json:"mailboxSettings"`
	Job *struct {
		ID         string `json:"id"`
		TemplateID string `json:"templateId"`
	} `json:"job"`
	Methods *[]struct {
		ID string `json:"id"`
	} `json:"methods"`
	Absent *struct {
		Code string `json:"code"`
	} `json:"absent"`
}

// perObjectCheck says what is wrong with a target's record ("" when it is as the tenant has it).
type perObjectCheck func(perObjectRecord) string

// VerifyPerObject checks the opt-in per-object data types against the tenant: the newest snapshot of each must be
// the tenant as the snapshot's read found it at its start (Graph keeps no history of these, so an older snapshot
// has nothing to compare with). mailboxSettings: every user once, with its mailbox's time zone, or recorded absent
// with MailboxNotEnabledForRESTAPI when it has no Exchange Online mailbox. synchronizationJobs: every provisioning
// job of every service principal once, as <servicePrincipalId>/<jobId> with its template. authenticationMethods:
// each user of listed (object ids, as the integration lists them) once, with its methods in the tenant's order, or
// recorded absent when no such user was live. A target the snapshot lacks, or holds otherwise, is missing; a record
// of no target is extra; an id twice is a duplicate; Absent counts the records of targets without the data. A data
// type without a finished snapshot has Records 0. Compare before remediation changes a listed user's methods.
func (e *Env) VerifyPerObject(ctx context.Context, listed []string) ([]Report, error) {
	store, err := e.Archive()
	if err != nil {
		return nil, err
	}
	var out []Report
	for _, name := range PerObjectDataTypes {
		c, err := e.Cursor(ctx, name)
		if err != nil {
			return nil, err
		}
		r := Report{DataType: name, State: c.State}
		rounds, err := store.Rounds(ctx, Integration, name)
		if err != nil {
			return nil, err
		}
		if len(rounds) == 0 {
			out = append(out, r)
			continue
		}
		newest := rounds[len(rounds)-1]
		r.To = newest.Start
		want, err := e.perObjectTruth(name, newest.Start, listed)
		if err != nil {
			return nil, err
		}
		note := func(format string, args ...any) {
			if len(r.Examples) < 5 {
				r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
			}
		}
		seen, right := map[string]int{}, map[string]bool{}
		for _, p := range newest.Parts {
			r.Parts++
			err := store.ReadRecords(ctx, p.Name, func(b []byte) error {
				var rec perObjectRecord
				if err := json.Unmarshal(b, &rec); err != nil {
					return err
				}
				if seen[rec.ID]++; seen[rec.ID] == 2 {
					r.Duplicates++
					note("%s archived twice", rec.ID)
				}
				if rec.Absent != nil && seen[rec.ID] == 1 {
					r.Absent++
				}
				check, ok := want[rec.ID]
				if !ok {
					r.Extra++
					note("extra %s", b)
					return nil
				}
				if problem := check(rec); problem != "" {
					note("%s: %s", rec.ID, problem)
					return nil
				}
				right[rec.ID] = true
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		r.Records = len(seen)
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if !right[id] {
				r.Missing++
				if seen[id] == 0 {
					note("missing %s", id)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// perObjectTruth is the check of every target's record a per-object data type's snapshot read at asOf must hold,
// by record id.
func (e *Env) perObjectTruth(name string, asOf time.Time, listed []string) (map[string]perObjectCheck, error) {
	want := map[string]perObjectCheck{}
	switch name {
	case "mailboxSettings":
		truth, err := e.Tenant.MailboxTruthAt(asOf)
		if err != nil {
			return nil, err
		}
		for id, zone := range truth {
			want[id] = func(r perObjectRecord) string {
				switch {
				case r.UserID != id:
					return fmt.Sprintf("userId %q", r.UserID)
				case zone == "" && (r.Absent == nil || r.Absent.Code != noMailbox || r.MailboxSettings != nil):
					return "the user has no mailbox, want it recorded absent with " + noMailbox
				case zone != "" && (r.MailboxSettings == nil || r.MailboxSettings.TimeZone != zone || r.Absent != nil):
					return fmt.Sprintf("want the mailbox settings with time zone %q", zone)
				}
				return ""
			}
		}
	case "synchronizationJobs":
		truth, err := e.Tenant.SynchronizationJobsAt(asOf)
		if err != nil {
			return nil, err
		}
		for sp, jobs := range truth {
			for _, job := range jobs {
				want[sp+"/"+job] = func(r perObjectRecord) string {
					if r.ServicePrincipalID != sp || r.Job == nil || r.Job.ID != job || r.Job.TemplateID == "" {
						return fmt.Sprintf("want service principal %s's job %s with its template", sp, job)
					}
					return ""
				}
			}
		}
	case "authenticationMethods":
		for _, ref := range listed {
			id := strings.ToLower(ref)
			methods, live, err := e.Tenant.AuthMethodsAt(id, asOf)
			if err != nil {
				return nil, err
			}
			var ids []string
			for _, m := range methods {
				ids = append(ids, m.ID)
			}
			want[id] = func(r perObjectRecord) string {
				var got []string
				if r.Methods != nil {
					for _, m := range *r.Methods {
						got = append(got, m.ID)
					}
				}
				switch {
				case r.UserID != id:
					return fmt.Sprintf("userId %q", r.UserID)
				case !live && (r.Absent == nil || r.Absent.Code == "" || len(got) > 0):
					return "no such user, want it recorded absent"
				case live && (r.Absent != nil || r.Methods == nil || !slices.Equal(got, ids)):
					return fmt.Sprintf("methods %v, the tenant's %v", got, ids)
				}
				return ""
			}
		}
	default:
		return nil, fmt.Errorf("scenario: %q is no per-object data type", name)
	}
	return want, nil
}
