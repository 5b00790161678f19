// Package server is Gatehouse's HTTP authorization server: the token,
// introspection and revocation endpoints, discovery metadata, the JWKS, and
// health and metrics endpoints.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

// Options configures a Server. Store, Keys and Catalog are required.
type Options struct {
	Store   store.Store
	Keys    *token.Keyring
	Catalog *scope.Catalog

	Issuer     string        // "iss" and the base of advertised endpoint URLs
	Audience   string        // default "aud" for clients without their own
	DefaultTTL time.Duration // access-token lifetime for clients without their own; default 1h
	MaxTTL     time.Duration // upper bound for any client's lifetime; default 30 days
	TokenPaths []string      // extra paths for the token endpoint, e.g. /oauth/v2/token

	// Failed client authentications allowed per minute, per client ID and per
	// source address, with a burst. Zero means the defaults (30, 60, 10);
	// negative means unlimited.
	FailuresPerClient, FailuresPerAddress, FailureBurst int
	// RememberSuccess is how long a (client ID, source address) pair that
	// authenticated passes those limits: 0 means 24 hours, negative never.
	RememberSuccess time.Duration

	PollInterval time.Duration // change-feed poll; default 1s

	// ClientIP finds the source address that failures are counted against;
	// nil: the TCP peer address.
	ClientIP *clientip.Resolver

	// RevocationFeedScope, if set, closes the revocation feed to all but
	// clients allowed this scope. It must not be a catalog scope; the token
	// endpoint grants it, like a catalog scope, to clients allowed it that
	// ask for it by name.
	RevocationFeedScope string

	// Console, if set, enables the authorization endpoint and the
	// authorization code grant: it supplies the logged-in user, CSRF
	// protection and the consent and error pages.
	Console Console
	// RequirePKCE: nil or true makes PKCE (S256) mandatory for every
	// authorization request; false requires it of public clients only.
	RequirePKCE *bool
	CodeTTL     time.Duration // authorization code lifetime; default 60s
	// Refresh token lifetimes: a token unused for RefreshIdleTTL expires
	// (default 14 days); a family ends RefreshAbsoluteTTL after the
	// authorization that started it (default 90 days).
	RefreshIdleTTL, RefreshAbsoluteTTL time.Duration

	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
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
	clientIP           *clientip.Resolver
	feedScope          string // see Options.RevocationFeedScope
	revPageSize        int    // revocation feed page size; revocationPageSize but in tests
	console            Console
	requirePKCE        bool
	codeTTL            time.Duration

	grants  map[string]grant.Grant
	clients *clientCache
	usage   usageRecorder
	limiter *ratelimit.Guard
	metrics *metrics
	handler http.Handler
}

// New builds a Server. It does no I/O; call Run to start background work.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Keys == nil || o.Catalog == nil {
		return nil, errors.New("server: Store, Keys and Catalog are required")
	}
	if o.Issuer == "" {
		return nil, errors.New("server: Issuer is required")
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
		clientIP:     o.ClientIP,
		feedScope:    o.RevocationFeedScope,
		revPageSize:  revocationPageSize,
		metrics:      newMetrics(),
		console:      o.Console,
		requirePKCE:  o.RequirePKCE == nil || *o.RequirePKCE,
		codeTTL:      o.CodeTTL,
	}
	if s.codeTTL <= 0 {
		s.codeTTL = 60 * time.Second
	}
	idle, absolute := o.RefreshIdleTTL, o.RefreshAbsoluteTTL
	if idle <= 0 {
		idle = 14 * 24 * time.Hour
	}
	if absolute <= 0 {
		absolute = 90 * 24 * time.Hour
	}
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
	if s.defaultTTL <= 0 {
		s.defaultTTL = time.Hour
	}
	if s.maxTTL <= 0 {
		s.maxTTL = 30 * 24 * time.Hour
	}
	if s.pollInterval <= 0 {
		s.pollInterval = time.Second
	}
	s.limiter = newAuthLimiter(o)
	s.clients = newClientCache(o.Store, s.catalog, 10_000)
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

