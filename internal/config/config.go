// Package config loads the app's one typed configuration from app settings (environment variables) with defaults,
// and validates it, naming the setting that is wrong. Every setting is declared once in Settings; the README's
// configuration table is checked against that list by a test.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/urls"
)

// Config is the handler's configuration.
type Config struct {
	// Port is the loopback port the host told the handler to listen on.
	Port int
	// AppRoot is the function app's root folder (host.json, functions).
	AppRoot string
	// FunctionTimeout is host.json's functionTimeout unless FUNCTION_TIMEOUT overrides it.
	FunctionTimeout time.Duration
	// ShutdownGrace is how long in-flight invocations may run after SIGTERM.
	ShutdownGrace time.Duration
	// LogLevel is the minimum level written to stderr.
	LogLevel slog.Level
	// MemoryLimit is the Go runtime's soft memory limit, in bytes.
	MemoryLimit int64

	Storage Storage
	// RawContainer is the blob container for the archive.
	RawContainer string

	// KeyVaultURL is the vault holding the integrations' client secrets.
	KeyVaultURL string
	// AppClientID is the client id of the app's user-assigned managed identity (AZURE_CLIENT_ID).
	AppClientID string
	// AppAuthorityHost is AZURE_AUTHORITY_HOST: the authority of the app's own identity, when not Entra's.
	AppAuthorityHost string
	// Entra is the integration declared in app settings, if ENTRA_TENANT_ID is set.
	Entra Entra
	// GraphEndpoint is the Microsoft Graph root; AuthorityHost the Entra authority for integration tokens.
	GraphEndpoint, AuthorityHost string
	Collect                      Collect
	Insights                     Insights
	Remediation                  Remediation
	Stream                       Stream
	Expiry                       Expiry
	// SecretPropagation is how long a connectivity test of a just-entered secret retries AADSTS7000215.
	SecretPropagation time.Duration
}

// Insights tunes the daily identity insights (internal/insights).
type Insights struct {
	// Schedule is the ComputeInsights timer (NCRONTAB, six fields).
	Schedule string
	// InactiveDays is the inactivity threshold: no successful sign-in for more than this many days.
	InactiveDays int
	// SignInDays is how many days of interactive sign-ins SSO coverage (and MFA coverage without the registration
	// report) reads.
	SignInDays int
}

// Remediation tunes the Remediate function.
type Remediation struct {
	// KeyRole is the app role ("Integration.Admin", "Integration.Helpdesk") a caller identified by the function
	// key alone, without an App Service Authentication principal, acts with; "" refuses such callers.
	KeyRole string
	// LeaseTTL is how long a remediation holds its Idempotency-Key without renewing it: the retry of a request
	// whose handler died takes over after it.
	LeaseTTL time.Duration
}

// Expiry tunes CheckSecretExpiry, the daily client secret expiry check (SPEC §8).
type Expiry struct {
	// Schedule is the CheckSecretExpiry timer (NCRONTAB, six fields).
	Schedule string
	// Thresholds are the days-left thresholds at which an alert is sent, largest first ("expired" is always one).
	Thresholds []int
	// Webhooks are the notification targets, in setting order. Each URL is a secret: never logged or shown.
	Webhooks []Webhook
	// RotationLeadDays is how many days before expiry an integration with rotate on gets a new secret;
	// RotationLifetimeDays the new secret's lifetime.
	RotationLeadDays, RotationLifetimeDays int
}

// Webhook kinds.
const (
	WebhookTeams = "teams"
	WebhookSlack = "slack"
	WebhookJSON  = "json"
)

// Webhook is one notification target. Its URL is a credential (Teams' sig=, Slack's path): String names the
// setting only.
type Webhook struct {
	// Setting is the app setting that declares it (SECRET_EXPIRY_WEBHOOK_1, …).
	Setting string
	// Kind is WebhookTeams, WebhookSlack or WebhookJSON.
	Kind string
	URL  string
}

// String names the webhook without its URL.
func (w Webhook) String() string { return w.Setting + " (" + w.Kind + ")" }

// Stream tunes StreamEvents, the real-time path from Event Hubs.
type Stream struct {
	// Integration is the integration of streamed records whose tenant matches no integration's tenantId (for a hub
	// that carries one tenant's logs); empty: they are quarantined.
	Integration string
	// DedupDays is how long, by event time, a record content is remembered against duplicates; 0: forever.
	DedupDays int
}

