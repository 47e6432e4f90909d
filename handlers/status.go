package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/status"
)

// status serves GET /api/status: JSON by default, an HTML page when the caller prefers text/html.
func (a *app) status(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	httpReq, err := req.HTTP("req")
	if err != nil {
		return nil, err
	}
	reply := envelope.NewReply()
	clients, err := a.storageClients()
	if err != nil {
		return nil, err
	}
	src := status.Sources{Collect: *a.collectOptions()}
	sctx, cancel := context.WithTimeout(ctx, status.ProbeTimeout)
	defer cancel()
	if st, err := a.stores(sctx); err == nil {
		src.Integrations, src.Cursors, src.Insights, src.Streams = st.integrations, st.cursors, st.archive, st.activity
		src.Connectivity = status.ConnectivityTests(st.statuses)
		src.Secrets = status.SecretChecks(st.alerts)
	}
	report := status.Build(ctx, a.cfg, clients, src, invocationTime(req))
	if prefersHTML(httpReq.Header("Accept")) {
		var page bytes.Buffer
		if err := report.HTML(&page); err != nil {
			return nil, err
		}
		return reply, reply.SetHTTPRaw("res", http.StatusOK, "text/html; charset=utf-8", page.Bytes())
	}
	return reply, reply.SetHTTP("res", http.StatusOK, report)
}

// invocationTime is the host's clock at invocation (Metadata.sys.UtcNow), or the local clock when it is absent.
func invocationTime(req *envelope.Request) time.Time {
	if sys, err := req.Sys(); err == nil && !sys.UtcNow.IsZero() {
		return sys.UtcNow
	}
	return time.Now().UTC()
}

func prefersHTML(accept string) bool {
	html := strings.Index(accept, "text/html")
	json := strings.Index(accept, "application/json")
	return html >= 0 && (json < 0 || html < json)
}
