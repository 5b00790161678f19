package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/config"
)

const day = 24 * time.Hour

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultIsValid(t *testing.T) {
	c := config.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	if got, want := c.Issuer, "http://127.0.0.1:8080"; got != want {
		t.Errorf("Issuer = %q, want %q", got, want)
	}
	if got, want := c.Token.Audience, "http://127.0.0.1:8080"; got != want {
		t.Errorf("Token.Audience = %q, want %q", got, want)
	}
	want := config.Config{
		Addr: "127.0.0.1:8080", DataDir: "./gatehouse-data", Issuer: "http://127.0.0.1:8080",
		Log: config.LogConfig{Format: "text", Level: "info"},
		Token: config.TokenConfig{DefaultTTL: config.Duration(time.Hour), MaxTTL: config.Duration(30 * day),
			Audience: "http://127.0.0.1:8080", AliasPaths: []string{"/oauth/access_token", "/oauth/v2/token"},
			Reuse: config.ReuseConfig{MaxEntries: config.DefaultReuseEntries}},
		Keys:            config.KeysConfig{Algorithm: "ES256", RotationPeriod: config.Duration(90 * day), LeadTime: config.Duration(time.Hour)},
		RateLimit:       config.RateLimitConfig{PerClient: 30, PerAddress: 60, Burst: 10, RememberSuccess: config.Duration(day)},
		Login:           config.RateLimitConfig{PerClient: 5, PerAddress: 20, Burst: 5, RememberSuccess: config.Duration(day)},
		Gateway:         config.GatewayConfig{AccountHeader: "X-Account", UpstreamTimeout: config.Duration(30 * time.Second), RevocationPoll: config.Duration(5 * time.Second)},
		Cache:           config.CacheConfig{MaxStaleness: config.Duration(5 * time.Second), MaxClients: 25_000},
		AdminAPI:        config.AdminAPIConfig{Enabled: true},
		ShutdownTimeout: config.Duration(15 * time.Second),
		Registration:    config.RegistrationConfig{Policy: "off", UnusedTTL: config.Duration(30 * day), PerAddress: 2, Burst: 10},
		Usage:           config.UsageConfig{Enabled: true, Interval: config.Duration(time.Minute), MaxKeys: 10000, MaxAddresses: 20},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("validated defaults (-want +got):\n%s", diff)
	}
	// Load with no file and no environment is the defaults.
	got, err := config.Load("", nil)
	if err != nil || !cmp.Equal(got, config.Default()) {
		t.Errorf("Load(\"\", nil) = %+v, %v; want the defaults", got, err)
	}
}

