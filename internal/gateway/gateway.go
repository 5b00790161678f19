// Package gateway is Gatehouse's enforcing reverse proxy: every request is
// checked by the resource middleware (token, scope catalog, account) and
// only then passed to the upstream API, with the caller's identity in
// X-Gatehouse-* headers that the upstream can trust because the gateway
// removes any that arrive from outside.
//
// The gateway needs no database: only the authorization server's metadata,
// JWKS and revocation feed, which the resource middleware fetches.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/cors"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// The identity headers the upstream receives. Incoming headers with these
// names, and any other X-Gatehouse-* header, are removed first, in every
// spelling a CGI-style server would merge with them ("x_gatehouse_scope").
const (
	HeaderClientID = "X-Gatehouse-Client-Id"
	HeaderSubject  = "X-Gatehouse-Subject"
	HeaderScope    = "X-Gatehouse-Scope" // space-separated, as in the token
	HeaderAccount  = "X-Gatehouse-Account"
)

// PathHealth is the one path the gateway answers itself instead of
// proxying. Its metrics are not on the proxied listener: they go to
// Config.Registry, which its owner serves on a listener of its own.
const PathHealth = "/healthz"

// DefaultUpstreamTimeout is how long the gateway waits for the upstream's
// response headers when Config.UpstreamTimeout is zero.
const DefaultUpstreamTimeout = 30 * time.Second

// Config configures a Gateway.
type Config struct {
	// Upstream is the API the gateway protects: an absolute http or https
	// URL. Requests keep their path (and query); a path in Upstream, if
	// any, is put in front of it.
	Upstream *url.URL
	// Resource configures the enforcement (issuer, audience, scope catalog,
	// base path, account header, revocation polling...). Its Observe, if
	// set, is still called, after the gateway's own metrics.
	Resource resource.Config
	// UpstreamTimeout bounds the wait for the upstream's response headers;
	// 0 means DefaultUpstreamTimeout. Bodies are not bounded, so streams
	// and large downloads pass through.
	UpstreamTimeout time.Duration
	// Logger receives upstream errors; nil discards them.
	Logger *slog.Logger
	// Registry receives the gateway's metrics, for its owner to serve (the
	// CLI's --metrics-addr listener); nil keeps them in a registry nobody
	// reads.
	Registry *prometheus.Registry
	// AllowMethodOverrideParam passes a "_method" query parameter on to the
	// upstream (for frameworks that take it as the request's method), and
	// the request is then allowed only if the token's scopes allow both its
	// own method and the parameter's. By default a request with one is
	// refused (400). Method override headers (X-HTTP-Method-Override,
	// X-Method-Override, X-HTTP-Method) are never passed on.
	AllowMethodOverrideParam bool
	// CORSOrigins are the origins (exact, as cors.ParseOrigin accepts them;
	// not "*") whose pages may call the API from a browser, besides the
	// issuer's own, which always may: the API reference page the
	// authorization server serves calls the API from there. See corsPolicy.
	CORSOrigins []string
	// Usage, if set, counts every decision per client and endpoint
	// pattern (usage.go); its owner reports it. Nil: no usage is kept.
	Usage *usage.Recorder
}

// Gateway is a running gateway. Its Handler serves /healthz and proxies
// everything else.
type Gateway struct {
	guard     *resource.Guard
	transport *http.Transport
	handler   http.Handler
}

// New checks cfg and builds a gateway. It does no network I/O: the
// authorization server's keys are fetched on the first request. Call Close
// to stop the background revocation polling.
func New(cfg Config) (*Gateway, error) {
	if err := checkUpstream(cfg.Upstream); err != nil {
		return nil, err
	}
	if cfg.UpstreamTimeout < 0 {
		return nil, fmt.Errorf("gateway: upstream timeout is negative (%s)", cfg.UpstreamTimeout)
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	rc := cfg.Resource
	if rc.Logger == nil {
		rc.Logger = log
	}
	next := rc.Observe
	rc.Observe = func(allowed bool, reason string) {
		m.decision(allowed, reason)
		if next != nil {
			next(allowed, reason)
		}
	}
	if cfg.AllowMethodOverrideParam && rc.MethodOverride == nil {
		rc.MethodOverride = methodOverride
	}
	acct := rc.AccountHeader
	if acct == "" {
		acct = resource.DefaultAccountHeader
	}
	hr := headerRules{account: http.CanonicalHeaderKey(acct)}
	observeUsage(&rc, cfg.Usage)
	guard, err := resource.New(rc)
	if err != nil {
		return nil, err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := errors.Join(m.register(reg), registerUsage(reg, cfg.Usage)); err != nil {
		guard.Close()
		return nil, err
	}

	withCORS, err := corsPolicy(rc.Issuer, cfg.CORSOrigins, hr)
	if err != nil {
		guard.Close()
		return nil, err
	}

	tr := NewTransport(cfg.UpstreamTimeout)
	p := newProxy(cfg.Upstream, tr, hr, scope.PathRules{AllowEncodedSlash: rc.AllowEncodedSlashes}, m, log)
	return &Gateway{
		guard:     guard,
		transport: tr,
		// CORS first: preflights carry no token, and the gateway's own
		// refusals must reach the page like the API's answers.
		handler: routes(withCORS(screen(guard.Handler(p), hr, cfg.AllowMethodOverrideParam, rc.Observe))),
	}, nil
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close stops background work (revocation polling) and closes idle
// upstream connections. Requests in flight are not interrupted.
func (g *Gateway) Close() {
	g.guard.Close()
	g.transport.CloseIdleConnections()
}

// routes answers the gateway's own path and sends everything else to the
// guarded proxy. It deliberately is not a ServeMux: a proxy must not
// redirect or rewrite the paths it passes on.
func routes(guarded http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathHealth:
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		default:
			guarded.ServeHTTP(w, r)
		}
	})
}

// corsPolicy returns the gateway's CORS middleware (internal/cors): the
// issuer's origin and origins may call every method of the API with a
// token, JSON and the account header, and read the gateway's challenges
// (WWW-Authenticate) and Retry-After. The upstream's own Access-Control-*
// headers are removed from its responses (see newProxy), so the gateway
// alone decides.
func corsPolicy(issuer string, origins []string, hr headerRules) (func(http.Handler) http.Handler, error) {
	own, err := cors.OriginOf(issuer)
	if err != nil {
		return nil, fmt.Errorf("gateway: issuer %q %v", issuer, err)
	}
	if slices.Contains(origins, cors.Any) {
		return nil, fmt.Errorf("gateway: CORS origins may not hold %q: list each origin", cors.Any)
	}
	mw, err := cors.New(cors.Policy{
		Origins: append([]string{own}, origins...),
		Methods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		Headers: []string{"Authorization", "Content-Type", "DPoP", hr.account},
		Expose:  []string{"WWW-Authenticate", "Retry-After"},
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return mw, nil
}

// checkUpstream reports what is wrong with an upstream URL, or nil.
func checkUpstream(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("gateway: no upstream URL")
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("gateway: upstream %q is not an absolute http or https URL", u.Redacted())
	case u.User != nil:
		return fmt.Errorf("gateway: upstream %q must not contain user information", u.Redacted())
	case u.Fragment != "" || strings.Contains(u.String(), "#"):
		return fmt.Errorf("gateway: upstream %q must not have a fragment", u.Redacted())
	}
	return nil
}
