package server

import (
	"container/list"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The token reuse window: a client that asks again for a
// token with the same scopes, account, resource and DPoP key, while a token
// this node issued it has more than the window's percentage of its lifetime
// left, gets that token again, with the remaining expires_in, instead of a
// new signature. Nothing is written to the database.
//
// Only client-credentials tokens without a refresh token are reused (a
// refresh token is never handed out twice, so a client that gets refresh
// tokens with client credentials is never served from here), and only
// while the client is unchanged: an entry remembers the cached client it
// was issued to, which any change to the client (through the change feed)
// replaces. Revocations: a token revoked at this node (POST /oauth/revoke)
// leaves the cache at once; the node also reads the store's revocations
// (store.ListRevocations, the revocation feed's) at every change-feed poll
// and drops the tokens revoked anywhere, by jti or with all of a client's
// tokens (revoke-tokens), within about a second (PollInterval), as a
// gateway following the revocation feed refuses them. The cache serves
// only while that read is recent (reuseMaxLag): a node that cannot read
// the store's revocations signs new tokens instead. The cache is bounded
// (ReuseOptions.MaxEntries, oldest out first) and per node; a hit is a map
// lookup under a read lock and no database access.

// ReuseOptions configures the reuse window (Options.Reuse).
type ReuseOptions struct {
	// MinRemaining is the window of clients that set none of their own
	// (store.Client.ReuseMinRemaining): a percentage from 1 to 99; 0: off.
	MinRemaining int
	// MaxEntries bounds the tokens kept; 0: none, so no reuse.
	MaxEntries int
}

// reuseKey is what must match for a token to be reused.
type reuseKey struct {
	client, scope, account, resource, jkt string
	named                                 bool // the request named its scope (so the response does)
}

type reuseEntry struct {
	key      reuseKey
	cc       *cachedClient // the client as cached when the token was issued
	token    string
	scope    string
	jti      string
	iat, exp time.Time
	element  *list.Element
}

type reuseCache struct {
	def, max int
	hits     prometheus.Counter
	// confirmed is when the last read of the store's revocations that
	// reached their end started (local time); followRevocations
	// (revoked.go) reads them for the revocation set and this cache.
	confirmed atomic.Pointer[time.Time]

	mu      sync.RWMutex
	entries map[reuseKey]*reuseEntry
	order   *list.List // of *reuseEntry, oldest first
}

func newReuseCache(o ReuseOptions, reg *prometheus.Registry) (*reuseCache, error) {
	c := &reuseCache{def: o.MinRemaining, max: o.MaxEntries, entries: map[reuseKey]*reuseEntry{}, order: list.New(),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_tokens_reused_total",
			Help: "Token requests answered with a token issued earlier (the token reuse window).",
		})}
	var never time.Time
	c.confirmed.Store(&never)
	if err := reg.Register(c.hits); err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	return c, nil
}

// percent returns the client's reuse window, 0 if off.
func (c *reuseCache) percent(cl *store.Client) int {
	if c.max <= 0 {
		return 0
	}
	switch p := cl.ReuseMinRemaining; {
	case p > 0:
		return p
	case p == 0:
		return c.def
	}
	return 0
}

// reusable reports whether a request of grant type gt by cc may be served
// from, and fill, the cache.
func (c *reuseCache) reusable(cc *cachedClient, gt string) bool {
	return gt == store.GrantClientCredentials && c.percent(&cc.client) > 0 && !cc.client.RefreshWithClientCredentials
}

// reuseGet returns the entry for k issued to cc that has more than the
// client's percentage of its lifetime left at now, or nil; nil too while
// the store's revocations were not read lately.
func (s *Server) reuseGet(k reuseKey, cc *cachedClient, now time.Time) *reuseEntry {
	c := s.reuse
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	pct := int64(c.percent(&cc.client))
	if e.cc != cc || int64(e.exp.Sub(now))*100 <= pct*int64(e.exp.Sub(e.iat)) {
		c.drop(e)
		return nil
	}
	if now.Sub(*c.confirmed.Load()) > s.reuseMaxLag() { // revocations not read lately
		return nil
	}
	c.hits.Inc()
	return e
}

// put remembers a token just issued, making room if full.
func (c *reuseCache) put(e *reuseEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[e.key]; old != nil {
		c.order.Remove(old.element)
	}
	for len(c.entries) >= c.max && c.order.Len() > 0 {
		oldest := c.order.Remove(c.order.Front()).(*reuseEntry)
		delete(c.entries, oldest.key)
	}
	e.element = c.order.PushBack(e)
	c.entries[e.key] = e
}

// drop forgets e, unless it was replaced meanwhile.
func (c *reuseCache) drop(e *reuseEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
		c.order.Remove(e.element)
	}
}

// forgetJTI drops the entry of a token revoked at this node at once (the
// store check on every hit covers the other nodes).
func (c *reuseCache) forgetJTI(clientID, jti string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.client == clientID && e.jti == jti {
			delete(c.entries, k)
			c.order.Remove(e.element)
		}
	}
}

// reuseMaxLag is how old the last read of the store's revocations may be
// for the cache to serve: three polls, at least three seconds.
func (s *Server) reuseMaxLag() time.Duration { return max(3*s.pollInterval, 3*time.Second) }

// dropRevoked forgets the tokens that list revokes.
func (c *reuseCache) dropRevoked(list []store.Revocation) {
	if len(list) == 0 {
		return
	}
	jtis := map[string]bool{}
	before := map[string]time.Time{}
	for _, r := range list {
		if r.JTI != "" {
			jtis[r.JTI] = true
		} else if r.IssuedBefore.After(before[r.ClientID]) {
			before[r.ClientID] = r.IssuedBefore
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		// iat is whole seconds: a token of the revocation's second counts
		// as revoked, as IsTokenRevoked says.
		if b, ok := before[k.client]; jtis[e.jti] || ok && !e.iat.Truncate(time.Second).After(b) {
			delete(c.entries, k)
			c.order.Remove(e.element)
		}
	}
}