func TestLoadFile(t *testing.T) {
	path := writeFile(t, `
addr: 0.0.0.0:9000
data_dir: /var/lib/gatehouse
database: postgres://gh@db/gatehouse
issuer: https://auth.example.com
scopes_file: /etc/gatehouse/scopes.yaml
log:
  format: json
  level: debug
token:
  default_ttl: 12h
  max_ttl: 14d
  audience: https://api.example.com
  alias_paths: [/oauth/v2/token, /oauth/access_token]
keys:
  algorithm: EdDSA
  rotation_period: 30d
  lead_time: 1d12h
rate_limit:
  per_client: 5
  per_address: 0
  burst: 3
cache:
  max_staleness: 10s
  max_clients: 5000
admin_api:
  enabled: false
registration:
  policy: open
  unused_ttl: 7d
  per_address: 5
shutdown_timeout: 0
usage:
  interval: 5s
  max_addresses: 3
`)
	got, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Config{
		Addr: "0.0.0.0:9000", DataDir: "/var/lib/gatehouse", Database: "postgres://gh@db/gatehouse",
		Issuer: "https://auth.example.com", ScopesFile: "/etc/gatehouse/scopes.yaml",
		Log: config.LogConfig{Format: "json", Level: "debug"},
		Token: config.TokenConfig{DefaultTTL: config.Duration(12 * time.Hour), MaxTTL: config.Duration(14 * day),
			Audience: "https://api.example.com", AliasPaths: []string{"/oauth/v2/token", "/oauth/access_token"},
			Reuse: config.ReuseConfig{MaxEntries: config.DefaultReuseEntries}},
		Keys:            config.KeysConfig{Algorithm: "EdDSA", RotationPeriod: config.Duration(30 * day), LeadTime: config.Duration(36 * time.Hour)},
		RateLimit:       config.RateLimitConfig{PerClient: 5, PerAddress: 0, Burst: 3, RememberSuccess: config.Duration(day)},
		Login:           config.RateLimitConfig{PerClient: 5, PerAddress: 20, Burst: 5, RememberSuccess: config.Duration(day)},
		Gateway:         config.GatewayConfig{AccountHeader: "X-Account", UpstreamTimeout: config.Duration(30 * time.Second), RevocationPoll: config.Duration(5 * time.Second)},
		Cache:           config.CacheConfig{MaxStaleness: config.Duration(10 * time.Second), MaxClients: 5000},
		AdminAPI:        config.AdminAPIConfig{Enabled: false},
		ShutdownTimeout: 0,
		Registration:    config.RegistrationConfig{Policy: "open", UnusedTTL: config.Duration(7 * day), PerAddress: 5, Burst: 10},
		Usage:           config.UsageConfig{Enabled: true, Interval: config.Duration(5 * time.Second), MaxKeys: 10000, MaxAddresses: 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// Keys left without a value (a section whose keys are all commented out)
// keep their defaults.
func TestLoadFileNullsKeepDefaults(t *testing.T) {
	path := writeFile(t, `
addr:
token:
  # default_ttl: 2h
keys:
  algorithm: RS256
  lead_time:
`)
	got, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Default()
	want.Keys.Algorithm = "RS256"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	for _, content := range []string{"", "# nothing set\n"} {
		got, err := config.Load(writeFile(t, content), nil)
		if err != nil || !cmp.Equal(got, config.Default()) {
			t.Errorf("Load(%q) = %+v, %v; want the defaults", content, got, err)
		}
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
addr: 127.0.0.1:7000
data_dir: from-file
issuer: https://file.example.com
scopes_file: file-scopes.yaml
log: {format: json, level: warn}
`)
	e := env(map[string]string{
		"GATEHOUSE_ADDR":         "127.0.0.1:7001",
		"GATEHOUSE_DATABASE_URL": "postgres://env-db/gatehouse",
		"GATEHOUSE_SECRET":       strings.Repeat("s", 32),
		"GATEHOUSE_SCOPES":       "env-scopes.yaml",
		"GATEHOUSE_LOG_LEVEL":    "debug",
		"GATEHOUSE_ISSUER":       "", // empty counts as unset
	})
	c, err := config.Load(path, e)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Flags are the caller's: it sets fields after Load.
	c.DataDir = "from-flag"

	checks := []struct{ what, got, want string }{
		{"Addr (env beats file)", c.Addr, "127.0.0.1:7001"},
		{"DataDir (flag beats file)", c.DataDir, "from-flag"},
		{"Database (env beats default)", c.Database, "postgres://env-db/gatehouse"},
		{"Issuer (empty env is unset)", c.Issuer, "https://file.example.com"},
		{"Secret (env only)", c.Secret, strings.Repeat("s", 32)},
		{"ScopesFile (env beats file)", c.ScopesFile, "env-scopes.yaml"},
		{"Log.Format (file beats default)", c.Log.Format, "json"},
		{"Log.Level (env beats file)", c.Log.Level, "debug"},
		{"Keys.Algorithm (default)", c.Keys.Algorithm, "ES256"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// Every documented variable is read.
	all := map[string]string{
		"GATEHOUSE_ADDR": "a:1", "GATEHOUSE_DATA_DIR": "d", "GATEHOUSE_DATABASE_URL": "postgres://x",
		"GATEHOUSE_ISSUER": "https://i", "GATEHOUSE_SECRET": "s", "GATEHOUSE_SCOPES": "sc",
		"GATEHOUSE_LOG_FORMAT": "json", "GATEHOUSE_LOG_LEVEL": "error",
	}
	c, err = config.Load("", env(all))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"GATEHOUSE_ADDR": c.Addr, "GATEHOUSE_DATA_DIR": c.DataDir, "GATEHOUSE_DATABASE_URL": c.Database,
		"GATEHOUSE_ISSUER": c.Issuer, "GATEHOUSE_SECRET": c.Secret, "GATEHOUSE_SCOPES": c.ScopesFile,
		"GATEHOUSE_LOG_FORMAT": c.Log.Format, "GATEHOUSE_LOG_LEVEL": c.Log.Level,
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("fields set from the environment (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown keys", `
adress: x
token:
  ttl: 1h
log:
  formt: json
`, []string{
			`line 2: unknown key "adress" (known keys: addr, data_dir, database, issuer, scopes_file, metrics_addr, metrics_pprof, log, token, keys, rate_limit, gateway, revocation_feed, oauth, cache, dpop, admin_api, api, resources, registration, cors, client_fetch, client_metadata_documents, shutdown_timeout, usage)`,
			`line 4: unknown key "ttl" in token (known keys: default_ttl, max_ttl, audience, alias_paths, quota, reuse)`,
			`line 6: unknown key "formt" in log (known keys: format, level)`,
		}},
		{"secret in file", "secret: hunter2hunter2hunter2hunter2hunter2\n", []string{
			`line 1: secret is never read from a file; set GATEHOUSE_SECRET instead`,
		}},
		{"bad durations", `
token:
  default_ttl: 2 hours
  max_ttl: [1h]
keys:
  rotation_period: -1d
shutdown_timeout: 15
`, []string{
			`line 3: invalid duration "2 hours": use e.g. 30s, 15m, 12h or 14d`,
			`line 4: want a duration such as 30s, 15m, 12h or 14d`,
			`line 6: invalid duration "-1d": use e.g. 30s, 15m, 12h or 14d`,
			`line 7: invalid duration "15": use e.g. 30s, 15m, 12h or 14d`,
		}},
		{"wrong types", "rate_limit:\n  burst: lots\ntoken:\n  alias_paths: /x\n", []string{
			"line 2: cannot unmarshal !!str `lots` into int",
			"line 4: cannot unmarshal !!str `/x` into []string",
		}},
		{"syntax", "addr: [\n", []string{`line 1: did not find expected node content`}},
		{"not a mapping", "- addr\n", []string{"line 1: cannot unmarshal !!seq into config.Config"}},
		{"two documents", "addr: a:1\n---\naddr: b:2\n", []string{`line 2: a second YAML document; a config file is a single document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.yaml)
			_, err := config.Load(path, nil)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v (%T), want *config.Error", err, err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if ce.File != path || !strings.HasPrefix(err.Error(), path+": line ") {
				t.Errorf("error %q does not start with the file name %q", err, path)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(path, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) error = %v, want a not-exist error naming %s", err, path)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := config.Config{
		Addr:     "localhost",
		DataDir:  "",
		Database: "mysql://root:hunter2@db/gatehouse",
		Secret:   "too-short-secret",
		Log:      config.LogConfig{Format: "xml", Level: "verbose"},
		Token: config.TokenConfig{
			DefaultTTL: config.Duration(48 * time.Hour),
			MaxTTL:     config.Duration(24 * time.Hour),
			AliasPaths: []string{"oauth/v2/token", "/oauth/v2/token", "/oauth/v2/token", "/.well-known/token"},
		},
		Keys:            config.KeysConfig{Algorithm: "HS256", RotationPeriod: config.Duration(time.Hour), LeadTime: config.Duration(2 * time.Hour)},
		RateLimit:       config.RateLimitConfig{PerClient: -1, PerAddress: 5, Burst: 0, TrustedProxies: []string{"10.0.0.0/8", "proxy.local"}},
		ShutdownTimeout: config.Duration(-time.Second),
	}
	err := c.Validate()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Validate() = %v (%T), want *config.Error", err, err)
	}
	want := []string{
		`addr "localhost" is not host:port (missing port in address); use e.g. 127.0.0.1:8080 or :8080 (GATEHOUSE_ADDR, --addr)`,
		`database "mysql://root:xxxxx@db/gatehouse": unsupported scheme "mysql"; use e.g. postgres://user:password@host:5432/gatehouse, or leave it empty for SQLite (GATEHOUSE_DATABASE_URL, --database)`,
		`GATEHOUSE_SECRET is too short (16 characters); use at least 32, e.g. the output of "openssl rand -base64 32"`,
		`log.format "xml" is not supported; use text or json (GATEHOUSE_LOG_FORMAT)`,
		`log.level "verbose" is not supported; use debug, info, warn or error (GATEHOUSE_LOG_LEVEL)`,
		`token.default_ttl (2d) exceeds token.max_ttl (1d); lower default_ttl or raise max_ttl`,
		`token.alias_paths[0] "oauth/v2/token" must start with "/"; e.g. /oauth/v2/token`,
		`token.alias_paths[2] "/oauth/v2/token" repeats token.alias_paths[1]; list each path once`,
		`token.alias_paths[3] "/.well-known/token" is a built-in path of the server; choose another, e.g. /oauth/v2/token`,
		`keys.algorithm "HS256" is not supported; use ES256, RS256, PS256, EdDSA`,
		`keys.lead_time (2h) must be shorter than keys.rotation_period (1h); lower lead_time or raise rotation_period`,
		`rate_limit.per_client is -1; use a number of failures per minute, or 0 for no limit`,
		`rate_limit.burst is 0; it must be at least 1 while a rate limit is on`,
		`rate_limit.trusted_proxies: trusted proxy "proxy.local" is not an IP address or CIDR prefix; use e.g. 10.0.0.0/8 or 192.0.2.10`,
		`shutdown_timeout is negative (-1s); use e.g. 15s, or 0 to close connections at once`,
	}
	if diff := cmp.Diff(want, ce.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got, want := err.Error(), strings.Join(want, "\n"); got != want {
		t.Errorf("Error() = %q, want one line per problem", got)
	}
	for _, secret := range []string{"hunter2", "too-short-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the secret %q:\n%s", secret, err)
		}
	}
}

