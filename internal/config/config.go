// Package config loads the app's one typed configuration from app settings (environment variables) with defaults,
// and validates it, naming the setting that is wrong. Every setting is declared once in Settings; the README's
// configuration table is checked against that list by a test.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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

	Storage Storage
	// RawContainer is the blob container for the archive.
	RawContainer string
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
	return nil
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
}

// Summary describes the configuration without any secret value.
func (c *Config) Summary() Summary {
	return Summary{
		AppRoot:         c.AppRoot,
		FunctionTimeout: c.FunctionTimeout.String(),
		Storage:         c.Storage.Describe(),
		RawContainer:    c.RawContainer,
		LogLevel:        c.LogLevel.String(),
	}
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