// Entra is the one-tenant integration declared in app settings.
type Entra struct {
	ID, TenantID, ClientID, SecretName, SecretID string
	Permissions                                  catalog.Access
	// Licences are the licence answers (yes/no), by licence; a licence not listed is "auto".
	Licences map[catalog.Licence]string
	// ExcludedGroups are group object ids whose users (transitively) are not collected as directory data;
	// ExcludeGuests leaves guests out too; ExcludeFromLogs applies both to the sign-in logs as well.
	ExcludedGroups                 []string
	ExcludeGuests, ExcludeFromLogs bool
	// ProtectedUsers are object ids or user principal names remediation never acts on (break-glass accounts).
	ProtectedUsers []string
}

// Declared reports whether app settings declare an integration.
func (e Entra) Declared() bool { return e.TenantID != "" }

// Collect tunes collection.
type Collect struct {
	// Schedule is the CollectLogs timer (NCRONTAB, six fields).
	Schedule string
	// DirectorySchedule is the CollectDirectory timer.
	DirectorySchedule string
	// CompactSchedule is the CompactArchive timer, which merges closed days of the log archive into hourly parts.
	CompactSchedule string
	// FullEvery is the longest time between full rounds of a delta data type (a weekly snapshot by default).
	FullEvery time.Duration
	// RoundPart is the number of records after which a delta round or snapshot commits a part and checkpoints.
	RoundPart int
	// Lag is how long after its end a time bucket is first read (late events settle meanwhile).
	Lag time.Duration
	// BackfillDays bounds the first run's backfill (the tenant's retention bounds it too).
	BackfillDays int
	// Resweeps are the delays after a bucket closes at which it is read again for late events.
	Resweeps []time.Duration
	// Concurrency is how many time windows one worker reads at once (all share the family budget).
	Concurrency int
	// LeaseTTL is how long a worker's family lease lasts without renewal.
	LeaseTTL time.Duration
	// StreamWindow: a log data type streams while StreamEvents archived records of it with event times this recent;
	// Graph then only fills the stream's gaps. 0: never.
	StreamWindow time.Duration
	// Budgets override Graph's documented throttling budgets per family.
	Budgets map[catalog.Family]catalog.Budget
}

// Storage says how to reach the storage account: a connection string (local, Azurite) or identity-based service
// URLs (Azure), the same settings the host reads for AzureWebJobsStorage.
type Storage struct {
	// ConnectionString is AzureWebJobsStorage as a connection string, with UseDevelopmentStorage=true expanded.
	ConnectionString string
	BlobURL          string
	QueueURL         string
	TableURL         string
	// Credential is "managedidentity" or "" (DefaultAzureCredential).
	Credential string
	// ClientID selects a user-assigned managed identity.
	ClientID string
}

// Identity reports whether storage is reached with an Entra identity rather than a connection string.
func (s Storage) Identity() bool { return s.ConnectionString == "" }

// Setting declares one app setting: its name, default and what it does.
type Setting struct {
	Name        string
	Default     string
	Description string
	set         func(c *Config, v string) error
}

