package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/duration"
)

// LoadGateway returns the configuration of `gatehouse gateway`: the
// defaults with the gateway enabled on [DefaultGatewayAddr], overridden by
// the GATEHOUSE_GATEWAY_* environment (and GATEHOUSE_LOG_*) as read by
// getenv. The CLI then applies its flags and calls
// [Config.ValidateGateway]. Only the gateway section, Issuer, ScopesFile,
// API, MetricsAddr, MetricsPprof, Log, CORS.AllowedOrigins and ShutdownTimeout
// are used.
func LoadGateway(getenv func(string) string) (Config, error) {
	cfg := Default()
	cfg.Addr = "" // no authorization server here
	cfg.Gateway.Enabled = true
	cfg.Gateway.Addr = DefaultGatewayAddr
	if getenv == nil {
		return cfg, nil
	}
	var p problems
	for _, v := range gatewayEnv {
		if s := getenv(v.name); s != "" {
			if err := v.set(&cfg, s); err != nil {
				p.add("%s %q %v", v.name, s, err)
			}
		}
	}
	return cfg, p.err()
}

// ValidateGateway is [Config.Validate] for `gatehouse gateway`: the same
// checks of the gateway section and of cors.allowed_origins, plus the
// issuer (required: the gateway has no server of its own to derive it
// from), the metrics listener and the log. Problems name the command's
// flags.
func (c *Config) ValidateGateway() error {
	var p problems
	c.Gateway.Enabled = true
	if c.Issuer == "" {
		p.add("issuer is required: the authorization server's issuer URL, e.g. --issuer https://auth.example.com")
	} else {
		c.checkIssuer(&p, false)
		c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	}
	if c.Token.Audience == "" {
		c.Token.Audience = c.Issuer
	}
	c.checkLog(&p)
	c.checkGateway(&p)
	c.checkAPI(&p, "GATEHOUSE_GATEWAY_OPENAPI")
	c.checkCORS(&p, true)
	c.checkMetrics(&p)
	c.checkDPoP(&p)
	c.checkUsage(&p)
	if len(p) == 0 {
		return nil
	}
	for i := range p {
		p[i] = gatewayFlagNames.Replace(p[i])
	}
	return p.err()
}

// gatewayFlagNames renames settings in problems to the flags and variables
// of `gatehouse gateway`.
var gatewayFlagNames = strings.NewReplacer(
	"gateway.addr", "--addr",
	"gateway.upstream_timeout", "--upstream-timeout",
	"gateway.upstream", "--upstream",
	"gateway.audience", "--audience",
	"gateway.resource", "--resource",
	"gateway.base_path", "--base-path",
	"gateway.account_header", "--account-header",
	"gateway.revocation_poll", "--revocation-poll",
	"gateway.client_id", "--client-id",
	"gateway.allow_public", "--allow-public",
	"gateway.dpop_required needs gateway.public_url or gateway.resource", "--dpop-required needs --resource (or --addr with a specific host and port)",
	"api.openapi", "--openapi",
	"GATEHOUSE_GATEWAY_OPENAPI, --openapi", "--openapi, GATEHOUSE_GATEWAY_OPENAPI",
	"cors.allowed_origins", "--cors-allowed-origins",
	"metrics_pprof", "--pprof",
	"metrics_addr", "--metrics-addr",
	"issuer is required", "--issuer is required",
	"issuer \"", "--issuer \"",
	"GATEHOUSE_ISSUER, --issuer", "--issuer, GATEHOUSE_GATEWAY_ISSUER",
	"GATEHOUSE_METRICS_ADDR, --metrics-addr", "--metrics-addr, GATEHOUSE_GATEWAY_METRICS_ADDR",
	"GATEHOUSE_GATEWAY_CLIENT_ID", "--client-id, GATEHOUSE_GATEWAY_CLIENT_ID",
	" when the gateway is enabled", "",
)

// envVar is an environment variable and how it sets the configuration.
type envVar struct {
	name string
	set  func(c *Config, s string) error
}

func str(f func(*Config) *string) func(*Config, string) error {
	return func(c *Config, s string) error { *f(c) = s; return nil }
}

func boolean(f func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("is not true or false")
		}
		*f(c) = b
		return nil
	}
}

