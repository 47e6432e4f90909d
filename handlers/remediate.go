package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/remediate"
)

// remediate serves POST /api/remediation/{action} (revoke-sessions, reset-mfa, update-user-type,
// delete-guest-user) and GET /api/remediation/audit: internal/remediate decides, audits and answers.
func (a *app) remediate(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	httpReq, err := req.HTTP("req")
	if err != nil {
		return nil, err
	}
	svc, err := a.remediator(ctx)
	if err != nil {
		return nil, err
	}
	id := invocationID(ctx)
	if id == "" {
		id = randomID()
	}
	r := svc.Handle(ctx, remediate.Call{
		ID: id, Time: invocationTime(req), Method: httpReq.Method, Action: httpReq.Param("action"),
		Principal: httpReq.Header(access.Header), IdempotencyKey: httpReq.Header("Idempotency-Key"),
		Body: httpReq.Body, Query: httpReq.QueryValue,
	})
	reply := envelope.NewReply()
	if err := reply.SetHTTP("res", r.Status, r.Body); err != nil {
		return nil, err
	}
	for k, v := range r.Header {
		if err := reply.SetHTTPHeader("res", k, v); err != nil {
			return nil, err
		}
	}
	return reply, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
