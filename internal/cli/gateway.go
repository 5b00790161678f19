package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
)

// gatewayFlags are the settings of `gatehouse gateway`. Every one but the
// client secret is a flag with an environment fallback (read by
// config.LoadGateway); the secret is only ever read from
// GATEHOUSE_GATEWAY_CLIENT_SECRET, so it shows in no process listing.
type gatewayFlags struct {
	upstream, issuer, audience, resource, scopesFile, openAPIFile, addr, basePath, accountHeader, clientID string
	revocationPoll, upstreamTimeout, metricsAddr, corsOrigins                                              string
	allowEncodedSlashes, allowMethodOverrideParam, allowPublic, pprof                                      bool
	dpopRequired                                                                                           bool
}

func (e *env) gatewayCmd() *cobra.Command {
	gf := &gatewayFlags{}
	cmd := &cobra.Command{
		Use:   "gateway --upstream URL --issuer URL",
		Short: "Run the enforcing reverse proxy in front of an API",
		Long: `Run a reverse proxy that checks every request's access token against the
scope catalog before passing it to the upstream API, with the caller's identity
in X-Gatehouse-Client-Id, X-Gatehouse-Subject, X-Gatehouse-Scope and
X-Gatehouse-Account (copies sent by the caller are removed). It needs no
database: it reads the authorization server's JWKS and revocation feed.

Paths with an encoded "/" (%2F), a "\", an encoded dot segment or double
encoding are refused (400), and so is a _method query parameter, unless
--allow-encoded-slashes or --allow-method-override-param says otherwise.
Method override headers are never passed on.

/healthz is answered by the gateway itself; every other path is the API's.
CORS preflights are answered by the gateway too, without a token: pages on
the issuer's origin and on --cors-allowed-origins may call the API from a
browser.
With --metrics-addr, /metrics is served on a listener of its own.

If the revocation feed requires a client, give --client-id and set the secret
in GATEHOUSE_GATEWAY_CLIENT_SECRET (it is never a flag).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.gatewayConfig(cmd, gf)
			if err != nil {
				return err
			}
			return app.RunGateway(cmd.Context(), cfg, e.stderr)
		},
	}
	f := cmd.Flags()
	def := config.Default()
	f.StringVar(&gf.upstream, "upstream", "", "URL of the API to protect, e.g. http://127.0.0.1:3000; env GATEHOUSE_GATEWAY_UPSTREAM")
	f.StringVar(&gf.issuer, "issuer", "", "issuer URL of the authorization server (its JWKS and revocation feed are found from it); env GATEHOUSE_GATEWAY_ISSUER")
	f.StringVar(&gf.audience, "audience", "", "audience the tokens must name (default: the issuer, the server's default aud); env GATEHOUSE_GATEWAY_AUDIENCE")
	f.StringVar(&gf.resource, "resource", "", "the API's resource identifier (RFC 9728), e.g. https://api.example.com/api: serve its Protected Resource Metadata at /.well-known/oauth-protected-resource/api and name it in every challenge (default: none); env GATEHOUSE_GATEWAY_RESOURCE")
	f.StringVar(&gf.scopesFile, "scopes", "", "scope catalog file, the same as the server's (default: the built-in catalog); env GATEHOUSE_GATEWAY_SCOPES")
	f.StringVar(&gf.openAPIFile, "openapi", "", "the API's OpenAPI 3.0/3.1 document, the same as the server's: derive the scope catalog from it (its servers' path is the default --base-path); env GATEHOUSE_GATEWAY_OPENAPI")
	f.BoolVar(&gf.allowPublic, "allow-public", false, "pass calls without a token on to operations the OpenAPI document marks public (security: []) (default: they need a valid token too); env GATEHOUSE_GATEWAY_ALLOW_PUBLIC")
	f.BoolVar(&gf.dpopRequired, "dpop-required", false, "refuse bearer tokens: only DPoP-bound tokens with their proofs (RFC 9449), which name the --resource URL's origin (else http://<addr>); env GATEHOUSE_GATEWAY_DPOP_REQUIRED")
	f.StringVar(&gf.addr, "addr", config.DefaultGatewayAddr, "listen address; env GATEHOUSE_GATEWAY_ADDR")
	f.StringVar(&gf.basePath, "base-path", "", "base path of the API, e.g. /api: catalog paths are relative to it and other paths are refused (the upstream sees the path unchanged; default: the OpenAPI document's, if any); env GATEHOUSE_GATEWAY_BASE_PATH")
	f.StringVar(&gf.accountHeader, "account-header", def.Gateway.AccountHeader, "request header naming the account, for account-restricted tokens; env GATEHOUSE_GATEWAY_ACCOUNT_HEADER")
	f.StringVar(&gf.clientID, "client-id", "", "client ID for a revocation feed that requires a client (secret from GATEHOUSE_GATEWAY_CLIENT_SECRET); env GATEHOUSE_GATEWAY_CLIENT_ID")
	f.StringVar(&gf.revocationPoll, "revocation-poll", def.Gateway.RevocationPoll.String(), "how often to read the revocation feed; 0 turns revocation checks off; env GATEHOUSE_GATEWAY_REVOCATION_POLL")
	f.StringVar(&gf.upstreamTimeout, "upstream-timeout", def.Gateway.UpstreamTimeout.String(), "how long to wait for the upstream's response headers before answering 504; env GATEHOUSE_GATEWAY_UPSTREAM_TIMEOUT")
	f.BoolVar(&gf.allowEncodedSlashes, "allow-encoded-slashes", false, "pass paths with an encoded / (%2F) on, still encoded, matched as part of one segment (default: refuse them, 400); env GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES")
	f.BoolVar(&gf.allowMethodOverrideParam, "allow-method-override-param", false, "pass a _method query parameter on; the token must then allow both the request's method and the parameter's (default: refuse it, 400); env GATEHOUSE_GATEWAY_ALLOW_METHOD_OVERRIDE_PARAM")
	f.StringVar(&gf.metricsAddr, "metrics-addr", "", "listen address of /metrics, apart from --addr (default: metrics are not served); env GATEHOUSE_GATEWAY_METRICS_ADDR")
	f.BoolVar(&gf.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --metrics-addr")
	f.StringVar(&gf.corsOrigins, "cors-allowed-origins", "", "origins, comma-separated (e.g. https://app.example), whose pages may call the API from a browser, besides the issuer's, which always may; env GATEHOUSE_GATEWAY_CORS_ALLOWED_ORIGINS")
	return cmd
}

// gatewayConfig reads the environment into the gateway's configuration,
// applies the flags the user set (flags beat environment beat defaults) and
// validates it as serve validates its gateway section.
func (e *env) gatewayConfig(cmd *cobra.Command, gf *gatewayFlags) (config.Config, error) {
	cfg, err := config.LoadGateway(e.getenv)
	if err != nil {
		return cfg, usageError{err}
	}
	fl := cmd.Flags()
	for _, v := range []struct {
		flag string
		src  *string
		dst  *string
	}{
		{"upstream", &gf.upstream, &cfg.Gateway.Upstream},
		{"issuer", &gf.issuer, &cfg.Issuer},
		{"audience", &gf.audience, &cfg.Gateway.Audience},
		{"resource", &gf.resource, &cfg.Gateway.Resource},
		{"scopes", &gf.scopesFile, &cfg.ScopesFile},
		{"openapi", &gf.openAPIFile, &cfg.API.OpenAPI},
		{"addr", &gf.addr, &cfg.Gateway.Addr},
		{"base-path", &gf.basePath, &cfg.Gateway.BasePath},
		{"account-header", &gf.accountHeader, &cfg.Gateway.AccountHeader},
		{"client-id", &gf.clientID, &cfg.Gateway.ClientID},
		{"metrics-addr", &gf.metricsAddr, &cfg.MetricsAddr},
	} {
		if fl.Changed(v.flag) {
			*v.dst = *v.src
		}
	}
	for _, v := range []struct {
		flag string
		src  *string
		dst  *config.Duration
		eg   string
	}{
		{"revocation-poll", &gf.revocationPoll, &cfg.Gateway.RevocationPoll, "use e.g. 5s, or 0 to turn revocation checks off"},
		{"upstream-timeout", &gf.upstreamTimeout, &cfg.Gateway.UpstreamTimeout, "use e.g. 30s"},
	} {
		if fl.Changed(v.flag) {
			d, err := duration.Parse(*v.src)
			if err != nil {
				return cfg, usagef("--%s %q: %v; %s", v.flag, *v.src, err, v.eg)
			}
			*v.dst = config.Duration(d)
		}
	}
	if fl.Changed("allow-encoded-slashes") {
		cfg.Gateway.AllowEncodedSlashes = gf.allowEncodedSlashes
	}
	if fl.Changed("allow-method-override-param") {
		cfg.Gateway.AllowMethodOverrideParam = gf.allowMethodOverrideParam
	}
	if fl.Changed("allow-public") {
		cfg.Gateway.AllowPublic = gf.allowPublic
	}
	if fl.Changed("dpop-required") {
		cfg.Gateway.DPoPRequired = gf.dpopRequired
	}
	if fl.Changed("pprof") {
		cfg.MetricsPprof = gf.pprof
	}
	if fl.Changed("cors-allowed-origins") {
		cfg.CORS.AllowedOrigins = config.PathList(strings.Split(gf.corsOrigins, ","))
	}
	if err := cfg.ValidateGateway(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}