// list sets a comma-separated list (see PathList).
func list(f func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, s string) error { *f(c) = PathList(strings.Split(s, ",")); return nil }
}

func dur(f func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, s string) error {
		v, err := duration.Parse(s)
		if err != nil {
			return fmt.Errorf("is not a duration such as 5s or 1m")
		}
		*f(c) = Duration(v)
		return nil
	}
}

// gatewayEnv are the variables LoadGateway reads.
var gatewayEnv = []envVar{
	{"GATEHOUSE_GATEWAY_UPSTREAM", str(func(c *Config) *string { return &c.Gateway.Upstream })},
	{"GATEHOUSE_GATEWAY_ISSUER", str(func(c *Config) *string { return &c.Issuer })},
	{"GATEHOUSE_GATEWAY_AUDIENCE", str(func(c *Config) *string { return &c.Gateway.Audience })},
	{"GATEHOUSE_GATEWAY_RESOURCE", str(func(c *Config) *string { return &c.Gateway.Resource })},
	{"GATEHOUSE_GATEWAY_SCOPES", str(func(c *Config) *string { return &c.ScopesFile })},
	{"GATEHOUSE_GATEWAY_OPENAPI", str(func(c *Config) *string { return &c.API.OpenAPI })},
	{"GATEHOUSE_GATEWAY_ALLOW_PUBLIC", boolean(func(c *Config) *bool { return &c.Gateway.AllowPublic })},
	{"GATEHOUSE_GATEWAY_DPOP_REQUIRED", boolean(func(c *Config) *bool { return &c.Gateway.DPoPRequired })},
	{"GATEHOUSE_GATEWAY_ADDR", str(func(c *Config) *string { return &c.Gateway.Addr })},
	{"GATEHOUSE_GATEWAY_BASE_PATH", str(func(c *Config) *string { return &c.Gateway.BasePath })},
	{"GATEHOUSE_GATEWAY_ACCOUNT_HEADER", str(func(c *Config) *string { return &c.Gateway.AccountHeader })},
	{"GATEHOUSE_GATEWAY_CLIENT_ID", str(func(c *Config) *string { return &c.Gateway.ClientID })},
	{"GATEHOUSE_GATEWAY_CLIENT_SECRET", str(func(c *Config) *string { return &c.Gateway.ClientSecret })},
	{"GATEHOUSE_GATEWAY_REVOCATION_POLL", dur(func(c *Config) *Duration { return &c.Gateway.RevocationPoll })},
	{"GATEHOUSE_GATEWAY_USAGE_INTERVAL", dur(func(c *Config) *Duration { return &c.Usage.Interval })},
	{"GATEHOUSE_GATEWAY_UPSTREAM_TIMEOUT", dur(func(c *Config) *Duration { return &c.Gateway.UpstreamTimeout })},
	{"GATEHOUSE_GATEWAY_METRICS_ADDR", str(func(c *Config) *string { return &c.MetricsAddr })},
	{"GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES", boolean(func(c *Config) *bool { return &c.Gateway.AllowEncodedSlashes })},
	{"GATEHOUSE_GATEWAY_ALLOW_METHOD_OVERRIDE_PARAM", boolean(func(c *Config) *bool { return &c.Gateway.AllowMethodOverrideParam })},
	{"GATEHOUSE_GATEWAY_CORS_ALLOWED_ORIGINS", list(func(c *Config) *[]string { return &c.CORS.AllowedOrigins })},
	{"GATEHOUSE_LOG_FORMAT", str(func(c *Config) *string { return &c.Log.Format })},
	{"GATEHOUSE_LOG_LEVEL", str(func(c *Config) *string { return &c.Log.Level })},
}

// EnvVars lists every environment variable Gatehouse reads: [Load]'s
// (serve and the data commands, including GATEHOUSE_CONFIG),
// [LoadGateway]'s and [LoadRemote]'s.
func EnvVars() []string {
	seen := map[string]bool{"GATEHOUSE_CONFIG": true}
	for _, v := range envVars {
		seen[v.name] = true
	}
	for _, v := range remoteEnv {
		seen[v.name] = true
	}
	for _, v := range gatewayEnv {
		seen[v.name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	return out
}
