package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// revokedSet holds, in memory, every revocation the store records that has
// not expired: revoked token IDs, and the revocations of a client's tokens
// issued until a time (clients.Service.RevokeTokens). Every node keeps one,
// so that introspection (and the admin API's callers' tokens, and anything
// else that asks) learns whether a token was revoked without a database
// round trip.
//
// It is loaded by the first read of the store's revocations and kept
// current by reading the revocations recorded since, through the same
// paging as the revocation feed, whenever the change feed is read (every
// poll interval, and at once when the store's change notifications
// (PostgreSQL's LISTEN/NOTIFY) say something changed: recording a
// revocation notifies). What this process revokes is added as it commits
// (revocationObserver), and the revocation endpoint adds what it revokes
// itself too. An entry is dropped once the tokens it covers have expired, so the
// set never holds more than the store's unexpired revocations.
//
// A read that reaches the end of the revocations confirms the set as of
// the local time it began (confirmed); Server.tokenRevoked answers from the
// set only while that confirmation is within cache.max_staleness, and asks
// the store otherwise (see there).
type revokedSet struct {
	mu      sync.RWMutex
	jtis    map[string]int64            // jti → the token's exp, Unix seconds
	clients map[string]clientRevocation // client ID → its tokens revoked until iatBefore

	// confirmed is the local time (Unix nanoseconds) at which the last read
	// that reached the end of the store's revocations began: the set holds
	// every revocation committed before it. 0: never.
	confirmed atomic.Int64

	// Touched only by the goroutine that follows the store (follow).
	since   time.Time // the next read lists revocations recorded at or after this store time
	pruned  time.Time // local time of the last prune
	failing bool      // the last read failed (logged once per outage)
}

// clientRevocation revokes every token of a client whose iat (Unix
// seconds) is less than iatBefore, until exp (Unix seconds), when the last
// of them expires.
type clientRevocation struct {
	iatBefore, exp int64
}

const (
	// maxRevocationPages bounds the pages of revocations read in one poll;
	// the set is confirmed only by a read that reaches the end, so until
	// then revocation checks go to the store.
	maxRevocationPages = 100
	// revokedPruneEvery is how often expired entries are dropped.
	revokedPruneEvery = time.Minute
)

func newRevokedSet() *revokedSet {
	return &revokedSet{
		jtis: make(map[string]int64), clients: make(map[string]clientRevocation),
		since: time.UnixMicro(0), // every unexpired revocation, as the feed without a cursor
	}
}

// Revoked reports whether the set holds a revocation of the token with
// the ID jti, issued to clientID at iat: its jti was revoked, or its
// client's tokens issued until a time in or after iat's second were
// (iat is whole seconds, so a token issued in that second, even just
// after the time, is revoked too: fail closed, as the store's
// IsTokenRevoked). It answers from memory only and says nothing about how
// current the set is: callers that must bound that use
// Server.tokenRevoked.
func (r *revokedSet) Revoked(jti, clientID string, iat time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.jtis[jti]; ok {
		return true
	}
	if len(r.clients) == 0 {
		return false
	}
	cr, ok := r.clients[clientID]
	return ok && iat.Unix() < cr.iatBefore
}

// addToken records that the token jti, which expires at exp, is revoked.
func (r *revokedSet) addToken(jti string, exp time.Time) {
	r.mu.Lock()
	r.jtis[jti] = max(r.jtis[jti], exp.Unix())
	r.mu.Unlock()
}

// add records revocations as ListRevocations returns them. A client's
// entry keeps the later of two times and of two expiry times, as the store
// does.
func (r *revokedSet) add(list []store.Revocation) {
	if len(list) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rv := range list {
		if rv.JTI != "" || rv.ClientID == "" {
			r.jtis[rv.JTI] = max(r.jtis[rv.JTI], rv.ExpiresAt.Unix())
			continue
		}
		cr := r.clients[rv.ClientID]
		r.clients[rv.ClientID] = clientRevocation{
			iatBefore: max(cr.iatBefore, clients.IATBefore(rv.IssuedBefore)),
			exp:       max(cr.exp, rv.ExpiresAt.Unix()),
		}
	}
}

