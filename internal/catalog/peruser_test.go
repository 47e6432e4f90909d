package catalog

import (
	"net/url"
	"strings"
	"testing"
)

// checkPerObject checks a data type read object by object: opt-in, a path with one {id}, requests of its own
// family, targets listed by a parsable request or by the integration, a record field, a positive concurrency.
func checkPerObject(t *testing.T, d DataType) {
	t.Helper()
	o := d.PerObject()
	if !d.OptIn {
		t.Error("a per-object data type costs a request per object: it must be opt-in")
	}
	if strings.Count(d.Path, "{id}") != 1 {
		t.Errorf("path %q: want exactly one {id}", d.Path)
	}
	p := d.ObjectPath("a b/c")
	if strings.Contains(p, "{id}") || !strings.Contains(p, "/a%20b%2Fc/") {
		t.Errorf("ObjectPath = %q: the id is not escaped into the path", p)
	}
	if got := FamilyOf(strings.SplitN(p, "?", 2)[0]); got != d.Family {
		t.Errorf("FamilyOf(%q) = %s, want the data type's family %s", p, got, d.Family)
	}
	if d.ProbeQuery() != "" {
		t.Errorf("probe %q: a per-object data type sends no probe (its permissions decide)", d.ProbeQuery())
	}
	switch {
	case o.ListedUsers && o.Targets != "":
		t.Errorf("listed users and a targets request %q", o.Targets)
	case o.ListedUsers && !o.Users:
		t.Error("listed users are users: the exclusions must apply")
	case !o.ListedUsers:
		u, err := url.Parse(o.Targets)
		if err != nil || !strings.HasPrefix(u.Path, "/"+d.Version+"/") || !strings.Contains(u.Query().Get("$select"), "id") {
			t.Errorf("targets %q: want a request of the data type's version selecting id", o.Targets)
		}
		if o.Users && !strings.Contains(u.Query().Get("$select"), "userType") {
			t.Errorf("targets %q: user targets must carry userType for the guest exclusion", o.Targets)
		}
	}
	if o.Field == "" || o.Concurrency < 1 || o.PerItem && !o.Collection {
		t.Errorf("field %q, concurrency %d, per item %v without a collection", o.Field, o.Concurrency, o.PerItem)
	}
	if o.Concurrency > OutlookConcurrency && strings.Contains(d.Path, "mailbox") {
		t.Errorf("concurrency %d above Outlook's %d", o.Concurrency, OutlookConcurrency)
	}
}

// TestMailboxSettingsStaysWithinOutlook pins the facts the mailbox settings rest on (reference/graph.md §1.4, §3).
func TestMailboxSettingsStaysWithinOutlook(t *testing.T) {
	d, ok := Lookup("mailboxSettings")
	if !ok {
		t.Fatal("no mailboxSettings")
	}
	o := d.PerObject()
	if o == nil || o.Concurrency != 4 || len(o.Absent) != 1 || o.Absent[0] != "MailboxNotEnabledForRESTAPI" || d.Permissions[0] != "MailboxSettings.Read" {
		t.Errorf("mailboxSettings: %+v %+v", d, o)
	}
	if a, _ := Lookup("authenticationMethods"); a.PerObject() == nil || !a.PerObject().ListedUsers {
		t.Error("authenticationMethods must be read for listed users only")
	}
}
