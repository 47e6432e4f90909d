package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/integrations"
)

// integrations serves /api/integrations[/{id}[/{action}]]: list, get, and the collect action (Collect Now).
func (a *app) integrations(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	httpReq, err := req.HTTP("req")
	if err != nil {
		return nil, err
	}
	reply := envelope.NewReply()
	id, action := httpReq.Param("id"), httpReq.Param("action")
	method := httpReq.Method

	need := access.Anyone
	if action == "collect" {
		need = []access.Role{access.Admin, access.Helpdesk}
	}
	if _, err := access.Check(httpReq.Header(access.Header), need...); err != nil {
		return reply, denied(reply, err)
	}
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case id == "" && method == http.MethodGet:
		list, bad, err := st.integrations.List(ctx)
		if err != nil {
			return nil, err
		}
		out := struct {
			Integrations []integrations.Integration `json:"integrations"`
			Problems     []string                   `json:"problems,omitempty"`
		}{Integrations: list}
		for _, e := range bad {
			out.Problems = append(out.Problems, e.Error())
		}
		if out.Integrations == nil {
			out.Integrations = []integrations.Integration{}
		}
		return reply, reply.SetHTTP("res", http.StatusOK, out)
	case id != "" && action == "" && method == http.MethodGet:
		integ, err := st.integrations.Get(ctx, id)
		if errors.Is(err, integrations.ErrNotFound) {
			return reply, reply.SetHTTP("res", http.StatusNotFound, apiError{Error: "no integration with id " + quote(id)})
		}
		if err != nil {
			return nil, err
		}
		return reply, reply.SetHTTP("res", http.StatusOK, integ)
	case id != "" && action == "collect":
		if method != http.MethodPost {
			return reply, reply.SetHTTP("res", http.StatusMethodNotAllowed, apiError{Error: "collect needs POST"})
		}
		integ, err := st.integrations.Get(ctx, id)
		if errors.Is(err, integrations.ErrNotFound) {
			return reply, reply.SetHTTP("res", http.StatusNotFound, apiError{Error: "no integration with id " + quote(id)})
		}
		if err != nil {
			return nil, err
		}
		if integ.Disabled {
			return reply, reply.SetHTTP("res", http.StatusConflict, apiError{Error: "integration " + quote(id) + " is disabled"})
		}
		items := collect.Plan([]string{integ.ID}, collect.ReasonCollectNow, dataClock(req)())
		if err := reply.AddQueue("workItems", toAny(items)...); err != nil {
			return nil, err
		}
		return reply, reply.SetHTTP("res", http.StatusAccepted, struct {
			Integration string             `json:"integration"`
			Enqueued    []collect.WorkItem `json:"enqueued"`
		}{integ.ID, items})
	case action != "":
		return reply, reply.SetHTTP("res", http.StatusNotFound, apiError{Error: "unknown action " + quote(action) + "; this version supports collect"})
	default:
		return reply, reply.SetHTTP("res", http.StatusMethodNotAllowed, apiError{Error: method + " is not supported here"})
	}
}

type apiError struct {
	Error string `json:"error"`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// denied answers a refusal of internal/access with its status and reason.
func denied(reply *envelope.Reply, err error) error {
	var d *access.Denied
	if !errors.As(err, &d) {
		return err
	}
	return reply.SetHTTP("res", d.Status, apiError{Error: d.Message})
}