// prune drops the entries whose tokens have all expired at now: a token
// past its exp is refused whether revoked or not.
func (r *revokedSet) prune(now time.Time) {
	t := now.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, exp := range r.jtis {
		if exp < t {
			delete(r.jtis, jti)
		}
	}
	for id, cr := range r.clients {
		if cr.exp < t {
			delete(r.clients, id)
		}
	}
}

// size is the number of entries held.
func (r *revokedSet) size() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.jtis) + len(r.clients)
}

// fresh reports whether the set was confirmed within bound before now.
func (r *revokedSet) fresh(now time.Time, bound time.Duration) bool {
	c := r.confirmed.Load()
	return c != 0 && now.UnixNano()-c <= int64(bound)
}

// revocationObserver is implemented by stores that report the revocations
// recorded through them in this process as they commit (the SQL stores'
// ObserveRevocations); Run keeps the set current with it, so that a
// revocation made in this process (the revocation endpoint, the admin API,
// the console) is in force here by the time the call that made it returns.
type revocationObserver interface {
	ObserveRevocations(fn func(store.Revocation)) (stop func())
}

// observeRevocation takes rv, reported by the store as it committed, into
// the revocation set and the token reuse cache.
func (s *Server) observeRevocation(rv store.Revocation) {
	list := []store.Revocation{rv}
	s.revoked.add(list)
	s.reuse.dropRevoked(list) // reuse.go
}

// tokenRevoked reports whether a verified token was revoked (by its jti,
// or with its client's tokens issued until a time). It answers from the
// in-memory set while the set was confirmed against the store within
// cache.max_staleness; otherwise (the set is not loaded yet, the store's
// revocations could not be read for that long, or max_staleness is 0,
// which bounds nothing) it asks the store, as every check did before the
// set existed, and fails (503 if the store is unreachable) when the store
// cannot answer. A revocation is thus never missed for longer than
// max_staleness, and a node cut off from the store refuses to answer
// rather than answer from an old set.
func (s *Server) tokenRevoked(ctx context.Context, jti, clientID string, iat time.Time) (bool, error) {
	if s.maxStaleness > 0 && s.revoked.fresh(s.now(), s.maxStaleness) {
		return s.revoked.Revoked(jti, clientID, iat), nil
	}
	return s.st.IsTokenRevoked(ctx, jti, clientID, iat)
}

// followRevocations reads the revocations recorded since the last read
// into the set (and drops the tokens they revoke from the token reuse
// cache), a page at a time, and confirms both once a read reaches the
// end. It also prunes the set once a minute. follow calls it on every
// read of the change feed.
func (s *Server) followRevocations(ctx context.Context) {
	r := s.revoked
	start := s.now()
	rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
	defer cancel()
	for range maxRevocationPages {
		list, next, more, err := s.revocationPage(rctx, r.since, start)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !r.failing {
				s.log.Warn("reading revocations failed; revocation checks go to the store once the in-memory set is older than cache.max_staleness", "err", err)
			}
			r.failing = true
			return
		}
		r.add(list)
		s.reuse.dropRevoked(list) // reuse.go
		r.since = next
		if !more {
			r.confirmed.Store(start.UnixNano())
			s.reuse.confirmed.Store(&start)
			if r.failing {
				r.failing = false
				s.log.Info("reading revocations again")
			}
			break
		}
	}
	if now := s.now(); now.Sub(r.pruned) >= revokedPruneEvery {
		r.prune(now)
		r.pruned = now
	}
}

// registerIntrospectionMetrics registers the gauges of the revocation set
// and the verified-token cache.
func (s *Server) registerIntrospectionMetrics() error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_revocations_in_memory",
			Help: "Unexpired revocations (of tokens, and of clients' tokens) held in memory for introspection.",
		}, func() float64 { return float64(s.revoked.size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_revocations_last_read_timestamp_seconds",
			Help: "Unix time at which the last read that reached the end of the store's revocations started; 0: never.",
		}, func() float64 { return float64(s.revoked.confirmed.Load()) / 1e9 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_introspection_cached_tokens",
			Help: "Verified tokens held in introspection's cache.",
		}, func() float64 { return float64(s.verified.Len()) }),
	} {
		if err := s.metrics.reg.Register(c); err != nil {
			return fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return nil
}
