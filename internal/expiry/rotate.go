package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/remediate"
)

// Rotator replaces the client secret of an integration with rotate on, LeadDays before it expires
// (reference/credentials.md §4): addPassword on the app registration (as the app itself, which needs
// Application.ReadWrite.OwnedBy and to own its application), then Reset Credentials with the new secret — a
// connectivity test of it, and only if Entra accepts it a new Key Vault version that the integration switches to —
// then removePassword of the old secret. Each step goes to the audit trail (the remediation audit log, caller
// "CheckSecretExpiry"). Any failure leaves the old secret in use (a new secret that was added but failed its test is
// removed again) and is alerted.
type Rotator struct {
	// Client is the integration's Graph client (signing in with its current secret).
	Client func(i integrations.Integration) (*graph.Client, error)
	// Reset is Reset Credentials (*connect.Service.ResetCredentials).
	Reset func(ctx context.Context, id string, body []byte, now time.Time) (*connect.Reset, error)
	// Audit receives one entry per step (nil: none).
	Audit *remediate.AuditLog
	// LeadDays before expiry the secret is replaced; LifetimeDays is the new secret's lifetime.
	LeadDays, LifetimeDays int
}

// Rotation is what a rotation did.
type Rotation struct {
	Rotated     bool   `json:"rotated"`
	OldSecretID string `json:"oldSecretId"`
	NewSecretID string `json:"newSecretId,omitempty"`
	// Failed says which step failed and why (the old secret stays in use).
	Failed string `json:"failed,omitempty"`
	// Warning is a problem after the switch (the old secret could not be removed: remove it by hand).
	Warning string `json:"warning,omitempty"`
}

// RotationPrefix starts the display name of every secret rotation adds, so one left behind can be found.
const RotationPrefix = "edi-rotation "

const rotationThreshold = "rotation"

// due reports whether the secret is within the lead time.
func (r *Rotator) due(res Result) bool {
	return res.DaysLeft != nil && *res.DaysLeft <= r.LeadDays && *res.DaysLeft >= 0 && res.AppObjectID != ""
}

// rotate replaces i's secret; claim makes one instance do it at a time, and a failure is tried again on the next
// run.
func (c *Checker) rotate(ctx context.Context, i integrations.Integration, res Result, now time.Time) *Rotation {
	r := c.Rotator
	log := logging.From(ctx)
	claim, err := c.Alerts.Claim(ctx, i.ID, alertKey(i), rotationThreshold, "rotator", now, 10*time.Minute)
	if errors.Is(err, errTaken) {
		return nil
	}
	if err != nil {
		log.Error("rotation not claimed", "error", err.Error())
		return nil
	}
	rot := r.run(ctx, i, res, now)
	var failed error
	if rot.Failed != "" {
		failed = errors.New(rot.Failed)
	}
	if err := c.Alerts.Finish(ctx, claim, now, failed); err != nil {
		log.Error("rotation outcome not stored", "error", err.Error())
	}
	return rot
}

