// Command entrasim runs a simulated Entra tenant (tests/entrasim) for the demo, scripts and benchmarks: the token
// authority and the Microsoft Graph stand-in over TLS on free loopback ports, and optionally the Key Vault
// stand-in (tests/kvsim) holding the integration's client secret. It prints one JSON object (one line) with the
// endpoints and credentials, then serves until SIGINT or SIGTERM.
//
//	entrasim -seed 7 -users 1000 -throttle-scale 0.1 -latency fixed=40ms,jitter=20ms \
//	         -kv-secret-name integration-default -fault '{"kind":"throttle","nth":3,"storm":2}'
//
// Output fields: graphUrl, authorityUrl (use as azidentity's ActiveDirectoryAuthorityHost), simUrl (the /_sim
// API: truth, directory, signInActivity, counters, requests, faults, clock), tenantId, tenantDomain, clientId, clientSecret, secretId,
// secretExpires, caCertPath (trust it, e.g. SSL_CERT_FILE), seed, licences, now, and with -kv-secret-name
// keyVaultUrl, secretName and secretVersion.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/kvsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "entrasim:", err)
		os.Exit(1)
	}
}

// output is what the command prints.
type output struct {
	entrasim.Info
	KeyVaultURL   string `json:"keyVaultUrl,omitempty"`
	SecretName    string `json:"secretName,omitempty"`
	SecretVersion string `json:"secretVersion,omitempty"`
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// run parses flags, starts the stand-ins, prints their description to stdout and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("entrasim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		seed          = fs.Int64("seed", 1, "tenant seed: the same seed, size and start give the same tenant")
		name          = fs.String("name", "", "organisation name (default derived from the seed)")
		users         = fs.Int("users", 100, "number of users")
		apps          = fs.Int("apps", 20, "number of app registrations besides the integration's")
		mis           = fs.Int("managed-identities", 5, "number of managed identities")
		licences      = fs.String("licences", "P1,P2", "licences: Free, P1, P2, Intune, WorkloadIdentitiesPremium, AgentID (comma-separated)")
		roles         = fs.String("roles", "read-only", "the integration app's Graph permissions: read-only, read-write, or a comma-separated list")
		secretLife    = fs.Duration("secret-lifetime", 180*24*time.Hour, "validity of the integration's client secret from one day before the start")
		clockMode     = fs.String("clock", "running", "simulated clock: running (moves with real time, can jump), stopped (moves only through /_sim/clock) or real")
		start         = fs.String("start", "", "simulated start time, RFC 3339 (default now)")
		history       = fs.Duration("history", 30*24*time.Hour, "how far back events exist")
		groups        = fs.Int("groups", 0, "number of groups, the named ones included (default the named ones plus one per 20 users)")
		churn         = fs.Float64("churn", 0, "directory changes per simulated hour (for delta queries); 0 for a static directory")
		memberSlice   = fs.Int("member-slice", 0, "most members@delta entries per delta item; larger groups are split across items (default 1000)")
		replayShare   = fs.Float64("replay-share", 0, "share of a delta round's objects the next round reports again (Graph's replays)")
		removalDelay  = fs.Duration("removal-delay", 0, "how much later (simulated) deletions and membership removals reach delta queries")
		lateShare     = fs.Float64("late-share", 0.02, "share of events arriving late (0 for none)")
		lateDelay     = fs.String("late-delay", "fixed=1h,jitter=47h", "delay distribution of late events")
		throttleScale = fs.Float64("throttle-scale", 1, "multiplier of every throttling window (0.01: 5 requests / 100 ms)")
		noThrottle    = fs.Bool("no-throttle", false, "turn throttling off")
		countRejected = fs.Bool("count-rejected", false, "count rejected (429) requests in the throttling windows")
		latency       = fs.String("latency", "0", "per-page latency: a duration, or fixed=,jitter=,median=,sigma=,max=")
		nonPremium    = fs.Float64("nonpremium-share", 0, "share of sign-in requests answered with the non-premium 403 on a licensed tenant")
		tokenLife     = fs.Duration("token-lifetime", 0, "access token lifetime (default the authority's, one hour)")
		kvSecret      = fs.String("kv-secret-name", "", "start the Key Vault stand-in and store the integration's client secret under this name")
		outFile       = fs.String("out", "", "also write the JSON description to this file")
		verbose       = fs.Bool("v", false, "log the simulator's diagnostics to stderr")
		rates         multi
		faults        multi
	)
	fs.Var(&rates, "rate", "events per hour of one stream, stream=rate (repeatable; streams: "+strings.Join(entrasim.StreamNames(), ", ")+")")
	fs.Var(&faults, "fault", `fault rule as JSON, e.g. {"kind":"status","status":503,"path":"/beta","probability":0.05} (repeatable)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	o := entrasim.Options{
		Seed: *seed, TenantName: *name, Users: *users, Groups: *groups, Apps: *apps, ManagedIdentities: *mis,
		SecretLifetime: *secretLife, History: *history, Churn: *churn, ThrottleScale: *throttleScale,
		MemberSliceSize: *memberSlice, DeltaReplayShare: *replayShare, RemovalDelay: *removalDelay,
		DisableThrottling: *noThrottle, ThrottleCountRejected: *countRejected, NonPremiumShare: *nonPremium,
		TokenLifetime: *tokenLife, Streams: map[string]entrasim.StreamOptions{},
	}
	var err error
	if o.Licences, err = entrasim.ParseLicences(*licences); err != nil {
		return fmt.Errorf("-licences: %w", err)
	}
	switch *roles {
	case "read-only":
		o.Roles = entrasim.ReadOnlyRoles()
	case "read-write":
		o.Roles = entrasim.ReadWriteRoles()
	default:
		o.Roles = []string{}
		for _, r := range strings.Split(*roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				o.Roles = append(o.Roles, r)
			}
		}
	}
	startAt := time.Now().UTC().Truncate(time.Second)
	if *start != "" {
		if startAt, err = time.Parse(time.RFC3339Nano, *start); err != nil {
			return fmt.Errorf("-start: %w", err)
		}
	}
	switch *clockMode {
	case "running":
		o.Clock = entrasim.NewRunningSimClock(startAt)
	case "stopped":
		o.Clock = entrasim.NewSimClock(startAt)
	case "real":
		if *start != "" {
			return errors.New("-start needs -clock running or stopped")
		}
	default:
		return fmt.Errorf("-clock: want running, stopped or real, got %q", *clockMode)
	}
	o.LateShare = *lateShare
	if *lateShare == 0 {
		o.LateShare = -1 // none
	}
	if o.LateDelay, err = entrasim.ParseDist(*lateDelay); err != nil {
		return fmt.Errorf("-late-delay: %w", err)
	}
	if o.PageLatency, err = entrasim.ParseDist(*latency); err != nil {
		return fmt.Errorf("-latency: %w", err)
	}
	for _, r := range rates {
		stream, v, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("-rate %q: want stream=events-per-hour", r)
		}
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("-rate %q: %w", r, err)
		}
		if rate == 0 {
			rate = -1 // no events
		}
		so := o.Streams[stream]
		so.Rate = rate
		o.Streams[stream] = so
	}
	for _, f := range faults {
		rule, err := entrasim.ParseFaultRule(f)
		if err != nil {
			return fmt.Errorf("-fault %s: %w", f, err)
		}
		o.Faults = append(o.Faults, rule)
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	tn, err := entrasim.Start(&o)
	if err != nil {
		return err
	}
	defer tn.Close()
	out := output{Info: tn.Info()}
	if *kvSecret != "" {
		v, err := kvsim.Start(&kvsim.Options{
			AuthorityURL: tn.AuthorityURL(), TenantID: tn.TenantID(), Verify: tn.Authority().Verify, Now: tn.Now,
		})
		if err != nil {
			return fmt.Errorf("key vault stand-in: %w", err)
		}
		defer v.Close()
		version, err := v.SetSecret(*kvSecret, tn.ClientSecret(), &kvsim.Attributes{
			Expires: tn.SecretExpires(), ContentType: "client secret of app " + tn.ClientID(),
			Tags: map[string]string{"secretId": tn.SecretID()},
		})
		if err != nil {
			return fmt.Errorf("-kv-secret-name: %w", err)
		}
		out.KeyVaultURL, out.SecretName, out.SecretVersion = v.URL(), *kvSecret, version
	}
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if *outFile != "" {
		if err := os.WriteFile(*outFile, line, 0o600); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	if _, err := stdout.Write(line); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
