package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/entra-di/edi/internal/rawjson"
)

// PageInfo describes one page read by Page.
type PageInfo struct {
	// Items is the number of elements in the page's value.
	Items int
	// RequestID is Graph's request-id for the page.
	RequestID string
	// NextLink and DeltaLink are the page's links ("" when absent).
	NextLink, DeltaLink string
}

// Summary describes a whole paged read.
type Summary struct {
	Pages, Items int
	// RequestIDs has one entry per page, in order.
	RequestIDs []string
	// DeltaLink is the last page's @odata.deltaLink, for delta queries.
	DeltaLink string
}

// Item is one element of a page's value, as Graph sent it.
type Item struct {
	// Raw is the element's exact bytes, valid only during the callback.
	Raw []byte
	// RequestID is Graph's request-id of the page the element came in.
	RequestID string
}

// PageAttempts is how often Pages reads one page whose body fails midway (reset, truncation, invalid JSON) before
// giving up: status-level failures were already retried by the throttle middleware.
const PageAttempts = 3

// errPageBody marks a failure while reading a page's body (reset, truncation, invalid JSON): the status-level
// retries of the throttle middleware cannot see those, so Pages reads the page again.
var errPageBody = errors.New("page body failed")

// Pages reads the collection at first (an absolute URL or a path below the endpoint) and every page its nextLinks
// lead to, calling item for each element of value with the exact bytes Graph sent (valid during the call only).
//
// A page whose body fails midway is read again from the same link, so item can see an element more than once:
// callers deduplicate (the collector does, by dedup key). When Pages returns an error, none of what item received
// may be treated as complete. nextLinks are followed only to the client's Graph endpoint.
func (c *Client) Pages(ctx context.Context, first string, item func(Item) error) (Summary, error) {
	var sum Summary
	var rd rawjson.Reader
	for link := first; link != ""; {
		info, err := c.page1(ctx, &rd, link, item)
		if err != nil {
			return sum, err
		}
		sum.Pages++
		sum.Items += info.Items
		sum.RequestIDs = append(sum.RequestIDs, info.RequestID)
		sum.DeltaLink = info.DeltaLink
		link = info.NextLink
	}
	return sum, nil
}

// Page reads the one page at link (an absolute URL or a path below the endpoint), calling item for each element
// as Pages does, and returns its links: a caller that must checkpoint between pages (a delta round spanning
// invocations) follows NextLink itself. A nextLink outside the Graph endpoint is an error.
func (c *Client) Page(ctx context.Context, link string, item func(Item) error) (PageInfo, error) {
	var rd rawjson.Reader
	return c.page1(ctx, &rd, link, item)
}

// maxObject bounds one object read by Object.
const maxObject = 4 << 20

// Object reads one object (a path below the endpoint, e.g. "/v1.0/users/{id}?$select=…") and returns its JSON as
// Graph sent it, with the request id. A missing object is a NotFound *Error.
func (c *Client) Object(ctx context.Context, path string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.PageTimeout)
	defer cancel()
	resp, err := c.get(ctx, c.URL(path))
	if err != nil {
		return nil, requestID(err), err
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("request-id")
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxObject+1))
	switch {
	case err != nil:
		return nil, rid, &Error{Kind: Transient, Path: resp.Request.URL.Path, RequestID: rid, Message: "reading the object failed", Err: err}
	case len(b) > maxObject || !json.Valid(b):
		return nil, rid, &Error{Kind: InvalidPage, Path: resp.Request.URL.Path, RequestID: rid, Message: "the object is not valid JSON (or larger than 4 MiB)"}
	}
	return b, rid, nil
}

// page1 reads one page, reading it again when its body fails midway or Graph answers its skip-token glitch.
func (c *Client) page1(ctx context.Context, rd *rawjson.Reader, link string, item func(Item) error) (PageInfo, error) {
	if len(link) > 0 && link[0] == '/' {
		link = c.URL(link)
	}
	for attempt := 1; ; attempt++ {
		page, rid, err := c.page(ctx, rd, link, item)
		if err == nil {
			return PageInfo{Items: page.Items, RequestID: rid, NextLink: page.NextLink, DeltaLink: page.DeltaLink}, nil
		}
		if attempt >= PageAttempts || !(errors.Is(err, errPageBody) || isSkipTokenGlitch(err, link)) || ctx.Err() != nil {
			return PageInfo{RequestID: rid}, err
		}
		if serr := sleep(ctx, backoff(c.opts.Retry, attempt)); serr != nil {
			return PageInfo{RequestID: rid}, err
		}
	}
}

// page fetches and streams one page.
func (c *Client) page(ctx context.Context, rd *rawjson.Reader, link string, item func(Item) error) (rawjson.Page, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.PageTimeout)
	defer cancel()
	resp, err := c.get(ctx, link)
	if err != nil {
		return rawjson.Page{}, requestID(err), err
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("request-id")
	var itemErr error
	page, err := rd.ReadPage(resp.Body, func(raw []byte) error {
		if err := item(Item{Raw: raw, RequestID: rid}); err != nil {
			itemErr = err
			return err
		}
		return nil
	})
	path := resp.Request.URL.Path
	switch {
	case itemErr != nil:
		return page, rid, itemErr
	case err == nil:
		if page.NextLink != "" {
			if _, lerr := c.checkURL(page.NextLink); lerr != nil {
				return page, rid, lerr
			}
		}
		return page, rid, nil
	case ctx.Err() != nil:
		return page, rid, &Error{Kind: Transient, Path: path, RequestID: rid, Message: "page read timed out or was cancelled", Err: ctx.Err()}
	}
	var se *rawjson.SyntaxError
	if errors.As(err, &se) || errors.Is(err, rawjson.ErrTruncated) {
		return page, rid, &Error{Kind: InvalidPage, Status: resp.StatusCode, Path: path, RequestID: rid, Message: err.Error(), Err: fmt.Errorf("%w: %w", errPageBody, err)}
	}
	return page, rid, &Error{Kind: Transient, Status: resp.StatusCode, Path: path, RequestID: rid, Message: fmt.Sprintf("reading the page: %v", err), Err: fmt.Errorf("%w: %w", errPageBody, err)}
}

// isSkipTokenGlitch recognises Graph's transient paging failure on a nextLink: 400 with code UnknownError
// ("Invalid Skip Token, skip token is null", msgraph-sdk-powershell #1388) on a link that carries a skip token.
// The same link usually works when asked again; if it keeps failing, the caller re-reads its window from the start.
func isSkipTokenGlitch(err error, link string) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == 400 && strings.EqualFold(ge.Code, codeUnknown) &&
		strings.Contains(strings.ToLower(link), "skiptoken=")
}

func requestID(err error) string {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.RequestID
	}
	return ""
}
