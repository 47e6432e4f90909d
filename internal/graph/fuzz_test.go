package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// kinds are every Kind classify may answer.
var kinds = []Kind{Throttled, Transient, NotLicensed, MissingPermission, InvalidCredential, BadRequest, NotFound, SyncReset,
	InvalidPage, Forbidden, Unknown}

// FuzzClassify feeds arbitrary error responses (status, request-id header, body) to classify. Nothing may panic,
// and every answer is usable: a known Kind consistent with the status where the status alone decides, the status
// and path kept, the header's request id (else the body's), a message of at most 300 bytes that is valid UTF-8
// when the body is, and an Error() naming the kind and the request id. Seeds: testdata/fuzz/FuzzClassify.
func FuzzClassify(f *testing.F) {
	f.Add(429, "", []byte(`{"error":{"code":"TooManyRequests","message":"Too many requests","innerError":{"request-id":"r1"}}}`))
	f.Add(403, "r2", []byte(`{"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Neither tenant is B2C or tenant doesn't have premium license"}}`))
	f.Add(400, "", []byte(`{"error":{"code":"BadRequest","message":"{\"ErrorCode\":\"Forbidden\",\"Message\":\"{\\\"_version\\\": 3}\\r\\nmore\"}"}}`))
	f.Fuzz(func(t *testing.T, status int, rid string, body []byte) {
		header := http.Header{}
		if rid != "" {
			header.Set("request-id", rid)
		}
		e := classify(status, header, body, "/v1.0/auditLogs/directoryAudits")
		if e == nil {
			t.Fatal("classify returned nil")
		}
		if !containsKind(e.Kind) {
			t.Fatalf("kind %q is not a known kind", e.Kind)
		}
		switch {
		case status == http.StatusTooManyRequests && e.Kind != Throttled:
			t.Fatalf("429 classified %s", e.Kind)
		case status >= 500 && status != http.StatusTooManyRequests && e.Kind != Transient && e.Kind != SyncReset:
			t.Fatalf("%d classified %s", status, e.Kind)
		}
		if e.Status != status || e.Path != "/v1.0/auditLogs/directoryAudits" {
			t.Fatalf("status %d path %q, want %d and the request path", e.Status, e.Path, status)
		}
		if got := header.Get("request-id"); got != "" && e.RequestID != got {
			t.Fatalf("request id %q, want the header's %q", e.RequestID, got)
		}
		if len(e.Message) > 300+len("…") {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if utf8.Valid(body) && !utf8.ValidString(e.Message) {
			t.Fatalf("message %q is not valid UTF-8 though the body was", e.Message)
		}
		msg := e.Error()
		if !strings.HasPrefix(msg, "graph "+string(e.Kind)) {
			t.Fatalf("Error() = %q does not start with the kind", msg)
		}
		if e.RequestID != "" && !strings.Contains(msg, e.RequestID) {
			t.Fatalf("Error() = %q lacks the request id %q", msg, e.RequestID)
		}
		var ge *Error
		if !errors.As(error(e), &ge) || KindOf(e) != e.Kind {
			t.Fatal("the error does not classify itself")
		}
	})
}

func containsKind(k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// bodyMarker is planted in the token endpoint's error_description: the credential error must not copy it.
const bodyMarker = "secret-looking-description-text"

// FuzzCredentialError feeds arbitrary token endpoint answers (status and body) through the error azidentity
// returns to credentialError. Nothing may panic; the result is always an InvalidCredential *Error with the status,
// a Code that is "AADSTS<n>" for the first of error_codes (else the OAuth error), one of our own messages — never
// text from the body — and AADSTS/IsInvalidClient agree with the code. Seeds: testdata/fuzz/FuzzCredentialError.
func FuzzCredentialError(f *testing.F) {
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. `+bodyMarker+`","error_codes":[7000215],"trace_id":"t1"}`))
	f.Add(400, []byte(`{"error":"invalid_request","error_codes":[90002]}`))
	f.Add(400, []byte(`not json `+bodyMarker))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body))}
		in := &azidentity.AuthenticationFailedError{RawResponse: resp}
		err := credentialError(in)
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("credentialError = %T %v, want *Error", err, err)
		}
		if ge.Kind != InvalidCredential || ge.Status != status || !errors.Is(err, in) {
			t.Fatalf("kind %s status %d (want %d), wraps the cause %v", ge.Kind, ge.Status, status, errors.Is(err, in))
		}
		var te tokenError
		if json.Unmarshal(body, &te) == nil && len(te.ErrorCodes) > 0 {
			if want := "AADSTS" + itoa(te.ErrorCodes[0]); ge.Code != want {
				t.Fatalf("code %q, want %q", ge.Code, want)
			}
		}
		if n := AADSTS(err); (n != 0) != strings.HasPrefix(ge.Code, "AADSTS") && ge.Code != "AADSTS0" {
			t.Fatalf("AADSTS = %d for code %q", n, ge.Code)
		}
		if IsInvalidClient(err) != (AADSTS(err) == 7000215 || AADSTS(err) == 7000222) {
			t.Fatalf("IsInvalidClient disagrees with code %q", ge.Code)
		}
		if !ownMessage(ge.Message) {
			t.Fatalf("message %q is not one of the credential messages", ge.Message)
		}
		if msg := err.Error(); strings.Contains(msg, bodyMarker) {
			t.Fatalf("Error() copies the response body: %q", msg)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// ownMessage reports whether m is one of the messages credentialError writes itself.
func ownMessage(m string) bool {
	if m == "token request failed" || m == "token request refused" {
		return true
	}
	for _, code := range []string{"7000215", "7000222", "700016", "90002", "900023", "7000229", "500011"} {
		if m == describeAADSTS(code) {
			return true
		}
	}
	return false
}
