package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/integrations"
)

// integrationOp is one operation of the Integrations API.
type integrationOp int

const (
	opList integrationOp = iota
	opCreate
	opGet
	opPatch
	opDelete
	opTest
	opCollect
	opCredentials
)

// integrationRoutes are the API's operations by (id given, action, method), with the roles each needs.
var integrationRoutes = []struct {
	withID bool
	action string
	method string
	op     integrationOp
	roles  []access.Role
}{
	{false, "", http.MethodGet, opList, access.Anyone},
	{false, "", http.MethodPost, opCreate, []access.Role{access.Admin}},
	{true, "", http.MethodGet, opGet, access.Anyone},
	{true, "", http.MethodPatch, opPatch, []access.Role{access.Admin}},
	{true, "", http.MethodDelete, opDelete, []access.Role{access.Admin}},
	{true, "test", http.MethodPost, opTest, []access.Role{access.Admin, access.Helpdesk}},
	{true, "collect", http.MethodPost, opCollect, []access.Role{access.Admin, access.Helpdesk}},
	{true, "credentials", http.MethodPost, opCredentials, []access.Role{access.Admin}},
}

// integrations serves /api/integrations[/{id}[/{action}]]: it finds the operation, checks the caller's role,
// and hands the request to internal/connect.
func (a *app) integrations(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	httpReq, err := req.HTTP("req")
	if err != nil {
		return nil, err
	}
	reply := envelope.NewReply()
	id, action, method := httpReq.Param("id"), httpReq.Param("action"), httpReq.Method
	op, roles, status, problem := routeIntegration(id != "", action, method)
	if status != 0 {
		roles = access.Anyone
	}
	if _, err := access.Check(httpReq.Header(access.Header), roles...); err != nil {
		return reply, denied(reply, err)
	}
	if status != 0 {
		return reply, reply.SetHTTP("res", status, apiError{Error: problem})
	}
	svc, st, err := a.connectService(ctx)
	if err != nil {
		return nil, err
	}
	now := dataClock(req)()
	switch op {
	case opList:
		list, bad, err := svc.List(ctx)
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
	case opCreate:
		r, err := integrations.DecodeCreate(httpReq.Body)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		created, err := svc.Create(ctx, r, now)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		return reply, reply.SetHTTP("res", http.StatusCreated, created)
	case opGet:
		v, err := svc.Get(ctx, id)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		return reply, reply.SetHTTP("res", http.StatusOK, v)
	case opPatch:
		i, err := svc.Patch(ctx, id, httpReq.Body, now)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		return reply, reply.SetHTTP("res", http.StatusOK, i)
	case opDelete:
		d, err := svc.Delete(ctx, id)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		return reply, reply.SetHTTP("res", http.StatusOK, d)
	case opTest:
		res, err := svc.Test(ctx, id, now)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		return reply, reply.SetHTTP("res", http.StatusOK, res)
	case opCredentials:
		r, err := svc.ResetCredentials(ctx, id, httpReq.Body, now)
		if err != nil {
			return reply, apiFailure(reply, err)
		}
		status := http.StatusOK
		if !r.Switched {
			status = http.StatusUnprocessableEntity
		}
		return reply, reply.SetHTTP("res", status, r)
	}
	// opCollect: Collect Now.
	integ, err := st.integrations.Get(ctx, id)
	if err != nil {
		return reply, apiFailure(reply, err)
	}
	if integ.Disabled {
		return reply, reply.SetHTTP("res", http.StatusConflict, apiError{Error: "integration " + quote(id) + " is disabled"})
	}
	items := collect.Plan([]string{integ.ID}, collect.ReasonCollectNow, now)
	if err := reply.AddQueue("workItems", toAny(items)...); err != nil {
		return nil, err
	}
	return reply, reply.SetHTTP("res", http.StatusAccepted, struct {
		Integration string             `json:"integration"`
		Enqueued    []collect.WorkItem `json:"enqueued"`
	}{integ.ID, items})
}

// routeIntegration finds the operation; a zero op with a status is a 404 or 405 to answer with problem.
func routeIntegration(withID bool, action, method string) (op integrationOp, roles []access.Role, status int, problem string) {
	var allowed []string
	for _, r := range integrationRoutes {
		if r.withID != withID || r.action != action {
			continue
		}
		if r.method == method {
			return r.op, r.roles, 0, ""
		}
		allowed = append(allowed, r.method)
	}
	if len(allowed) == 0 {
		return 0, nil, http.StatusNotFound, "unknown action " + quote(action) + "; actions are test, collect and credentials"
	}
	return 0, nil, http.StatusMethodNotAllowed, method + " is not supported here; use " + strings.Join(allowed, " or ")
}

type apiError struct {
	Error string `json:"error"`
	// Field names the request field that is wrong, when one is.
	Field string `json:"field,omitempty"`
}

// apiFailure answers what internal/connect refused: a bad field (4xx naming it), an unknown integration (404), a
// conflict (409). Anything else fails the invocation.
func apiFailure(reply *envelope.Reply, err error) error {
	var ve *integrations.ValidationError
	switch {
	case errors.As(err, &ve):
		return reply.SetHTTP("res", ve.HTTPStatus(), apiError{Error: ve.Error(), Field: ve.Field})
	case errors.Is(err, integrations.ErrNotFound):
		return reply.SetHTTP("res", http.StatusNotFound, apiError{Error: err.Error()})
	case errors.Is(err, integrations.ErrChanged), errors.Is(err, integrations.ErrSettings), errors.Is(err, integrations.ErrExists):
		return reply.SetHTTP("res", http.StatusConflict, apiError{Error: err.Error()})
	}
	return err
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
