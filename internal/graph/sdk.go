package graph

import (
	"context"
	"errors"
	"net/http"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/text"
)

// Exchange is one Graph request as the client finally saw it, after its retries: what was asked and what Graph
// answered. It carries no body and no header but Graph's request-id, so it may be logged and audited.
type Exchange struct {
	Method string `json:"method"`
	// Path is the request path ("/v1.0/users/…"), Query its query string without "?" (OData options only).
	Path  string `json:"path"`
	Query string `json:"query,omitempty"`
	// Status is the final HTTP status; 0 when no response arrived (Error says why).
	Status int `json:"status"`
	// RequestID is Graph's request-id response header.
	RequestID string `json:"requestId,omitempty"`
	// Attempts counts the sends, retries included.
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

type observerKey struct{}

// WithObserver returns a context whose Graph requests, typed (msgraph-sdk-go through Adapter) or raw, are each
// reported to fn once they are finished. fn runs on the requesting goroutine.
func WithObserver(ctx context.Context, fn func(Exchange)) context.Context {
	return context.WithValue(ctx, observerKey{}, fn)
}

// observe reports a finished request to the observer of its context, if any.
func observe(req *http.Request, resp *http.Response, err error, attempts int) {
	fn, ok := req.Context().Value(observerKey{}).(func(Exchange))
	if !ok || fn == nil {
		return
	}
	x := Exchange{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Attempts: attempts}
	if resp != nil {
		x.Status = resp.StatusCode
		x.RequestID = resp.Header.Get("request-id")
	}
	if err != nil {
		x.Error = err.Error()
	}
	fn(x)
}

// SDKError turns the error of a typed msgraph-sdk-go call on path into an *Error with its Kind, Graph's code,
// message and request-id, classified as raw responses are. Token failures become InvalidCredential errors;
// context errors and *Error values pass through; anything else (no response) is Transient.
func SDKError(err error, path string) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		e := &Error{Status: oe.ResponseStatusCode, Path: path, RequestID: headerValue(oe.GetResponseHeaders(), "request-id")}
		if me := oe.GetErrorEscaped(); me != nil {
			e.Code, e.Message = deref(me.GetCode()), deref(me.GetMessage())
			if ie := me.GetInnerError(); ie != nil && e.RequestID == "" {
				e.RequestID = deref(ie.GetRequestId())
			}
		}
		e.Message = text.Truncate(firstLine(e.Message), 300)
		e.Kind = kindFor(e.Status, e.Code, catalog.FamilyOf(path))
		return e
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		e := &Error{Status: ae.ResponseStatusCode, Path: path, RequestID: headerValue(ae.GetResponseHeaders(), "request-id"),
			Message: text.Truncate(firstLine(ae.Message), 300)}
		e.Kind = kindFor(e.Status, "", catalog.FamilyOf(path))
		return e
	}
	if ce := credentialError(err); ce != err {
		return ce
	}
	return &Error{Kind: Transient, Path: path, Message: "request failed", Err: err}
}

func headerValue(h *abs.ResponseHeaders, name string) string {
	if h == nil {
		return ""
	}
	if v := h.Get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
