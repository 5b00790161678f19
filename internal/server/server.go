// Package server is Gatehouse's HTTP authorization server: the token,
// introspection and revocation endpoints, discovery metadata, the JWKS, and
// health endpoints. Its metrics go to a registry that the caller serves on a
// listener of its own.
package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/tokencache"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/scope"
)

// Options configures a Server. Store, Keys and Catalog are required. Every
// setting means what its zero value says; the defaults live in package
// config, which the app turns into Options.
type Options struct {
	Store   store.Store
	Keys    *token.Keyring
	Catalog *scope.Catalog

	Issuer     string        // "iss" and the base of advertised endpoint URLs
	Audience   string        // default "aud" for clients without their own
	DefaultTTL time.Duration // access-token lifetime for clients without their own; required, positive
	MaxTTL     time.Duration // upper bound for any client's lifetime; required, at least DefaultTTL
	TokenPaths []string      // extra paths for the token endpoint, e.g. /oauth/v2/token
	// Resources are more APIs besides the default one (Catalog, Audience):
	// RFC 8707 resource indicators, see Resource.
	Resources []Resource

	// Failed client authentications allowed per minute, per client ID and per
	// source address, after a burst of FailureBurst at once. Zero or
	// negative means no limit.
	FailuresPerClient, FailuresPerAddress, FailureBurst int
	// RememberSuccess is how long a (client ID, source address) pair that
	// authenticated passes those limits; zero or negative: never.
	RememberSuccess time.Duration

	PollInterval time.Duration // change-feed poll; default 1s
	// MaxCachedClients bounds the client cache (cache.max_clients): a
	// client counts once for each 2 KiB of its cached form started;
	// zero: DefaultMaxClients.
	MaxCachedClients int
	// MaxStaleness: once the client cache has gone this long without being
	// confirmed against the store's change feed (the store is unreachable,
	// say), client authentication is refused with 503
	// temporarily_unavailable rather than decided on data that may be
	// stale. It bounds the in-memory revocations too: older than this,
	// revocation checks go to the store (revoked.go). Zero or negative:
	// never refuse, and always check revocations in the store.
	MaxStaleness time.Duration

	// ClientIP finds the source address that failures are counted against;
	// nil: the TCP peer address.
	ClientIP *clientip.Resolver
	// Fetch governs every request the server makes to a URL a client
	// names (private_key_jwt JWKS URIs, client ID metadata documents):
	// internal/safefetch. The zero value is the production setting: https
	// to public addresses only, no redirects, bounded in time and size.
	Fetch safefetch.Options
	// ClientMetadata enables client ID metadata documents (clientmeta.go).
	ClientMetadata ClientMetadataOptions

	// RevocationFeedScope, if set, closes the revocation feed to all but
	// clients allowed this scope. It must not be a catalog scope; the token
	// endpoint grants it, like a catalog scope, to clients allowed it that
	// ask for it by name.
	RevocationFeedScope string
	// SystemScopes are more scopes outside the catalog that the token
	// endpoint grants, like RevocationFeedScope, only to clients allowed
	// them that ask for them by name: the admin API's.
	SystemScopes []string
	// AdminAPI, if set, serves the admin API under /admin/v1/, behind the
	// same metrics as every other route (it bounds its own bodies).
	AdminAPI http.Handler
	// Docs, if set, serves /docs and everything under /docs/ (the API
	// reference, package docs); nil: those paths are not found.
	Docs http.Handler
	// Postman, if set, serves GET /docs/postman.json: the API's Postman
	// collection (internal/postman).
	Postman http.Handler

	// CORSOrigins are the origins (exact, as cors.ParseOrigin accepts them)
	// whose pages may call the token endpoint, the revocation feed, the
	// metadata and the JWKS from a browser; CORSPublicOrigins are more for
	// the metadata and the JWKS only, where cors.Any allows every origin.
	// None: no CORS (the server's own pages are on its origin).
	CORSOrigins, CORSPublicOrigins []string

	// Console, if set, enables the authorization endpoint and the
	// authorization code grant: it supplies the logged-in user, CSRF
	// protection and the consent and error pages.
	Console Console
	// Consents decides, records and labels consents for the authorization
	// endpoint; nil: a service on Store and Catalog.
	Consents *consents.Service
	// ConsolePages, if set, registers the console's own pages (/console/...)
	// on the mux it is given; the server mounts that mux behind the same
	// body limit and metrics as every other route, and GET / redirects to
	// the console. Nil: no console pages.
	ConsolePages func(*http.ServeMux)
	// RequirePKCE: nil or true makes PKCE (S256) mandatory for every
	// authorization request; false requires it of public clients only.
	RequirePKCE *bool
	CodeTTL     time.Duration // authorization code lifetime; default 60s
	// Refresh token lifetimes: a token unused for RefreshIdleTTL expires; a
	// family ends RefreshAbsoluteTTL after the authorization that started
	// it. Both required, positive.
	RefreshIdleTTL, RefreshAbsoluteTTL time.Duration

	// DPoPWindow is how far a DPoP proof's iat may be from now, either way
	// (RFC 9449 §11.1); zero: dpop.DefaultWindow (60s).
	DPoPWindow time.Duration
	// DPoPNonce makes the token endpoint require a server nonce in DPoP
	// proofs (RFC 9449 §8): given in DPoP-Nonce, changed every 5 minutes,
	// MACed with DPoPNonceKey (at least 32 bytes, the same on every node).
	DPoPNonce    bool
	DPoPNonceKey []byte
	// Registration, if its policy is not off, serves dynamic client
	// registration (RFC 7591) at /oauth/register and the clients' management
	// of their registrations (RFC 7592) under it, advertised in the
	// metadata; Run prunes its unused open registrations.
	Registration *registration.Service
	// RegistrationsPerAddress registrations a minute, after a burst of
	// RegistrationBurst, are allowed per source address under the open
	// policy; zero or negative: no limit.
	RegistrationsPerAddress, RegistrationBurst int

	// Quota is the issuance quota (quota.go); Reuse the token reuse
	// window (reuse.go).
	Quota QuotaOptions
	Reuse ReuseOptions

	// Registry receives the server's metrics (served by its owner, not by
	// the server's handler); nil means a registry of the server's own with
	// the Go and process collectors.
	Registry *prometheus.Registry

	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader

	// Usage, if set, counts the tokens issued per client and day and the
	// addresses they were requested from, in memory (usage.go); its owner
	// writes it in the background.
	Usage *usage.Tally
}

