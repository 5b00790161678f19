package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// gatewayShutdownTimeout is how long a stopping gateway waits for requests
// in flight.
const gatewayShutdownTimeout = 15 * time.Second

// gatewayFlags are the settings of `gatehouse gateway`. Every one but the
// client secret is a flag with an environment fallback; the secret is only
// ever read from GATEHOUSE_GATEWAY_CLIENT_SECRET, so it shows in no process
// listing.
type gatewayFlags struct {
	upstream, issuer, audience, scopesFile, addr, basePath, accountHeader, clientID string
	revocationPoll, upstreamTimeout, metricsAddr                                    string
	allowEncodedSlashes, allowMethodOverrideParam, pprof                            bool
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
With --metrics-addr, /metrics is served on a listener of its own.

If the revocation feed requires a client, give --client-id and set the secret
in GATEHOUSE_GATEWAY_CLIENT_SECRET (it is never a flag).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.gatewayEnv(cmd, gf); err != nil {
				return err
			}
			gcfg, addr, err := e.gatewayConfig(gf)
			if err != nil {
				return err
			}
			log := e.logger(config.Config{Log: config.LogConfig{
				Format: strings.ToLower(e.getenv("GATEHOUSE_LOG_FORMAT")),
				Level:  e.getenv("GATEHOUSE_LOG_LEVEL"),
			}})
			gcfg.Logger = log
			if gf.metricsAddr != "" {
				gcfg.Registry = newRegistry()
			}
			ms, err := startMetrics(gf.metricsAddr, gcfg.Registry, gf.pprof, log)
			if err != nil {
				return err
			}
			defer ms.run()()
			s, err := startGateway(addr, gcfg)
			if err != nil {
				return err
			}
			s.desc = append(s.desc, ms.logAttrs()...)
			s.serve()
			return s.wait(cmd.Context(), gatewayShutdownTimeout, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&gf.upstream, "upstream", "", "URL of the API to protect, e.g. http://127.0.0.1:3000; env GATEHOUSE_GATEWAY_UPSTREAM")
	f.StringVar(&gf.issuer, "issuer", "", "issuer URL of the authorization server (its JWKS and revocation feed are found from it); env GATEHOUSE_GATEWAY_ISSUER")
	f.StringVar(&gf.audience, "audience", "", "audience the tokens must name (default: the issuer, the server's default aud); env GATEHOUSE_GATEWAY_AUDIENCE")
	f.StringVar(&gf.scopesFile, "scopes", "", "scope catalog file, the same as the server's (default: the built-in catalog); env GATEHOUSE_GATEWAY_SCOPES")
	f.StringVar(&gf.addr, "addr", "127.0.0.1:8081", "listen address; env GATEHOUSE_GATEWAY_ADDR")
	f.StringVar(&gf.basePath, "base-path", "", "base path of the API, e.g. /api: catalog paths are relative to it and other paths are refused (the upstream sees the path unchanged); env GATEHOUSE_GATEWAY_BASE_PATH")
	f.StringVar(&gf.accountHeader, "account-header", "X-Account", "request header naming the account, for account-restricted tokens; env GATEHOUSE_GATEWAY_ACCOUNT_HEADER")
	f.StringVar(&gf.clientID, "client-id", "", "client ID for a revocation feed that requires a client (secret from GATEHOUSE_GATEWAY_CLIENT_SECRET); env GATEHOUSE_GATEWAY_CLIENT_ID")
	f.StringVar(&gf.revocationPoll, "revocation-poll", "5s", "how often to read the revocation feed; 0 turns revocation checks off; env GATEHOUSE_GATEWAY_REVOCATION_POLL")
	f.StringVar(&gf.upstreamTimeout, "upstream-timeout", "30s", "how long to wait for the upstream's response headers before answering 504; env GATEHOUSE_GATEWAY_UPSTREAM_TIMEOUT")
	f.BoolVar(&gf.allowEncodedSlashes, "allow-encoded-slashes", false, "pass paths with an encoded / (%2F) on, still encoded, matched as part of one segment (default: refuse them, 400); env GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES")
	f.BoolVar(&gf.allowMethodOverrideParam, "allow-method-override-param", false, "pass a _method query parameter on; the token must then allow both the request's method and the parameter's (default: refuse it, 400); env GATEHOUSE_GATEWAY_ALLOW_METHOD_OVERRIDE_PARAM")
	f.StringVar(&gf.metricsAddr, "metrics-addr", "", "listen address of /metrics, apart from --addr (default: metrics are not served); env GATEHOUSE_GATEWAY_METRICS_ADDR")
	f.BoolVar(&gf.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --metrics-addr")
	return cmd
}

// gatewayEnv fills the flags the user did not set from the environment
// (flags beat environment beat defaults).
func (e *env) gatewayEnv(cmd *cobra.Command, gf *gatewayFlags) error {
	for _, v := range []struct {
		flag, env string
		dst       *string
	}{
		{"upstream", "GATEHOUSE_GATEWAY_UPSTREAM", &gf.upstream},
		{"issuer", "GATEHOUSE_GATEWAY_ISSUER", &gf.issuer},
		{"audience", "GATEHOUSE_GATEWAY_AUDIENCE", &gf.audience},
		{"scopes", "GATEHOUSE_GATEWAY_SCOPES", &gf.scopesFile},
		{"addr", "GATEHOUSE_GATEWAY_ADDR", &gf.addr},
		{"base-path", "GATEHOUSE_GATEWAY_BASE_PATH", &gf.basePath},
		{"account-header", "GATEHOUSE_GATEWAY_ACCOUNT_HEADER", &gf.accountHeader},
		{"client-id", "GATEHOUSE_GATEWAY_CLIENT_ID", &gf.clientID},
		{"revocation-poll", "GATEHOUSE_GATEWAY_REVOCATION_POLL", &gf.revocationPoll},
		{"upstream-timeout", "GATEHOUSE_GATEWAY_UPSTREAM_TIMEOUT", &gf.upstreamTimeout},
		{"metrics-addr", "GATEHOUSE_GATEWAY_METRICS_ADDR", &gf.metricsAddr},
	} {
		if s := e.getenv(v.env); s != "" && !cmd.Flags().Changed(v.flag) {
			*v.dst = s
		}
	}
	for _, v := range []struct {
		flag, env string
		dst       *bool
	}{
		{"allow-encoded-slashes", "GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES", &gf.allowEncodedSlashes},
		{"allow-method-override-param", "GATEHOUSE_GATEWAY_ALLOW_METHOD_OVERRIDE_PARAM", &gf.allowMethodOverrideParam},
	} {
		if s := e.getenv(v.env); s != "" && !cmd.Flags().Changed(v.flag) {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return usagef("%s %q is not true or false", v.env, s)
			}
			*v.dst = b
		}
	}
	return nil
}

