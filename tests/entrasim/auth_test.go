package entrasim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 31})
	c := newClient(t, tn)
	good := fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
	tests := []struct {
		name, header string
		status       int
		message      string
	}{
		{"valid", "Bearer " + good, 200, ""},
		{"scheme is case-insensitive", "bearer " + good, 200, ""},
		{"missing", "", 401, "Access token is empty."},
		{"empty bearer", "Bearer ", 401, "Access token is empty."},
		{"basic", "Basic dXNlcjpwYXNz", 401, "Access token is empty."},
		{"expired", "Bearer " + fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(-time.Minute)), 401, "Lifetime validation failed, the token is expired."},
		{"other audience", "Bearer " + strings.Replace(good, GraphAudience, "https://vault.azure.net", 1), 401, "Access token validation failure. Invalid audience."},
		{"garbage", "Bearer eyJ0eXAiOiJKV1QifQ.e30.x", 401, "Access token validation failure."},
		{"other tenant", "Bearer " + fakeToken("00000000-0000-0000-0000-000000000001", tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour)), 401, "Access token validation failure."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tn.GraphURL()+pathAudits+"?$top=1", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readResponse(t, res)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 200 {
				return
			}
			e := r.gerr(t)
			if e.Error.Code != "InvalidAuthenticationToken" || e.Error.Message != tc.message {
				t.Fatalf("error %+v", e.Error)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 32})
	c := newClient(t, tn)
	tests := []struct {
		name  string
		roles []string
		path  string
		code  string // "" means 200
		msg   string
	}{
		{"read-only set reads sign-ins", ReadOnlyRoles(), pathBetaSignIns, "", ""},
		{"both permissions suffice", []string{"AuditLog.Read.All", "Directory.Read.All"}, pathV1SignIns, "", ""},
		{"ReadWrite implies Read", []string{"AuditLog.Read.All", "Directory.ReadWrite.All"}, pathBetaSignIns, "", ""},
		{"sign-ins without AuditLog", []string{"Directory.Read.All"}, pathBetaSignIns, "Authentication_MSGraphPermissionMissing", "Calling principal does not have required MSGraph permissions AuditLog.Read.All"},
		{"sign-ins without Directory", []string{"AuditLog.Read.All"}, pathV1SignIns, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"audits with AuditLog only", []string{"AuditLog.Read.All"}, pathAudits, "", ""},
		{"provisioning with AuditLog only", []string{"AuditLog.Read.All"}, pathProv, "", ""},
		{"audits without AuditLog", []string{"Directory.Read.All", "Reports.Read.All"}, pathAudits, "Authentication_MSGraphPermissionMissing", "Calling principal does not have required MSGraph permissions AuditLog.Read.All"},
		{"provisioning without any", nil, pathProv, "Authentication_MSGraphPermissionMissing", "AuditLog.Read.All"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.token = fakeToken(tn.TenantID(), tn.ClientID(), tc.roles, time.Now().Add(time.Hour))
			r := c.get(tn.GraphURL() + tc.path + "?$top=1")
			if tc.code == "" {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", r.status, r.body)
			}
			if e := r.gerr(t); e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.msg) {
				t.Fatalf("error %+v", e.Error)
			}
		})
	}
}

func TestLicences(t *testing.T) {
	free := []Licence{LicenceFree}
	tests := []struct {
		name     string
		licences []Licence
		path     string
		status   int
	}{
		{"free: beta sign-ins", free, pathBetaSignIns, 403},
		{"free: v1.0 sign-ins", free, pathV1SignIns, 403},
		{"free: provisioning needs P1", free, pathProv, 403},
		{"free: audits work", free, pathAudits, 200},
		{"P1: sign-ins", []Licence{LicenceP1}, pathBetaSignIns, 200},
		{"P2: provisioning", []Licence{LicenceP2}, pathProv, 200},
		{"Intune alone is not premium", []Licence{LicenceIntune}, pathV1SignIns, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Seed: 33, Licences: tc.licences})
			c := newClient(t, tn)
			r := c.get(tn.GraphURL() + tc.path + "?$top=1")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 403 {
				e := r.gerr(t)
				if e.Error.Code != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" || e.Error.Message != "Neither tenant is B2C or tenant doesn't have premium license" {
					t.Fatalf("error %+v", e.Error)
				}
			}
		})
	}
}

func TestIntermittentNonPremium(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 34, NonPremiumShare: 0.5})
	c := newClient(t, tn)
	counts := map[int]int{}
	for i := 0; i < 60; i++ {
		counts[c.get(tn.GraphURL()+pathBetaSignIns+"?$top=1").status]++
		if r := c.get(tn.GraphURL() + pathAudits + "?$top=1"); r.status != 200 {
			t.Fatalf("audits are not affected, got %d", r.status)
		}
	}
	if counts[403] < 15 || counts[200] < 15 || counts[403]+counts[200] != 60 {
		t.Fatalf("outcomes %v, want about half 403 and half 200", counts)
	}
}

// readResponse reads and closes a response.
func readResponse(t *testing.T, res *http.Response) response {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: res.StatusCode, header: res.Header, body: []byte(b.String())}
}