// Server serves the authorization server's HTTP endpoints.
type Server struct {
	st      store.Store
	keys    *token.Keyring
	catalog *scope.Catalog
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader

	issuer, audience   string
	defaultTTL, maxTTL time.Duration
	tokenPaths         []string
	pollInterval       time.Duration
	maxStaleness       time.Duration
	clientIP           *clientip.Resolver
	feedScope          string   // see Options.RevocationFeedScope
	byName             []string // feedScope and Options.SystemScopes
	adminAPI           http.Handler
	docs               http.Handler
	postman            http.Handler
	cors               corsRoutes
	revPageSize        int // revocation feed page size; revocationPageSize but in tests
	changePageSize     int // change feed page size; changePageSize but in tests
	console            Console
	consents           *consents.Service
	consolePages       func(*http.ServeMux)
	requirePKCE        bool
	codeTTL            time.Duration
	registration       *registration.Service
	regLimiter         *ratelimit.Failures

	resources    map[string]*Resource // by ID; see resources.go
	resourceList []*Resource          // in the order of Options.Resources
	grants       map[string]grant.Grant
	clients      *clientCache
	revoked      *revokedSet                       // revocations in memory; revoked.go
	verified     *tokencache.Cache[*verifiedToken] // introspection's verified tokens; verified.go
	clientJWKS   *jwksCache
	dpop         *dpop.Verifier
	dpopNonces   *dpop.Nonces // nil: no server nonces
	usage        usageRecorder
	tally        *usage.Tally // nil: usage off
	limiter      *ratelimit.Guard
	quota        *quotas     // quota.go
	reuse        *reuseCache // reuse.go
	metrics      *metrics
	handler      http.Handler

	// confirmed is the local time at which the last successful read of the
	// change feed started: the cache reflects every change committed
	// before it.
	confirmed atomic.Pointer[time.Time]
	wake      chan struct{} // a change-feed notification; buffered, 1
}

