package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/resource"
)

// gatewayConfig is the gateway that cfg's gateway section describes, with
// cfg's issuer, token audience, CORS origins and the API's catalog; its
// base path is gateway.base_path, or else the OpenAPI document's, and its
// resource identifier gateway.resource, or else derived from
// gateway.public_url (GatewayConfig.ResourceID). When that identifier is an
// entry of resources:, the gateway is that resource's: its audience and
// catalog (and its document's base path). cfg is validated.
func gatewayConfig(cfg config.Config, api API, reg *prometheus.Registry, log *slog.Logger) (gateway.Config, error) {
	g := cfg.Gateway
	up, err := url.Parse(g.Upstream) // checked by config.Validate
	if err != nil {
		return gateway.Config{}, fmt.Errorf("gateway.upstream: %w", err)
	}
	audience := g.Audience
	if audience == "" {
		audience = cfg.Token.Audience
	}
	poll := time.Duration(g.RevocationPoll)
	if poll == 0 {
		poll = -1 // config: 0 is off; resource.Config: negative is off
	}
	base := cmp.Or(g.BasePath, api.BasePath)
	catalog, rid := api.Catalog, g.ResourceID(base)
	if r := api.resource(rid); r != nil {
		// The gateway of an entry of resources: (RFC 8707) accepts the
		// tokens for it only, and enforces its catalog.
		audience, catalog = r.Config.ID, r.Catalog
		base = cmp.Or(g.BasePath, r.BasePath)
	}
	gcfg := gateway.Config{
		Upstream:        up,
		UpstreamTimeout: time.Duration(g.UpstreamTimeout),
		CORSOrigins:     cfg.CORS.AllowedOrigins,
		Logger:          log,
		Registry:        reg,
		Resource: resource.Config{
			Issuer:         cfg.Issuer,
			Audience:       audience,
			Catalog:        catalog,
			BasePath:       base,
			Resource:       rid,
			AllowPublic:    g.AllowPublic,
			AccountHeader:  g.AccountHeader,
			RevocationPoll: poll,
			ClientID:       g.ClientID,
			ClientSecret:   g.ClientSecret,
			// DPoP (RFC 9449) whenever the gateway knows the URL clients
			// call it at, which proofs name.
			ExternalURL: g.ExternalURL(),
			DPoP: resource.DPoP{Enabled: g.ExternalURL() != "", Required: g.DPoPRequired,
				Window: cfg.DPoP.Window()},
		},
	}
	gcfg.Resource.AllowEncodedSlashes = g.AllowEncodedSlashes
	gcfg.AllowMethodOverrideParam = g.AllowMethodOverrideParam
	return gcfg, nil
}

// embeddedGateway returns the gateway of the config's gateway section, to
// run inside serve with the server's issuer and scope catalog; nil when the
// section is disabled.
func embeddedGateway(cfg config.Config, api API, reg *prometheus.Registry, log *slog.Logger, rec *usage.Recorder) (*gatewayServer, error) {
	if !cfg.Gateway.Enabled {
		return nil, nil
	}
	// serve's metrics listener serves both.
	gcfg, err := gatewayConfig(cfg, api, reg, log.With("component", "gateway"))
	if err != nil {
		return nil, err
	}
	gcfg.Usage = rec
	return startGateway(cfg.Gateway.Addr, gcfg)
}

// RunGateway runs the gateway alone (`gatehouse gateway`), from a config
// that [config.Config.ValidateGateway] accepted: its gateway section, issuer,
// scopes file, metrics listener and log. It serves until ctx is done.
func RunGateway(ctx context.Context, cfg config.Config, stderr io.Writer) error {
	api, err := LoadAPI(cfg)
	if err != nil {
		return err
	}
	log := Logger(cfg, stderr)
	api.logWarnings(log)
	var reg *prometheus.Registry
	if cfg.MetricsAddr != "" {
		reg = newRegistry()
	}
	gcfg, err := gatewayConfig(cfg, api, reg, log)
	if err != nil {
		return err
	}
	sink := remoteUsageSink(ctx, cfg) // usage.go
	if sink == nil && cfg.Usage.Enabled {
		log.Info("usage is counted in the metrics only: set gateway.client_id (a client allowed gatehouse:usage) to report it to the authorization server")
	}
	rec, sender, err := gatewayUsage(cfg, sink, reg, log)
	if err != nil {
		return err
	}
	gcfg.Usage = rec
	ms, err := startMetrics(cfg.MetricsAddr, reg, cfg.MetricsPprof, log)
	if err != nil {
		return err
	}
	defer ms.run()()
	s, err := startGateway(cfg.Gateway.Addr, gcfg)
	if err != nil {
		return err
	}
	s.desc = append(s.desc, ms.logAttrs()...)
	s.serve()
	uctx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	waitUsage := runUsage(uctx, nil, sender)
	err = s.wait(ctx, time.Duration(cfg.ShutdownTimeout), true)
	stopUsage() // a last report of what the gateway counted
	waitUsage()
	return err
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
	if cfg.Resource.AllowPublic {
		desc = append(desc, "allow_public", true)
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

// close closes a gateway that was never served.
func (s *gatewayServer) close() {
	if s == nil {
		return
	}
	s.ln.Close()
	s.gw.Close()
}

// apiURL returns the API's URL through the gateway, where integrators'
// tools send calls: gateway.public_url, else the embedded gateway's
// listening address (an unspecified IP replaced by the issuer's host), with
// the base path (gateway.base_path, else the document's, basePath); "" for
// neither.
func (s *gatewayServer) apiURL(cfg config.Config, basePath string) string {
	base := cmp.Or(cfg.Gateway.BasePath, basePath)
	if cfg.Gateway.PublicURL != "" {
		return cfg.Gateway.PublicURL + base
	}
	if s == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if iu, err := url.Parse(cfg.Issuer); err == nil && iu.Hostname() != "" {
			host = iu.Hostname()
		}
	}
	return "http://" + net.JoinHostPort(host, port) + base
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
