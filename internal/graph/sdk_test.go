package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// TestTypedCallsAreObservedAndClassified: a typed msgraph-sdk-go call through Adapter is reported to the context's
// observer with its final status, attempts and request-id, and its error comes back as an *Error of the right
// Kind, carrying Graph's code, message and request-id.
func TestTypedCallsAreObservedAndClassified(t *testing.T) {
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"serviceNotAvailable","message":"busy"}}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"inner-%d"}}}`, n)
		default:
			io.WriteString(w, `{"id":"u1","userType":"Guest"}`)
		}
	})
	c := newTestClient(t, f, nil)
	var seen []Exchange
	ctx := WithObserver(context.Background(), func(x Exchange) { seen = append(seen, x) })
	gc := msgraph.NewGraphServiceClient(c.Adapter())
	u, err := gc.Users().ByUserId("u1").Get(ctx, nil)
	if err != nil || *u.GetUserType() != "Guest" {
		t.Fatalf("get: %v", err)
	}
	err = gc.Users().ByUserId("u1").Delete(ctx, nil)
	err = SDKError(err, "/v1.0/users/u1")
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != MissingPermission || ge.Status != 403 || ge.Code != "Authorization_RequestDenied" || ge.RequestID != "rid-3" || ge.Path != "/v1.0/users/u1" {
		t.Fatalf("delete error: %#v", err)
	}
	if len(seen) != 2 || seen[0].Method != "GET" || seen[0].Status != 200 || seen[0].Attempts != 2 || seen[0].RequestID != "rid-2" ||
		seen[1].Method != "DELETE" || seen[1].Status != 403 || seen[1].Path != "/v1.0/users/u1" {
		t.Fatalf("observed %+v", seen)
	}
	// Without an observer nothing is reported, and a cancelled context passes through.
	if _, err := gc.Users().ByUserId("u1").Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Errorf("observed a request of another context: %+v", seen)
	}
	if err := SDKError(context.Canceled, "/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("context error became %v", err)
	}
	api := &abs.ApiError{ResponseStatusCode: 504, Message: "gateway"}
	if KindOf(SDKError(api, "/x")) != Transient {
		t.Errorf("a 504 without a Graph body: %v", SDKError(api, "/x"))
	}
	oe := odataerrors.NewODataError()
	oe.ResponseStatusCode = 404
	if KindOf(SDKError(fmt.Errorf("wrapped: %w", oe), "/x")) != NotFound {
		t.Errorf("a wrapped 404 without a body: %v", SDKError(oe, "/x"))
	}
	if KindOf(SDKError(errors.New("connection reset"), "/x")) != Transient {
		t.Error("a transport failure is not transient")
	}
}