// Run does the server's background work until ctx is done: it follows the
// store's change feed (so client and key changes made by any process are seen
// within about PollInterval), records secret usage, maintains signing keys and
// prunes expired data. On return it flushes pending usage records.
func (s *Server) Run(ctx context.Context) {
	poll := time.NewTicker(s.pollInterval)
	minute := time.NewTicker(time.Minute)
	prune := time.NewTicker(10 * time.Minute)
	defer poll.Stop()
	defer minute.Stop()
	defer prune.Stop()

	f := feed{lastOK: s.now()}
	s.follow(ctx, &f)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flushUsage(fctx)
			cancel()
			return
		case <-poll.C:
			s.follow(ctx, &f)
		case <-minute.C:
			s.flushUsage(ctx)
			if err := s.keys.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing key maintenance failed", "err", err)
			}
			s.limiter.Prune(s.now())
		case <-prune.C:
			if err := s.st.Prune(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.Error("pruning expired data failed", "err", err)
			}
		}
	}
}

// feed tracks the position in the store's change feed.
type feed struct {
	since  time.Time // poll entries at or after this store time
	lastOK time.Time // local time of the last successful poll
	// Entries already applied that are still inside the overlap window, so
	// that re-reading them does not invalidate the cache again.
	seen map[store.Change]struct{}
	// The newest entry time read, and the local time it was first read.
	latest, latestReadAt time.Time
}

// feedOverlap re-reads this much of the feed on every poll, so a change whose
// transaction committed after a later one had already been read is not missed.
const feedOverlap = 10 * time.Second

// feedGap: after this long without a successful poll, entries may have been
// pruned before we read them, so everything cached is dropped.
const feedGap = 30 * time.Minute

func (s *Server) follow(ctx context.Context, f *feed) {
	changes, err := s.st.Changes(ctx, f.since)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reading change feed failed; serving cached clients and keys", "err", err)
		}
		return
	}
	if now := s.now(); now.Sub(f.lastOK) > feedGap {
		s.clients.flush()
		if err := s.keys.Reload(ctx); err != nil {
			s.log.Error("reloading signing keys failed", "err", err)
		}
	}
	f.lastOK = s.now()
	if f.seen == nil {
		f.seen = make(map[store.Change]struct{})
	}
	reloadKeys := false
	var ids []string
	for _, c := range changes {
		if c.At.After(f.latest) {
			f.latest, f.latestReadAt = c.At, s.now()
		}
		if _, ok := f.seen[c]; ok {
			continue
		}
		f.seen[c] = struct{}{}
		switch c.Kind {
		case store.ChangeClient:
			ids = append(ids, c.ID)
		case store.ChangeKey:
			reloadKeys = true
		}
	}
	if len(ids) > 0 {
		s.clients.invalidate(ids...)
	}
	if reloadKeys {
		if err := s.keys.Reload(ctx); err != nil {
			s.log.Error("reloading signing keys failed", "err", err)
		}
	}
	// Keep re-reading the last overlap window until nothing new has appeared
	// in it for that long; then move past it.
	next := f.latest.Add(-feedOverlap)
	if !f.latest.IsZero() && s.now().Sub(f.latestReadAt) > feedOverlap {
		next = f.latest.Add(time.Microsecond)
	}
	if next.After(f.since) {
		f.since = next
		for c := range f.seen {
			if c.At.Before(f.since) {
				delete(f.seen, c)
			}
		}
	}
}

func (s *Server) flushUsage(ctx context.Context) {
	used := s.usage.take()
	if len(used) == 0 {
		return
	}
	if err := s.st.TouchSecrets(ctx, used); err != nil {
		s.log.Warn("recording secret usage failed", "err", err, "secrets", len(used))
	}
}

// check pings the store for readiness.
func (s *Server) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
