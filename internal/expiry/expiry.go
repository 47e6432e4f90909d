// Package expiry is the daily client secret expiry check (CheckSecretExpiry, SPEC §8): for each integration it reads
// the app registration's passwordCredentials (the one whose keyId is the integration's Secret ID) and the Key Vault
// secret's expires, takes the earlier as the expiry, and sends each threshold's alert (90/30/14/7/1 days, expired;
// "deleted" when the Secret ID is gone from the app) once per secret to every configured webhook — Teams Workflows,
// Slack or generic JSON. The alerts table makes "once" hold across instances and failed sends are retried on the
// next run. With rotation on, it also replaces a secret before it expires (rotate.go).
package expiry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/secrets"
)

// Thresholds that are not a number of days.
const (
	Expired = "expired"
	Deleted = "deleted"
)

// DefaultThresholds are the days-left thresholds when none are configured.
var DefaultThresholds = []int{90, 30, 14, 7, 1}

// Integrations lists the integrations (*integrations.Store).
type Integrations interface {
	List(ctx context.Context) ([]integrations.Integration, []error, error)
}

// Apps reads an integration's app registration (GraphApps); nil, nil when the tenant has none.
type Apps interface {
	Application(ctx context.Context, i integrations.Integration) (*Application, error)
}

// Vault reads a Key Vault secret version's attributes (*secrets.Store).
type Vault interface {
	VersionProperties(ctx context.Context, name, version string) (secrets.Properties, error)
}

// Checker runs the expiry check.
type Checker struct {
	Integrations Integrations
	Apps         Apps
	// Vault is nil when no Key Vault is configured.
	Vault    Vault
	Alerts   *Alerts
	Webhooks []config.Webhook
	Sender   *Sender
	// Thresholds in days, any order (DefaultThresholds when empty).
	Thresholds []int
	// Lease is how long a claimed alert is held before another run may send it (10 minutes).
	Lease time.Duration
	// Rotator, when set, replaces the secrets of integrations with rotate on before they expire.
	Rotator *Rotator
}

// Result is one integration's check, kept in the alerts table (row "check") for Status.
type Result struct {
	Integration string    `json:"integration"`
	CheckedAt   time.Time `json:"checkedAt"`
	Credential  string    `json:"credential"`
	SecretID    string    `json:"secretId,omitempty"`
	// Expires is the earlier of AppExpires (the app registration's endDateTime) and VaultExpires (Key Vault).
	Expires      *time.Time `json:"expires,omitempty"`
	AppExpires   *time.Time `json:"appExpires,omitempty"`
	VaultExpires *time.Time `json:"vaultExpires,omitempty"`
	DaysLeft     *int       `json:"daysLeft,omitempty"`
	AppName      string     `json:"appName,omitempty"`
	// AppObjectID is the app registration's object id (for addPassword and removePassword).
	AppObjectID string `json:"appObjectId,omitempty"`
	// Problem is what is wrong ("secret deleted in Entra") or could not be established.
	Problem string `json:"problem,omitempty"`
	// Note says why there is nothing to check (a managed-identity integration has no secret).
	Note string `json:"note,omitempty"`
	// Due is the threshold due now ("" when none).
	Due string `json:"due,omitempty"`
	// Sent and Failed name the webhooks (setting and kind) this run delivered the due alert to, or failed to.
	Sent   []string `json:"sent,omitempty"`
	Failed []string `json:"failed,omitempty"`
	// LastAlert is the newest alert delivered for the current secret.
	LastAlert *SentAlert `json:"lastAlert,omitempty"`
	// Rotation is what rotation did this run, if anything.
	Rotation *Rotation `json:"rotation,omitempty"`
}

// SentAlert is a delivered alert.
type SentAlert struct {
	Threshold string    `json:"threshold"`
	SentAt    time.Time `json:"sentAt"`
}