// DevelopmentStorage is the explicit Azurite connection string that UseDevelopmentStorage=true stands for; the Go
// SDKs reject the shortcut that the Functions host accepts.
const DevelopmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// Settings lists every app setting the handler reads, in the order the README documents them.
var Settings = []Setting{
	{"FUNCTIONS_CUSTOMHANDLER_PORT", "", "Port to listen on (127.0.0.1); set by the Functions host.", func(c *Config, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("not a TCP port: %q", v)
		}
		c.Port = p
		return nil
	}},
	{"FUNCTIONS_APP_ROOT_PATH", "", "Function app root (host.json); set by the host, defaults to the working directory.", func(c *Config, v string) error {
		if v == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			v = wd
		}
		c.AppRoot = v
		return nil
	}},
	{"AzureWebJobsStorage", "", "Storage connection string; `UseDevelopmentStorage=true` means local Azurite. Leave empty in Azure and use the `__` settings below.", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if strings.EqualFold(strings.TrimSuffix(v, ";"), "UseDevelopmentStorage=true") {
			v = DevelopmentStorage
		}
		if v != "" && !strings.Contains(v, "=") {
			return errors.New("not a connection string (expected key=value pairs)")
		}
		c.Storage.ConnectionString = v
		return nil
	}},
	{"AzureWebJobsStorage__accountName", "", "Storage account name for identity-based access (Azure).", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		for _, svc := range []struct {
			dst  *string
			kind string
		}{{&c.Storage.BlobURL, "blob"}, {&c.Storage.QueueURL, "queue"}, {&c.Storage.TableURL, "table"}} {
			if *svc.dst == "" {
				*svc.dst = fmt.Sprintf("https://%s.%s.core.windows.net/", v, svc.kind)
			}
		}
		return nil
	}},
	{"AzureWebJobsStorage__blobServiceUri", "", "Blob endpoint for identity-based access (instead of the account name).", urlSetting(func(c *Config) *string { return &c.Storage.BlobURL })},
	{"AzureWebJobsStorage__queueServiceUri", "", "Queue endpoint for identity-based access.", urlSetting(func(c *Config) *string { return &c.Storage.QueueURL })},
	{"AzureWebJobsStorage__tableServiceUri", "", "Table endpoint for identity-based access.", urlSetting(func(c *Config) *string { return &c.Storage.TableURL })},
	{"AzureWebJobsStorage__credential", "", "`managedidentity` to use the app's managed identity for storage.", func(c *Config, v string) error {
		if v != "" && !strings.EqualFold(v, "managedidentity") {
			return fmt.Errorf("unsupported credential %q (use managedidentity)", v)
		}
		c.Storage.Credential = strings.ToLower(v)
		return nil
	}},
	{"AzureWebJobsStorage__clientId", "", "Client id of the user-assigned identity used for storage.", func(c *Config, v string) error {
		c.Storage.ClientID = v
		return nil
	}},
	{"RAW_CONTAINER", "entra-raw", "Blob container of the raw archive.", func(c *Config, v string) error {
		if !validContainerName(v) {
			return fmt.Errorf("not a valid container name: %q (3-63 lowercase letters, digits, single hyphens)", v)
		}
		c.RawContainer = v
		return nil
	}},
	{"KEY_VAULT_URL", "", "Key Vault holding the integrations' client secrets (`https://<vault>.vault.azure.net/`).", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, err := urls.HTTPS(v); err != nil {
			return err
		}
		c.KeyVaultURL = v
		return nil
	}},
	{"AZURE_CLIENT_ID", "", "Client id of the app's user-assigned managed identity, used for Key Vault (read by azidentity too).", func(c *Config, v string) error {
		c.AppClientID = v
		return nil
	}},
	{"AZURE_AUTHORITY_HOST", "", "Authority of the app's own identity (read by azidentity); only for local runs against a stand-in.", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, err := urls.HTTPS(v); err != nil {
			return err
		}
		c.AppAuthorityHost = v
		return nil
	}},
	{"ENTRA_INTEGRATION_ID", "default", "Id (slug) of the integration declared in app settings.", func(c *Config, v string) error {
		if !validSlug(v) {
			return fmt.Errorf("not a slug (lowercase letters, digits, hyphens, 1-40 characters): %q", v)
		}
		c.Entra.ID = v
		return nil
	}},
	{"ENTRA_TENANT_ID", "", "Directory (tenant) ID of the integration declared in app settings; empty: integrations come from Table `integrations` only.", func(c *Config, v string) error {
		c.Entra.TenantID = v
		return nil
	}},
	{"ENTRA_CLIENT_ID", "", "Application (client) ID of that integration's app registration.", func(c *Config, v string) error {
		if v != "" && !validGUID(v) {
			return fmt.Errorf("not a GUID: %q", v)
		}
		c.Entra.ClientID = v
		return nil
	}},
	{"ENTRA_CLIENT_SECRET_NAME", "", "Key Vault secret holding its client secret; default `integration-<ENTRA_INTEGRATION_ID>`.", func(c *Config, v string) error {
		c.Entra.SecretName = v
		return nil
	}},
	{"ENTRA_SECRET_ID", "", "Secret ID (keyId) of that client secret, for the expiry check.", func(c *Config, v string) error {
		c.Entra.SecretID = v
		return nil
	}},
	{"ENTRA_PERMISSIONS", "read-only", "`read-only` or `read-write` (remediation).", func(c *Config, v string) error {
		switch catalog.Access(v) {
		case catalog.ReadOnly, catalog.ReadWrite:
			c.Entra.Permissions = catalog.Access(v)
			return nil
		}
		return fmt.Errorf("want read-only or read-write, got %q", v)
	}},
	{"ENTRA_LICENSES", "auto", "Licence answers, e.g. `entraP1P2=yes,intune=no`; `auto` (or any licence not named) is detected.", func(c *Config, v string) error {
		c.Entra.Licences = map[catalog.Licence]string{}
		if v == "auto" || v == "" {
			return nil
		}
		for _, kv := range strings.Split(v, ",") {
			k, ans, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || !slices.Contains(catalog.Licences, catalog.Licence(k)) || (ans != "yes" && ans != "no" && ans != "auto") {
				return fmt.Errorf("%q: want <licence>=yes|no|auto with licence one of %v", kv, catalog.Licences)
			}
			if ans != "auto" {
				c.Entra.Licences[catalog.Licence(k)] = ans
			}
		}
		return nil
	}},
	{"ENTRA_PROTECTED_USERS", "", "Object ids or user principal names (comma-separated) remediation never acts on in that integration: break-glass and other protected accounts.", func(c *Config, v string) error {
		c.Entra.ProtectedUsers = nil
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if !ValidUserRef(part) {
				return fmt.Errorf("%q is neither an object id (GUID) nor a user principal name", part)
			}
			c.Entra.ProtectedUsers = append(c.Entra.ProtectedUsers, part)
		}
		if len(c.Entra.ProtectedUsers) > MaxProtectedUsers {
			return fmt.Errorf("at most %d entries, got %d", MaxProtectedUsers, len(c.Entra.ProtectedUsers))
		}
		return nil
	}},
	{"GRAPH_ENDPOINT", "https://graph.microsoft.com", "Microsoft Graph root (national clouds differ).", func(c *Config, v string) error {
		if _, err := urls.HTTPS(v); err != nil {
			return err
		}
		c.GraphEndpoint = strings.TrimSuffix(v, "/")
		return nil
	}},
	{"ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com/", "Entra authority for the integrations' tokens.", func(c *Config, v string) error {
		if _, err := urls.HTTPS(v); err != nil {
			return err
		}
		c.AuthorityHost = v
		return nil
	}},
	{"ENTRA_EXCLUDED_GROUPS", "", "Comma-separated group object ids whose users, also through nested groups, are not collected as directory data.", func(c *Config, v string) error {
		c.Entra.ExcludedGroups = nil
		for _, g := range strings.Split(v, ",") {
			if g = strings.TrimSpace(g); g == "" {
				continue
			}
			if !ValidGUID(g) {
				return fmt.Errorf("%q is not a group object id (a GUID)", g)
			}
			c.Entra.ExcludedGroups = append(c.Entra.ExcludedGroups, strings.ToLower(g))
		}
		return nil
	}},
	{"ENTRA_EXCLUDE_GUESTS", "false", "`true` leaves guests (userType Guest) out of the directory data.", boolSetting(func(c *Config) *bool { return &c.Entra.ExcludeGuests })},
	{"ENTRA_EXCLUDE_FROM_LOGS", "false", "`true` applies the exclusions to the sign-in logs too (by the sign-in's userId and userType).", boolSetting(func(c *Config) *bool { return &c.Entra.ExcludeFromLogs })},
	{"CONNECT_SECRET_PROPAGATION", "60s", "How long the connectivity test of a just-entered secret (Add Integration, Reset Credentials) retries Entra's AADSTS7000215: a new secret is accepted only seconds after it is created.", durationSetting(func(c *Config) *time.Duration { return &c.SecretPropagation })},
	{"COLLECT_LOGS_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of CollectLogs (the planner).", cronSetting(func(c *Config) *string { return &c.Collect.Schedule })},
	{"COMPACT_SCHEDULE", "0 15 4 * * *", "NCRONTAB schedule of CompactArchive, which merges each log data type's days past their last re-sweep into one part per hour and then deletes the replaced parts (see Reading the archive).", cronSetting(func(c *Config) *string { return &c.Collect.CompactSchedule })},
	{"COLLECT_DIRECTORY_SCHEDULE", "0 0 * * * *", "NCRONTAB schedule of CollectDirectory, which plans the directory's delta rounds and snapshots.", cronSetting(func(c *Config) *string { return &c.Collect.DirectorySchedule })},
	{"COLLECT_DIRECTORY_FULL", "168h", "Longest time between full reads of a delta data type (users, groups, …); Graph keeps a deltaLink 7 days.", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Hour || d > 7*24*time.Hour {
			return fmt.Errorf("want a duration from 1h to 168h, got %q", v)
		}
		c.Collect.FullEvery = d
		return nil
	}},
	{"COLLECT_ROUND_PART", "20000", "Records after which a delta round or snapshot commits a part and checkpoints the next page (a round resumes there after a deadline or a crash).", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return fmt.Errorf("want 1 to 1000000 records, got %q", v)
		}
		c.Collect.RoundPart = n
		return nil
	}},
	{"COLLECT_LAG", "10m", "How long after a time bucket ends it is first read.", durationSetting(func(c *Config) *time.Duration { return &c.Collect.Lag })},
	{"COLLECT_BACKFILL_DAYS", "30", "Days the first run backfills (at most the tenant's retention).", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 30 {
			return fmt.Errorf("want 0 to 30 days, got %q", v)
		}
		c.Collect.BackfillDays = n
		return nil
	}},
	{"COLLECT_RESWEEPS", "1h,6h,24h,48h", "Delays after a bucket closes at which it is read again for late events.", func(c *Config, v string) error {
		c.Collect.Resweeps = []time.Duration{}
		if v == "none" {
			return nil
		}
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d <= 0 {
				return fmt.Errorf("not a positive duration: %q", part)
			}
			if n := len(c.Collect.Resweeps); n > 0 && d <= c.Collect.Resweeps[n-1] {
				return fmt.Errorf("delays must increase: %q", v)
			}
			c.Collect.Resweeps = append(c.Collect.Resweeps, d)
		}
		return nil
	}},
	{"COLLECT_STREAM_WINDOW", "24h", "A log data type streams while StreamEvents archived records of it with event times this recent: Graph then reads its buckets first at the first re-sweep and archives only ids the stream did not (gap-filling). `0`: never; Graph reads every data type at `COLLECT_LAG` (still skipping streamed ids).", durationSetting(func(c *Config) *time.Duration { return &c.Collect.StreamWindow })},
	{"COLLECT_CONCURRENCY", "4", "Time windows one worker reads at once (they share the family's budget).", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 32 {
			return fmt.Errorf("want 1 to 32, got %q", v)
		}
		c.Collect.Concurrency = n
		return nil
	}},
	{"COLLECT_LEASE_TTL", "60s", "How long a worker's family lease lasts unrenewed: a crashed worker's family is free again after it.", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 3*time.Second {
			return fmt.Errorf("want a duration of at least 3s, got %q", v)
		}
		c.Collect.LeaseTTL = d
		return nil
	}},
	{"GRAPH_BUDGETS", "", "Overrides Graph's throttling budgets, e.g. `reports=5/10s,protection=1/1s`.", func(c *Config, v string) error {
		c.Collect.Budgets = map[catalog.Family]catalog.Budget{}
		if v == "" {
			return nil
		}
		for _, kv := range strings.Split(v, ",") {
			fam, spec, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if _, known := catalog.Budgets[catalog.Family(fam)]; !ok || !known {
				return fmt.Errorf("%q: want <family>=<requests>/<window> with family one of reports, protection, directory, intune, agents", kv)
			}
			n, w, ok := strings.Cut(spec, "/")
			reqs, err1 := strconv.Atoi(n)
			win, err2 := time.ParseDuration(w)
			if !ok || err1 != nil || err2 != nil || reqs < 1 || win <= 0 {
				return fmt.Errorf("%q: budget must look like 5/10s", kv)
			}
			c.Collect.Budgets[catalog.Family(fam)] = catalog.Budget{Requests: reqs, Window: win}
		}
		return nil
	}},
	{"INSIGHTS_SCHEDULE", "0 30 3 * * *", "NCRONTAB schedule of ComputeInsights, which plans the daily identity insights (inactive users, MFA and SSO coverage, guests).", cronSetting(func(c *Config) *string { return &c.Insights.Schedule })},
	{"INSIGHTS_INACTIVE_DAYS", "90", "A user with no successful sign-in for more than this many days is inactive (\"expired\" is fixed at 30).", intSetting(func(c *Config) *int { return &c.Insights.InactiveDays }, 1, 3650)},
	{"INSIGHTS_SIGNIN_DAYS", "30", "Days of interactive sign-ins the insights read for SSO coverage (and MFA coverage when userRegistrationDetails is not archived).", intSetting(func(c *Config) *int { return &c.Insights.SignInDays }, 1, 30)},
	{"REMEDIATION_FUNCTION_KEY_ROLE", "none", "App role of a remediation caller identified by the function key alone, without App Service Authentication: `none` (refused, since the audit trail needs a person), `Integration.Helpdesk` or `Integration.Admin`.", func(c *Config, v string) error {
		switch v {
		case "none":
			c.Remediation.KeyRole = ""
		case "Integration.Helpdesk", "Integration.Admin":
			c.Remediation.KeyRole = v
		default:
			return fmt.Errorf("want none, Integration.Helpdesk or Integration.Admin, got %q", v)
		}
		return nil
	}},
	{"REMEDIATION_LEASE_TTL", "30s", "How long a remediation holds its Idempotency-Key without renewing it: a retry of a request whose handler died resumes after it.", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 3*time.Second || d > 10*time.Minute {
			return fmt.Errorf("want a duration from 3s to 10m, got %q", v)
		}
		c.Remediation.LeaseTTL = d
		return nil
	}},
	{"STREAM_INTEGRATION_ID", "", "Integration (id) that streamed records (StreamEvents) belong to when their tenant matches no integration's `tenantId`: for an event hub that carries one tenant's logs. Empty: such records go to `quarantine/tenant=<tenant>/`.", func(c *Config, v string) error {
		if v != "" && !validSlug(v) {
			return fmt.Errorf("not a slug (lowercase letters, digits, hyphens, 1-40 characters): %q", v)
		}
		c.Stream.Integration = v
		return nil
	}},
	{"STREAM_DEDUP_DAYS", "14", "Days (by event time) StreamEvents remembers each record content, so content Entra sends twice is archived once; `0` remembers forever.", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 366 {
			return fmt.Errorf("want 0 to 366 days, got %q", v)
		}
		c.Stream.DedupDays = n
		return nil
	}},
	{"CHECK_SECRET_EXPIRY_SCHEDULE", "0 0 6 * * *", "NCRONTAB schedule of CheckSecretExpiry, the daily client secret expiry check.", cronSetting(func(c *Config) *string { return &c.Expiry.Schedule })},
	{"SECRET_EXPIRY_THRESHOLDS", "90,30,14,7,1", "Days left at which CheckSecretExpiry alerts, each once per secret (an `expired` alert always follows).", func(c *Config, v string) error {
		c.Expiry.Thresholds = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 730 {
				return fmt.Errorf("want comma-separated whole numbers of days from 1 to 730, got %q", f)
			}
			if slices.Contains(c.Expiry.Thresholds, n) {
				return fmt.Errorf("%d is listed twice", n)
			}
			c.Expiry.Thresholds = append(c.Expiry.Thresholds, n)
		}
		slices.SortFunc(c.Expiry.Thresholds, func(a, b int) int { return b - a })
		return nil
	}},
	{"SECRET_EXPIRY_WEBHOOK_1", "", "Webhook for expiry alerts: a Teams Workflows URL (`*.logic.azure.com`, `*.powerplatform.com`), a Slack incoming webhook (`hooks.slack.com`) or any https URL for the generic JSON; prefix `teams:`, `slack:` or `json:` to choose the format. A credential: use a Key Vault reference; never logged.", webhookSetting(1)},
	{"SECRET_EXPIRY_WEBHOOK_2", "", "A second webhook for expiry alerts (same form).", webhookSetting(2)},
	{"SECRET_EXPIRY_WEBHOOK_3", "", "A third webhook for expiry alerts (same form).", webhookSetting(3)},
	{"SECRET_ROTATION_LEAD_DAYS", "30", "An integration with `rotate` on gets a new client secret this many days before the current one expires.", intSetting(func(c *Config) *int { return &c.Expiry.RotationLeadDays }, 1, 365)},
	{"SECRET_ROTATION_LIFETIME_DAYS", "180", "Lifetime of a client secret created by rotation (Entra caps it at two years).", intSetting(func(c *Config) *int { return &c.Expiry.RotationLifetimeDays }, 2, 730)},
	{"FUNCTION_TIMEOUT", "", "Overrides host.json's functionTimeout for the handler's own deadlines (Go duration, e.g. `10m`).", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("not a positive duration: %q", v)
		}
		c.FunctionTimeout = d
		return nil
	}},
	{"SHUTDOWN_GRACE", "25s", "How long in-flight invocations may finish after SIGTERM.", durationSetting(func(c *Config) *time.Duration { return &c.ShutdownGrace })},
	{"GOMEMLIMIT", "48MiB", "Soft memory limit of the handler (the Go runtime's GOMEMLIMIT): the garbage collector keeps the resident set near it; `off` for none.", func(c *Config, v string) error {
		if v == "off" {
			c.MemoryLimit = math.MaxInt64
			return nil
		}
		n, err := parseBytes(v)
		if err != nil || n < 16<<20 {
			return fmt.Errorf("want a size of at least 16MiB such as 48MiB or 1GiB, or off; got %q", v)
		}
		c.MemoryLimit = n
		return nil
	}},
	{"LOG_LEVEL", "info", "`debug`, `info`, `warn` or `error`.", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
}