// New builds a Server. It does no I/O; call Run to start background work.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Keys == nil || o.Catalog == nil {
		return nil, errors.New("server: Store, Keys and Catalog are required")
	}
	if o.Issuer == "" {
		return nil, errors.New("server: Issuer is required")
	}
	if o.DefaultTTL <= 0 || o.MaxTTL < o.DefaultTTL {
		return nil, fmt.Errorf("server: DefaultTTL (%s) must be positive and MaxTTL (%s) at least DefaultTTL", o.DefaultTTL, o.MaxTTL)
	}
	if o.RefreshIdleTTL <= 0 || o.RefreshAbsoluteTTL <= 0 {
		return nil, fmt.Errorf("server: RefreshIdleTTL (%s) and RefreshAbsoluteTTL (%s) must be positive", o.RefreshIdleTTL, o.RefreshAbsoluteTTL)
	}
	if fs := o.RevocationFeedScope; fs != "" {
		if toks, err := scope.Split(fs); err != nil || len(toks) != 1 || strings.HasPrefix(fs, scope.AccountPrefix) {
			return nil, fmt.Errorf("server: revocation feed scope %q is not a single scope token", fs)
		}
		if o.Catalog.Has(fs) {
			return nil, fmt.Errorf("server: revocation feed scope %q is a scope of the catalog; choose a name of its own", fs)
		}
	}
	s := &Server{
		st:           o.Store,
		keys:         o.Keys,
		catalog:      o.Catalog,
		log:          o.Logger,
		now:          o.Now,
		rand:         o.Rand,
		issuer:       o.Issuer,
		audience:     o.Audience,
		defaultTTL:   o.DefaultTTL,
		maxTTL:       o.MaxTTL,
		tokenPaths:   o.TokenPaths,
		pollInterval: o.PollInterval,
		maxStaleness: o.MaxStaleness,
		wake:         make(chan struct{}, 1),
		clientIP:     o.ClientIP,
		feedScope:    o.RevocationFeedScope,
		adminAPI:     o.AdminAPI,
		docs:         o.Docs,
		postman:      o.Postman,
		revPageSize:  revocationPageSize,
		console:      o.Console,
		consents:     o.Consents,
		consolePages: o.ConsolePages,
		requirePKCE:  o.RequirePKCE == nil || *o.RequirePKCE,
		codeTTL:      o.CodeTTL,
		registration: o.Registration,
		regLimiter:   ratelimit.NewFailures(o.RegistrationsPerAddress, max(1, o.RegistrationBurst)),
		tally:        o.Usage,
	}
	s.changePageSize = changePageSize
	s.usage.full = make(chan struct{}, 1)
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.cors, err = newCORS(o); err != nil {
		return nil, err
	}
	if s.codeTTL <= 0 {
		s.codeTTL = 60 * time.Second
	}
	idle, absolute := o.RefreshIdleTTL, o.RefreshAbsoluteTTL
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.audience == "" {
		s.audience = s.issuer
	}
	if s.resources, s.resourceList, err = newResources(o, s.audience); err != nil {
		return nil, err
	}
	if s.consents == nil {
		s.consents = consents.New(s.st, s.catalog, s.now).WithResources(ConsentResources(o.Resources))
	}
	if s.pollInterval <= 0 {
		s.pollInterval = time.Second
	}

	for _, sc := range append([]string{o.RevocationFeedScope}, o.SystemScopes...) {
		if sc != "" && !slices.Contains(s.byName, sc) {
			s.byName = append(s.byName, sc)
		}
	}
	s.limiter = newAuthLimiter(o)
	if s.quota, err = newQuotas(o.Quota, s.metrics.reg); err != nil {
		return nil, err
	}
	if s.reuse, err = newReuseCache(o.Reuse, s.metrics.reg); err != nil {
		return nil, err
	}
	start := s.now()
	s.confirmed.Store(&start)
	if err := s.metrics.cacheFeed(s.staleness, s.confirmedAt); err != nil {
		return nil, err
	}
	maxClients := o.MaxCachedClients
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	s.clients = newClientCache(o.Store, s.catalog, maxClients, maxNegativeClients)
	if err := s.metrics.clientCache(s.clients.stats); err != nil {
		return nil, err
	}
	s.revoked = newRevokedSet()
	s.verified = tokencache.New[*verifiedToken](verifiedCacheSize)
	if err := s.registerIntrospectionMetrics(); err != nil {
		return nil, err
	}
	s.clientJWKS = newJWKSCache(safefetch.New(o.Fetch))
	if o.ClientMetadata.Enabled && s.console != nil {
		s.clients.docs = newClientDocs(o, o.Store, s.catalog, s.now, s.log)
		if s.clients.docs.fetched, err = s.metrics.registerDocFetches(); err != nil {
			return nil, err
		}
	}
	if s.dpop, s.dpopNonces, err = newDPoP(o, s.now); err != nil {
		return nil, err
	}
	refresher := &grant.Refresher{Store: o.Store, Now: s.now, Rand: s.rand, IdleTTL: idle, AbsoluteTTL: absolute}
	grants := []grant.Grant{grant.ClientCredentials{Refresh: refresher}, grant.RefreshToken{R: refresher}}
	if s.console != nil {
		grants = append(grants, grant.AuthorizationCode{Store: o.Store, Refresh: refresher, Now: s.now})
	}
	s.grants = map[string]grant.Grant{}
	for _, g := range grants {
		s.grants[g.Type()] = g
	}
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Handler returns the HTTP handler for all endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// staleness is how long ago the client cache was last confirmed against the
// change feed.
func (s *Server) staleness() time.Duration {
	return s.now().Sub(*s.confirmed.Load())
}

func (s *Server) confirmedAt() time.Time { return *s.confirmed.Load() }

// checkFresh refuses, with 503 temporarily_unavailable, a request that
// depends on cached client data once the cache is older than maxStaleness:
// a client disabled or a secret rotated away meanwhile must not keep
// working on a node cut off from the store.
func (s *Server) checkFresh(now time.Time) error {
	if s.maxStaleness <= 0 || now.Sub(*s.confirmed.Load()) <= s.maxStaleness {
		return nil
	}
	e := oauth.TemporarilyUnavailable(max(1, int(s.pollInterval/time.Second)))
	e.Description = "this server cannot currently confirm that its client data is up to date; retry later"
	return e
}