// DaysLeft is the whole days from now until t: 0 on the last day, negative once past (as Status counts).
func DaysLeft(t, now time.Time) int {
	d := t.Sub(now)
	if d < 0 {
		return -int((-d + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return int(d / (24 * time.Hour))
}

// Due is the threshold due for a secret expiring at expires, at now: "expired" once past, otherwise the smallest
// threshold not below the days left, "" when none. Only the tightest is due: a secret first seen with 10 days left
// gets the 14-day alert, not the 90- and 30-day ones too.
func Due(expires, now time.Time, thresholds []int) string {
	if !now.Before(expires) {
		return Expired
	}
	days, due := DaysLeft(expires, now), ""
	best := -1
	for _, t := range thresholds {
		if days <= t && (best < 0 || t < best) {
			best = t
		}
	}
	if best >= 0 {
		due = strconv.Itoa(best)
	}
	return due
}

func (c *Checker) thresholds() []int {
	if len(c.Thresholds) == 0 {
		return DefaultThresholds
	}
	return c.Thresholds
}

// Check checks every integration at now (the data clock) and returns what it found. Failures of one integration
// are in its result; the error is for the integrations list itself.
func (c *Checker) Check(ctx context.Context, now time.Time) ([]Result, error) {
	list, bad, err := c.Integrations.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range bad {
		logging.From(ctx).Warn("integration skipped", "error", e.Error())
	}
	out := make([]Result, 0, len(list))
	for _, i := range list {
		out = append(out, c.CheckOne(ctx, i, now))
	}
	return out, nil
}

// CheckOne checks one integration, sends its due alert and stores the result.
func (c *Checker) CheckOne(ctx context.Context, i integrations.Integration, now time.Time) Result {
	ctx = logging.Attrs(ctx, logging.KeyIntegration, i.ID)
	log := logging.From(ctx)
	r, n := c.inspect(ctx, i, now)
	if c.Rotator != nil && i.Rotate && r.Problem == "" && c.Rotator.due(r) {
		if rot := c.rotate(ctx, i, r, now); rot != nil {
			if rot.Rotated {
				// The integration uses the new secret now: check that one (its thresholds start over).
				if fresh, err := c.Rotator.integration(ctx, c.Integrations, i.ID); err == nil {
					r, n = c.inspect(ctx, fresh, now)
					i = fresh
				}
			}
			r.Rotation = rot
			if rot.Failed != "" || rot.Warning != "" {
				c.deliver(ctx, &r, c.rotationNotice(i, r, rot, now))
			}
		}
	}
	if n != nil {
		c.deliver(ctx, &r, *n)
	}
	if last, err := c.lastAlert(ctx, i.ID, alertKey(i)); err == nil {
		r.LastAlert = last
	}
	if err := c.Alerts.PutResult(ctx, r); err != nil {
		log.Error("expiry check not stored", "error", err.Error())
	}
	attrs := []any{"credential", r.Credential, "due", r.Due, "sent", len(r.Sent), "failed", len(r.Failed)}
	if r.DaysLeft != nil {
		attrs = append(attrs, "days_left", *r.DaysLeft)
	}
	if r.Problem != "" {
		attrs = append(attrs, "problem", r.Problem)
	}
	log.Info("secret expiry checked", attrs...)
	return r
}

// alertKey identifies the integration's current secret in the alerts table: its Secret ID, or the Key Vault
// version when the Secret ID is unknown.
func alertKey(i integrations.Integration) string {
	if i.SecretID != "" {
		return i.SecretID
	}
	return "kv-" + i.SecretVersion
}

// inspect finds the expiry of the integration's secret and the notice due, if any.
func (c *Checker) inspect(ctx context.Context, i integrations.Integration, now time.Time) (Result, *Notice) {
	r := Result{Integration: i.ID, CheckedAt: now.UTC(), Credential: string(i.CredentialKind()), SecretID: i.SecretID}
	if i.CredentialKind() == integrations.ManagedIdentity {
		r.Note = "no secret to expire: the integration signs in with the function app's managed identity (federated credential)"
		return r, nil
	}
	var deleted bool
	if i.CredentialKind() == integrations.Secret && i.SecretID != "" && c.Apps != nil {
		app, err := c.Apps.Application(ctx, i)
		switch {
		case graph.AADSTS(err) == 7000222:
			r.Problem = "Entra refused the client secret as expired (AADSTS7000222)"
			exp := now.UTC()
			r.Expires = &exp
		case err != nil:
			r.Problem = "the app registration could not be read (Directory.Read.All or Application.Read.All): " + err.Error()
		case app == nil:
			r.Problem = "app " + i.ClientID + " is not registered in tenant " + i.TenantID + " (a multi-tenant app registered elsewhere): only Key Vault's expiry is checked"
		default:
			r.AppName, r.AppObjectID = app.DisplayName, app.ID
			idx := slices.IndexFunc(app.PasswordCredentials, func(p Password) bool { return strings.EqualFold(p.KeyID, i.SecretID) })
			if idx < 0 {
				r.Problem, deleted = "secret deleted in Entra", true
			} else {
				end := app.PasswordCredentials[idx].EndDateTime.UTC()
				r.AppExpires = &end
			}
		}
	}
	if c.Vault != nil && i.SecretName != "" {
		props, err := c.Vault.VersionProperties(ctx, i.SecretName, i.SecretVersion)
		switch {
		case err != nil:
			if r.Problem == "" {
				r.Problem = "the Key Vault secret could not be read: " + err.Error()
			}
		case !props.Expires.IsZero():
			exp := props.Expires.UTC()
			r.VaultExpires = &exp
		}
	}
	if r.AppExpires == nil && i.CredentialKind() == integrations.Certificate && i.SecretExpires != nil {
		// A certificate's own end date, as the connectivity test read it.
		exp := i.SecretExpires.UTC()
		r.AppExpires = &exp
	}
	if r.Expires == nil {
		for _, t := range []*time.Time{r.AppExpires, r.VaultExpires} {
			if t != nil && (r.Expires == nil || t.Before(*r.Expires)) {
				r.Expires = t
			}
		}
	}
	switch {
	case deleted:
		r.Due = Deleted
	case r.Expires != nil:
		days := DaysLeft(*r.Expires, now)
		r.DaysLeft = &days
		r.Due = Due(*r.Expires, now, c.thresholds())
	default:
		if r.Problem == "" {
			r.Problem = "no expiry known: neither the app registration nor Key Vault gives one"
		}
	}
	if r.Due == "" {
		return r, nil
	}
	n := c.notice(i, r, r.Due, now)
	return r, &n
}

func (c *Checker) notice(i integrations.Integration, r Result, threshold string, now time.Time) Notice {
	n := Notice{key: alertKey(i), ID: noticeID(i.ID, alertKey(i), threshold), Type: TypeExpiring, OccurredAt: now.UTC(),
		IntegrationID: i.ID, IntegrationName: i.Name, TenantID: i.TenantID, ClientID: i.ClientID, AppName: r.AppName,
		SecretID: i.SecretID, ExpiresAt: r.Expires, DaysLeft: r.DaysLeft, Threshold: threshold,
		HowToRotate: "In Entra (App registrations > " + i.ClientID + " > Certificates & secrets) add a new client secret, " +
			"then enter its Value and Secret ID with Reset Credentials (PUT /api/integrations/" + i.ID + "/credentials); " +
			"remove the old secret once the new one is in use."}
	switch threshold {
	case Expired:
		n.Type = TypeExpired
	case Deleted:
		n.Type = TypeDeleted
	}
	return n
}

// deliver sends n to every webhook that has not had it, each claimed in the alerts table first.
func (c *Checker) deliver(ctx context.Context, r *Result, n Notice) {
	log := logging.From(ctx)
	lease := c.Lease
	if lease <= 0 {
		lease = 10 * time.Minute
	}
	secret := n.key
	for _, w := range c.Webhooks {
		d, err := c.Alerts.Claim(ctx, n.IntegrationID, secret, n.Threshold, webhookID(w), n.OccurredAt, lease)
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			log.Error("expiry alert not claimed", "webhook", w.String(), "threshold", n.Threshold, "error", err.Error())
			r.Failed = append(r.Failed, w.String())
			continue
		}
		sendErr := c.Sender.Send(ctx, w, n)
		if err := c.Alerts.Finish(ctx, d, n.OccurredAt, sendErr); err != nil {
			log.Error("expiry alert outcome not stored", "webhook", w.String(), "error", err.Error())
		}
		if sendErr != nil {
			log.Warn("expiry alert not delivered; retried on the next run", "webhook", w.String(), "threshold", n.Threshold, "error", sendErr.Error())
			r.Failed = append(r.Failed, w.String())
			continue
		}
		log.Info("expiry alert sent", "webhook", w.String(), "threshold", n.Threshold)
		r.Sent = append(r.Sent, w.String())
	}
}

// lastAlert is the newest alert delivered for the integration's secret key.
func (c *Checker) lastAlert(ctx context.Context, integration, secret string) (*SentAlert, error) {
	ds, err := c.Alerts.Deliveries(ctx, integration)
	if err != nil {
		return nil, err
	}
	var last *SentAlert
	for _, d := range ds {
		if d.State == Sent && strings.EqualFold(d.Secret, secret) && (last == nil || d.SentAt.After(last.SentAt)) {
			last = &SentAlert{Threshold: d.Threshold, SentAt: d.SentAt}
		}
	}
	return last, nil
}

// Refused raises the expired alert at once when Entra refuses an integration's secret as expired (AADSTS7000222),
// whichever function saw it; it does nothing for any other error.
func (c *Checker) Refused(ctx context.Context, i integrations.Integration, err error, now time.Time) {
	if graph.AADSTS(err) == 7000222 {
		c.RaiseExpired(ctx, i, now)
	}
}

// RaiseExpired sends the integration's expired alert (once per secret, like every threshold) and records the
// expiry for Status.
func (c *Checker) RaiseExpired(ctx context.Context, i integrations.Integration, now time.Time) {
	if i.CredentialKind() != integrations.Secret || c.Alerts == nil {
		return
	}
	ctx = logging.Attrs(ctx, logging.KeyIntegration, i.ID)
	r := Result{Integration: i.ID, CheckedAt: now.UTC(), Credential: string(i.CredentialKind()), SecretID: i.SecretID,
		Problem: "Entra refused the client secret as expired (AADSTS7000222)", Due: Expired}
	exp, days := now.UTC(), -1
	r.Expires, r.DaysLeft = &exp, &days
	c.deliver(ctx, &r, c.notice(i, r, Expired, now))
	if last, err := c.lastAlert(ctx, i.ID, alertKey(i)); err == nil {
		r.LastAlert = last
	}
	if err := c.Alerts.PutResult(ctx, r); err != nil {
		logging.From(ctx).Error("expiry check not stored", "error", err.Error())
	}
	logging.From(ctx).Warn("client secret refused as expired: expired alert raised", "sent", len(r.Sent), "failed", len(r.Failed))
}

// Watch returns cred, which on a refusal as expired (AADSTS7000222) raises the integration's expired alert with the
// checker that checker returns at that time, before it returns the error: so a collector or any other function that
// signs in notices an expired secret at once.
func Watch(i integrations.Integration, cred azcore.TokenCredential, now func() time.Time, checker func() *Checker) azcore.TokenCredential {
	return watched{TokenCredential: cred, checker: checker, i: i, now: now}
}

type watched struct {
	azcore.TokenCredential
	checker func() *Checker
	i       integrations.Integration
	now     func() time.Time
}

func (w watched) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := w.TokenCredential.GetToken(ctx, opts)
	if err != nil && graph.AADSTS(graph.CredentialError(err)) == 7000222 {
		if c := w.checker(); c != nil {
			c.RaiseExpired(ctx, w.i, w.now())
		}
	}
	return tok, err
}

// Summary is what a run did, for the invocation log.
func Summary(results []Result) string {
	sent, failed, problems := 0, 0, 0
	for _, r := range results {
		sent += len(r.Sent)
		failed += len(r.Failed)
		if r.Problem != "" {
			problems++
		}
	}
	return fmt.Sprintf("checked %d integrations: %d alerts sent, %d failed (retried next run), %d with problems", len(results), sent, failed, problems)
}