// Load reads every setting through getenv (os.Getenv in production), applies defaults and host.json's
// functionTimeout, and validates the result.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs []error
	for _, s := range Settings {
		v := strings.TrimSpace(getenv(s.Name))
		if v == "" {
			v = s.Default
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("setting %s: %w", s.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.FunctionTimeout == 0 {
		d, err := HostFunctionTimeout(filepath.Join(c.AppRoot, "host.json"))
		if err != nil {
			return nil, fmt.Errorf("setting FUNCTIONS_APP_ROOT_PATH: %w", err)
		}
		c.FunctionTimeout = d
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the settings that depend on each other.
func (c *Config) Validate() error {
	if c.Port == 0 {
		return errors.New("setting FUNCTIONS_CUSTOMHANDLER_PORT: required (the Functions host sets it)")
	}
	s := c.Storage
	if s.ConnectionString == "" && (s.BlobURL == "" || s.QueueURL == "" || s.TableURL == "") {
		return errors.New("setting AzureWebJobsStorage: required, or AzureWebJobsStorage__accountName (or all three __*ServiceUri settings) for identity-based access")
	}
	if c.FunctionTimeout <= 0 {
		return errors.New("setting FUNCTION_TIMEOUT: must be positive")
	}
	if c.Entra.Declared() {
		if c.Entra.ClientID == "" {
			return errors.New("setting ENTRA_CLIENT_ID: required when ENTRA_TENANT_ID is set")
		}
		if !validGUID(c.Entra.TenantID) && !validDomain(c.Entra.TenantID) {
			return fmt.Errorf("setting ENTRA_TENANT_ID: not a GUID or domain name: %q", c.Entra.TenantID)
		}
		if c.KeyVaultURL == "" {
			return errors.New("setting KEY_VAULT_URL: required when ENTRA_TENANT_ID is set (the client secret lives there)")
		}
		if c.Entra.SecretName == "" {
			c.Entra.SecretName = "integration-" + c.Entra.ID
		}
	}
	return nil
}

// parseBytes reads a size as the Go runtime writes GOMEMLIMIT: a number with an optional B, KiB, MiB, GiB or TiB.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}

func validSlug(s string) bool {
	if len(s) < 1 || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidSlug reports whether s can be an integration id: lowercase letters, digits and inner hyphens, 1-40 long.
func ValidSlug(s string) bool { return validSlug(s) }

func validGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// ValidGUID reports whether s is a GUID in its 36-character form.
func ValidGUID(s string) bool { return validGUID(s) }

func validDomain(s string) bool {
	if len(s) < 3 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// MaxProtectedUsers bounds an integration's protected-user list.
const MaxProtectedUsers = 200

// ValidUserRef reports whether s names a user as Graph's /users/{id | userPrincipalName} accepts it: an object id
// (GUID) or a user principal name — local@domain, the local part of letters, digits and ' . - _ ! # ^ ~ (guests'
// "name_example.com#EXT#" included), the domain a DNS name — at most 256 characters.
func ValidUserRef(s string) bool {
	if validGUID(s) {
		return true
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(s) > 256 || !validDomain(domain) {
		return false
	}
	for _, r := range local {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("'.-_!#^~", r)) {
			return false
		}
	}
	return true
}

// DefaultFunctionTimeout applies when host.json sets no functionTimeout: the Flex Consumption default.
const DefaultFunctionTimeout = 30 * time.Minute

// HostFunctionTimeout reads functionTimeout ("hh:mm:ss", or "-1" for unbounded) from host.json. A missing file or
// key yields DefaultFunctionTimeout.
func HostFunctionTimeout(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultFunctionTimeout, nil
	}
	if err != nil {
		return 0, err
	}
	var host struct {
		FunctionTimeout string `json:"functionTimeout"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if host.FunctionTimeout == "" || host.FunctionTimeout == "-1" {
		return DefaultFunctionTimeout, nil
	}
	d, err := ParseTimeSpan(host.FunctionTimeout)
	if err != nil {
		return 0, fmt.Errorf("%s: functionTimeout: %w", path, err)
	}
	return d, nil
}

// ParseTimeSpan parses a .NET TimeSpan of the form [d.]hh:mm:ss[.fff].
func ParseTimeSpan(s string) (time.Duration, error) {
	var days int
	rest := s
	if i := strings.IndexByte(s, '.'); i >= 0 && i < strings.IndexByte(s, ':') {
		d, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("not a TimeSpan: %q", s)
		}
		days, rest = d, s[i+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("not a TimeSpan (hh:mm:ss): %q", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("not a TimeSpan (hh:mm:ss): %q", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second)), nil
}

func cronSetting(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if f := strings.Fields(v); len(f) != 6 {
			return fmt.Errorf("want six NCRONTAB fields (second minute hour day month weekday), got %q", v)
		}
		*field(c) = v
		return nil
	}
}

// webhookSetting reads SECRET_EXPIRY_WEBHOOK_<n>. Its errors never quote the value: the URL is a credential.
func webhookSetting(n int) func(*Config, string) error {
	name := fmt.Sprintf("SECRET_EXPIRY_WEBHOOK_%d", n)
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		w, err := ParseWebhook(name, v)
		if err != nil {
			return err
		}
		c.Expiry.Webhooks = append(c.Expiry.Webhooks, w)
		return nil
	}
}

// ParseWebhook reads a webhook setting's value: an optional teams:, slack: or json: prefix, then an absolute https
// URL (http only to this machine, for a local receiver). The format follows the host when not named. Retired
// Office 365 connector URLs are refused. Errors describe the problem without quoting the value.
func ParseWebhook(setting, v string) (Webhook, error) {
	w := Webhook{Setting: setting}
	if strings.HasPrefix(v, "@Microsoft.KeyVault(") {
		return w, errors.New("the Key Vault reference was not resolved: grant the app's identity Get on the secret (Key Vault Secrets User)")
	}
	for _, k := range []string{WebhookTeams, WebhookSlack, WebhookJSON} {
		if rest, ok := strings.CutPrefix(v, k+":"); ok && !strings.HasPrefix(rest, "//") {
			w.Kind, v = k, rest
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && urls.IsLoopback(u.Hostname())) {
		return w, errors.New("not an absolute https URL (the value is not shown: it is a credential)")
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".webhook.office.com") || host == "outlook.office.com" && strings.HasPrefix(u.Path, "/webhook") {
		return w, errors.New("an Office 365 connector URL: Microsoft retired these; create a Teams Workflows webhook instead")
	}
	if w.Kind == "" {
		switch {
		case host == "hooks.slack.com":
			w.Kind = WebhookSlack
		case strings.HasSuffix(host, ".logic.azure.com") || strings.HasSuffix(host, ".powerplatform.com"):
			w.Kind = WebhookTeams
		default:
			w.Kind = WebhookJSON
		}
	}
	w.URL = v
	return w, nil
}

func intSetting(field func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d, got %q", lo, hi, v)
		}
		*field(c) = n
		return nil
	}
}

func boolSetting(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*field(c) = b
		return nil
	}
}

func urlSetting(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("not an absolute http(s) URL: %q", v)
		}
		*field(c) = v
		return nil
	}
}

func durationSetting(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("not a duration: %q", v)
		}
		*field(c) = d
		return nil
	}
}

func validContainerName(s string) bool {
	if len(s) < 3 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Summary is the configuration as Status reports it: no secrets, no keys, no connection strings.
type Summary struct {
	AppRoot         string `json:"appRoot"`
	FunctionTimeout string `json:"functionTimeout"`
	Storage         string `json:"storage"`
	RawContainer    string `json:"rawContainer"`
	LogLevel        string `json:"logLevel"`
	KeyVault        string `json:"keyVault,omitempty"`
	GraphEndpoint   string `json:"graphEndpoint"`
	// Integration is the one declared in app settings: ids only, never the secret.
	Integration    string         `json:"settingsIntegration,omitempty"`
	CollectSummary CollectSummary `json:"collect"`
}

// CollectSummary is the collection tuning as Status shows it.
type CollectSummary struct {
	Schedule     string   `json:"schedule"`
	Lag          string   `json:"lag"`
	BackfillDays int      `json:"backfillDays"`
	Resweeps     []string `json:"resweeps"`
	Concurrency  int      `json:"concurrency"`
	Budgets      []string `json:"budgetOverrides,omitempty"`
}

// Summary describes the configuration without any secret value.
func (c *Config) Summary() Summary {
	s := Summary{
		AppRoot:         c.AppRoot,
		FunctionTimeout: c.FunctionTimeout.String(),
		Storage:         c.Storage.Describe(),
		RawContainer:    c.RawContainer,
		LogLevel:        c.LogLevel.String(),
		KeyVault:        c.KeyVaultURL,
		GraphEndpoint:   c.GraphEndpoint,
		CollectSummary: CollectSummary{
			Schedule: c.Collect.Schedule, Lag: c.Collect.Lag.String(), BackfillDays: c.Collect.BackfillDays,
			Concurrency: c.Collect.Concurrency,
		},
	}
	if c.Entra.Declared() {
		s.Integration = fmt.Sprintf("%s (tenant %s, app %s, secret %s in Key Vault)", c.Entra.ID, c.Entra.TenantID, c.Entra.ClientID, c.Entra.SecretName)
	}
	for _, d := range c.Collect.Resweeps {
		s.CollectSummary.Resweeps = append(s.CollectSummary.Resweeps, d.String())
	}
	for f, b := range c.Collect.Budgets {
		s.CollectSummary.Budgets = append(s.CollectSummary.Budgets, fmt.Sprintf("%s=%s", f, b))
	}
	slices.Sort(s.CollectSummary.Budgets)
	return s
}

// Describe names the storage endpoints and how they are reached, without the account key.
func (s Storage) Describe() string {
	if !s.Identity() {
		var parts []string
		for _, kv := range strings.Split(s.ConnectionString, ";") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(k) {
			case "accountname", "blobendpoint":
				parts = append(parts, k+"="+v)
			}
		}
		return "connection string (" + strings.Join(parts, ", ") + ")"
	}
	cred := "DefaultAzureCredential"
	if s.Credential == "managedidentity" {
		cred = "managed identity"
		if s.ClientID != "" {
			cred += " " + s.ClientID
		}
	}
	return fmt.Sprintf("%s via %s", s.BlobURL, cred)
}

// MarkdownTable renders Settings as the README's configuration table.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| setting | default | meaning |\n|---|---|---|\n")
	for _, s := range Settings {
		def := ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, def, s.Description)
	}
	return strings.TrimSpace(b.String())
}