func TestValidateNormalises(t *testing.T) {
	c := config.Default()
	c.Log = config.LogConfig{Format: "JSON", Level: "Warn"}
	c.Keys.Algorithm = "eddsa"
	c.Issuer = "https://auth.example.com/tenant"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := []string{c.Log.Format, c.Log.Level, c.Keys.Algorithm, c.Token.Audience}
	want := []string{"json", "warn", "EdDSA", "https://auth.example.com/tenant"}
	if !cmp.Equal(got, want) {
		t.Errorf("after Validate: format, level, algorithm, audience = %q, want %q", got, want)
	}
}

func TestValidateIssuer(t *testing.T) {
	tests := []struct {
		addr, issuer string
		wantIssuer   string // after Validate, when valid
		wantErr      string // "" = valid
	}{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080", ""},
		{":8080", "", "http://localhost:8080", ""},
		{"0.0.0.0:9000", "", "http://localhost:9000", ""},
		{"[::]:9000", "", "http://localhost:9000", ""},
		{"[::1]:9000", "", "http://[::1]:9000", ""},
		{"localhost:9000", "", "http://localhost:9000", ""},
		{"10.0.0.5:8080", "", "", `issuer "http://10.0.0.5:8080" (derived from addr) must use https unless its host is localhost or a loopback address; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{"10.0.0.5:8080", "https://auth.example.com", "https://auth.example.com", ""},
		{":8080", "http://localhost:8080/", "http://localhost:8080/", ""},
		{":8080", "http://app.localhost", "http://app.localhost", ""},
		{":8080", "http://127.0.0.2:8080", "http://127.0.0.2:8080", ""},
		{":8080", "http://auth.example.com", "", `issuer "http://auth.example.com" must use https unless its host is localhost or a loopback address; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{":8080", "auth.example.com", "", `issuer "auth.example.com" is not an absolute http or https URL; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{":8080", "ftp://auth.example.com", "", `issuer "ftp://auth.example.com" is not an absolute http or https URL; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{":8080", "https:auth.example.com", "", `issuer "https:auth.example.com" is not an absolute http or https URL; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{":8080", "https://auth.example.com?x=1", "", `issuer "https://auth.example.com?x=1" must not have a query or fragment (RFC 8414 §2); remove the part from "?" or "#"`},
		{":8080", "https://auth.example.com?", "", `issuer "https://auth.example.com?" must not have a query or fragment (RFC 8414 §2); remove the part from "?" or "#"`},
		{":8080", "https://auth.example.com#", "", `issuer "https://auth.example.com#" must not have a query or fragment (RFC 8414 §2); remove the part from "?" or "#"`},
		{":8080", "https://u:p@auth.example.com", "", `issuer "https://u:xxxxx@auth.example.com" must not contain user information; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
		{":8080", "https://auth example.com", "", `issuer "https://auth example.com" is not a valid URL; set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com`},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Addr, c.Issuer = tt.addr, tt.issuer
		err := c.Validate()
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr {
			t.Errorf("addr %q issuer %q: Validate() = %q, want %q", tt.addr, tt.issuer, gotErr, tt.wantErr)
		}
		if tt.wantErr == "" && c.Issuer != tt.wantIssuer {
			t.Errorf("addr %q issuer %q: Issuer = %q, want %q", tt.addr, tt.issuer, c.Issuer, tt.wantIssuer)
		}
	}
}

func TestValidateAliasPaths(t *testing.T) {
	tests := []struct{ path, wantErr string }{
		{"/oauth/v2/token", ""},
		{"/oauth/access_token", ""},
		{"/api/v1/oauth2:token", ""},
		{"/oauth/tokens", ""},
		{"/consoles", ""},
		{"", `is empty; give a path such as /oauth/v2/token, or remove the entry`},
		{"/", `would take every path; e.g. /oauth/v2/token`},
		{"/oauth/v2/", `must not end in "/"; e.g. /oauth/v2/token`},
		{"/oauth//token", `has an empty segment ("//"); e.g. /oauth/v2/token`},
		{"/oauth/../token", `has a ".." segment; e.g. /oauth/v2/token`},
		{"/oauth/{id}", `contains '{'; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = % only`},
		{"/oauth/token?x", `contains '?'; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = % only`},
		{"/o auth", `contains ' '; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = % only`},
	}
	for _, b := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/authorize",
		"/.well-known", "/.well-known/jwks.json", "/.well-known/x/y", "/healthz", "/readyz", "/metrics", "/console", "/console/login"} {
		tests = append(tests, struct{ path, wantErr string }{b, "is a built-in path of the server; choose another, e.g. /oauth/v2/token"})
	}
	for _, tt := range tests {
		c := config.Default()
		c.Token.AliasPaths = []string{tt.path}
		err := c.Validate()
		want := ""
		if tt.wantErr != "" {
			want = `token.alias_paths[0] "` + tt.path + `" ` + tt.wantErr
		}
		var got string
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("alias %q: Validate() = %q, want %q", tt.path, got, want)
		}
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*config.Config)
		wantErr string
	}{
		{"zero ttls", func(c *config.Config) { c.Token.DefaultTTL, c.Token.MaxTTL = 0, 0 },
			"token.default_ttl is 0s; it must be positive, e.g. 1h\ntoken.max_ttl is 0s; it must be positive, e.g. 30d"},
		{"default equals max", func(c *config.Config) { c.Token.DefaultTTL = c.Token.MaxTTL }, ""},
		{"rotation off ignores lead time", func(c *config.Config) { c.Keys.RotationPeriod, c.Keys.LeadTime = 0, config.Duration(1000*day) }, ""},
		{"lead time zero while rotating", func(c *config.Config) { c.Keys.LeadTime = 0 },
			"keys.lead_time is 0; a new key must be published before it signs, so use e.g. 1h"},
		// A lead time shorter than resource servers' JWKS refetch floor let a
		// new key sign before Gatehouse's own gateway could have learned it.
		{"lead time under a minute", func(c *config.Config) { c.Keys.LeadTime = config.Duration(20 * time.Second) },
			"keys.lead_time (20s) is shorter than 1m: a new key must be published at least one JWKS cache lifetime before it signs, and the JWKS max-age is a quarter of the lead time; raise lead_time to at least 1m (default 1h)"},
		{"lead time under a minute, rotation by hand", func(c *config.Config) { c.Keys.RotationPeriod, c.Keys.LeadTime = 0, config.Duration(time.Second) },
			"keys.lead_time (1s) is shorter than 1m: a new key must be published at least one JWKS cache lifetime before it signs, and the JWKS max-age is a quarter of the lead time; raise lead_time to at least 1m (default 1h)"},
		{"lead time of a minute", func(c *config.Config) { c.Keys.LeadTime = config.Duration(time.Minute) }, ""},
		{"lead time equals rotation", func(c *config.Config) { c.Keys.LeadTime = c.Keys.RotationPeriod },
			"keys.lead_time (90d) must be shorter than keys.rotation_period (90d); lower lead_time or raise rotation_period"},
		{"no rate limits need no burst", func(c *config.Config) { c.RateLimit = config.RateLimitConfig{} }, ""},
		{"negative burst", func(c *config.Config) { c.RateLimit.Burst = -2 },
			"rate_limit.burst is -2; it must be at least 1 while a rate limit is on"},
		{"secret of 32 characters", func(c *config.Config) { c.Secret = strings.Repeat("é", 32) }, ""},
		{"SQLite needs a data dir", func(c *config.Config) { c.DataDir = "" },
			"data_dir is empty; it holds the SQLite store and, without GATEHOUSE_SECRET, the generated master key: set data_dir (GATEHOUSE_DATA_DIR, --data-dir)"},
		{"postgres with secret needs no data dir", func(c *config.Config) {
			c.Database, c.Secret, c.DataDir = "postgresql://db/gh", strings.Repeat("x", 40), ""
		}, ""},
		{"postgres without secret needs a data dir", func(c *config.Config) { c.Database, c.DataDir = "postgres://db/gh", "" },
			"data_dir is empty; it holds the SQLite store and, without GATEHOUSE_SECRET, the generated master key: set data_dir (GATEHOUSE_DATA_DIR, --data-dir)"},
		{"unparsable database URL is not echoed", func(c *config.Config) { c.Database = "postgres://u:p%zz@db" },
			"database is not a valid URL; use e.g. postgres://user:password@host:5432/gatehouse, or leave it empty for SQLite (GATEHOUSE_DATABASE_URL, --database)"},
		{"bad port", func(c *config.Config) { c.Addr = "127.0.0.1:http" },
			`addr "127.0.0.1:http" is not host:port (port "http" is not a number from 0 to 65535); use e.g. 127.0.0.1:8080 or :8080 (GATEHOUSE_ADDR, --addr)`},
		{"cache staleness off", func(c *config.Config) { c.Cache.MaxStaleness = 0 }, ""},
		{"cache staleness of 2s", func(c *config.Config) { c.Cache.MaxStaleness = config.Duration(2 * time.Second) }, ""},
		{"cache staleness below the poll interval", func(c *config.Config) { c.Cache.MaxStaleness = config.Duration(1500 * time.Millisecond) },
			"cache.max_staleness is 1.5s; use at least 2s (the change feed is read every second), or 0 to never refuse requests when the store is unreachable"},
		{"cache of 100 clients", func(c *config.Config) { c.Cache.MaxClients = 100 }, ""},
		{"cache of 99 clients", func(c *config.Config) { c.Cache.MaxClients = 99 },
			"cache.max_clients is 99; use a number from 100 to 100000000 (about 1 KB of memory each), or 0 for 25000"},
		{"cache of the default size", func(c *config.Config) { c.Cache.MaxClients = 0 }, ""},
		{"cache of -1 clients", func(c *config.Config) { c.Cache.MaxClients = -1 },
			"cache.max_clients is -1; use a number from 100 to 100000000 (about 1 KB of memory each), or 0 for 25000"},
		{"cache too large", func(c *config.Config) { c.Cache.MaxClients = 100_000_001 },
			"cache.max_clients is 100000001; use a number from 100 to 100000000 (about 1 KB of memory each), or 0 for 25000"},
		{"audience with newline", func(c *config.Config) { c.Token.Audience = "api\n" },
			`token.audience "api\n" contains white space at an end or a control character; remove it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.modify(&c)
			var got string
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
		text string // String()
	}{
		{"0", 0, "0s"},
		{"90s", 90 * time.Second, "1m30s"},
		{"20s", 20 * time.Second, "20s"},
		{"10m", 10 * time.Minute, "10m"},
		{"1h", time.Hour, "1h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"1h0m1s", time.Hour + time.Second, "1h0m1s"},
		{"1.5s", 1500 * time.Millisecond, "1.5s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"14d", 14 * day, "14d"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"36h", 36 * time.Hour, "1d12h"},
		{"1d30m", day + 30*time.Minute, "1d30m"},
		{`"30d"`, 30 * day, "30d"},
	}
	for _, tt := range tests {
		var v struct {
			D config.Duration `yaml:"d"`
		}
		if err := yaml.Unmarshal([]byte("d: "+tt.yaml), &v); err != nil {
			t.Errorf("unmarshal %q: %v", tt.yaml, err)
			continue
		}
		if time.Duration(v.D) != tt.want {
			t.Errorf("unmarshal %q = %v, want %v", tt.yaml, time.Duration(v.D), tt.want)
		}
		if got := v.D.String(); got != tt.text {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.want, got, tt.text)
		}
		// Marshal and unmarshal again: the same duration.
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			D config.Duration `yaml:"d"`
		}
		if err := yaml.Unmarshal(out, &back); err != nil || back.D != v.D {
			t.Errorf("round trip of %v through %q = %v, %v", tt.want, out, time.Duration(back.D), err)
		}
	}
}

// TestTokenAliases: the documented token paths are served by default; the
// file and the environment replace the list, and an empty list in the file
// turns aliases off.
func TestTokenAliases(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name string
		file string // "" = no file
		env  map[string]string
		want []string
	}{
		{"default", "", nil, []string{"/oauth/access_token", "/oauth/v2/token"}},
		{"file replaces", "token:\n  alias_paths: [/api/token]\n", nil, []string{"/api/token"}},
		{"file empty list turns off", "token:\n  alias_paths: []\n", nil, []string{}},
		{"file key without value is unset", "token:\n  alias_paths:\n", nil, []string{"/oauth/access_token", "/oauth/v2/token"}},
		{"env replaces file", "token:\n  alias_paths: [/api/token]\n", map[string]string{"GATEHOUSE_TOKEN_ALIASES": " /a/token, /b/token,"}, []string{"/a/token", "/b/token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			got, err := config.Load(path, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Token.AliasPaths); diff != "" {
				t.Errorf("alias_paths (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestReadmeEveryKey: the README's "every key, with its default" file
// loads, and says exactly the defaults.
func TestReadmeEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "# gatehouse.yaml — every key, with its default\n"
	_, rest, ok := strings.Cut(string(doc), head)
	if !ok {
		t.Fatalf("README.md has no block starting %q", head)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the every-key block is not closed")
	}
	got, err := config.Load(writeFile(t, block), nil)
	if err != nil {
		t.Fatalf("the README's every-key file does not load: %v", err)
	}
	// The file spells out what some defaults mean (the gateway's address
	// while it is off, PKCE and refresh lifetimes) where the built-in
	// configuration leaves them to be derived: compare what each means.
	want := config.Default()
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("the README's every-key file is not valid: %v", err)
	}
	want.Gateway.Addr = config.DefaultGatewayAddr
	pkce := want.OAuth.PKCERequired()
	idle, absolute := want.OAuth.RefreshLifetimes()
	want.OAuth.RequirePKCE, want.OAuth.RefreshIdleTTL, want.OAuth.RefreshAbsoluteTTL = &pkce, config.Duration(idle), config.Duration(absolute)
	docMin, docMax := want.ClientMetadataDocuments.CacheTTLs()
	want.ClientMetadataDocuments.MinCacheTTL, want.ClientMetadataDocuments.MaxCacheTTL = config.Duration(docMin), config.Duration(docMax)
	want.ClientFetch.Timeout = config.Duration(want.ClientFetch.FetchTimeout())
	want.DPoP.ProofWindow = config.Duration(want.DPoP.Window())
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the README's every-key file differs from the defaults (-defaults +README):\n%s", diff)
	}
}

func TestRegistrationConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml       string
		wantPolicy string
		problem    string
	}{
		{"registration:\n  policy: off\n", "off", ""},
		{"registration:\n  policy: \"off\"\n", "off", ""},
		{"registration:\n  policy: initial_access_token\n  grant_types: [client_credentials]\n", "initial_access_token", ""},
		{"registration:\n  policy: Open\n", "open", ""},
		{"registration:\n  policy: everyone\n", "", "registration.policy is \"everyone\""},
		{"registration:\n  grant_types: [password]\n", "", "registration.grant_types: \"password\""},
		{"registration:\n  unused_ttl: 1m\n", "", "registration.unused_ttl is 1m"},
		{"registration:\n  per_address: 3\n  burst: 0\n", "", "registration.burst is 0"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("%q: Load: %v", tc.yaml, err)
		}
		err = c.Validate()
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("%q: Validate: %v", tc.yaml, err)
		case tc.problem == "" && c.Registration.Policy != tc.wantPolicy:
			t.Errorf("%q: policy %q, want %q", tc.yaml, c.Registration.Policy, tc.wantPolicy)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("%q: Validate: got %v, want a problem containing %q", tc.yaml, err, tc.problem)
		}
	}
}

func TestRegistrationPolicyFromEnvironment(t *testing.T) {
	c, err := config.Load("", env(map[string]string{"GATEHOUSE_REGISTRATION_POLICY": "open"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.Registration.Policy != "open" {
		t.Errorf("GATEHOUSE_REGISTRATION_POLICY=open: policy %q, %v; want open", c.Registration.Policy, err)
	}
}

// TestQuotaReuseChecks: the token.quota and token.reuse problems.
func TestQuotaReuseChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *config.Config)
		want string // "" = valid
	}{
		{"quota", func(c *config.Config) { c.Token.Quota = config.QuotaConfig{PerMinute: 10, PerHour: 100} }, ""},
		{"negative quota", func(c *config.Config) { c.Token.Quota.PerMinute = -1 }, "token.quota.per_minute and per_hour must be 0"},
		{"hour below minute", func(c *config.Config) { c.Token.Quota = config.QuotaConfig{PerMinute: 10, PerHour: 5} }, "token.quota.per_hour (5) is below per_minute (10)"},
		{"reuse", func(c *config.Config) { c.Token.Reuse.MinRemaining = 50 }, ""},
		{"reuse 100", func(c *config.Config) { c.Token.Reuse.MinRemaining = 100 }, "token.reuse.min_remaining is 100"},
		{"reuse without cache", func(c *config.Config) { c.Token.Reuse = config.ReuseConfig{MinRemaining: 50} }, "token.reuse.max_entries is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: got %v, want %q", err, tc.want)
			}
		})
	}
}
