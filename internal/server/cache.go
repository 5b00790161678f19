package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// clientGetter is the part of the store the client cache reads.
type clientGetter interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// cachedClient is an immutable snapshot of a client, prepared for the token
// endpoint's hot path.
type cachedClient struct {
	client  store.Client
	secrets []cachedSecret
	// The scope granted when a request names none: the client's allowed
	// scopes that exist in the catalog.
	defaultScopes []string
	defaultScope  string
}

type cachedSecret struct {
	id        string
	digest    []byte
	expiresAt time.Time    // zero = never
	touched   atomic.Int64 // Unix seconds of the last recorded use
}

func newCachedClient(c store.Client, cat *scope.Catalog) *cachedClient {
	cc := &cachedClient{client: c, secrets: make([]cachedSecret, len(c.Secrets))}
	for _, name := range c.Scopes {
		if cat.Has(name) {
			cc.defaultScopes = append(cc.defaultScopes, name)
		}
	}
	cc.defaultScope = scope.Join(cc.defaultScopes)
	for i, s := range c.Secrets {
		cc.secrets[i].id = s.ID
		cc.secrets[i].digest = s.Digest
		cc.secrets[i].expiresAt = s.ExpiresAt
		if !s.LastUsedAt.IsZero() {
			cc.secrets[i].touched.Store(s.LastUsedAt.Unix())
		}
	}
	return cc
}

// clientCache keeps clients in memory so the token endpoint never waits on
// the database. Entries are dropped when the change feed reports the client
// changed (by any process), so a cached client is at most one feed poll stale.
// Unknown client IDs are cached too (bounded), so guessing IDs does not turn
// into database load.
type clientCache struct {
	st          clientGetter
	catalog     *scope.Catalog
	maxNegative int

	mu        sync.RWMutex
	entries   map[string]*cachedClient // nil value: known not to exist
	negatives int
	inflight  map[string]*load
}

type load struct {
	done  chan struct{}
	cc    *cachedClient
	err   error
	stale bool // invalidated while loading: do not keep the result
}

func newClientCache(st clientGetter, cat *scope.Catalog, maxNegative int) *clientCache {
	return &clientCache{
		st:          st,
		catalog:     cat,
		maxNegative: maxNegative,
		entries:     make(map[string]*cachedClient),
		inflight:    make(map[string]*load),
	}
}

// get returns the client, nil if it does not exist, or an error if the store
// could not be read.
func (c *clientCache) get(ctx context.Context, id string) (*cachedClient, error) {
	c.mu.RLock()
	cc, ok := c.entries[id]
	c.mu.RUnlock()
	if ok {
		return cc, nil
	}

	c.mu.Lock()
	if cc, ok := c.entries[id]; ok {
		c.mu.Unlock()
		return cc, nil
	}
	l, loading := c.inflight[id]
	if !loading {
		l = &load{done: make(chan struct{})}
		c.inflight[id] = l
	}
	c.mu.Unlock()

	if loading {
		select {
		case <-l.done:
			return l.cc, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	// Load without the caller's cancellation so that waiters are not failed
	// by the first caller going away; bounded by its own timeout.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	client, err := c.st.GetClient(lctx, id)
	cancel()
	switch {
	case err == nil:
		l.cc = newCachedClient(client, c.catalog)
	case errors.Is(err, store.ErrNotFound):
	default:
		l.err = fmt.Errorf("load client: %w", err)
	}

	c.mu.Lock()
	delete(c.inflight, id)
	if l.err == nil && !l.stale {
		if l.cc != nil {
			c.entries[id] = l.cc
		} else if c.negatives < c.maxNegative {
			c.entries[id] = nil
			c.negatives++
		}
	}
	c.mu.Unlock()
	close(l.done)
	return l.cc, l.err
}

// invalidate drops the entries for the given client IDs.
func (c *clientCache) invalidate(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if cc, ok := c.entries[id]; ok {
			if cc == nil {
				c.negatives--
			}
			delete(c.entries, id)
		}
		if l, ok := c.inflight[id]; ok {
			l.stale = true
		}
	}
}

// flush drops every entry.
func (c *clientCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = make(map[string]*cachedClient)
	c.negatives = 0
	for _, l := range c.inflight {
		l.stale = true
	}
}

// usageRecorder collects secret last-use times in memory; the server writes
// them to the store in the background, so the request path never writes.
type usageRecorder struct {
	mu      sync.Mutex
	pending map[string]time.Time
}

// touchInterval is how often a secret's last-use time is recorded at most.
const touchInterval = 60 // seconds

// used notes a successful authentication with s at now.
func (u *usageRecorder) used(s *cachedSecret, now time.Time) {
	sec := now.Unix()
	prev := s.touched.Load()
	if sec-prev < touchInterval || !s.touched.CompareAndSwap(prev, sec) {
		return
	}
	u.mu.Lock()
	if u.pending == nil {
		u.pending = make(map[string]time.Time)
	}
	u.pending[s.id] = now
	u.mu.Unlock()
}

// take returns and clears the pending last-use times.
func (u *usageRecorder) take() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.pending
	u.pending = nil
	return p
}