// gatewayConfig checks the flags and turns them into the gateway's
// configuration and listen address. Each error is one line naming the fix.
func (e *env) gatewayConfig(gf *gatewayFlags) (gateway.Config, string, error) {
	var zero gateway.Config
	if gf.upstream == "" {
		return zero, "", usagef("--upstream is required: the URL of the API to protect, e.g. --upstream http://127.0.0.1:3000 (or GATEHOUSE_GATEWAY_UPSTREAM)")
	}
	up, err := url.Parse(gf.upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" || up.User != nil || up.RawQuery != "" || up.Fragment != "" {
		return zero, "", usagef("--upstream %q is not an absolute http or https URL without user, query or fragment; use e.g. http://127.0.0.1:3000", gf.upstream)
	}
	if gf.issuer == "" {
		return zero, "", usagef("--issuer is required: the authorization server's issuer URL, e.g. --issuer https://auth.example.com (or GATEHOUSE_GATEWAY_ISSUER)")
	}
	if msg := checkIssuerURL(gf.issuer); msg != "" {
		return zero, "", usagef("--issuer %q %s", gf.issuer, msg)
	}
	issuer := strings.TrimSuffix(gf.issuer, "/")
	audience := gf.audience
	if audience == "" {
		audience = issuer
	}
	if _, port, err := net.SplitHostPort(gf.addr); err != nil || !isPort(port) {
		return zero, "", usagef("--addr %q is not host:port; use e.g. 127.0.0.1:8081 or :8081", gf.addr)
	}
	if gf.metricsAddr != "" {
		_, port, err := net.SplitHostPort(gf.metricsAddr)
		if err != nil || !isPort(port) {
			return zero, "", usagef("--metrics-addr %q is not host:port; use e.g. 127.0.0.1:9091", gf.metricsAddr)
		}
		if gf.metricsAddr == gf.addr && port != "0" {
			return zero, "", usagef("--metrics-addr %q is also --addr; metrics need a listener of their own, e.g. 127.0.0.1:9091", gf.metricsAddr)
		}
	} else if gf.pprof {
		return zero, "", usagef("--pprof needs --metrics-addr: pprof is served on the metrics listener")
	}
	basePath := gf.basePath
	if basePath != "" && (basePath[0] != '/' || strings.Contains(basePath, "//") || strings.ContainsAny(basePath, "?# \t")) {
		return zero, "", usagef("--base-path %q is not a path; use e.g. /api, or leave it out for the whole API", basePath)
	}
	basePath = strings.TrimSuffix(basePath, "/")
	if msg := headerNameProblem(gf.accountHeader); msg != "" {
		return zero, "", usagef("--account-header %q %s; use e.g. X-Account", gf.accountHeader, msg)
	}
	poll, err := duration.Parse(gf.revocationPoll)
	if err != nil {
		return zero, "", usagef("--revocation-poll %q: %v; use e.g. 5s, or 0 to turn revocation checks off", gf.revocationPoll, err)
	}
	if poll == 0 {
		poll = -1 // resource.Config: negative disables polling
	}
	timeout, err := duration.Parse(gf.upstreamTimeout)
	if err != nil || timeout <= 0 {
		return zero, "", usagef("--upstream-timeout %q is not a positive duration; use e.g. 30s", gf.upstreamTimeout)
	}
	secret := e.getenv("GATEHOUSE_GATEWAY_CLIENT_SECRET")
	switch {
	case gf.clientID != "" && secret == "":
		return zero, "", usagef("--client-id is set but GATEHOUSE_GATEWAY_CLIENT_SECRET is empty; set the client's secret in that variable")
	case gf.clientID == "" && secret != "":
		return zero, "", usagef("GATEHOUSE_GATEWAY_CLIENT_SECRET is set but --client-id is not; give the client's ID with --client-id (or GATEHOUSE_GATEWAY_CLIENT_ID)")
	}
	catalog := scope.Default()
	if gf.scopesFile != "" {
		if catalog, err = scope.Load(gf.scopesFile); err != nil {
			return zero, "", err
		}
	}
	gcfg := gateway.Config{
		Upstream:        up,
		UpstreamTimeout: timeout,
		Resource: resource.Config{
			Issuer:         issuer,
			Audience:       audience,
			Catalog:        catalog,
			BasePath:       basePath,
			AccountHeader:  gf.accountHeader,
			RevocationPoll: poll,
			ClientID:       gf.clientID,
			ClientSecret:   secret,
		},
	}
	gcfg.Resource.AllowEncodedSlashes = gf.allowEncodedSlashes
	gcfg.AllowMethodOverrideParam = gf.allowMethodOverrideParam
	return gcfg, gf.addr, nil
}

