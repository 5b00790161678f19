// Package server is Gatehouse's HTTP authorization server: the token,
// introspection and revocation endpoints, discovery metadata, the JWKS, and
// health endpoints. Its metrics go to a registry that the caller serves on a
// listener of its own.
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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/oauth"
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
	// MaxStaleness: once the client cache has gone this long without being
	// confirmed against the store's change feed (the store is unreachable,
	// say), client authentication is refused with 503
	// temporarily_unavailable rather than decided on data that may be
	// stale. Zero or negative: never refuse.
	MaxStaleness time.Duration

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

	// Registry receives the server's metrics (served by its owner, not by
	// the server's handler); nil means a registry of the server's own with
	// the Go and process collectors.
	Registry *prometheus.Registry

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
	maxStaleness       time.Duration
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
		revPageSize:  revocationPageSize,
		console:      o.Console,
		requirePKCE:  o.RequirePKCE == nil || *o.RequirePKCE,
		codeTTL:      o.CodeTTL,
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
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
	start := s.now()
	s.confirmed.Store(&start)
	if err := s.metrics.cacheFeed(s.staleness, s.confirmedAt); err != nil {
		return nil, err
	}
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
// within about PollInterval, or at once if the store pushes notifications),
// records secret usage, maintains signing keys and prunes expired data. On
// return it flushes pending usage records.
func (s *Server) Run(ctx context.Context) {
	if w, ok := s.st.(changeWatcher); ok {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.watch(wctx, w) }()
		defer func() { cancel(); <-done }()
	}
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
		case <-s.wake:
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

// changeWatcher is implemented by stores that push a signal when the change
// feed grows (PostgreSQL, with LISTEN/NOTIFY), so that a change made by any
// process reaches every server at once. Polling stays the fallback.
type changeWatcher interface {
	// WatchChanges calls notify soon after any process adds to the change
	// feed, until ctx is done (it then returns nil) or the connection it
	// listens on fails (it returns the error). It also calls notify once
	// it is listening, since changes made before then were not signalled.
	// notify must not block; bursts may be signalled once.
	WatchChanges(ctx context.Context, notify func()) error
}

// watch runs w.WatchChanges until ctx is done, starting it again after a
// failure with a growing delay. Each notification wakes Run to read the feed;
// notifications that arrive while a read is pending are coalesced.
func (s *Server) watch(ctx context.Context, w changeWatcher) {
	notify := func() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	const minDelay, maxDelay = 100 * time.Millisecond, 30 * time.Second
	delay := minDelay
	for {
		began := time.Now()
		err := w.WatchChanges(ctx, notify)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > maxDelay {
			delay = minDelay // it ran for a while: a new failure
		}
		s.log.Warn("listening for change notifications failed; polling the change feed meanwhile", "err", err, "retry_in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxDelay)
	}
}

// feed tracks the position in the store's change feed.
type feed struct {
	since  time.Time // poll entries at or after this store time
	lastOK time.Time // local time of the last successful poll
	// refusing: the last poll failed and the cache is older than
	// maxStaleness, so client authentication is refused.
	refusing bool
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

// feedReadTimeout bounds one read of the change feed, so that a read hanging
// on a lost connection does not hold up the background loop.
const feedReadTimeout = 5 * time.Second

func (s *Server) follow(ctx context.Context, f *feed) {
	start := s.now()
	rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
	changes, err := s.st.Changes(rctx, f.since)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if stale := s.staleness(); s.maxStaleness > 0 && stale > s.maxStaleness {
			if !f.refusing {
				s.log.Error("change feed unreadable for longer than cache.max_staleness; refusing client authentication until it is readable again",
					"err", err, "max_staleness", s.maxStaleness.String())
			}
			f.refusing = true
		} else {
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
	s.confirmed.Store(&start)
	if f.refusing {
		f.refusing = false
		s.log.Info("change feed readable again; client authentication resumed")
	}
}

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
	return &oauth.Error{Code: oauth.CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "this server cannot currently confirm that its client data is up to date; retry later",
		RetryAfter:  max(1, int(s.pollInterval/time.Second))}
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
