package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/integrations"
)

// App roles of the App Service Authentication principal (SPEC §7).
const (
	RoleAdmin    = "Integration.Admin"
	RoleHelpdesk = "Integration.Helpdesk"
	RoleReader   = "Integration.Reader"
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

	need := []string{RoleAdmin, RoleHelpdesk, RoleReader}
	if action == "collect" {
		need = []string{RoleAdmin, RoleHelpdesk}
	}
	if status, msg := authorize(httpReq, need); status != 0 {
		return reply, reply.SetHTTP("res", status, apiError{Error: msg})
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

// clientPrincipal is App Service Authentication's X-MS-CLIENT-PRINCIPAL (base64 JSON).
type clientPrincipal struct {
	AuthType string `json:"auth_typ"`
	RoleType string `json:"role_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

// authorize checks the caller's app roles when App Service Authentication identified one. Without the header only
// the function key protects the endpoint (Easy Auth is optional; with it enabled, unauthenticated calls never
// reach the app). It returns a status and message when the caller may not proceed.
func authorize(req *envelope.HTTPRequest, anyOf []string) (int, string) {
	raw := req.Header("X-MS-CLIENT-PRINCIPAL")
	if raw == "" {
		return 0, ""
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return http.StatusUnauthorized, "X-MS-CLIENT-PRINCIPAL is not base64"
	}
	var p clientPrincipal
	if err := json.Unmarshal(b, &p); err != nil {
		return http.StatusUnauthorized, "X-MS-CLIENT-PRINCIPAL is not a principal"
	}
	for _, c := range p.Claims {
		if (c.Type == "roles" || c.Type == p.RoleType && p.RoleType != "") && slices.Contains(anyOf, c.Value) {
			return 0, ""
		}
	}
	return http.StatusForbidden, "this needs one of the app roles " + strings.Join(anyOf, ", ")
}