// checkIssuerURL returns what is wrong with an issuer URL, or "". Plain
// http is allowed only on loopback: the signing keys are fetched from it.
func checkIssuerURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "is not an absolute http or https URL; use the server's issuer, e.g. https://auth.example.com"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "must not have user information, a query or a fragment; use the server's issuer, e.g. https://auth.example.com"
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "must use https unless its host is localhost or a loopback address: the signing keys are fetched from it"
	}
	return ""
}

func loopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isPort(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

// headerNameProblem says what is wrong with an account header name, or "".
func headerNameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return "is not an HTTP header name"
		}
	}
	if l := strings.ToLower(strings.ReplaceAll(name, "_", "-")); strings.HasPrefix(l, "x-gatehouse-") || l == "authorization" {
		return "is reserved"
	}
	return ""
}

// gatewayServer is a gateway on its own listener, standalone or inside
// serve. Its methods do nothing on a nil receiver (a disabled gateway).
type gatewayServer struct {
	gw   *gateway.Gateway
	hs   *http.Server
	ln   net.Listener
	log  *slog.Logger
	desc []any // for the "listening" log line
	done chan error
}

// startGateway builds the gateway and opens its listener, so that both
// configuration and address problems show before anything is served.
func startGateway(addr string, cfg gateway.Config) (*gatewayServer, error) {
	gw, err := gateway.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		gw.Close()
		return nil, fmt.Errorf("gateway: listen on %s: %w (choose another address)", addr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	desc := []any{"addr", "http://" + ln.Addr().String(), "upstream", cfg.Upstream.Redacted(), "issuer", cfg.Resource.Issuer}
	if cfg.Resource.BasePath != "" {
		desc = append(desc, "base_path", cfg.Resource.BasePath)
	}
	return &gatewayServer{
		gw: gw,
		ln: ln,
		hs: &http.Server{
			Handler: gw.Handler(),
			// No read or write timeout: streams and large bodies pass
			// through. Slow headers and idle connections are bounded.
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log:  log,
		desc: desc,
		done: make(chan error, 1),
	}, nil
}

// serve starts serving in the background.
func (s *gatewayServer) serve() {
	if s == nil {
		return
	}
	go func() { s.done <- s.hs.Serve(s.ln) }()
	s.log.Info("gatehouse gateway listening", s.desc...)
}

// wait serves until ctx is done (or serving fails), then shuts down,
// giving requests in flight up to timeout.
func (s *gatewayServer) wait(ctx context.Context, timeout time.Duration, logStop bool) error {
	if s == nil {
		return nil
	}
	var err error
	select {
	case err = <-s.done:
	case <-ctx.Done():
		s.log.Info("gateway shutting down", "timeout", timeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err = s.hs.Shutdown(sctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("gateway shutdown timed out; closing remaining connections")
			_ = s.hs.Close()
			err = nil
		}
	}
	s.gw.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if logStop {
		s.log.Info("stopped")
	}
	return err
}

// embeddedGateway returns the gateway of the config's gateway section, to
// run inside serve with the server's issuer and scope catalog; nil when the
// section is disabled.
func (e *env) embeddedGateway(cfg config.Config, catalog *scope.Catalog, reg *prometheus.Registry, log *slog.Logger) (*gatewayServer, error) {
	g := cfg.Gateway
	if !g.Enabled {
		return nil, nil
	}
	var secret string
	if g.ClientID != "" {
		if secret = e.getenv("GATEHOUSE_GATEWAY_CLIENT_SECRET"); secret == "" {
			return nil, fmt.Errorf("gateway.client_id is set but GATEHOUSE_GATEWAY_CLIENT_SECRET is empty; set the client's secret in that variable")
		}
	}
	up, err := url.Parse(g.Upstream) // checked by config.Validate
	if err != nil {
		return nil, fmt.Errorf("gateway.upstream: %w", err)
	}
	audience := g.Audience
	if audience == "" {
		audience = cfg.Token.Audience
	}
	gcfg := gateway.Config{
		Upstream:        up,
		UpstreamTimeout: time.Duration(g.UpstreamTimeout),
		Logger:          log.With("component", "gateway"),
		Registry:        reg, // serve's metrics listener serves both
		Resource: resource.Config{
			Issuer:         cfg.Issuer,
			Audience:       audience,
			Catalog:        catalog,
			BasePath:       g.BasePath,
			AccountHeader:  g.AccountHeader,
			RevocationPoll: time.Duration(g.RevocationPoll),
			ClientID:       g.ClientID,
			ClientSecret:   secret,
		},
	}
	gcfg.Resource.AllowEncodedSlashes = g.AllowEncodedSlashes
	gcfg.AllowMethodOverrideParam = g.AllowMethodOverrideParam
	return startGateway(g.Addr, gcfg)
}

// run serves in the background until ctx is done and returns a function
// that stops the gateway (if it is still running) and waits for it.
func (s *gatewayServer) run(ctx context.Context, timeout time.Duration) (stop func()) {
	if s == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	s.serve()
	go func() {
		defer close(stopped)
		if err := s.wait(ctx, timeout, false); err != nil {
			s.log.Error("gateway stopped", "err", err)
		}
	}()
	return func() { cancel(); <-stopped }
}