func (r *Rotator) run(ctx context.Context, i integrations.Integration, res Result, now time.Time) *Rotation {
	log := logging.From(ctx)
	rot := &Rotation{OldSecretID: i.SecretID}
	step := 0
	audit := func(action string, status int, outcome, message string) {
		step++
		log.Info("rotation step", "step", action, "outcome", outcome)
		if r.Audit == nil {
			return
		}
		e := &remediate.Entry{ID: fmt.Sprintf("rotation-%s-%d-%d", i.ID, now.Unix(), step), Time: now.UTC(), Recorded: time.Now().UTC(),
			Caller: remediate.Caller{Name: "CheckSecretExpiry", Provider: "timer", Roles: []access.Role{}}, Integration: i.ID,
			Action: "rotate-secret." + action, Status: status, Outcome: outcome, Message: message, Requests: []graph.Exchange{}}
		if err := r.Audit.Append(ctx, e); err != nil {
			log.Error("rotation audit entry not written", "step", action, "error", err.Error())
		}
	}
	fail := func(action string, err error) *Rotation {
		rot.Failed = action + ": " + err.Error()
		audit(action, statusOf(err), "failed", rot.Failed+"; the old secret "+i.SecretID+" stays in use")
		return rot
	}
	client, err := r.Client(i)
	if err != nil {
		return fail("add-password", err)
	}
	apps := msgraph.NewGraphServiceClient(client.Adapter()).Applications()
	path := "/v1.0/applications/" + res.AppObjectID

	// 1. A new secret, as the app itself.
	body := applications.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	name := RotationPrefix + now.UTC().Format("2006-01-02")
	end := now.UTC().Add(time.Duration(r.LifetimeDays) * 24 * time.Hour).Truncate(time.Second)
	pc.SetDisplayName(&name)
	pc.SetEndDateTime(&end)
	body.SetPasswordCredential(pc)
	added, err := apps.ByApplicationId(res.AppObjectID).AddPassword().Post(ctx, body, nil)
	if err != nil {
		return fail("add-password", graph.SDKError(err, path+"/addPassword"))
	}
	if added.GetKeyId() == nil || added.GetSecretText() == nil {
		return fail("add-password", errors.New("Graph answered without keyId or secretText"))
	}
	newID := added.GetKeyId().String()
	rot.NewSecretID = newID
	audit("add-password", 200, "done", fmt.Sprintf("added secret %s (%q) to app %s, expiring %s", newID, name, i.ClientID, end.Format(time.RFC3339)))

	// 2. Reset Credentials: the new secret is tested and, only if Entra accepts it, stored as a new Key Vault
	// version that the integration switches to.
	req, _ := json.Marshal(map[string]string{"secretId": newID, "secret": *added.GetSecretText()})
	reset, err := r.Reset(ctx, i.ID, req, now)
	if err == nil && !reset.Switched {
		err = errors.New(reset.Reason)
	}
	if err != nil {
		rot.Failed = "test of the new secret: " + err.Error()
		audit("test-new-secret", statusOf(err), "failed", rot.Failed+"; the old secret "+i.SecretID+" stays in use")
		// Take the unused secret back, so none is left behind.
		rb := applications.NewItemRemovePasswordPostRequestBody()
		id, _ := uuid.Parse(newID)
		rb.SetKeyId(&id)
		if err := apps.ByApplicationId(res.AppObjectID).RemovePassword().Post(ctx, rb, nil); err != nil {
			audit("remove-new-password", statusOf(err), "failed", "the unused secret "+newID+" could not be removed: "+graph.SDKError(err, path+"/removePassword").Error())
		} else {
			audit("remove-new-password", 204, "done", "removed the unused secret "+newID)
		}
		return rot
	}
	audit("switch", 200, "done", fmt.Sprintf("the new secret passed its connectivity test (%s) and is Key Vault version %s of %s", reset.Connectivity.State, reset.Integration.SecretVersion, i.SecretName))
	rot.Rotated = true

	// 3. Only now the old secret goes, signed in with the new one.
	client, err = r.Client(reset.Integration)
	if err == nil {
		rb := applications.NewItemRemovePasswordPostRequestBody()
		id, perr := uuid.Parse(i.SecretID)
		if perr != nil {
			err = fmt.Errorf("secret id %q is not a GUID", i.SecretID)
		} else {
			rb.SetKeyId(&id)
			err = msgraph.NewGraphServiceClient(client.Adapter()).Applications().ByApplicationId(res.AppObjectID).RemovePassword().Post(ctx, rb, nil)
			err = graph.SDKError(err, path+"/removePassword")
		}
	}
	if err != nil {
		rot.Warning = "the old secret " + i.SecretID + " could not be removed (remove it in Entra): " + err.Error()
		audit("remove-old-password", statusOf(err), "failed", rot.Warning)
		return rot
	}
	audit("remove-old-password", 204, "done", "removed the old secret "+i.SecretID)
	return rot
}

// statusOf is the HTTP status of a Graph error (0 when there was none).
func statusOf(err error) int {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge.Status
	}
	return 0
}

// rotationNotice tells the webhooks that rotation failed (the old secret stays in use).
func (c *Checker) rotationNotice(i integrations.Integration, r Result, rot *Rotation, now time.Time) Notice {
	n := c.notice(i, r, "rotation-failed", now)
	n.Type = TypeRotationFailed
	problem := rot.Failed
	if problem == "" {
		problem = rot.Warning
	}
	n.HowToRotate = "Automatic rotation failed (" + strings.TrimSpace(problem) + "); the current secret stays in use until it " +
		"is replaced. " + n.HowToRotate
	return n
}

// integration reads one integration again (after rotation switched it).
func (r *Rotator) integration(ctx context.Context, list Integrations, id string) (integrations.Integration, error) {
	all, _, err := list.List(ctx)
	if err != nil {
		return integrations.Integration{}, err
	}
	for _, i := range all {
		if i.ID == id {
			return i, nil
		}
	}
	return integrations.Integration{}, integrations.ErrNotFound
}
